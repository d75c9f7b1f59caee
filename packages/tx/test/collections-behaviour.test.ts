import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from '@ferrite/heap';
import { SimulatedRegion } from '@ferrite/core/testing';
import { isFerriteError } from '@ferrite/core';
import { PMap } from '../src/collections/hash-map.js';
import { PSortedMap } from '../src/collections/sorted-map.js';
import { allocStructuresSlot, makeContext } from './support/collections-context.js';
import { dataImage } from './support/data-image.js';

/** A pool with a map and a sorted map; `hashSeed` fixes the map's hash seed (else random). */
function fresh(size = 1 << 20, maxSize = size, hashSeed?: number) {
  const region = new SimulatedRegion(size);
  const pool = Pool.create(region, { layout: 'behaviour', size, maxSize });
  const ctx = makeContext(pool, allocStructuresSlot(pool));
  if (hashSeed !== undefined) ctx.newHashSeed = () => hashSeed;
  const [mh, th] = pool.transaction((tx) => [PMap.create(ctx, tx), PSortedMap.create(ctx, tx)] as const);
  return { region, pool, ctx, map: new PMap<string, unknown>(ctx, mh), tree: new PSortedMap<number, unknown>(ctx, th), mh, th };
}

test('a single insert, update and delete take 2 drains (one snapshot, the sealed commit)', () => {
  const { pool, map, tree } = fresh();
  // The first value of a shape also records its msgpackr structure (one more snapshot).
  map.set('warm-up', { ino: 0, size: 0 });
  for (let i = 0; i < 300; i++) {
    map.set(`key${i}`, { ino: i, size: 4096 });
    assert.equal(pool.stats().lastTx.drains, 2, `map insert ${i}: ${pool.stats().lastTx.drains} drains`);
    tree.set(i, { ino: i, size: 4096 });
    assert.equal(pool.stats().lastTx.drains, 2, `tree insert ${i}: ${pool.stats().lastTx.drains} drains`);
  }
  map.set('key7', { ino: 8, size: 1 });
  assert.equal(pool.stats().lastTx.drains, 2);
  tree.set(7, { ino: 8, size: 1 });
  assert.equal(pool.stats().lastTx.drains, 2);
  assert.equal(map.delete('key9'), true);
  assert.equal(pool.stats().lastTx.drains, 2);
  assert.equal(tree.delete(9), true);
  assert.equal(pool.stats().lastTx.drains, 2);
});

/** Log segments the pool has linked so far (each new one drains once when a transaction links it). */
function logSegments(pool: Pool): number {
  return (pool as unknown as { log: { segments: unknown[] } }).log.segments.length;
}

// The drains a write adds depend on which keys share a bucket, so on the hash seed: a few fixed
// seeds keep the test deterministic (a random one failed the bounds below now and then).
for (const hashSeed of [0x1234_5678, 0x9e37_79b9, 0x0bad_cafe, 7]) test(`a transaction of many map writes shares its fences: they do not grow with its writes (issue 21; hash seed ${hashSeed})`, () => {
  const { pool, map } = fresh(32 << 20, 256 << 20, hashSeed);
  map.set('warm-up', { ino: 0, size: 0 });
  pool.transaction(() => {
    for (let i = 0; i < 5000; i++) map.set(`key${i}`, { ino: i, size: 4096 });
  });
  // Each a single transaction. Before issue 21 every write drained (a thousand drains and more
  // per transaction). Now a transaction drains once per log segment it links, two or three
  // times to commit, and once for a write that reaches a bucket whose stores are still kept
  // (another write of the transaction reached that bucket since the last drain: for random keys
  // about one write in sqrt(pi * buckets / 2), a birthday collision; a repeated key, once per
  // drain window, since its snapshot is durable after the drain).
  const programs: [string, number, () => void][] = [
    ['1,000 inserts into a map of 5,000', 12, () => { for (let i = 5000; i < 6000; i++) map.set(`key${i}`, { ino: i, size: 4096 }); }],
    ['1,000 updates and deletes', 12, () => {
      for (let i = 0; i < 1000; i += 2) {
        map.set(`key${i}`, { ino: i, size: 8192 });
        assert.equal(map.delete(`key${i + 1}`), true);
      }
    }],
    ['1,000 updates of one key', 6, () => { for (let i = 0; i < 1000; i++) map.set('key0', { ino: i, size: 4096 }); }],
    // 8k to 32k buckets: the collisions, and the migration steps that reach a bucket written
    // since the last drain, are the bulk of them (fewer than 1 in 150 writes).
    ['20,000 inserts across two doublings', 130, () => { for (let i = 6000; i < 26000; i++) map.set(`key${i}`, { ino: i, size: 1 }); }],
  ];
  for (const [what, bound, run] of programs) {
    const segments = logSegments(pool);
    pool.transaction(run);
    const grown = logSegments(pool) - segments;
    const drains = pool.stats().lastTx.drains;
    assert.ok(drains <= 3 + grown + bound, `${what}: ${drains} drains (${grown} log segments linked)`);
  }
  assert.deepEqual(map.validate(), []);
  assert.equal(map.size, 1 + 26000 - 500);
});

test('a migration step writes the new slots once: no zeroed segments, no snapshots of dead slots (issue 21)', () => {
  const { pool, map } = fresh(8 << 20);
  map.set('warm-up', { ino: 0, size: 0 });
  pool.transaction(() => {
    for (let i = 0; i < 1023; i++) map.set(`key${i}`, { ino: i, size: 4096 });
  });
  // The 1,025th entry doubles 1,024 buckets; the next 256 inserts each move 4 old buckets into
  // 8 new slots, allocating the new table's 64-slot segments as they go. Before issue 21 those
  // segments were zeroed and flushed whole (a 144-line commit every 16 steps) and every new
  // slot was snapshotted (27-38 lines a step); now a step flushes its 8 new slots (2 ranges),
  // the header, the op's own lines and the commit record.
  map.set('key1023', { ino: 1023, size: 4096 });
  let most = 0;
  // 256 steps, and a few more: a write into a bucket of the next step takes none.
  for (let i = 1024; i < 1024 + 256 + 32 && (map as unknown as { st: { old: number } }).st.old !== 0; i++) {
    map.set(`key${i}`, { ino: i, size: 4096 });
    const last = pool.stats().lastTx;
    // 3 when a step declares bytes the previous (sealed) transaction wrote, a directory word
    // it made, before its G is durable: a drain first (the sealed commit's rule).
    assert.ok(last.drains <= 3, `insert ${i}: ${last.drains} drains`);
    most = Math.max(most, last.flushes);
  }
  assert.ok(most <= 40, `at most ${most} lines flushed by a migrating insert`);
  assert.equal((map as unknown as { st: { old: number } }).st.old, 0, 'the migration ended');
  assert.deepEqual(map.validate(), []);
});

test('both collections survive pool growth (256 KiB to many MiB) and reopen', () => {
  const { region, pool, ctx, map, tree, mh, th } = fresh(256 << 10, 64 << 20);
  const N = 6000;
  for (let b = 0; b < N; b += 500) {
    pool.transaction(() => {
      for (let i = b; i < b + 500; i++) {
        map.set(`file-${i}`, { ino: i, name: 'x'.repeat(i % 50) });
        tree.set(i, { ino: i, name: 'y'.repeat(i % 50) });
      }
    });
  }
  assert.ok(pool.size > 256 << 10, 'the pool grew');
  assert.deepEqual(map.validate(), []);
  assert.deepEqual(tree.validate(), []);
  pool.close();
  const again = Pool.open(region, { layout: 'behaviour', maxSize: 64 << 20 });
  const ctx2 = makeContext(again, ctx.structuresSlot);
  const map2 = new PMap<string, { ino: number; name: string }>(ctx2, mh);
  const tree2 = new PSortedMap<number, { ino: number; name: string }>(ctx2, th);
  assert.equal(map2.size, N);
  assert.equal(tree2.size, N);
  for (let i = 0; i < N; i += 97) {
    assert.deepEqual(map2.get(`file-${i}`), { ino: i, name: 'x'.repeat(i % 50) });
    assert.deepEqual(tree2.get(i), { ino: i, name: 'y'.repeat(i % 50) });
  }
  assert.deepEqual([...tree2.range({ gte: 100, lt: 105 })].map(([k]) => k), [100, 101, 102, 103, 104]);
  assert.equal(again.check().ok, true);
});

test('over-limit keys and values are ETOOBIG and write nothing', () => {
  const { pool, map, tree } = fresh();
  map.set('a', 1);
  tree.set(1, 1);
  const before = dataImage(pool.bytes);
  for (const f of [
    () => map.set('k'.repeat(300), 1),
    () => map.set('b', 'v'.repeat(5000)),
    () => tree.set(2, 'v'.repeat(5000)),
    () => tree.set(2, 'v'.repeat(5000)),
  ]) {
    assert.throws(f, (e) => isFerriteError(e, 'ETOOBIG'));
  }
  assert.deepEqual(dataImage(pool.bytes), before);
  assert.equal(map.size, 1);
  assert.equal(tree.size, 1);
});

test('iterators carry on across writes and rollbacks (a context where collections register abort hooks)', () => {
  const { pool, map, tree } = fresh();
  for (let i = 0; i < 10; i++) {
    map.set(`k${i}`, i);
    tree.set(i, i);
  }
  const it = map.keys();
  const seen = new Set<string>([it.next().value as string]);
  map.set('other', 1);
  // A rollback of a transaction that doubled the table (the map's own abort hook restores it).
  assert.throws(() => pool.transaction(() => {
    for (let i = 0; i < 40; i++) map.set(`rolled-back${i}`, i);
    throw new Error('no');
  }), /no/);
  for (const k of it) seen.add(k);
  for (let i = 0; i < 10; i++) assert.ok(seen.has(`k${i}`), `k${i} returned`);
  for (const k of seen) assert.ok(map.has(k), `${k} returned, and it exists (nothing of the rolled-back transaction)`);
  const r = tree.range({ gte: 2 });
  assert.deepEqual(r.next().value, [2, 2]);
  tree.delete(5);
  assert.deepEqual(r.next().value, [3, 3]);
  assert.throws(() => pool.transaction(() => { tree.set(3.5, 1); tree.delete(4); throw new Error('no'); }), /no/);
  assert.deepEqual([...r], [[4, 4], [6, 6], [7, 7], [8, 8], [9, 9]]);
  assert.equal([...tree.keys()].length, 9);
});

test('damaged references give ECORRUPT, never a hang or a fault', () => {
  const { pool, map, tree, mh, th } = fresh();
  for (let i = 0; i < 50; i++) {
    map.set(`k${i}`, i);
    tree.set(i, i);
  }
  const view = pool.view;
  // A bucket chain made circular: the first entry of some bucket points at itself.
  const mapBlocks = [...map.ownedBlocks()];
  const entry = mapBlocks[mapBlocks.length - 1]!;
  const savedNext = pool.readU64(entry);
  view.setUint32(entry, entry, true);
  view.setUint32(entry + 4, 0, true);
  assert.ok(map.validate().length > 0);
  assert.throws(() => { for (const _ of map.keys()) void _; }, (e) => isFerriteError(e, 'ECORRUPT'));
  pool.writeU64(entry, savedNext);
  assert.deepEqual(map.validate(), []);
  // The tree's root reference pointing outside the pool.
  const root = pool.readU64(th + 24);
  view.setUint32(th + 24 + 4, 0x1000, true);
  assert.throws(() => tree.get(3), (e) => isFerriteError(e, 'ECORRUPT'));
  pool.writeU64(th + 24, root);
  // A leaf's sibling link pointing to itself: a range scan must stop with ECORRUPT.
  const leaf = pool.readU64(th + 40);
  const savedNextLeaf = pool.readU64(leaf + 16);
  pool.writeU64(leaf + 16, leaf);
  assert.throws(() => { for (const _ of tree.range()) void _; }, (e) => isFerriteError(e, 'ECORRUPT'));
  pool.writeU64(leaf + 16, savedNextLeaf);
  assert.deepEqual(tree.validate(), []);
  // A header that is not a collection's.
  assert.throws(() => new PMap(map['ctx' as never], th), (e) => isFerriteError(e, 'ECORRUPT'));
  assert.throws(() => new PSortedMap(map['ctx' as never], mh), (e) => isFerriteError(e, 'ECORRUPT'));
});

test('ownedBlocks and destroy free exactly what the collections own', () => {
  const { pool, map, tree, ctx } = fresh();
  for (let i = 0; i < 500; i++) {
    map.set(`k${i}`, 'v'.repeat(i % 40));
    tree.set(i, i % 3 === 0 ? 'e'.repeat(900) : 'v');
  }
  const before = [...pool.allocations()].length;
  const owned = [...map.ownedBlocks()].length + [...tree.ownedBlocks()].length;
  pool.transaction((tx) => { map.destroy(tx); tree.destroy(tx); });
  assert.equal([...pool.allocations()].length, before - owned);
  void ctx;
});

test('a full pool can always be emptied: deletes never allocate, even mid-rehash', () => {
  const size = 256 << 10;
  const { pool, map, tree } = fresh(size, size);
  let n = 0;
  // Set when the map took key n and the tree then ran out of room for it.
  let mapAhead = false;
  for (;;) {
    try {
      map.set(`key-${n}`, 'v'.repeat(100));
      mapAhead = true;
      tree.set(n, 'v'.repeat(100));
      mapAhead = false;
      n++;
    } catch (err) {
      assert.ok(isFerriteError(err, 'ENOSPC'), `expected ENOSPC, got ${String(err)}`);
      break;
    }
    assert.ok(n < 100_000, 'the pool never filled');
  }
  assert.deepEqual(map.validate(), []);
  for (let i = 0; i < n; i++) {
    assert.equal(map.delete(`key-${i}`), true, `map delete ${i}`);
    assert.equal(tree.delete(i), true, `tree delete ${i}`);
  }
  if (mapAhead) assert.equal(map.delete(`key-${n}`), true, `map delete ${n}`);
  assert.equal(map.size, 0);
  assert.equal(tree.size, 0);
  assert.deepEqual(map.validate(), []);
  assert.deepEqual(tree.validate(), []);
  assert.equal(pool.check().ok, true);
});

test('keys(), values(), forEach and for..of agree with entries(); sorted ones are in key order', () => {
  const { map, tree } = fresh();
  for (let i = 0; i < 300; i++) {
    map.set(`k${(i * 37) % 300}`, i);
    tree.set((i * 37) % 300, i);
  }
  for (const c of [map, tree] as const) {
    const entries = [...c.entries()] as [unknown, unknown][];
    assert.equal(entries.length, 300);
    assert.deepEqual([...c.keys()], entries.map(([k]) => k));
    assert.deepEqual([...c.values()], entries.map(([, v]) => v));
    assert.deepEqual([...c], entries);
    const seen: [unknown, unknown][] = [];
    (c as { forEach(fn: (v: unknown, k: unknown) => void): void }).forEach((v, k) => seen.push([k, v]));
    assert.deepEqual(seen, entries);
  }
  assert.deepEqual([...tree.keys()], Array.from({ length: 300 }, (_, i) => i));
  assert.deepEqual([...tree.range({ gt: 10, lte: 13 })].map(([k]) => k), [11, 12, 13]);
  assert.deepEqual([...tree.range({ gte: 10, lt: 13, reverse: true })].map(([k]) => k), [12, 11, 10]);
  assert.deepEqual([...tree.range({ limit: 2, reverse: true })].map(([k]) => k), [299, 298]);
  assert.deepEqual(tree.first()?.[0], 0);
  assert.deepEqual(tree.last()?.[0], 299);
  assert.throws(() => tree.range({ limit: -1 }), (e) => isFerriteError(e, 'EINVAL'));
});

// Found in review: walks are bounded by counts read from the pool, and a count a reader's
// overtaken attempt read mid-change (or damage) could be anything up to 2^64: a looping chain
// then ran practically for ever. A count above what the pool can hold is ECORRUPT now.
test('a hash map whose count exceeds what the pool can hold is ECORRUPT at its next read, not a bound for walks', () => {
  const { pool, map, mh } = fresh();
  map.set('a', 1);
  pool.transaction((tx) => {
    tx.addRange(mh + 16, 8);
    pool.writeU64(mh + 16, 2 ** 50);
  });
  (map as unknown as { invalidateCache(): void }).invalidateCache();
  assert.throws(() => map.get('a'), (err: unknown) => isFerriteError(err, 'ECORRUPT') && /exceeds what the pool holds/.test((err as Error).message));
});
