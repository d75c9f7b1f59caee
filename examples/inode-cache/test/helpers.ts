/** Test helpers: small generated trees in os.tmpdir(), removed after each test. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materializeTree, planTree, type TreePlan } from '../src/tree-gen.js';

export interface TempTree {
  /** A scratch directory holding the tree (and whatever else a test puts there). */
  base: string;
  root: string;
  plan: TreePlan;
  cleanup(): void;
}

/** Creates a generated tree of `entries` entries; waits out the racy window so mtimes are trusted. */
export function makeTree(entries: number, seed: number): TempTree {
  const base = mkdtempSync(join(tmpdir(), 'inode-cache-test-'));
  const root = join(base, 'tree');
  const plan = planTree(entries, seed);
  mkdirSync(root);
  materializeTree(root, plan);
  sleep(150);
  return { base, root, plan, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Blocks for `ms` (to step out of the file-time granularity window, never to assert on time). */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
