import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '@ferrite/heap';

test('smoke', () => {
  const r = new SimulatedRegion(65536);
  const pool = Pool.create(r, { layout: 'x', size: 65536 });
  const root = pool.root(64);
  assert.ok(root > 0);
  const offs: number[] = [];
  pool.transaction((tx) => {
    for (let i = 0; i < 10; i++) offs.push(tx.alloc(40));
    tx.addRange(root, 8);
    pool.writeU64(root, 42);
  });
  console.log(pool.stats().lastTx, pool.check());
  pool.transaction((tx) => { tx.addRange(root, 8); pool.writeU64(root, 43); });
  console.log(pool.stats().lastTx);
  assert.throws(() => pool.transaction((tx) => { tx.addRange(root, 8); pool.writeU64(root, 44); tx.free(offs[0]!); throw new Error('x'); }));
  assert.equal(pool.readU64(root), 43);
  console.log(pool.check());
  const p2 = Pool.open(SimulatedRegion.fromImage(r.crashImage(0)), { layout: 'x' });
  assert.equal(p2.readU64(p2.rootOffset()), 43);
  console.log([...p2.allocations()].length, p2.check().ok);
});
