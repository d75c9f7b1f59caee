import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aborted, runCrashCase, runSingleTearCase, type Maps } from './support/collections-crash.js';

const small = (m: Maps, n: number): void => {
  m.pool.transaction(() => {
    for (let i = 0; i < n; i++) m.tree.set(i * 2, { i, s: 'abcdefghij' });
  });
};
/** ~400-byte values: 9 records per 4 KiB leaf, so a few dozen entries make several leaves. */
const big = (m: Maps, n: number): void => {
  m.pool.transaction(() => {
    for (let i = 0; i < n; i++) m.tree.set(i * 2, 'v'.repeat(400) + i);
  });
};
const height = (m: Maps): number => m.pool.readU64((m.tree as unknown as { header: number }).header + 32);

const cases: { name: string; prefill: (m: Maps) => void; op: (m: Maps) => void }[] = [
  { name: 'PSortedMap set new', prefill: (m) => small(m, 20), op: (m) => m.tree.set(7, 'seven') },
  { name: 'PSortedMap set update in place', prefill: (m) => small(m, 20), op: (m) => m.tree.set(8, { i: 1, s: 'short' }) },
  { name: 'PSortedMap set update relocate', prefill: (m) => small(m, 20), op: (m) => m.tree.set(8, 'w'.repeat(200)) },
  { name: 'PSortedMap set external value', prefill: (m) => small(m, 20), op: (m) => m.tree.set(9, 'e'.repeat(2000)) },
  {
    name: 'PSortedMap update external value in place',
    prefill: (m) => { small(m, 5); m.tree.set(3, 'e'.repeat(2000)); },
    op: (m) => m.tree.set(3, 'f'.repeat(1500)),
  },
  { name: 'PSortedMap delete', prefill: (m) => small(m, 20), op: (m) => assert.equal(m.tree.delete(10), true) },
  {
    name: 'PSortedMap root split',
    prefill: (m) => big(m, 9),
    op: (m) => {
      const h = height(m);
      m.pool.transaction(() => {
        m.tree.set(1, 'v'.repeat(400));
        m.tree.set(3, 'v'.repeat(400));
      });
      assert.ok(height(m) > h, 'the root split');
    },
  },
  {
    name: 'PSortedMap leaf split',
    prefill: (m) => big(m, 40),
    op: (m) => m.pool.transaction(() => { for (let i = 0; i < 8; i++) m.tree.set(41 + 2 * i, 'n'.repeat(400)); }),
  },
  {
    name: 'PSortedMap merge and leaf removal',
    prefill: (m) => big(m, 40),
    op: (m) => m.pool.transaction(() => { for (let i = 10; i < 24; i++) m.tree.delete(i * 2); }),
  },
  {
    name: 'PSortedMap root collapse',
    prefill: (m) => big(m, 12),
    op: (m) => {
      const h = height(m);
      m.pool.transaction(() => { for (let i = 0; i < 9; i++) m.tree.delete(i * 2); });
      assert.ok(height(m) < h, 'the root collapsed');
    },
  },
  {
    // 150-byte keys: ~23 separators per internal node, so 600 entries make a 3-level tree.
    name: 'PSortedMap deep tree: deletes that merge leaves and empty internal nodes',
    prefill: (m) => m.pool.transaction(() => { for (let i = 0; i < 600; i++) m.tree.set(`${String(i).padStart(4, '0')}${'k'.repeat(150)}`, i); }),
    op: (m) => {
      assert.ok(height(m) >= 3, 'the tree is 3 levels deep');
      m.pool.transaction(() => { for (let i = 200; i < 260; i++) m.tree.delete(`${String(i).padStart(4, '0')}${'k'.repeat(150)}`); });
    },
  },
  { name: 'PSortedMap clear', prefill: (m) => big(m, 30), op: (m) => m.tree.clear() },
  {
    name: 'PSortedMap aborted transaction',
    prefill: (m) => big(m, 12),
    op: (m) => aborted(m.pool, () => { m.tree.set(1, 'x'.repeat(400)); m.tree.set(3, 'x'.repeat(400)); m.tree.delete(4); }),
  },
];

for (const c of cases) {
  test(`${c.name}: every crash point recovers to before or after`, () => {
    assert.ok(runCrashCase(c) > 0);
  });
}

// Single-tear images (see runSingleTearCase) of the ops whose commits are sealed: a torn word
// of any changed range, logged or fresh, must make recovery roll the op back.
for (const name of ['PSortedMap set new', 'PSortedMap set update in place', 'PSortedMap delete', 'PSortedMap leaf split']) {
  const c = cases.find((x) => x.name === name)!;
  test(`${name}: every single torn word of a flushed line is caught by the seal`, () => {
    assert.ok(runSingleTearCase(c) > 0);
  });
}
