/**
 * Every bug the crash suite found, kept as a test that replays it (program + seed), so that
 * it stays fixed. Each entry says what went wrong and where.
 *
 * A bug reported but not fixed yet is kept as a test marked `todo` (node:test runs it and
 * shows its failure without failing the run); the marker goes once the fix lands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolFullError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';
import { assertClean } from './driver.js';

const SIZE = 128 << 10;

/**
 * Found by fillAndEmpty (16:00 UTC, sim-lines, seed 1592590337 path "0"): once a pool is full,
 * deleting from a hash map whose incremental rehash is in progress throws ENOSPC, because
 * `PMap.deleteIn` runs a migration step first (`prepareMigration` allocates the new table's
 * segments). A full store then cannot be emptied by deleting: the only way out is `drop` or
 * `clear`. A delete must never need to allocate (or must skip the migration step when the
 * allocation fails). Fixed in 893f922 (PMap deletes no longer run a migration step).
 */
test('a hash map on a full pool can still delete (no allocation for a rehash step)', () => {
  const store = Store.open(new SimulatedRegion(SIZE), { create: true, size: SIZE, maxSize: SIZE, layout: 'regression' });
  const m = store.map<number, string>('m');
  let n = 0;
  for (;;) {
    try {
      m.set(n, 'v'.repeat(100));
      n++;
    } catch (err) {
      assert.ok(err instanceof PoolFullError, `expected ENOSPC, got ${String(err)}`);
      break;
    }
    assert.ok(n < 100_000, 'the pool never filled');
  }
  for (let i = 0; i < n; i++) assert.equal(m.delete(i), true, `delete(${i})`);
  assert.equal(m.size, 0);
  assertClean(store, 'after emptying a full map');
  store.close();
});
