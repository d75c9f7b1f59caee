import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PMap } from '../src/collections/hash-map.js';
import { FakePool } from './support/collections-fake-pool.js';
import { allocStructuresSlot, makeContext } from './support/collections-context.js';
import { runModel } from './support/collections-model.js';
import type { Key } from '../src/codec/keys.js';
import type { Pool } from '@ferrite/heap';
import { fakeSetup as fakeSetupOf, realSetup } from './support/collections-real-setup.js';

const REAL_RUNS = process.env.FERRITE_SOAK === '1' ? 200 : 15;
const RUNS = process.env.FERRITE_SOAK === '1' ? 500 : 60;

const fakeSetup = fakeSetupOf((ctx, tx) => PMap.create(ctx, tx), (ctx, h) => new PMap<Key, unknown>(ctx, h));

test('PMap behaves like its model on the real heap (SimulatedRegion, growth from 256 KiB, reopen)', () => {
  runModel(realSetup((ctx, tx) => PMap.create(ctx, tx), (ctx, h) => new PMap<Key, unknown>(ctx, h)), REAL_RUNS);
});

test('PMap behaves like a Map (fake pool, aborts, reopen, growth)', () => {
  runModel(fakeSetup, RUNS);
});

test('PMap: a single insert, update or delete drains nothing itself: its snapshots are one logRanges call per kind of word (header, buckets, a step\'s chain links)', () => {
  const pool = new FakePool({ size: 1 << 20 });
  const slot = allocStructuresSlot(pool);
  const ctx = makeContext(pool, slot);
  const header = (pool as unknown as Pool).transaction((tx) => PMap.create(ctx, tx));
  const map = new PMap<string, number>(ctx, header);
  for (let i = 0; i < 2000; i++) {
    map.set(`key${i}`, i);
    assert.equal(pool.lastAddRangesCalls, 0, `insert ${i}`);
    // A migration step logs the chain links it changes in a third call.
    assert.ok(pool.lastLogRangesCalls >= 2 && pool.lastLogRangesCalls <= 3, `insert ${i}`);
  }
  for (let i = 0; i < 2000; i += 3) {
    map.set(`key${i}`, i + 1); // in place
    assert.equal(pool.lastAddRangesCalls, 0);
    assert.ok(pool.lastLogRangesCalls <= 2);
    assert.equal(map.delete(`key${i + 1}`), true);
    assert.equal(pool.lastAddRangesCalls, 0);
    assert.equal(pool.lastLogRangesCalls, 2);
  }
  assert.deepEqual(map.validate(), []);
});
