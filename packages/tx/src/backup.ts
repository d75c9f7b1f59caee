/**
 * Backups of a store: `store.backup(path)` while the application keeps reading and writing,
 * `backupPoolFile(src, dest)` of a pool no writer holds, and compaction (`compact: true`): a
 * copy holding only live data. `compactPoolFile` (compact.ts) compacts a pool file in place.
 *
 * A live backup is a pre-copy with dirty tracking by the writer's own Store (backup/pool-copy.ts):
 * slices of the pool copied in short synchronous steps, one per event-loop turn, the ranges
 * written meanwhile copied again, and a last step that copies what is still dirty and the
 * pool's metadata: the copy then equals the pool at that instant, between two transactions —
 * one committed state. That last step first makes every deferred commit durable in the source
 * (`transactionAsync`, `groupCommit`: one log sync), so the copy never holds a transaction its
 * source could still lose. Writes wait only for the step running when they are issued.
 *
 * The destination is written where nobody opens it and named only when it is whole and
 * durable (backup/destination.ts): a failed or killed backup leaves no file at its path. Every
 * copy gets a uuid of its own (a pool's redo log names its pool by uuid: see `stampUuid`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { FerriteError, booleanOption, invalidArgument, invariant, readOptions } from '@ferrite/core';
import * as heap from '@ferrite/heap';
import type { Pool } from '@ferrite/heap';
import { MAX_KEY_SIZE_LIMIT } from './codec/keys.js';
import { MAX_VALUE_SIZE_LIMIT } from './codec/values.js';
import { Destination } from './backup/destination.js';
import { DEST_GROWTH, PoolCopy } from './backup/pool-copy.js';
import { entriesOf, rebuild } from './backup/rebuild.js';
import type { RebuildProgress } from './backup/rebuild.js';
import { Store } from './store.js';
import { poolFileTarget } from './pool-file.js';

/** Options of `store.backup` and `backupPoolFile`. */
export interface BackupOptions {
  /**
   * Write only the live data: every collection rebuilt into a fresh pool (same names, kinds
   * and order; sorted maps and queues in their order), the file cut after its last used chunk,
   * so it is as small as the data. Default false: a copy of the pool's bytes.
   */
  compact?: boolean;
  /** Called after each step with how far the backup is (never inside a transaction). */
  onProgress?: (progress: BackupProgress) => void;
}

/** What `onProgress` receives. */
export interface BackupProgress {
  /** 'copy': the pool's bytes are being copied; 'compact': collections rebuilt into the destination. */
  readonly phase: 'copy' | 'compact';
  /** Bytes ('copy') or entries ('compact') done, of `total`. */
  readonly done: number;
  readonly total: number;
}

/** What a backup returns. */
export interface BackupInfo {
  /** The destination path. */
  readonly path: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** Whether it holds only live data (`compact`). */
  readonly compact: boolean;
  /** The copy's uuid: every copy gets one of its own. */
  readonly uuid: string;
  /** The source pool's uuid. */
  readonly sourceUuid: string;
  /** Collections and entries (map entries, queue values) the copy holds. */
  readonly collections: number;
  readonly entries: number;
  /** Passes over the pool's bytes (1 when nothing was written during the copy). */
  readonly rounds: number;
  /** Bytes of the pool copied, re-copies of ranges written meanwhile included. */
  readonly copiedBytes: number;
  /**
   * The longest synchronous step of a live backup, in milliseconds: the longest it held the
   * event loop, so the longest a write of the application waited for it (0 for a backup of a
   * pool no writer holds, `backupPoolFile`, which is one synchronous call).
   */
  readonly maxPauseMs: number;
  readonly durationMs: number;
}

/** Bytes copied per step of a live backup (one event-loop turn each). */
export const BACKUP_STEP_BYTES = 4 << 20;
/** A live backup ends (its last, synchronous step) once at most this many bytes are dirty... */
export const BACKUP_FINAL_BYTES = 1 << 20;
/** ...or after this many passes over the pool, however much a busy writer keeps dirtying. */
export const BACKUP_MAX_ROUNDS = 8;

/** A backup in progress, as the store sees it (to refuse a second one and stop it at close). */
export interface RunningBackup {
  /** Set by the store when it closes: the backup stops at its next step with this error. */
  aborted: FerriteError | undefined;
}

interface Job {
  readonly store: Store;
  readonly path: string;
  readonly compact: boolean;
  readonly onProgress: ((p: BackupProgress) => void) | undefined;
  /** The store may be written meanwhile: watch it, and take a consistent last step. */
  readonly live: boolean;
  readonly running: RunningBackup;
}

/** Checks `store.backup`'s arguments (EINVAL) before anything is touched. */
export function backupArguments(fn: string, path: unknown, options: unknown): { path: string; compact: boolean; onProgress: ((p: BackupProgress) => void) | undefined } {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw invalidArgument(fn, 'path', 'a non-empty file path', path);
  }
  const o = readOptions(fn, options, ['compact', 'onProgress'] as const);
  const compact = booleanOption(fn, 'compact', o.compact, false);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw invalidArgument(fn, 'option onProgress', 'a function', o.onProgress);
  }
  return { path, compact, onProgress: o.onProgress as ((p: BackupProgress) => void) | undefined };
}

/**
 * The live backup of `store` (what `store.backup` runs): steps one per event-loop turn.
 * `running` is the store's record of it; the store clears it when the promise settles.
 */
export async function backupLive(store: Store, path: string, compact: boolean, onProgress: ((p: BackupProgress) => void) | undefined, running: RunningBackup): Promise<BackupInfo> {
  const steps = backupSteps({ store, path, compact, onProgress, live: !store.readOnly, running });
  // The longest step, measured here around each: everything a step does (making, growing and
  // syncing the destination, the last copy, publishing) holds the event loop.
  let maxPause = 0;
  for (;;) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const t = performance.now();
    const r = steps.next();
    maxPause = Math.max(maxPause, since(t));
    if (r.done === true) return { ...r.value, maxPauseMs: maxPause };
  }
}

/**
 * Backs up the pool file `src`, which no writer may hold meanwhile (it is opened read-only:
 * its shared lock keeps writers out, EBUSY while one holds it), into the new file `dest`.
 * Synchronous. A pool a crash left with a redo log or an interrupted transaction is copied as
 * its next open would find it (the log replayed, the transaction rolled back, in memory), and
 * the source is never written. As `store.backup` otherwise.
 * @throws EBUSY (a writer holds `src`), the errors of `Store.open(src, { readOnly: true })`,
 *   and those of `store.backup`.
 */
export function backupPoolFile(src: string, dest: string, options: BackupOptions = {}): BackupInfo {
  const a = backupArguments('backupPoolFile', dest, options);
  if (typeof src !== 'string' || src.length === 0) throw invalidArgument('backupPoolFile', 'src', 'a non-empty file path', src);
  if (!existsSync(src)) throw new FerriteError('ENOENT', `no pool at ${src}`);
  // Not a live reader (which a writer could change under the copy): a shared lock keeps
  // writers out until the copy is whole.
  const store = Store.open(poolFileTarget(src, { readOnly: true, lock: 'shared' }), { readOnly: true, maxKeySize: MAX_KEY_SIZE_LIMIT, maxValueSize: MAX_VALUE_SIZE_LIMIT });
  try {
    const steps = backupSteps({ store, path: a.path, compact: a.compact, onProgress: a.onProgress, live: false, running: { aborted: undefined } });
    for (;;) {
      const r = steps.next();
      if (r.done === true) return r.value;
    }
  } finally {
    store.close();
  }
}

/** The file mode a copy of `store` gets: its pool file's permissions, 0600 for a region. */
function modeOf(store: Store): number {
  if (store.path === undefined) return 0o600;
  try {
    return statSync(store.path).mode & 0o777;
  } catch {
    return 0o600;
  }
}

/** Elapsed milliseconds since `t0`, rounded to 0.01. */
function since(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}

/**
 * A backup as steps: each `yield` is where a live backup gives the event loop a turn (and where
 * the store may have been written or closed meanwhile).
 */
function* backupSteps(job: Job): Generator<void, BackupInfo, void> {
  const t0 = performance.now();
  const { store, path } = job;
  const pool = store.pool;
  const mode = modeOf(store);
  const report = (phase: BackupProgress['phase'], done: number, total: number): void => {
    job.onProgress?.({ phase, done, total });
  };
  // A live compacting backup first takes a snapshot (a plain copy, never named) and rebuilds
  // from it: rebuilding from the live store would read a state that changes between steps.
  // An offline one rebuilds from the source itself, which no one changes.
  if (job.compact && !job.live) return yield* compactSteps(job, store, pool.uuid, mode, t0, 0, 1);
  // Allocated as the copy reaches it (backup/pool-copy.ts): the first DEST_GROWTH bytes now.
  const snapshot = Destination.create(path, Math.min(pool.size, DEST_GROWTH), { mode, pmem: false });
  const copy = new PoolCopy(pool, snapshot);
  let published = false;
  try {
    copy.start(job.live);
    report('copy', 0, copy.total);
    // Pre-copy: slices, each a short synchronous step; ranges written meanwhile again.
    while (copy.pending > (job.live ? BACKUP_FINAL_BYTES : 0) && copy.rounds <= BACKUP_MAX_ROUNDS) {
      yield;
      checkRunning(job);
      copy.step(BACKUP_STEP_BYTES);
      report('copy', Math.max(0, copy.total - copy.pending), copy.total);
    }
    yield;
    checkRunning(job);
    // The last step: the copy becomes one committed state of the store, all at once.
    if (job.live) pool.makeDurable();
    copy.finish();
    const collections = store.collections();
    const entries = collections.reduce((n, c) => n + c.size, 0);
    report('copy', copy.total, copy.total);
    if (job.compact) {
      // The store is free again: the rest reads the snapshot only.
      const info = yield* compactFromSnapshot(job, snapshot, pool.uuid, mode, t0, copy);
      return info;
    }
    const uuid = new Uint8Array(randomBytes(16));
    heap.stampUuid(snapshot.bytes, uuid);
    const bytes = snapshot.length;
    snapshot.publish();
    published = true;
    return {
      path, bytes, compact: false, uuid: heap.uuidString(uuid), sourceUuid: pool.uuid, collections: collections.length, entries,
      rounds: copy.rounds, copiedBytes: copy.copiedBytes, maxPauseMs: 0, durationMs: since(t0),
    };
  } finally {
    copy.stop();
    if (!published) snapshot.discard();
  }
}

/** A stopped (closed) store ends its backup with the reason. */
function checkRunning(job: Job): void {
  if (job.running.aborted !== undefined) throw job.running.aborted;
  if (job.store.isClosed) throw new FerriteError('ECLOSED', 'the store was closed during its backup');
}

/** The compacting half of a live backup: a read-only store over the snapshot, rebuilt. */
function* compactFromSnapshot(job: Job, snapshot: Destination, sourceUuid: string, mode: number, t0: number, copy: PoolCopy): Generator<void, BackupInfo, void> {
  const frozen = heap.Pool.open(snapshot.region, { readOnly: true });
  const src = Store.fromPool(frozen, { maxKeySize: MAX_KEY_SIZE_LIMIT, maxValueSize: MAX_VALUE_SIZE_LIMIT });
  try {
    return yield* compactSteps(job, src, sourceUuid, mode, t0, copy.copiedBytes, copy.rounds);
  } finally {
    src.close();
  }
}

/**
 * Rebuilds every collection of `src` into a fresh pool at `job.path`: the layout, maxSize and
 * undo log capacity of `src`'s pool, a new uuid; the file cut after its last used chunk, then
 * published.
 */
function* compactSteps(job: Job, src: Store, sourceUuid: string, mode: number, t0: number, copiedBytes: number, rounds: number): Generator<void, BackupInfo, void> {
  const built = yield* buildCompact(src, job.path, mode, job.onProgress);
  try {
    built.dest.publish();
  } catch (err) {
    built.dest.discard();
    throw err;
  }
  return {
    path: job.path, bytes: built.bytes, compact: true, uuid: built.uuid, sourceUuid, collections: built.collections,
    entries: built.entries, rounds, copiedBytes, maxPauseMs: 0, durationMs: since(t0),
  };
}

/** A compacted pool, built and cut, not yet published. */
export interface BuiltCompact {
  readonly dest: Destination;
  readonly bytes: number;
  readonly uuid: string;
  readonly collections: number;
  readonly entries: number;
}

/**
 * Builds the compacted copy of `src` in a new hidden file for `path` (see `compactSteps`); the
 * caller publishes it. Yields after each transaction of the rebuild. On failure nothing is left.
 */
export function* buildCompact(src: Store, path: string, mode: number, onProgress: ((p: BackupProgress) => void) | undefined): Generator<void, BuiltCompact, void> {
  const from: Pool = src.pool;
  // Small to start with: the pool grows as the rebuild fills it, and is cut at the end.
  const initial = Math.min(from.maxSize, from.size, from.heapOffset + 16 * heap.CHUNK_SIZE);
  const dest = Destination.create(path, initial, { mode, pmem: true });
  try {
    const pool = heap.Pool.create(dest.region, {
      size: initial,
      maxSize: from.maxSize,
      layout: from.layout,
      logCapacity: from.heapOffset - heap.LOG_ENTRIES,
    });
    invariant(pool.heapOffset === from.heapOffset, 'the copy keeps the undo log capacity');
    const dst = Store.fromPool(pool, { maxKeySize: MAX_KEY_SIZE_LIMIT, maxValueSize: MAX_VALUE_SIZE_LIMIT });
    let uuid: string;
    const progress: RebuildProgress = { collections: 0, entries: 0, total: entriesOf(src) };
    try {
      onProgress?.({ phase: 'compact', done: 0, total: progress.total });
      for (const _ of rebuild(src, dst, progress)) {
        onProgress?.({ phase: 'compact', done: progress.entries, total: progress.total });
        dest.writeBackLater();
        yield;
      }
      pool.shrink();
      uuid = pool.uuid;
    } finally {
      dst.close();
    }
    return { dest, bytes: dest.length, uuid, collections: progress.collections, entries: progress.entries };
  } catch (err) {
    dest.discard();
    throw err;
  }
}
