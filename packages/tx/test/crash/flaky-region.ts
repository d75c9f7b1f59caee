/**
 * A Region that makes the k-th flush call fail with EIO (the msync-fails model), delegating
 * everything else to a SimulatedRegion. `SimulatedRegion.failFlushes(n)` fails the *next* n
 * calls; this wrapper counts, so a test can fail each flush of a commit in turn.
 */
import { FerriteError, type Region } from '@ferrite/core';
import type { SimulatedRegion } from '@ferrite/core/testing';

export class FlakyRegion implements Region {
  /** Flush calls (flush, flushRanges, persist) seen so far. */
  flushCalls = 0;
  /** The flush call (1-based) that fails; 0 = none. */
  failAt = 0;
  /** How many calls failed. */
  failures = 0;

  constructor(readonly inner: SimulatedRegion) {}

  get bytes(): Uint8Array {
    return this.inner.bytes;
  }
  get length(): number {
    return this.inner.length;
  }
  get granularity(): Region['granularity'] {
    return this.inner.granularity;
  }
  get isPmem(): boolean {
    return this.inner.isPmem;
  }
  get writable(): boolean {
    return this.inner.writable;
  }

  private maybeFail(what: string): void {
    this.flushCalls++;
    if (this.flushCalls === this.failAt) {
      this.failures++;
      throw new FerriteError('EIO', `${what}: injected I/O error (flush call #${this.flushCalls})`);
    }
  }

  flush(offset: number, length: number): void {
    this.maybeFail('flush');
    this.inner.flush(offset, length);
  }
  flushRanges(ranges: ArrayLike<number>, count?: number): void {
    this.maybeFail('flushRanges');
    this.inner.flushRanges(ranges, count);
  }
  drain(): void {
    this.inner.drain();
  }
  persist(offset: number, length: number): void {
    this.maybeFail('persist');
    this.inner.persist(offset, length);
  }
  grow(newLength: number): void {
    this.inner.grow(newLength);
  }
  close(): void {
    this.inner.close();
  }
}
