/**
 * `map` and the `Mapping` it returns: a `Region` over an mmap'd file.
 */
import { constants as bufferConstants } from 'node:buffer';
import { FerriteError, isFerriteError } from '@ferrite/core';
import type { Granularity, Region } from '@ferrite/core';
import { binding } from './binding.js';
import type { NativeMapping } from './binding.js';
import { flockHolders } from './locks.js';

/** 'r': read-only (PROT_READ); 'rw': read and write (PROT_READ|PROT_WRITE). */
export type Protection = 'r' | 'rw';

/**
 * Options of `create`: make the file when it does not exist. Creation is atomic: the new file
 * is built without a name (O_TMPFILE; elsewhere under a temporary name in the same
 * directory), sized, allocated and fsync'd, and only then linked at `path` (never replacing a
 * file) and the directory fsync'd. A create that fails or is killed leaves no file at `path`.
 */
export interface CreateOptions {
  /** Size in bytes given to a new (or empty) file; an existing non-empty file keeps its size. */
  size: number;
  /** File mode of a new file (default 0o600), before the umask. */
  mode?: number;
  /** Fail with EEXIST when the file exists (O_EXCL). Default false. */
  exclusive?: boolean;
  /**
   * Needs `exclusive`. The new file gets its name only when `mapping.publish()` is called:
   * until then it is invisible, and closing the mapping (or the process dying) discards it.
   * So a caller can fill the file (format a pool) before anyone can open it. Default false.
   */
  publishLater?: boolean;
}

/** Options of `map`. */
export interface MapOptions {
  /** Byte offset in the file where the mapping starts; a multiple of the page size. Default 0. */
  offset?: number;
  /** Bytes to map; a positive multiple of the page size. Default: file size - offset. */
  length?: number;
  /** Default 'rw'. */
  protection?: Protection;
  /** Create the file when missing (needs protection 'rw'). */
  create?: CreateOptions;
  /**
   * Treat the mapping as persistent memory even when it is not DAX: flushes become
   * clwb/clflushopt + sfence instead of msync. Default: true when the environment variable
   * FERRITE_FORCE_PMEM is '1', else false; an explicit value wins over the variable.
   */
  forcePmem?: boolean;
  /**
   * Map MAP_PRIVATE and writable: stores stay in this process and never reach the file;
   * flush, drain and persist do nothing (they check their arguments only). Pages not stored
   * into show the file's page cache, so what a `FileHandle` writes to the file appears in
   * them. With protection 'r': a shared lock (a private view of a pool opened read-only).
   * With 'rw': the writer's mapping of a file-backed pool — the exclusive lock of a writer,
   * `grow` (of the view only) and `discard`. Default false.
   */
  copyOnWrite?: boolean;
  /**
   * The flock the mapping holds while it lives: 'exclusive' (the default for 'rw': one writer
   * per file; another's is EBUSY), 'shared' (the default for 'r': no writer while it lives), or
   * 'none': no lock — for a reader that must never stop a writer from opening, or a second
   * mapping of a file whose lock the caller holds through another one (the writer's private
   * view of a pool file). With 'none' nothing stops two writers: the caller's lock must.
   */
  lock?: 'exclusive' | 'shared' | 'none';
}

/**
 * The cap on a mapping's length: 2^45 bytes (32 TiB). A process has 128 TiB of address space
 * on x86-64, which Node fragments: a 2^46-byte mapping does not find room.
 */
export const MAX_MAPPING_LENGTH = 2 ** 45;

/**
 * The longest mapping this runtime allows: `MAX_MAPPING_LENGTH`, or less where the runtime's
 * ArrayBuffers are smaller (Node 20: 4 GiB; Node 22 and later: 2^53 - 1 bytes), rounded down
 * to the page size. `map` and `grow` refuse longer ones with ERANGE before touching any file.
 */
export function maxMappingLength(): number {
  const page = binding.pageSize();
  const runtime = Math.floor(bufferConstants.MAX_LENGTH / page) * page;
  return Math.min(MAX_MAPPING_LENGTH, runtime);
}

/**
 * A file mapped into memory. Implements `Region`; obtain one with `map`.
 *
 * Durability: a store into `bytes` is durable once a `persist` (or `flush` then `drain`)
 * covering it has returned. With granularity 'cache-line' that is clwb/clflushopt/clflush
 * of each 64-byte line and an sfence; with 'page' it is msync(MS_SYNC) of each covering
 * page, which is durable when `flush` returns (`drain` does nothing).
 */
export class Mapping implements Region {
  /** The path given to `map`. */
  readonly path: string;
  /** The file offset of `bytes[0]`. */
  readonly offset: number;
  /** The protection given to `map`. */
  readonly protection: Protection;
  /** True when the mapping is MAP_PRIVATE (copyOnWrite). */
  readonly copyOnWrite: boolean;
  /** True when mmap accepted MAP_SYNC: the file is on DAX persistent memory. */
  readonly isDax: boolean;
  /** 'cache-line' when DAX or forced, else 'page'. */
  readonly granularity: Granularity;
  /** DAX or forcePmem. */
  readonly isPmem: boolean;
  /** True for 'rw' and copy-on-write mappings; stores into a read-only mapping fault. */
  readonly writable: boolean;
  /**
   * Present on 'rw' mappings (shared or private) only: see `grow`.
   */
  readonly grow?: (newLength: number) => void;
  /**
   * Present on read-only shared mappings ('r', not copyOnWrite) only: maps the file again at
   * `newLength` bytes (a positive multiple of the page size, within the file), larger or
   * smaller — how a reader follows a pool its writer grew or cut. `bytes` becomes a new array
   * and the old one is detached; the pages are the file's either way. At the same length it is
   * a no-op, unless the fault guard diverted pages of this mapping (`faults` > 0: a read
   * reached past an end the writer cut), which a fresh mapping drops.
   * @throws FerriteError EINVAL (length), ERANGE (past the end of the file; longer than
   *   `maxMappingLength()`), ENOMEM, ECLOSED, EBUSY (a submitted I/O program reads the bytes).
   */
  readonly remap?: (newLength: number) => void;
  /**
   * Present on 'rw' mappings (shared or private) only: see `shrink`.
   */
  readonly shrink?: (newLength: number) => void;

  #native: NativeMapping;
  #bytes: Uint8Array;

  /** @internal Use `map`. */
  constructor(native: NativeMapping, path: string, offset: number, protection: Protection, copyOnWrite: boolean,
    forcePmem: boolean) {
    this.#native = native;
    this.#bytes = new Uint8Array(native.buffer());
    const info = native.info();
    this.path = path;
    this.offset = offset;
    this.protection = protection;
    this.copyOnWrite = copyOnWrite;
    this.isDax = info.dax;
    this.isPmem = info.dax || forcePmem;
    this.granularity = this.isPmem ? 'cache-line' : 'page';
    this.writable = protection === 'rw' || copyOnWrite;
    if (protection === 'rw') {
      this.grow = (newLength: number): void => {
        this.#bytes = new Uint8Array(this.#native.grow(newLength));
      };
      this.shrink = (newLength: number): void => {
        try {
          this.#bytes = new Uint8Array(this.#native.shrink(newLength));
        } catch (err) {
          // The cut of the file can fail after the mapping was made shorter (its old buffer
          // detached): take whichever buffer the mapping holds now, so `bytes` stays usable.
          this.#bytes = new Uint8Array(this.#native.buffer());
          throw err;
        }
      };
    } else if (!copyOnWrite) {
      this.remap = (newLength: number): void => {
        this.#bytes = new Uint8Array(this.#native.remap(newLength));
      };
    }
  }

  /**
   * The mapped bytes, without a copy. Replaced by `grow`; detached (length 0) after `close`.
   * Hold the mapping, not this array.
   */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** The mapped length in bytes; 0 after `close`. */
  get length(): number {
    return this.#bytes.length;
  }

  /** True once `close` (unmap) ran. */
  get closed(): boolean {
    return this.#native.info().closed;
  }

  /**
   * False while a file made with `create.publishLater` has no name yet (see `publish`);
   * true for every other mapping.
   */
  get published(): boolean {
    return this.#native.info().published;
  }

  /**
   * The temporary name of a file made with `create.publishLater`, until `publish` gives it its
   * own; undefined then, and for every other mapping. Another descriptor may be opened on it
   * (`openFile`, read-only) to sync the file from an I/O queue's thread while it is being
   * filled, so that `publish`'s fsync, on the calling thread, finds little left to write.
   */
  get hiddenPath(): string | undefined {
    const p = this.#native.info().hiddenPath;
    return p === '' ? undefined : p;
  }

  /**
   * Gives a file made with `create.publishLater` its name: fsync of the file, a link at
   * `path` that never replaces a file (renameat2 RENAME_NOREPLACE or link, for a named
   * temporary), fsync of the directory. Does nothing when the file has its name already.
   * @throws FerriteError EEXIST (a file appeared at `path` meanwhile: the mapping stays
   *   usable and unnamed), ECLOSED, EIO / ENOSPC... from the file system.
   */
  publish(): void {
    this.#native.publish();
  }

  /**
   * Pages of this mapping where an access faulted (SIGBUS) and that the fault guard replaced
   * with private pages (see README, "When the file system cannot serve a page"); 0 normally. Once it is not 0, every
   * flush, persist, drain and grow throws (ENOSPC when the file system is full, else EIO).
   */
  get faults(): number {
    return this.#native.info().faults;
  }

  /**
   * Throws when the file no longer backs every page of the mapping: another program cut it
   * shorter than the mapping (EIO, "truncated by another program"), or a page faulted (see
   * `faults`: ENOSPC or EIO). Flushes nothing: one fstat, cheap enough to call at every commit.
   * A private (copyOnWrite) mapping's pages that were never stored into show the file, so a
   * cut file makes them read as zeros: the writer of a pool file calls this before it logs
   * what its view holds.
   * @throws FerriteError EIO, ENOSPC, ECLOSED.
   */
  checkFile(): void {
    this.#native.checkFile();
  }

  /**
   * Starts write-back of every cache line (or page, at page granularity) overlapping
   * [offset, offset + length). At page granularity the data is durable on return.
   * @throws FerriteError EINVAL (not a non-negative integer), ERANGE (outside the mapping),
   *   ECLOSED (unmapped), EIO (msync failed).
   */
  flush(offset: number, length: number): void {
    this.#native.flush(offset, length);
  }

  /**
   * `flush` of many ranges in one native call: `ranges` holds (offset, length) pairs, of
   * which the first `count` are used (default: all). Every pair is checked before any is
   * flushed. A Float64Array is read in place; a number[] is copied once.
   * @throws as `flush`, and ERANGE when `count` exceeds the pairs given.
   */
  flushRanges(ranges: ArrayLike<number>, count?: number): void {
    this.#native.flushRanges(ranges, count);
  }

  /**
   * `flushRanges` + `drain` in one native call: every range is durable on return. The shape
   * of a commit. @throws as `flushRanges`; nothing is fenced when a flush fails.
   */
  persistRanges(ranges: ArrayLike<number>, count?: number): void {
    this.#native.persistRanges(ranges, count);
  }

  /** sfence at cache-line granularity; nothing at page granularity. @throws ECLOSED. */
  drain(): void {
    this.#native.drain();
  }

  /** `flush` + `drain` in one native call: the range is durable on return. */
  persist(offset: number, length: number): void {
    this.#native.persist(offset, length);
  }

  /**
   * mprotect of [offset, offset + length): `offset` must be a multiple of the page size and
   * `length` too (or reach the end of the mapping). A store into a page made 'r' kills the
   * process with SIGSEGV, as in C: use it to catch stray writes in tests.
   * @throws FerriteError EINVAL (alignment, protection), ERANGE, EACCES ('rw' on a
   *   read-only mapping), ECLOSED.
   */
  protect(offset: number, length: number, protection: Protection): void {
    if (protection !== 'r' && protection !== 'rw') {
      throw new FerriteError('EINVAL', `protect(${this.path}): protection must be 'r' or 'rw', got ${String(protection)}`);
    }
    this.#native.protect(offset, length, protection === 'rw');
  }

  /**
   * Private (copyOnWrite) mappings only: madvise(MADV_DONTNEED) of the pages of
   * [offset, offset + length). What was stored into them is dropped; they show the file (its
   * page cache) again, and give their memory back. The writer of a file-backed pool calls it
   * for pages it has written to the file, so its private memory stays bounded. `offset` must
   * be a multiple of the page size and `length` too (or reach the end of the mapping).
   * @throws FerriteError EACCES (a shared or read-only mapping: its pages are the file's),
   *   EINVAL (alignment, not a non-negative integer), ERANGE (outside), ECLOSED, EBUSY (a
   *   submitted I/O program writes from those pages and has not finished).
   */
  discard(offset: number, length: number): void {
    this.#native.discard(offset, length);
  }

  /**
   * Unmaps: `bytes` is detached at once (reads give undefined, length 0, DataView and
   * `set` throw TypeError) and the lock is released. Idempotent. Data not yet persisted is
   * not lost from the file (the page cache keeps it) but is not durable either.
   * @throws FerriteError EBUSY while a program submitted to an I/O queue writes from these
   *   bytes and has not finished (closing would make it write zeros).
   */
  close(): void {
    this.#native.unmap();
    // Keep a detached array so that `bytes.length === length === 0` afterwards.
    if (this.#bytes.buffer.byteLength !== 0) this.#bytes = new Uint8Array(0);
  }
}

function invalid(path: string, what: string): FerriteError {
  return new FerriteError('EINVAL', `map(${path}): ${what}`);
}

function optionalInteger(path: string, name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(path, `${name} must be a non-negative safe integer, got ${String(value)}`);
  }
  return value;
}

function optionalBoolean(path: string, name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(path, `${name} must be a boolean, got ${String(value)}`);
  return value;
}

/**
 * Maps the file at `path` into memory and returns it as a `Mapping` (a `Region`).
 *
 * - A 'rw' mapping takes an exclusive flock (non-blocking) on the file; 'r' and copyOnWrite
 *   mappings take a shared one. A conflicting lock, from this process or another, is
 *   EBUSY, with the holder's pid in the message when /proc/locks names it.
 * - With `create`, a missing file is created atomically (never through a symlink): built
 *   under a temporary name next to it, sized with every block allocated, fsync'd, then
 *   renamed to `path` without replacing anything and the directory fsync'd (see
 *   `CreateOptions`, and README "Creation is atomic"). A create that fails leaves nothing.
 * - A 'rw' mapping never maps a hole: a sparse file's holes are allocated first, or `map`
 *   fails with ENOSPC and the file is left as it was.
 * - MAP_SHARED_VALIDATE|MAP_SYNC is tried first: it succeeds on DAX file systems (isDax,
 *   cache-line granularity); elsewhere the mapping is plain MAP_SHARED.
 * - `copyOnWrite` maps MAP_PRIVATE: stores never reach the file. With 'rw' it is a writer's
 *   mapping (exclusive lock; `grow` extends the view, `discard` drops private pages).
 *
 * @throws FerriteError with code EINVAL (bad option, unaligned offset/length, zero-length
 *   file, a symlink where creation was asked), ENODEV (a directory, FIFO, socket, or a
 *   device that cannot be mapped), ENOENT, EACCES, EBUSY, EEXIST (exclusive create),
 *   ENOMEM (no address space, or the process at vm.max_map_count), ENOSPC (create beyond
 *   the file system; a sparse file's holes that do not fit), ERANGE (offset/length past the end of the file; longer than
 *   `maxMappingLength()`, e.g. above 4 GiB on Node 20).
 */
export function map(path: string, options: MapOptions = {}): Mapping {
  if (typeof path !== 'string' || path.length === 0) {
    throw new FerriteError('EINVAL', `map(${String(path)}): path must be a non-empty string`);
  }
  if (typeof options !== 'object' || options === null) throw invalid(path, 'options must be an object');
  const offset = optionalInteger(path, 'offset', options.offset) ?? 0;
  const length = optionalInteger(path, 'length', options.length);
  const protection = options.protection ?? 'rw';
  if (protection !== 'r' && protection !== 'rw') {
    throw invalid(path, `protection must be 'r' or 'rw', got ${String(protection)}`);
  }
  const copyOnWrite = optionalBoolean(path, 'copyOnWrite', options.copyOnWrite) ?? false;
  const lockOption: unknown = options.lock;
  if (lockOption !== undefined && lockOption !== 'exclusive' && lockOption !== 'shared' && lockOption !== 'none') {
    throw invalid(path, `lock must be 'exclusive', 'shared' or 'none', got ${String(lockOption)}`);
  }
  const lock = lockOption === undefined ? 3 : lockOption === 'none' ? 0 : lockOption === 'shared' ? 1 : 2;
  const forcePmem = optionalBoolean(path, 'forcePmem', options.forcePmem) ?? process.env.FERRITE_FORCE_PMEM === '1';
  let createSize = -1;
  let mode = 0o600;
  let exclusive = false;
  let publishLater = false;
  if (options.create !== undefined) {
    const create: unknown = options.create;
    if (typeof create !== 'object' || create === null) throw invalid(path, 'create must be an object');
    const c = create as CreateOptions;
    const size = optionalInteger(path, 'create.size', c.size);
    if (size === undefined || size === 0) throw invalid(path, 'create.size must be a positive integer');
    createSize = size;
    mode = optionalInteger(path, 'create.mode', c.mode) ?? 0o600;
    exclusive = optionalBoolean(path, 'create.exclusive', c.exclusive) ?? false;
    publishLater = optionalBoolean(path, 'create.publishLater', c.publishLater) ?? false;
  }
  let native: NativeMapping;
  try {
    native = new binding.NativeMapping(path, offset, length ?? -1, protection === 'rw', createSize, mode, exclusive,
      forcePmem, copyOnWrite, publishLater, lock);
  } catch (err) {
    if (isFerriteError(err, 'EBUSY')) {
      const holders = flockHolders(path);
      const who = holders.length > 0 ? ` (held by pid ${holders.join(', ')})` : '';
      throw new FerriteError('EBUSY', err.message + who, { cause: err });
    }
    throw err;
  }
  return new Mapping(native, path, offset, protection, copyOnWrite, forcePmem);
}

/** `mapping.close()`: unmaps; idempotent. */
export function unmap(mapping: Mapping): void {
  mapping.close();
}

/**
 * Makes [offset, offset + length) of the mapping durable: `persist` (flush + drain) in one
 * native call. Cache-line granularity: each line flushed with the best instruction the CPU
 * has, then sfence. Page granularity: msync(MS_SYNC) of the covering pages.
 */
export function sync(mapping: Mapping, offset: number, length: number): void {
  mapping.persist(offset, length);
}

/** `mapping.flush(offset, length)`. */
export function flush(mapping: Mapping, offset: number, length: number): void {
  mapping.flush(offset, length);
}

/** `mapping.flushRanges(ranges, count)`: many flushes, one native call. */
export function flushRanges(mapping: Mapping, ranges: ArrayLike<number>, count?: number): void {
  mapping.flushRanges(ranges, count);
}

/** `mapping.drain()`. */
export function drain(mapping: Mapping): void {
  mapping.drain();
}

/** `mapping.protect(offset, length, protection)`. */
export function protect(mapping: Mapping, offset: number, length: number, protection: Protection): void {
  mapping.protect(offset, length, protection);
}

/**
 * Shrinks a 'rw' mapping to `newLength` bytes (a positive multiple of the page size, at most
 * the current length): the tail is given back; `mapping.bytes` becomes a new array and the old
 * one is detached. Offsets below `newLength` stay valid and their contents are kept.
 *
 * - Shared: the file is mapped afresh at the new length, then truncated there and fsync'd (the
 *   new length is durable on return). Nothing else may map the file's tail: another mapping of
 *   it (a private view, another process's) would fault past the new end.
 * - Private (copyOnWrite): only the view shrinks (mremap in place); the pages past the end are
 *   dropped, whatever was stored into them. The file is left as it is: truncate it (through
 *   its shared mapping or `FileHandle.truncate`) after every private view of it is short.
 *
 * @throws FerriteError EACCES (a read-only mapping), EINVAL (bad length; a private mapping
 *   split by `protect`), ENOSPC / EIO (a page faulted earlier, see `faults`), EBUSY (a
 *   submitted I/O program writes from the mapping's bytes), ECLOSED, and the file system's
 *   errors from ftruncate or fsync (the mapping is shorter already; the file may keep its
 *   length: nothing maps its tail any more).
 */
export function shrink(mapping: Mapping, newLength: number): void {
  if (mapping.shrink === undefined) {
    throw new FerriteError('EACCES', `shrink(${mapping.path}): only a 'rw' mapping (shared or private) can shrink`);
  }
  mapping.shrink(newLength);
}

/**
 * Grows a 'rw' mapping to `newLength` bytes (a multiple of the page size, at least the
 * current length); `mapping.bytes` becomes a new array and the old one is detached. Offsets
 * stay valid and contents are kept.
 *
 * - Shared: the file's new blocks are reserved first, then its size is set and fsync'd
 *   (durable before any new offset is used); the file is mapped again at a new address; the
 *   new bytes read as zero. A grow that fails leaves the file (size and allocation) and the
 *   mapping as they were.
 * - Private (copyOnWrite): only the view grows — the file must already be at least
 *   offset + newLength bytes (grow it with `FileHandle.grow`), else ERANGE. The mapping is
 *   extended with mremap, in place or moved with its pages, so every page stored into is
 *   kept (it exists nowhere else); the new bytes show the file. Never mapped afresh.
 *
 * @throws FerriteError EACCES (a read-only mapping), EINVAL (bad length; a private mapping
 *   split by `protect`), ERANGE (longer than `maxMappingLength()`, or than the file system
 *   allows; a private mapping past the end of its file), ENOSPC (the file system is full; or
 *   a page faulted earlier, see `faults`), EIO (another program cut the file shorter than the
 *   mapping: growing would refill it with zeros; or a page faulted), ENOMEM (no address space,
 *   or the process at vm.max_map_count), ECLOSED, EBUSY (a submitted I/O program writes from
 *   the mapping's bytes and has not finished).
 */
export function grow(mapping: Mapping, newLength: number): void {
  if (mapping.grow === undefined) {
    throw new FerriteError('EACCES', `grow(${mapping.path}): only a 'rw' mapping (shared or private) can grow`);
  }
  mapping.grow(newLength);
}
