/**
 * Model-based programs for the heap's crash tests: random transactions that allocate, free,
 * write and abort, run against a pool while a DRAM model follows what each committed
 * transaction must leave behind.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FerriteError, isFerriteError } from '@ferrite/core';
import type { SimulatedRegion } from '@ferrite/core/testing';
import type { Pool, Transaction } from '../../src/index.js';

export type Op =
  | { k: 'alloc'; size: number }
  | { k: 'free'; i: number }
  /** `raw`: when the block was allocated by this transaction, store without addRange (allowed). */
  | { k: 'write'; i: number; pos: number; v: number; raw?: boolean }
  | { k: 'fill'; i: number; byte: number }
  | { k: 'root'; v: number }
  /**
   * The batching API: `tx.logRanges` of one word, stored at once when it answers true, else
   * kept and stored by an `afterDrain` hook (issue 21). Only in `batchedOpArb` programs.
   */
  | { k: 'logwrite'; i: number; pos: number; v: number }
  /** `tx.drain()`: the kept stores go in now. */
  | { k: 'drain' }
  /**
   * `tx.alloc(size, { noFlush: true })`, then one word of it declared with addRangeNoSnapshot
   * and stored (the rest of the block is never read: the model knows that word only).
   */
  | { k: 'nfalloc'; size: number; pos: number; v: number };

export interface TxProgram {
  ops: Op[];
  abort: boolean;
}

export interface Block {
  size: number;
  fill: number | undefined;
  words: Map<number, number>;
}

/** The committed state: every allocated block (root included) and what was written to it. */
export interface Model {
  blocks: Map<number, Block>;
  root: number;
  rootValue: number;
}

export const SIZES = [16, 24, 40, 64, 100, 200, 512, 1000, 3000, 4096, 5000, 20000];

export function opArb(): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant('alloc' as const), size: fc.constantFrom(...SIZES) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('free' as const), i: fc.nat(1000) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant('write' as const),
        i: fc.nat(1000),
        pos: fc.nat(1000),
        v: fc.nat(0xffffffff),
        raw: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('fill' as const), i: fc.nat(1000), byte: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('root' as const), v: fc.nat(0xffffffff) }) },
  );
}

/**
 * `opArb` with the batching operations (logwrite, drain, nfalloc) mixed in, logwrite the most
 * frequent: transactions of many kept stores, some of them reaching the same word again.
 */
export function batchedOpArb(): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 8, arbitrary: opArb() },
    {
      weight: 8,
      arbitrary: fc.record({ k: fc.constant('logwrite' as const), i: fc.nat(1000), pos: fc.nat(7), v: fc.nat(0xffffffff) }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('drain' as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('nfalloc' as const), size: fc.constantFrom(64, 200, 4096, 5000), pos: fc.nat(1000), v: fc.nat(0xffffffff) }),
    },
  );
}

export function batchedProgramArb(maxTx = 4, maxOps = 24): fc.Arbitrary<TxProgram[]> {
  return fc.array(
    fc.record({ ops: fc.array(batchedOpArb(), { minLength: 1, maxLength: maxOps }), abort: fc.boolean() }),
    { minLength: 1, maxLength: maxTx },
  );
}

export function programArb(maxTx = 5, maxOps = 5): fc.Arbitrary<TxProgram[]> {
  return fc.array(
    fc.record({ ops: fc.array(opArb(), { minLength: 1, maxLength: maxOps }), abort: fc.boolean() }),
    { minLength: 1, maxLength: maxTx },
  );
}

export function emptyModel(): Model {
  return { blocks: new Map(), root: 0, rootValue: 0 };
}

function cloneModel(m: Model): Model {
  const blocks = new Map<number, Block>();
  for (const [off, b] of m.blocks) blocks.set(off, { size: b.size, fill: b.fill, words: new Map(b.words) });
  return { blocks, root: m.root, rootValue: m.rootValue };
}

/** Creates the root (64 bytes) in its own transaction and returns the model after it. */
export function initRoot(pool: Pool): Model {
  const root = pool.root(64);
  const m = emptyModel();
  m.root = root;
  m.blocks.set(root, { size: 64, fill: undefined, words: new Map([[0, 0]]) });
  return m;
}

/**
 * Runs one transaction of the program against `pool`; returns the model after it (the same
 * model when it aborted or hit ENOSPC).
 */
export function runTx(pool: Pool, model: Model, p: TxProgram, deferred = false): Model {
  const next = cloneModel(model);
  const freshInTx = new Set<number>();
  // The stores `logwrite` keeps until the transaction drains, and the hook that makes them.
  const kept: [number, number][] = [];
  let armed = false;
  const hook = {
    afterDrain(): void {
      armed = false;
      for (const [off, v] of kept.splice(0)) pool.writeU64(off, v);
    },
  };
  const run = (fn: (tx: Transaction) => void): void => {
    if (deferred) pool.transactionDeferred(fn).durable.catch(() => undefined);
    else pool.transaction(fn);
  };
  try {
    run((tx) => {
      for (const op of p.ops) {
        const live = [...next.blocks.keys()].filter((o) => o !== next.root);
        switch (op.k) {
          case 'alloc': {
            const off = tx.alloc(op.size);
            freshInTx.add(off);
            next.blocks.set(off, { size: op.size, fill: undefined, words: new Map() });
            break;
          }
          case 'free': {
            if (live.length === 0) break;
            const off = live[op.i % live.length]!;
            tx.free(off);
            next.blocks.delete(off);
            break;
          }
          case 'write': {
            if (live.length === 0) break;
            const off = live[op.i % live.length]!;
            const b = next.blocks.get(off)!;
            const pos = (op.pos % Math.floor(b.size / 8)) * 8;
            if (!(op.raw === true && freshInTx.has(off))) tx.addRange(off + pos, 8);
            pool.writeU64(off + pos, op.v);
            b.words.set(pos, op.v);
            break;
          }
          case 'fill': {
            if (live.length === 0) break;
            const off = live[op.i % live.length]!;
            const b = next.blocks.get(off)!;
            tx.addRange(off, b.size);
            pool.bytes.fill(op.byte, off, off + b.size);
            b.fill = op.byte;
            b.words.clear();
            break;
          }
          case 'root': {
            tx.addRange(next.root, 8);
            pool.writeU64(next.root, op.v);
            next.blocks.get(next.root)!.words.set(0, op.v);
            next.rootValue = op.v;
            break;
          }
          case 'logwrite': {
            if (live.length === 0) break;
            const off = live[op.i % live.length]!;
            const b = next.blocks.get(off)!;
            const pos = (op.pos % Math.floor(b.size / 8)) * 8;
            if (tx.logRanges([off + pos, 8])) {
              pool.writeU64(off + pos, op.v);
            } else {
              kept.push([off + pos, op.v]);
              if (!armed) {
                armed = true;
                tx.afterDrain(hook);
              }
            }
            b.words.set(pos, op.v);
            break;
          }
          case 'drain':
            tx.drain();
            break;
          case 'nfalloc': {
            const off = tx.alloc(op.size, { noFlush: true });
            const pos = (op.pos % Math.floor(op.size / 8)) * 8;
            tx.addRangeNoSnapshot(off + pos, 8);
            pool.writeU64(off + pos, op.v);
            // Not in freshInTx: a raw store into it (no declaration) would not be flushed.
            next.blocks.set(off, { size: op.size, fill: undefined, words: new Map([[pos, op.v]]) });
            break;
          }
        }
      }
      if (p.abort) tx.abort('program abort');
    });
  } catch (err) {
    if (isFerriteError(err, 'ETXSTATE') || isFerriteError(err, 'ENOSPC')) return model;
    throw err;
  }
  return next;
}

/** Models after each transaction: history[0] is the start, history[k] after k transactions. */
export function runProgram(pool: Pool, start: Model, program: TxProgram[], done?: (k: number) => void): Model[] {
  const history = [start];
  let m = start;
  for (let k = 0; k < program.length; k++) {
    m = runTx(pool, m, program[k]!);
    history.push(m);
    done?.(k + 1);
  }
  return history;
}

/** Throws unless the pool holds exactly the model's blocks and contents. */
export function assertMatches(pool: Pool, m: Model): void {
  const allocs = new Map<number, number>();
  for (const a of pool.allocations()) allocs.set(a.offset, a.size);
  const expected = [...m.blocks.keys()].sort((a, b) => a - b);
  assert.deepEqual([...allocs.keys()], expected, 'allocated set equals the model');
  assert.equal(pool.rootOffset(), m.root, 'root offset');
  const bytes = pool.bytes;
  for (const [off, b] of m.blocks) {
    assert.ok(allocs.get(off)! >= b.size, `block ${off} is at least ${b.size} bytes`);
    for (const [pos, v] of b.words) assert.equal(pool.readU64(off + pos), v, `word ${off}+${pos}`);
    if (b.fill !== undefined) {
      for (let pos = 0; pos < b.size; pos = pos === b.size - 1 ? b.size : Math.min(pos + 256, b.size - 1)) {
        if (b.words.has(pos & ~7)) continue;
        assert.equal(bytes[off + pos], b.fill, `fill byte ${off}+${pos}`);
      }
    }
  }
}

/** True when the pool matches the model (no throw). */
export function matches(pool: Pool, m: Model): boolean {
  try {
    assertMatches(pool, m);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fills the pool until ENOSPC (blocks of several sizes, one per transaction), checks it,
 * then frees everything it added and checks the pool is back where it was.
 */
export function fillAndEmpty(pool: Pool, m: Model): void {
  const before = pool.stats();
  const added: number[] = [];
  for (const size of [20000, 3000, 256, 16]) {
    for (let guard = 0; guard < 100000; guard++) {
      try {
        added.push(pool.transaction((tx) => tx.alloc(size)));
      } catch (err) {
        if (isFerriteError(err, 'ENOSPC')) break;
        throw err;
      }
    }
  }
  const st = pool.stats();
  assert.equal(st.free - st.perClass.reduce((a, c) => a + c.free * c.size, 0), 0, 'no free chunk is left once full');
  assert.equal(st.perClass[0]!.free, 0, 'no 16-byte block is left');
  const full = pool.check();
  assert.ok(full.ok, `check after filling: ${JSON.stringify(full.problems.slice(0, 3))}`);
  pool.transaction((tx) => {
    for (const off of added) tx.free(off);
  });
  const after = pool.check();
  assert.ok(after.ok, `check after emptying: ${JSON.stringify(after.problems.slice(0, 3))}`);
  assertMatches(pool, m);
  assert.equal(pool.stats().used, before.used, 'emptying restores the bytes in use');
}

/**
 * Makes `region` behave like a file on a file system with room for `cap` bytes: a grow past
 * it throws ENOSPC, as @ferrite/native's grow does, and changes nothing. Returns the region.
 */
export function refuseGrowthAbove(region: SimulatedRegion, cap: number, code: 'ENOSPC' | 'ERANGE' | 'EIO' = 'ENOSPC'): SimulatedRegion {
  const grow = region.grow.bind(region);
  region.grow = (newLength: number): void => {
    if (newLength > cap) throw new FerriteError(code, `grow(simulated): ${newLength} bytes do not fit the ${cap} the file system has`);
    grow(newLength);
  };
  return region;
}
