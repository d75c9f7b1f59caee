/**
 * Transactions of the sizes users reach (issue 16): up to thousands of operations each, block
 * sizes from 1 byte to many chunks, snapshots from 8 bytes to 20 KB, frees and aborts mixed in,
 * on pools that start at two chunks and grow many times inside transactions, with the deep
 * check() (DRAM index against the pool) after every transaction and after every reopen.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool, debugChecks, setDebugChecks } from '../src/index.js';
import { CHUNK_SIZE, ENTRY_HEADER, SEGMENT_RESERVE } from '../src/layout.js';
import { assertBigMatches, assertCheckClean, BigModel, bigProgramArb, runBigTx } from './helpers/big-program.js';
import type { BigTx } from './helpers/big-program.js';

const KB = 1024;
const MB = 1024 * KB;
const SOAK = process.env.FERRITE_SOAK === '1';
// A failing big program shrinks for many minutes: only on request (replay the printed seed and path with it).
const SHRINK = process.env.FERRITE_SHRINK === '1';

/** Runs `program` on a fresh small pool; checks after every transaction and after reopening. */
function runOnGrowingPool(program: BigTx[], size: number, maxSize: number, logCapacity?: number): void {
  const region = new SimulatedRegion(size);
  const pool = Pool.create(region, { layout: 'big', size, maxSize, ...(logCapacity !== undefined ? { logCapacity } : {}) });
  const root = pool.root(64);
  const extra = new Set([root]);
  const model = new BigModel();
  for (let t = 0; t < program.length; t++) {
    const { touched } = runBigTx(pool, model, program[t]!);
    assertCheckClean(pool, `after transaction ${t} (${program[t]!.ops.length} ops, pool ${pool.size} bytes)`);
    assertBigMatches(pool, model, extra, touched);
  }
  assertBigMatches(pool, model, extra);
  // Everything committed is durable: the media image alone must reopen to the same state.
  const again = Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: "media" })), {
    layout: 'big',
    maxSize,
  });
  assertCheckClean(again, 'after reopen');
  assertBigMatches(again, model, extra);
  // And the reopened pool keeps working: one more big transaction of allocations and frees.
  const { touched } = runBigTx(again, model, {
    abort: false,
    ops: [...model.live.slice(0, 50).map((_, i) => ({ k: 'free' as const, i })), ...Array.from({ length: 200 }, (_, i) => ({ k: 'alloc' as const, size: 1 + ((i * 7919) % 40_000), byte: i & 255 }))],
  });
  assertCheckClean(again, 'after a transaction on the reopened pool');
  assertBigMatches(again, model, extra, touched);
}

test('issue 16: the log growing at an allocator snapshot does not corrupt the free index', () => {
  // The exact shape that broke, built on purpose: the undo log is filled until not one more
  // entry fits, then an allocation needs a new run, so the very next snapshot — the header of
  // the chunk being split off a free range — must grow the log. Before the fix, the growth took
  // the chunks right after that one from the same range, and the split then queued a FREE header
  // over the new log segment: check() found the log chunk free on the pool, and later runs were
  // handed out twice.
  for (const tail of [0, 8]) {
    const size = 4 * MB;
    const region = new SimulatedRegion(size);
    const pool = Pool.create(region, { layout: 'big', size, maxSize: 64 * MB });
    const root = pool.root(64);
    const big = pool.transaction((tx) => tx.alloc(200 * KB));
    const fresh = pool.transaction((tx) => {
      const log = pool.log;
      const seg = log.segments[log.seg]!;
      const limit = seg.end - SEGMENT_RESERVE;
      let at = big;
      // Whole pages first (one entry each), then one entry that leaves `tail` + 16 bytes: less
      // than the 32 an 8-byte snapshot needs.
      while (limit - log.pos > 4096 + 24 + 64) {
        tx.addRange(at, 4096);
        at += 4096;
      }
      const last = limit - log.pos - ENTRY_HEADER - 16 - tail;
      tx.addRange(at, last);
      assert.equal(log.seg, 0, 'still in segment 0');
      assert.ok(limit - log.pos < ENTRY_HEADER + 8, 'no further snapshot fits the segment');
      return tx.alloc(3000); // a class nothing used yet: a new run, split off the free range
    });
    assertCheckClean(pool, `after the allocation that grew the log (tail ${tail})`);
    // Allocate and free enough that the chunks after the new run are handed out again.
    const more = pool.transaction((tx) => Array.from({ length: 200 }, (_, i) => tx.alloc(1000 + i * 50)));
    assertCheckClean(pool, 'after 200 more allocations');
    assert.deepEqual(
      [...pool.allocations()].map((a) => a.offset).filter((o) => o !== root && o !== big && o !== fresh).length,
      more.length,
      'every block is allocated once',
    );
    assert.equal(new Set(more).size, more.length);
    assert.ok(!more.includes(fresh) && !more.includes(big));
    const again = Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' })), { layout: 'big' });
    assertCheckClean(again, 'after reopen');
  }
});

test('big transactions on pools that grow many times: check() clean after every transaction and reopen', () => {
  fc.assert(
    fc.property(bigProgramArb(4, 3000), fc.constantFrom(32 * KB, 64 * KB, 1 * MB), (program, size) => {
      runOnGrowingPool(program, size, 96 * MB);
    }),
    { numRuns: SOAK ? 150 : 10, seed: 1616, endOnFailure: !SHRINK },
  );
});

test('transactions of 5,000 operations with a large log area', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ ops: fc.array(fc.constant(0), { minLength: 5000, maxLength: 5000 }), abort: fc.boolean() }), { minLength: 1, maxLength: 2 }), fc.integer(), (shape, seed) => {
      // Deterministic big programs from a seed (fast-check's own arrays of 5,000 records are slow to generate).
      let x = seed >>> 0 || 1;
      const next = (): number => {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        return x;
      };
      const program: BigTx[] = shape.map((t) => ({
        abort: t.abort,
        ops: t.ops.map(() => {
          const r = next() % 10;
          if (r < 4) return { k: 'alloc' as const, size: 1 + (next() % (r === 0 ? 70_000 : 4096)), byte: next() & 255 };
          if (r < 6) return { k: 'free' as const, i: next() };
          return { k: 'write' as const, i: next(), pos: (next() % 1000) / 1000, len: 1 + (next() % (r === 9 ? 16_000 : 64)), byte: next() & 255 };
        }),
      }));
      runOnGrowingPool(program, 4 * MB, 256 * MB, 200 * KB);
    }),
    { numRuns: SOAK ? 40 : 3, seed: 5000 },
  );
});

test('a pool that starts at its minimum size grows to 100x inside one transaction', () => {
  const ops: BigTx['ops'] = [];
  for (let i = 0; i < 400; i++) ops.push({ k: 'alloc', size: 8000 + (i % 7) * 1000, byte: i & 255 });
  for (let i = 0; i < 300; i++) ops.push({ k: 'free', i: i * 17 });
  for (let i = 0; i < 400; i++) ops.push({ k: 'alloc', size: 1 + ((i * 131) % 4096), byte: 255 - (i & 255) });
  const size = 2 * CHUNK_SIZE;
  runOnGrowingPool([{ abort: false, ops }, { abort: true, ops }, { abort: false, ops }], size, 200 * size);
});

test('debug checks: a transaction that grows the pool fails loudly when the DRAM index disagrees with the pool', () => {
  assert.equal(debugChecks(), true, 'the test runner turns debug checks on (FERRITE_DEBUG_CHECKS=1)');
  const size = 2 * CHUNK_SIZE + 16 * KB;
  const pool = Pool.create(new SimulatedRegion(size), { layout: 'big', size, maxSize: 64 * MB });
  pool.root(64);
  // A healthy growth passes the check.
  pool.transaction((tx) => tx.alloc(100 * KB));
  assert.ok(pool.size > size);
  // A DRAM index that lost a free chunk (as issue 16's did) is caught at the end of the
  // transaction that grows the pool.
  pool.alloc.freeLens[0]! -= 1;
  assert.throws(() => pool.transaction((tx) => tx.alloc(4 * MB)), /invariant violated: the pool is consistent after a transaction that grew it/);
  // A rollback rebuilds the index from the pool: the check after it passes, and the caller
  // gets the transaction's own error.
  const other = Pool.create(new SimulatedRegion(size), { layout: 'big', size, maxSize: 64 * MB });
  other.root(64);
  other.alloc.freeLens[0]! -= 1;
  assert.throws(() => other.transaction((tx) => {
    tx.alloc(4 * MB);
    tx.abort('no');
  }), { name: 'TransactionAbortedError' });
  assert.ok(other.size > size);
  // Without growth nothing is checked (the check walks every chunk header).
  const quiet = Pool.create(new SimulatedRegion(4 * MB), { layout: 'big', size: 4 * MB });
  quiet.root(64);
  quiet.alloc.freeLens[0]! -= 1;
  quiet.transaction((tx) => tx.alloc(100));
  setDebugChecks(false);
  try {
    other.alloc.rebuild(other.size);
    other.alloc.freeLens[0]! -= 1;
    other.transaction((tx) => tx.alloc(8 * MB)); // unchecked when off
  } finally {
    setDebugChecks(true);
  }
});
