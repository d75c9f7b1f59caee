import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { Pool, Transaction } from '@ferrite/heap';
import { MISS, RecordReader, type Structures } from '../src/codec/record-reader.js';
import { MAX_SHARED_STRUCTURES, PoolValueCodec } from '../src/codec/values.js';
import { FakePool, type FakeTransaction } from './store-fake-pool.js';

/** A Packr configured as the value codec's (records, 32 shared structures kept in memory). */
function packer(): Packr & { structures: Structures } {
  const p = new Packr({
    useRecords: true,
    maxSharedStructures: MAX_SHARED_STRUCTURES,
    copyBuffers: true,
    structures: [],
    saveStructures: () => true,
  });
  return p as Packr & { structures: Structures };
}

/** Decoded values are equal with their keys in the same order (deepStrictEqual ignores order). */
function assertSame(actual: unknown, expected: unknown): void {
  assert.deepStrictEqual(actual, expected);
  const order = (v: unknown): unknown =>
    v !== null && typeof v === 'object' ? (Array.isArray(v) ? v.map(order) : Object.entries(v).map(([k, x]) => [k, order(x)])) : v;
  assert.deepStrictEqual(order(actual), order(expected));
}

/** Identifiers of up to 8 characters: never `__proto__` (9), which msgpackr renames. */
const identifier = fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,7}$/);
/** Scalars the fast path decodes itself. */
const fastScalar = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_/.~'.split('')), maxLength: 31 }),
);
const fastRecord = fc.dictionary(identifier, fastScalar, { minKeys: 0, maxKeys: 12 });
/** Anything a user may store, including what the fast path leaves to msgpackr. */
const anyValue = fc.oneof(
  fastRecord,
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fastScalar, fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 8 })), { maxKeys: 6 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => ({ big: b })),
);

test('a fast answer is exactly msgpackr\'s answer, key order included', () => {
  let hits = 0;
  fc.assert(
    fc.property(fc.array(anyValue, { minLength: 1, maxLength: 8 }), (values) => {
      const packr = packer();
      const reader = new RecordReader(MAX_SHARED_STRUCTURES);
      for (const v of values) {
        const bytes = packr.pack(v);
        const fast = reader.read(bytes, 0, bytes.length, packr.structures);
        if (fast === MISS) continue;
        hits++;
        assertSame(fast, packr.unpack(bytes));
      }
    }),
    { numRuns: 1000 },
  );
  assert.ok(hits > 500, `the fast path was taken (${hits} times)`);
});

test('an ASCII string field of every length 0..31 and every unit decodes on the fast path as msgpackr does', () => {
  // Each length has its own String.fromCharCode call (record-reader.ts): check each one, with
  // every unit 0..127 at every position across the lengths.
  const packr = packer();
  const reader = new RecordReader(MAX_SHARED_STRUCTURES);
  for (let len = 0; len <= 31; len++) {
    for (let shift = 0; shift < 128; shift += 7) {
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode((shift + i * 13) % 128);
      const bytes = packr.pack({ s, n: len });
      const fast = reader.read(bytes, 0, bytes.length, packr.structures);
      assert.notEqual(fast, MISS, `fast path for a ${len}-byte string`);
      assertSame(fast, { s, n: len });
      assertSame(fast, packr.unpack(bytes));
    }
  }
  // 32 bytes is a str8, not a fixstr: msgpackr's.
  const bytes = packr.pack({ s: 'x'.repeat(32), n: 32 });
  assert.equal(reader.read(bytes, 0, bytes.length, packr.structures), MISS);
});

test('every record of identifier keys and scalar fields takes the fast path', () => {
  fc.assert(
    fc.property(fc.array(fastRecord, { minLength: 1, maxLength: MAX_SHARED_STRUCTURES }), (records) => {
      const packr = packer();
      const reader = new RecordReader(MAX_SHARED_STRUCTURES);
      for (const r of records) {
        const bytes = packr.pack(r);
        const fast = reader.read(bytes, 0, bytes.length, packr.structures);
        assert.notEqual(fast, MISS, `fast path for ${JSON.stringify(r)}`);
        assertSame(fast, packr.unpack(bytes));
      }
    }),
    { numRuns: 500 },
  );
});

test('damaged or cut bytes: the reader never throws, never reads outside its range, and a fast answer is msgpackr\'s', () => {
  let tried = 0;
  let hits = 0;
  fc.assert(
    fc.property(
      fc.array(fastRecord, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
      fc.oneof(fc.constant(0), fc.integer({ min: -4, max: 4 })),
      (records, damage, cut) => {
        tried++;
        const packr = packer();
        const reader = new RecordReader(MAX_SHARED_STRUCTURES);
        for (const r of records) packr.pack(r);
        const clean = packr.pack(records[records.length - 1]!);
        const end = Math.max(0, clean.length + cut);
        // The value sits between guard bytes that decode as fast-path fields, and every read
        // outside it throws.
        const bytes = new Uint8Array(end + 16).fill(0x01);
        bytes.set(clean.subarray(0, Math.min(end, clean.length)), 8);
        for (const [at, b] of damage) if (end > 0) bytes[8 + (at % end)] = b;
        const fenced = new Proxy(bytes, {
          get(target, key) {
            if (typeof key === 'string' && /^\d+$/.test(key) && !(Number(key) >= 8 && Number(key) < 8 + end)) {
              throw new Error(`read byte ${key} outside [8, ${8 + end})`);
            }
            return Reflect.get(target, key) as unknown;
          },
        });
        const fast = reader.read(fenced, 8, 8 + end, packr.structures);
        // The reader reads multi-byte fields and strings through a DataView on the array's
        // buffer, which the Proxy does not see: the same bytes again as an array ending where the
        // value ends, where a read past it throws (RangeError), and reading before it would mean
        // reading before `start` (the reader only moves forward from it).
        const exact = new Uint8Array(bytes.buffer, 8, end);
        const again = reader.read(exact, 0, end, packr.structures);
        assert.equal(again === MISS, fast === MISS);
        if (fast === MISS) return;
        hits++;
        const slice = bytes.slice(8, 8 + end);
        assertSame(fast, packr.unpack(slice));
        assertSame(again, fast);
      },
    ),
    { numRuns: 2000 },
  );
  assert.ok(hits > tried / 5, `damaged values still took the fast path (${hits} of ${tried})`);
});

test('a range past the array\'s end, or an array detached since it was read, is a miss (never a throw)', () => {
  const packr = packer();
  const reader = new RecordReader(MAX_SHARED_STRUCTURES);
  const value = { name: 'abcdefghijklmnopqrst', n: 100000, f: 0.5, s: -300 };
  packr.pack(value);
  const clean = packr.pack(value);
  // At an odd offset of a larger buffer (byteOffset 3): the reader's DataView must honour it.
  const buffer = new ArrayBuffer(clean.length + 8);
  const bytes = new Uint8Array(buffer, 3, clean.length);
  bytes.set(clean);
  assertSame(reader.read(bytes, 0, bytes.length, packr.structures), value);
  assertSame(reader.read(bytes, 0, bytes.length, packr.structures), value); // the last string again
  assert.equal(reader.read(bytes, 0, bytes.length + 1, packr.structures), MISS);
  // Another array of the same bytes: a new view (not the last array's).
  const other = Uint8Array.from(clean);
  assertSame(reader.read(other, 0, other.length, packr.structures), value);
  structuredClone(buffer, { transfer: [buffer] }); // detaches `bytes`
  assert.equal(bytes.length, 0);
  assert.equal(reader.read(bytes, 0, clean.length, packr.structures), MISS);
  assertSame(reader.read(other, 0, other.length, packr.structures), value);
});

test('structures whose keys are not plain identifiers are left to msgpackr', () => {
  const packr = packer();
  const reader = new RecordReader(MAX_SHARED_STRUCTURES);
  for (const v of [{ 'a b': 1 }, { '1x': 2 }, { ok: 1, 'dash-ed': 2 }, { ['__proto__']: 3 }]) {
    const bytes = packr.pack(JSON.parse(JSON.stringify(v)));
    assert.equal(reader.read(bytes, 0, bytes.length, packr.structures), MISS, JSON.stringify(v));
  }
  // Not loaded yet: msgpackr loads the structures first.
  const unloaded = Object.assign([['a']], { uninitialized: true, sharedLength: 1 });
  assert.equal(reader.read(Uint8Array.of(0x40, 1), 0, 2, unloaded), MISS);
  // An id past the shared structures is not a shared record.
  assert.equal(reader.read(Uint8Array.of(0x41, 1), 0, 2, Object.assign([['a']], { sharedLength: 1 })), MISS);
});

test('a structure list replaced under the same id is compiled again', () => {
  const reader = new RecordReader(MAX_SHARED_STRUCTURES);
  const first = Object.assign([['a', 'b']], { sharedLength: 1 });
  assertSame(reader.read(Uint8Array.of(0x40, 1, 2), 0, 3, first), { a: 1, b: 2 });
  const second = Object.assign([['c']], { sharedLength: 1 });
  assertSame(reader.read(Uint8Array.of(0x40, 7), 0, 2, second), { c: 7 });
});

test('through the codec: a structure dropped by an abort is not decoded with its old keys', () => {
  const pool = new FakePool();
  const slot = pool.root(64);
  const codec = new PoolValueCodec(pool as unknown as Pool, slot);
  const inTx = <T>(fn: (tx: Transaction) => T): T => pool.transaction((tx: FakeTransaction) => fn(tx as unknown as Transaction));
  assert.throws(() =>
    inTx((tx) => {
      const e = codec.encode({ a: 1, b: 2 }, tx).slice();
      assertSame(codec.decode(e, 0, e.length), { a: 1, b: 2 }); // compiled for id 0 = [a, b]
      throw new Error('abort');
    }),
  );
  const e = inTx((tx) => codec.encode({ zz: 5 }, tx).slice()); // id 0 is now [zz]
  assert.equal(e[0], 0x40);
  assertSame(codec.decode(e, 0, e.length), { zz: 5 });
});
