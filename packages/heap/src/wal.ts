/**
 * The redo log of a pool on an ordinary file (`<pool>.wal`): the format of its records, how they
 * are made from the pool's changed ranges, and how recovery reads them back.
 *
 * Why a redo log on a file, when persistent memory uses an undo log: on a file the kernel may
 * write any dirty page back at any instant (a sector may tear inside it), so the undo
 * discipline (old bytes durable before each in-place store) costs a device sync before every
 * store. Instead the writer works on a private copy of the pool, and a commit writes ONE record
 * holding the new bytes of every range the transactions changed, syncs the log, and only then
 * writes those bytes into the pool file (staged-region.ts). Recovery replays the records whose
 * sync completed; a record cut short by the crash fails its checksum and ends the replay, so the
 * pool shows a prefix of the commits, each whole.
 *
 * ```
 * 0      header (HEADER_BYTES): "FERRWAL1" | version u32 | flags u32 | pool uuid (16) | epoch u64
 *        | crc32c u32 over the bytes before it
 * 4096   the records of the header's epoch, back to back:
 *          magic u32 "WREC" | count u32 | epoch u64 | seq u64 | length u64 | crc u32 | 0 u32
 *          count x (offset u64 | length u32 | 0 u32)
 *          the ranges' bytes, each padded to 8
 *        `length` covers the whole record (a multiple of 8); the crc32c covers the record with
 *        its crc field read as zero. Records of an epoch carry seq 1, 2, 3, ...
 * ```
 *
 * A checkpoint (everything applied is synced into the pool file) starts a new epoch: the header
 * is rewritten with epoch + 1 and SYNCED before any record of the new epoch is written over the
 * old ones. Otherwise a crash could leave the old header with the old epoch's first records
 * intact and its later ones overwritten: replaying that shortened chain would put older bytes
 * back over newer ones. Records of another epoch or out of sequence end the replay. Records do
 * not name their pool: a log started over for a pool (at create, or at an open that found another
 * pool's log or an unreadable header) starts at an epoch above any its old records may carry
 * (pool.ts, startWal), so none of them is ever in sequence. A torn header is harmless: it is only ever rewritten right after a checkpoint, when
 * the pool file holds everything, so a log whose header does not verify holds nothing to replay.
 */
import { CorruptionError, FerriteError, crc32c, invariant } from '@ferrite/core';
import type { FileIO } from '@ferrite/core';

/** "FERRWAL1" */
const MAGIC = Uint8Array.from([0x46, 0x45, 0x52, 0x52, 0x57, 0x41, 0x4c, 0x31]);
export const WAL_VERSION = 1;
/** Bytes of the header proper; the records start at RECORDS_START. */
export const HEADER_BYTES = 48;
const H_VERSION = 8;
const H_FLAGS = 12;
const H_UUID = 16;
const H_EPOCH = 32;
const H_CRC = 40;
/** Records start on the second page, so a header write never shares a page with records. */
export const RECORDS_START = 4096;

/** "WREC" */
const RECORD_MAGIC = 0x43455257;
export const RECORD_HEADER = 40;
const R_COUNT = 4;
const R_EPOCH = 8;
const R_SEQ = 16;
const R_LENGTH = 24;
const R_CRC = 32;
export const RANGE_ENTRY = 16;
/** Most ranges in one record (a commit with more is split by the caller's grouping, or refused). */
export const MAX_RECORD_RANGES = 1 << 26;
/** Largest record: the undo log bounds a transaction near 1 GiB; a group may hold several. */
export const MAX_RECORD_BYTES = 2 ** 34;

function pad8(n: number): number {
  return n + ((8 - (n % 8)) % 8);
}

function writeU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v >>> 0, true);
  view.setUint32(at + 4, Math.floor(v / 0x100000000), true);
}

function readU64(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  return hi > 0x1fffff ? -1 : hi * 0x100000000 + lo;
}

/** The header of a log for pool `uuid` at `epoch`. */
export function encodeWalHeader(uuid: Uint8Array, epoch: number): Uint8Array {
  invariant(uuid.length === 16 && Number.isSafeInteger(epoch) && epoch >= 1, 'a log header names its pool and a positive epoch');
  const h = new Uint8Array(HEADER_BYTES);
  const view = new DataView(h.buffer);
  h.set(MAGIC, 0);
  view.setUint32(H_VERSION, WAL_VERSION, true);
  view.setUint32(H_FLAGS, 0, true);
  h.set(uuid, H_UUID);
  writeU64(view, H_EPOCH, epoch);
  view.setUint32(H_CRC, crc32c(h, 0, H_CRC), true);
  return h;
}

/** What the header of a log file says. */
export type WalHeader =
  | { readonly state: 'none' } // empty file, or bytes that are not a log header (torn, never written)
  | { readonly state: 'other-pool'; readonly epoch: number }
  | { readonly state: 'ok'; readonly epoch: number };

/** Reads the header of `file` for pool `uuid`. EVERSION for a log of an unknown version. */
export function readWalHeader(file: FileIO, uuid: Uint8Array): WalHeader {
  if (file.length < RECORDS_START) return { state: 'none' };
  const h = new Uint8Array(HEADER_BYTES);
  file.read(0, h, 0, HEADER_BYTES);
  const view = new DataView(h.buffer);
  for (let i = 0; i < MAGIC.length; i++) if (h[i] !== MAGIC[i]) return { state: 'none' };
  if (view.getUint32(H_CRC, true) !== crc32c(h, 0, H_CRC)) return { state: 'none' };
  const version = view.getUint32(H_VERSION, true);
  if (version !== WAL_VERSION) throw new CorruptionError('EVERSION', `redo log format version ${version} is not ${WAL_VERSION}`);
  const epoch = readU64(view, H_EPOCH);
  if (epoch < 1) return { state: 'none' };
  for (let i = 0; i < 16; i++) if (h[H_UUID + i] !== uuid[i]) return { state: 'other-pool', epoch };
  return { state: 'ok', epoch };
}

/**
 * Makes the record of one commit: the current bytes of `source` for each of the `count`
 * (offset, length) pairs of `ranges` (sorted, disjoint: see `normalizeRanges`).
 */
export function encodeRecord(
  ranges: ArrayLike<number>, count: number, source: Uint8Array, epoch: number, seq: number,
): Uint8Array {
  invariant(count >= 1 && count <= MAX_RECORD_RANGES, 'a record holds 1..MAX_RECORD_RANGES ranges');
  let length = RECORD_HEADER + count * RANGE_ENTRY;
  for (let i = 0; i < count; i++) length += pad8(ranges[2 * i + 1]!);
  if (length > MAX_RECORD_BYTES) {
    throw new FerriteError('ERANGE', `a commit of ${length} bytes exceeds the redo log's largest record (${MAX_RECORD_BYTES})`);
  }
  const rec = new Uint8Array(length);
  const view = new DataView(rec.buffer);
  view.setUint32(0, RECORD_MAGIC, true);
  view.setUint32(R_COUNT, count, true);
  writeU64(view, R_EPOCH, epoch);
  writeU64(view, R_SEQ, seq);
  writeU64(view, R_LENGTH, length);
  let data = RECORD_HEADER + count * RANGE_ENTRY;
  const sourceView = new DataView(source.buffer, source.byteOffset, source.byteLength);
  for (let i = 0; i < count; i++) {
    const off = ranges[2 * i]!;
    const len = ranges[2 * i + 1]!;
    invariant(len > 0 && off + len <= source.length, 'a recorded range lies in the pool');
    const e = RECORD_HEADER + i * RANGE_ENTRY;
    writeU64(view, e, off);
    view.setUint32(e + 8, len, true);
    copyBytes(rec, view, data, source, sourceView, off, len);
    data += pad8(len);
  }
  view.setUint32(R_CRC, recordCrc(rec, length), true);
  return rec;
}

/** Below this many bytes `copyBytes` copies by 4-byte words. */
const WORD_COPY_BELOW = 128;

/**
 * Copies `src[srcAt, srcAt + len)` to `dst` at `dstAt` (`dstView`, `srcView`: DataViews of the
 * same bytes). A subarray and a `set` cost ~60 ns whatever the size, and most ranges of a
 * record are a few dozen bytes (a bucket slot, a count): those go by words, ~25-40 ns.
 */
export function copyBytes(dst: Uint8Array, dstView: DataView, dstAt: number, src: Uint8Array, srcView: DataView, srcAt: number, len: number): void {
  // Outside either array: `set` throws (a RangeError), as it always did here.
  if (len >= WORD_COPY_BELOW || dstAt + len > dst.length || srcAt + len > src.length) {
    dst.set(src.subarray(srcAt, srcAt + len), dstAt);
    return;
  }
  let i = 0;
  for (; i + 4 <= len; i += 4) dstView.setUint32(dstAt + i, srcView.getUint32(srcAt + i, true), true);
  for (; i < len; i++) dst[dstAt + i] = src[srcAt + i]!;
}

/** The record's checksum: crc32c of its bytes with the crc field taken as zero. */
function recordCrc(rec: Uint8Array, length: number): number {
  const head = crc32c(rec, 0, R_CRC);
  const zero = crc32c(ZERO4, 0, 4, head);
  return crc32c(rec, R_CRC + 4, length - R_CRC - 4, zero);
}
const ZERO4 = new Uint8Array(4);

/** One range of a record read back: `length` bytes of `data` from `at` go to pool offset `offset`. */
export interface ReplayRange {
  offset: number;
  length: number;
  data: Uint8Array;
  at: number;
}

/** What `scanWal` found. */
export interface WalScan {
  /** The header's epoch (0 when the log holds no valid header for this pool). */
  epoch: number;
  /** Records replayed (valid and in sequence). */
  records: number;
  /** Where the next record of this epoch would go. */
  end: number;
  /** Bytes of ranges replayed. */
  bytes: number;
}

/**
 * Reads the records of the log's current epoch in order and hands every range of each valid
 * one to `apply` (record by record, a record's ranges after its whole record verified). Stops
 * at the first record that does not verify (torn by a crash, or stale bytes of an older epoch).
 * Ranges must end within `poolLimit` (the largest pool); a record naming one beyond is damage
 * (ECORRUPT), as is a log of this pool whose header verifies but whose records cannot be read.
 * Nothing is written.
 */
export function scanWal(
  file: FileIO, uuid: Uint8Array, poolLimit: number, apply: (range: ReplayRange) => void,
): WalScan {
  const header = readWalHeader(file, uuid);
  if (header.state !== 'ok') return { epoch: 0, records: 0, end: RECORDS_START, bytes: 0 };
  const epoch = header.epoch;
  let at = RECORDS_START;
  let seq = 1;
  let bytes = 0;
  const head = new Uint8Array(RECORD_HEADER);
  const hv = new DataView(head.buffer);
  for (;;) {
    if (at + RECORD_HEADER > file.length) break;
    file.read(at, head, 0, RECORD_HEADER);
    if (hv.getUint32(0, true) !== RECORD_MAGIC) break;
    if (readU64(hv, R_EPOCH) !== epoch || readU64(hv, R_SEQ) !== seq) break;
    const count = hv.getUint32(R_COUNT, true);
    const length = readU64(hv, R_LENGTH);
    if (count < 1 || count > MAX_RECORD_RANGES || length < RECORD_HEADER + count * RANGE_ENTRY || length % 8 !== 0) break;
    if (length > MAX_RECORD_BYTES || at + length > file.length) break;
    const rec = new Uint8Array(length);
    file.read(at, rec, 0, length);
    const view = new DataView(rec.buffer);
    if (view.getUint32(R_CRC, true) !== recordCrc(rec, length)) break;
    // A record that verifies was written whole by this log: its fields are trusted only after
    // bounds checks all the same (a bug must not turn into a write outside the pool).
    let data = RECORD_HEADER + count * RANGE_ENTRY;
    const ranges: ReplayRange[] = [];
    for (let i = 0; i < count; i++) {
      const e = RECORD_HEADER + i * RANGE_ENTRY;
      const offset = readU64(view, e);
      const len = view.getUint32(e + 8, true);
      if (offset < 0 || len === 0 || offset + len > poolLimit || data + len > length) {
        throw new CorruptionError('ECORRUPT', `redo log record ${seq} (at ${at}) names the range [${offset}, +${len}) outside the pool`);
      }
      ranges.push({ offset, length: len, data: rec, at: data });
      data += pad8(len);
    }
    for (const r of ranges) {
      apply(r);
      bytes += r.length;
    }
    at += length;
    seq++;
  }
  return { epoch, records: seq - 1, end: at, bytes };
}
