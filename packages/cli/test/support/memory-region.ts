/** A plain writable Region over a private array: no persistence to model, ranges checked. */
import { FerriteError } from '@ferrite/core';
import type { Granularity, Region } from '@ferrite/core';

export class MemoryRegion implements Region {
  readonly granularity: Granularity = 'cache-line';
  readonly isPmem = false;
  readonly writable = true;
  constructor(public bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.length;
  }
  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new FerriteError('ERANGE', `range ${offset}+${length} outside ${this.bytes.length}`);
    }
  }
  flush(offset: number, length: number): void {
    this.check(offset, length);
  }
  flushRanges(ranges: ArrayLike<number>, count = ranges.length / 2): void {
    for (let i = 0; i < count; i++) this.check(ranges[2 * i], ranges[2 * i + 1]);
  }
  drain(): void {}
  persist(offset: number, length: number): void {
    this.check(offset, length);
  }
  close(): void {}
}
