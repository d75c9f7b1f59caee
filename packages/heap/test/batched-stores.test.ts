/**
 * The batching API (issue 21): `tx.logRanges` (snapshots without a drain), `tx.afterDrain`
 * (stores kept until the next drain), `tx.drain()`; and `alloc(size, { noFlush })` with
 * `addRangeNoSnapshot` counting its ranges as covered.
 *
 * Unit tests pin the contract (what logRanges answers, when hooks run, that a rollback forgets
 * them, the fences a transaction of many kept stores takes); crash tests run transactions of
 * many kept stores, drains, noFlush blocks, aborts and log growth at every flush and drain point
 * (torn words, recovery crashed to depth 2), every single torn word, and random programs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FerriteError } from '@ferrite/core';
import { forEveryCrashPoint, forEverySingleTear, SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import type { Transaction } from '../src/index.js';
import { assertMatches, batchedProgramArb, initRoot, matches, runProgram, runTx } from './helpers/program.js';
import type { Model, TxProgram } from './helpers/program.js';

const LAYOUT = 'batched';
const SIZE = 1 << 18;

function fresh(size = SIZE, maxSize = size): { region: SimulatedRegion; pool: Pool } {
  const region = new SimulatedRegion(size);
  return { region, pool: Pool.create(region, { layout: LAYOUT, size, maxSize }) };
}

/** A block of `n` words allocated and committed (so its words are live in later transactions). */
function liveBlock(pool: Pool, n: number): number {
  return pool.transaction((tx) => {
    const b = tx.alloc(8 * n, { zero: true });
    return b;
  });
}

test('logRanges: false while the snapshot is not durable, true over durable, fresh and no-snapshot bytes', () => {
  const { pool } = fresh();
  const b = liveBlock(pool, 64);
  pool.transaction((tx) => {
    assert.equal(tx.logRanges([b, 8]), false, 'a new snapshot: a drain is owed');
    assert.equal(tx.logRanges([b, 8]), false, 'the same bytes again: still owed');
    const f = tx.alloc(64);
    assert.equal(tx.logRanges([f, 8]), true, 'a fresh block needs no snapshot');
    tx.addRangeNoSnapshot(b + 256, 64);
    assert.equal(tx.logRanges([b + 256, 16]), true, 'no-snapshot bytes count as covered');
    assert.equal(tx.logRanges([b + 64, 8, f, 8]), false, 'one undurable range is enough');
    tx.drain();
    assert.equal(tx.logRanges([b, 8, b + 64, 8]), true, 'drained snapshots are durable');
    assert.equal(tx.logRanges([]), true);
  });
  assert.throws(() => pool.transaction((tx) => tx.logRanges([b])), (e: unknown) => e instanceof FerriteError && e.code === 'EINVAL');
  assert.throws(() => pool.transaction((tx) => tx.logRanges([0, 8])), (e: unknown) => e instanceof FerriteError && e.code === 'ERANGE');
});

test('afterDrain hooks run right after the next drain (drain, addRange, commit), once; a rollback forgets them', () => {
  const { pool } = fresh();
  const b = liveBlock(pool, 16);
  const calls: string[] = [];
  const hook = (name: string) => ({ afterDrain: () => calls.push(name) });
  pool.transaction((tx) => {
    assert.equal(tx.logRanges([b, 8]), false);
    tx.afterDrain(hook('a'));
    assert.deepEqual(calls, []);
    tx.drain();
    assert.deepEqual(calls, ['a']);
    tx.drain(); // nothing owed: nothing runs again
    assert.equal(tx.logRanges([b + 8, 8]), false);
    tx.afterDrain(hook('b'));
    tx.addRange(b + 16, 8); // an eager snapshot drains, and runs the hook
    assert.deepEqual(calls, ['a', 'b']);
    assert.equal(tx.logRanges([b + 24, 8]), false);
    tx.afterDrain(hook('c'));
  });
  assert.deepEqual(calls, ['a', 'b', 'c'], 'the commit drains first');
  assert.throws(() =>
    pool.transaction((tx) => {
      assert.equal(tx.logRanges([b + 32, 8]), false);
      tx.afterDrain(hook('d'));
      tx.abort('no');
    }),
  );
  assert.deepEqual(calls, ['a', 'b', 'c'], 'a rolled-back transaction never runs its hooks');
  // Registering without a drain owed is a caller bug.
  assert.throws(() => pool.transaction((tx) => tx.afterDrain(hook('e'))));
});

test('the kept stores of a transaction of 2,000 writes share its fences: a drain per log growth, not one per write', () => {
  const { pool } = fresh(1 << 20);
  const b = liveBlock(pool, 4096);
  const segmentsBefore = (pool as unknown as { log: { segments: unknown[] } }).log.segments.length;
  pool.transaction((tx: Transaction) => {
    const kept: [number, number][] = [];
    let armed = false;
    const hook = { afterDrain: () => { armed = false; for (const [o, v] of kept.splice(0)) pool.writeU64(o, v); } };
    for (let i = 0; i < 2000; i++) {
      const off = b + ((i * 37) % 4096) * 8;
      if (tx.logRanges([off, 8])) pool.writeU64(off, i + 1);
      else {
        kept.push([off, i + 1]);
        if (!armed) {
          armed = true;
          tx.afterDrain(hook);
        }
      }
    }
  });
  const last = pool.stats().lastTx;
  // 2,000 entries of 32 bytes outgrow the 15.8 KiB log area: each new segment drains once
  // (it links the segment), the commit once for the last snapshots, then the data and (a
  // classic commit) the generation. Before issue 21 every write drained: 2,000 and more.
  const grown = (pool as unknown as { log: { segments: unknown[] } }).log.segments.length - segmentsBefore;
  assert.ok(grown >= 1 && grown <= 4, `${grown} segments`);
  assert.ok(last.drains <= 3 + grown, `${last.drains} drains for ${grown} log segments`);
  for (let i = 0; i < 2000; i++) assert.equal(pool.readU64(b + ((i * 37) % 4096) * 8), lastWrite(i));
  function lastWrite(i: number): number {
    const slot = (i * 37) % 4096;
    let v = 0;
    for (let j = 0; j < 2000; j++) if ((j * 37) % 4096 === slot) v = j + 1;
    return v;
  }
});

test('alloc noFlush: the block is not flushed at commit; declared parts are; zero with noFlush is refused', () => {
  const { region, pool } = fresh();
  const before = pool.stats().flushes;
  const off = pool.transaction((tx) => {
    const o = tx.alloc(4096, { noFlush: true });
    tx.addRangeNoSnapshot(o + 64, 64);
    pool.writeU64(o + 64, 0xfeed);
    return o;
  });
  const flushed = pool.stats().flushes - before;
  assert.ok(flushed < 16, `${flushed} lines flushed for a 4 KiB noFlush block with one declared line`);
  const again = Pool.open(region.crashRegion({ seed: 1, mode: 'media' }), { layout: LAYOUT });
  assert.equal(again.readU64(off + 64), 0xfeed, 'the declared part is durable');
  assert.ok([...again.allocations()].some((a) => a.offset === off), 'the allocation is durable');
  assert.throws(
    () => pool.transaction((tx) => tx.alloc(64, { zero: true, noFlush: true })),
    (e: unknown) => e instanceof FerriteError && e.code === 'EINVAL',
  );
});

test('addRangeNoSnapshot counts as covered: a later addRange of the same bytes logs and drains nothing', () => {
  const { pool } = fresh();
  const b = liveBlock(pool, 16);
  pool.transaction((tx) => {
    tx.addRangeNoSnapshot(b, 64);
    const d = pool.stats().drains;
    tx.addRange(b + 8, 16);
    assert.equal(pool.stats().drains, d, 'no new snapshot, so no drain');
    pool.writeU64(b + 8, 5);
  });
  assert.equal(pool.readU64(b + 8), 5);
});

// ---- crash tests ----

let totalStates = 0;

/** Runs `program` after `prefix` and crashes it at every point; the state must be history[k] or history[k + 1]. */
function crashEveryPoint(program: TxProgram[], opts: { prefix?: TxProgram[]; size?: number; maxSize?: number; seeds?: number }): void {
  const size = opts.size ?? SIZE;
  const maxSize = opts.maxSize ?? size;
  const start = (): { region: SimulatedRegion; pool: Pool; model: Model } => {
    const region = new SimulatedRegion(size);
    const pool = Pool.create(region, { layout: LAYOUT, size, maxSize });
    let model = initRoot(pool);
    for (const p of opts.prefix ?? []) model = runTx(pool, model, p);
    return { region, pool, model };
  };
  const ref = start();
  const history = runProgram(ref.pool, ref.model, program);
  totalStates += forEveryCrashPoint({
    setup() {
      const s = start();
      return { region: s.region, state: { pool: s.pool, model: s.model, done: 0 } };
    },
    run(_region, state: { pool: Pool; model: Model; done: number }) {
      runProgram(state.pool, state.model, program, (k) => {
        state.done = k;
      });
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT, maxSize });
    },
    check(pool, ctx) {
      const report = pool.check();
      assert.ok(report.ok, `check(): ${JSON.stringify(report.problems.slice(0, 3))}`);
      const k = ctx.state.done;
      const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((m) => m !== undefined) : [history[program.length]!];
      if (candidates.find((m) => matches(pool, m!)) === undefined) assertMatches(pool, candidates[0]!);
    },
    recoveryCrashDepth: 2,
    seeds: opts.seeds ?? 4,
    on: 'any',
  });
}

const ALLOC = (size: number): TxProgram => ({ ops: [{ k: 'alloc', size }], abort: false });
/** Many kept stores to several blocks, some to the same word twice, with an explicit drain and an eager write between. */
const BATCH: TxProgram = {
  ops: [
    ...Array.from({ length: 12 }, (_, j) => ({ k: 'logwrite' as const, i: j, pos: j * 3, v: 0x100 + j })),
    { k: 'write', i: 1, pos: 5, v: 0x55 },
    ...Array.from({ length: 8 }, (_, j) => ({ k: 'logwrite' as const, i: j + 2, pos: j * 3, v: 0x200 + j })),
    { k: 'drain' },
    ...Array.from({ length: 6 }, (_, j) => ({ k: 'logwrite' as const, i: j, pos: 1, v: 0x300 + j })),
  ],
  abort: false,
};

test('crash: a transaction of kept stores, an eager write and a drain among them, at every point', () => {
  crashEveryPoint([BATCH], { prefix: [ALLOC(64), ALLOC(200), ALLOC(40), ALLOC(4096)] });
});

test('crash: kept stores, then the same in a rolled-back transaction, then kept stores into noFlush blocks', () => {
  const nf: TxProgram = {
    ops: [
      { k: 'nfalloc', size: 4096, pos: 7, v: 0xa1 },
      { k: 'nfalloc', size: 200, pos: 3, v: 0xa2 },
      { k: 'logwrite', i: 0, pos: 2, v: 0xa3 },
      { k: 'logwrite', i: 4, pos: 9, v: 0xa4 },
    ],
    abort: false,
  };
  crashEveryPoint([BATCH, { ...BATCH, abort: true }, nf], { prefix: [ALLOC(64), ALLOC(200), ALLOC(40), ALLOC(4096)] });
});

test('crash: kept stores across a log growth (a transaction bigger than the log area)', () => {
  // 5000 logged words after the first 24: the log links new segments (each drains, making the
  // kept stores so far) in the middle of the transaction.
  const big: TxProgram = {
    ops: Array.from({ length: 400 }, (_, j) => ({ k: 'logwrite' as const, i: j % 4, pos: j, v: j + 1 })),
    abort: false,
  };
  crashEveryPoint([big], { prefix: [ALLOC(4096), ALLOC(4096), ALLOC(4096), ALLOC(4096)], size: 1 << 19, seeds: 2 });
});

test('crash: every single torn word of a batched transaction is caught', () => {
  const prefix = [ALLOC(64), ALLOC(200), ALLOC(40), ALLOC(4096)];
  const start = (): { region: SimulatedRegion; pool: Pool; model: Model } => {
    const region = new SimulatedRegion(SIZE);
    const pool = Pool.create(region, { layout: LAYOUT, size: SIZE });
    let model = initRoot(pool);
    for (const p of prefix) model = runTx(pool, model, p);
    return { region, pool, model };
  };
  const ref = start();
  const history = runProgram(ref.pool, ref.model, [BATCH]);
  totalStates += forEverySingleTear({
    setup() {
      const s = start();
      return { region: s.region, state: { pool: s.pool, model: s.model, done: 0 } };
    },
    run(_region, state: { pool: Pool; model: Model; done: number }) {
      runProgram(state.pool, state.model, [BATCH], (k) => {
        state.done = k;
      });
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT });
    },
    check(pool, ctx) {
      assert.ok(pool.check().ok);
      const k = ctx.state.done;
      const candidates = ctx.crashed ? [history[k]!, history[k + 1]!] : [history[1]!];
      if (candidates.find((m) => matches(pool, m)) === undefined) assertMatches(pool, candidates[0]!);
    },
  });
});

test('crash: random programs of batched writes (kept stores, drains, noFlush blocks, aborts, growth)', () => {
  const soak = process.env.FERRITE_SOAK === '1';
  fc.assert(
    fc.property(batchedProgramArb(), (program) => {
      crashEveryPoint(program, { prefix: [ALLOC(64), ALLOC(512)], size: 65536, maxSize: 4 * 65536, seeds: 2 });
    }),
    { numRuns: soak ? 60 : 6, seed: 0xba7c4, endOnFailure: true },
  );
});

test('batched crash states total', () => {
  console.log(`batched-stores crash states checked: ${totalStates}`);
  assert.ok(totalStates > 0);
});
