/**
 * Small helpers shared by the collections: reading persistent offsets with validation,
 * hashing and comparing encoded keys in place. Everything here avoids allocation: these run
 * on every `get`.
 */
import { CorruptionError, fmix32 } from '@ferrite/core';

const TWO_32 = 4294967296;

/** Reads a little-endian u64 at `at` as a number (the caller bounds-checks `at`). */
export function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO_32;
}

/** Stores `value` (a safe non-negative integer) as a little-endian u64 at `at`. */
export function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / TWO_32), true);
}

/**
 * Reads a persistent block reference at `at` and checks it could be a block of at least
 * `minSize` bytes inside the pool: a non-zero multiple of 8 with room for `minSize` bytes.
 * 0 means "none" and is returned as is. A damaged pool gives ECORRUPT, never a fault.
 */
export function readRef(view: DataView, at: number, minSize: number, what: string): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return 0;
  const ref = lo + hi * TWO_32;
  // (lo & 7) is ref % 8 (2^32 is a multiple of 8): `%` of a double is a slow fmod loop.
  if (hi >= 0x200000 || (lo & 7) !== 0 || ref + minSize > view.byteLength) {
    throw new CorruptionError('ECORRUPT', `${what}: reference ${ref} at offset ${at} is outside the pool`);
  }
  return ref;
}

/**
 * `readRef` against a pool of `size` bytes (the caller's `bytes.length`, read once): the read
 * path's form. `view.byteLength` is a builtin call in Node 20 (not inlined), and a lookup that
 * asked it per entry and again per key and value paid it three times.
 */
export function readRefIn(view: DataView, size: number, at: number, minSize: number, what: string): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return 0;
  const ref = lo + hi * TWO_32;
  if (hi >= 0x200000 || (lo & 7) !== 0 || ref + minSize > size) outsidePool(what, ref, at);
  return ref;
}

function outsidePool(what: string, ref: number, at: number): never {
  throw new CorruptionError('ECORRUPT', `${what}: reference ${ref} at offset ${at} is outside the pool`);
}

/** `checkInside` against a pool of `size` bytes (see `readRefIn`). */
export function checkWithin(size: number, start: number, length: number, what: string): void {
  if (start < 0 || length < 0 || start + length > size) rangeOutside(what, start, length);
}

function rangeOutside(what: string, start: number, length: number): never {
  throw new CorruptionError('ECORRUPT', `${what}: range [${start}, ${start + length}) is outside the pool`);
}

/** Throws ECORRUPT unless [start, start + length) lies inside the pool. */
export function checkInside(view: DataView, start: number, length: number, what: string): void {
  if (start < 0 || length < 0 || start + length > view.byteLength) {
    throw new CorruptionError('ECORRUPT', `${what}: range [${start}, ${start + length}) is outside the pool`);
  }
}

/**
 * 32-bit hash of bytes[start, start + length): FNV-1a over the bytes (cheap per byte), then
 * murmur3's finaliser so that the low bits used as a bucket index depend on every input bit.
 * Seeded per map so that keys chosen against one map do not collide in another.
 */
export function hashBytes(bytes: Uint8Array, start: number, length: number, seed: number): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  const end = start + length;
  for (let i = start; i < end; i++) {
    h = Math.imul(h ^ bytes[i]!, 0x01000193);
  }
  return fmix32(h);
}

/**
 * `hashBytes` of the bytes `tag` followed by the UTF-16 units of `s`, computed from the string
 * itself, or -1 when a unit of `s` is not ASCII (>= 0x80). For an ASCII string those bytes are
 * exactly its key encoding (codec/keys.ts: the tag, then UTF-8, which is the units themselves),
 * so a read can hash a string key without encoding it first; the result must stay equal to
 * `hashBytes` over the encoding, which the stored entries carry (test/pool-words.test.ts).
 */
export function hashTaggedAscii(tag: number, s: string, seed: number): number {
  let h = Math.imul((0x811c9dc5 ^ seed) ^ tag, 0x01000193);
  // OR of every unit: one test after the loop instead of a branch per unit.
  let units = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    units |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (units >= 0x80) return -1;
  return fmix32(h);
}

/**
 * `hashBytes` of a number key's encoding: the tag `tag`, then the big-endian words `hi`, `lo`
 * (codec/keys.ts, `numberKeyWords`), computed from the words so that a read need not write the
 * encoding. Must stay equal to `hashBytes` over the encoding (test/hash-map-number-keys.test.ts).
 */
export function hashNumberKey(tag: number, hi: number, lo: number, seed: number): number {
  return hashNumberKey32(tag, hi, lo, seed) >>> 0;
}

/**
 * `hashNumberKey` as a signed 32-bit integer (the same bits): what a lookup compares with
 * `getInt32` of an entry's hash word. An unsigned hash of 2^31 or more is no small integer, so
 * V8 boxed it (a heap number, garbage) at every call that did not inline, and compared it as a
 * double; a signed one stays an integer in a register.
 */
export function hashNumberKey32(tag: number, hi: number, lo: number, seed: number): number {
  let h = Math.imul((0x811c9dc5 ^ seed) ^ tag, 0x01000193);
  h = Math.imul(h ^ (hi >>> 24), 0x01000193);
  h = Math.imul(h ^ ((hi >>> 16) & 0xff), 0x01000193);
  h = Math.imul(h ^ ((hi >>> 8) & 0xff), 0x01000193);
  h = Math.imul(h ^ (hi & 0xff), 0x01000193);
  h = Math.imul(h ^ (lo >>> 24), 0x01000193);
  h = Math.imul(h ^ ((lo >>> 16) & 0xff), 0x01000193);
  h = Math.imul(h ^ ((lo >>> 8) & 0xff), 0x01000193);
  h = Math.imul(h ^ (lo & 0xff), 0x01000193);
  return fmix32(h) | 0;
}

/**
 * True when bytes[at, at + 9) is `tag` followed by the big-endian words `hi`, `lo` (a number
 * key's encoding; the caller checked the range lies inside the pool, which `view` and `bytes`
 * both cover).
 */
export function numberKeyEqual(view: DataView, bytes: Uint8Array, at: number, tag: number, hi: number, lo: number): boolean {
  // Signed words on both sides (`hi`, `lo` may come signed or unsigned): integer compares.
  return bytes[at] === tag && view.getInt32(at + 1, false) === (hi | 0) && view.getInt32(at + 5, false) === (lo | 0);
}

/**
 * True when bytes[at, at + 1 + s.length) is `tag` followed by the units of the ASCII string `s`
 * (the caller checked `s` is ASCII and that the range lies inside `bytes`).
 */
export function taggedAsciiEqual(bytes: Uint8Array, at: number, tag: number, s: string): boolean {
  if (bytes[at] !== tag) return false;
  const base = at + 1;
  for (let i = 0; i < s.length; i++) {
    if (bytes[base + i] !== s.charCodeAt(i)) return false;
  }
  return true;
}

/** True when a[0, length) equals b[bStart, bStart + length). */
export function bytesEqual(a: Uint8Array, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[bStart + i]) return false;
  }
  return true;
}

/**
 * Unsigned lexicographic comparison of a[aStart, aStart + aLen) with b[bStart, bStart + bLen):
 * negative, 0 or positive. A proper prefix sorts first.
 */
export function compareBytes(
  a: Uint8Array, aStart: number, aLen: number,
  b: Uint8Array, bStart: number, bLen: number,
): number {
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/** Lengths up to which `NumberList.array` keeps its array (one per length). */
const EXACT_MAX = 64;

/**
 * A list of numbers a collection fills on every write (ranges for the heap, links, blocks to
 * free), reused without allocating. Emptying a JS array (`a.length = 0`) drops its backing
 * store, so the next `push` allocates a new one: ~45 ns and a little garbage per list per write
 * (measured 2026-12-07; a map insert emptied up to six such arrays). The numbers live in a
 * typed array here, and `array()` hands the heap an ordinary array of exactly `length`
 * elements (the heap's `ArrayLike` takes its length from it), made once per length and kept.
 */
export class NumberList {
  private buf: Float64Array;
  /** How many numbers the list holds: buf[0, length). */
  length = 0;
  /** exact[n]: the array `array()` returns for n numbers (n <= EXACT_MAX). */
  private readonly exact: number[][] = [];

  constructor(capacity = 16) {
    this.buf = new Float64Array(capacity);
  }

  push(x: number): void {
    if (this.length === this.buf.length) this.grow();
    this.buf[this.length++] = x;
  }

  push2(a: number, b: number): void {
    if (this.length + 2 > this.buf.length) this.grow();
    this.buf[this.length] = a;
    this.buf[this.length + 1] = b;
    this.length += 2;
  }

  /** The number at `i` (0 <= i < length). */
  at(i: number): number {
    return this.buf[i]!;
  }

  clear(): void {
    this.length = 0;
  }

  /**
   * The numbers as an array of exactly `length` elements: the list's own array for that length
   * (overwritten by the next call), valid until then; the heap reads it and keeps no reference.
   */
  array(): number[] {
    const n = this.length;
    let a = n <= EXACT_MAX ? this.exact[n] : undefined;
    if (a === undefined) {
      a = [];
      for (let i = 0; i < n; i++) a.push(0); // packed, not holey (new Array(n) is holey)
      if (n <= EXACT_MAX) this.exact[n] = a;
    }
    const buf = this.buf;
    for (let i = 0; i < n; i++) a[i] = buf[i]!;
    return a;
  }

  private grow(): void {
    const bigger = new Float64Array(2 * this.buf.length + 2);
    bigger.set(this.buf);
    this.buf = bigger;
  }
}
