/**
 * An undo-log segment taken from a free range whose chunks were freed one at a time. Each such
 * chunk keeps a FREE span header of its own, and a segment taken at the range's start must
 * snapshot every header inside it in the reserve of the segment before (12 entries): too many.
 * Found in review: the range was skipped, every growth joined it, and the pool grew to its
 * maxSize before the transaction failed with ENOSPC, nearly all of the pool free. The segment
 * now comes from the range's end, where a growth's chunks are few spans (allocator.ts
 * takeChunks). A plain run, then every crash point of the transactions that take and give back
 * such a segment, with torn 8-byte words and recovery crashed too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEveryCrashPoint, SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { CHUNK_SIZE, heapOffsetFor } from '../src/layout.js';
import { bigCrashScenario } from './helpers/big-crash-scenario.js';
import { assertBigMatches, assertCheckClean, BigModel, runBigTx } from './helpers/big-program.js';
import type { BigTx } from './helpers/big-program.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const LAYOUT = 'log-fragmented';
/** A small log: a snapshot of the big keeper needs an overflow segment of 13+ chunks. */
const LOG_CAPACITY = 64 * 1024;
const SIZE = heapOffsetFor(LOG_CAPACITY) + 8 * CHUNK_SIZE;
/** The big keeper's size: its snapshot needs a segment whose first 12 chunks hold 11+ FREE headers. */
const BIG = 200_000;
const MAX_SIZE = 64 << 20;

/** Keepers (a big block and small ones, written later), then 24 one-chunk extents, then the extents freed one by one. */
const PREFIX: BigTx[] = [
  { abort: false, ops: [{ k: 'alloc' as const, size: BIG, byte: 9 }, ...Array.from({ length: 39 }, (_, i) => ({ k: 'alloc' as const, size: 3000, byte: i & 255 }))] },
  { abort: false, ops: Array.from({ length: 24 }, (_, i) => ({ k: 'alloc' as const, size: 10_000, byte: 100 + i })) },
  // The model lists blocks in allocation order with swap-removal: index 40 is always one of the
  // extents while any is left, so 24 frees of index 40 free exactly them.
  { abort: false, ops: Array.from({ length: 24 }, () => ({ k: 'free' as const, i: 40 })) },
];

/** A transaction that logs more than the log's first area holds: the big keeper whole, and writes into small ones. */
function rewrite(byte: number, abort: boolean): BigTx {
  return {
    abort,
    ops: [
      { k: 'write' as const, i: 0, pos: 0, len: 3000, byte },
      { k: 'write' as const, i: 0, pos: 0, len: BIG, byte: (byte + 1) & 255 },
      ...Array.from({ length: 8 }, (_, i) => ({ k: 'write' as const, i: 1 + i, pos: 0, len: 3000, byte: (byte + i) & 255 })),
    ],
  };
}

function setup(): { region: SimulatedRegion; pool: Pool; model: BigModel } {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { layout: LAYOUT, size: SIZE, maxSize: MAX_SIZE, logCapacity: LOG_CAPACITY });
  const model = new BigModel();
  for (const p of PREFIX) assert.equal(runBigTx(pool, model, p).outcome, 'committed');
  assert.equal(model.live.length, 40, 'the extents are freed, the keepers live');
  return { region, pool, model };
}

test('a transaction whose log needs a segment, after chunks were freed one by one, commits without growing the pool to its maxSize', () => {
  const { pool, model } = setup();
  const before = pool.size;
  const r = runBigTx(pool, model, rewrite(1, false));
  assert.equal(r.outcome, 'committed', 'no ENOSPC');
  assert.ok(pool.stats().logOverflow >= 13 * CHUNK_SIZE, `a log segment of 13+ chunks was linked (${pool.stats().logOverflow} bytes)`);
  assert.ok(pool.size <= before + 64 * CHUNK_SIZE, `the pool grew at most once, a little: ${before} -> ${pool.size}`);
  assertCheckClean(pool, 'after the commit');
  assertBigMatches(pool, model, new Set());
  // An aborted one gives everything back; a later one reuses the segment.
  assert.equal(runBigTx(pool, model, rewrite(50, true)).outcome, 'aborted');
  assertCheckClean(pool, 'after the abort');
  assert.equal(runBigTx(pool, model, rewrite(90, false)).outcome, 'committed');
  assertCheckClean(pool, 'after another commit');
  assertBigMatches(pool, model, new Set());
});

test('every crash point of the transactions that take a log segment from the end of a fragmented free range', () => {
  const { scenario, grew } = bigCrashScenario([rewrite(1, false), rewrite(50, true), rewrite(90, false)], {
    layout: LAYOUT,
    size: SIZE,
    maxSize: MAX_SIZE,
    logCapacity: LOG_CAPACITY,
    prefix: PREFIX,
    afterRecovery(pool, model) {
      assert.ok(pool.size <= MAX_SIZE / 8, `the recovered pool did not run to its maxSize (${pool.size})`);
      // The recovered pool keeps working: a transaction that needs a log segment again.
      assert.equal(runBigTx(pool, model, rewrite(200, false)).outcome, 'committed');
      assertCheckClean(pool, 'recovered pool after another big transaction');
    },
  });
  assert.ok(grew.log, 'the program links a log segment');
  const states = forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 2, on: 'any' });
  console.log(`fragmented-log-segment crash states checked: ${states}`);
  assert.ok(states > 100, `checked ${states} crash states`);
});
