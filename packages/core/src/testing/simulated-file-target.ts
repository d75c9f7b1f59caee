/**
 * `SimulatedFileTarget`: the `FileTarget` contract (packages/core/src/file-io.ts) on a
 * `SimulatedDisk`, so that a pool on an ordinary file can be crash-tested with the harness:
 * the scenario's `setup` makes a disk and a target over it and returns `disk.region`;
 * `recover` opens a target again with `SimulatedFileTarget.fromRegion(region)`.
 */
import { booleanOption, readOptions, stringOption } from '../arguments.js';
import { checkRange } from '../bounds.js';
import { FerriteError } from '../errors.js';
import type { FileTarget } from '../file-io.js';
import type { Granularity, Region } from '../region.js';
import { retireArray } from './buffer-pool.js';
import { SimulatedDisk, type SimulatedFile } from './simulated-disk.js';
import { SimulatedIoQueue, type SimulatedIoQueueOptions } from './simulated-io-queue.js';
import type { SimulatedRegion } from './simulated-region.js';

/** Options of `SimulatedFileTarget`. */
export interface SimulatedFileTargetOptions {
  /** The disk's file that holds the pool (default 'pool'). */
  pool?: string;
  /** The disk's file that holds the redo log (default 'wal'). */
  wal?: string;
  /** A read-only open: the files refuse writes and growth (EACCES). Default false. */
  readOnly?: boolean;
  /**
   * Offer `shared`, a view of the pool file's page cache (as a MAP_SHARED mapping). Default
   * false: commits then write the pool file range by range.
   */
  shared?: boolean;
  /** Options of the target's `SimulatedIoQueue` (`autoRun`). */
  queue?: SimulatedIoQueueOptions;
}

/**
 * A `FileTarget` over two files of a `SimulatedDisk`. Its writes and syncs are events of
 * `disk.region` (crash points); its private views are plain memory, whose stores and flushes
 * are no events and never reach the disk.
 */
export class SimulatedFileTarget implements FileTarget {
  readonly kind = 'file-target';
  readonly disk: SimulatedDisk;
  readonly pool: SimulatedFile;
  readonly wal: SimulatedFile;
  readonly queue: SimulatedIoQueue;
  readonly readOnly: boolean;
  readonly shared?: SharedFileView;
  private closed = false;

  /**
   * A target over the files `options.pool` and `options.wal` of `disk` (new handles on them).
   * @throws ENOENT when the disk lacks either file; EINVAL when they are the same file.
   */
  constructor(disk: SimulatedDisk, options: SimulatedFileTargetOptions = {}) {
    const fn = 'SimulatedFileTarget';
    const o = readOptions(fn, options, ['pool', 'wal', 'readOnly', 'shared', 'queue']);
    const poolName = stringOption(fn, 'pool', o.pool, 'pool');
    const walName = stringOption(fn, 'wal', o.wal, 'wal');
    if (poolName === walName) throw new FerriteError('EINVAL', `${fn}: the pool and the log are one file '${poolName}'`);
    this.readOnly = booleanOption(fn, 'readOnly', o.readOnly, false);
    this.disk = disk;
    this.pool = disk.file(poolName, { readOnly: this.readOnly });
    this.wal = disk.file(walName, { readOnly: this.readOnly });
    this.queue = new SimulatedIoQueue(o.queue as SimulatedIoQueueOptions | undefined);
    if (booleanOption(fn, 'shared', o.shared, false)) this.shared = new SharedFileView(disk, this.pool);
  }

  /**
   * A target over the disk a crash image holds: what a restart opens (`recover` of a crash
   * scenario). Same as `new SimulatedFileTarget(SimulatedDisk.fromRegion(region), options)`.
   */
  static fromRegion(region: SimulatedRegion, options: SimulatedFileTargetOptions = {}): SimulatedFileTarget {
    return new SimulatedFileTarget(SimulatedDisk.fromRegion(region), options);
  }

  /**
   * A private copy of the pool file as its page cache holds it now, growable: stores into it
   * stay in memory, and nothing it does is an event or reaches the disk. (A private mapping
   * would show later changes of the file in pages not stored into; the writer's own commits
   * are the only writes to the pool file, and they write what the copy holds, so a copy
   * shows the same.)
   * @throws ECLOSED after `close`.
   */
  openPrivate(): Region {
    this.checkOpen('openPrivate');
    const bytes = new Uint8Array(this.pool.length);
    this.pool.read(0, bytes);
    return new PrivateFileView(bytes);
  }

  /**
   * Grows the pool file to `newLength` (its length durable on return, one 'drain' event)
   * and the shared view with it.
   * @throws as `SimulatedFile.grow` (EACCES read-only, ENOSPC past the extent, EINVAL).
   */
  growPool(newLength: number): void {
    this.checkOpen('growPool');
    this.pool.grow(newLength);
    this.shared?.refresh();
  }

  /**
   * Truncates the pool file to `newLength` (its length durable on return, one 'drain' event;
   * `SimulatedFile.truncate`) and the shared view with it.
   * @throws as `SimulatedFile.truncate` (EACCES read-only, EINVAL above the length).
   */
  shrinkPool(newLength: number): void {
    this.checkOpen('shrinkPool');
    this.pool.truncate(newLength);
    this.shared?.refresh();
  }

  /**
   * Closes both files and the shared view. With `removeWal` the redo log is removed first
   * (`disk.remove`: empty, durably; one 'drain' event). Idempotent. Makes nothing else durable.
   * @throws EACCES for `removeWal` on a read-only target (nothing is closed).
   */
  close(removeWal: boolean): void {
    if (this.closed) return;
    if (removeWal && this.readOnly) throw new FerriteError('EACCES', 'close: a read-only target does not remove its log');
    if (removeWal) this.disk.remove(this.wal.name);
    this.closed = true;
    this.pool.close();
    this.wal.close();
    this.shared?.close();
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new FerriteError('ECLOSED', `${what}: the file target is closed`);
  }
}

/**
 * The shared view of a simulated pool file: `bytes` is the file's page cache itself (a
 * window of the disk region's live bytes), so a store into it is a dirty page of the file at
 * once, which may reach the disk at any moment. `flush` is a write() without effect and
 * `persist` / `persistRanges` an fdatasync of the covering pages, as on the 'file' region
 * (events of it); `drain` does nothing. `pool.sync()` is what the contract uses.
 *
 * Not a full Region in one respect: `close` cannot detach `bytes` (a window of a larger
 * array), so a store through an array kept past close still reaches the page cache.
 */
export class SharedFileView implements Region {
  readonly granularity: Granularity = 'file';
  readonly isPmem = false;
  readonly writable: boolean;
  private view: Uint8Array = new Uint8Array(0);
  private closed = false;

  constructor(private readonly disk: SimulatedDisk, private readonly file: SimulatedFile) {
    this.writable = !file.readOnly;
    this.refresh();
  }

  /** The pool file's page cache, as long as the file. Re-read after `growPool`. */
  get bytes(): Uint8Array {
    return this.view;
  }

  get length(): number {
    return this.view.length;
  }

  /** @internal After the file grew: a window over its new length. */
  refresh(): void {
    if (this.closed) return;
    const at = this.disk.extentOf(this.file.name).offset;
    this.view = this.disk.region.bytes.subarray(at, at + this.file.length);
  }

  flush(offset: number, length: number): void {
    this.check('flush', offset, length);
    this.disk.region.flush(this.start() + offset, length);
  }

  flushRanges(ranges: ArrayLike<number>, count?: number): void {
    this.disk.region.flushRanges(this.shift('flushRanges', ranges, count));
  }

  persistRanges(ranges: ArrayLike<number>, count?: number): void {
    this.disk.region.persistRanges(this.shift('persistRanges', ranges, count));
  }

  drain(): void {
    this.check('drain', 0, 0);
    this.disk.region.drain();
  }

  persist(offset: number, length: number): void {
    this.check('persist', offset, length);
    this.disk.region.persist(this.start() + offset, length);
  }

  /** Idempotent. `bytes` becomes empty (the old window is not detached; see the class). */
  close(): void {
    this.closed = true;
    this.view = new Uint8Array(0);
  }

  private start(): number {
    return this.disk.extentOf(this.file.name).offset;
  }

  private check(what: string, offset: number, length: number): void {
    if (this.closed) throw new FerriteError('ECLOSED', `${what}: the shared view is closed`);
    checkRange(what, offset, length, this.view.length);
  }

  /** The ranges validated against the view and moved to the disk region's offsets. */
  private shift(what: string, ranges: ArrayLike<number>, count: number | undefined): number[] {
    if (this.closed) throw new FerriteError('ECLOSED', `${what}: the shared view is closed`);
    const pairs = count ?? Math.floor(ranges.length / 2);
    if (!Number.isSafeInteger(pairs) || pairs < 0 || pairs * 2 > ranges.length) {
      throw new FerriteError('EINVAL', `${what}: count ${String(count)} does not fit ${ranges.length} numbers`);
    }
    const out: number[] = [];
    const start = this.start();
    for (let i = 0; i < pairs; i++) {
      checkRange(what, ranges[2 * i]!, ranges[2 * i + 1]!, this.view.length);
      out.push(start + ranges[2 * i]!, ranges[2 * i + 1]!);
    }
    return out;
  }
}

/**
 * A private view of a simulated pool file (`openPrivate`): plain memory. Flushes, drains and
 * persists validate their ranges and do nothing (no event: none of it is I/O); `grow` keeps
 * the contents, zero-fills and detaches the old array, `shrink` keeps a head of them; `close`
 * detaches `bytes`.
 */
class PrivateFileView implements Region {
  readonly granularity: Granularity = 'page';
  readonly isPmem = false;
  readonly writable = true;
  private array: Uint8Array;
  private closed = false;

  constructor(bytes: Uint8Array) {
    this.array = bytes;
  }

  get bytes(): Uint8Array {
    return this.array;
  }

  get length(): number {
    return this.array.length;
  }

  flush(offset: number, length: number): void {
    this.check('flush');
    checkRange('flush', offset, length, this.array.length);
  }

  flushRanges(ranges: ArrayLike<number>, count?: number): void {
    this.check('flushRanges');
    const pairs = count ?? Math.floor(ranges.length / 2);
    if (!Number.isSafeInteger(pairs) || pairs < 0 || pairs * 2 > ranges.length) {
      throw new FerriteError('EINVAL', `flushRanges: count ${String(count)} does not fit ${ranges.length} numbers`);
    }
    for (let i = 0; i < pairs; i++) checkRange('flushRanges', ranges[2 * i]!, ranges[2 * i + 1]!, this.array.length);
  }

  persistRanges(ranges: ArrayLike<number>, count?: number): void {
    this.flushRanges(ranges, count);
  }

  drain(): void {
    this.check('drain');
  }

  persist(offset: number, length: number): void {
    this.flush(offset, length);
  }

  grow(newLength: number): void {
    this.check('grow');
    if (!Number.isSafeInteger(newLength) || newLength < this.array.length) {
      throw new FerriteError('EINVAL', `grow: new length ${String(newLength)} is not an integer at least ${this.array.length}`);
    }
    const grown = new Uint8Array(newLength);
    grown.set(this.array);
    retireArray(this.array);
    this.array = grown;
  }

  /** Keeps the first `newLength` bytes; the old array is detached. */
  shrink(newLength: number): void {
    this.check('shrink');
    if (!Number.isSafeInteger(newLength) || newLength < 0 || newLength > this.array.length) {
      throw new FerriteError('EINVAL', `shrink: new length ${String(newLength)} is not an integer from 0 to ${this.array.length}`);
    }
    const kept = this.array.slice(0, newLength);
    retireArray(this.array);
    this.array = kept;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    retireArray(this.array);
    this.array = new Uint8Array(0);
  }

  private check(what: string): void {
    if (this.closed) throw new FerriteError('ECLOSED', `${what}: the private view is closed`);
  }
}
