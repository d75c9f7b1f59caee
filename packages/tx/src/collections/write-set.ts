/**
 * WriteSet: the "snapshot everything first, then store" discipline of a write operation.
 *
 * An operation plans its stores while the pool still holds the old state (so it can keep
 * reading it), registering each persistent range it will change with `snapshot` and each
 * freshly allocated block with `fresh`. `apply` then snapshots every registered range with ONE
 * `tx.addRanges` call (one drain) and performs the stores in order. Every store is checked to
 * fall inside a snapshotted range or a fresh block: a store the undo log would not cover is a
 * bug in ferrite, caught here instead of as a crash-consistency failure much later.
 */
import type { Pool, Transaction } from '@ferrite/heap';
import { invariant } from '@ferrite/core';
import { writeU64 } from './pool-words.js';

const K_U16 = 0;
const K_U32 = 1;
const K_U64 = 2;
const K_BYTES = 3;

export class WriteSet {
  /** (offset, length) pairs to snapshot. */
  readonly ranges: number[] = [];
  /** (offset, length) pairs of blocks allocated in this transaction (no snapshot needed). */
  private readonly freshBlocks: number[] = [];
  private readonly kinds: number[] = [];
  private readonly offsets: number[] = [];
  private readonly values: number[] = [];
  private readonly blobs: (Uint8Array | undefined)[] = [];

  reset(): void {
    this.ranges.length = 0;
    this.freshBlocks.length = 0;
    this.kinds.length = 0;
    this.offsets.length = 0;
    this.values.length = 0;
    this.blobs.length = 0;
  }

  /** Registers [offset, offset + length) to be snapshotted before any store. */
  snapshot(offset: number, length: number): void {
    if (length > 0) this.ranges.push(offset, length);
  }

  /** Registers a block allocated in the current transaction: stores into it need no snapshot. */
  fresh(offset: number, length: number): void {
    this.freshBlocks.push(offset, length);
  }

  u16(offset: number, value: number): void {
    this.push(K_U16, offset, value, undefined);
  }
  u32(offset: number, value: number): void {
    this.push(K_U32, offset, value, undefined);
  }
  u64(offset: number, value: number): void {
    this.push(K_U64, offset, value, undefined);
  }
  /** Stores `bytes` at `offset`; the array must not change until `apply` (pass a copy of scratch). */
  bytes(offset: number, bytes: Uint8Array): void {
    this.push(K_BYTES, offset, 0, bytes);
  }

  /** One addRanges for everything registered, then every store in registration order. */
  apply(tx: Transaction, pool: Pool): void {
    if (this.ranges.length > 0) tx.addRanges(this.ranges);
    const view = pool.view;
    const bytes = pool.bytes;
    const n = this.kinds.length;
    for (let i = 0; i < n; i++) {
      const kind = this.kinds[i]!;
      const off = this.offsets[i]!;
      const v = this.values[i]!;
      const len = kind === K_U16 ? 2 : kind === K_U32 ? 4 : kind === K_U64 ? 8 : this.blobs[i]!.length;
      // The test first: a message built on every store cost more than the test.
      if (!this.covered(off, len)) invariant(false, `store at [${off}, ${off + len}) is snapshotted or fresh`);
      if (kind === K_U16) view.setUint16(off, v, true);
      else if (kind === K_U32) view.setUint32(off, v, true);
      else if (kind === K_U64) writeU64(view, off, v);
      else bytes.set(this.blobs[i]!, off);
    }
    this.reset();
  }

  private push(kind: number, offset: number, value: number, blob: Uint8Array | undefined): void {
    this.kinds.push(kind);
    this.offsets.push(offset);
    this.values.push(value);
    this.blobs.push(blob);
  }

  private covered(off: number, len: number): boolean {
    const end = off + len;
    for (const list of [this.ranges, this.freshBlocks]) {
      for (let i = 0; i < list.length; i += 2) {
        if (off >= list[i]! && end <= list[i]! + list[i + 1]!) return true;
      }
    }
    return false;
  }
}
