/**
 * Model-test setups. `realSetup`: the real heap, a Pool on a SimulatedRegion that starts small
 * and may grow (so collections see `pool.bytes` replaced mid-operation), and "reopen" that
 * closes the pool and opens it again from the same region (recovery path included).
 * `fakeSetup`: the DRAM fake pool (fast; aborts and growth), where "reopen" builds a new
 * context and collection over the same bytes.
 */
import { Pool } from '@ferrite/heap';
import { FakePool } from './collections-fake-pool.js';
import { SimulatedRegion } from '@ferrite/core/testing';
import type { CollectionContext } from '../../src/internal/context.js';
import { allocStructuresSlot, makeContext } from './collections-context.js';
import type { MapLike, Real } from './collections-model.js';

const LAYOUT = 'collections-model';
const START = 256 << 10;
const MAX = 64 << 20;

export function realSetup(
  create: (ctx: CollectionContext, tx: import('@ferrite/heap').Transaction) => number,
  open: (ctx: CollectionContext, header: number) => MapLike,
): () => Real {
  return () => {
    const region = new SimulatedRegion(START);
    let pool = Pool.create(region, { layout: LAYOUT, size: START, maxSize: MAX });
    const slot = allocStructuresSlot(pool);
    let ctx = makeContext(pool, slot);
    const header = pool.transaction((tx) => create(ctx, tx));
    const real: Real = {
      map: open(ctx, header),
      transaction: (fn) => pool.transaction(() => fn()),
      reopen: () => {
        pool.close();
        pool = Pool.open(region, { layout: LAYOUT, maxSize: MAX });
        ctx = makeContext(pool, slot);
        real.map = open(ctx, header);
      },
    };
    return real;
  };
}

export function fakeSetup(
  create: (ctx: CollectionContext, tx: import('@ferrite/heap').Transaction) => number,
  open: (ctx: CollectionContext, header: number) => MapLike,
): () => Real {
  return () => {
    const pool = new FakePool({ size: 64 << 10, maxSize: 256 << 20 });
    const slot = allocStructuresSlot(pool);
    let ctx = makeContext(pool, slot);
    const header = (pool as unknown as Pool).transaction((tx) => create(ctx, tx));
    const real: Real = {
      map: open(ctx, header),
      transaction: (fn) => pool.transaction(() => fn()),
      reopen: () => {
        ctx = makeContext(pool, slot);
        real.map = open(ctx, header);
      },
    };
    return real;
  };
}
