/**
 * The heap's window on its Region: cached `bytes` and `DataView` (renewed after growth) and
 * the flush/drain counters behind `pool.stats()`. Every flush and drain of the heap goes
 * through here so the counts are exact.
 */
import { CACHE_LINE } from '@ferrite/core';
import { LOG_GENERATION } from './layout.js';
import type { Region } from '@ferrite/core';

export class Mem {
  region: Region;
  bytes: Uint8Array;
  view: DataView;
  /**
   * The same bytes as 32-bit words (`words[i]` is bytes [4i, 4i + 4)), for copies of aligned
   * ranges below 2^31 (`copyBytes`); undefined when `bytes` does not start on a 4-byte boundary
   * or is too long for one Int32Array.
   */
  words: Int32Array | undefined;
  /** Cache lines flushed / drains issued since the pool was opened. */
  flushes = 0;
  drains = 0;
  /**
   * The generation word was stored by a sealed commit and no drain has followed: its new value
   * may not be durable yet. Every drain clears it, flushing the word first when
   * `genUnflushed` (the next transaction's first drain takes the word into its own flush
   * call: `takeGenerationFlush`).
   */
  genUnfenced = false;
  genUnflushed = false;
  /**
   * The undo log is scratch (a pool on an ordinary file: the region stages writes, and only the
   * ranges of the pool's data reach the file, through the redo log). Its entries and generation
   * word are then never flushed: `persistLog` and a persist of the generation word do nothing.
   */
  readonly scratchLog: boolean;
  /**
   * When set, told of every range the heap flushes or persists (before the region call): a
   * backup in progress tracks what changed since it copied it (@ferrite/tx backup.ts). Every
   * durable change of a transaction passes here, fresh blocks included. Not told: header
   * writes (header.ts writes through the region directly) and, on a scratch log, the undo
   * entries, which are never flushed; a watcher copies [0, heapOffset) again at its end.
   */
  watcher: ((offset: number, length: number) => void) | undefined = undefined;

  constructor(region: Region, options: { scratchLog?: boolean } = {}) {
    this.region = region;
    this.scratchLog = options.scratchLog ?? false;
    this.bytes = region.bytes;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.words = wordsOf(this.bytes);
  }

  /** Re-reads region.bytes: after region.grow the old array is detached. */
  refresh(): void {
    this.bytes = this.region.bytes;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.words = wordsOf(this.bytes);
  }

  /**
   * Copies bytes [from, from + length) to [to, to + length) (the ranges do not overlap): by
   * 32-bit words when both are 4-byte aligned and below 2^31 (a small copy by bytes costs four
   * times the loads and stores; copyWithin's call overhead dominates below a few dozen bytes).
   */
  copyBytes(to: number, from: number, length: number): void {
    const words = this.words;
    if (length > 64) {
      this.bytes.copyWithin(to, from, from + length);
    } else if (words !== undefined && ((to | from | length) & 3) === 0 && to + length <= 0x7fffffff && from + length <= 0x7fffffff) {
      const t = to >> 2;
      const f = from >> 2;
      for (let i = 0, n = length >> 2; i < n; i++) words[t + i] = words[f + i]!;
    } else {
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) bytes[to + i] = bytes[from + i]!;
    }
  }

  flush(offset: number, length: number): void {
    if (length <= 0) return;
    this.flushes += lines(offset, length);
    if (this.watcher !== undefined) this.watcher(offset, length);
    this.region.flush(offset, length);
  }

  /** Flushes the first `count` (offset, length) pairs of `ranges` in one call. */
  flushRanges(ranges: ArrayLike<number>, count: number): void {
    if (count === 0) return;
    let n = 0;
    for (let i = 0; i < count; i++) n += lines(ranges[2 * i]!, ranges[2 * i + 1]!);
    this.flushes += n;
    if (this.watcher !== undefined) this.tell(ranges, count);
    this.region.flushRanges(ranges, count);
  }

  /** Tells the watcher of the first `count` pairs of `ranges`. */
  private tell(ranges: ArrayLike<number>, count: number): void {
    const watcher = this.watcher!;
    for (let i = 0; i < count; i++) if (ranges[2 * i + 1]! > 0) watcher(ranges[2 * i]!, ranges[2 * i + 1]!);
  }

  /**
   * Appends the generation word's range to `out` when it still needs a flush before a drain;
   * the `persistRanges` call that takes `out` clears the flag once it has succeeded.
   */
  takeGenerationFlush(out: { push(offset: number, length: number): void }): void {
    if (!this.genUnflushed || this.scratchLog) return;
    out.push(LOG_GENERATION, 8);
    this.genInBatch = true;
  }

  /**
   * Set by `takeGenerationFlush` until the next `persistRanges`: the word is in that call's
   * ranges. The flags below are cleared only AFTER the region call that flushes (and fences)
   * the word returns: a call that fails (EIO) must leave them set, or the next transaction
   * would overwrite the sealed one's bytes while the media generation still names it, and
   * recovery would judge the sealed transaction against bytes it no longer owns.
   */
  private genInBatch = false;

  private flushGeneration(): void {
    if (!this.genUnflushed) return;
    this.flush(LOG_GENERATION, 8);
    this.genUnflushed = false;
  }

  drain(): void {
    this.flushGeneration();
    this.drains++;
    this.region.drain();
    this.genUnfenced = false;
  }

  /**
   * Makes the first `count` pairs of `ranges` durable: one call where the region has
   * `persistRanges` (one native crossing per commit), else flushRanges + drain.
   */
  persistRanges(ranges: ArrayLike<number>, count: number): void {
    const inBatch = this.genInBatch;
    this.genInBatch = false;
    if (count === 0) return;
    if (!inBatch) this.flushGeneration();
    const region = this.region;
    if (region.persistRanges === undefined) {
      this.flushRanges(ranges, count);
      if (inBatch) this.genUnflushed = false;
      this.drain();
      return;
    }
    let n = 0;
    for (let i = 0; i < count; i++) n += lines(ranges[2 * i]!, ranges[2 * i + 1]!);
    this.flushes += n;
    this.drains++;
    if (this.watcher !== undefined) this.tell(ranges, count);
    region.persistRanges(ranges, count);
    if (inBatch) this.genUnflushed = false;
    this.genUnfenced = false;
  }

  /**
   * Makes the undo log's entries (and the generation word, when they carry it) durable before
   * the stores they protect: `persistRanges`, or nothing when the log is scratch.
   */
  persistLog(ranges: ArrayLike<number>, count: number): void {
    if (this.scratchLog) {
      this.genInBatch = false;
      this.genUnflushed = false;
      this.genUnfenced = false;
      return;
    }
    this.persistRanges(ranges, count);
  }

  persist(offset: number, length: number): void {
    const isGeneration = offset === LOG_GENERATION;
    if (isGeneration && this.scratchLog) {
      this.genUnflushed = false;
      this.genUnfenced = false;
      return;
    }
    if (!isGeneration) this.flushGeneration();
    this.flushes += lines(offset, length);
    this.drains++;
    if (this.watcher !== undefined && length > 0) this.watcher(offset, length);
    this.region.persist(offset, length);
    if (isGeneration) this.genUnflushed = false;
    this.genUnfenced = false;
  }
}

/** Largest Int32Array `wordsOf` makes (V8's typed arrays have a length limit of their own). */
const MAX_WORDS = 2 ** 30;

function wordsOf(bytes: Uint8Array): Int32Array | undefined {
  if (bytes.byteOffset % 4 !== 0 || bytes.byteLength / 4 > MAX_WORDS) return undefined;
  return new Int32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
}

function lines(offset: number, length: number): number {
  if (length <= 0) return 0;
  const first = Math.floor(offset / CACHE_LINE);
  const last = Math.floor((offset + length - 1) / CACHE_LINE);
  return last - first + 1;
}
