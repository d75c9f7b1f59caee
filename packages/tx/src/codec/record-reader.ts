/**
 * A fast path for decoding the common stored value: one record of a shared structure whose
 * fields are all scalars (small integers, 8/16/32-bit integers, floats, null, booleans, short
 * ASCII strings). It gives exactly what msgpackr's `unpack` gives for those bytes, and for any
 * other bytes it answers MISS and decodes nothing, so the caller falls back to msgpackr.
 *
 * Why: a warm `map.get` measured 0.21 µs, of which 0.08 µs was msgpackr's `unpack` (its
 * per-call set-up of module state, its generic `read` per field, its end checks); a lookup
 * alone (`has`) took 0.13 µs. Issue 5 sets the get at 0.27 of lmdb-js's.
 *
 * The objects are built by one generated function per structure, `(v) => ({ k0: v[0], ... })`,
 * the same shape of code msgpackr generates, so the decoded objects share a hidden class.
 * Only keys that are plain identifiers other than `__proto__` are compiled (a key is never
 * spliced into code unless it matches IDENTIFIER); a structure with any other key decodes
 * through msgpackr, which renames `__proto__` and quotes the rest.
 *
 * The record ids of msgpackr's shared structures: byte 0x40 + id for id < 32
 * (MAX_SHARED_STRUCTURES); in record mode the integers 0x40..0x7f are never written as fixints,
 * so a top-level byte in that range is always a record reference.
 */
import { invariant } from '@ferrite/core';

/**
 * Answer of `read` when the bytes are not on the fast path (nothing was decoded): undefined,
 * which no record decodes to. A symbol made every `decode` compare an object with a symbol,
 * which V8 does with a call to its generic strict-equality builtin.
 */
export const MISS = undefined;

/** Keys compiled into code: identifiers only (no quoting, no computed keys). */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Most fields a compiled structure has; wider records decode through msgpackr. */
export const MAX_FAST_FIELDS = 64;
/** Longest string field decoded here (fixstr holds up to 31 bytes). */
const MAX_FAST_STRING = 31;
const FIRST_RECORD_TOKEN = 0x40;
/** Misses in a row after which a field's last string is left alone for STRING_SKIP reads (see `stringSkips`). */
const STRING_MISSES = 4;
const STRING_SKIP = 64;

type Builder = (values: unknown[]) => object;

/** msgpackr's structure list: arrays of keys, `sharedLength` of them shared (from the pool). */
export type Structures = readonly unknown[] & { readonly sharedLength?: number; readonly uninitialized?: boolean };

export class RecordReader {
  /** Compiled builders by structure id; null: that structure is not on the fast path. */
  private builders: (Builder | null | undefined)[] = [];
  /** The structure each builder was compiled from (a reset or new list invalidates it). */
  private sources: unknown[] = [];
  private readonly values: unknown[] = new Array<unknown>(MAX_FAST_FIELDS).fill(null);
  /**
   * The last string decoded for each field index (any structure): a field that holds the same
   * string again (a name, a kind, a status) is compared in place and answered with that string
   * (equal bytes, all ASCII: the string msgpackr would make), instead of a new one built per
   * read. A get of a record with one 20-byte string field spent a fifth of its decode there.
   */
  private readonly lastStrings: string[] = new Array<string>(MAX_FAST_FIELDS).fill('');
  /**
   * Per field index: the misses of `lastStrings` in a row, and how many more reads skip it. A
   * field whose strings differ read after read (ids, free text) would pay a comparison and a
   * store of the new string (a pointer into a young object: the write barrier's slow path) on
   * every read, 4% of a get: after STRING_MISSES misses in a row it is left alone for
   * STRING_SKIP reads, then tried again.
   */
  private readonly stringMisses = new Int32Array(MAX_FAST_FIELDS);
  /** The bytes of each `lastStrings[i]`, at i * 32: compared as bytes (cheaper than `charCodeAt`). */
  private readonly lastBytes = new Uint8Array(MAX_FAST_FIELDS * (MAX_FAST_STRING + 1));
  /** `lastBytes` as words: a string is compared four bytes per step (see `sameString`). */
  private readonly lastView = new DataView(this.lastBytes.buffer);
  /**
   * The last `bytes` read (the pool's, renewed only when the pool is remapped) and a DataView
   * on it, made once per array: every element access of a typed array checks its bounds and
   * that its buffer is not detached (V8 cannot hoist the check out of a loop here), so a byte
   * loop paid that per byte, half of a get's decode for a 20-byte string; multi-byte fields
   * and strings are read through the DataView, 4 or 8 bytes per access.
   */
  private srcBytes: Uint8Array | undefined = undefined;
  private srcView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private readonly stringSkips = new Int32Array(MAX_FAST_FIELDS);
  /** How many string fields `lastStrings` answered (tests prove that path is taken). */
  stringsReused = 0;
  private readonly maxShared: number;

  /** @param maxShared  number of shared structure ids (record tokens 0x40 .. 0x40 + maxShared) */
  constructor(maxShared: number) {
    invariant(Number.isInteger(maxShared) && maxShared >= 0 && maxShared <= 32, 'shared record ids fit one token byte');
    this.maxShared = maxShared;
  }

  /**
   * The value encoded in bytes[start, end) when it is a fast-path record of `structures`, else
   * MISS. Never throws on any bytes; never reads outside [start, end).
   */
  read(bytes: Uint8Array, start: number, end: number, structures: Structures): object | undefined {
    if (start >= end) return MISS;
    // A range past the end of `bytes` (a caller's error, or bytes detached since: length 0)
    // would make the DataView on them throw.
    if (end > bytes.length) return MISS;
    if (bytes !== this.srcBytes) this.viewOn(bytes);
    const view = this.srcView;
    const id = bytes[start]! - FIRST_RECORD_TOKEN;
    if (id < 0 || id >= this.maxShared || structures.uninitialized === true) return MISS;
    if (id >= (structures.sharedLength ?? 0)) return MISS;
    const structure = structures[id];
    let build = this.builders[id];
    if (build === undefined || this.sources[id] !== structure) {
      build = compile(structure);
      this.builders[id] = build;
      this.sources[id] = structure;
    }
    if (build === null) return MISS;
    const n = (structure as unknown[]).length;
    const v = this.values;
    let p = start + 1;
    for (let i = 0; i < n; i++) {
      if (p >= end) return MISS;
      const t = bytes[p++]!;
      if (t < 0x40) {
        v[i] = t; // positive fixint (0x40..0x7f are record ids in record mode)
      } else if (t >= 0xe0) {
        v[i] = t - 0x100; // negative fixint
      } else if (t >= 0xa0 && t < 0xc0) {
        const len = t - 0xa0; // fixstr
        if (len > MAX_FAST_STRING || p + len > end) return MISS;
        const skips = this.stringSkips[i]!;
        const last = this.lastStrings[i]!;
        if (skips === 0 && last.length === len && sameString(view, p, this.lastView, i * (MAX_FAST_STRING + 1), len)) {
          v[i] = last;
          this.stringMisses[i] = 0;
          this.stringsReused++;
        } else {
          let ascii = 0;
          for (let j = 0; j < len; j++) ascii |= bytes[p + j]!;
          if (ascii >= 0x80) return MISS; // non-ASCII: msgpackr's UTF-8 decoding
          const str = asciiString(bytes, p, len);
          v[i] = str;
          if (skips > 0) {
            this.stringSkips[i] = skips - 1;
          } else {
            this.lastStrings[i] = str;
            const lb = this.lastBytes;
            const at = i * (MAX_FAST_STRING + 1);
            for (let j = 0; j < len; j++) lb[at + j] = bytes[p + j]!;
            const misses = this.stringMisses[i]! + 1;
            if (misses >= STRING_MISSES) {
              this.stringMisses[i] = 0;
              this.stringSkips[i] = STRING_SKIP;
            } else this.stringMisses[i] = misses;
          }
        }
        p += len;
      } else {
        switch (t) {
          case 0xc0: v[i] = null; break;
          case 0xc2: v[i] = false; break;
          case 0xc3: v[i] = true; break;
          case 0xcc:
            if (p + 1 > end) return MISS;
            v[i] = bytes[p]!; p += 1; break;
          // Multi-byte fields big-endian, as msgpack writes them: one DataView read each.
          case 0xcd:
            if (p + 2 > end) return MISS;
            v[i] = view.getUint16(p); p += 2; break;
          case 0xce:
            if (p + 4 > end) return MISS;
            v[i] = view.getUint32(p); p += 4; break;
          case 0xd0:
            if (p + 1 > end) return MISS;
            v[i] = view.getInt8(p); p += 1; break;
          case 0xd1:
            if (p + 2 > end) return MISS;
            v[i] = view.getInt16(p); p += 2; break;
          case 0xd2:
            if (p + 4 > end) return MISS;
            v[i] = view.getInt32(p); p += 4; break;
          case 0xca:
            if (p + 4 > end) return MISS;
            v[i] = view.getFloat32(p); p += 4; break;
          case 0xcb:
            if (p + 8 > end) return MISS;
            v[i] = view.getFloat64(p); p += 8; break;
          default:
            return MISS; // arrays, maps, nested records, binary, extensions, 64-bit integers, longer strings
        }
      }
    }
    if (p !== end) return MISS; // trailing bytes: msgpackr reports them
    return build(v);
  }

  /** Makes `srcView` a DataView on `bytes`. */
  private viewOn(bytes: Uint8Array): void {
    this.srcView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.srcBytes = bytes;
  }

  /** Forgets every compiled structure (the codec's structures were dropped). */
  reset(): void {
    this.builders = [];
    this.sources = [];
  }
}

const fcc = String.fromCharCode;

/**
 * The string of the `len` ASCII bytes at bytes[p] (len <= 31, every byte < 0x80 checked by the
 * caller). ONE `String.fromCharCode` call with every unit as an argument makes a flat string at
 * once. Appending a unit at a time made a chain of cons strings, which cost 3-4x more here for a
 * 20-byte field once read (measured 2026-12-07: 67 against 267 ns); joining two calls (16 units,
 * then the rest) still made a cons string of every field longer than 16 bytes, which V8 flattens
 * when the string is first read: 221 against 78 ns for a 20-byte field made and read once
 * (same day). So each length up to fixstr's 31 has its own call.
 */
function asciiString(b: Uint8Array, p: number, len: number): string {
  return len <= 16 ? shortString(b, p, len) : longString(b, p, len);
}

/** `asciiString` for len <= 16. */
function shortString(b: Uint8Array, p: number, len: number): string {
  switch (len) {
    case 0: return '';
    case 1: return fcc(b[p]!);
    case 2: return fcc(b[p]!, b[p + 1]!);
    case 3: return fcc(b[p]!, b[p + 1]!, b[p + 2]!);
    case 4: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
    case 5: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!);
    case 6: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    case 7: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!);
    case 8: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    case 9: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!);
    case 10: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!);
    case 11: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!);
    case 12: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!);
    case 13: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!);
    case 14: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!);
    case 15: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!);
    case 16: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!);
    default:
      invariant(false, 'a short string is at most 16 bytes');
      return '';
  }
}

/** `asciiString` for 17 <= len <= 31 (a fixstr). */
function longString(b: Uint8Array, p: number, len: number): string {
  switch (len) {
    case 17: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!);
    case 18: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!);
    case 19: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!);
    case 20: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!);
    case 21: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!);
    case 22: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!);
    case 23: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!);
    case 24: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!);
    case 25: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!);
    case 26: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!, b[p + 25]!);
    case 27: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!, b[p + 25]!, b[p + 26]!);
    case 28: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!, b[p + 25]!, b[p + 26]!, b[p + 27]!);
    case 29: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!, b[p + 25]!, b[p + 26]!, b[p + 27]!, b[p + 28]!);
    case 30: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!, b[p + 25]!, b[p + 26]!, b[p + 27]!, b[p + 28]!, b[p + 29]!);
    case 31: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!, b[p + 16]!, b[p + 17]!, b[p + 18]!, b[p + 19]!, b[p + 20]!, b[p + 21]!, b[p + 22]!, b[p + 23]!, b[p + 24]!, b[p + 25]!, b[p + 26]!, b[p + 27]!, b[p + 28]!, b[p + 29]!, b[p + 30]!);
    default:
      invariant(false, 'a fast-path string is at most 31 bytes');
      return '';
  }
}

/**
 * True when the bytes [p, p + n) of `b` equal [q, q + n) of `c` (0 <= n <= 31, both ranges
 * inside their views), compared as 32-bit words (signed: integer compares). The last word
 * first: strings that differ (counters, ids) mostly differ at their end, so a miss costs one
 * comparison, not a walk along a shared prefix.
 */
function sameString(b: DataView<ArrayBufferLike>, p: number, c: DataView<ArrayBufferLike>, q: number, n: number): boolean {
  if (n < 4) {
    for (let j = 0; j < n; j++) {
      if (b.getUint8(p + j) !== c.getUint8(q + j)) return false;
    }
    return true;
  }
  if (b.getInt32(p + n - 4) !== c.getInt32(q + n - 4)) return false;
  // Words from the start; the last one may overlap the word compared above.
  for (let j = 0; j < n - 4; j += 4) {
    if (b.getInt32(p + j) !== c.getInt32(q + j)) return false;
  }
  return true;
}

/** The builder for `structure`, or null when it is not an array of distinct identifier keys. */
function compile(structure: unknown): Builder | null {
  if (!Array.isArray(structure) || structure.length > MAX_FAST_FIELDS) return null;
  const seen = new Set<string>();
  const fields: string[] = [];
  for (let i = 0; i < structure.length; i++) {
    const key: unknown = structure[i];
    if (typeof key !== 'string' || !IDENTIFIER.test(key) || key === '__proto__' || seen.has(key)) return null;
    seen.add(key);
    fields.push(`${key}:v[${i}]`);
  }
  try {
    // Code from data: safe because every key matched IDENTIFIER above (no quote, no operator).
    return new Function('v', `return {${fields.join(',')}}`) as Builder;
  } catch {
    return null; // code generation refused (a locked-down runtime): msgpackr decodes instead
  }
}
