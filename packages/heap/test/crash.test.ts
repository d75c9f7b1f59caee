/**
 * Crash tests: random programs of transactions that allocate, free, write and abort, crashed
 * at every flush and drain point with torn words (every crash-image mode), recovered, with
 * recovery itself crashed (depth 2). Every recovered pool must hold exactly the state of the
 * last committed transaction (or, when the crash struck a commit, of the one being committed),
 * pass check(), have exactly the model's allocated blocks, and still fill up and empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PoolFullError } from '@ferrite/core';
import { forEveryCrashPoint, SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { assertMatches, fillAndEmpty, initRoot, matches, programArb, refuseGrowthAbove, runProgram, runTx } from './helpers/program.js';
import type { Model, TxProgram } from './helpers/program.js';

const SOAK = process.env.FERRITE_SOAK === '1';

/** Allocates 20000-byte blocks, one transaction each, until one fails; returns that error. */
function fillUntilFull(pool: Pool): unknown {
  for (let i = 0; i < 1000; i++) {
    try {
      pool.transaction((tx) => tx.alloc(20000));
    } catch (err) {
      return err;
    }
  }
  return undefined;
}
const LAYOUT = 'crash-test';

interface Setup {
  pool: Pool;
  model: Model;
  /** Transactions that returned (committed or rolled back) before the crash. */
  done: number;
}

interface Recovered {
  pool: Pool;
}

let totalStates = 0;

function scenarioFor(
  program: TxProgram[],
  opts: { size: number; maxSize: number; prefix: TxProgram[]; granularity?: 'cache-line' | 'page'; growCap?: number },
) {
  const granularity = opts.granularity ?? 'cache-line';
  // A full file system below maxSize: every region (the recovered ones too) refuses to grow past growCap.
  const limited = (region: SimulatedRegion): SimulatedRegion =>
    opts.growCap === undefined ? region : refuseGrowthAbove(region, opts.growCap);
  // Reference run, uncrashed: the model after every transaction.
  const ref = limited(new SimulatedRegion(opts.size, { granularity }));
  const refPool = Pool.create(ref, { layout: LAYOUT, size: opts.size, maxSize: opts.maxSize });
  let start = initRoot(refPool);
  for (const p of opts.prefix) start = runTx(refPool, start, p);
  const history = runProgram(refPool, start, program);
  let fillChecks = 0;
  return {
    history,
    refPool,
    scenario: {
      setup(): { region: SimulatedRegion; state: Setup } {
        const region = limited(new SimulatedRegion(opts.size, { granularity }));
        const pool = Pool.create(region, { layout: LAYOUT, size: opts.size, maxSize: opts.maxSize });
        let model = initRoot(pool);
        for (const p of opts.prefix) model = runTx(pool, model, p);
        return { region, state: { pool, model, done: 0 } };
      },
      run(_region: SimulatedRegion, state: Setup): void {
        runProgram(state.pool, state.model, program, (k) => {
          state.done = k;
        });
      },
      recover(region: SimulatedRegion): Recovered {
        return { pool: Pool.open(limited(region), { layout: LAYOUT, maxSize: opts.maxSize }) };
      },
      check(result: Recovered, ctx: { state: Setup; crashed: boolean }): void {
        const { pool } = result;
        const report = pool.check();
        assert.ok(report.ok, `check(): ${JSON.stringify(report.problems.slice(0, 3))}`);
        const k = ctx.state.done;
        const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((m) => m !== undefined) : [history[program.length]!];
        const match = candidates.find((m) => matches(pool, m!));
        if (match === undefined) assertMatches(pool, candidates[0]!); // throws with the difference
        // Filling is the costly part: do it for a sample of states.
        if (fillChecks++ % (SOAK ? 1 : 7) === 0) fillAndEmpty(pool, match!);
        totalStates++;
      },
      recoveryCrashDepth: 2,
    },
  };
}

test('crash at every flush/drain point of random transaction programs (small pool)', () => {
  const runs = SOAK ? 100 : 10;
  fc.assert(
    fc.property(programArb(5, 5), fc.boolean(), (program, grow) => {
      const size = 65536;
      const { scenario } = scenarioFor(program, { size, maxSize: grow ? 4 * size : size, prefix: [] });
      forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 4, on: 'any' });
    }),
    { numRuns: runs, seed: 0x5eed, endOnFailure: true },
  );
  console.log(`heap crash states checked: ${totalStates}`);
  assert.ok(totalStates > 0);
});

test('the same programs on the msync (page) persistency model', () => {
  const before = totalStates;
  fc.assert(
    fc.property(programArb(4, 4), (program) => {
      const { scenario } = scenarioFor(program, { size: 65536, maxSize: 4 * 65536, prefix: [], granularity: 'page' });
      forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 4, on: 'any' });
    }),
    { numRuns: SOAK ? 30 : 3, seed: 0xbeef, endOnFailure: true },
  );
  console.log(`heap crash states checked (page model): ${totalStates - before}`);
});

test('crash points of programs whose growth the file system refuses below maxSize (PoolFullError, nothing changed)', () => {
  const before = totalStates;
  fc.assert(
    fc.property(programArb(5, 5), fc.integer({ min: 0, max: 3 }), (program, extraChunks) => {
      const size = 65536;
      // Room for the pool and 0-3 more chunks, far below maxSize: growth hits the file system.
      const growCap = size + extraChunks * 16384;
      const { scenario, refPool } = scenarioFor(program, { size, maxSize: 8 * size, prefix: [], growCap });
      assert.ok(refPool.size <= growCap, 'the pool never grew past what the file system has');
      forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 3, on: 'any' });
      // The reference pool, filled: the refusal (not maxSize) is what stops it.
      const stop = fillUntilFull(refPool);
      assert.ok(stop instanceof PoolFullError && /cannot grow/.test(stop.message), String(stop));
      assert.ok(refPool.check().ok);
    }),
    { numRuns: SOAK ? 60 : 8, seed: 0xf11, endOnFailure: true },
  );
  console.log(`heap crash states checked (growth refused by the file system): ${totalStates - before}`);
  assert.ok(totalStates > before);
});

test('crash points of a transaction that overflows the undo log into new segments', () => {
  const before = totalStates;
  const program: TxProgram[] = [
    { ops: [{ k: 'alloc', size: 20000 }, { k: 'fill', i: 0, byte: 5 }], abort: false },
    { ops: [{ k: 'fill', i: 0, byte: 7 }, { k: 'write', i: 0, pos: 3, v: 99 }], abort: false },
    { ops: [{ k: 'fill', i: 0, byte: 9 }, { k: 'alloc', size: 40 }], abort: true },
  ];
  const { scenario, refPool } = scenarioFor(program, { size: 65536, maxSize: 8 * 65536, prefix: [] });
  assert.ok(refPool.stats().logOverflow > 0, 'the program needs an overflow segment');
  assert.ok(refPool.size > 65536, 'the program grows the pool');
  forEveryCrashPoint({ ...scenario, seeds: SOAK ? 16 : 8, on: 'any' });
  console.log(`heap crash states checked (log overflow): ${totalStates - before}`);
});

test('regression programs', () => {
  // Programs that once failed are kept here.
  const programs: TxProgram[][] = [
    [{ ops: [{ k: 'alloc', size: 16 }, { k: 'free', i: 0 }], abort: false }],
    // A run emptied by one transaction was reclaimed and reused by an aborted one, whose fresh
    // block overwrote the old run's bitmap without a snapshot: the rollback resurrected a block.
    [
      { ops: [{ k: 'alloc', size: 16 }, { k: 'free', i: 0 }, { k: 'alloc', size: 4096 }], abort: false },
      { ops: [{ k: 'alloc', size: 100 }, { k: 'write', i: 495, pos: 0, v: 1 }], abort: true },
      { ops: [{ k: 'alloc', size: 16 }], abort: false },
    ],
    // Two adjacent freed extents merged in DRAM; a larger extent over both covered the second
    // one's FREE header, which a rollback must restore.
    [
      { ops: [{ k: 'alloc', size: 20000 }, { k: 'alloc', size: 20000 }, { k: 'alloc', size: 16 }], abort: false },
      { ops: [{ k: 'free', i: 0 }, { k: 'free', i: 1 }], abort: false },
      { ops: [{ k: 'alloc', size: 60000 }, { k: 'fill', i: 1, byte: 3 }], abort: true },
      { ops: [{ k: 'alloc', size: 20000 }], abort: false },
    ],
  ];
  for (const program of programs) {
    const { scenario } = scenarioFor(program, { size: 65536, maxSize: 4 * 65536, prefix: [] });
    // Seeds 1 and 2: the 'live' and 'lines' crash-image modes, which expose these bugs.
    forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 2, firstSeed: SOAK ? 0 : 1 });
  }
});

test('regression: a reused chunk is not written before its old metadata snapshot is durable', () => {
  // tx 2 reclaims the empty run of tx 1 for a run of another class and stores into a fresh
  // block that overlaps the old run's bitmap, then commits: a crash at the commit's first
  // drain may persist that store but not the bitmap's snapshot, unless alloc drained first.
  const program: TxProgram[] = [
    { ops: [{ k: 'alloc', size: 16 }, { k: 'free', i: 0 }, { k: 'alloc', size: 4096 }], abort: false },
    { ops: [{ k: 'alloc', size: 100 }, { k: 'write', i: 1, pos: 0, v: 0xffffffff, raw: true }], abort: false },
  ];
  const { scenario } = scenarioFor(program, { size: 65536, maxSize: 65536, prefix: [] });
  forEveryCrashPoint({ ...scenario, seeds: 12, on: 'drain' });
});

test('uncrashed programs leave the model state exactly', () => {
  fc.assert(
    fc.property(programArb(8, 6), (program) => {
      const region = new SimulatedRegion(65536);
      const pool = Pool.create(region, { layout: LAYOUT, size: 65536, maxSize: 1 << 20 });
      const history = runProgram(pool, initRoot(pool), program);
      assertMatches(pool, history[history.length - 1]!);
      assert.ok(pool.check().ok);
      const reopened = Pool.open(SimulatedRegion.fromImage(region.crashImage(0)), { layout: LAYOUT });
      assertMatches(reopened, history[history.length - 1]!);
    }),
    { numRuns: SOAK ? 500 : 50, seed: 42 },
  );
});

test('crash states total', () => {
  console.log(`heap crash states checked (all crash tests in this file): ${totalStates}`);
  assert.ok(totalStates > 1000);
});
