/**
 * Crash tests of writes driven by live iterators (issue 19): "iterate and delete", "iterate and
 * insert ahead" and "iterate and consume", each one transaction whose writes double the hash
 * table, merge and split B+ tree leaves, or free queue segments while the iterator walks the
 * structure. Every flush and drain is a crash point (several crash images each, recovery
 * crashed too): recovery must give the state before or after the transaction, with every
 * structure sound and no block leaked. The iteration itself is checked as it runs (each
 * uncrashed run, and every crashed run up to its crash): exactly the entries the issue's
 * guarantees name, in order where there is one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedRegion, forEveryCrashPoint } from '@ferrite/core/testing';
import { Store } from '../src/store.js';
import { runCrashCase, type Maps } from './support/collections-crash.js';

const SOAK = process.env.FERRITE_SOAK === '1';

const fillMap = (m: Maps, n: number): void => {
  m.pool.transaction(() => {
    for (let i = 0; i < n; i++) m.map.set(`k${i}`, { i, s: 'abcdefghij' });
  });
};
/** ~400-byte values: 9 records per 4 KiB leaf, so 40 entries make several leaves. */
const fillTree = (m: Maps, n: number): void => {
  m.pool.transaction(() => {
    for (let i = 0; i < n; i++) m.tree.set(i * 2, 'v'.repeat(400) + i);
  });
};
const capLog = (m: Maps): number => m.pool.readU64((m.map as unknown as { header: number }).header + 32);
const height = (m: Maps): number => m.pool.readU64((m.tree as unknown as { header: number }).header + 32);
const nodes = (m: Maps): number => [...m.tree.ownedBlocks()].length;

test('PMap: iterate, deleting every other entry and inserting (the table doubles), in one transaction: every crash point', () => {
  const states = runCrashCase({
    name: 'PMap iterate-delete-insert',
    prefill: (m) => fillMap(m, 16), // 16 buckets: the next insert starts a doubling
    op: (m) => {
      const before = capLog(m);
      const seen = new Set<string>();
      let fresh = 0;
      m.pool.transaction(() => {
        for (const [k, v] of m.map.entries()) {
          const key = k as string;
          assert.ok(!seen.has(key), `${key} returned twice`);
          seen.add(key);
          if (key.startsWith('k') && (v as { i: number }).i % 2 === 0) assert.equal(m.map.delete(key), true);
          if (fresh < 40) m.map.set(`n${fresh++}`, fresh);
        }
      });
      for (let i = 0; i < 16; i++) assert.ok(seen.has(`k${i}`), `k${i} returned`);
      assert.ok(capLog(m) > before, 'the table doubled during the iteration');
    },
  });
  assert.ok(states > 0);
});

test('PSortedMap: a range deleting each key it returns (leaves merge, the root collapses), in one transaction: every crash point', () => {
  const states = runCrashCase({
    name: 'PSortedMap range-delete',
    prefill: (m) => fillTree(m, 40),
    op: (m) => {
      assert.equal(height(m), 2);
      const got: number[] = [];
      m.pool.transaction(() => {
        for (const [k] of m.tree.range({ gte: 10 })) {
          got.push(k as number);
          assert.equal(m.tree.delete(k), true);
        }
      });
      assert.deepEqual(got, Array.from({ length: 35 }, (_, i) => 10 + 2 * i));
      assert.equal(height(m), 1, 'the leaves merged into the root');
    },
  });
  assert.ok(states > 0);
});

test('PSortedMap: a scan inserting ahead of itself (leaves split), in one transaction: every crash point', () => {
  const states = runCrashCase({
    name: 'PSortedMap scan-insert-ahead',
    prefill: (m) => fillTree(m, 40),
    op: (m) => {
      const before = nodes(m);
      const got: number[] = [];
      m.pool.transaction(() => {
        for (const k of m.tree.keys()) {
          got.push(k as number);
          if ((k as number) % 2 === 0) m.tree.set((k as number) + 1, 'n'.repeat(400));
        }
      });
      // Each inserted key lies after the place, so it comes next.
      assert.deepEqual(got, Array.from({ length: 80 }, (_, i) => i));
      assert.ok(nodes(m) > before, 'leaves split');
    },
  });
  assert.ok(states > 0);
});

test('PQueue: iterate and consume (shifts free segments under the iterator, a push it reaches), in one transaction: every crash point', () => {
  const REGION = 1 << 20;
  /** 1,500-byte values: two per 4 KiB segment, so the shifts free segments. */
  const bulky = (i: number): { i: number; s: string } => ({ i, s: 'b'.repeat(1500) });
  const initial = Array.from({ length: 10 }, (_, i) => bulky(i));
  const after = [...initial.slice(6), bulky(100)];
  interface State { store: Store }
  interface Recovered { items: unknown[]; ok: boolean; problems: string }
  const n = forEveryCrashPoint<State, Recovered>({
    setup() {
      const region = new SimulatedRegion(REGION);
      const store = Store.open(region, { create: true, size: REGION });
      const q = store.queue('q');
      for (const v of initial) q.push(v);
      return { region, state: { store } };
    },
    run(_region, { store }) {
      const q = store.queue<{ i: number }>('q');
      const got: number[] = [];
      store.transaction(() => {
        for (const v of q) {
          got.push(v.i);
          if (v.i < 6) assert.equal(q.shift()?.i, v.i); // the front is the value just read
          if (v.i === 3) q.push(bulky(100));
        }
      });
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
    },
    recover(region) {
      const store = Store.open(region, {});
      try {
        const items = [...store.queue('q')];
        const report = store.check();
        return { items, ok: report.ok, problems: JSON.stringify(report.problems.slice(0, 3)) };
      } finally {
        store.close();
      }
    },
    check(r, cx) {
      assert.ok(r.ok, r.problems);
      if (!cx.crashed) assert.deepEqual(r.items, after);
      else if (r.items.length !== initial.length) assert.deepEqual(r.items, after, 'the state before or after');
      else assert.deepEqual(r.items, initial);
    },
    recoveryCrashDepth: 1,
    seeds: SOAK ? 16 : 4,
  });
  console.log(`PQueue iterate-consume crash states checked: ${n}`);
  assert.ok(n > 0);
});
