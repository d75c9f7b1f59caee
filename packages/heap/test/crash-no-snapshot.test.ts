/**
 * Crash tests of `tx.addRangeNoSnapshot`: appends into unused capacity past a length word
 * that is snapshotted. At every flush/drain of the run, with torn words and crashed
 * recovery, the recovered pool must hold either the old length with the old entries, or the
 * new length with every new entry durable (the no-snapshot bytes are flushed before the
 * commit point). A rolled-back append leaves the length as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEveryCrashPoint, SimulatedRegion } from '@ferrite/core/testing';
import { FerriteError } from '@ferrite/core';
import { Pool } from '../src/index.js';

const LAYOUT = 'no-snapshot';
const SIZE = 65536;
/** Words of the append area after the length word. */
const CAPACITY = 40;

function wordOf(i: number): number {
  return 0x1000 + i * 7;
}

/** Appends `n` words in one transaction: the length is snapshotted, the new words are not. */
function append(pool: Pool, root: number, n: number, abort: boolean): void {
  try {
    pool.transaction((tx) => {
      const len = pool.readU64(root);
      tx.addRange(root, 8);
      tx.addRangeNoSnapshot(root + 8 + len * 8, n * 8);
      for (let i = 0; i < n; i++) pool.writeU64(root + 8 + (len + i) * 8, wordOf(len + i));
      pool.writeU64(root, len + n);
      if (abort) tx.abort('test');
    });
  } catch (err) {
    if (!(abort && err instanceof FerriteError)) throw err;
  }
}

/** Length and words of the committed log; throws when an entry below the length is wrong. */
function readLog(pool: Pool, root: number): number {
  const len = pool.readU64(root);
  assert.ok(len <= CAPACITY, `length ${len} within capacity`);
  for (let i = 0; i < len; i++) assert.equal(pool.readU64(root + 8 + i * 8), wordOf(i), `word ${i} of ${len}`);
  return len;
}

test('addRangeNoSnapshot: appends survive every crash point or vanish whole', () => {
  let states = 0;
  // Committed 3, then an aborted append of 4, then committed appends of 5 and 2 (one spans lines).
  const steps: [number, boolean][] = [[4, true], [5, false], [2, false]];
  const lengths = [3];
  for (const [n, abort] of steps) lengths.push(abort ? lengths[lengths.length - 1]! : lengths[lengths.length - 1]! + n);
  states += forEveryCrashPoint({
    setup() {
      const region = new SimulatedRegion(SIZE);
      const pool = Pool.create(region, { layout: LAYOUT, size: SIZE });
      const root = pool.root(8 + CAPACITY * 8);
      append(pool, root, 3, false);
      return { region, state: { pool, root, done: 0 } };
    },
    run(_region, state) {
      for (const [n, abort] of steps) {
        append(state.pool, state.root, n, abort);
        state.done++;
      }
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT });
    },
    check(pool, ctx) {
      const report = pool.check();
      assert.ok(report.ok, `check(): ${JSON.stringify(report.problems.slice(0, 3))}`);
      const len = readLog(pool, pool.root(8 + CAPACITY * 8));
      const k = ctx.state.done;
      const allowed = ctx.crashed ? [lengths[k]!, lengths[k + 1]!] : [lengths[lengths.length - 1]!];
      assert.ok(allowed.includes(len), `length ${len} is one of ${JSON.stringify(allowed)} after ${k} steps`);
    },
    recoveryCrashDepth: 1,
    seeds: 6,
  });
  assert.ok(states > 0);
});

test('addRangeNoSnapshot: no log entry, flushed at commit, not restored by a rollback', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { layout: LAYOUT, size: SIZE });
  const root = pool.root(8 + CAPACITY * 8);
  append(pool, root, 2, false);
  const before = pool.stats();
  append(pool, root, 2, false);
  const after = pool.stats();
  // The 8-byte length's snapshot, then the data with the commit record (sealed): 2 drains as
  // for addRange alone.
  assert.equal(after.lastTx.drains, 2);
  assert.equal(after.transactions - before.transactions, 1);
  assert.equal(readLog(pool, root), 4);
  // Durable: a crash right after the commit keeps all of it.
  const reopened = Pool.open(region.crashRegion({ seed: 1, mode: 'media' }), { layout: LAYOUT });
  assert.equal(readLog(reopened, reopened.root(8 + CAPACITY * 8)), 4);
  // A rollback restores the length, not the appended bytes (documented: they are meaningless).
  append(pool, root, 3, true);
  assert.equal(readLog(pool, root), 4);
  assert.equal(pool.readU64(root + 8 + 4 * 8), wordOf(4));
  assert.throws(() => pool.transaction((tx) => tx.addRangeNoSnapshot(0, 8)), (err: unknown) => err instanceof FerriteError && err.code === 'ERANGE');
});
