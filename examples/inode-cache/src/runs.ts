/**
 * One cold start and one hot start, as measured by `boot`. Each returns its timings and a
 * digest of its answers to the same lookups, so the harness checks that both starts know the
 * same things. Timings are taken inside the function, from its first step to the last answer:
 * process start-up and module loading are not included (they are the same for both).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { InodeAttrs } from './fs-types.js';
import { InodeCache } from './inode-cache.js';
import { invariant } from './invariant.js';
import { openStore } from './open-store.js';
import { walkTree } from './walk.js';

export interface ColdResult {
  readonly kind: 'cold';
  readonly walkMs: number;
  readonly lookupMs: number;
  readonly totalMs: number;
  readonly entries: number;
  readonly digest: string;
}

export interface HotResult {
  readonly kind: 'hot';
  readonly openMs: number;
  readonly revalidateMs: number;
  readonly lookupMs: number;
  readonly totalMs: number;
  readonly dirsVisited: number;
  readonly dirsListed: number;
  /** Lookups per second from the cache, in a loop after the timed boot and a warm-up. */
  readonly lookupsPerSec: number;
  readonly recovered: boolean;
  readonly digest: string;
}

/** Least duration of the lookup-throughput loop (after a warm-up of as long again). */
const THROUGHPUT_MS = 150;

function answerLine(ino: number, a: InodeAttrs): string {
  return `${ino} ${a.mode} ${a.size} ${a.nlink} ${a.uid} ${a.gid} ${a.mtimeMs} ${a.ctimeMs}\n`;
}

/** A process with no cache: list and lstat the whole tree, then answer from what it learned. */
export function coldRun(root: string, lookups: readonly string[]): ColdResult {
  const t0 = performance.now();
  const walk = walkTree(root);
  const t1 = performance.now();
  const hash = createHash('sha256');
  for (const rel of lookups) {
    const e = walk.byPath.get(rel);
    invariant(e !== undefined, `cold walk knows ${rel}`);
    hash.update(answerLine(e.ino, e));
  }
  const digest = hash.digest('hex');
  const t2 = performance.now();
  return { kind: 'cold', walkMs: t1 - t0, lookupMs: t2 - t1, totalMs: t2 - t0, entries: walk.entries, digest };
}

/** A process with the cache: open the pool, revalidate, answer from the cache. */
export function hotRun(pool: string, root: string, lookups: readonly string[], deep = false): HotResult {
  const t0 = performance.now();
  const store = openStore(pool, { create: false });
  try {
    const cache = new InodeCache(store);
    const t1 = performance.now();
    const r = cache.revalidate({ deep });
    const t2 = performance.now();
    const hash = createHash('sha256');
    for (const rel of lookups) {
      const e = cache.resolve(join(root, rel));
      hash.update(answerLine(e.ino, e.attrs));
    }
    const digest = hash.digest('hex');
    const t3 = performance.now();
    // Throughput of lookups alone (path resolution through the sorted map + inode get), in
    // the steady state: the timed boot above paid the JIT's warm-up, this loop should not.
    const w0 = performance.now();
    while (performance.now() - w0 < THROUGHPUT_MS && lookups.length > 0) {
      for (const rel of lookups) cache.resolve(join(root, rel));
    }
    let n = 0;
    const l0 = performance.now();
    let l1 = l0;
    while (l1 - l0 < THROUGHPUT_MS && lookups.length > 0) {
      for (const rel of lookups) cache.resolve(join(root, rel));
      n += lookups.length;
      l1 = performance.now();
    }
    return {
      kind: 'hot', openMs: t1 - t0, revalidateMs: t2 - t1, lookupMs: t3 - t2, totalMs: t3 - t0,
      dirsVisited: r.dirsVisited, dirsListed: r.dirsListed, lookupsPerSec: n === 0 ? 0 : n / ((l1 - l0) / 1000),
      recovered: store.recovered, digest,
    };
  } finally {
    store.close();
  }
}
