/**
 * A copy of a pool's bytes taken while its writer keeps writing: pre-copy with dirty tracking.
 *
 * The store is single-threaded: a transaction never interleaves with a synchronous step of the
 * copy. The copy watches the heap's durable writes (`Mem.watcher`: every range a transaction
 * flushes, fresh blocks and allocator metadata included) and marks the 4 KiB units they touch
 * as dirty. It starts with every unit dirty and copies them in slices, a short synchronous
 * step each (the caller yields to the event loop between steps), clearing each unit's mark as
 * it copies it: a later write marks it again. A unit is clean only while the destination
 * holds what the pool holds there. When few dirty bytes are left, `finish` copies them all in
 * one step, with the pool's metadata area [0, heapOffset) — its header (written without the
 * watcher, at growth) and the undo log's generation word (stored by a sealed commit without a
 * flush) — so the destination then equals the pool at that instant: a committed state, since
 * no step runs inside a transaction.
 *
 * Not tracked, and not needed: the undo log's entries on a pool file (a scratch log, never
 * flushed). A stale one in the copy belongs to an older generation and carries no checksum, so
 * no recovery ever takes it for a pending transaction.
 *
 * Growth: when the pool grows, its new bytes are dirty. The destination is allocated as the copy
 * reaches it (DEST_GROWTH at a time). A pool never shrinks while a copy runs (the store
 * refuses `shrink` then).
 */
import { invariant } from '@ferrite/core';
import type { Pool } from '@ferrite/heap';
import type { Destination } from './destination.js';

/** Dirty tracking unit: 4 KiB (a page). */
const UNIT_SHIFT = 12;
const UNIT = 1 << UNIT_SHIFT;
/**
 * The destination is allocated this much at a time, as the copy reaches it (allocating a
 * whole 1 GiB file at once would hold the event loop for as long as the file system takes
 * to reserve it). A multiple of the pool's chunk size.
 */
export const DEST_GROWTH = 64 << 20;

export class PoolCopy {
  /** One bit per unit of the pool: set = the destination may differ from the pool there. */
  private dirty = new Uint32Array(0);
  private nDirty = 0;
  /** Where the next step looks for dirty units (a unit index). */
  private cursor = 0;
  /** Bytes of the pool the destination covers (its length follows the pool's size). */
  private length = 0;
  private watching = false;
  /** Passes over the pool (1 + the number of times the cursor came back to the start). */
  rounds = 1;
  /** Bytes copied so far, re-copies included. */
  copiedBytes = 0;

  constructor(
    private readonly pool: Pool,
    private readonly dest: Destination,
  ) {}

  /** Starts watching the pool's writes; every byte of it is to copy. */
  start(watch: boolean): void {
    this.length = this.pool.size;
    this.mark(0, this.length);
    if (!watch) return;
    const mem = this.pool.mem;
    invariant(mem.watcher === undefined, 'one copy watches a pool at a time');
    mem.watcher = this.watch;
    this.watching = true;
  }

  /** Stops watching (idempotent): after `finish`, or when the copy is abandoned. */
  stop(): void {
    if (!this.watching) return;
    this.watching = false;
    const mem = this.pool.mem;
    if (mem.watcher === this.watch) mem.watcher = undefined;
  }

  /** Dirty bytes left (an upper bound: whole units). */
  get pending(): number {
    return this.nDirty * UNIT;
  }

  /** Bytes of the pool now (what a progress report counts against). */
  get total(): number {
    return this.length;
  }

  private readonly watch = (offset: number, length: number): void => {
    this.mark(offset, length);
  };

  private mark(offset: number, length: number): void {
    if (length <= 0) return;
    const first = offset >>> UNIT_SHIFT;
    const last = Math.floor((offset + length - 1) / UNIT);
    if (last >= this.dirty.length * 32) this.reserve(last + 1);
    const d = this.dirty;
    for (let u = first; u <= last; u++) {
      const w = u >>> 5;
      const bit = 1 << (u & 31);
      if ((d[w]! & bit) === 0) {
        d[w] = d[w]! | bit;
        this.nDirty++;
      }
    }
  }

  private reserve(units: number): void {
    const words = Math.max(Math.ceil(units / 32), this.dirty.length * 2);
    const grown = new Uint32Array(words);
    grown.set(this.dirty);
    this.dirty = grown;
  }

  /** The pool grew: its new bytes are to copy (the destination grows as the copy gets there). */
  private follow(): void {
    const size = this.pool.size;
    invariant(size >= this.length, 'a pool being copied does not shrink');
    if (size === this.length) return;
    this.mark(this.length, size - this.length);
    this.length = size;
  }

  /** Makes the destination at least `end` bytes long: DEST_GROWTH more at a time, at most the pool. */
  private reach(end: number): void {
    if (this.dest.length >= end) return;
    this.dest.grow(Math.min(this.length, Math.max(end, this.dest.length + DEST_GROWTH)));
  }

  /**
   * One step: copies dirty units from the cursor on until `budget` bytes are copied or every
   * unit was looked at, and has the destination written back to its disk in the background.
   * Returns the bytes copied. Must not run inside a transaction.
   */
  step(budget: number): number {
    invariant(!this.pool.inTransaction, 'a copy step runs between transactions');
    this.follow();
    const units = Math.ceil(this.length / UNIT);
    let copied = 0;
    // Each unit is looked at once at most per step: the loop ends.
    for (let seen = 0; seen < units && copied < budget && this.nDirty > 0; ) {
      if (this.cursor >= units) {
        this.cursor = 0;
        this.rounds++;
      }
      const run = this.takeRun(units, Math.max(1, Math.ceil((budget - copied) / UNIT)));
      seen += run.looked;
      if (run.count === 0) continue;
      const from = run.start * UNIT;
      const to = Math.min(this.length, (run.start + run.count) * UNIT);
      this.copy(from, to);
      copied += to - from;
    }
    if (copied > 0) this.dest.writeBackLater();
    return copied;
  }

  /**
   * From the cursor: skips clean units, then takes (clears) a run of at most `max` dirty ones,
   * stopping at the end of the pool. Returns the run and how many units were looked at.
   */
  private takeRun(units: number, max: number): { start: number; count: number; looked: number } {
    const d = this.dirty;
    let u = this.cursor;
    // Skip clean units a word at a time where a whole word is clean.
    while (u < units) {
      const w = u >>> 5;
      if ((u & 31) === 0 && d[w] === 0) u += 32;
      else if ((d[w]! & (1 << (u & 31))) === 0) u++;
      else break;
    }
    const looked0 = Math.min(u, units) - this.cursor;
    if (u >= units) {
      this.cursor = units;
      return { start: 0, count: 0, looked: Math.max(1, looked0) };
    }
    const start = u;
    while (u < units && u - start < max && (d[u >>> 5]! & (1 << (u & 31))) !== 0) {
      d[u >>> 5] = d[u >>> 5]! & ~(1 << (u & 31));
      this.nDirty--;
      u++;
    }
    this.cursor = u;
    return { start, count: u - start, looked: looked0 + (u - start) };
  }

  private copy(from: number, to: number): void {
    this.reach(to);
    this.dest.bytes.set(this.pool.bytes.subarray(from, to), from);
    this.copiedBytes += to - from;
  }

  /**
   * The last step, synchronous: copies every dirty unit and the metadata area; afterwards the
   * destination equals the pool (its first `pool.size` bytes) and the copy stops watching.
   * Must not run inside a transaction. Not written back: the destination's publish syncs it.
   */
  finish(): void {
    invariant(!this.pool.inTransaction, 'a copy ends between transactions');
    this.follow();
    this.reach(this.length);
    const units = Math.ceil(this.length / UNIT);
    this.cursor = 0;
    for (let guard = 0; this.nDirty > 0; guard++) {
      invariant(guard <= units, 'the last step copies each unit once');
      const run = this.takeRun(units, units);
      if (run.count === 0) break;
      this.copy(run.start * UNIT, Math.min(this.length, (run.start + run.count) * UNIT));
    }
    this.copy(0, Math.min(this.pool.heapOffset, this.length));
    // Marks past the pool's end (none, unless a watcher saw a range there) are meaningless.
    this.nDirty = 0;
    this.dirty.fill(0);
    this.stop();
    invariant(this.dest.length === this.length, 'the destination is as long as the pool');
  }
}
