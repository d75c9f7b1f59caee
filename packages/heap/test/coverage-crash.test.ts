// Crash tests of transactions that touch more pages than the coverage set's small table holds
// (coverage.ts: the pages after the eighth go to its big table), crashed at every flush and
// drain, torn 8-byte words, recovery crashed too: the recovered pool holds exactly the state
// before or after the transaction. A spy proves the big table was used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEveryCrashPoint, SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import type { Transaction } from '../src/index.js';

const LAYOUT = 'coverage-crash';
const SIZE = 1 << 20;
const BLOCKS = 40;

/** The big table's page count of the running transaction's coverage set (private: a spy). */
function bigPages(pool: Pool): number {
  return (pool as unknown as { tx: { coverage: { bigPageCount: number } } }).tx.coverage.bigPageCount;
}

/** 40 blocks of 4 KiB (one page each, at least), their first 64 bytes filled with `fill`. */
function setupPool(region: SimulatedRegion): { pool: Pool; blocks: number[] } {
  const pool = Pool.create(region, { layout: LAYOUT, size: SIZE });
  const blocks = pool.transaction((tx) => Array.from({ length: BLOCKS }, () => tx.alloc(4096, { zero: true })));
  pool.transaction((tx) => {
    for (const b of blocks) {
      tx.addRange(b, 64);
      pool.bytes.fill(1, b, b + 64);
    }
  });
  return { pool, blocks };
}

let reached = 0;

/** Writes 2 into bytes [8, 56) of every block: half through addRanges, half through logRanges and a hook. */
function change(pool: Pool, blocks: number[], tx: Transaction): void {
  const kept: number[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    if (i % 2 === 0) {
      tx.addRanges([b + 8, 24, b + 32, 24]);
      pool.bytes.fill(2, b + 8, b + 56);
    } else if (tx.logRanges([b + 8, 48])) {
      pool.bytes.fill(2, b + 8, b + 56);
    } else {
      kept.push(b);
    }
  }
  if (kept.length > 0) {
    tx.afterDrain({
      afterDrain(): void {
        for (const b of kept) pool.bytes.fill(2, b + 8, b + 56);
      },
    });
  }
  if (bigPages(pool) > 0) reached++;
}

/** 'old' when every block holds 1s in [0, 64), 'new' when [8, 56) holds 2s and the rest 1s; else a description. */
function stateOf(pool: Pool, blocks: number[]): string {
  let old = true;
  let fresh = true;
  for (const b of blocks) {
    for (let k = 0; k < 64; k++) {
      const v = pool.bytes[b + k]!;
      if (v !== 1) old = false;
      if (v !== (k >= 8 && k < 56 ? 2 : 1)) fresh = false;
    }
  }
  return old ? 'old' : fresh ? 'new' : 'mixed';
}

test('every crash point of a transaction over 40 pages (the coverage big table), both drain styles', () => {
  let blocksOf: number[] = [];
  const states = forEveryCrashPoint({
    setup() {
      const region = new SimulatedRegion(SIZE);
      const { pool, blocks } = setupPool(region);
      blocksOf = blocks;
      return { region, state: { pool, blocks, committed: false } };
    },
    run(_region, state) {
      state.pool.transaction((tx) => change(state.pool, state.blocks, tx));
      state.committed = true;
    },
    recover(region) {
      const pool = Pool.open(region, { layout: LAYOUT });
      return { pool, verdict: stateOf(pool, blocksOf), ok: pool.check().ok };
    },
    check(result, ctx) {
      assert.ok(result.ok, 'check() of the recovered pool');
      if (!ctx.crashed || ctx.state.committed) assert.equal(result.verdict, 'new');
      else assert.ok(result.verdict === 'old' || result.verdict === 'new', `all old or all new, not ${result.verdict}`);
    },
    recoveryCrashDepth: 2,
    seeds: 3,
    on: 'any',
  });
  assert.ok(states > 0);
  assert.ok(reached > 0, 'the transaction used the big table');
});
