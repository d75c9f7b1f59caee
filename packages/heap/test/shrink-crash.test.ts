/**
 * Crash tests of pool.shrink(): random transaction programs on a pool that grew, then a
 * transaction that frees the blocks of the upper half of the heap, then shrink, then one more
 * transaction (growth after a shrink). Crashed at every flush and drain point (the region's
 * truncation is a drain event of its own), with torn 8-byte words (every crash-image mode),
 * recovery crashed too (depth 2), on the cache-line and page models and on the file model (a
 * pool file and its redo log on a simulated disk: pages written back at any moment, torn
 * sectors, fdatasync the only barrier). Every recovered pool must check clean, hold exactly
 * the blocks of the last transaction that returned (or of the one struck, whole), be no
 * larger than before the shrink, and a shrink of it must then finish the job.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { forEveryCrashPoint, forEverySingleTear, SimulatedDisk, SimulatedFileTarget, SimulatedRegion } from '@ferrite/core/testing';
import { CHUNK_SIZE, Pool } from '../src/index.js';
import { assertMatches, fillAndEmpty, initRoot, matches, programArb, runProgram, runTx } from './helpers/program.js';
import type { Model, TxProgram } from './helpers/program.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const SIZE = 64 * 1024;
const MAX = 48 * CHUNK_SIZE;
const WAL = 16 << 20;

/** Extents that make the pool grow, before the random program. */
const PREFIX: TxProgram[] = [0, 1, 2, 3].map((i) => ({ ops: [{ k: 'alloc', size: 20000 }, { k: 'root', v: i }], abort: false }));

/** The transaction that frees every block (the root aside) in the upper half of the heap. */
function freeUpperHalf(model: Model): TxProgram {
  const offsets = [...model.blocks.keys()].filter((o) => o !== model.root).sort((a, b) => a - b);
  const cut = offsets[Math.floor(offsets.length / 2)] ?? Infinity;
  // 'free' ops pick among live blocks by index: free from the top, one at a time, by position.
  const ops: TxProgram['ops'] = [];
  const live = offsets.slice();
  for (let j = live.length - 1; j >= 0 && live[j]! >= cut; j--) {
    ops.push({ k: 'free', i: j });
    live.splice(j, 1);
  }
  if (ops.length === 0) ops.push({ k: 'root', v: 1 });
  return { ops, abort: false };
}

const AFTER: TxProgram = { ops: [{ k: 'alloc', size: 3000 }, { k: 'alloc', size: 40000 }, { k: 'root', v: 99 }], abort: false };

interface State {
  pool: Pool;
  model: Model;
  /** Steps (transactions and the shrink) that returned before the crash. */
  done: number;
}

let states = 0;

/**
 * Runs the whole sequence on `pool` from `start`: the program, the freeing transaction, the
 * shrink, the last transaction. Returns the model after each step (the shrink changes none)
 * and the pool's size right before the shrink.
 */
function runAll(pool: Pool, start: Model, program: TxProgram[], done?: (k: number) => void): { history: Model[]; before: number } {
  const history = runProgram(pool, start, program, done);
  let m = history[history.length - 1]!;
  m = runTx(pool, m, freeUpperHalf(m));
  history.push(m);
  done?.(history.length - 1);
  const before = pool.size;
  pool.shrink();
  history.push(m);
  done?.(history.length - 1);
  m = runTx(pool, m, AFTER);
  history.push(m);
  done?.(history.length - 1);
  return { history, before };
}

interface Medium {
  name: string;
  /** A fresh pool (with the root and PREFIX) and the region that holds it. */
  make(): { region: SimulatedRegion; pool: Pool; model: Model };
  reopen(region: SimulatedRegion): Pool;
}

function withPrefix(pool: Pool): Model {
  let m = initRoot(pool);
  for (const p of PREFIX) m = runTx(pool, m, p);
  return m;
}

function nvm(granularity: 'cache-line' | 'page'): Medium {
  return {
    name: granularity,
    make() {
      const region = new SimulatedRegion(SIZE, { granularity });
      const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
      return { region, pool, model: withPrefix(pool) };
    },
    reopen: (region) => Pool.open(region, { maxSize: MAX }),
  };
}

function fileModel(shared: boolean): Medium {
  return {
    name: `file${shared ? ' (shared view)' : ''}`,
    make() {
      const disk = new SimulatedDisk({ pool: MAX, wal: WAL });
      const pool = Pool.create(new SimulatedFileTarget(disk, { shared }), { size: SIZE, maxSize: MAX, checkpointBytes: 64 * 1024 });
      return { region: disk.region, pool, model: withPrefix(pool) };
    },
    reopen(region) {
      // A read-only open first (it replays the log in memory, and refuses a record past the
      // end of the file): it must see what the writable open then recovers.
      const ro = Pool.open(SimulatedFileTarget.fromRegion(region, { shared, readOnly: true }), { readOnly: true });
      const seen = [...ro.allocations()].map((a) => a.offset);
      ro.close();
      const pool = Pool.open(SimulatedFileTarget.fromRegion(region, { shared }), { checkpointBytes: 64 * 1024 });
      assert.deepEqual([...pool.allocations()].map((a) => a.offset), seen, 'the read-only open saw the same blocks');
      return pool;
    },
  };
}

function scenario(medium: Medium, program: TxProgram[]) {
  const ref = medium.make();
  const { history, before } = runAll(ref.pool, ref.model, program);
  const shrunk = ref.pool.size;
  let fills = 0;
  return {
    shrunk,
    before,
    setup(): { region: SimulatedRegion; state: State } {
      const { region, pool, model } = medium.make();
      return { region, state: { pool, model, done: 0 } };
    },
    run(_region: SimulatedRegion, state: State): void {
      runAll(state.pool, state.model, program, (k) => {
        state.done = k;
      });
    },
    recover: (region: SimulatedRegion): Pool => medium.reopen(region),
    check(pool: Pool, ctx: { state: State; crashed: boolean }): void {
      const report = pool.check();
      assert.ok(report.ok, `${medium.name}: check(): ${JSON.stringify(report.problems.slice(0, 3))}`);
      const k = ctx.state.done;
      const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((m) => m !== undefined) : [history[history.length - 1]!];
      const match = candidates.find((m) => matches(pool, m!));
      if (match === undefined) assertMatches(pool, candidates[0]!);
      // Never larger than before the shrink unless the last transaction grew it again.
      if (k < history.length - 2) assert.ok(pool.size <= Math.max(before, SIZE), `size ${pool.size} > ${before}`);
      // A shrink of the recovered pool finishes what a crash interrupted.
      const r = pool.shrink();
      assert.equal(r.fileAfter, r.sizeAfter, 'the region ends where the pool does');
      assert.ok(pool.check().ok, 'check after the finishing shrink');
      assertMatches(pool, match!);
      if (fills++ % (SOAK ? 1 : 9) === 0) fillAndEmpty(pool, match!);
      states++;
    },
    recoveryCrashDepth: 2,
  };
}

for (const medium of [nvm('cache-line'), nvm('page'), fileModel(false), fileModel(true)]) {
  test(`shrink, crashed at every point (${medium.name} model): the pool is whole, never larger, and a shrink finishes`, () => {
    const before = states;
    let shrank = 0;
    fc.assert(
      fc.property(programArb(4, 4), (program) => {
        const s = scenario(medium, program);
        if (s.shrunk < s.before) shrank++;
        forEveryCrashPoint({ ...s, seeds: SOAK ? 8 : 2, on: 'any' });
      }),
      { numRuns: SOAK ? 40 : medium.name === 'cache-line' ? 6 : 3, seed: 0x5117 + medium.name.length, endOnFailure: true },
    );
    assert.ok(shrank > 0, 'some programs left a tail to give back');
    console.log(`shrink crash states (${medium.name}): ${states - before}`);
  });
}

test('shrink that frees the undo log\'s overflow segment at the tail (step 0), crashed at every point, every model', () => {
  // Extents that grow the pool, then a transaction that snapshots a 20 KB block: the log
  // outgrows its area, and its new segment comes from the free chunks at the end.
  const program: TxProgram[] = [
    { ops: [{ k: 'alloc', size: 20000 }, { k: 'alloc', size: 20000 }, { k: 'alloc', size: 20000 }], abort: false },
    { ops: [{ k: 'fill', i: 6, byte: 7 }, { k: 'root', v: 3 }], abort: false },
  ];
  for (const medium of [nvm('cache-line'), nvm('page'), fileModel(false), fileModel(true)]) {
    const ref = medium.make();
    const history = runProgram(ref.pool, ref.model, program);
    assert.ok(ref.pool.stats().logOverflow > 0, `${medium.name}: the log has an overflow segment`);
    runTx(ref.pool, history[history.length - 1]!, freeUpperHalf(history[history.length - 1]!));
    ref.pool.shrink();
    assert.equal(ref.pool.stats().logOverflow, 0, `${medium.name}: shrink freed the log's segment`);
    const before = states;
    forEveryCrashPoint({ ...scenario(medium, program), seeds: SOAK ? 8 : 3, on: 'any' });
    console.log(`shrink crash states with a log segment freed (${medium.name}): ${states - before}`);
  }
});

test('shrink of a heap with nothing allocated (chunk 0 split off), crashed at every point with every single torn word', () => {
  // No root: the whole heap is free, so the first transaction splits chunk 0's span.
  const make = (): { region: SimulatedRegion; pool: Pool; blocks: number[] } => {
    const region = new SimulatedRegion(SIZE);
    const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
    const blocks: number[] = [];
    for (let i = 0; i < 40; i++) blocks.push(pool.transaction((tx) => tx.alloc(i % 3 === 0 ? 20000 : 500)));
    pool.transaction((tx) => {
      for (const b of blocks) tx.free(b);
    });
    return { region, pool, blocks };
  };
  const grown = make().pool.size;
  const scenario = {
    setup() {
      const { region, pool } = make();
      return { region, state: { pool } };
    },
    run(_r: SimulatedRegion, state: { pool: Pool }) {
      state.pool.shrink();
    },
    recover: (region: SimulatedRegion) => Pool.open(region, { maxSize: MAX }),
    check(pool: Pool) {
      assert.ok(pool.check().ok, JSON.stringify(pool.check().problems.slice(0, 3)));
      assert.equal([...pool.allocations()].length, 0);
      assert.ok(pool.size === grown || pool.size === pool.heapOffset + CHUNK_SIZE, `size ${pool.size}`);
      pool.shrink();
      assert.equal(pool.size, pool.heapOffset + CHUNK_SIZE);
      assert.equal(pool.region.length, pool.size);
      const b = pool.transaction((tx) => tx.alloc(30000));
      assert.ok(b > 0 && pool.check().ok);
      states++;
    },
    recoveryCrashDepth: 2,
  };
  const n = forEveryCrashPoint({ ...scenario, seeds: SOAK ? 16 : 6, on: 'any' });
  assert.ok(n > 20, `${n} crash states`);
  const tears = forEverySingleTear(scenario);
  assert.ok(tears > 0, `${tears} single-tear images`);
});

test('shrink crash states total', () => {
  console.log(`shrink crash states checked: ${states}`);
  assert.ok(states > 500);
});
