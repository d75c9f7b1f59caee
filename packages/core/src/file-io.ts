/**
 * Files written with explicit writes and syncs: what a pool on an ordinary file system (not
 * persistent memory) is made durable with.
 *
 * On an ordinary file the kernel may write any dirty page back at any instant, and a sector
 * may tear inside a page being written; only a sync (fdatasync) is a barrier. So a file-backed
 * pool never stores into the file's pages in place before its redo log is durable: the writer
 * works on a private copy of the pool, and each commit writes a redo record to a log file,
 * syncs it, then writes the changed ranges to the pool file (heap: `wal.ts`).
 *
 * Two implementations: file handles of `@ferrite/native` (pwrite, fdatasync; programs of
 * writes and syncs run on a libuv worker thread), and the simulated disk of
 * `@ferrite/core/testing` (page cache and media, crash images with torn sectors).
 */

import type { Region } from './region.js';

/** A file: positional reads and writes, a sync, and growth that allocates. */
export interface FileIO {
  /** The file's length in bytes. */
  readonly length: number;
  /**
   * Writes `length` bytes of `src` from `srcOffset` at `offset` in the file. The range must
   * lie inside the file (`grow` first). Not durable before a `sync`; until then the bytes may
   * reach the media at any moment, in any order, a sector at a time.
   * @throws ERANGE outside the file; EIO / ENOSPC from the system.
   */
  write(offset: number, src: Uint8Array, srcOffset?: number, length?: number): void;
  /** Reads `length` bytes at `offset` into `dst` from `dstOffset`. ERANGE outside the file. */
  read(offset: number, dst: Uint8Array, dstOffset?: number, length?: number): void;
  /** Makes every write made before it durable (fdatasync): the only barrier. EIO on failure. */
  sync(): void;
  /**
   * Makes the file `newLength` bytes long (at least its length), the new bytes zero and
   * allocated, the new length durable when it returns. A failure (ENOSPC) leaves the file as
   * it was.
   */
  grow(newLength: number): void;
  /** Closes the file. Idempotent. */
  close(): void;
}

/** One step of an I/O program (see `IoQueue`). */
export type IoOp =
  /** Writes `data` at `offset` of `file` (`data` must stay unchanged until the program ends). */
  | { readonly op: 'write'; readonly file: FileIO; readonly offset: number; readonly data: Uint8Array }
  /** Syncs `file`: every earlier write of the program (and before it) to it is durable. */
  | { readonly op: 'sync'; readonly file: FileIO };

/**
 * Runs programs of writes and syncs in submission order, one at a time: a program starts only
 * after every earlier one finished. A failing step ends its program (later steps are not run)
 * and every later program fails with the same error, so nothing is written after a failure.
 */
export interface IoQueue {
  /**
   * Runs `ops` now, on the calling thread, after waiting for every program already submitted.
   * Returns when the last op is done. Throws the first failure.
   */
  runNow(ops: readonly IoOp[]): void;
  /**
   * Queues `ops` and returns at once; the promise settles when they are done (resolves) or one
   * failed (rejects). Native: run on a libuv worker thread, so syncs do not block the event loop.
   */
  submit(ops: readonly IoOp[]): Promise<void>;
  /** Blocks until every submitted program has finished (their promises settle afterwards). */
  waitIdle(): void;
  /** Programs submitted and not yet finished. */
  readonly pending: number;
}

/**
 * What a pool on an ordinary file is opened over (instead of a `Region`): the pool file, its
 * redo log file, a queue that runs their writes and syncs in order, and the views of the pool
 * file the writer needs. `@ferrite/native` makes one from a path (`openFileTarget`);
 * `@ferrite/core/testing` makes one on a simulated disk.
 */
export interface FileTarget {
  readonly kind: 'file-target';
  /** The pool file: its syncs, and the writes of commits where there is no `shared` view. */
  readonly pool: FileIO;
  /** The redo log (length 0 when there is none yet). */
  readonly wal: FileIO;
  readonly queue: IoQueue;
  /** True for a read-only open: nothing is ever written to either file. */
  readonly readOnly: boolean;
  /**
   * Optional: a view of the pool file whose stores reach its page cache (MAP_SHARED), the same
   * length as the file. Commits and recovery copy into it instead of a write per range; its
   * `flush` is not used (`pool.sync()` makes its pages durable).
   */
  readonly shared?: Region;
  /**
   * A private, copy-on-write view of the pool file as it is now: the writer's stores stay in
   * memory; pages it has not stored into show the file's current contents. Growable.
   */
  openPrivate(): Region;
  /** Grows the pool file (allocated, durable length) and the shared view, if any. */
  growPool(newLength: number): void;
  /**
   * Optional: truncates the pool file to `newLength` (at most its length) and the shared
   * view with it; the new length is durable when it returns. Private views must have been
   * shrunk (or closed) first: a page of one past the new end of the file would fault.
   * Targets whose pool file cannot shrink do not define it.
   */
  shrinkPool?(newLength: number): void;
  /** Closes both files and the views; `removeWal` deletes the (empty, checkpointed) redo log. */
  close(removeWal: boolean): void;

  // A read-only target may offer what a live reader needs (reads that follow a writer in
  // another process or thread); with `writerAlive` and `shared` the pool is read live.

  /** True while a writer has the pool open (holds its lock). */
  writerAlive?(): boolean;
  /** The redo log as it is now, opened read-only (undefined when there is none); the caller closes it. */
  openWalNow?(): FileIO | undefined;
  /** Maps the shared view again at `length` bytes (the pool grew or shrank under the reader). */
  followPool?(length: number): void;
  /**
   * Words of the pool's first page that the reader may store into (Atomics) to ask the writer
   * to pause; undefined when it cannot (no write permission on the file).
   */
  pauseWords?(): Int32Array | undefined;
}

/** True when `x` is a `FileTarget` (not a `Region` or a path). */
export function isFileTarget(x: unknown): x is FileTarget {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'file-target';
}
