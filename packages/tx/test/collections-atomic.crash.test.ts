import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aborted, runCrashCase, type Maps } from './support/collections-crash.js';

const prefill = (m: Maps): void => {
  m.pool.transaction(() => {
    for (let i = 0; i < 20; i++) {
      m.map.set(`k${i}`, { i });
      m.tree.set([1, `n${i}`], { i });
    }
  });
};

test('a transaction across PMap and PSortedMap is atomic at every crash point', () => {
  const states = runCrashCase({
    name: 'multi-collection transaction',
    prefill,
    op: (m) => m.pool.transaction(() => {
      m.map.set('k1', 'renamed');
      m.map.delete('k2');
      m.tree.delete([1, 'n2']);
      m.tree.set([2, 'n1'], 'moved');
      m.map.set('fresh', [1, 2, 3]);
    }),
  });
  assert.ok(states > 0);
});

test('an aborted transaction across PMap and PSortedMap leaves both unchanged at every crash point', () => {
  const states = runCrashCase({
    name: 'multi-collection abort',
    prefill,
    op: (m) => aborted(m.pool, () => {
      m.map.set('k1', 'renamed');
      m.tree.delete([1, 'n3']);
      m.tree.set([3, 'x'], 'y'.repeat(1000));
    }),
  });
  assert.ok(states > 0);
});
