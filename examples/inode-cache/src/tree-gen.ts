/**
 * The deterministic tree generator of the boot experiment.
 *
 * `planTree(entries, seed)` draws a tree shape from a seeded PRNG — directories, regular
 * files, symbolic links (some dangling) and hard links, with a fan-out spread like a real
 * source or home tree (most directories small, a few large) and bounded depth — and
 * `materializeTree(root, plan)` creates it on disk. The same (entries, seed) always gives the
 * same names, types, sizes and link targets; inode numbers and times come from the kernel.
 * Files are sparse (ftruncate), so a 100,000-entry tree costs metadata, not data blocks.
 */
import { closeSync, ftruncateSync, linkSync, mkdirSync, openSync, symlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { invariant } from './invariant.js';
import { Prng } from './prng.js';

/** Largest tree the generator makes (an explicit bound: memory for the plan, disk for the tree). */
export const MAX_TREE_ENTRIES = 5_000_000;
/** Deepest directory level (root is 0). */
export const MAX_DEPTH = 12;
/** Largest fan-out of one directory. */
export const MAX_FANOUT = 2_000;

export type PlannedType = 'dir' | 'file' | 'symlink' | 'hardlink';

export interface PlannedEntry {
  /** Path relative to the tree root, '/'-separated. */
  readonly path: string;
  readonly type: PlannedType;
  /** File size in bytes (files only; 0 otherwise). */
  readonly size: number;
  /** Symlink target (as written into the link) or hard-link source path (relative to root). */
  readonly target: string;
}

export interface TreePlan {
  readonly seed: number;
  /** Entries in creation order: a parent directory always comes before its children. */
  readonly entries: readonly PlannedEntry[];
  readonly counts: Readonly<Record<PlannedType, number>>;
  readonly maxDepth: number;
}

const DIR_WORDS = ['src', 'lib', 'include', 'docs', 'test', 'build', 'share', 'etc', 'cache', 'data', 'assets', 'pkg', 'modules', 'vendor', 'tmp', 'log', 'proj', 'home', 'photos', 'Überblick', 'données'];
const FILE_STEMS = ['main', 'index', 'util', 'config', 'README', 'notes', 'report', 'image', 'module', 'handler', 'core', 'test', 'Makefile', 'draft final', 'データ', 'résumé'];
const FILE_EXTS = ['.c', '.h', '.ts', '.js', '.json', '.md', '.txt', '.o', '.png', '.jpg', '.so', '', '.log', '.conf'];

/**
 * Draws the shape of a tree of exactly `entries` entries (not counting the root).
 * Breadth-first: each directory gets a fan-out drawn from a skewed distribution; when every
 * open directory is used up before the count is reached, a random earlier directory grows.
 */
export function planTree(entries: number, seed: number): TreePlan {
  if (!Number.isSafeInteger(entries) || entries < 1 || entries > MAX_TREE_ENTRIES) {
    throw new RangeError(`entries must be an integer in [1, ${MAX_TREE_ENTRIES}], got ${entries}`);
  }
  const prng = new Prng(seed);
  const out: PlannedEntry[] = [];
  const counts: Record<PlannedType, number> = { dir: 0, file: 0, symlink: 0, hardlink: 0 };
  interface OpenDir { path: string; depth: number; next: number }
  const allDirs: OpenDir[] = [{ path: '', depth: 0, next: 0 }];
  const queue: OpenDir[] = [allDirs[0]];
  const files: string[] = [];
  let head = 0;
  let maxDepth = 0;

  while (out.length < entries) {
    let dir: OpenDir;
    if (head < queue.length) {
      dir = queue[head++];
    } else {
      dir = prng.pick(allDirs); // every open directory is used up: grow an earlier one
    }
    const fanout = drawFanout(prng, dir.depth);
    for (let i = 0; i < fanout && out.length < entries; i++) {
      const n = dir.next++;
      const r = prng.next();
      const dirProbability = dir.depth >= MAX_DEPTH ? 0 : dir.depth === 0 ? 0.5 : 0.12;
      const prefix = dir.path === '' ? '' : `${dir.path}/`;
      if (r < dirProbability) {
        const path = `${prefix}${prng.pick(DIR_WORDS)}-${n}`;
        const child: OpenDir = { path, depth: dir.depth + 1, next: 0 };
        allDirs.push(child);
        queue.push(child);
        maxDepth = Math.max(maxDepth, child.depth);
        out.push({ path, type: 'dir', size: 0, target: '' });
        counts.dir++;
      } else if (r < dirProbability + 0.04 && files.length > 0) {
        const name = `link-${n}`;
        const path = `${prefix}${name}`;
        // One link in ten dangles; the rest point at an earlier file, relative to the link.
        const target = prng.next() < 0.1 ? `missing-${n}` : posix.relative(dir.path === '' ? '.' : dir.path, prng.pick(files));
        out.push({ path, type: 'symlink', size: 0, target: target === '' ? '.' : target });
        counts.symlink++;
      } else if (r < dirProbability + 0.05 && files.length > 0) {
        const path = `${prefix}hardlink-${n}`;
        out.push({ path, type: 'hardlink', size: 0, target: prng.pick(files) });
        counts.hardlink++;
      } else {
        const path = `${prefix}${prng.pick(FILE_STEMS)}-${n}${prng.pick(FILE_EXTS)}`;
        out.push({ path, type: 'file', size: drawSize(prng), target: '' });
        files.push(path);
        counts.file++;
      }
    }
  }
  invariant(out.length === entries, 'plan has exactly the asked number of entries');
  return { seed, entries: out, counts, maxDepth };
}

/** Mostly 2-30 children, some hundreds; the root is always wide enough to branch. */
function drawFanout(prng: Prng, depth: number): number {
  // A log-normal-ish draw: exp of a sum of uniforms (an approximate normal).
  const normal = prng.next() + prng.next() + prng.next() - 1.5; // mean 0, sd 0.5
  const fanout = Math.floor(Math.exp(2.4 + normal * 2.2));
  return Math.max(depth === 0 ? 12 : 1, Math.min(MAX_FANOUT, fanout));
}

/** File sizes: many tiny, a long tail up to tens of MiB (sparse on disk). */
function drawSize(prng: Prng): number {
  if (prng.next() < 0.05) return 0;
  const normal = prng.next() + prng.next() + prng.next() + prng.next() - 2; // sd ~0.58
  return Math.min(64 << 20, Math.floor(Math.exp(8 + normal * 4)));
}

/**
 * Creates the planned tree under `root` (which must exist and be empty). Synchronous: it is
 * a setup step, measured separately and never part of a boot timing.
 */
export function materializeTree(root: string, plan: TreePlan): void {
  for (const e of plan.entries) {
    const path = join(root, e.path);
    switch (e.type) {
      case 'dir':
        mkdirSync(path);
        break;
      case 'file': {
        const fd = openSync(path, 'wx');
        try {
          if (e.size > 0) ftruncateSync(fd, e.size);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink':
        symlinkSync(e.target, path);
        break;
      case 'hardlink':
        linkSync(join(root, e.target), path);
        break;
    }
  }
}

/**
 * `count` paths of the plan (relative to root) drawn with the plan's seed: the lookups both the
 * cold and the hot start answer. Every kind of entry appears in proportion to the tree.
 */
export function sampleLookups(plan: TreePlan, count: number): string[] {
  const prng = new Prng(plan.seed ^ 0x5bd1e995);
  const n = Math.min(count, plan.entries.length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(plan.entries[Math.floor(prng.next() * plan.entries.length)].path);
  return out;
}
