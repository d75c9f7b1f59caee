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

  constructor(region: Region) {
    this.region = region;
    this.bytes = region.bytes;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Re-reads region.bytes: after region.grow the old array is detached. */
  refresh(): void {
    this.bytes = this.region.bytes;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  flush(offset: number, length: number): void {
    if (length <= 0) return;
    this.flushes += lines(offset, length);
    this.region.flush(offset, length);
  }

  /** Flushes the first `count` (offset, length) pairs of `ranges` in one call. */
  flushRanges(ranges: ArrayLike<number>, count: number): void {
    if (count === 0) return;
    let n = 0;
    for (let i = 0; i < count; i++) n += lines(ranges[2 * i]!, ranges[2 * i + 1]!);
    this.flushes += n;
    this.region.flushRanges(ranges, count);
  }

  /** Appends the generation word's range to `out` when it still needs a flush before a drain. */
  takeGenerationFlush(out: { push(offset: number, length: number): void }): void {
    if (!this.genUnflushed) return;
    this.genUnflushed = false;
    out.push(LOG_GENERATION, 8);
  }

  private flushGeneration(): void {
    if (!this.genUnflushed) return;
    this.genUnflushed = false;
    this.flush(LOG_GENERATION, 8);
  }

  drain(): void {
    this.flushGeneration();
    this.genUnfenced = false;
    this.drains++;
    this.region.drain();
  }

  /**
   * Makes the first `count` pairs of `ranges` durable: one call where the region has
   * `persistRanges` (one native crossing per commit), else flushRanges + drain.
   */
  persistRanges(ranges: ArrayLike<number>, count: number): void {
    if (count === 0) return;
    const region = this.region;
    this.flushGeneration();
    this.genUnfenced = false;
    if (region.persistRanges === undefined) {
      this.flushRanges(ranges, count);
      this.drain();
      return;
    }
    let n = 0;
    for (let i = 0; i < count; i++) n += lines(ranges[2 * i]!, ranges[2 * i + 1]!);
    this.flushes += n;
    this.drains++;
    region.persistRanges(ranges, count);
  }

  persist(offset: number, length: number): void {
    if (offset !== LOG_GENERATION) this.flushGeneration();
    else this.genUnflushed = false;
    this.genUnfenced = false;
    this.flushes += lines(offset, length);
    this.drains++;
    this.region.persist(offset, length);
  }
}

function lines(offset: number, length: number): number {
  if (length <= 0) return 0;
  const first = Math.floor(offset / CACHE_LINE);
  const last = Math.floor((offset + length - 1) / CACHE_LINE);
  return last - first + 1;
}
