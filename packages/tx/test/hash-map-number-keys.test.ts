/**
 * PMap's number-key path (issue 21): a number key is hashed and compared from the two words of
 * its encoding (codec/keys.ts `numberKeyWords`, pool-words.ts `hashNumberKey` and
 * `numberKeyEqual`), never written, by reads (`get`, `has`) and by writes until they insert or
 * relocate (`setIn` through `findNumber`). The stored entries carry the codec's encoding and
 * `hashBytes` over it, so the words and the hash must be exactly those, for every number:
 * checked here over every kind of number, the path proven taken (a spy on the key codec), a
 * model of reads and writes through it, and crashes at every point of its writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pool } from '@ferrite/heap';
import { SimulatedRegion } from '@ferrite/core/testing';
import { PMap } from '../src/collections/hash-map.js';
import { NUMBER_KEY_LENGTH, NUMBER_KEY_WORDS, OrderedKeyCodec, TAG_NUMBER, numberKeyHi, numberKeyLo, numberKeyWords, type Key } from '../src/codec/keys.js';
import { bytesEqual, hashBytes, hashNumberKey, hashNumberKey32, numberKeyEqual } from '../src/collections/pool-words.js';
import { allocStructuresSlot, makeContext, type TestContext } from './support/collections-context.js';
import { aborted, runCrashCase, runSingleTearCase, type Maps } from './support/collections-crash.js';

/** Every kind of number key: integers, negatives, -0, fractions, huge, tiny, the 2^53 edges, infinities. */
const EDGES = [
  0, -0, 1, -1, 0.5, -0.5, 1 / 3, -1 / 3, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, -(2 ** 32),
  2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53) + 1, -(2 ** 53), -(2 ** 53) - 2, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, Number.EPSILON, 2.2250738585072014e-308,
  -2.2250738585072014e-308, 1e300, -1e300, 1e-300, Infinity, -Infinity, 2654435761, 0x7fffffff * 2654435761,
];
const anyNumber = fc.oneof(
  fc.double({ noNaN: true }),
  fc.integer(),
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.maxSafeInteger(),
  fc.constantFrom(...EDGES),
  fc.integer({ min: -4, max: 4 }).map((d) => 2 ** 53 + d),
  fc.integer({ min: -4, max: 4 }).map((d) => -(2 ** 53) + d),
);

/** The words of `n` read back from the codec's own encoding (bytes 1-4 and 5-8, big-endian). */
function wordsOfEncoding(codec: OrderedKeyCodec, n: number): [number, number] {
  const k = codec.encodeCopy(n);
  assert.equal(k.length, NUMBER_KEY_LENGTH);
  assert.equal(k[0], TAG_NUMBER);
  const view = new DataView(k.buffer, k.byteOffset, k.length);
  return [view.getUint32(1, false), view.getUint32(5, false)];
}

function checkNumber(codec: OrderedKeyCodec, n: number, seed: number): void {
  const k = codec.encodeCopy(n);
  numberKeyWords(n);
  const hi = NUMBER_KEY_WORDS[0]!;
  const lo = NUMBER_KEY_WORDS[1]!;
  assert.deepEqual([hi, lo], wordsOfEncoding(codec, n), `words of ${Object.is(n, -0) ? '-0' : n}`);
  assert.equal(hashNumberKey(TAG_NUMBER, hi, lo, seed), hashBytes(k, 0, k.length, seed), `hash of ${n}`);
  // The read path's forms (`PMap.lookupNumber`): the same words and hash, as signed integers.
  const hi32 = numberKeyHi(n);
  const lo32 = numberKeyLo();
  assert.deepEqual([hi32, lo32], [hi | 0, lo | 0], `signed words of ${Object.is(n, -0) ? '-0' : n}`);
  assert.equal(hashNumberKey32(TAG_NUMBER, hi32, lo32, seed), hashBytes(k, 0, k.length, seed) | 0, `signed hash of ${n}`);
  assert.equal(hashNumberKey32(TAG_NUMBER, hi, lo, seed), hashNumberKey32(TAG_NUMBER, hi32, lo32, seed), 'words signed or not');
  // In place, at an unaligned offset, as in an entry, with the words unsigned or signed.
  const bytes = new Uint8Array(5 + k.length + 3);
  bytes.set(k, 5);
  const view = new DataView(bytes.buffer);
  assert.equal(numberKeyEqual(view, bytes, 5, TAG_NUMBER, hi, lo), true);
  assert.equal(numberKeyEqual(view, bytes, 5, TAG_NUMBER, hi32, lo32), true);
}

test('numberKeyWords and hashNumberKey are the codec encoding and hashBytes over it, for every kind of number', () => {
  const codec = new OrderedKeyCodec(4096);
  for (const n of EDGES) for (const seed of [0, 1, 0x9e3779b9, 0xffffffff]) checkNumber(codec, n, seed);
  fc.assert(fc.property(anyNumber, fc.integer({ min: 0, max: 0xffffffff }), (n, seed) => checkNumber(codec, n, seed)), { numRuns: 5000 });
  // -0 and 0 are one key: the same words.
  numberKeyWords(-0);
  const negZero = [NUMBER_KEY_WORDS[0], NUMBER_KEY_WORDS[1]];
  numberKeyWords(0);
  assert.deepEqual(negZero, [NUMBER_KEY_WORDS[0], NUMBER_KEY_WORDS[1]]);
  assert.deepEqual([numberKeyHi(-0), numberKeyLo()], [numberKeyHi(0), numberKeyLo()]);
  // NaN is never a key: the codec refuses it, and the fast path leaves it to the codec.
  assert.throws(() => codec.encode(Number.NaN), { code: 'EINVAL' });
});

test('numberKeyEqual agrees with comparing the encodings (other numbers, other tags, other bytes)', () => {
  const codec = new OrderedKeyCodec(4096);
  const otherKey = fc.oneof(anyNumber.map((n): Key => n), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }).map((b): Key => b));
  fc.assert(
    fc.property(anyNumber, otherKey, (a, b) => {
      const ka = codec.encodeCopy(a);
      const kb = codec.encodeCopy(b);
      if (kb.length !== NUMBER_KEY_LENGTH) return; // `findNumber` compares only entries of 9 bytes
      const bytes = new Uint8Array(2 + kb.length);
      bytes.set(kb, 2);
      numberKeyWords(a);
      const expected = bytesEqual(ka, bytes, 2, ka.length);
      assert.equal(numberKeyEqual(new DataView(bytes.buffer), bytes, 2, TAG_NUMBER, NUMBER_KEY_WORDS[0]!, NUMBER_KEY_WORDS[1]!), expected);
    }),
    { numRuns: 3000 },
  );
  // Each of the 9 bytes matters.
  const k = codec.encodeCopy(12345.678);
  numberKeyWords(12345.678);
  for (let i = 0; i < k.length; i++) {
    const bytes = k.slice();
    bytes[i] = bytes[i]! ^ 1;
    assert.equal(numberKeyEqual(new DataView(bytes.buffer), bytes, 0, TAG_NUMBER, NUMBER_KEY_WORDS[0]!, NUMBER_KEY_WORDS[1]!), false, `byte ${i}`);
  }
});

/** A PMap on the real heap over a SimulatedRegion, and a count of its key codec's encodes. */
function realMap(): { pool: Pool; map: PMap<Key, unknown>; ctx: TestContext; encodes: () => number } {
  const region = new SimulatedRegion(1 << 20);
  const pool = Pool.create(region, { layout: 'hash-map-number-keys', size: 1 << 20, maxSize: 32 << 20 });
  const slot = allocStructuresSlot(pool);
  const ctx = makeContext(pool, slot);
  const header = pool.transaction((tx) => PMap.create(ctx, tx));
  // The spy: the codec stays an OrderedKeyCodec (the map takes the number path only for it).
  const codec = ctx.keys as OrderedKeyCodec;
  const encode = codec.encode.bind(codec);
  let n = 0;
  codec.encode = (key: unknown): Uint8Array => {
    n++;
    return encode(key);
  };
  return { pool, map: new PMap<Key, unknown>(ctx, header), ctx, encodes: () => n };
}

test('PMap number keys: reads and updates in place never encode the key; inserts and relocations do, once', () => {
  const { pool, map, encodes } = realMap();
  for (let i = 0; i < 300; i++) map.set(i * 7.5 - 1000, { name: 'abcdefghijklmnopqrst', n: i });
  let before = encodes();
  for (let i = 0; i < 300; i++) {
    assert.deepEqual(map.get(i * 7.5 - 1000), { name: 'abcdefghijklmnopqrst', n: i });
    assert.equal(map.has(i * 7.5 - 1000), true);
    assert.equal(map.get(i * 7.5 - 999), undefined);
    assert.equal(map.has(i * 7.5 - 999), false);
  }
  assert.equal(encodes(), before, 'get and has of a number key take the number path');
  // Updates in place (same size), alone and in a batch (kept stores).
  map.set(-1000, { name: 'ABCDEFGHIJKLMNOPQRST', n: -1 });
  pool.transaction(() => {
    for (let i = 0; i < 300; i++) map.set(i * 7.5 - 1000, { name: 'abcdefghijklmnopqrst', n: i + 1 });
  });
  assert.equal(encodes(), before, 'an update in place of a number key encodes nothing');
  // An insert encodes the key once (to write it), a relocation once too.
  before = encodes();
  map.set(0.25, 'x');
  assert.equal(encodes(), before + 1);
  map.set(0.25, 'y'.repeat(200));
  assert.equal(encodes(), before + 2);
  for (let i = 0; i < 300; i++) assert.deepEqual(map.get(i * 7.5 - 1000), { name: 'abcdefghijklmnopqrst', n: i + 1 });
  assert.equal(map.get(0.25), 'y'.repeat(200));
  // -0 is 0; NaN is refused by the codec as before, by every entry point.
  map.set(-0, 'zero');
  assert.equal(map.get(0), 'zero');
  assert.equal(map.get(-0), 'zero');
  map.set(0, 'zero again');
  assert.equal(map.get(-0), 'zero again');
  assert.throws(() => map.get(Number.NaN), { code: 'EINVAL' });
  assert.throws(() => map.has(Number.NaN), { code: 'EINVAL' });
  assert.throws(() => map.set(Number.NaN, 1), { code: 'EINVAL' });
  assert.deepEqual(map.validate(), []);
});

test('PMap number keys: a model of sets, gets, deletes across resizes, batches and rollbacks', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          kind: fc.constantFrom('set', 'set', 'get', 'delete', 'batch', 'abort'),
          key: fc.oneof(fc.integer({ min: -40, max: 40 }), fc.constantFrom(...EDGES), anyNumber),
          big: fc.boolean(),
          n: fc.integer({ min: 0, max: 40 }),
        }),
        { maxLength: 40 },
      ),
      (ops) => {
        const { pool, map } = realMap();
        let model = new Map<number, unknown>();
        const norm = (k: number): number => (k === 0 ? 0 : k);
        const val = (k: number, big: boolean, i: number): unknown => (big ? `${k}:${i}`.repeat(12) : { name: 'abcdefghijklmnopqrst', n: i });
        const check = (): void => {
          for (const [k, v] of model) assert.deepEqual(map.get(k), v, `get(${k})`);
          assert.equal(map.size, model.size);
        };
        ops.forEach((op, i) => {
          const k = op.key;
          if (op.kind === 'set') {
            map.set(k, val(k, op.big, i));
            model.set(norm(k), val(k, op.big, i));
          } else if (op.kind === 'get') {
            assert.deepEqual(map.get(k), model.get(norm(k)));
            assert.equal(map.has(k), model.has(norm(k)));
          } else if (op.kind === 'delete') {
            assert.equal(map.delete(k), model.delete(norm(k)));
          } else {
            // n inserts and updates of nearby keys in one transaction, read back between writes.
            const next = new Map(model);
            const body = (): void => {
              for (let j = 0; j < op.n; j++) {
                const key = (Number.isFinite(k) ? k % 1000 : 0) + j * 3;
                map.set(key, val(key, op.big && j % 3 === 0, i + j));
                next.set(norm(key), val(key, op.big && j % 3 === 0, i + j));
                assert.deepEqual(map.get(key), next.get(norm(key)));
                assert.deepEqual(map.get(k), next.get(norm(k)));
              }
            };
            if (op.kind === 'batch') {
              pool.transaction(body);
              model = next;
            } else aborted(pool, body);
          }
        });
        check();
        assert.deepEqual(map.validate(), []);
      },
    ),
    { numRuns: 60 },
  );
});

// Crashes at every point of the writes that take the number path: updates in place (alone,
// and kept in a batch), inserts into a slot and a chain, relocations, a doubling and its
// migration, with reads between the writes of a transaction.
const NAME = 'abcdefghijklmnopqrst';
const keyOf = (i: number): number => Math.imul(i, 2654435761) >>> 0;
const fill = (m: Maps, n: number, from = 0): void => {
  m.pool.transaction(() => {
    for (let i = from; i < from + n; i++) m.map.set(keyOf(i), { name: NAME, n: i });
  });
};

const cases: { name: string; prefill: (m: Maps) => void; op: (m: Maps) => void }[] = [
  { name: 'PMap number key: set new', prefill: (m) => fill(m, 5), op: (m) => m.map.set(-0.5, { name: NAME, n: -1 }) },
  { name: 'PMap number key: update in place', prefill: (m) => fill(m, 5), op: (m) => m.map.set(keyOf(3), { name: NAME, n: 33 }) },
  { name: 'PMap number key: update relocating', prefill: (m) => fill(m, 5), op: (m) => m.map.set(keyOf(3), 'y'.repeat(300)) },
  { name: 'PMap number key: rehash step', prefill: (m) => fill(m, 17), op: (m) => m.map.set(keyOf(17), 17) },
  {
    name: 'PMap number key: batch of updates in place (kept stores), inserts, reads',
    prefill: (m) => fill(m, 24),
    op: (m) => m.pool.transaction(() => {
      for (let i = 0; i < 24; i += 2) m.map.set(keyOf(i), { name: NAME, n: i + 100 }); // same size: kept
      for (let i = 24; i < 30; i++) m.map.set(keyOf(i), { name: NAME, n: i });
      for (let i = 0; i < 24; i += 5) assert.deepEqual(m.map.get(keyOf(i)), { name: NAME, n: i % 2 === 0 ? i + 100 : i });
      m.map.set(keyOf(4), { name: NAME, n: 4 }); // a bucket this transaction wrote: drains first
      m.map.set(keyOf(7), 'r'.repeat(90)); // relocates
      assert.equal(m.map.has(keyOf(7)), true);
    }),
  },
  {
    name: 'PMap number key: batch across a doubling and its whole migration',
    prefill: (m) => fill(m, 14),
    op: (m) => m.pool.transaction(() => {
      for (let i = 14; i < 40; i++) m.map.set(keyOf(i), { name: NAME, n: i });
      for (let i = 0; i < 40; i += 3) m.map.set(keyOf(i), { name: NAME, n: -i });
      for (let i = 0; i < 40; i += 7) m.map.set(keyOf(i), 'v'.repeat(45)); // some outgrow their slot
    }),
  },
];

for (const c of cases) {
  test(`${c.name}: every crash point recovers to before or after`, () => {
    assert.ok(runCrashCase(c) > 0);
  });
}

for (const name of ['PMap number key: batch of updates in place (kept stores), inserts, reads', 'PMap number key: batch across a doubling and its whole migration']) {
  const c = cases.find((x) => x.name === name)!;
  test(`${name}: every single torn word of a flushed line is caught by the seal`, () => {
    assert.ok(runSingleTearCase(c) > 0);
  });
}
