/**
 * The only place the crash suite touches the Store's API: open, run a step, observe every
 * collection, check. Keeping it in one file means an API change costs one edit.
 */
import { SimulatedFileTarget } from '@ferrite/core/testing';
import type { SimulatedRegion } from '@ferrite/core/testing';
import assert from 'node:assert/strict';
import { isFerriteError } from '@ferrite/core';
import type { Region } from '@ferrite/core';
import { Store } from '@ferrite/tx';
import {
  MAP_NAMES,
  QUEUE_NAMES,
  SORTED_NAMES,
  compareSortedKeys,
  type Op,
  type Snapshot,
  type SortedKey,
  type Step,
  type Value,
} from './model.js';

/** Layout name of every crash-test pool. */
export const LAYOUT = 'crash-suite';

/** A user error thrown inside a transaction to abort it (must roll everything back). */
export class AbortProgram extends Error {
  constructor() {
    super('program aborts this transaction');
    this.name = 'AbortProgram';
  }
}

export interface OpenOptions {
  create?: boolean;
  size?: number;
  /** Upper bound for growth; undefined lets the store grow as it likes. */
  maxSize?: number;
}

export function openStore(region: Region, options: OpenOptions = {}): Store {
  const opts = { create: options.create ?? false, size: options.size, maxSize: options.maxSize, layout: LAYOUT };
  // A 'file' region is a simulated disk holding the pool file and its redo log (the file
  // persistency model): the store opens on those files, not on the region's bytes.
  if (region.granularity === 'file') {
    return Store.open(SimulatedFileTarget.fromRegion(region as SimulatedRegion), { ...opts, checkpointBytes: FILE_CHECKPOINT_BYTES });
  }
  return Store.open(region, opts);
}

/** The redo log's checkpoint interval on simulated disks: small, so programs cross checkpoints. */
export const FILE_CHECKPOINT_BYTES = 96 * 1024;
/** The redo log file's extent on simulated disks (the log grows only as far as it must). */
export const FILE_WAL_EXTENT = 512 * 1024;

/** Opens (creating on first use) every collection the programs use, so the pool holds them all. */
export function touchCollections(store: Store): void {
  for (const n of MAP_NAMES) store.map<string, Value>(n);
  for (const n of SORTED_NAMES) store.sortedMap<SortedKey, Value>(n);
  for (const n of QUEUE_NAMES) store.queue<Value>(n);
}

function runOp(store: Store, op: Op): void {
  switch (op.c) {
    case 'map': {
      const map = store.map<string, Value>(op.name);
      if (op.op === 'set') map.set(op.key, op.value);
      else map.delete(op.key);
      return;
    }
    case 'sorted': {
      const map = store.sortedMap<SortedKey, Value>(op.name);
      if (op.op === 'set') map.set(op.key, op.value);
      else map.delete(op.key);
      return;
    }
    case 'queue': {
      const q = store.queue<Value>(op.name);
      if (op.op === 'push') q.push(op.value);
      else q.shift();
      return;
    }
    case 'drop':
      store.drop(op.name);
      return;
  }
}

/** What running a step did: the store to use afterwards, and whether the pool was full. */
export interface StepResult {
  store: Store;
  /** The step failed with ENOSPC and so (like an abort) must have changed nothing. */
  full: boolean;
}

/**
 * Runs one step on the store. A `reopen` step closes this store and opens a new one on
 * `reopenRegion()`. ENOSPC is an expected outcome (pools are small and growth is capped):
 * it is reported, not thrown.
 */
export function runStep(store: Store, step: Step, reopenRegion: () => Region): StepResult {
  try {
    switch (step.kind) {
      case 'single':
        runOp(store, step.op);
        return { store, full: false };
      case 'tx':
        try {
          store.transaction(() => {
            for (const op of step.ops) runOp(store, op);
            if (step.abort) throw new AbortProgram();
          });
        } catch (err) {
          if (!(step.abort && err instanceof AbortProgram)) throw err;
        }
        return { store, full: false };
      case 'reopen': {
        store.close();
        return { store: openStore(reopenRegion()), full: false };
      }
      case 'shrink':
        store.shrink();
        return { store, full: false };
    }
  } catch (err) {
    if (isFerriteError(err, 'ENOSPC')) return { store, full: true };
    throw err;
  }
}

/** Keys the observation probes with `get`/`has` besides the present ones (absent ones must read as absent). */
const PROBE_MAP_KEYS = ['a', 'b', 'c', 'd', 'e', 'zz'];
const PROBE_SORTED_KEYS: SortedKey[] = [-4, 0, 3, 9, 100, 'x', 'xa', 'zz'];

/**
 * Reads every collection through every read path (iteration, `get`, `has`, `size`, ranges,
 * `peek`) and returns the canonical snapshot. Disagreements between read paths fail here.
 * Never writes: a collection that does not exist (dropped, or never made) reads as empty, as
 * the model has it; asking the store for it would create it, which on a full pool is ENOSPC.
 */
export function observe(store: Store): Snapshot {
  const s: Snapshot = { maps: {}, sorted: {}, queues: {} };
  const existing = new Set(store.collections().map((c) => c.name));
  for (const n of MAP_NAMES) {
    if (!existing.has(n)) {
      s.maps[n] = [];
      continue;
    }
    const map = store.map<string, Value>(n);
    const entries = [...map.entries()];
    assert.equal(map.size, entries.length, `map ${n}: size disagrees with iteration`);
    const seen = new Set<string>();
    for (const [k, v] of entries) {
      assert.ok(!seen.has(k), `map ${n}: key ${k} iterated twice`);
      seen.add(k);
      assert.deepStrictEqual(map.get(k), v, `map ${n}: get(${k}) disagrees with iteration`);
      assert.ok(map.has(k), `map ${n}: has(${k}) is false for an iterated key`);
    }
    for (const k of PROBE_MAP_KEYS) {
      if (seen.has(k)) continue;
      assert.equal(map.has(k), false, `map ${n}: has(${k}) of an absent key`);
      assert.equal(map.get(k), undefined, `map ${n}: get(${k}) of an absent key`);
    }
    s.maps[n] = entries.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  }
  for (const n of SORTED_NAMES) {
    if (!existing.has(n)) {
      s.sorted[n] = [];
      continue;
    }
    const map = store.sortedMap<SortedKey, Value>(n);
    const entries = [...map.entries()];
    assert.equal(map.size, entries.length, `sorted map ${n}: size disagrees with iteration`);
    for (let i = 1; i < entries.length; i++) {
      assert.ok(compareSortedKeys(entries[i - 1]![0], entries[i]![0]) < 0, `sorted map ${n}: iteration out of order`);
    }
    const present = new Map(entries);
    for (const [k, v] of entries) {
      assert.deepStrictEqual(map.get(k), v, `sorted map ${n}: get(${String(k)}) disagrees with iteration`);
      assert.ok(map.has(k), `sorted map ${n}: has(${String(k)}) is false for an iterated key`);
    }
    for (const k of PROBE_SORTED_KEYS) {
      if (present.has(k)) continue;
      assert.equal(map.has(k), false, `sorted map ${n}: has(${String(k)}) of an absent key`);
      assert.equal(map.get(k), undefined, `sorted map ${n}: get(${String(k)}) of an absent key`);
    }
    // A range query must be exactly the slice of the iteration it names.
    const ranged = [...map.range({ gte: 0, lt: 'y' })];
    const expected = entries.filter(([k]) => compareSortedKeys(k, 0) >= 0 && compareSortedKeys(k, 'y') < 0);
    assert.deepStrictEqual(ranged, expected, `sorted map ${n}: range [0, 'y') disagrees with iteration`);
    s.sorted[n] = entries;
  }
  for (const n of QUEUE_NAMES) {
    if (!existing.has(n)) {
      s.queues[n] = [];
      continue;
    }
    const q = store.queue<Value>(n);
    const items = [...q];
    assert.equal(q.length, items.length, `queue ${n}: length disagrees with iteration`);
    assert.deepStrictEqual(q.peek(), items[0], `queue ${n}: peek disagrees with iteration`);
    s.queues[n] = items;
  }
  return s;
}

/**
 * `store.check()` must be clean: the pool's own check plus the store's reachability walk
 * (every allocated block reachable from the root, every reachable block allocated).
 */
export function assertClean(store: Store, where: string): void {
  const report = store.check();
  assert.ok(report.ok, `${where}: store.check() found problems: ${JSON.stringify(report.problems.slice(0, 5))}`);
  // The walk from the root and the allocator agree exactly: as many blocks reachable as allocated.
  assert.equal(report.reachable, report.allocated, `${where}: ${report.reachable} blocks reachable but ${report.allocated} allocated`);
}

/**
 * Fills the store until the pool is full (ENOSPC, with growth capped by `maxSize`), then
 * empties what was added, checking that each ENOSPC left nothing behind and that the store
 * is clean again. Values go alternately to a hash map and a queue, halving in size on ENOSPC
 * so that filling takes few transactions; emptying deletes and shifts them (neither may need
 * to allocate: a full pool must be able to shrink). Returns how many values fitted.
 */
export function fillAndEmpty(store: Store, where: string): number {
  const before = observe(store);
  const map = store.map<number, string>('fill-map');
  const queue = store.queue<string>('fill-queue');
  let inMap = 0;
  let inQueue = 0;
  let size = 8192;
  let full = 0;
  for (let guard = 0; guard < 10_000 && size >= 8; guard++) {
    const toMap = (inMap + inQueue + full) % 2 === 0;
    try {
      if (toMap) map.set(inMap, 'f'.repeat(size));
      else queue.push('f'.repeat(size));
      if (toMap) inMap++;
      else inQueue++;
    } catch (err) {
      if (!isFerriteError(err, 'ENOSPC')) throw err;
      full++;
      size = size >> 1;
    }
  }
  assert.ok(full > 0, `${where}: the pool never reported ENOSPC while filling`);
  assert.equal(map.size, inMap, `${where}: a failed set changed the map's size`);
  assert.equal(queue.length, inQueue, `${where}: a failed push changed the queue's length`);
  assertClean(store, `${where} (full)`);
  // Several removals per transaction (bounded, so no transaction outgrows the undo log).
  for (let i = 0; i < Math.max(inMap, inQueue); i += 8) {
    store.transaction(() => {
      for (let j = i; j < Math.min(inMap, i + 8); j++) assert.ok(map.delete(j), `${where}: fill value ${j} vanished from the map`);
      for (let j = i; j < Math.min(inQueue, i + 8); j++) assert.ok(queue.shift() !== undefined, `${where}: fill value ${j} vanished from the queue`);
    });
  }
  assert.equal(map.size, 0, `${where}: fill map not empty after deleting everything`);
  assert.equal(queue.length, 0, `${where}: fill queue not empty after shifting everything`);
  store.drop('fill-map');
  store.drop('fill-queue');
  assertClean(store, `${where} (emptied)`);
  assert.deepStrictEqual(observe(store), before, `${where}: filling and emptying changed the program's data`);
  return inMap + inQueue;
}
