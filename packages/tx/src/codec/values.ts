/**
 * Value encoding: msgpackr with record structures kept in the pool.
 *
 * msgpackr's records encode an object's keys once, in a shared "structure", and each value as
 * a structure id plus its field values, so values stay compact. The structures must outlive the
 * process, so they are stored in a pool block whose offset lives in an 8-byte slot (in the
 * store's registry header). When an encode mints a new structure, the new structure list is
 * written inside the same transaction as the value that needed it: a new block is allocated
 * and filled, the slot is snapshotted and pointed at it, and the old block is freed. If that
 * transaction aborts, the Packr's in-memory structures are dropped and reloaded from the pool
 * at next use, so memory never refers to a structure the pool does not hold.
 *
 * Structures block layout: u32 length, u32 CRC-32C of the payload, payload (msgpack array of
 * arrays of key strings, encoded without records).
 *
 * Decoding tries record-reader.ts first, and encoding record-writer.ts: a record of one shared
 * structure with scalar fields (the usual stored object) is read and written there, with
 * exactly msgpackr's result and bytes, at a half to a third of the cost; anything else is
 * msgpackr's.
 *
 * Which values: value-walk.ts walks each value first, refuses (EVALUE) what cannot come back
 * exactly, and hands msgpackr a copy in which every kind msgpackr would change travels in
 * ferrite's own extension (tagged.ts): -0, lone surrogates, `__proto__` keys, null
 * prototypes, holes, errors, Buffers, boxed primitives. Decoding never changes a prototype.
 * Values written by earlier versions with escaped `__proto__` keys (extension 0x50) still
 * decode (proto-keys.ts).
 *
 * Encoding runs user code (getters, `toJSON`, Proxy traps: in the walk, never inside msgpackr's
 * pack) that may read the store meanwhile: decoding then is safe (msgpackr's unpack keeps its
 * own state, apart from pack's, and it puts back any shared structure an inline record
 * definition overrode) but encoding again is not, so the Store refuses every write while
 * `isEncoding` (internal/encoding-guard.ts). An error thrown by that code propagates unchanged.
 */
import { Packr, REUSE_BUFFER_MODE, RESET_BUFFER_MODE } from 'msgpackr';
import { CorruptionError, FerriteError, TooBigError, crc32c, invariant, isFerriteError } from '@ferrite/core';
import type { Pool, Transaction } from '@ferrite/heap';
import type { ValueCodec } from '../internal/context.js';
import { leftUntouched, rejection } from '../internal/rejection.js';
import { enterEncoding, leaveEncoding } from '../internal/encoding-guard.js';
import './proto-keys.js'; // registers the decoder of values with escaped `__proto__` keys
import './tagged.js'; // registers ferrite's extension (value kinds msgpackr would change)
import { pastExtractLimit } from './extract-limit.js';
import { MISS, RecordReader, type Structures } from './record-reader.js';
import { RecordWriter, UNFIT } from './record-writer.js';
import { ValueWalk } from './value-walk.js';

/** Default limit on an encoded value, in bytes. */
export const DEFAULT_MAX_VALUE_SIZE = 1 << 20;
/** Hard limit on an encoded value, in bytes (`maxValueSize` may not exceed it). */
export const MAX_VALUE_SIZE_LIMIT = 16 << 20;
/**
 * Number of shared structures (record shapes) kept in the pool. Fixed: it determines the
 * encoding of record ids. Objects of further shapes are still encoded correctly, with their
 * keys written inline.
 */
export const MAX_SHARED_STRUCTURES = 32;
/** Largest structures blob accepted when reading it back (defence against a corrupt length). */
const MAX_STRUCTURES_BLOB = 1 << 20;
const BLOB_HEADER = 8;

/**
 * `pack` returns its own buffer (with `start`/`end` set) instead of a new Buffer view, and
 * reuses the same bytes at the next pack: an encode makes no array.
 */
const SCRATCH_MODE = REUSE_BUFFER_MODE | RESET_BUFFER_MODE;
/** Up to this many bytes, `writeEncoded` copies in a loop rather than making a view for `set`. */
const COPY_LOOP_MAX = 64;

/** What `pack` returns in SCRATCH_MODE: its buffer, with the encoding's bounds set on it. */
type PackOutput = Uint8Array & { start?: number; end?: number };

/** msgpackr marks a structures array to be loaded with `uninitialized` (see its unpack.js). */
type StructureList = unknown[] & { uninitialized?: boolean; sharedLength?: number };

/** The payload coder for the structures blob itself: plain msgpack, no records. */
const plain = new Packr({ useRecords: false, moreTypes: false });

/**
 * An upper bound of the bytes a structure takes in the blob (`plain.pack` of arrays of
 * strings): an array header of at most 5 bytes, and per key a string header of at most 5 bytes
 * and at most 3 UTF-8 bytes per UTF-16 unit.
 */
function structureBytesBound(keys: readonly unknown[]): number {
  let bytes = 5;
  for (const k of keys) bytes += 5 + 3 * String(k).length;
  return bytes;
}

export class PoolValueCodec implements ValueCodec {
  readonly maxValueSize: number;
  private readonly pool: Pool;
  private readonly slot: number;
  private readonly packr: Packr;
  /** Set by msgpackr's saveStructures callback during `pack`; persisted after the size check. */
  private pending: StructureList | undefined = undefined;
  private readonly unpackOptions = { start: 0, end: 0 };
  /** Decodes the common record values without msgpackr (record-reader.ts); msgpackr does the rest. */
  private readonly records = new RecordReader(MAX_SHARED_STRUCTURES);
  /** Encodes the common record values without msgpackr (record-writer.ts), byte for byte. */
  private readonly writer = new RecordWriter(MAX_SHARED_STRUCTURES);
  /** Checks every other value and makes the copy msgpackr packs (value-walk.ts). */
  private readonly walk = new ValueWalk();
  /** True while msgpackr packs a value: user code (getters, toJSON) may be running. */
  private encoding = false;
  /** The last encoding: out[outStart, outEnd) (msgpackr's buffer, or a view it returned). */
  private out: Uint8Array = new Uint8Array(0);
  private outStart = 0;
  private outEnd = 0;

  /**
   * @param pool  the pool holding the structures
   * @param slot  offset of the 8-byte slot holding the structures block offset (0 = none yet)
   * @param maxValueSize  largest encoded value, bytes
   */
  constructor(pool: Pool, slot: number, maxValueSize: number = DEFAULT_MAX_VALUE_SIZE) {
    if (!Number.isSafeInteger(maxValueSize) || maxValueSize < 64 || maxValueSize > MAX_VALUE_SIZE_LIMIT) {
      throw new FerriteError('EINVAL', `maxValueSize must be an integer in [64, ${MAX_VALUE_SIZE_LIMIT}], got ${String(maxValueSize)}`);
    }
    this.pool = pool;
    this.slot = slot;
    this.maxValueSize = maxValueSize;
    this.packr = new Packr({
      useRecords: true,
      maxSharedStructures: MAX_SHARED_STRUCTURES,
      // Exact encodings of Set, RegExp, typed arrays, DataView, ArrayBuffer and bigints beyond
      // 64 bits (msgpackr's extensions); the walk hands Uint8Array over as a Buffer, so it
      // stays msgpack `bin` as before, and Errors as ferrite's own extension.
      moreTypes: true,
      // Decoded binary values must be copies: a view into the pool would let a user write
      // into persistent memory outside any transaction, and would detach when the pool grows.
      copyBuffers: true,
      getStructures: (): {}[] => this.loadStructures() as {}[],
      // A shape whose keys would take the blob past its bound is not shared: its keys are
      // written inline in the value, which then counts them against maxValueSize (found in
      // review: long keys failed an invariant, and every new shape after them too).
      shouldShareStructure: (keys: string[]): boolean => this.sharedBytesBound() + structureBytesBound(keys) <= MAX_STRUCTURES_BLOB,
      saveStructures: (structures: {}[]) => {
        this.pending = structures as StructureList;
        return true;
      },
    });
    this.reset();
  }

  /**
   * Encodes `value`. When it needs a new record structure, the structure list is rewritten
   * inside `tx`. EVALUE (value-walk.ts) for a value that cannot be stored exactly, ETOOBIG when
   * the encoding exceeds `maxValueSize`; an error thrown by the value's own code (a getter,
   * `toJSON`, a Proxy trap) propagates unchanged. In each case nothing was written, not even a
   * structure. The returned bytes are a scratch view, valid until the next encode.
   */
  encode(value: unknown, tx: Transaction): Uint8Array {
    const length = this.encodeToScratch(value, tx);
    // A plain Uint8Array, not msgpackr's Buffer: its `slice` copies (Buffer's makes a view).
    const out = this.out;
    return new Uint8Array(out.buffer, out.byteOffset + this.outStart, length);
  }

  /**
   * `encode` without making an array: the encoding stays in msgpackr's buffer (until the next
   * encode) and its length is returned; `writeEncoded` copies it out.
   */
  encodeToScratch(value: unknown, tx: Transaction): number {
    // msgpackr's pack is not re-entrant; the Store refuses every write while `isEncoding`.
    invariant(!this.encoding, 'value encoding is not re-entered (writes are refused during encoding)');
    this.pending = undefined;
    this.encoding = true;
    enterEncoding();
    try {
      const structures = this.structures();
      // User code (getters, toJSON, Proxy traps) runs in the writer's field reads and in the
      // walk, never in msgpackr's pack: what it throws is the user's error, passed on as is.
      let written: number;
      let prepared: unknown;
      try {
        written = this.writer.write(value, structures);
        // UNFIT: the writer read every field once already; walk a copy so no getter runs twice.
        if (written < 0) prepared = this.walk.prepare(written === UNFIT ? this.copyOfFields() : value, this.maxValueSize);
      } catch (err) {
        throw leftUntouched(err);
      }
      if (written >= 0) {
        // A learned structure's keys hold no `__proto__` (record-writer.ts), nothing minted.
        this.out = this.writer.bytes;
        this.outStart = 0;
        this.outEnd = written;
      } else {
        try {
          this.pack(prepared);
        } catch (err) {
          // Damaged structures in the pool, or a gap in the walk (reported as a refusal).
          if (isFerriteError(err)) throw err;
          throw rejection(new FerriteError('EVALUE', `value cannot be encoded: ${err instanceof Error ? err.message : String(err)}; nothing was written`, { cause: err }));
        }
        if (this.pending === undefined) this.writer.learn(prepared, this.out, this.outStart, this.outEnd, structures);
      }
    } catch (err) {
      this.reset();
      throw err;
    } finally {
      this.encoding = false;
      leaveEncoding();
    }
    const pending = this.pending;
    this.pending = undefined;
    const length = this.outEnd - this.outStart;
    if (length > this.maxValueSize) {
      // A structure minted for this value exists only in memory: forget it.
      if (pending !== undefined) this.reset();
      throw new TooBigError(`value encoding is ${length} bytes, over maxValueSize (${this.maxValueSize})`);
    }
    if (pending !== undefined) {
      // msgpackr's buffer is shared by every Packr: persisting packs the structure list into
      // it, so keep a copy of this encoding first (rare: only when a structure is minted).
      this.out = Uint8Array.prototype.slice.call(this.out, this.outStart, this.outEnd); // a copy (Buffer#slice is a view)
      this.outStart = 0;
      this.outEnd = length;
      // Registered first: if anything below throws, the transaction aborts and memory follows.
      tx.onAbort(() => this.reset());
      this.persist(tx, pending);
    }
    return length;
  }

  /**
   * True while a value is being packed, that is while its getters and `toJSON` may run: the
   * Store refuses writes then (internal/encoding-guard.ts).
   */
  get isEncoding(): boolean {
    return this.encoding;
  }

  /** Copies the last encoding to dst[at, at + length) (a loop for short values: no view made). */
  writeEncoded(dst: Uint8Array, at: number): void {
    const src = this.out;
    const end = this.outEnd;
    let i = this.outStart;
    invariant(at >= 0 && at + (end - i) <= dst.length, 'an encoded value is copied inside its destination');
    if (end - i <= COPY_LOOP_MAX) {
      while (i < end) dst[at++] = src[i++]!;
    } else {
      dst.set(src.subarray(i, end), at);
    }
  }

  /** msgpackr's current structure list (loaded lazily by msgpackr; replaced by `reset`). */
  private structures(): Structures {
    return (this.packr as unknown as { structures: Structures }).structures;
  }

  /** A plain object of the fields the record writer read (its keys hold no `__proto__`). */
  private copyOfFields(): Record<string, unknown> {
    const f = this.writer.fields;
    const copy: Record<string, unknown> = {};
    for (let i = 0; i < f.length; i++) {
      copy[f.keys[i]!] = f.values[i];
      f.values[i] = null; // keep no reference to the user's data
    }
    return copy;
  }

  /** Packs into msgpackr's reused buffer and records where the encoding lies. */
  private pack(value: unknown): void {
    const out = this.packr.pack(value, SCRATCH_MODE) as PackOutput;
    this.out = out;
    if (out.start !== undefined && out.end !== undefined) {
      this.outStart = out.start;
      this.outEnd = out.end;
    } else {
      // When an encode minted a structure, msgpackr returns a fresh view instead.
      this.outStart = 0;
      this.outEnd = out.length;
    }
  }

  /** Decodes bytes[start, end) (a fresh value; binary values are copies, not pool views). */
  decode(bytes: Uint8Array, start: number, end: number): unknown {
    const fast = this.records.read(bytes, start, end, this.structures());
    if (fast !== MISS) return fast;
    const o = this.unpackOptions;
    // msgpackr is handed only the value's bytes: it checks `end` only once a value is complete,
    // so a count read from damaged bytes (a reader's overtaken attempt) made it read on through
    // the rest of the pool, building arrays until the process ran out of memory. Past 4 GiB it
    // reads a copy (extract-limit.ts).
    const source = pastExtractLimit(bytes, end) ? bytes.slice(start, end) : bytes.subarray(start, end);
    o.start = 0;
    o.end = end - start;
    try {
      return this.packr.unpack(source, o);
    } catch (err) {
      // The bytes came from the pool: msgpackr failing on them means they are damaged; except
      // the call stack running out (a deep value read from deep in the caller's own stack).
      if (isFerriteError(err)) throw err;
      if (err instanceof RangeError && /call stack/i.test(err.message)) {
        throw new FerriteError('ERANGE', `value bytes [${start}, ${end}) are nested too deeply to decode from this deep in the call stack (the value is not damaged: read it from a shallower call)`, { cause: err });
      }
      throw new CorruptionError('ECORRUPT', `value bytes [${start}, ${end}) do not decode: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Drops the in-memory structures; they are reloaded from the pool on next use. */
  reset(): void {
    const fresh: StructureList = [];
    fresh.uninitialized = true;
    fresh.sharedLength = 0;
    (this.packr as unknown as { structures: StructureList }).structures = fresh;
    this.records.reset();
    this.writer.reset();
  }

  /** Every pool block this codec owns (the structures block, if any). */
  *ownedBlocks(): Iterable<number> {
    const off = this.pool.readU64(this.slot);
    if (off !== 0) yield off;
  }

  /** Number of shared structures currently stored in the pool. */
  structureCount(): number {
    return this.loadStructures().length;
  }

  /** An upper bound of the blob's bytes for the structures shared now (see structureBytesBound). */
  private sharedBytesBound(): number {
    const list = (this.packr as unknown as { structures: StructureList }).structures;
    const shared = list.sharedLength ?? list.length;
    let bytes = 5; // the outer array's header
    for (let i = 0; i < shared && i < list.length; i++) {
      const s = list[i];
      if (Array.isArray(s)) bytes += structureBytesBound(s as unknown[]);
    }
    return bytes;
  }

  private persist(tx: Transaction, structures: StructureList): void {
    const list: string[][] = [];
    for (let i = 0; i < structures.length; i++) {
      const s = structures[i];
      invariant(Array.isArray(s), 'shared structure is an array of keys');
      list.push(Array.from(s as unknown[], (k) => String(k)));
    }
    const payload = plain.pack(list);
    invariant(payload.length <= MAX_STRUCTURES_BLOB, 'structures blob within its bound');
    const block = tx.alloc(BLOB_HEADER + payload.length);
    // alloc may grow the pool: take bytes/view only now.
    const bytes = this.pool.bytes;
    const view = this.pool.view;
    view.setUint32(block, payload.length, true);
    view.setUint32(block + 4, crc32c(payload), true);
    bytes.set(payload, block + BLOB_HEADER);
    const old = this.pool.readU64(this.slot);
    tx.addRange(this.slot, 8);
    this.pool.writeU64(this.slot, block);
    if (old !== 0) tx.free(old);
  }

  private loadStructures(): StructureList {
    const off = this.pool.readU64(this.slot);
    if (off === 0) return [];
    const view = this.pool.view;
    const length = view.getUint32(off, true);
    if (length > MAX_STRUCTURES_BLOB || off + BLOB_HEADER + length > this.pool.size) {
      throw new CorruptionError('ECORRUPT', `value structures block at ${off} has an impossible length ${length}`);
    }
    const bytes = this.pool.bytes;
    if (crc32c(bytes, off + BLOB_HEADER, length) !== view.getUint32(off + 4, true)) {
      throw new CorruptionError('ECORRUPT', `value structures block at ${off} fails its checksum`);
    }
    const end = off + BLOB_HEADER + length;
    // Past 4 GiB msgpackr reads a copy (extract-limit.ts).
    const blob = pastExtractLimit(bytes, end) ? bytes.slice(off + BLOB_HEADER, end) : bytes.subarray(off + BLOB_HEADER, end);
    const list = plain.unpack(blob) as unknown;
    if (!Array.isArray(list) || list.length > MAX_SHARED_STRUCTURES || !list.every((s) => Array.isArray(s))) {
      throw new CorruptionError('ECORRUPT', `value structures block at ${off} does not hold a structure list`);
    }
    return list as StructureList;
  }
}
