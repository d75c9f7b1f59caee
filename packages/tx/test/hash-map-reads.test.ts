/**
 * PMap's read path: ASCII string keys hashed and compared from the string itself (pool-words'
 * hashTaggedAscii / taggedAsciiEqual must agree with hashBytes / the key codec byte for byte),
 * and the DRAM copy of the table's segment references, which must be dropped whenever the
 * table changes (resize, migration, clear, abort, invalidateCache).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pool } from '@ferrite/heap';
import { SimulatedRegion } from '@ferrite/core/testing';
import { PMap } from '../src/collections/hash-map.js';
import { OrderedKeyCodec, TAG_STRING, type Key } from '../src/codec/keys.js';
import { bytesEqual, checkInside, checkWithin, hashBytes, hashTaggedAscii, readRef, readRefIn, taggedAsciiEqual } from '../src/collections/pool-words.js';
import { allocStructuresSlot, makeContext, TEST_LIMITS } from './support/collections-context.js';
import { aborted } from './support/collections-crash.js';
import { openSimulated } from './store-harness.js';

const ascii = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const anyString = fc.string({ unit: 'binary', maxLength: 20 });

/** What `f` returns, or the message of the error it throws (ECORRUPT expected). */
function outcome(f: () => number | void): string {
  try {
    return String(f());
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'ECORRUPT');
    return `ECORRUPT ${(err as Error).message}`;
  }
}

test('readRefIn and checkWithin (the read path\'s forms, the pool size given) answer as readRef and checkInside do', () => {
  const size = 4096;
  const view = new DataView(new ArrayBuffer(size));
  // References near every edge: 0, unaligned (by each low bit), at and past the end, high words at and past the limit.
  const lows = [0, 1, 2, 4, 7, 8, 16, 24, 4000, 4064, 4072, 4080, 4088, 4095, 0xfffffff8, 0xffffffff];
  const highs = [0, 1, 0x1fffff, 0x200000, 0xffffffff];
  for (const lo of lows) {
    for (const hi of highs) {
      view.setUint32(8, lo, true);
      view.setUint32(12, hi, true);
      for (const minSize of [8, 24, 64]) {
        assert.equal(outcome(() => readRefIn(view, size, 8, minSize, 'entry')), outcome(() => readRef(view, 8, minSize, 'entry')), `ref ${hi}:${lo} min ${minSize}`);
      }
    }
  }
  fc.assert(
    fc.property(fc.integer({ min: -10, max: size + 10 }), fc.integer({ min: -10, max: 80 }), (start, length) => {
      assert.equal(outcome(() => checkWithin(size, start, length, 'key')), outcome(() => checkInside(view, start, length, 'key')));
    }),
    { numRuns: 2000 },
  );
});

test('hashTaggedAscii is hashBytes over the key encoding of an ASCII string, -1 otherwise', () => {
  const codec = new OrderedKeyCodec(4096);
  fc.assert(
    fc.property(ascii, fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
      const k = codec.encode(s);
      assert.equal(hashTaggedAscii(TAG_STRING, s, seed), hashBytes(k, 0, k.length, seed));
    }),
  );
  fc.assert(
    fc.property(anyString, fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
      const h = hashTaggedAscii(TAG_STRING, s, seed);
      if ([...s].some((c) => c.charCodeAt(0) >= 0x80)) assert.equal(h, -1);
      else assert.ok(h >= 0);
    }),
  );
  assert.equal(hashTaggedAscii(TAG_STRING, 'abc\u0080', 7), -1);
  assert.equal(hashTaggedAscii(TAG_STRING, '\uffffabc', 7), -1);
});

test('taggedAsciiEqual agrees with comparing the encodings', () => {
  const codec = new OrderedKeyCodec(4096);
  fc.assert(
    fc.property(ascii, fc.oneof(ascii, fc.integer()), (a, b) => {
      const ka = codec.encodeCopy(a);
      const kb = codec.encodeCopy(b);
      const bytes = new Uint8Array(3 + kb.length);
      bytes.set(kb, 3);
      const expected = ka.length === kb.length && bytesEqual(ka, bytes, 3, ka.length);
      assert.equal(ka.length === kb.length && taggedAsciiEqual(bytes, 3, TAG_STRING, a), expected);
    }),
  );
});

/** A PMap on the real heap over a SimulatedRegion, with the test context (abort hooks). */
function realMap(): { pool: Pool; map: PMap<Key, unknown>; reopen: () => PMap<Key, unknown> } {
  const region = new SimulatedRegion(1 << 20);
  const pool = Pool.create(region, { layout: 'hash-map-reads', size: 1 << 20, maxSize: 16 << 20 });
  const slot = allocStructuresSlot(pool);
  const ctx = makeContext(pool, slot);
  const header = pool.transaction((tx) => PMap.create(ctx, tx));
  return { pool, map: new PMap<Key, unknown>(ctx, header), reopen: () => new PMap<Key, unknown>(makeContext(pool, slot), header) };
}

function checkAll(map: PMap<Key, unknown>, model: Map<string, number>, absent: string[], where: string): void {
  for (const [k, v] of model) {
    assert.equal(map.get(k), v, `${where}: get(${k})`);
    assert.equal(map.has(k), true, `${where}: has(${k})`);
  }
  for (const k of absent) {
    assert.equal(map.get(k), undefined, `${where}: get(${k}) of an absent key`);
    assert.equal(map.has(k), false, `${where}: has(${k}) of an absent key`);
  }
}

test('PMap reads: every key kind found through its path (ASCII fast path, encoded path, limits)', () => {
  const { map } = realMap();
  const keys: Key[] = ['', 'a', '\0', 'a\0b', 'é', 'e\u0301', '\u{1f600}', 'x'.repeat(TEST_LIMITS.maxKeySize - 1), 1, -0, [1, 'a'], new Uint8Array([0x61])];
  keys.forEach((k, i) => map.set(k, i));
  keys.forEach((k, i) => {
    assert.equal(map.get(k), i, `get(${String(k)})`);
    assert.equal(map.has(k), true);
  });
  // Same bytes after the tag, other tags: a byte key 'a' and the string 'a' are different keys.
  assert.equal(map.get(new Uint8Array([0x62])), undefined);
  assert.equal(map.get('b'), undefined);
  assert.equal(map.get('x'.repeat(TEST_LIMITS.maxKeySize - 2)), undefined);
  assert.equal(map.get('é\0'), undefined);
  // A key over the limit is refused as before (the codec's ETOOBIG), ASCII or not.
  assert.throws(() => map.get('x'.repeat(TEST_LIMITS.maxKeySize)), { code: 'ETOOBIG' });
  assert.throws(() => map.has('é'.repeat(TEST_LIMITS.maxKeySize)), { code: 'ETOOBIG' });
  assert.throws(() => map.get(Number.NaN), { code: 'EINVAL' });
  assert.deepEqual(map.validate(), []);
});

test('PMap reads: the cached segment references follow resizes, migrations, clear and reopen', () => {
  const { map, reopen } = realMap();
  const model = new Map<string, number>();
  const absent = ['nope', 'k-1', 'k99999'];
  // Read every key after every write: the cache is filled between each resize and migration
  // step (16 -> 32 -> ... -> 4096 buckets: one segment, then several).
  for (let i = 0; i < 2100; i++) {
    map.set(`k${i}`, i);
    model.set(`k${i}`, i);
    if (i < 300 || i % 97 === 0) checkAll(map, model, absent, `after insert ${i}`);
    else assert.equal(map.get(`k${i >> 1}`), i >> 1);
  }
  checkAll(map, model, absent, 'after the inserts');
  for (let i = 0; i < 2100; i += 3) {
    map.delete(`k${i}`);
    model.delete(`k${i}`);
  }
  checkAll(map, model, absent, 'after deletes');
  checkAll(reopen(), model, absent, 'reopened');
  map.clear();
  model.clear();
  checkAll(map, model, ['k1', 'k2', 'k4'], 'after clear');
  for (let i = 0; i < 40; i++) {
    map.set(`c${i}`, i);
    model.set(`c${i}`, i);
    checkAll(map, model, ['k1', 'k2'], `after clear, insert ${i}`);
  }
  assert.deepEqual(map.validate(), []);
});

test('PMap reads: after an aborted resize, reads use the restored table (abort hook and invalidateCache)', () => {
  const { pool, map } = realMap();
  const model = new Map<string, number>();
  for (let i = 0; i < 16; i++) {
    map.set(`k${i}`, i);
    model.set(`k${i}`, i);
  }
  checkAll(map, model, ['x'], 'before');
  // The 17th insert doubles the table; reads inside the transaction cache the new table's
  // segment, then the abort frees it and restores the old directory.
  aborted(pool, () => {
    for (let i = 16; i < 40; i++) {
      map.set(`k${i}`, i);
      assert.equal(map.get(`k${i}`), i);
      assert.equal(map.get('k3'), 3);
    }
    map.clear();
    assert.equal(map.get('k3'), undefined);
    map.set('k3', 33);
    assert.equal(map.get('k3'), 33);
  });
  checkAll(map, model, ['k16', 'k39'], 'after the abort');
  // Reuse the freed blocks for other entries: a stale reference would now read them.
  for (let i = 100; i < 140; i++) map.set(`z${i}`, i);
  for (let i = 100; i < 140; i++) model.set(`z${i}`, i);
  checkAll(map, model, ['k16', 'k39'], 'after the abort and new inserts');
  assert.deepEqual(map.validate(), []);
});

test('PMap reads through the Store: aborted resizes and drops keep reads right (invalidateCache path)', () => {
  const h = openSimulated({ size: 1 << 20 });
  const store = h.store;
  const map = store.map<string, number>('m');
  const model = new Map<string, number>();
  for (let i = 0; i < 16; i++) {
    map.set(`k${i}`, i);
    model.set(`k${i}`, i);
  }
  for (let round = 0; round < 3; round++) {
    assert.throws(() => store.transaction(() => {
      for (let i = 16; i < 200; i++) {
        map.set(`k${i}`, i);
        assert.equal(map.get(`k${i}`), i);
        assert.equal(map.get('k1'), 1);
      }
      throw new Error('roll back');
    }), /roll back/);
    for (const [k, v] of model) assert.equal(map.get(k), v, `round ${round}: get(${k})`);
    assert.equal(map.get('k16'), undefined);
    assert.equal(map.has('k199'), false);
    for (let i = 0; i < 30; i++) map.set(`r${round}-${i}`, i);
    for (let i = 0; i < 30; i++) model.set(`r${round}-${i}`, i);
  }
  for (const [k, v] of model) assert.equal(map.get(k), v);
  const reopened = h.reopen().map<string, number>('m');
  for (const [k, v] of model) assert.equal(reopened.get(k), v);
  assert.deepEqual((reopened as unknown as PMap<string, number>).validate(), []);
});

test('PMap format: a format 1 map is refused with EVERSION, an unknown version with ECORRUPT, formats 2 and 3 read', () => {
  const region = new SimulatedRegion(1 << 20);
  const pool = Pool.create(region, { layout: 'format', size: 1 << 20 });
  const ctx = makeContext(pool, allocStructuresSlot(pool));
  const header = pool.transaction((tx) => PMap.create(ctx, tx));
  const map = new PMap<string, number>(ctx, header);
  map.set('a', 1);
  const setVersion = (v: number): void => {
    pool.transaction((tx) => {
      tx.addRange(header + 4, 4);
      pool.view.setUint32(header + 4, v, true);
    });
  };
  setVersion(1);
  assert.throws(() => new PMap(ctx, header), (e: unknown) => (e as { code?: string }).code === 'EVERSION');
  setVersion(4);
  assert.throws(() => new PMap(ctx, header), (e: unknown) => (e as { code?: string }).code === 'ECORRUPT');
  // Format 2 (before dead migration slots) and 3 are both read.
  setVersion(2);
  assert.equal(new PMap<string, number>(ctx, header).get('a'), 1);
  setVersion(3);
  assert.equal(new PMap<string, number>(ctx, header).get('a'), 1);
  pool.close();
});

test('PMap format: a format-2 map becomes format 3 with its first doubling, and reads the same before and after', () => {
  const region = new SimulatedRegion(4 << 20);
  const pool = Pool.create(region, { layout: 'format', size: 4 << 20 });
  const ctx = makeContext(pool, allocStructuresSlot(pool));
  const header = pool.transaction((tx) => PMap.create(ctx, tx));
  const v2 = new PMap<string, number>(ctx, header);
  for (let i = 0; i < 16; i++) v2.set(`k${i}`, i);
  // What ferrite wrote before dead migration slots: the same bytes, version 2.
  pool.transaction((tx) => {
    tx.addRange(header + 4, 4);
    pool.view.setUint32(header + 4, 2, true);
  });
  const map = new PMap<string, number>(ctx, header);
  assert.deepEqual(map.validate(), []);
  map.set('k1', 100); // no doubling: the version stays
  assert.equal(pool.view.getUint32(header + 4, true), 2);
  map.set('k16', 16); // the doubling
  assert.equal(pool.view.getUint32(header + 4, true), 3);
  for (let i = 17; i < 40; i++) map.set(`k${i}`, i);
  assert.deepEqual(map.validate(), []);
  for (let i = 0; i < 40; i++) assert.equal(map.get(`k${i}`), i === 1 ? 100 : i);
  // A rolled-back doubling leaves version 2, and the next one upgrades it again.
  const region2 = new SimulatedRegion(4 << 20);
  const pool2 = Pool.create(region2, { layout: 'format', size: 4 << 20 });
  const ctx2 = makeContext(pool2, allocStructuresSlot(pool2));
  const h2 = pool2.transaction((tx) => PMap.create(ctx2, tx));
  const m2 = new PMap<string, number>(ctx2, h2);
  for (let i = 0; i < 16; i++) m2.set(`k${i}`, i);
  pool2.transaction((tx) => {
    tx.addRange(h2 + 4, 4);
    pool2.view.setUint32(h2 + 4, 2, true);
  });
  const m2b = new PMap<string, number>(ctx2, h2);
  assert.throws(() => pool2.transaction(() => {
    m2b.set('k16', 16);
    throw new Error('roll back');
  }), /roll back/);
  assert.equal(pool2.view.getUint32(h2 + 4, true), 2);
  m2b.set('k16', 16);
  assert.equal(pool2.view.getUint32(h2 + 4, true), 3);
  assert.deepEqual(m2b.validate(), []);
  pool.close();
  pool2.close();
});

test('PMap slots: small entries of a grown map are mostly inline, and every place reads back', () => {
  const h = openSimulated({ size: 8 << 20 });
  const map = h.store.map<string, unknown>('m');
  const N = 5000;
  h.store.transaction(() => {
    for (let i = 0; i < N; i++) map.set(`key${i}`, i % 7 === 0 ? 'big'.repeat(20) : { i });
  });
  const internals = map as unknown as { find(k: Uint8Array, h: number): number; foundPred: number; seed: number; ctx: { keys: { encode(k: unknown): Uint8Array } } };
  let inline = 0;
  for (let i = 0; i < N; i++) {
    const k = internals.ctx.keys.encode(`key${i}`).slice();
    assert.notEqual(internals.find(k, hashBytes(k, 0, k.length, internals.seed)), 0);
    if (internals.foundPred === 0) {
      inline++;
      assert.notEqual(i % 7, 0, 'a 60-byte value never sits in a slot');
    }
    assert.deepEqual(map.get(`key${i}`), i % 7 === 0 ? 'big'.repeat(20) : { i });
  }
  // A simulation of this growth puts ~58% of entries inline; 6/7 of these fit a slot.
  assert.ok(inline > N * 0.4 && inline < N * 0.75, `${inline} of ${N} inline`);
  assert.deepEqual(map.validate(), []);
  h.store.close();
});
