/**
 * Builds a CollectionContext over a pool for collection tests, the way the Store does:
 * the real key and value codecs, `write` joining the current transaction or opening one.
 * The value codec's structures slot lives in an 8-byte block allocated here (its offset is
 * returned so a "reopen" can build a new context over the same pool bytes).
 */
import type { Pool } from '@ferrite/heap';
import type { CollectionContext, Limits, TxOp } from '../../src/internal/context.js';
import { OrderedKeyCodec } from '../../src/codec/keys.js';
import { PoolValueCodec } from '../../src/codec/values.js';

/** What the tests need of a pool: the real Pool or the DRAM fake (structurally alike). */
export type AnyPool = Pool | import('./collections-fake-pool.js').FakePool;

export interface TestContext extends CollectionContext {
  /** Offset of the value codec's structures slot. */
  readonly structuresSlot: number;
  closed: boolean;
}

export const TEST_LIMITS: Limits = { maxKeySize: 256, maxValueSize: 4096 };

/** Allocates the structures slot (in its own transaction); returns its offset. */
export function allocStructuresSlot(pool: AnyPool): number {
  const p = pool as unknown as Pool;
  return p.transaction((tx) => tx.alloc(8, { zero: true }));
}

export function makeContext(pool: AnyPool, structuresSlot: number, limits: Limits = TEST_LIMITS): TestContext {
  const p = pool as unknown as Pool;
  const ctx: TestContext = {
    pool: p,
    keys: new OrderedKeyCodec(limits.maxKeySize),
    values: new PoolValueCodec(p, structuresSlot, limits.maxValueSize),
    limits,
    readOnly: false,
    reader: undefined,
    // This context does not invalidate caches after an abort: collections keep their hooks.
    invalidatesOnAbort: false,
    structuresSlot,
    closed: false,
    write<T>(fn: (tx: import('@ferrite/heap').Transaction) => T): T {
      ctx.assertOpen();
      const current = p.currentTransaction;
      return current !== undefined ? fn(current) : p.transaction(fn);
    },
    run<T>(op: TxOp<T>): T {
      return ctx.write((tx) => op.run(tx));
    },
    assertOpen(): void {
      if (ctx.closed) throw new Error('closed');
    },
  };
  return ctx;
}
