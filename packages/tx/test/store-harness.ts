/**
 * Opening stores for tests: over the heap's real Pool on a SimulatedRegion when the heap is
 * available, else over the DRAM fake (FakePool). `reopen` simulates a process restart.
 */
import type { Pool } from '@ferrite/heap';
import { Store, type StoreOptions } from '../src/store.js';
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

/** The harness the tests use (the fake until the heap's Pool lands). */
export function openHarness(options: StoreOptions = {}): Harness {
  return openFake(options);
}
