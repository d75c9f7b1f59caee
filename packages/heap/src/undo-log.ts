/**
 * The undo log: where a transaction keeps the old bytes of every range before it changes.
 *
 * Segment 0 lies between the log header and the heap, split in two parity areas; overflow
 * segments are LOG chunks of the heap, linked from the log header (LOG_NEXT) or from the
 * previous segment (chunk + 8). A transaction of generation g appends entries from the start
 * of area g % 2, then into the overflow segments; the segment list below always starts with
 * the area of the current generation.
 *
 * An entry is `gen u64 | offset u64 | length u32 | crc32c u32 | data, padded to 8`, the
 * checksum covering the first 20 bytes and the data. An entry is valid when its gen equals
 * the log generation G, its checksum matches and its range is one the log may restore. A
 * classic commit and a rollback end with the single 8-byte store G := G + 1, which invalidates
 * every entry at once. A sealed commit (transaction.ts) first writes a commit record after the
 * last entry (layout.ts: RECORD_*), then stores G := G + 1 without a fence.
 */
import { CACHE_LINE, CorruptionError, FerriteError, crc32c, invariant } from '@ferrite/core';
import { decodeHeader, KIND_LOG } from './chunks.js';
import type { DecodedHeader } from './chunks.js';
import {
  areaSize, areaStart, CHUNK_SIZE, ENTRY_HEADER, EXTENT_DATA, LOG_GENERATION, LOG_NEXT, MAX_SEALED_BYTES,
  MAX_SEALED_OFFSET, MAX_SEALED_RANGES, MAX_SEGMENTS, peekU64, readU64, RECORD_HEADER, RECORD_MARK, RECORD_RANGE, ROOT_RECORD,
  SEGMENT_RESERVE, writeU64,
} from './layout.js';
import type { Mem } from './mem.js';
import type { RangeList } from './coverage.js';
import { seal } from './seal.js';

export interface Segment {
  /** Offset of the first entry. */
  start: number;
  /** End of the entry area (exclusive). */
  end: number;
  /** Where this segment's link to the next one is stored. */
  linkOffset: number;
  /** Chunk offset of an overflow segment; -1 for segment 0. */
  chunk: number;
}

export function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** True when [offset, offset + length) is a range the log may snapshot and restore. */
export function restorable(offset: number, length: number, heapOffset: number, size: number): boolean {
  if (length <= 0) return false;
  const end = offset + length;
  if (offset >= heapOffset) return end <= size;
  if (offset >= ROOT_RECORD && end <= ROOT_RECORD + 16) return true;
  return offset >= LOG_NEXT && end <= LOG_NEXT + 8;
}

export class UndoLog {
  gen = 0;
  segments: Segment[] = [];
  /** Writer cursor. */
  seg = 0;
  pos = 0;
  /** Entries written by the running transaction. */
  entries = 0;
  /** When set, appends may use the segment's reserve (only while linking a new segment). */
  useReserve = false;
  /** Problems found while loading the chain (reported by check()). */
  damage: { offset: number; message: string }[] = [];

  constructor(
    private readonly mem: Mem,
    readonly heapOffset: number,
  ) {
    this.area0 = areaStart(heapOffset, 0);
    this.area1 = areaStart(heapOffset, 1);
    this.areaBytes = areaSize(heapOffset);
  }

  /** Reads G and the segment chain from the pool, validating every link. */
  load(size: number): void {
    this.gen = readGeneration(this.mem.view, LOG_GENERATION);
    this.segments = loadChain(this.mem, this.heapOffset, size, this.damage, this.gen);
    this.reset();
  }

  /** Points segment 0 at the parity area of the current generation (after G changed). */
  setArea(): void {
    const s = this.segments[0]!;
    s.start = this.gen % 2 === 0 ? this.area0 : this.area1;
    s.end = s.start + this.areaBytes;
  }

  private readonly area0: number;
  private readonly area1: number;
  private readonly areaBytes: number;

  /**
   * Entries are flushed lazily, all together right before the drain that must make them
   * durable (nothing relies on an entry before that drain): [unflushed, pos) of the current
   * segment, plus the finished ranges of earlier segments. One range then costs one native
   * call (persist) instead of a flush per entry and a drain.
   */
  private unflushed = -1;
  private readonly doneRanges: number[] = [];

  reset(): void {
    this.seg = 0;
    this.pos = this.segments[0]!.start;
    this.entries = 0;
    this.unflushed = -1;
    // Runs at the end of every transaction; setting an array's length is a builtin call.
    if (this.doneRanges.length > 0) this.doneRanges.length = 0;
  }

  /** Appends the written but not yet flushed entry bytes to `out`, and forgets them. */
  takeUnflushed(out: RangeList): void {
    const d = this.doneRanges;
    for (let i = 0; i < d.length; i += 2) out.push(d[i]!, d[i + 1]!);
    if (d.length > 0) d.length = 0;
    if (this.unflushed >= 0) {
      out.push(this.unflushed, this.pos - this.unflushed);
      this.unflushed = -1;
    }
  }

  private closeUnflushed(): void {
    if (this.unflushed >= 0) {
      this.doneRanges.push(this.unflushed, this.pos - this.unflushed);
      this.unflushed = -1;
    }
  }

  get capacity(): number {
    let c = 0;
    for (const s of this.segments) c += s.end - s.start;
    return c;
  }

  /** Data bytes (multiple of 8) an entry written now at the cursor may hold; 0 when none. */
  room(): number {
    const s = this.segments[this.seg]!;
    const limit = this.useReserve ? s.end : s.end - SEGMENT_RESERVE;
    const room = limit - this.pos - ENTRY_HEADER;
    return room < 8 ? 0 : room & ~7;
  }

  /**
   * True when entries taking `bytes` bytes in all (headers included) can be written at the
   * cursor without leaving the current segment (its reserve counts only under `useReserve`).
   */
  fits(bytes: number): boolean {
    const s = this.segments[this.seg]!;
    const limit = this.useReserve ? s.end : s.end - SEGMENT_RESERVE;
    return this.pos + bytes <= limit;
  }

  /** Moves the cursor to the next existing segment; false when there is none. */
  nextSegment(): boolean {
    if (this.seg + 1 >= this.segments.length) return false;
    this.closeUnflushed();
    this.seg++;
    this.pos = this.segments[this.seg]!.start;
    return true;
  }

  /** Writes one entry for [offset, offset + length) at the cursor (flushed at the next drain). */
  write(offset: number, length: number): void {
    invariant(length > 0 && pad8(length) <= this.room(), 'log entry must fit its segment');
    const { bytes, view } = this.mem;
    const p = this.pos;
    this.mem.copyBytes(p + ENTRY_HEADER, offset, length);
    writeU64(view, p, this.gen);
    writeU64(view, p + 8, offset);
    view.setUint32(p + 16, length, true);
    // A scratch log (a pool on a file: the writer's private view) is never read by a recovery,
    // only by this process's own rollback, which a crash cannot tear: no checksum needed.
    const crc = this.mem.scratchLog ? 0 : crc32c(bytes, p + ENTRY_HEADER, length, crc32c(bytes, p, 20));
    view.setUint32(p + 20, crc, true);
    if (this.unflushed < 0) this.unflushed = p;
    this.pos = p + ENTRY_HEADER + pad8(length);
    this.entries++;
  }

  /** Appends a segment that was just linked and initialised. */
  addSegment(chunkOffset: number, chunks: number): void {
    this.segments.push({
      start: chunkOffset + EXTENT_DATA,
      end: chunkOffset + chunks * CHUNK_SIZE,
      linkOffset: chunkOffset + 8,
      chunk: chunkOffset,
    });
  }

  /** Link of the last segment: where the next segment's offset goes. */
  get lastLink(): number {
    return this.segments[this.segments.length - 1]!.linkOffset;
  }
}

/** Follows the chain of overflow segments; stops (recording damage) at an invalid link. */
export function loadChain(
  mem: Mem,
  heapOffset: number,
  size: number,
  damage: { offset: number; message: string }[],
  gen: number,
): Segment[] {
  const start = areaStart(heapOffset, gen);
  const segments: Segment[] = [{ start, end: start + areaSize(heapOffset), linkOffset: LOG_NEXT, chunk: -1 }];
  const seen = new Set<number>();
  const h: DecodedHeader = { kind: 0, span: 0, cls: 0 };
  let link = LOG_NEXT;
  for (;;) {
    const next = peekU64(mem.view, link);
    if (next === 0) break;
    const bad =
      next < 0 ||
      next < heapOffset ||
      (next - heapOffset) % CHUNK_SIZE !== 0 ||
      next + CHUNK_SIZE > size ||
      seen.has(next) ||
      segments.length > MAX_SEGMENTS;
    if (bad) {
      damage.push({ offset: link, message: `invalid undo log segment link ${next}` });
      break;
    }
    const ok = decodeHeader(mem.view.getUint32(next, true), mem.view.getUint32(next + 4, true), h);
    if (!ok || h.kind !== KIND_LOG || next + h.span * CHUNK_SIZE > size) {
      // After a rollback crashed half-way the link may still point at a chunk whose header is
      // already restored to free: that segment's entries were restored (and drained) first.
      break;
    }
    seen.add(next);
    segments.push({ start: next + EXTENT_DATA, end: next + h.span * CHUNK_SIZE, linkOffset: next + 8, chunk: next });
    link = next + 8;
  }
  return segments;
}

/**
 * Offsets of the valid entries of one segment, in log order (stops at the first invalid one);
 * `end.at` receives the offset where the scan stopped (where a commit record would be).
 */
function scanSegment(mem: Mem, seg: Segment, gen: number, heapOffset: number, size: number, end?: { at: number }): number[] {
  const { bytes, view } = mem;
  const found: number[] = [];
  let p = seg.start;
  while (p + ENTRY_HEADER <= seg.end) {
    if (peekU64(view, p) !== gen) break;
    const offset = peekU64(view, p + 8);
    const length = view.getUint32(p + 16, true);
    if (offset < 0 || !restorable(offset, length, heapOffset, size)) break;
    if (p + ENTRY_HEADER + pad8(length) > seg.end) break;
    if (!mem.scratchLog) {
      const crc = crc32c(bytes, p + ENTRY_HEADER, length, crc32c(bytes, p, 20));
      if (crc !== view.getUint32(p + 20, true)) break;
    }
    found.push(p);
    p += ENTRY_HEADER + pad8(length);
  }
  if (end !== undefined) end.at = p;
  return found;
}

/** What the log of the current generation holds (read-only). */
export interface LogState {
  /** Valid entries of generation G, in every segment. */
  entries: number;
  /** A well-formed commit record of generation G follows the entries of segment 0. */
  record: boolean;
  /** ...and its seal matches the pool's contents: the transaction committed. */
  sealed: boolean;
}

/** Scans the log of generation G: entries, and a commit record after those of segment 0. */
export function inspectLog(mem: Mem, log: UndoLog, size: number): LogState {
  const end = { at: 0 };
  let entries = 0;
  let first: number[] = [];
  for (let s = 0; s < log.segments.length; s++) {
    const found = scanSegment(mem, log.segments[s]!, log.gen, log.heapOffset, size, s === 0 ? end : undefined);
    if (s === 0) first = found;
    entries += found.length;
  }
  // A sealed transaction's entries all lie in segment 0: their ranges open the sealed list.
  const named: number[] = [];
  for (const p of first) named.push(peekU64(mem.view, p + 8), mem.view.getUint32(p + 16, true));
  const seg0 = log.segments[0]!;
  let verdict = verifyRecord(mem, end.at, seg0.end, log.gen, log.heapOffset, size, named);
  const aligned = alignLine(end.at);
  if (verdict === 'none' && aligned !== end.at) verdict = verifyRecord(mem, aligned, seg0.end, log.gen, log.heapOffset, size, named);
  return { entries, record: verdict !== 'none', sealed: verdict === 'sealed' };
}

/**
 * Valid entries that recovery would roll back (for check() and read-only opens): none when
 * the entries belong to a sealed transaction whose seal matches (it committed).
 */
export function pendingEntries(mem: Mem, log: UndoLog, size: number): number {
  const st = inspectLog(mem, log, size);
  return st.sealed ? 0 : st.entries;
}

const sealOut = new Uint32Array(2);
/** The sealed list: the entries' ranges, then the record's. */
const sealList = new Float64Array(2 * MAX_SEALED_RANGES);

/**
 * Writes the commit record of a sealed transaction at `at` (not flushed): its generation, the
 * changed ranges no entry names (`unlogged`: fresh blocks, no-snapshot ranges), and the seal
 * over the generation, the ranges of the entries in [segment start, log.pos) followed by the
 * unlogged ones, and all their current contents. Returns the record's size. The caller
 * checked the bounds (canSeal): all entries in segment 0, at most MAX_SEALED_RANGES ranges in
 * total, offsets below MAX_SEALED_OFFSET, MAX_SEALED_BYTES in total.
 */
export function writeRecord(mem: Mem, log: UndoLog, at: number, unlogged: ArrayLike<number>, count: number): number {
  const { view } = mem;
  const list = sealList;
  let n = 0;
  for (let p = log.segments[0]!.start; p < log.pos; n++) {
    const len = view.getUint32(p + 16, true);
    list[2 * n] = readU64(view, p + 8);
    list[2 * n + 1] = len;
    p += ENTRY_HEADER + pad8(len);
  }
  invariant(n + count >= 1 && n + count <= MAX_SEALED_RANGES, 'a sealed transaction has 1..MAX_SEALED_RANGES ranges');
  let p = at + RECORD_HEADER;
  for (let i = 0; i < count; i++, p += RECORD_RANGE) {
    const offset = unlogged[2 * i]!;
    const len = unlogged[2 * i + 1]!;
    invariant(offset + len <= MAX_SEALED_OFFSET && len <= MAX_SEALED_BYTES, 'a sealed range fits its 8-byte form');
    list[2 * (n + i)] = offset;
    list[2 * (n + i) + 1] = len;
    view.setUint32(p, offset >>> 0, true);
    view.setUint32(p + 4, (Math.floor(offset / 0x100000000) | (len << 16)) >>> 0, true);
  }
  seal(view, log.gen, count, list, n + count, sealOut);
  writeU64(view, at, log.gen);
  view.setUint32(at + 8, count, true);
  view.setUint32(at + 12, RECORD_MARK, true);
  view.setUint32(at + 16, sealOut[0]!, true);
  view.setUint32(at + 20, sealOut[1]!, true);
  return p - at;
}

function alignLine(at: number): number {
  return Math.ceil(at / CACHE_LINE) * CACHE_LINE;
}

/**
 * Where a record of `size` bytes goes when the entries end at `pos`: right there, or at the
 * next cache line when that makes it span fewer lines (every line it touches is written back
 * by the commit's fence; the entries' last line was already written back by an earlier one).
 * Recovery looks at both places (only the transaction of generation G writes records of G).
 */
export function recordPlace(pos: number, size: number): number {
  const aligned = alignLine(pos);
  const here = Math.floor((pos + size - 1) / CACHE_LINE) - Math.floor(pos / CACHE_LINE);
  const there = Math.floor((aligned + size - 1) / CACHE_LINE) - Math.floor(aligned / CACHE_LINE);
  return there < here ? aligned : pos;
}

/** Bytes a record of `count` ranges takes. */
export function recordSize(count: number): number {
  return RECORD_HEADER + count * RECORD_RANGE;
}

const scratchRanges: number[] = [];

/**
 * Judges the bytes at `at` as a commit record of generation `gen` whose entries name the
 * (offset, length) pairs `named`: 'none' when they are not one (wrong gen or mark, or a field
 * out of bounds: torn, stale, or never written), 'broken' when they are one but the seal does
 * not match the pool's contents, 'sealed' when it matches. Every field is validated before it
 * is used; nothing is written.
 */
export function verifyRecord(
  mem: Mem, at: number, areaEnd: number, gen: number, heapOffset: number, size: number, named: readonly number[],
): 'none' | 'broken' | 'sealed' {
  const { view } = mem;
  if (at + RECORD_HEADER > areaEnd) return 'none';
  if (peekU64(view, at) !== gen || view.getUint32(at + 12, true) !== RECORD_MARK) return 'none';
  const count = view.getUint32(at + 8, true);
  const total = count + named.length / 2;
  if (total < 1 || total > MAX_SEALED_RANGES || at + recordSize(count) > areaEnd) return 'none';
  const r = scratchRanges;
  r.length = 0;
  let bytes = 0;
  for (let i = 0; i < named.length; i += 2) {
    bytes += named[i + 1]!;
    r.push(named[i]!, named[i + 1]!);
  }
  for (let i = 0, p = at + RECORD_HEADER; i < count; i++, p += RECORD_RANGE) {
    const hi = view.getUint32(p + 4, true);
    const offset = (hi & 0xffff) * 0x100000000 + view.getUint32(p, true);
    const length = hi >>> 16;
    if (!restorable(offset, length, heapOffset, size)) return 'none';
    bytes += length;
    r.push(offset, length);
  }
  if (bytes > MAX_SEALED_BYTES) return 'none';
  seal(view, gen, count, r, total, sealOut);
  return sealOut[0] === view.getUint32(at + 16, true) && sealOut[1] === view.getUint32(at + 20, true) ? 'sealed' : 'broken';
}

/**
 * Rolls back whatever the log holds: restores every valid entry, the last segment first and
 * each segment's entries in reverse, persisting each segment's restored ranges before moving
 * to the previous one (an earlier segment may hold the snapshot that unlinks a later one, so
 * the later one's work must be durable before that link can be undone). Then G := G + 1,
 * persisted. Idempotent: the log is not modified until that last store. Returns the number of
 * entries restored.
 */
export function rollBack(mem: Mem, log: UndoLog, size: number, step: 1 | 2 = 1): number {
  const segs = log.segments;
  const perSeg: number[][] = segs.map((s) => scanSegment(mem, s, log.gen, log.heapOffset, size));
  let restored = 0;
  const ranges: number[] = [];
  for (let s = segs.length - 1; s >= 0; s--) {
    const list = perSeg[s]!;
    if (list.length === 0) continue;
    ranges.length = 0;
    const { bytes, view } = mem;
    for (let i = list.length - 1; i >= 0; i--) {
      const p = list[i]!;
      const offset = peekU64(view, p + 8);
      const length = view.getUint32(p + 16, true);
      bytes.copyWithin(offset, p + ENTRY_HEADER, p + ENTRY_HEADER + length);
      ranges.push(offset, length);
      restored++;
    }
    mem.persistRanges(ranges, ranges.length / 2);
  }
  bumpGeneration(mem, log, step);
  return restored;
}

/**
 * The classic commit point (and the end of a rollback): one aligned 8-byte store G := G + step
 * and one persist. Recovery steps by 2 (transaction.ts says why).
 */
export function bumpGeneration(mem: Mem, log: UndoLog, step: 1 | 2 = 1): void {
  // G never moves on while a previous new value may still be undurable: the areas alternate
  // with G's parity, and this keeps "media G is G or G - 1" true at every instant.
  if (mem.genUnfenced) mem.drain();
  log.gen += step;
  writeGeneration(mem.bytes, LOG_GENERATION, log.gen);
  mem.persist(LOG_GENERATION, 8);
  log.setArea();
}

/**
 * The end of a sealed commit: G := G + 1 stored, neither flushed nor fenced. The next drain of
 * anything flushes and fences it (`mem.genUnfenced` until then): the next transaction's first
 * drain takes the word into its own flush call, which saves a native call per transaction.
 * An eviction may make it durable earlier, which is harmless (the transaction is durable).
 */
export function publishGeneration(mem: Mem, log: UndoLog): void {
  invariant(!mem.genUnfenced, 'the previous generation is durable before a sealed commit publishes');
  log.gen++;
  writeGeneration(mem.bytes, LOG_GENERATION, log.gen);
  mem.genUnfenced = true;
  mem.genUnflushed = true;
  log.setArea();
}

/**
 * The generation word: a 48-bit counter G in the low bits and 16 check bits above it.
 *
 * Why the check bits: a damaged generation word would otherwise make every entry of a
 * pending transaction look stale, and recovery would silently skip the rollback. With them,
 * any single-bit flip (and an all-zero word) is ECORRUPT at open. 2^48 transactions is
 * about nine years at a million commits a second; the bound is asserted.
 *
 * Why Atomics.store: the commit point must be ONE failure-atomic 8-byte store. Two 4-byte
 * stores (what writing a u64 through a DataView's 32-bit halves does) could be split by a
 * cache eviction between them, and the check bits change on every commit.
 */
export const MAX_GENERATION = 2 ** 48 - 1;

function generationCheck(counter: number): number {
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 0x100000000);
  return ((lo & 0xffff) ^ (lo >>> 16) ^ hi ^ 0xa5a5) & 0xffff;
}

/** Reads G from the generation word; ECORRUPT when its check bits do not match. */
export function readGeneration(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  const counter = (hi & 0xffff) * 0x100000000 + lo;
  if (hi >>> 16 !== generationCheck(counter)) {
    throw new CorruptionError(
      'ECORRUPT',
      `the undo log generation word at offset ${offset} is damaged (check bits ${hi >>> 16} do not match ${generationCheck(counter)}); recovery cannot tell whether a transaction is pending`,
    );
  }
  return counter;
}

let wordView: BigUint64Array | undefined;
const scratchWord = new BigUint64Array(1);
const scratchView = new DataView(scratchWord.buffer);
/** Byte order of BigUint64Array elements: the scratch is filled in it, so word === G | check << 48. */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The generation word's value as a BigInt (for tests: what writeGeneration stores). */
export function generationWord(counter: number): bigint {
  return BigInt(counter) | (BigInt(generationCheck(counter)) << 48n);
}

/** Writes G with one failure-atomic 8-byte store (see above). */
export function writeGeneration(bytes: Uint8Array, offset: number, counter: number): void {
  invariant(Number.isSafeInteger(counter) && counter >= 0, 'generation is a non-negative integer');
  if (counter > MAX_GENERATION) {
    throw new FerriteError('ERANGE', `the undo log generation would exceed 2^48 - 1 transactions`);
  }
  // The word is assembled in an 8-byte scratch and read back as ONE BigInt: building it with
  // BigInt arithmetic costs three BigInt allocations per commit.
  scratchView.setUint32(HOST_LE ? 0 : 4, counter >>> 0, HOST_LE);
  scratchView.setUint32(HOST_LE ? 4 : 0, (Math.floor(counter / 0x100000000) & 0xffff) | (generationCheck(counter) << 16), HOST_LE);
  const word = scratchWord[0]!;
  const at = bytes.byteOffset + offset;
  invariant(at % 8 === 0, 'the generation word is 8-byte aligned in memory');
  if (wordView === undefined || wordView.buffer !== bytes.buffer) {
    wordView = new BigUint64Array(bytes.buffer, 0, Math.floor(bytes.buffer.byteLength / 8));
  }
  Atomics.store(wordView, at / 8, word);
}
