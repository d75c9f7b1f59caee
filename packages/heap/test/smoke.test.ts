import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '@ferrite/heap';

test('smoke: create, allocate, commit, roll back, reopen through the package entry point', () => {
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
  assert.equal(pool.stats().lastTx.drains, 2); // sealed commit: the snapshots, then data + record
  assert.ok(pool.check().ok);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 43);
  });
  assert.throws(() =>
    pool.transaction((tx) => {
      tx.addRange(root, 8);
      pool.writeU64(root, 44);
      tx.free(offs[0]!);
      throw new Error('x');
    }),
  );
  assert.equal(pool.readU64(root), 43);
  assert.ok(pool.check().ok);
  const p2 = Pool.open(SimulatedRegion.fromImage(r.crashImage(0)), { layout: 'x' });
  assert.equal(p2.readU64(p2.rootOffset()), 43);
  assert.equal([...p2.allocations()].length, 11);
  assert.ok(p2.check().ok);
});
