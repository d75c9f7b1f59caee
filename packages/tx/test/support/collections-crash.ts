/**
 * Crash-test harness for the collections on the real heap over SimulatedRegion: a pool holds
 * one PMap and one PSortedMap (so multi-collection transactions can be tested), `prefill`
 * builds a committed state, `op` is the operation under test. Every crash point of `op`
 * (every flush and drain, several crash images each, recovery crashed too) must recover to
 * the contents before or after `op` (after, when `op` completed), with both structures'
 * invariants holding, the pool's check passing, and no block leaked or missing.
 */
import assert from 'node:assert/strict';
import { Pool } from '@ferrite/heap';
import { SimulatedRegion, forEveryCrashPoint, forEverySingleTear, type CrashScenario } from '@ferrite/core/testing';
import { PMap } from '../../src/collections/hash-map.js';
import { PSortedMap } from '../../src/collections/sorted-map.js';
import type { Key } from '../../src/codec/keys.js';
import { PoolValueCodec } from '../../src/codec/values.js';
import { allocStructuresSlot, makeContext } from './collections-context.js';
import { keyId } from './collections-model.js';

const LAYOUT = 'collections-crash';
export const CRASH_POOL_SIZE = 1 << 20;

export interface Maps {
  pool: Pool;
  map: PMap<Key, unknown>;
  tree: PSortedMap<Key, unknown>;
}

export interface CrashCase {
  name: string;
  prefill(m: Maps): void;
  op(m: Maps): void;
  /** Crash images per crash point (default 2; 8 with FERRITE_SOAK=1). */
  seeds?: number;
  /** Depth of crashed recoveries (default 1). */
  recoveryCrashDepth?: number;
}

interface Contents {
  map: [string, unknown][];
  tree: [Key, unknown][];
}

interface Recovered {
  problems: string[];
  contents: Contents;
}

function openMaps(region: SimulatedRegion, ids: { slot: number; mapHeader: number; treeHeader: number }): Maps {
  const pool = Pool.open(region, { layout: LAYOUT });
  const ctx = makeContext(pool, ids.slot);
  return { pool, map: new PMap(ctx, ids.mapHeader), tree: new PSortedMap(ctx, ids.treeHeader) };
}

function contentsOf(m: Maps): Contents {
  const entries = [...m.map.entries()];
  // Every entry iterated is found by the read path too (hash, bucket, key compare).
  for (const [k, v] of entries) {
    assert.deepEqual(m.map.get(k), v, `get(${keyId(k)}) finds the iterated entry`);
    assert.equal(m.map.has(k), true);
  }
  const map = entries.map(([k, v]) => [keyId(k), v] as [string, unknown]);
  map.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { map, tree: [...m.tree.entries()] };
}

/** Structural problems of both collections, of the pool, and of block ownership. */
function problemsOf(m: Maps, slot: number): string[] {
  const problems = [...m.map.validate().map((p) => `map: ${p}`), ...m.tree.validate().map((p) => `tree: ${p}`)];
  for (const p of m.pool.check().problems) problems.push(`pool: ${p.kind} at ${p.offset}: ${p.message}`);
  const owned = new Set<number>([slot, ...m.map.ownedBlocks(), ...m.tree.ownedBlocks()]);
  const structures = new PoolValueCodec(m.pool, slot);
  for (const b of structures.ownedBlocks()) owned.add(b);
  const allocated = new Set([...m.pool.allocations()].map((a) => a.offset));
  for (const b of owned) if (!allocated.has(b)) problems.push(`block ${b} is reachable but not allocated`);
  for (const b of allocated) if (!owned.has(b)) problems.push(`block ${b} is allocated but unreachable (leak)`);
  return problems;
}

/** The committed image `c.prefill` leaves, and the contents before and after `c.op` on it. */
interface Prepared {
  base: Uint8Array;
  ids: { slot: number; mapHeader: number; treeHeader: number };
  slot: number;
  before: Contents;
  after: Contents;
}

function prepare(c: CrashCase): Prepared {
  const region0 = new SimulatedRegion(CRASH_POOL_SIZE);
  const pool0 = Pool.create(region0, { layout: LAYOUT, size: CRASH_POOL_SIZE });
  const slot = allocStructuresSlot(pool0);
  const ctx0 = makeContext(pool0, slot);
  const [mapHeader, treeHeader] = pool0.transaction((tx) => [PMap.create(ctx0, tx), PSortedMap.create(ctx0, tx)] as const);
  const ids = { slot, mapHeader, treeHeader };
  c.prefill({ pool: pool0, map: new PMap(ctx0, mapHeader), tree: new PSortedMap(ctx0, treeHeader) });
  pool0.close();
  const base = region0.crashImage(0).slice(); // what is durable: everything committed
  const before = contentsOf(openMaps(SimulatedRegion.fromImage(base), ids));
  const afterMaps = openMaps(SimulatedRegion.fromImage(base), ids);
  c.op(afterMaps);
  const after = contentsOf(afterMaps);
  assert.deepEqual(problemsOf(afterMaps, slot), [], 'the uncrashed op leaves a sound state');
  return { base, ids, slot, before, after };
}

/** The crash scenario of `c` from its prepared image: recovery must give before or after. */
function scenarioOf(c: CrashCase, { base, ids, slot, before, after }: Prepared): CrashScenario<Maps, Recovered> {
  return {
    setup: () => {
      const region = SimulatedRegion.fromImage(base);
      return { region, state: openMaps(region, ids) };
    },
    run: (_region, maps) => c.op(maps),
    recover: (region) => {
      const m = openMaps(region, ids);
      return { problems: problemsOf(m, slot), contents: contentsOf(m) };
    },
    check: (r, cx) => {
      assert.deepEqual(r.problems, []);
      if (!cx.crashed) assert.deepEqual(r.contents, after, 'a completed op is durable');
      else {
        let isBefore = true;
        try {
          assert.deepEqual(r.contents, before);
        } catch {
          isBefore = false;
        }
        if (!isBefore) assert.deepEqual(r.contents, after, 'recovered state is the state before or after the op');
      }
    },
  };
}

/** Runs `c` at every crash point; returns the number of crash states checked (and prints it). */
export function runCrashCase(c: CrashCase): number {
  const states = forEveryCrashPoint<Maps, Recovered>({
    ...scenarioOf(c, prepare(c)),
    seeds: process.env.FERRITE_SOAK === '1' ? 8 : (c.seeds ?? 2),
    recoveryCrashDepth: c.recoveryCrashDepth ?? 1,
  });
  console.log(`${c.name} crash states checked: ${states}`);
  return states;
}

/**
 * Single-tear images of `c.op` (`forEverySingleTear`): at every crash point, each image where
 * every flushed line reached the media except one 8-byte word. A sealed commit's record is
 * durable in such images while one word of its data is not, so recovery's seal check must
 * notice the torn word: which it does only if the seal covers every byte the transaction
 * changed. Same checks as `runCrashCase`; returns the number of images checked.
 */
export function runSingleTearCase(c: CrashCase): number {
  const images = forEverySingleTear(scenarioOf(c, prepare(c)));
  console.log(`${c.name} single-tear images checked: ${images}`);
  return images;
}

/** Runs `fn` in a transaction that is then rolled back by a throw (caught here). */
export function aborted(pool: Pool, fn: () => void): void {
  const marker = new Error('rolled back on purpose');
  try {
    pool.transaction(() => {
      fn();
      throw marker;
    });
  } catch (err) {
    if (err !== marker) throw err;
  }
}
