/**
 * Benchmarks of the inode cache's steps on a generated 10,000-entry tree (in the system temp
 * directory; the pool in the default pool directory — tmpfs with forcePmem where there is one).
 * Prints `name: median X µs (n samples)` lines. The boot experiment (`inode-cache boot`) is
 * the end-to-end measurement; these isolate its parts, in one warm process.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPoolDir, mediumOf } from '@ferrite/native';
import { FerriteCacheStore } from '../src/ferrite-store.js';
import { InodeCache } from '../src/inode-cache.js';
import { median } from '../src/table.js';
import { materializeTree, planTree, sampleLookups } from '../src/tree-gen.js';
import { walkTree } from '../src/walk.js';

const ENTRIES = 10_000;
const base = mkdtempSync(join(tmpdir(), 'inode-cache-bench-'));
const root = join(base, 'tree');
const poolDir = defaultPoolDir();
const medium = `${mediumOf(poolDir)}`;
const pool = (i: number): string => join(poolDir, `inode-cache-bench-${process.pid}-${i}.pool`);

function report(name: string, samples: number[]): void {
  console.log(`${name}: median ${median(samples).toFixed(2)} µs (${samples.length} samples)`);
}

try {
  const plan = planTree(ENTRIES, 1);
  mkdirSync(root);
  materializeTree(root, plan);
  await new Promise((r) => setTimeout(r, 200)); // out of the racy window
  const dirs = plan.counts.dir + 1;

  const walk: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    walkTree(root);
    walk.push(((performance.now() - t) * 1000) / ENTRIES);
  }
  report(`cold walk (readdir + lstat, warm kernel caches), per entry`, walk);

  const scan: number[] = [];
  for (let i = 0; i < 3; i++) {
    rmSync(pool(i), { force: true });
    const store = FerriteCacheStore.open(pool(i));
    const t = performance.now();
    new InodeCache(store).scan(root);
    scan.push(((performance.now() - t) * 1000) / ENTRIES);
    store.close();
    if (i > 0) rmSync(pool(i), { force: true });
  }
  report(`first scan into a new pool (${medium}), per entry, 2048-entry transactions`, scan);

  const store = FerriteCacheStore.open(pool(0), { create: false });
  try {
    const cache = new InodeCache(store);
    const reval: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      const r = cache.revalidate();
      if (r.dirsListed !== 0) throw new Error('the tree changed during the benchmark');
      reval.push(((performance.now() - t) * 1000) / dirs);
    }
    report(`revalidate, nothing changed (${medium}), per directory (lstat + record read)`, reval);

    const paths = sampleLookups(plan, 1000).map((p) => join(root, p));
    for (const p of paths) cache.resolve(p); // warm-up
    const look: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t = performance.now();
      for (const p of paths) cache.resolve(p);
      look.push(((performance.now() - t) * 1000) / paths.length);
    }
    report(`path lookup from the cache (${medium}), per path`, look);
  } finally {
    store.close();
  }
} finally {
  for (let i = 0; i < 3; i++) rmSync(pool(i), { force: true });
  rmSync(base, { recursive: true, force: true });
}
