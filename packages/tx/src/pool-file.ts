/**
 * Pool files by path: what `Store.open(path)` and the `ferrite` command open. The heap works on
 * any Region or FileTarget; here a path becomes one, with @ferrite/native:
 *
 * - the shared mapping of the file (holding the writer's lock), which is also how persistent
 *   memory is written (DAX, or `forcePmem`: cache-line flushes), and how recovery and commits
 *   copy into the file's page cache on an ordinary file system;
 * - a file handle on the pool file (its syncs), the redo log `<path>.wal` and a queue that runs
 *   their writes and syncs in order, off the main thread for deferred commits;
 * - the writer's private copy-on-write view, on an ordinary file (not persistent memory).
 *
 * Creating is atomic (see @ferrite/native `create.publishLater`): the file is formatted under a
 * temporary name and gets its name only once the pool is complete and durable.
 */
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { CorruptionError, FerriteError, isFerriteError } from '@ferrite/core';
import type { FileIO, FileTarget, Region } from '@ferrite/core';
import * as heap from '@ferrite/heap';
import type { Pool } from '@ferrite/heap';
import { createIoQueue, fileIdentity, flockHoldersOf, map, openFile } from '@ferrite/native';
import type { Mapping } from '@ferrite/native';

/** Options of `openPoolFile`. */
export interface PoolFileOptions {
  /** Create the pool when the file does not exist. Default false. */
  create?: boolean;
  /** Size of a new pool, bytes (needed with `create`). */
  size?: number;
  /** Largest size the pool may grow to (see the heap's `maxSize`). */
  maxSize?: number;
  /** Layout name: checked at open when given; stamped at creation ('ferrite' when omitted). */
  layout?: string;
  /** Open without writing either file. Default false. */
  readOnly?: boolean;
  /**
   * Treat the file as persistent memory: cache-line flushes on the shared mapping instead of
   * the redo log. Only correct on DAX or where durability past a machine crash is not needed
   * (tmpfs). Default: the mapping's own (FERRITE_FORCE_PMEM; DAX is detected).
   */
  forcePmem?: boolean;
  /** File mode of a new pool file (default 0o600). */
  mode?: number;
  /** Undo log bytes of a new pool (see the heap's `logCapacity`). */
  logCapacity?: number;
  /** An ordinary file: redo log bytes per checkpoint (default 32 MiB; see the heap's `checkpointBytes`). */
  checkpointBytes?: number;
  /**
   * A writable open of a pool another writer holds: wait up to this many milliseconds for it
   * to close, instead of failing with EBUSY at once. Default 0.
   */
  lockTimeout?: number;
  /** A read-only open: how long one read waits for a writer inside one change, ms (default 10 s). */
  readTimeout?: number;
}

/** Where the redo log of the pool file `path` lives. */
export function walPathOf(path: string): string {
  return `${path}.wal`;
}

/** A file of length 0 that is never written: a read-only open of a pool without a log. */
const NO_FILE: FileIO = {
  length: 0,
  write(): void {
    throw new FerriteError('EROFS', 'no redo log file (read-only open)');
  },
  read(offset: number, _dst: Uint8Array, _dstOffset?: number, length?: number): void {
    if ((length ?? 0) > 0 || offset > 0) throw new FerriteError('ERANGE', 'read past the end of an empty file');
  },
  sync(): void {},
  grow(): void {
    throw new FerriteError('EROFS', 'no redo log file (read-only open)');
  },
  close(): void {},
};

/**
 * The FileTarget of the pool file `path`. The shared mapping is made first: a writer's takes
 * the lock (a second writer gets EBUSY, or waits `lockTimeout` ms for it) and fails for a file
 * that is not a pool-sized regular file. A reader's takes no lock — readers never stop a
 * writer from opening — and offers what a live reader needs (the heap's live-reader.ts): the
 * writer's liveness (its lock, in /proc/locks), the redo log as it is now, a remap when the
 * pool grew, and a writable mapping of the first page for pause requests (when the file's
 * permissions allow it).
 */
export function poolFileTarget(path: string, options: { readOnly: boolean; forcePmem?: boolean; lockTimeout?: number; lock?: 'exclusive' | 'shared' }): FileTarget {
  const readOnly = options.readOnly;
  // A lock on a read-only open keeps writers out while the pool is read (EBUSY while one has
  // it): 'exclusive', the writer's own lock (an in-place compaction replaces the file from what
  // it read; no one else may open it meanwhile), or 'shared' (an offline backup: several may
  // copy at once). Such a store is not a live reader: no writer can be there to follow.
  const offline = readOnly ? options.lock : undefined;
  const shared = mapLocked(path, readOnly, options.forcePmem, options.lockTimeout ?? 0, offline);
  const opened: { close(): void }[] = [shared];
  try {
    const pool = openFile(path, { readOnly });
    opened.push(pool);
    const walPath = walPathOf(path);
    let wal: FileIO = NO_FILE;
    // A log this open creates and nothing writes (the open failed before its header: not a
    // pool, a damaged one) is removed at close: a failed open leaves no file behind.
    const walCreated = !readOnly && !existsSync(walPath);
    if (!readOnly) wal = openFile(walPath, { create: true });
    else if (existsSync(walPath)) wal = openFile(walPath, { readOnly: true });
    opened.push(wal);
    const queue = createIoQueue();
    const views: Region[] = [];
    const reader = readOnly && offline === undefined ? readerParts(path, shared) : undefined;
    if (reader !== undefined) opened.push(reader);
    const target: FileTarget = {
      ...(reader !== undefined ? {
        writerAlive: () => reader.writerAlive(),
        openWalNow: () => {
          try {
            return openFile(walPath, { readOnly: true });
          } catch (err) {
            if (isFerriteError(err, 'ENOENT')) return undefined; // no log: nothing to replay
            throw err;
          }
        },
        followPool: (length: number) => {
          if (shared.remap === undefined) throw new FerriteError('EACCES', 'the shared view cannot be mapped again');
          shared.remap(length);
        },
        pauseWords: () => reader.pauseWords(),
      } : {}),
      kind: 'file-target',
      pool,
      wal,
      queue,
      readOnly,
      shared,
      openPrivate(): Region {
        // No lock of its own: the shared mapping holds the writer's (a second flock of this
        // process on another descriptor would conflict with it).
        const view = map(path, { protection: readOnly ? 'r' : 'rw', copyOnWrite: true, lock: 'none' });
        views.push(view);
        return view;
      },
      growPool(newLength: number): void {
        if (shared.grow === undefined) throw new FerriteError('EROFS', 'the pool file is open read-only');
        shared.grow(newLength);
      },
      shrinkPool(newLength: number): void {
        if (shared.shrink === undefined) throw new FerriteError('EROFS', 'the pool file is open read-only');
        // The shared mapping is remapped shorter and cuts the file (durably); the handle's
        // length follows (a truncation to the length it has: one more fsync, nothing cut).
        shared.shrink(newLength);
        pool.truncate(newLength);
      },
      close(removeWal: boolean): void {
        try {
          queue.waitIdle();
        } catch {
          // A failed program was reported to its commit already; closing goes on.
        }
        for (const v of views) v.close();
        for (const o of opened.reverse()) o.close();
        if (!removeWal && walCreated) {
          try {
            removeWal = statSync(walPath).size === 0;
          } catch {
            // Gone already.
          }
        }
        if (removeWal && !readOnly) {
          try {
            unlinkSync(walPath);
          } catch {
            // Already gone: nothing to remove.
          }
        }
      },
    };
    return target;
  } catch (err) {
    for (const o of opened.reverse()) o.close();
    throw err;
  }
}

/** The shared mapping: a writer's locked (waiting up to `lockTimeout` ms for another to let go), a reader's unlocked. */
function mapLocked(path: string, readOnly: boolean, forcePmem: boolean | undefined, lockTimeout: number, offline: 'exclusive' | 'shared' | undefined): Mapping {
  const options = { protection: readOnly ? 'r' : 'rw', lock: readOnly ? offline ?? 'none' : 'exclusive', ...(forcePmem !== undefined ? { forcePmem } : {}) } as const;
  const deadline = Date.now() + lockTimeout;
  let step = 1;
  for (;;) {
    try {
      return map(path, options);
    } catch (err) {
      // An empty file cannot be mapped (EINVAL from mmap): it is a damaged pool, as a file of
      // one byte is (found in review: the two said different things).
      if (isFerriteError(err, 'EINVAL') && isEmptyFile(path)) throw new CorruptionError('ECORRUPT', 'file of 0 bytes is shorter than a pool header');
      if (!isFerriteError(err, 'EBUSY') || Date.now() >= deadline) throw err;
      Atomics.wait(SLEEPER, 0, 0, Math.min(step, Math.max(1, deadline - Date.now())));
      step = Math.min(step * 2, 50);
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function isEmptyFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && st.size === 0;
  } catch {
    return false;
  }
}

/**
 * What a live reader of `path` holds beside its shared mapping: the file's identity (whose
 * lock in /proc/locks says a writer is alive) and, made on first use, a writable mapping of
 * the first page for pause requests.
 */
function readerParts(path: string, shared: Mapping): { writerAlive(): boolean; pauseWords(): Int32Array | undefined; close(): void } {
  const id = fileIdentity(path);
  let page: Mapping | undefined;
  let tried = false;
  let words: Int32Array | undefined;
  return {
    writerAlive(): boolean {
      // Unknown (no /proc/locks) counts as alive: a reader then waits, never recovers a copy
      // of a pool a live writer is changing. Only an exclusive lock is a writer: a shared one
      // (an offline backup) keeps writers out, and a reader must not wait for, or read the pool
      // file past, a writer that is not there.
      const holders = flockHoldersOf(id, 'exclusive');
      return holders === undefined || holders.length > 0;
    },
    pauseWords(): Int32Array | undefined {
      if (!tried) {
        tried = true;
        try {
          page = map(path, { protection: 'rw', length: Math.min(shared.length, 4096), lock: 'none' });
          words = new Int32Array(page.bytes.buffer, page.bytes.byteOffset, 1024);
        } catch {
          // No write permission (or a read-only file system): starved reads just retry longer.
          page = undefined;
        }
      }
      return words;
    },
    close(): void {
      page?.close();
    },
  };
}

/**
 * Opens (or, with `create`, creates) the pool in the file `path`. On persistent memory (DAX or
 * `forcePmem`) the writer stores into the shared mapping and flushes cache lines; on an ordinary
 * file it works on a private view and commits through the redo log `<path>.wal` (one device
 * sync per commit). Either way a log left by a crash is replayed first.
 * @throws ENOENT (no file, no `create`), EBUSY (another writer), EEXIST (created meanwhile by
 *   another process), the heap's open errors, EINVAL.
 */
export function openPoolFile(path: string, options: PoolFileOptions = {}): Pool {
  const readOnly = options.readOnly ?? false;
  if (!existsSync(path)) {
    if (options.create !== true) throw new FerriteError('ENOENT', `no pool at ${path} (pass create: true to create one)`);
    if (readOnly) throw new FerriteError('EINVAL', 'cannot create a pool read-only');
    createPoolFile(path, options);
  }
  const target = poolFileTarget(path, {
    readOnly,
    ...(options.forcePmem !== undefined ? { forcePmem: options.forcePmem } : {}),
    ...(options.lockTimeout !== undefined ? { lockTimeout: options.lockTimeout } : {}),
  });
  return heap.Pool.open(target, {
    ...(options.layout !== undefined ? { layout: options.layout } : {}),
    ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    ...(options.checkpointBytes !== undefined ? { checkpointBytes: options.checkpointBytes } : {}),
    ...(options.readTimeout !== undefined ? { readTimeout: options.readTimeout } : {}),
    readOnly,
  });
}

/**
 * Creates the pool file `path` atomically: formatted on a mapping of a file with a temporary
 * name, which gets its name only when the pool is complete and durable.
 */
export function createPoolFile(path: string, options: PoolFileOptions): void {
  const size = options.size;
  if (size === undefined) throw new FerriteError('EINVAL', 'creating a pool needs a size');
  const mapping: Mapping = map(path, {
    create: { size, mode: options.mode ?? 0o600, exclusive: true, publishLater: true },
    ...(options.forcePmem !== undefined ? { forcePmem: options.forcePmem } : {}),
  });
  try {
    const pool = heap.Pool.create(mapping, {
      size,
      ...(options.layout !== undefined ? { layout: options.layout } : {}),
      ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
      ...(options.logCapacity !== undefined ? { logCapacity: options.logCapacity } : {}),
    });
    pool.close();
    // A redo log an earlier file of this name left at <path>.wal names another pool (its uuid):
    // the open that follows ignores it and starts it over.
    mapping.publish();
  } finally {
    mapping.close();
  }
}
