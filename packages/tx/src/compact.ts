/**
 * `compactPoolFile(path)`: a pool file compacted in place, offline (`ferrite compact`).
 *
 * 1. The pool is opened read-only, but with the writer's lock (exclusive): no writer can open
 *    it until the end, and nothing is ever written to it or to its redo log (a log a crash
 *    left is replayed in memory, so the copy holds every durable commit).
 * 2. Its collections are rebuilt into a new pool (backup.ts `buildCompact`: the layout, maxSize
 *    and undo log capacity kept, a uuid of its own), under the name
 *    `.<name>.ferrite-compact` in the same directory; the file is cut after its last used chunk.
 * 3. That file is published (fsync, its name, the directory's fsync), renamed over the pool,
 *    and the directory fsync'd again. Only then is the old pool released.
 *
 * A crash (or SIGKILL) before the rename leaves the pool exactly as it was, and at most a
 * temporary file, which the next compaction of the pool removes; after it, the compacted pool.
 * Either way the pool's data is whole. The old pool's `<name>.wal`, if a crash left one, stays:
 * it names the old pool's uuid, so the compacted pool (a new uuid) ignores it and its first
 * writable open starts it over. (Deleting it here could race with a writer that opened the new
 * pool already.)
 */
import { existsSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FerriteError, invalidArgument, readOptions } from '@ferrite/core';
import { buildCompact } from './backup.js';
import type { BackupProgress } from './backup.js';
import { MAX_KEY_SIZE_LIMIT } from './codec/keys.js';
import { MAX_VALUE_SIZE_LIMIT } from './codec/values.js';
import { poolFileTarget } from './pool-file.js';
import { Store } from './store.js';

/** Options of `compactPoolFile`. */
export interface CompactOptions {
  /** Called after each step with how far the rebuild is (phase 'compact'). */
  onProgress?: (progress: BackupProgress) => void;
}

/** What `compactPoolFile` returns. */
export interface CompactInfo {
  readonly path: string;
  /** The file's length before and after. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** The pool's uuid before, and the compacted pool's (a new one). */
  readonly uuidBefore: string;
  readonly uuid: string;
  readonly collections: number;
  readonly entries: number;
  readonly durationMs: number;
}

/** lstat of `path`, or undefined when nothing is there. */
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The temporary name an in-place compaction of `path` builds under (same directory). */
export function compactTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.ferrite-compact`);
}

/**
 * Compacts the pool file `path` in place (see the module comment): every collection rebuilt
 * densely into a new file that replaces it atomically; the new pool has a uuid of its own.
 * Synchronous; needs room for the compacted copy beside the pool while it runs.
 * @throws ENOENT, EBUSY (a writer, or an offline backup, holds the pool), EINVAL (a symbolic link), EEXIST (its temporary name is taken by something other than a file), EBADMAGIC / EVERSION / ECORRUPT
 *   (not a readable pool), ENOSPC (no room for the copy: the pool is untouched), EIO; EINVAL.
 */
export function compactPoolFile(path: string, options: CompactOptions = {}): CompactInfo {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw invalidArgument('compactPoolFile', 'path', 'a non-empty file path', path);
  }
  const o = readOptions('compactPoolFile', options, ['onProgress'] as const);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw invalidArgument('compactPoolFile', 'option onProgress', 'a function', o.onProgress);
  }
  const onProgress = o.onProgress as ((p: BackupProgress) => void) | undefined;
  if (!existsSync(path)) throw new FerriteError('ENOENT', `no pool at ${path}`);
  // The rename would replace a symbolic link itself and leave the file it names as it was;
  // and a pool's redo log is named after the path its writer opened. The pool's own path, then.
  if (lstatSync(path).isSymbolicLink()) {
    throw invalidArgument('compactPoolFile', 'path', "the pool file's own path, not a symbolic link", path);
  }
  const t0 = performance.now();
  const target = poolFileTarget(path, { readOnly: true, lock: 'exclusive' });
  const src = Store.open(target, { readOnly: true, maxKeySize: MAX_KEY_SIZE_LIMIT, maxValueSize: MAX_VALUE_SIZE_LIMIT });
  try {
    const before = statSync(path);
    const temp = compactTempPath(path);
    // A temporary of a compaction that was killed after publishing it: ours to remove (we
    // hold the pool's lock, and only a compaction of this pool makes it).
    const left = lstatOrUndefined(temp);
    if (left !== undefined) {
      // Only a file a compaction left is ours: anything else at that name is someone's.
      if (!left.isFile()) throw new FerriteError('EEXIST', `compactPoolFile: ${temp} (the temporary name of a compaction of ${path}) is taken by something that is not a file; move it away`);
      unlinkSync(temp);
    }
    const steps = buildCompact(src, temp, before.mode & 0o777, onProgress);
    let r = steps.next();
    while (r.done !== true) r = steps.next();
    const built = r.value;
    try {
      // The name must still be the file we read (nothing of ours renames it; someone else might).
      const now = statSync(path);
      if (now.ino !== before.ino || now.dev !== before.dev) {
        throw new FerriteError('EBUSY', `${path} was replaced while it was being compacted; nothing was changed`);
      }
    } catch (err) {
      built.dest.discard();
      throw err;
    }
    built.dest.publishOver(path);
    return {
      path,
      bytesBefore: before.size,
      bytesAfter: built.bytes,
      uuidBefore: src.pool.uuid,
      uuid: built.uuid,
      collections: built.collections,
      entries: built.entries,
      durationMs: Math.round((performance.now() - t0) * 100) / 100,
    };
  } finally {
    src.close();
  }
}
