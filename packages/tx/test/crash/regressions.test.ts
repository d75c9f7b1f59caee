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

/**
 * Found by the EIO fault test in a soak run (19:20 UTC, FERRITE_SOAK=8, faults.test.ts seed
 * -3686147): a sealed commit leaves the generation word G stored but not yet durable, and the
 * next drain flushes it. The heap cleared its "G still owed" flags BEFORE that flush call; when
 * the call failed with EIO (here: the drain a queue push makes before storing over the sealed
 * transaction's bytes), the flags said G was durable while the media still held the sealed
 * transaction's generation. The next transaction then stored over the sealed one's bytes, and
 * a crash image recovered by judging the sealed transaction against bytes it no longer owned:
 * its seal failed, it was rolled back over the newer one, and the map's count went to -1 with
 * entries still linked. Fixed by clearing the flags only after the region call returns.
 */
test('a flush that fails with EIO does not leave the sealed generation unflushed for the next transaction', async () => {
  const { FlakyRegion } = await import('./flaky-region.js');
  const { templateImage, withReplayableRandom } = await import('./runner.js');
  const POOL = 256 << 10;
  withReplayableRandom(1, () => {
    const flaky = new FlakyRegion(SimulatedRegion.fromImage(templateImage(POOL, POOL), { granularity: 'page' }));
    const store = Store.open(flaky, { maxSize: POOL, layout: 'crash-suite' });
    const q0 = store.queue<unknown>('q0');
    const m1 = store.map<string, unknown>('m1');
    // A sealed transaction: a push that allocates the queue's segment, and a map insert.
    store.transaction(() => {
      q0.push({ ino: 0 });
      m1.set('a', false);
    });
    // The next push stores into that (sealed) segment: it drains first, and that flush fails.
    flaky.failAt = flaky.flushCalls + 1;
    assert.throws(() => q0.push({ ino: 1 }), (err: unknown) => (err as { code?: string }).code === 'EIO');
    // The store goes on; this write must not be undone by a later recovery.
    m1.set('after-eio', 1);
    const image = flaky.inner.crashImage(0); // the media only: what a crash now leaves
    const reopened = Store.open(SimulatedRegion.fromImage(image, { granularity: 'page' }), { maxSize: POOL, layout: 'crash-suite' });
    const map = reopened.map<string, unknown>('m1');
    assert.deepEqual([...map.keys()].sort(), ['a', 'after-eio']);
    assert.equal(map.size, 2);
    assertClean(reopened, 'reopened after the EIO');
    reopened.close();
  });
});

/**
 * Found by a FERRITE_SOAK=15 run of sim-pages (fast-check seed -7702782, path "506"), in the
 * uncrashed run: `PSortedMap.setIn`, updating a key whose new record does not fit its leaf,
 * rebuilds and splits the leaf; the split allocates, the allocation grew the pool (remapping
 * it), and the code then read the old record's flags through the DataView it held from
 * before, now detached: a TypeError out of `set`, and the transaction rolled back. Present
 * since the sorted map was written; it needs an update that splits exactly when the pool is
 * full. Fixed by re-reading the view after the split.
 */
test('a sorted-map update that splits a leaf while the pool grows (stale view after growth)', async () => {
  const { checkProgram } = await import('./runner.js');
  const sets = (from: number, to: number, len: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ c: 'sorted', name: 's0', op: 'set', key: from + i, value: 's'.repeat(len) }));
  const program = [
    { kind: 'tx', ops: sets(108, 131, 127), abort: false },
    {
      kind: 'tx',
      ops: [
        { c: 'map', name: 'm1', op: 'delete', key: 'b' },
        { c: 'queue', name: 'q1', op: 'push', value: 472272 },
        { c: 'queue', name: 'q0', op: 'shift' },
        { c: 'map', name: 'm0', op: 'set', key: 'c', value: { id: 13, name: 'nm' } },
      ],
      abort: false,
    },
    { kind: 'tx', ops: [{ c: 'sorted', name: 's0', op: 'set', key: 'y', value: 66077 }], abort: false },
    {
      kind: 'tx',
      ops: [
        { c: 'sorted', name: 's0', op: 'delete', key: 'y' },
        { c: 'sorted', name: 's0', op: 'set', key: 'x', value: { id: 87, name: 'nm' } },
      ],
      abort: false,
    },
    { kind: 'tx', ops: sets(124, 143, 196), abort: false },
    { kind: 'tx', ops: sets(107, 135, 152), abort: false },
  ] as unknown as Parameters<typeof checkProgram>[0];
  const states = checkProgram(program, 349559342, {
    poolSize: 128 << 10,
    maxSize: 256 << 10,
    imagesPerPoint: 1,
    maxPointsPerProgram: 12,
    recoveryCrashEvery: 7,
    fillEvery: 0,
    granularity: 'page',
  });
  assert.ok(states > 0, 'crash states were checked');
});
