/**
 * The crash scenario of a program of big transactions (big-program.ts) on a pool that starts
 * small: a reference run gives the committed model after every transaction; a crashed run's
 * recovered pool must pass the deep check() and hold exactly the state before or after the
 * transaction the crash struck, and keep working (`afterRecovery`).
 */
import assert from 'node:assert/strict';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../../src/index.js';
import { assertBigMatches, assertCheckClean, BigModel, bigMatches, runBigTx } from './big-program.js';
import type { BigTx } from './big-program.js';

export interface BigCrashOptions {
  layout: string;
  size: number;
  maxSize: number;
  logCapacity?: number;
  /** Transactions run (uncrashed) before the program, e.g. to make blocks it writes to. */
  prefix?: BigTx[];
  /** More work on a recovered pool whose state is `model` (a copy the check may change). */
  afterRecovery: (pool: Pool, model: BigModel) => void;
}

interface State {
  pool: Pool;
  model: BigModel;
  /** Transactions that returned before the crash. */
  done: number;
}

export function bigCrashScenario(program: BigTx[], o: BigCrashOptions) {
  const create = { layout: o.layout, size: o.size, maxSize: o.maxSize, ...(o.logCapacity !== undefined ? { logCapacity: o.logCapacity } : {}) };
  const prefix = o.prefix ?? [];
  // Reference run: the committed model after every transaction.
  const ref = Pool.create(new SimulatedRegion(o.size), create);
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
    grew: { pool: ref.size > o.size, log: ref.stats().logOverflow > 0 },
    scenario: {
      setup(): { region: SimulatedRegion; state: State } {
        const region = new SimulatedRegion(o.size);
        const pool = Pool.create(region, create);
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
        return Pool.open(region, { layout: o.layout, maxSize: o.maxSize });
      },
      check(pool: Pool, ctx: { state: State; crashed: boolean }): void {
        assertCheckClean(pool, 'recovered pool');
        const k = ctx.state.done;
        const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((x) => x !== undefined) : [history[program.length]!];
        const match = candidates.find((c) => bigMatches(pool, c!, extra));
        if (match === undefined) assertBigMatches(pool, candidates[0]!, extra); // throws with the difference
        o.afterRecovery(pool, match!.clone());
      },
      recoveryCrashDepth: 2,
    },
  };
}
