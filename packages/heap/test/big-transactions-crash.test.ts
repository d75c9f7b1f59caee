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
import { crashProperty, forEveryCrashPoint, SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { CHUNK_SIZE } from '../src/layout.js';
import { assertBigMatches, assertCheckClean, BigModel, bigMatches, bigProgramArb, runBigTx } from './helpers/big-program.js';
import type { BigTx } from './helpers/big-program.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const LAYOUT = 'big-crash';

interface State {
  pool: Pool;
  model: BigModel;
  /** Transactions that returned before the crash. */
  done: number;
}

/** `prefix`: transactions run (uncrashed) before the program, e.g. to make blocks it writes to. */
function scenarioFor(program: BigTx[], size: number, maxSize: number, prefix: BigTx[] = []) {
  // Reference run: the committed model after every transaction.
  const ref = Pool.create(new SimulatedRegion(size), { layout: LAYOUT, size, maxSize });
  const root = ref.root(64);
  const extra = new Set([root]);
  const start = new BigModel();
  for (const p of prefix) runBigTx(ref, start, p);
  const history: BigModel[] = [start.clone()];
  const m = start.clone();
  for (const p of program) {
    runBigTx(ref, m, p);
    history.push(m.clone());
  }
  return {
    history,
    grew: { pool: ref.size > size, log: ref.stats().logOverflow > 0 },
    scenario: {
      setup(): { region: SimulatedRegion; state: State } {
        const region = new SimulatedRegion(size);
        const pool = Pool.create(region, { layout: LAYOUT, size, maxSize });
        assert.equal(pool.root(64), root, 'the root lands where the reference run put it');
        const model = new BigModel();
        for (const p of prefix) runBigTx(pool, model, p);
        return { region, state: { pool, model, done: 0 } };
      },
      run(_region: SimulatedRegion, state: State): void {
        for (const p of program) {
          runBigTx(state.pool, state.model, p);
          state.done++;
        }
      },
      recover(region: SimulatedRegion): Pool {
        return Pool.open(region, { layout: LAYOUT, maxSize });
      },
      check(pool: Pool, ctx: { state: State; crashed: boolean }): void {
        assertCheckClean(pool, 'recovered pool');
        const k = ctx.state.done;
        const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((x) => x !== undefined) : [history[program.length]!];
        const match = candidates.find((c) => bigMatches(pool, c!, extra));
        if (match === undefined) assertBigMatches(pool, candidates[0]!, extra); // throws with the difference
        // The recovered pool keeps working: a transaction that allocates across the heap.
        const after = match!.clone();
        runBigTx(pool, after, { abort: false, ops: Array.from({ length: 40 }, (_, i) => ({ k: 'alloc' as const, size: 1 + ((i * 2971) % 30_000), byte: 7 })) });
        assertCheckClean(pool, 'recovered pool after more allocations');
      },
      recoveryCrashDepth: 2,
    },
  };
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
