/**
 * Opening stores for tests: over the heap's real Pool on a SimulatedRegion when the heap is
 * available, else over the DRAM fake (FakePool). `reopen` simulates a process restart.
 */
import type { Pool } from '@ferrite/heap';
import { Store, type StoreOptions } from '../src/store.js';
import { SimulatedRegion } from '@ferrite/core/testing';
import { FakePool } from './store-fake-pool.js';

export interface Harness {
  store: Store;
  /** Closes the store and opens the same pool again (as after a restart). */
  reopen(options?: StoreOptions): Store;
}

export function openFake(options: StoreOptions = {}): Harness {
  const pool = new FakePool(options.size ?? 4 << 20);
  const h: Harness = {
    store: Store.fromPool(pool as unknown as Pool, options),
    reopen(opts: StoreOptions = options) {
      h.store = Store.fromPool(pool as unknown as Pool, opts);
      return h.store;
    },
  };
  return h;
}

/**
 * The harness the tests use: the heap's real Pool over a SimulatedRegion of `options.size`
 * bytes (default 1 MiB); `maxSize` lets the pool grow the region.
 */
export function openSimulated(options: StoreOptions = {}): Harness {
  const size = options.size ?? 1 << 20;
  const region = new SimulatedRegion(size);
  const h: Harness = {
    store: Store.open(region, { ...options, create: true, size }),
    reopen(opts: StoreOptions = { maxSize: options.maxSize, maxKeySize: options.maxKeySize, maxValueSize: options.maxValueSize }) {
      if (!h.store.isClosed) h.store.close();
      h.store = Store.open(region, opts);
      return h.store;
    },
  };
  return h;
}

/** The harness the tests use. */
export function openHarness(options: StoreOptions = {}): Harness {
  return USE_FAKE ? openFake(options) : openSimulated(options);
}
/** The DRAM fake stands in while the heap is not usable yet. */
const USE_FAKE = false;
