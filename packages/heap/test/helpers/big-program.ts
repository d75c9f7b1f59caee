/**
 * Programs of LARGE transactions for the heap: thousands of operations per transaction, blocks
 * from 16 bytes to many chunks, snapshots from 8 bytes to whole blocks, frees, aborts — run on a
 * pool that starts small and grows many times inside transactions, against a model that holds
 * every live block's exact contents.
 *
 * Why a second generator beside program.ts: its transactions hold at most a few operations, so
 * the undo log never filled up in the middle of an allocation and the pool never grew under a
 * transaction with pending allocator changes — the conditions of issue 16 (the allocator's free
 * index and the pool's chunk headers disagreeing after log growth re-entered the allocator).
 * Operations here cost O(1) each (the live list is kept incrementally), so a 5,000-operation
 * transaction stays cheap.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import type { Pool } from '../../src/index.js';

export type BigOp =
  /** Allocates `size` bytes and fills the block with `byte` (fresh: no addRange needed). */
  | { k: 'alloc'; size: number; byte: number }
  /** Frees live block `i % live`. */
  | { k: 'free'; i: number }
  /** Snapshots [pos, pos + len) of live block `i % live` (scaled to its size) and fills it with `byte`. */
  | { k: 'write'; i: number; pos: number; len: number; byte: number };

export interface BigTx {
  ops: BigOp[];
  abort: boolean;
}

/** Block sizes users reach: run classes, one-chunk extents, blocks of many chunks (up to ~300 KiB). */
export const bigSizeArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4096 }) },
  { weight: 2, arbitrary: fc.integer({ min: 4097, max: 16_320 }) },
  { weight: 1, arbitrary: fc.integer({ min: 16_321, max: 300_000 }) },
);

export function bigOpArb(): fc.Arbitrary<BigOp> {
  const byte = fc.integer({ min: 0, max: 255 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant('alloc' as const), size: bigSizeArb, byte }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('free' as const), i: fc.nat() }) },
    {
      weight: 4,
      arbitrary: fc.record({
        k: fc.constant('write' as const),
        i: fc.nat(),
        pos: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        len: fc.oneof(fc.constant(8), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 20_000 })),
        byte,
      }),
    },
  );
}

/**
 * Transactions of 1 to `maxOps` operations. fast-check shrinks lengths towards the minimum, so
 * the big sizes are reached by drawing the length first (from a wide, log-spread set).
 */
export function bigProgramArb(maxTx: number, maxOps: number): fc.Arbitrary<BigTx[]> {
  const len = fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 10, max: 500 }), fc.integer({ min: 500, max: maxOps }));
  const tx = len.chain((n) =>
    fc.record({ ops: fc.array(bigOpArb(), { minLength: n, maxLength: n }), abort: fc.boolean() }),
  );
  return fc.array(tx, { minLength: 1, maxLength: maxTx });
}

/** The committed state: every live block (offset → exact contents). */
export class BigModel {
  readonly blocks = new Map<number, Uint8Array>();
  /** Live offsets, for O(1) choice by index; `where` maps an offset to its index. */
  readonly live: number[] = [];
  private readonly where = new Map<number, number>();

  add(offset: number, contents: Uint8Array): void {
    assert.ok(!this.blocks.has(offset), `block ${offset} handed out twice`);
    this.blocks.set(offset, contents);
    this.where.set(offset, this.live.length);
    this.live.push(offset);
  }

  /** A deep copy (the contents too). */
  clone(): BigModel {
    const m = new BigModel();
    for (const off of this.live) m.add(off, this.blocks.get(off)!.slice());
    return m;
  }

  remove(offset: number): void {
    const i = this.where.get(offset)!;
    const last = this.live.pop()!;
    if (last !== offset) {
      this.live[i] = last;
      this.where.set(last, i);
    }
    this.where.delete(offset);
    this.blocks.delete(offset);
  }
}

/** One undo step of the model (to revert an aborted transaction). */
type ModelUndo = { k: 'added'; offset: number } | { k: 'removed'; offset: number; contents: Uint8Array } | { k: 'wrote'; offset: number; pos: number; old: Uint8Array };

export interface BigTxResult {
  /** committed, aborted (tx.abort), or full (ENOSPC: rolled back). */
  outcome: 'committed' | 'aborted' | 'full';
  /** Offsets whose contents this transaction changed or created (to verify cheaply). */
  touched: Set<number>;
}

/** Runs one transaction of the program; the model follows it (and is reverted when it does not commit). */
export function runBigTx(pool: Pool, model: BigModel, p: BigTx, afterOp?: () => void): BigTxResult {
  const undo: ModelUndo[] = [];
  const touched = new Set<number>();
  let outcome: BigTxResult['outcome'] = 'committed';
  try {
    pool.transaction((tx) => {
      for (const op of p.ops) {
        switch (op.k) {
          case 'alloc': {
            const off = tx.alloc(op.size);
            pool.bytes.fill(op.byte, off, off + op.size);
            model.add(off, new Uint8Array(op.size).fill(op.byte));
            undo.push({ k: 'added', offset: off });
            touched.add(off);
            break;
          }
          case 'free': {
            if (model.live.length === 0) break;
            const off = model.live[op.i % model.live.length]!;
            tx.free(off);
            undo.push({ k: 'removed', offset: off, contents: model.blocks.get(off)! });
            model.remove(off);
            touched.delete(off);
            break;
          }
          case 'write': {
            if (model.live.length === 0) break;
            const off = model.live[op.i % model.live.length]!;
            const b = model.blocks.get(off)!;
            const len = Math.min(op.len, b.length);
            const pos = Math.min(Math.floor(op.pos * b.length), b.length - len);
            tx.addRange(off + pos, len);
            undo.push({ k: 'wrote', offset: off, pos, old: b.slice(pos, pos + len) });
            pool.bytes.fill(op.byte, off + pos, off + pos + len);
            b.fill(op.byte, pos, pos + len);
            touched.add(off);
            break;
          }
        }
        afterOp?.();
      }
      if (p.abort) tx.abort('program abort');
    });
  } catch (err) {
    if (isFerriteError(err, 'ETXSTATE')) outcome = 'aborted';
    else if (isFerriteError(err, 'ENOSPC')) outcome = 'full';
    else throw err;
  }
  if (outcome !== 'committed') {
    for (let i = undo.length - 1; i >= 0; i--) {
      const u = undo[i]!;
      if (u.k === 'added') model.remove(u.offset);
      else if (u.k === 'removed') model.add(u.offset, u.contents);
      else model.blocks.get(u.offset)!.set(u.old, u.pos);
    }
  }
  return { outcome, touched };
}

/** True when the pool holds exactly the model (see assertBigMatches); never throws. */
export function bigMatches(pool: Pool, model: BigModel, extra: ReadonlySet<number>): boolean {
  try {
    assertBigMatches(pool, model, extra);
    return true;
  } catch {
    return false;
  }
}

/** Throws unless the pool's deep check is clean (DRAM index against the pool's metadata). */
export function assertCheckClean(pool: Pool, when: string): void {
  const report = pool.check();
  assert.ok(report.ok, `${when}: check() found ${report.problems.length} problems: ${JSON.stringify(report.problems.slice(0, 4))}`);
}

/**
 * Throws unless the pool's allocations are exactly the model's blocks (plus `extra`, e.g. the
 * root) and the blocks in `only` (all when undefined) hold exactly the model's bytes.
 */
export function assertBigMatches(pool: Pool, model: BigModel, extra: ReadonlySet<number>, only?: ReadonlySet<number>): void {
  const allocated: number[] = [];
  for (const a of pool.allocations()) if (!extra.has(a.offset)) allocated.push(a.offset);
  const expected = [...model.blocks.keys()].sort((a, b) => a - b);
  assert.deepEqual(allocated, expected, 'allocated blocks equal the model');
  const bytes = pool.bytes;
  for (const off of only ?? model.blocks.keys()) {
    const b = model.blocks.get(off);
    if (b === undefined) continue;
    assert.ok(pool.usableSize(off) >= b.length, `block ${off} holds at least ${b.length} bytes`);
    const got = bytes.subarray(off, off + b.length);
    if (Buffer.compare(got, b) !== 0) {
      let i = 0;
      while (got[i] === b[i]) i++;
      assert.fail(`block ${off} (${b.length} bytes) differs from the model at byte ${i}: ${got[i]} != ${b[i]}`);
    }
  }
}
