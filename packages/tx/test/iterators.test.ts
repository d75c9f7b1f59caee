/**
 * Iterators across writes (issue 19), the cases users meet, each a regression test of the
 * behaviour before it (a write anywhere in the collection, a refused write or a rollback
 * anywhere in the store ended every live iterator with ETXSTATE; a range made before
 * close() and stepped after it threw a TypeError about a detached ArrayBuffer). The
 * model-based test (iterators.model.test.ts) interleaves everything at random; these pin the
 * everyday patterns down with plain numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { rmSync } from 'node:fs';
import { Store, defaultPoolPath } from '../src/store.js';
import type { Key } from '../src/codec/keys.js';

function openStore(size = 1 << 20, maxSize = 64 << 20): Store {
  return Store.open(new SimulatedRegion(size), { create: true, size, maxSize });
}

const code = (c: ErrorCode) => (e: unknown): boolean => isFerriteError(e, c);
const tableLog = (s: Store, name: string): number => {
  const m = s.map(name) as unknown as { header: number };
  return (s as unknown as { pool: { readU64(at: number): number } }).pool.readU64(m.header + 32);
};
const poolBytes = (s: Store): Uint8Array => (s as unknown as { pool: { bytes: Uint8Array } }).pool.bytes;

test('hash map: iterate and delete what expired, one write per step (the table doubles meanwhile)', () => {
  const s = openStore();
  const m = s.map<string, { exp: number }>('sessions');
  const N = 3000;
  for (let i = 0; i < N; i++) m.set(`s${i}`, { exp: i % 3 });
  const seen = new Set<string>();
  let fresh = 0;
  const logBefore = tableLog(s, 'sessions');
  for (const [k, v] of m) {
    assert.ok(!seen.has(k), `${k} returned twice`);
    seen.add(k);
    if (v.exp === 0) assert.equal(m.delete(k), true); // the entry just returned
    // Two inserts per step: the table doubles (twice) and migrates while the iterator walks it.
    if (fresh < 2 * N) {
      m.set(`new${fresh++}`, { exp: 1 });
      m.set(`new${fresh++}`, { exp: 1 });
    }
  }
  assert.ok(tableLog(s, 'sessions') >= logBefore + 1, 'the table doubled during the iteration');
  for (let i = 0; i < N; i++) assert.ok(seen.has(`s${i}`), `s${i}, present throughout, was returned`);
  for (let i = 0; i < N; i++) assert.equal(m.has(`s${i}`), i % 3 !== 0);
  assert.equal(m.size, N - N / 3 + fresh);
  assert.equal(s.check().ok, true);
  s.close();
});

test('sorted map: delete while ranging, in key order, merging leaves (and in one transaction)', () => {
  const s = openStore();
  const t = s.sortedMap<number, string>('t');
  for (let i = 0; i < 2000; i++) t.set(i, 'v'.repeat(100)); // ~30 per leaf: many leaves
  const got: number[] = [];
  for (const [k] of t.range({ gte: 100, lt: 1900 })) {
    got.push(k);
    if (k % 10 !== 0) t.delete(k); // leaves empty out and merge under the iterator
    if (k === 500) t.set(499.5, 'behind'); // before the place: not returned
    if (k === 500) t.set(500.5, 'ahead'); // after it: returned
  }
  const want: number[] = [];
  for (let i = 100; i < 1900; i++) {
    want.push(i);
    if (i === 500) want.push(500.5);
  }
  assert.deepEqual(got, want);
  // Reverse, inside one transaction that deletes everything it returns.
  const back: number[] = [];
  s.transaction(() => {
    for (const k of t.range({ reverse: true, lt: 1000 })) {
      back.push(k[0]);
      t.delete(k[0]);
    }
  });
  // [0, 100), the tens of [100, 1000) and 499.5 (500.5 was returned above, so deleted).
  assert.equal(back.length, 100 + 90 + 1);
  for (let i = 1; i < back.length; i++) assert.ok(back[i]! < back[i - 1]!);
  assert.equal(t.first()?.[0], 1000);
  assert.deepEqual(t.validate(), []);
  assert.equal(s.check().ok, true);
  s.close();
});

test('queue: shift while iterating; pushes meanwhile are reached; shifted values are skipped', () => {
  const s = openStore();
  const q = s.queue<number>('jobs');
  for (let i = 0; i < 1000; i++) q.push(i);
  const got: number[] = [];
  for (const v of q) {
    got.push(v);
    if (v < 500) assert.equal(q.shift(), v); // consume what was just read
    if (v === 600) for (let k = 0; k < 50; k++) q.shift(); // 500..549 go; the iterator is past them
    if (v === 700) q.push(1000, 1001);
  }
  assert.deepEqual(got, [...Array.from({ length: 1002 }, (_, i) => i)]);
  // An iterator behind the front jumps to the front.
  const it = q[Symbol.iterator]();
  assert.equal(it.next().value, 550);
  for (let k = 0; k < 100; k++) q.shift();
  assert.equal(it.next().value, 650);
  q.clear();
  assert.equal(it.next().done, true);
  assert.equal(s.check().ok, true);
  s.close();
});

test('a refused write (ETOOBIG) or a rollback elsewhere does not end other collections\' iterators', () => {
  const s = Store.open(new SimulatedRegion(1 << 20), { create: true, size: 1 << 20, maxValueSize: 1024 });
  const a = s.map<number, number>('a');
  const b = s.map<number, string>('b');
  const t = s.sortedMap<number, number>('t');
  const q = s.queue<number>('q');
  for (let i = 0; i < 50; i++) {
    a.set(i, i);
    t.set(i, i);
    q.push(i);
  }
  const ia = a.keys();
  const it = t.keys();
  const iq = q.values();
  const seenA = new Set([ia.next().value]);
  assert.equal(it.next().value, 0);
  assert.equal(iq.next().value, 0);
  assert.equal(q.shift(), 0); // committed: the queue's own count of shifted values moves on
  assert.equal(iq.next().value, 1);
  // A write refused before it stored anything, outside and inside a transaction.
  assert.throws(() => b.set(1, 'x'.repeat(2000)), code('ETOOBIG'));
  s.transaction(() => assert.throws(() => b.set(1, 'x'.repeat(2000)), code('ETOOBIG')));
  // A transaction rolled back after writing to another collection.
  assert.throws(() => s.transaction(() => { b.set(2, 'y'); throw new Error('no'); }), /no/);
  for (let n = 0; n < 49; n++) seenA.add(ia.next().value);
  assert.equal(seenA.size, 50);
  assert.equal(ia.next().done, true);
  assert.deepEqual([...it], Array.from({ length: 49 }, (_, i) => i + 1));
  assert.deepEqual([...iq], Array.from({ length: 48 }, (_, i) => i + 2));
  s.close();
});

test('a rollback in the iterated collection: the iterator resumes from its place in the restored state', () => {
  const s = openStore();
  const t = s.sortedMap<number, string>('t');
  const m = s.map<number, string>('m');
  const q = s.queue<number>('q');
  for (let i = 0; i < 20; i++) {
    t.set(i, `v${i}`);
    m.set(i, `v${i}`);
    q.push(i);
  }
  const it = t.entries();
  const im = m.keys();
  const iq = q.values();
  assert.deepEqual(it.next().value, [0, 'v0']);
  assert.deepEqual(it.next().value, [1, 'v1']);
  const fromMap = new Set<number>([im.next().value as number]);
  assert.equal(iq.next().value, 0);
  assert.throws(() => s.transaction(() => {
    for (let i = 0; i < 20; i++) t.delete(i);
    for (let i = 0; i < 300; i++) m.set(1000 + i, 'n'); // doubles the table, then rolled back
    t.set(1.5, 'rolled back');
    assert.deepEqual(it.next().value, [1.5, 'rolled back']); // a step inside the transaction
    fromMap.add(im.next().value as number);
    for (let i = 0; i < 5; i++) q.shift();
    assert.equal(iq.next().value, 5); // 1 to 4 were shifted away
    throw new Error('undo');
  }), /undo/);
  // Restored: 2..19 come next (after 1.5, the last key returned), the map's 20 keys once each
  // (a key of the rolled-back transaction counts as returned, not as one of them), and the
  // queue's values after the place counted from the front (0 and 5 were returned: 6 of 20).
  assert.deepEqual([...it].map(([k]) => k), Array.from({ length: 18 }, (_, i) => i + 2));
  for (const k of im) fromMap.add(k);
  for (let i = 0; i < 20; i++) assert.ok(fromMap.has(i), `map key ${i} returned`);
  assert.deepEqual([...iq], Array.from({ length: 14 }, (_, i) => i + 6));
  s.close();
});

test('the pool grows (remapped) between steps: iterators read the new mapping', () => {
  const s = openStore(256 << 10, 64 << 20);
  const m = s.map<number, number>('m');
  const t = s.sortedMap<number, number>('t');
  const q = s.queue<number>('q');
  const big = s.map<number, string>('big');
  for (let i = 0; i < 100; i++) {
    m.set(i, i);
    t.set(i, i);
    q.push(i);
  }
  const iters = [m.keys(), t.keys(), q.values()];
  const got: number[][] = iters.map((i) => [i.next().value as number]);
  const before = poolBytes(s);
  for (let i = 0; i < 400; i++) big.set(i, 'g'.repeat(2000)); // ~800 KiB: the pool grows
  assert.notEqual(poolBytes(s), before, 'the pool was remapped');
  for (let k = 0; k < 3; k++) for (const v of iters[k]!) got[k]!.push(v as number);
  assert.deepEqual(new Set(got[0]), new Set(Array.from({ length: 100 }, (_, i) => i)));
  assert.equal(got[0]!.length, 100);
  assert.deepEqual(got[1], Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(got[2], Array.from({ length: 100 }, (_, i) => i));
  s.close();
});

test('an iterator of a closed store ends with ECLOSED, made before close() or started before it', () => {
  const s = openStore();
  const m = s.map<number, number>('m');
  const t = s.sortedMap<number, number>('t');
  const q = s.queue<number>('q');
  for (let i = 0; i < 5; i++) {
    m.set(i, i);
    t.set(i, i);
    q.push(i);
  }
  const fresh: Iterator<unknown>[] = [t.range({ gte: 1 }), t.range(), t.keys(), t.values(), t.entries(), m.keys(), m.values(), m.entries(), q.values(), q[Symbol.iterator]()];
  const started: Iterator<unknown>[] = [t.range({ gte: 1 }), t.keys(), m.entries(), q.values()];
  for (const it of started) it.next();
  s.close();
  for (const it of [...fresh, ...started]) {
    assert.throws(() => it.next(), code('ECLOSED'));
    assert.equal(it.next().done, true, 'an iterator that threw is over');
  }
});

test('on a real mapping too: a range made before close() and stepped after it is ECLOSED, not a detached-buffer TypeError', () => {
  const path = defaultPoolPath(`iterators-close-${process.pid}`);
  rmSync(path, { force: true });
  try {
    const s = Store.open(path, { create: true, size: 1 << 20 });
    const t = s.sortedMap<number, number>('t');
    const m = s.map<number, number>('m');
    const q = s.queue<number>('q');
    t.set(1, 1);
    m.set(1, 1);
    q.push(1);
    const iters: Iterator<unknown>[] = [t.range({ gte: 0 }), t.range({ reverse: true }), m.entries(), q.values()];
    s.close(); // unmaps: the pool's ArrayBuffer is detached
    for (const it of iters) assert.throws(() => it.next(), code('ECLOSED'));
  } finally {
    rmSync(path, { force: true });
  }
});

test('an iterator of a dropped collection ends with ECLOSED; a drop rolled back lets it go on', () => {
  const s = openStore();
  for (const kind of ['map', 'sortedMap', 'queue'] as const) {
    const make = (): { it: Iterator<unknown>; fill(): void } => {
      if (kind === 'queue') {
        const q = s.queue<number>('c');
        return { it: q.values(), fill: () => { for (let i = 0; i < 5; i++) q.push(i); } };
      }
      const c = kind === 'map' ? s.map<number, number>('c') : s.sortedMap<number, number>('c');
      return { it: c.keys(), fill: () => { for (let i = 0; i < 5; i++) c.set(i, i); } };
    };
    let { it, fill } = make();
    fill();
    const got = [it.next().value];
    // Dropped in a transaction that rolls back: the collection (and the iterator) carry on.
    assert.throws(() => s.transaction(() => {
      s.drop('c');
      assert.throws(() => it.next(), code('ECLOSED'));
      throw new Error('keep it');
    }), /keep it/);
    ({ it, fill } = make());
    got.length = 0;
    got.push(it.next().value);
    const stepBeforeDrop = it;
    assert.throws(() => s.transaction(() => { s.drop('c'); throw new Error('keep it'); }), /keep it/);
    for (const v of { [Symbol.iterator]: () => stepBeforeDrop }) got.push(v);
    assert.equal(got.length, 5, `${kind}: every entry once after the rolled-back drop`);
    assert.equal(new Set(got).size, 5);
    // Dropped for good: ECLOSED, also once a collection of the same name exists again.
    const again = make().it;
    again.next();
    const never = make().it;
    assert.equal(s.drop('c'), true);
    fill = make().fill;
    fill();
    assert.throws(() => again.next(), code('ECLOSED'));
    assert.throws(() => never.next(), code('ECLOSED'));
    s.drop('c');
  }
  assert.equal(s.check().ok, true);
  s.close();
});

test('hash map: keys of equal hashes are returned once each across writes (the tie-break by key bytes)', async () => {
  const { hashTaggedAscii } = await import('../src/collections/pool-words.js');
  const { TAG_STRING } = await import('../src/codec/keys.js');
  const seed = 0x1234567;
  const bucketOf = new Map<number, string[]>();
  const groups: string[][] = [];
  for (let i = 0; groups.length < 6 && i < 2_000_000; i++) {
    const k = `c${i}`;
    const h = hashTaggedAscii(TAG_STRING, k, seed);
    const g = bucketOf.get(h);
    if (g === undefined) bucketOf.set(h, [k]);
    else {
      g.push(k);
      if (g.length === 2) groups.push(g);
    }
  }
  assert.equal(groups.length, 6);
  const s = openStore();
  s.hashSeeds = () => seed;
  const m = s.map<Key, number>('m');
  const keys = groups.flat();
  for (const k of keys) m.set(k, 1);
  // Every step deletes what it returned and inserts again (a new entry in the same chain).
  const seen: string[] = [];
  for (const k of m.keys()) {
    seen.push(k as string);
    m.delete(k);
    m.set(k, 2);
  }
  assert.deepEqual([...seen].sort(), [...keys].sort());
  s.close();
});

test('a damaged hash map (an entry in a bucket its hash is not) stops iteration with ECORRUPT', () => {
  const s = openStore();
  const m = s.map<number, number>('m');
  for (let i = 0; i < 10; i++) m.set(i, i);
  const pool = (s as unknown as { pool: { view: DataView } }).pool;
  const blocks = [...m.ownedBlocks()]; // header, directory, segment (all entries inline)
  const seg = blocks[2]!;
  let slot = 0;
  for (let b = 0; b < 16 && slot === 0; b++) if (pool.view.getUint32(seg + b * 64 + 12, true) !== 0) slot = seg + b * 64;
  pool.view.setUint32(slot + 8, pool.view.getUint32(slot + 8, true) ^ 1, true); // hash now says another bucket
  assert.throws(() => [...m.keys()], code('ECORRUPT'));
  s.close();
});
