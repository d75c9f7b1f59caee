/**
 * Crash tests of LARGE transactions (issue 16's blind spot): hundreds to thousands of
 * operations per transaction on a pool that starts small, so that the undo log grows new
 * segments and the pool grows in the middle of allocations. Crashed at every flush and drain
 * (a constructed program) or at sampled points (random big programs), with torn 8-byte words,
 * recovery crashed too. Every recovered pool must pass the deep check() and hold exactly the
 * state before or after the transaction the crash struck.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crashProperty, forEveryCrashPoint } from '@ferrite/core/testing';
import { CHUNK_SIZE } from '../src/layout.js';
import { bigCrashScenario } from './helpers/big-crash-scenario.js';
import { assertCheckClean, bigProgramArb, runBigTx } from './helpers/big-program.js';
import type { BigTx } from './helpers/big-program.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const LAYOUT = 'big-crash';

/** The big-program crash scenario on `size` bytes growing to `maxSize`; a recovered pool then allocates across the heap. */
function scenarioFor(program: BigTx[], size: number, maxSize: number, prefix: BigTx[] = []) {
  return bigCrashScenario(program, {
    layout: LAYOUT,
    size,
    maxSize,
    prefix,
    afterRecovery(pool, after) {
      runBigTx(pool, after, { abort: false, ops: Array.from({ length: 40 }, (_, i) => ({ k: 'alloc' as const, size: 1 + ((i * 2971) % 30_000), byte: 7 })) });
      assertCheckClean(pool, 'recovered pool after more allocations');
    },
  });
}

test('every crash point of a transaction whose allocations grow the log and the pool', () => {
  // After a prefix that makes 40 blocks: 60 allocations of mixed sizes with writes between
  // them (into the older blocks, so they are logged), on a small pool: the log's first area
  // fills, new segments are linked in the middle of allocations (issue 16's shape), and the
  // pool grows several times, all inside one transaction; then one that frees and reallocates
  // across the grown space, and one that does the same and aborts.
  const prefix: BigTx = { abort: false, ops: Array.from({ length: 40 }, (_, i) => ({ k: 'alloc' as const, size: 1500 + i * 10, byte: 1 })) };
  const first: BigTx = { abort: false, ops: [] };
  for (let i = 0; i < 60; i++) {
    first.ops.push({ k: 'alloc', size: [40, 600, 3000, 9000, 20_000][i % 5]!, byte: i & 255 });
    first.ops.push({ k: 'write', i: i * 41, pos: (i % 10) / 10, len: 8 + (i % 11) * 64, byte: (i * 3) & 255 });
  }
  const second: BigTx = { abort: false, ops: [] };
  for (let i = 0; i < 16; i++) {
    second.ops.push({ k: 'free', i: i * 13 });
    second.ops.push({ k: 'alloc', size: 100 + i * 700, byte: 200 });
  }
  const third: BigTx = { abort: true, ops: second.ops };
  const { scenario, grew } = scenarioFor([first, second, third], 2 * CHUNK_SIZE + 16 * 1024, 64 << 20, [prefix]);
  assert.ok(grew.pool && grew.log, `the program grows both the pool and the log: ${JSON.stringify(grew)}`);
  const states = forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 2, on: 'any' });
  console.log(`big-transaction crash states checked: ${states}`);
  assert.ok(states > 500, `checked ${states} crash states`);
});

test('sampled crash points of random big programs on growing pools', () => {
  fc.assert(
    fc.property(bigProgramArb(3, 1500), fc.integer({ min: 0, max: 0xffff }), (program, salt) => {
      const { scenario } = scenarioFor(program, 64 * 1024, 64 << 20);
      fc.assert(crashProperty(scenario), { numRuns: SOAK ? 60 : 8, seed: salt, endOnFailure: true });
    }),
    { numRuns: SOAK ? 40 : 4, seed: 0x16, endOnFailure: true },
  );
});
