/**
 * A Region over a private in-memory copy: used when a read-only open finds an interrupted
 * transaction, so recovery can run without writing to the file (`pool.recoveredInMemory`).
 */
import { checkRange, FerriteError } from '@ferrite/core';
import type { Granularity, Region } from '@ferrite/core';

/**
 * What a writable open would do to the pool file that a read-only open (or a reader) recovered
 * in memory: copy `replayRecords` committed transactions from the redo log into the pool file
 * (a crash after their commit: they are durable and the read sees them), and/or roll back an
 * interrupted transaction (`rollback`: its partial stores are not seen).
 */
export interface PendingRecovery {
  readonly replayRecords: number;
  readonly rollback: boolean;
}

export class PrivateRegion implements Region {
  bytes: Uint8Array;
  /** What the recovery into this copy did (set by the recovery that made it; see `Pool.pendingRecovery`). */
  recovery: PendingRecovery = { replayRecords: 0, rollback: false };
  readonly granularity: Granularity = 'cache-line';
  readonly isPmem = false;
  readonly writable = true;
  private closed = false;

  /** A copy of `source`, zero-extended to `length` bytes (default: its length). */
  constructor(source: Uint8Array, length = source.length) {
    this.bytes = new Uint8Array(Math.max(length, source.length));
    this.bytes.set(source);
  }

  get length(): number {
    return this.bytes.length;
  }

  flush(offset: number, length: number): void {
    this.check();
    checkRange('flush', offset, length, this.bytes.length);
  }

  flushRanges(ranges: ArrayLike<number>, count = ranges.length / 2): void {
    this.check();
    for (let i = 0; i < count; i++) checkRange('flushRanges', ranges[2 * i]!, ranges[2 * i + 1]!, this.bytes.length);
  }

  drain(): void {
    this.check();
  }

  persist(offset: number, length: number): void {
    this.flush(offset, length);
  }

  close(): void {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new FerriteError('ECLOSED', 'region is closed');
  }
}
