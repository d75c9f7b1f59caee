/**
 * A set of pool offsets (non-negative safe integers) with a clear that costs nothing: the
 * hash map lists in it the buckets whose stores it keeps until a drain, and clears it after
 * every drain, i.e. after every transaction. A `Set` allocates a new table on every `clear`
 * (measured: 4% of an insert's time, see hash-map.ts); here clearing bumps an epoch.
 *
 * Open addressing with linear probing over a power-of-two table, at most half full; a slot
 * holds a key when its stamp equals the current epoch. Memory stays at the largest size the
 * set reached (twice the most offsets listed at once, 12 bytes each).
 */
import { invariant } from '@ferrite/core';

export class OffsetSet {
  private keys = new Float64Array(64);
  private stamps = new Uint32Array(64);
  private epoch = 1;
  /** Number of offsets in the set. */
  size = 0;

  /** True when `offset` is in the set. */
  has(offset: number): boolean {
    if (this.size === 0) return false;
    const mask = this.keys.length - 1;
    for (let i = hashOf(offset) & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
      if (this.stamps[i] !== this.epoch) return false;
      if (this.keys[i] === offset) return true;
    }
    return false;
  }

  /** Adds `offset` (nothing when present). */
  add(offset: number): void {
    if (2 * (this.size + 1) > this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    for (let i = hashOf(offset) & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
      if (this.stamps[i] !== this.epoch) {
        this.stamps[i] = this.epoch;
        this.keys[i] = offset;
        this.size++;
        return;
      }
      if (this.keys[i] === offset) return;
    }
    invariant(false, 'an offset set at most half full has a free slot');
  }

  /** Empties the set: O(1) (a full scan once every 2^32 - 1 clears, when the epoch wraps). */
  clear(): void {
    this.size = 0;
    if (this.epoch === 0xffffffff) {
      this.stamps.fill(0);
      this.epoch = 1;
    } else {
      this.epoch++;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldStamps = this.stamps;
    const epoch = this.epoch;
    this.keys = new Float64Array(oldKeys.length * 2);
    this.stamps = new Uint32Array(oldKeys.length * 2);
    this.epoch = 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldStamps[i] === epoch) this.add(oldKeys[i]!);
  }
}

/** Offsets are multiples of 8 (slots: of 64): mix the bits above them. */
function hashOf(offset: number): number {
  const lo = (offset / 8) >>> 0;
  const hi = (offset / 0x800000000) >>> 0;
  const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}
