/**
 * A Region over a `FileIO` by copying: the whole file is read into memory; `flush` writes the
 * flushed range back to the file, `drain` syncs it. What recovery of a pool on a file runs on
 * when its target offers no shared mapping (the simulated disk): replaying the redo log and
 * rolling back an undo log left by a crash, durably, with plain writes.
 */
import { checkRange, FerriteError } from '@ferrite/core';
import type { FileIO, FileTarget, Granularity, Region } from '@ferrite/core';

export class FileRegion implements Region {
  bytes: Uint8Array;
  readonly granularity: Granularity = 'page';
  readonly isPmem = false;
  readonly writable: boolean;
  private readonly file: FileIO;
  private readonly target: FileTarget;
  private closed = false;

  constructor(target: FileTarget) {
    this.target = target;
    this.file = target.pool;
    this.writable = !target.readOnly;
    this.bytes = new Uint8Array(this.file.length);
    this.file.read(0, this.bytes, 0, this.bytes.length);
  }

  get length(): number {
    return this.bytes.length;
  }

  flush(offset: number, length: number): void {
    this.check();
    checkRange('flush', offset, length, this.bytes.length);
    if (length > 0) this.file.write(offset, this.bytes, offset, length);
  }

  flushRanges(ranges: ArrayLike<number>, count = ranges.length / 2): void {
    for (let i = 0; i < count; i++) this.flush(ranges[2 * i]!, ranges[2 * i + 1]!);
  }

  persistRanges(ranges: ArrayLike<number>, count = ranges.length / 2): void {
    this.flushRanges(ranges, count);
    this.drain();
  }

  drain(): void {
    this.check();
    this.file.sync();
  }

  persist(offset: number, length: number): void {
    this.flush(offset, length);
    this.drain();
  }

  grow(newLength: number): void {
    this.check();
    if (newLength < this.bytes.length) throw new FerriteError('EINVAL', `grow: ${newLength} is below the current length ${this.bytes.length}`);
    this.target.growPool(newLength);
    const bigger = new Uint8Array(newLength);
    bigger.set(this.bytes);
    this.bytes = bigger;
  }

  close(): void {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new FerriteError('ECLOSED', 'region is closed');
    if (!this.writable) throw new FerriteError('EROFS', 'the pool file is open read-only');
  }
}
