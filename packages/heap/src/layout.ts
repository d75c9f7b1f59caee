/**
 * The pool's byte layout: every constant that fixes where something lives in a pool file.
 *
 * ```
 * 0      header copy A (256 bytes; fields below, H_*)
 * 256    header copy B (256 bytes)
 * 512    root record: rootOffset u64, rootSize u64 (changed only inside transactions)
 * 544    reader words: commit sequence i32, writer epoch i32, pause request i32 (commit-seq.ts;
 *        never logged, never part of a transaction: how readers in other processes and
 *        threads tell a committed state from one being written)
 * 576    log header: generation u64, first overflow segment u64
 * 640    segment 0 of the undo log, up to heapOffset, in two halves ("parity areas"): a
 *        transaction of generation g writes its entries (and its commit record) in area g % 2
 * heapOffset (a multiple of CHUNK_SIZE)  chunk 0, chunk 1, ...
 * ```
 *
 * All integers are little-endian. u64 fields hold safe integers (< 2^53) and are validated on
 * every read.
 */
import { CorruptionError } from '@ferrite/core';

/** "FERRPOOL" in ASCII. */
export const MAGIC = Uint8Array.from([0x46, 0x45, 0x52, 0x52, 0x50, 0x4f, 0x4f, 0x4c]);
/** Bumped whenever the byte layout changes incompatibly. */
export const FORMAT_VERSION = 3; // 3: maxSize in the header; 2: parity areas, sealed commit records, run data on 64-byte lines
/**
 * The oldest format this build opens: a version-2 pool (no maxSize in its header) opens with
 * maxSize = its size, and a writable open rewrites its header as version 3.
 */
export const OLDEST_FORMAT_VERSION = 2;
/** The largest pool, in bytes (header sizes above it are damage; `maxSize` may not exceed it). */
export const MAX_POOL_SIZE = 2 ** 45;

export const HEADER_COPY_SIZE = 256;
export const HEADER_A = 0;
export const HEADER_B = 256;

// Field offsets inside one header copy.
export const H_MAGIC = 0;
export const H_VERSION = 8; // u32
export const H_FLAGS = 12; // u32, zero for now
export const H_UUID = 16; // 16 bytes
export const H_LAYOUT = 32; // 64 bytes, UTF-8, NUL padded
export const H_SIZE = 96;
export const H_LOG_OFFSET = 104;
export const H_HEAP_OFFSET = 112;
export const H_CHUNK_SIZE = 120;
export const H_SEQ = 128;
export const H_MAX_SIZE = 136; // u64, format 3: the size the pool may grow to
export const H_CRC = 144; // u32 crc32c over [0, H_CRC)
export const H_END = 148;
/** Format 2 had no maxSize: its checksum was at 136, over [0, 136), and its header ended at 140. */
export const H_CRC_V2 = 136;
export const H_END_V2 = 140;

/** Longest layout name, in UTF-8 bytes. */
export const MAX_LAYOUT_BYTES = 64;

export const ROOT_RECORD = 512;
export const ROOT_OFFSET = 512;
export const ROOT_SIZE = 520;

/**
 * The reader words (commit-seq.ts), 4-byte aligned i32s read and written with Atomics by every
 * process that maps the pool. They carry no data: nothing recovers them, no log covers them,
 * and a crash may leave any value in them (a writer's open starts them over, readers judge
 * them only together with the writer's lock).
 */
export const READER_WORDS = 544;
/** Bytes of the reader words (the last word is spare, zero). */
export const READER_WORDS_SIZE = 16;
/** Commit sequence: odd while the writer changes what readers see, even between. */
export const SEQ_WORD = 544;
/** Bumped by every writable open, before its recovery writes anything. */
export const EPOCH_WORD = 548;
/** A reader's request that the writer wait before its next commit: a deadline in ms (0: none). */
export const PAUSE_WORD = 552;

export const LOG_HEADER = 576;
/** The 8-byte word whose increment invalidates the whole undo log (one store, one fence). */
export const LOG_GENERATION = 576;
/** Offset of the first overflow segment, 0 when there is none. */
export const LOG_NEXT = 584;
/** First entry of segment 0. */
export const LOG_ENTRIES = 640;

/** The heap is a sequence of chunks of this size. */
export const CHUNK_SIZE = 16384;
/** An extent's user data begins this far into its first chunk (after its header line). */
export const EXTENT_DATA = 64;

/** Undo log entry header: gen u64, offset u64, length u32, crc32c u32. Data follows, padded to 8. */
export const ENTRY_HEADER = 24;

/**
 * A sealed commit record, written right after the transaction's last entry in its area:
 * `gen u64 | count u32 | RECORD_MARK u32 | seal u64 | count x range u64`, a range being
 * `offset low u32 | offset high u16, length u16` (offsets below 2^48, lengths at most
 * MAX_SEALED_BYTES). Its second word, read as an entry's offset, exceeds 2^53 (the mark is its
 * high half), so no entry scan takes it for an entry. Compact on purpose: the record of an
 * 8-byte transaction (one range) is 32 bytes and shares the cache line of its single entry.
 */
export const RECORD_MARK = 0x5345414c; // "LAES": above 0x1fffff, see above
export const RECORD_HEADER = 24;
export const RECORD_RANGE = 8;
/** Offsets of sealed ranges fit in 48 bits (pools of at most 256 TiB seal; larger ones do not). */
export const MAX_SEALED_OFFSET = 2 ** 48;
/** A transaction seals only when its changed ranges are at most this many... */
export const MAX_SEALED_RANGES = 32;
/** ...and this many bytes in total (the seal is computed at commit, and again at recovery). */
export const MAX_SEALED_BYTES = 16 * 1024;

/**
 * 8-byte snapshots reserved at the end of every log segment for linking the next one: the new
 * segment's chunk headers (its first chunk, free span headers inside and after it) and the link.
 */
export const SEGMENT_RESERVE_ENTRIES = 12;
/** Bytes reserved at the end of every log segment for the entries that link the next one. */
export const SEGMENT_RESERVE = SEGMENT_RESERVE_ENTRIES * (ENTRY_HEADER + 8);
/** Upper bound on overflow segments of the log (each at least doubles the capacity). */
export const MAX_SEGMENTS = 40;
/** Upper bound on the total undo log capacity: larger transactions fail with ERANGE. */
export const MAX_LOG_BYTES = 1024 * 1024 * 1024;

/** Default segment-0 log capacity: pools under 4 MiB keep the log in the first 16 KiB. */
export function defaultHeapOffset(size: number): number {
  return size < 4 * 1024 * 1024 ? CHUNK_SIZE : 5 * CHUNK_SIZE;
}

/** Start of the parity area of generation `gen` (see the layout above). */
export function areaStart(heapOffset: number, gen: number): number {
  return gen % 2 === 0 ? LOG_ENTRIES : LOG_ENTRIES + areaSize(heapOffset);
}

/** Bytes in each parity area: half of segment 0, rounded down to 8. */
export function areaSize(heapOffset: number): number {
  return Math.floor((heapOffset - LOG_ENTRIES) / 16) * 8;
}

export function heapOffsetFor(logCapacity: number): number {
  return roundUp(LOG_ENTRIES + logCapacity, CHUNK_SIZE);
}

export function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Largest safe integer's high 32-bit half: a u64 above it is not a safe integer. */
const MAX_HI = 0x1fffff;

/** Reads a little-endian u64 that must be a safe integer; ECORRUPT otherwise. */
export function readU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > MAX_HI) throw new CorruptionError('ECORRUPT', `u64 at offset ${offset} exceeds 2^53`);
  return hi * 0x100000000 + lo;
}

/** Same as readU64 but returns -1 instead of throwing (for check() and validation). */
export function peekU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > MAX_HI) return -1;
  return hi * 0x100000000 + lo;
}

export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 0x100000000), true);
}
