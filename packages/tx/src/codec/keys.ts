/**
 * Order-preserving key encoding.
 *
 * A key is a number, a string, a Uint8Array, or an array of keys (a composite key such as
 * `[parentIno, name]`). `encodeKey` turns it into bytes whose unsigned lexicographic order is
 * the key order defined by `compareKeys`, so sorted collections compare encoded bytes in
 * place, without decoding.
 *
 * Layout: one type tag byte, then the payload.
 *
 *   tag 0x00  end of an array (only inside arrays; sorts before every element, so a prefix
 *             array sorts before any longer array that extends it)
 *   tag 0x10  number: 8 bytes, the IEEE-754 double big-endian with the sign bit flipped for
 *             positive numbers and every bit flipped for negative ones (-0 is stored as 0;
 *             NaN is rejected; ±Infinity are accepted and sort at the ends)
 *   tag 0x20  string: UTF-8 bytes (strings order by Unicode code point; a string with a lone
 *             surrogate is rejected because UTF-8 cannot represent it)
 *   tag 0x30  bytes: the raw bytes
 *   tag 0x40  array: the elements in nested form, then 0x00
 *
 * So across types: numbers < strings < byte arrays < arrays.
 *
 * At top level a string or byte payload runs to the end of the key. Nested (inside an array)
 * it must be self-delimiting: every 0x00 byte is written as 0x00 0xFF and the payload ends
 * with a single 0x00. Because every tag that can follow a terminator is below 0xFF, a shorter
 * payload still sorts first (FoundationDB's tuple layer uses the same trick).
 */
import { FerriteError, TooBigError, invariant } from '@ferrite/core';
import type { KeyCodec } from '../internal/context.js';
import { leftUntouched, rejection } from '../internal/rejection.js';
import { enterEncoding, leaveEncoding } from '../internal/encoding-guard.js';
import { types } from 'node:util';
import { isDetached, typedArrayBuffer, typedArrayLength } from './value-walk.js';

/** A key: a number, a string, bytes, or an array of keys (composite key). */
export type Key = number | string | Uint8Array | readonly Key[];

/**
 * The range bounds allowed for keys of type `K`. A composite (tuple) key is bounded by any of
 * its leading parts, since a prefix sorts before all its extensions: for `[number, string]`
 * keys, `[2]` and `[]` are bounds too, so `range({ gte: [2], lt: [3] })` selects every `[2, …]`.
 * Any other key type is bounded by keys of that type (an array type `T[]` by any `T[]`).
 */
export type KeyPrefix<K extends Key> = K extends readonly Key[] ? TuplePrefix<K> : K;

/** `T` and every leading part of the tuple `T`, down to `[]`; `T` itself for a non-tuple array. */
type TuplePrefix<T extends readonly Key[]> = T extends readonly [...infer Init extends Key[], Key]
  ? T | TuplePrefix<Init>
  : T;

export const TAG_END = 0x00;
export const TAG_NUMBER = 0x10;
export const TAG_STRING = 0x20;
export const TAG_BYTES = 0x30;
export const TAG_ARRAY = 0x40;

/** Default limit on an encoded key, in bytes. */
export const DEFAULT_MAX_KEY_SIZE = 1024;
/** Hard limit on an encoded key, in bytes (`maxKeySize` may not exceed it). */
export const MAX_KEY_SIZE_LIMIT = 4096;
/** Deepest array nesting accepted in a key (explicit bound against runaway recursion). */
export const MAX_KEY_DEPTH = 16;

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const f64Words = new Uint32Array(f64.buffer);
const f64Ints = new Int32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** The indices in `f64Words` of a double's high and low words (constants: a get's bytecode stays small). */
const HI_WORD = LITTLE_ENDIAN ? 1 : 0;
const LO_WORD = 1 - HI_WORD;

/** The encoded length of a number key: its tag and 8 bytes. */
export const NUMBER_KEY_LENGTH = 9;

/**
 * Set by `numberKeyWords`: the 8 bytes after the tag of a number key's encoding, as two
 * big-endian u32 words (NUMBER_KEY_WORDS[0]: bytes 1-4, NUMBER_KEY_WORDS[1]: bytes 5-8).
 */
export const NUMBER_KEY_WORDS = new Uint32Array(2);

/**
 * Puts the encoding of the number key `n` (not NaN, which `encode` refuses) into
 * NUMBER_KEY_WORDS without writing it: what `writeNumber` writes after the tag, computed a word
 * at a time (the same rule: -0 as 0, the sign bit flipped for a positive number, every bit for
 * a negative one). A hash map reads a number key with these words, without encoding it
 * (collections/pool-words.ts, `hashNumberKey`); test/hash-map-number-keys.test.ts checks them
 * against `encode` for every kind of number.
 */
export function numberKeyWords(n: number): void {
  invariant(n === n, 'a number key is not NaN');
  f64[0] = n === 0 ? 0 : n;
  const hi = f64Words[HI_WORD]!;
  const lo = f64Words[LO_WORD]!;
  if (hi >= 0x80000000) {
    NUMBER_KEY_WORDS[0] = ~hi;
    NUMBER_KEY_WORDS[1] = ~lo;
  } else {
    NUMBER_KEY_WORDS[0] = hi ^ 0x80000000;
    NUMBER_KEY_WORDS[1] = lo;
  }
}

/**
 * NUMBER_KEY_WORDS[0] of the number key `n` (not NaN) as a signed 32-bit integer, computed
 * without a branch or a store of the words: the read path's `numberKeyWords`, for a lookup that
 * must stay short (a get's instructions decide how much of one get's cache miss the CPU
 * overlaps with the next's). Leaves `n` in the scratch that `numberKeyLo` reads: call that
 * right after, with no other number key in between.
 */
export function numberKeyHi(n: number): number {
  f64[0] = n === 0 ? 0 : n;
  const hi = f64Ints[HI_WORD]!;
  // hi >> 31 is -1 for a negative number (every bit flipped), else 0 (the sign bit flipped).
  return hi ^ ((hi >> 31) | 0x80000000);
}

/** NUMBER_KEY_WORDS[1] of the number key last given to `numberKeyHi`, signed. */
export function numberKeyLo(): number {
  return f64Ints[LO_WORD]! ^ (f64Ints[HI_WORD]! >> 31);
}

/**
 * Encodes keys into a reusable scratch buffer. `encode` returns a view of that buffer, valid
 * until the next `encode` call on the same codec; copy it (`slice`) to keep it.
 */
export class OrderedKeyCodec implements KeyCodec {
  readonly maxKeySize: number;
  private readonly scratch: Uint8Array;
  private readonly views: (Uint8Array | undefined)[] = [];
  private pos = 0;
  /**
   * True while an array or binary key is being encoded: reading a composite key's elements
   * may run user code (a Proxy's traps). The Store refuses writes then; a read from there encodes its
   * key with `inner`, so the outer encode's scratch and position stay intact.
   */
  private active = false;
  private inner: OrderedKeyCodec | undefined = undefined;
  /** How many encodes this codec's encode is nested in (0 for the store's own codec). */
  private level = 0;

  constructor(maxKeySize: number = DEFAULT_MAX_KEY_SIZE) {
    if (!Number.isSafeInteger(maxKeySize) || maxKeySize < 16 || maxKeySize > MAX_KEY_SIZE_LIMIT) {
      throw new FerriteError('EINVAL', `maxKeySize must be an integer in [16, ${MAX_KEY_SIZE_LIMIT}], got ${String(maxKeySize)}`);
    }
    this.maxKeySize = maxKeySize;
    this.scratch = new Uint8Array(maxKeySize);
  }

  /**
   * Encodes `key`. EINVAL for an unsupported key (NaN, a lone surrogate, another type, nesting
   * deeper than MAX_KEY_DEPTH); ETOOBIG when the encoding exceeds `maxKeySize`.
   */
  encode(key: unknown): Uint8Array {
    if (this.active) return this.reentered().encode(key);
    if (typeof key === 'string') {
      // The common case, kept short: tag + UTF-8, no recursion, no user code.
      this.scratch[0] = TAG_STRING;
      this.pos = 1;
      this.writeString(key, false);
    } else if (typeof key === 'number') {
      // No user code either: no guard needed.
      this.pos = 0;
      this.writeNumber(key);
    } else {
      this.active = true;
      enterEncoding();
      try {
        this.pos = 0;
        this.writeKey(key, false, 0);
      } catch (err) {
        // Ours (EINVAL, ETOOBIG) or the user's own, from a Proxy trap: raised before any write.
        throw leftUntouched(err);
      } finally {
        this.active = false;
        leaveEncoding();
      }
    }
    return this.view(this.pos);
  }

  /** True while a key is being encoded and user code may run (see `active`). */
  get isEncoding(): boolean {
    return this.active;
  }

  /** The codec for an encode entered from inside an encode (made on first need, then kept). */
  private reentered(): OrderedKeyCodec {
    if (this.inner === undefined) {
      // Bounded: each level keeps a scratch of maxKeySize bytes for the codec's lifetime.
      if (this.level + 1 >= MAX_KEY_DEPTH) {
        throw rejection(new FerriteError('EINVAL', `key encodes nest deeper than ${MAX_KEY_DEPTH} (a key's element access keeps reading the store)`));
      }
      const inner = new OrderedKeyCodec(this.maxKeySize);
      inner.level = this.level + 1;
      this.inner = inner;
    }
    return this.inner;
  }

  /**
   * A view of scratch[0, length). Views are made once per length and reused, so encoding
   * allocates nothing once warm (the get path's budget is a fraction of a microsecond).
   */
  private view(length: number): Uint8Array {
    let v = this.views[length];
    if (v === undefined) {
      v = this.scratch.subarray(0, length);
      this.views[length] = v;
    }
    return v;
  }

  /** Like `encode`, but returns a fresh copy the caller may keep. */
  encodeCopy(key: unknown): Uint8Array {
    return this.encode(key).slice();
  }

  /** Decodes bytes[start, end) produced by `encode`. ECORRUPT when they are not a valid key. */
  decode(bytes: Uint8Array, start: number, end: number): Key {
    const reader = { pos: start };
    const key = readKey(bytes, reader, end, false, 0);
    if (reader.pos !== end) throw corrupt('trailing bytes after key');
    return key;
  }

  private reserve(n: number): void {
    if (this.pos + n > this.maxKeySize) {
      throw new TooBigError(`key encoding exceeds maxKeySize (${this.maxKeySize} bytes)`);
    }
  }

  private writeKey(key: unknown, nested: boolean, depth: number): void {
    if (typeof key === 'string') {
      this.reserve(1);
      this.scratch[this.pos++] = TAG_STRING;
      this.writeString(key, nested);
    } else if (typeof key === 'number') {
      this.writeNumber(key);
    } else if (types.isUint8Array(key)) {
      // Its length by the built-in getter: an own `length` of the user's object (found in
      // review: a 10-byte key stored as 2 bytes) must not change the key.
      const length = typedArrayLength(key);
      // A detached buffer reads as empty: refused rather than taken for the empty key.
      if (length === 0 && isDetached(typedArrayBuffer(key))) throw rejection(new FerriteError('EINVAL', 'a key is a Uint8Array whose buffer was detached'));
      this.reserve(1);
      this.scratch[this.pos++] = TAG_BYTES;
      this.writeBytes(key, length, nested);
    } else if (Array.isArray(key)) {
      if (depth >= MAX_KEY_DEPTH) throw rejection(new FerriteError('EINVAL', `key arrays nest deeper than ${MAX_KEY_DEPTH}`));
      this.reserve(1);
      this.scratch[this.pos++] = TAG_ARRAY;
      for (let i = 0; i < key.length; i++) this.writeKey(key[i], true, depth + 1);
      this.reserve(1);
      this.scratch[this.pos++] = TAG_END;
    } else {
      throw rejection(new FerriteError('EINVAL', `unsupported key type: ${describe(key)} (keys are numbers, strings, Uint8Arrays or arrays of those)`));
    }
  }

  private writeNumber(n: number): void {
    if (Number.isNaN(n)) throw rejection(new FerriteError('EINVAL', 'NaN is not a valid key'));
    this.reserve(9);
    const out = this.scratch;
    let p = this.pos;
    out[p++] = TAG_NUMBER;
    // -0 and 0 are the same key: normalise so they encode identically.
    f64[0] = n === 0 ? 0 : n;
    const negative = (f64Bytes[LITTLE_ENDIAN ? 7 : 0]! & 0x80) !== 0;
    for (let i = 0; i < 8; i++) {
      const b = f64Bytes[LITTLE_ENDIAN ? 7 - i : i]!;
      out[p++] = negative ? ~b & 0xff : i === 0 ? b ^ 0x80 : b;
    }
    this.pos = p;
  }

  /** `length`: the element count by the built-in getter (`bytes.length` may be an own property). */
  private writeBytes(bytes: Uint8Array, length: number, nested: boolean): void {
    const out = this.scratch;
    if (!nested) {
      this.reserve(length);
      out.set(bytes, this.pos);
      this.pos += length;
      return;
    }
    for (let i = 0; i < length; i++) {
      const b = bytes[i]!;
      if (b === 0) {
        this.reserve(2);
        out[this.pos++] = 0;
        out[this.pos++] = 0xff;
      } else {
        this.reserve(1);
        out[this.pos++] = b;
      }
    }
    this.reserve(1);
    out[this.pos++] = 0;
  }

  private writeString(s: string, nested: boolean): void {
    const out = this.scratch;
    let p = this.pos;
    const limit = this.maxKeySize;
    // Fast path: the worst case (3 bytes per UTF-16 unit, doubled by escaping) fits, so no
    // per-byte bound checks are needed.
    const worst = s.length * (nested ? 6 : 3) + 1;
    const checked = p + worst > limit;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c === 0 && nested) {
          if (checked && p + 2 > limit) throw this.tooBig();
          out[p++] = 0;
          out[p++] = 0xff;
        } else {
          if (checked && p + 1 > limit) throw this.tooBig();
          out[p++] = c;
        }
        continue;
      }
      if (c < 0x800) {
        if (checked && p + 2 > limit) throw this.tooBig();
        out[p++] = 0xc0 | (c >> 6);
        out[p++] = 0x80 | (c & 0x3f);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) {
          throw rejection(new FerriteError('EINVAL', 'a string key contains a lone surrogate (not representable in UTF-8)'));
        }
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        if (checked && p + 4 > limit) throw this.tooBig();
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 0x3f);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
        continue;
      }
      if (checked && p + 3 > limit) throw this.tooBig();
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
    if (nested) {
      if (p + 1 > limit) throw this.tooBig();
      out[p++] = 0;
    }
    this.pos = p;
  }

  private tooBig(): TooBigError {
    return new TooBigError(`key encoding exceeds maxKeySize (${this.maxKeySize} bytes)`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function corrupt(what: string): FerriteError {
  return new FerriteError('ECORRUPT', `invalid key encoding: ${what}`);
}

function readKey(bytes: Uint8Array, r: { pos: number }, end: number, nested: boolean, depth: number): Key {
  if (r.pos >= end) throw corrupt('missing tag');
  const tag = bytes[r.pos++]!;
  switch (tag) {
    case TAG_NUMBER: {
      if (r.pos + 8 > end) throw corrupt('short number');
      const negative = (bytes[r.pos]! & 0x80) === 0;
      for (let i = 0; i < 8; i++) {
        const b = bytes[r.pos + i]!;
        f64Bytes[LITTLE_ENDIAN ? 7 - i : i] = negative ? ~b & 0xff : i === 0 ? b ^ 0x80 : b;
      }
      r.pos += 8;
      return f64[0]!;
    }
    case TAG_STRING:
      return decodeUtf8(readPayload(bytes, r, end, nested));
    case TAG_BYTES:
      return readPayload(bytes, r, end, nested);
    case TAG_ARRAY: {
      if (depth >= MAX_KEY_DEPTH) throw corrupt('arrays nested too deep');
      const out: Key[] = [];
      for (;;) {
        if (r.pos >= end) throw corrupt('unterminated array');
        if (bytes[r.pos] === TAG_END) {
          r.pos++;
          return out;
        }
        out.push(readKey(bytes, r, end, true, depth + 1));
      }
    }
    default:
      throw corrupt(`unknown tag 0x${tag.toString(16)}`);
  }
}

/** Reads a string/bytes payload: to `end` at top level, unescaping up to the 0x00 terminator when nested. */
function readPayload(bytes: Uint8Array, r: { pos: number }, end: number, nested: boolean): Uint8Array {
  if (!nested) {
    const out = bytes.slice(r.pos, end);
    r.pos = end;
    return out;
  }
  // First pass: find the terminator and the unescaped length.
  let i = r.pos;
  let length = 0;
  for (;;) {
    if (i >= end) throw corrupt('unterminated payload');
    const b = bytes[i]!;
    if (b === 0) {
      if (i + 1 < end && bytes[i + 1] === 0xff) {
        i += 2;
        length++;
        continue;
      }
      break;
    }
    i++;
    length++;
  }
  const out = new Uint8Array(length);
  let o = 0;
  for (let j = r.pos; j < i; j++) {
    const b = bytes[j]!;
    out[o++] = b;
    if (b === 0) j++; // skip the 0xFF escape
  }
  invariant(o === length, 'unescaped payload length');
  r.pos = i + 1;
  return out;
}

// ignoreBOM: a key that begins with U+FEFF keeps it (the default decoder drops a leading BOM,
// which read back a different key: iteration, ranges and compaction saw 'id' for '\uFEFFid').
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array): string {
  // Short ASCII strings are the common case; avoid TextDecoder's call overhead for them.
  if (bytes.length <= 32) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) { ascii = false; break; }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw corrupt('invalid UTF-8 in string');
  }
}

/**
 * Compares two byte ranges as unsigned lexicographic byte strings (the order of encoded keys):
 * negative, zero or positive. Compares in place, allocating nothing.
 */
export function compareBytes(
  a: Uint8Array, aStart: number, aEnd: number,
  b: Uint8Array, bStart: number, bEnd: number,
): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

function typeRank(k: Key): number {
  if (typeof k === 'number') return 1;
  if (typeof k === 'string') return 2;
  if (types.isUint8Array(k)) return 3;
  return 4;
}

/** Compares strings by Unicode code point (the UTF-8 byte order), not by UTF-16 unit. */
function compareStrings(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
}

/**
 * The key order, on JavaScript values: numbers (numerically; -0 equals 0) < strings (by
 * code point) < Uint8Arrays (bytewise) < arrays (element by element; a prefix sorts first).
 * `compareKeys(a, b)` has the sign of comparing `encode(a)` with `encode(b)` bytewise.
 */
export function compareKeys(a: Key, b: Key): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number') {
    const bn = b as number;
    return a < bn ? -1 : a > bn ? 1 : 0;
  }
  if (typeof a === 'string') return compareStrings(a, b as string);
  if (types.isUint8Array(a)) {
    const bb = b as Uint8Array;
    return compareBytes(a, 0, typedArrayLength(a), bb, 0, typedArrayLength(bb));
  }
  const aa = a as readonly Key[];
  const ba = b as readonly Key[];
  const n = Math.min(aa.length, ba.length);
  for (let i = 0; i < n; i++) {
    const d = compareKeys(aa[i]!, ba[i]!);
    if (d !== 0) return d;
  }
  return aa.length - ba.length;
}
