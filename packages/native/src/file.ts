/**
 * `openFile` and the `FileHandle` it returns: a `FileIO` (@ferrite/core) over a file
 * descriptor — positional writes and reads, fdatasync, growth that allocates. What a
 * file-backed pool is made durable with (its redo log, and the pool file the writer's private
 * mapping is applied to); see README "Files and the I/O queue".
 */
import { FerriteError } from '@ferrite/core';
import type { FileIO } from '@ferrite/core';
import { binding } from './binding.js';
import type { NativeFile } from './binding.js';

/**
 * The property under which a FileHandle keeps its native file: the native I/O queue reads it
 * to know which descriptor a program's step names (and refuses any other `FileIO`).
 * Symbol.for: one key for every copy of this module a process may load (a bundle beside the
 * package, or two resolutions of it), so a handle made by one copy runs on another's queue.
 * No other object can claim to be a file: the queue unwraps the value as a NativeFile and
 * refuses anything else.
 */
const NATIVE_FILE: unique symbol = Symbol.for('ferrite.nativeFile');
binding.setFileKey(NATIVE_FILE);

/** Options of `create` in `openFile`. */
export interface OpenFileCreateOptions {
  /** File mode of a new file (default 0o600), before the umask. */
  mode?: number;
  /** Fail with EEXIST when the file exists (O_EXCL). Default false. */
  exclusive?: boolean;
}

/** Options of `openFile`. */
export interface OpenFileOptions {
  /**
   * Create the file when it does not exist (empty, length 0). `true` is `{}`. The new file
   * and its name are durable when `openFile` returns (fsync of the file and its directory).
   * Creation never goes through a symbolic link. Needs `readOnly` false.
   */
  create?: boolean | OpenFileCreateOptions;
  /** Open for reading only: `write` and `grow` throw EACCES. Default false. */
  readOnly?: boolean;
}

/** Counters of one file, for stats and benchmarks (queued steps included). */
export interface FileStats {
  /** `write` calls and queued write steps (zero-length ones included). */
  readonly writes: number;
  readonly bytesWritten: number;
  readonly reads: number;
  readonly bytesRead: number;
  /** Successful fdatasyncs. */
  readonly syncs: number;
  readonly grows: number;
}

/**
 * An open file: positional writes and reads from and into Uint8Arrays, fdatasync, growth.
 * Implements `FileIO`. Obtain one with `openFile`.
 *
 * Durability: a `write` puts the bytes in the page cache. A process crash after it returned
 * keeps them (the kernel writes them back); a power loss keeps them only once a `sync`
 * (fdatasync) that started after the write returned. Until then any part of them may or may
 * not be on the disk, a sector at a time.
 *
 * The handle takes no lock (the writer holds the pool's lock through its mapping, and a
 * flock of a second descriptor would conflict with it). It assumes it is the only one to
 * change the file's length: `length` is what it was at open plus its own `grow`s.
 */
export class FileHandle implements FileIO {
  /** The path given to `openFile`. */
  readonly path: string;
  /** True when opened with `readOnly`. */
  readonly readOnly: boolean;
  /** @internal The native file, for the I/O queue. */
  declare readonly [NATIVE_FILE]: NativeFile;

  #native: NativeFile;
  #length: number;
  #closed = false;

  /** @internal Use `openFile`. */
  constructor(native: NativeFile, path: string, readOnly: boolean) {
    this.#native = native;
    this.path = path;
    this.readOnly = readOnly;
    this.#length = native.info().length;
    Object.defineProperty(this, NATIVE_FILE, { value: native, enumerable: false, writable: false });
  }

  /** The file's length in bytes (at open, then as grown); 0 once closed. */
  get length(): number {
    return this.#closed ? 0 : this.#length;
  }

  /** True once `close` ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * pwrite of `length` bytes of `src` from `srcOffset` (defaults: 0 and the rest of `src`)
   * at `offset`, looping over short writes and EINTR. The range must lie inside the file
   * (`grow` first). In the page cache on return, durable after the next `sync`.
   * @throws FerriteError EINVAL (not a Uint8Array, detached, not a safe integer), ERANGE
   *   (outside the file or `src`), EACCES (read-only), ECLOSED, ENOSPC / EIO (the system).
   */
  write(offset: number, src: Uint8Array, srcOffset?: number, length?: number): void {
    this.#native.write(offset, src, srcOffset, length);
  }

  /**
   * pread of `length` bytes at `offset` into `dst` from `dstOffset` (defaults: 0 and the rest
   * of `dst`). Reads what was written, synced or not.
   * @throws FerriteError EINVAL, ERANGE (outside the file or `dst`), ECLOSED, EIO (also when
   *   the file turns out shorter: truncated by another program).
   */
  read(offset: number, dst: Uint8Array, dstOffset?: number, length?: number): void {
    this.#native.read(offset, dst, dstOffset, length);
  }

  /**
   * fdatasync: every write that returned before it is durable when it returns. Once a sync
   * of the file failed, every later one fails too (EIO or ENOSPC): Linux may have dropped
   * the pages it could not write, so a later success would not mean they are on the disk.
   * A writable handle whose file turns out shorter than `length` (another program cut it:
   * the writes past the cut are gone) fails with EIO, and every later sync too.
   * @throws FerriteError EIO, ENOSPC, ECLOSED.
   */
  sync(): void {
    this.#native.sync();
  }

  /**
   * Makes the file `newLength` bytes long (at least `length`; equal does nothing): the new
   * bytes are reserved first (statvfs check, then fallocate past the end), then the size is
   * set and fsync'd, so they are allocated, read as zero, and the new length is durable when
   * it returns. A grow that fails leaves the file exactly as it was (size, and no block
   * reserved past it). Bytes the file already has past `length` are kept.
   * @throws FerriteError EINVAL (shorter than `length`), ENOSPC (the file system is full),
   *   ERANGE (the file system does not allow that size), EACCES, ECLOSED, EIO.
   */
  grow(newLength: number): void {
    this.#native.grow(newLength);
    this.#length = newLength;
  }

  /**
   * Makes the file `newLength` bytes long (at most its size on disk, which a shared mapping
   * may have changed: `length` then follows; equal cuts nothing and syncs): ftruncate, then
   * fsync, so the new length is durable when it returns. The bytes past the new end are gone;
   * a later `grow` gives zeros there. A mapping of the file must not reach past the new end
   * (`Mapping.shrink` first): a page there would fault.
   * @throws FerriteError EINVAL (longer than the file), EACCES (read-only), EBUSY (programs
   *   submitted to an I/O queue use the file), ECLOSED, EIO from the file system.
   */
  truncate(newLength: number): void {
    try {
      this.#native.truncate(newLength);
    } finally {
      // An fsync that failed after the cut leaves the file short: its length says so.
      if (!this.#closed) this.#length = this.#native.info().length;
    }
  }

  /**
   * Closes the descriptor. Idempotent. Refused while a program submitted to an I/O queue
   * that names this file has not finished: closing under it would either lose its writes or
   * let them land after `close` returned.
   * @throws FerriteError EBUSY (programs in flight: await them or `queue.waitIdle()` first).
   */
  close(): void {
    this.#native.close();
    this.#closed = true;
  }

  /** Counters since open: writes, bytes written, reads, bytes read, syncs, grows. */
  stats(): FileStats {
    return this.#native.stats();
  }
}

function invalid(path: string, what: string): FerriteError {
  return new FerriteError('EINVAL', `openFile(${path}): ${what}`);
}

/**
 * Opens (or creates) the regular file at `path` for positional I/O.
 *
 * - Without `create`, the file must exist (a symbolic link is followed).
 * - With `create`, a missing file is created empty (O_CREAT | O_EXCL | O_NOFOLLOW, `mode`
 *   default 0o600) and it and its directory are fsync'd before `openFile` returns, so the
 *   name survives a power loss. `exclusive`: EEXIST when it exists. Creation never goes
 *   through a symbolic link (EINVAL; EEXIST when exclusive).
 * - No lock is taken (see `FileHandle`).
 *
 * @throws FerriteError EINVAL (bad options, a symlink where creation was asked), ENOENT,
 *   EACCES, EEXIST (exclusive create), ENODEV (not a regular file: a directory, FIFO, device),
 *   ENOMEM (no descriptor left), EIO.
 */
export function openFile(path: string, options: OpenFileOptions = {}): FileHandle {
  if (typeof path !== 'string' || path.length === 0) {
    throw new FerriteError('EINVAL', `openFile(${String(path)}): path must be a non-empty string`);
  }
  if (typeof options !== 'object' || options === null) throw invalid(path, 'options must be an object');
  const readOnly = options.readOnly ?? false;
  if (typeof readOnly !== 'boolean') throw invalid(path, `readOnly must be a boolean, got ${String(readOnly)}`);
  let create = false;
  let mode = 0o600;
  let exclusive = false;
  const c: unknown = options.create ?? false;
  if (c === true) create = true;
  else if (typeof c === 'object' && c !== null) {
    create = true;
    const o = c as OpenFileCreateOptions;
    if (o.mode !== undefined) {
      if (typeof o.mode !== 'number' || !Number.isSafeInteger(o.mode) || o.mode < 0) {
        throw invalid(path, `create.mode must be a non-negative integer, got ${String(o.mode)}`);
      }
      mode = o.mode;
    }
    if (o.exclusive !== undefined) {
      if (typeof o.exclusive !== 'boolean') throw invalid(path, `create.exclusive must be a boolean, got ${String(o.exclusive)}`);
      exclusive = o.exclusive;
    }
  } else if (c !== false) {
    throw invalid(path, `create must be a boolean or an object, got ${String(c)}`);
  }
  const native = new binding.NativeFile(path, create, mode, exclusive, readOnly);
  return new FileHandle(native, path, readOnly);
}
