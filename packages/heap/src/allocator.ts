/**
 * The allocator: size-class runs with bitmaps for small blocks, whole-chunk extents for
 * large ones. Persistent state is only the chunk headers and the run bitmaps; the free-space
 * index lives in DRAM and is rebuilt by walking chunk headers and bitmaps (time proportional
 * to the metadata, not to the pool's bytes).
 *
 * Every persistent change goes through the running transaction: the allocator snapshots the
 * word it is about to change (`tx.snapshot`, flushed but not drained) and queues the change
 * (`tx.defer`), which the transaction applies after its next drain. So an allocation costs no
 * fence of its own, and the change is undone with the transaction.
 */
import { FerriteError, PoolFullError, invariant } from '@ferrite/core';
import {
  CLASS_SIZES, classOf, decodeHeader, encodeLow, KIND_EXTENT, KIND_FREE, KIND_LOG, KIND_RUN, MAX_RUN_BLOCK, MAX_SPAN,
  runGeometries,
} from './chunks.js';
import type { DecodedHeader, RunGeometry } from './chunks.js';
import { CHUNK_SIZE, EXTENT_DATA, SEGMENT_RESERVE_ENTRIES } from './layout.js';
import type { Mem } from './mem.js';

/** Deferred operations on pool metadata, applied after the snapshots are durable. */
export const OP_HEADER = 0; // arg = low word of a chunk header
export const OP_SET_BIT = 1; // arg = bit mask within the byte
export const OP_CLEAR_BIT = 2;
export const OP_ZERO = 3; // arg = length
export const OP_U64 = 4; // arg = value

/** What the allocator needs from the running transaction. */
export interface AllocTx {
  /** Logs [offset, offset + length) if not yet covered; flushed, not drained. */
  snapshot(offset: number, length: number): void;
  /** Queues a metadata change for after the next drain. */
  defer(op: number, offset: number, arg: number): void;
  /** Registers a freshly allocated block: flushed at commit, never logged. */
  fresh(offset: number, length: number): void;
  /** Drops queued header writes at `offset` (it became the inside of a new extent). */
  cancelDeferred(offset: number): void;
  /**
   * The block about to be handed out covers bytes whose snapshot is not durable yet (an old
   * run bitmap, a span header): drain before the caller may store into it.
   */
  needDrain(): void;
  /**
   * Makes room in the undo log for `entries` snapshots holding `bytes` bytes in all (each a
   * multiple of 8), so that the snapshots that follow never grow the log. Returns true when the
   * log had to GROW for it: growing takes chunks from this allocator, so a caller that had
   * looked at the free index must look again before it plans anything (issue 16: a log that grew
   * in the middle of a split took chunks from the range being split, and the split then wrote a
   * FREE header over the new log segment). Called only where the DRAM index and the queued
   * changes agree (between two steps of an allocation, never inside one).
   */
  reserveLog(entries: number, bytes: number): boolean;
}

/** Snapshots of 8 bytes one log segment's reserve holds, for linking the next segment. */
export const RESERVE_ENTRIES = SEGMENT_RESERVE_ENTRIES;

export class Run {
  /** DRAM availability: 1 = allocated, or freed by the running transaction, or past the end. */
  readonly avail: Uint32Array;
  nFree: number;
  hint = 0;
  inPartial = false;
  constructor(
    readonly chunk: number,
    readonly cls: number,
    readonly base: number,
    readonly g: RunGeometry,
  ) {
    this.avail = new Uint32Array(Math.ceil(g.blocks / 32));
    const tail = g.blocks % 32;
    if (tail !== 0) this.avail[this.avail.length - 1] = ~((1 << tail) - 1) >>> 0;
    this.nFree = g.blocks;
  }
}

export interface Damage {
  offset: number;
  message: string;
  kind: string;
}

/** 1 / CHUNK_SIZE, exact (a power of two): a multiply instead of a division on the hot path. */
const CHUNK_RECIPROCAL = 1 / CHUNK_SIZE;
/** `dataFrom` of a chunk that holds no data (free, log, or past a damaged header). */
const NO_DATA = CHUNK_SIZE;

/** Largest allocation: one extent of MAX_SPAN chunks minus its header line. */
export const MAX_ALLOC = MAX_SPAN * CHUNK_SIZE - EXTENT_DATA;

export class Allocator {
  readonly geos: RunGeometry[] = runGeometries(CHUNK_SIZE);
  nChunks = 0;
  runs = new Map<number, Run>();
  /** Extents (EXTENT) and log segments (LOG): chunk index → chunks. */
  extents = new Map<number, number>();
  logs = new Map<number, number>();
  /**
   * Chunk index → first byte of the chunk a caller's range may cover: a run's `dataStart`
   * (past its header and bitmap), EXTENT_DATA in an extent's first chunk, 0 inside an extent,
   * NO_DATA for free and log chunks. One typed-array load vets a range (`inDataSpace`).
   */
  private dataFrom = new Uint16Array(0);
  /** Free chunk ranges in DRAM: sorted, disjoint, coalesced. */
  freeStarts: number[] = [];
  freeLens: number[] = [];
  /**
   * Chunks whose header word is a real FREE span header on the pool (or will be, once the
   * running transaction's queued writes are applied). A new extent covering one of them must
   * snapshot it: a rollback has to bring that header back for the chunk walk.
   */
  spanStarts = new Set<number>();
  /**
   * Runs of each class with a free block: a min-heap by chunk index, so a block is taken from
   * the lowest such run. The heap then fills from its start and its free space gathers at the
   * end, where `shrink` can give it back (after a map is cleared, say, its new small table is
   * not placed in a run near the end that would pin the tail). Each change is O(log runs), and
   * happens only when a run fills up or gets its first free block again.
   */
  partial: Run[][] = CLASS_SIZES.map(() => []);
  damage: Damage[] = [];
  /** Chunks from here on are not used: a damaged header stopped the walk. */
  usableChunks = 0;
  /** Called when no free range fits; grows the pool by at least `chunks`, or returns false. */
  grow: (chunks: number) => boolean = () => false;
  private readonly h: DecodedHeader = { kind: 0, span: 0, cls: 0 };

  constructor(
    private readonly mem: Mem,
    readonly heapOffset: number,
  ) {}

  chunkOffset(i: number): number {
    return this.heapOffset + i * CHUNK_SIZE;
  }

  /** Rebuilds the DRAM index from the pool's chunk headers and bitmaps. */
  rebuild(size: number): void {
    this.nChunks = Math.floor((size - this.heapOffset) / CHUNK_SIZE);
    if (this.dataFrom.length !== this.nChunks) this.dataFrom = new Uint16Array(this.nChunks);
    this.dataFrom.fill(NO_DATA);
    this.runs.clear();
    this.extents.clear();
    this.logs.clear();
    this.freeStarts = [];
    this.freeLens = [];
    this.spanStarts.clear();
    for (const p of this.partial) p.length = 0;
    this.damage = [];
    const { view, bytes } = this.mem;
    const h = this.h;
    let i = 0;
    while (i < this.nChunks) {
      const off = this.chunkOffset(i);
      if (!decodeHeader(view.getUint32(off, true), view.getUint32(off + 4, true), h)) {
        this.damage.push({ offset: off, message: `chunk ${i}: damaged header; chunks ${i}.. are not used`, kind: 'chunk-header' });
        break;
      }
      if (i + h.span > this.nChunks) {
        this.damage.push({ offset: off, message: `chunk ${i}: span of ${h.span} chunks runs past the heap end`, kind: 'chunk-bounds' });
        break;
      }
      if (h.kind === KIND_FREE) {
        this.appendFree(i, h.span);
        this.spanStarts.add(i);
      } else if (h.kind === KIND_RUN) {
        const g = this.geos[h.cls]!;
        const run = new Run(i, h.cls, off, g);
        const bm = off + 8;
        let used = 0;
        for (let w = 0; w < run.avail.length; w++) {
          const b = bm + w * 4;
          const word = (bytes[b]! | (bytes[b + 1]! << 8) | (bytes[b + 2]! << 16) | (bytes[b + 3]! << 24)) >>> 0;
          const extra = word & run.avail[w]!;
          if (extra !== 0) {
            this.damage.push({ offset: b, message: `run at chunk ${i}: bitmap bits set past the last block`, kind: 'bitmap' });
          }
          run.avail[w] = (run.avail[w]! | word) >>> 0;
          used += popcount(word & ~extra);
        }
        run.nFree = g.blocks - used;
        this.runs.set(i, run);
        this.dataFrom[i] = g.dataStart;
        if (run.nFree > 0) this.pushPartial(run);
      } else if (h.kind === KIND_EXTENT) {
        this.extents.set(i, h.span);
        this.markExtent(i, h.span);
      } else {
        this.logs.set(i, h.span);
      }
      i += h.span;
    }
    this.usableChunks = i;
  }

  private appendFree(start: number, len: number): void {
    const n = this.freeStarts.length;
    if (n > 0 && this.freeStarts[n - 1]! + this.freeLens[n - 1]! === start) this.freeLens[n - 1]! += len;
    else {
      this.freeStarts.push(start);
      this.freeLens.push(len);
    }
  }

  /** Inserts a free chunk range, coalescing with neighbours. */
  insertFree(start: number, len: number): void {
    const s = this.freeStarts;
    const l = this.freeLens;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    invariant(lo === s.length || s[lo]! >= start + len, 'free range overlaps a free range after it');
    invariant(lo === 0 || s[lo - 1]! + l[lo - 1]! <= start, 'free range overlaps a free range before it');
    const joinPrev = lo > 0 && s[lo - 1]! + l[lo - 1]! === start;
    const joinNext = lo < s.length && s[lo]! === start + len;
    if (joinPrev && joinNext) {
      l[lo - 1]! += len + l[lo]!;
      s.splice(lo, 1);
      l.splice(lo, 1);
    } else if (joinPrev) {
      l[lo - 1]! += len;
    } else if (joinNext) {
      s[lo] = start;
      l[lo]! += len;
    } else {
      s.splice(lo, 0, start);
      l.splice(lo, 0, len);
    }
  }

  /** New chunks after growth: [from, to), persistently FREE already. */
  addChunks(from: number, to: number): void {
    invariant(from === this.nChunks && to > from, 'growth must append chunks');
    const wasWhole = this.usableChunks === this.nChunks;
    this.nChunks = to;
    const dataFrom = new Uint16Array(to).fill(NO_DATA);
    dataFrom.set(this.dataFrom);
    this.dataFrom = dataFrom;
    if (wasWhole) {
      this.insertFree(from, to - from);
      for (let i = from; i < to; i += MAX_SPAN + 1) this.spanStarts.add(i);
      this.usableChunks = to;
    }
  }

  private pushPartial(run: Run): void {
    run.inPartial = true;
    heapPush(this.partial[run.cls]!, run);
  }

  usableSizeOfClass(cls: number): number {
    return this.geos[cls]!.blockSize;
  }

  /** Allocates `size` bytes inside `tx`; returns the block's offset. */
  alloc(size: number, tx: AllocTx): number {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new FerriteError('EINVAL', `allocation size must be a positive integer, got ${String(size)}`);
    }
    if (size > MAX_ALLOC) throw new FerriteError('ERANGE', `allocation of ${size} bytes exceeds the largest (${MAX_ALLOC})`);
    if (size <= MAX_RUN_BLOCK) return this.allocBlock(classOf(size), tx);
    const n = Math.ceil((size + EXTENT_DATA) / CHUNK_SIZE);
    const i = this.takeChunks(n, KIND_EXTENT, tx, true);
    this.extents.set(i, n);
    this.markExtent(i, n);
    const off = this.chunkOffset(i) + EXTENT_DATA;
    tx.fresh(off, n * CHUNK_SIZE - EXTENT_DATA);
    return off;
  }

  private allocBlock(cls: number, tx: AllocTx): number {
    const list = this.partial[cls]!;
    let run = list.length > 0 ? list[0]! : undefined;
    if (run === undefined) run = this.newRun(cls, tx);
    // Room for the bitmap word's snapshot. Nothing below depends on the free chunk index, so
    // a log that grows here (taking free chunks) changes nothing this step has planned.
    tx.reserveLog(1, 8);
    invariant(run.nFree > 0 && run.inPartial, 'the run chosen for a block still has a free block');
    const avail = run.avail;
    let w = run.hint;
    while (w < avail.length && avail[w] === 0xffffffff) w++;
    if (w === avail.length) {
      w = 0;
      while (w < avail.length && avail[w] === 0xffffffff) w++;
    }
    invariant(w < avail.length, 'a partial run has a free block');
    const x = avail[w]!;
    const bit = 31 - Math.clz32(~x & (x + 1));
    avail[w] = (x | (1 << bit)) >>> 0;
    run.hint = w;
    run.nFree--;
    if (run.nFree === 0) {
      invariant(list[0] === run, 'the run a block came from is the lowest partial one');
      heapRemove(list, 0);
      run.inPartial = false;
    }
    const block = w * 32 + bit;
    const g = run.g;
    invariant(block < g.blocks, 'block index inside the run');
    const bm = run.base + 8;
    tx.snapshot(bm + (block >> 6) * 8, 8);
    tx.defer(OP_SET_BIT, bm + (block >> 3), 1 << (block & 7));
    const off = run.base + g.dataStart + block * g.blockSize;
    tx.fresh(off, g.blockSize);
    return off;
  }

  private newRun(cls: number, tx: AllocTx): Run {
    const i = this.takeChunks(1, KIND_RUN, tx, true, cls);
    const base = this.chunkOffset(i);
    const g = this.geos[cls]!;
    // The chunk is ours in the DRAM index and its header change is queued: a log that grows
    // here cannot take it, and the bitmap snapshot below then never grows the log.
    tx.reserveLog(1, g.bitmapBytes);
    tx.snapshot(base + 8, g.bitmapBytes);
    tx.defer(OP_ZERO, base + 8, g.bitmapBytes);
    const run = new Run(i, cls, base, g);
    this.runs.set(i, run);
    this.dataFrom[i] = g.dataStart;
    this.pushPartial(run);
    return run;
  }

  /**
   * Takes `n` contiguous chunks for a run, extent or log segment: first fit in the free
   * index, else after turning empty runs back into free chunks (when `reclaim`), else after
   * growing the pool; else PoolFullError. Logs and queues the header writes.
   */
  takeChunks(n: number, kind: number, tx: AllocTx, reclaim: boolean, cls = 0): number {
    invariant(n >= 1 && n <= MAX_SPAN, 'chunk count within one header span');
    for (let attempt = 0; ; attempt++) {
      invariant(attempt < 1000, 'allocation loop terminates');
      const s = this.freeStarts;
      const l = this.freeLens;
      let relook = false;
      for (let k = 0; k < s.length; k++) {
        if (l[k]! < n) continue;
        const start = s[k]!;
        const len = l[k]!;
        // The chunks taken, [at, at + n): the range's first ones, or its last ones (a log
        // segment whose snapshots would not fit at the start, see below).
        let at = start;
        let inner = this.innerSpanStarts(at, n);
        // Snapshots of this step: the inner span headers, the first chunk's header, and the
        // FREE headers of what is left of the range after the window (and before it).
        let entries = inner.length + 1 + freeSpanHeaders(len - n);
        // A log segment's snapshots (and the link, one more) must fit the segment's reserve.
        // Chunks freed one at a time keep a FREE header each, too many to snapshot there; the
        // chunks a growth appends are few spans, at the range's end. Skipped instead, the range
        // stayed too fragmented after every growth (the new chunks join it), and the pool grew
        // to its maxSize before the log failed with ENOSPC.
        if (kind === KIND_LOG && entries + 1 > RESERVE_ENTRIES) {
          at = start + len - n;
          inner = this.innerSpanStarts(at, n);
          entries = inner.length + 1 + freeSpanHeaders(len - n);
          if (entries + 1 > RESERVE_ENTRIES) continue;
        }
        if (tx.reserveLog(entries, 8 * entries)) {
          relook = true; // the log took chunks: the range may be gone or split
          break;
        }
        // From here on nothing grows the log, so the free index stays as read above.
        for (const c of inner) {
          const h = this.chunkOffset(c);
          tx.snapshot(h, 8);
          tx.cancelDeferred(h);
          this.spanStarts.delete(c);
        }
        if (inner.length > 0) tx.needDrain();
        this.spanStarts.delete(at);
        invariant(s[k] === start && l[k] === len, 'the free range did not change while it was split');
        const left = at - start;
        const right = start + len - (at + n);
        invariant(left === 0 || right === 0, 'a window at the start or the end of the range');
        if (left > 0) {
          l[k] = left;
        } else if (right === 0) {
          s.splice(k, 1);
          l.splice(k, 1);
        } else {
          s[k] = at + n;
          l[k] = right;
        }
        const off = this.chunkOffset(at);
        tx.snapshot(off, 8);
        tx.defer(OP_HEADER, off, encodeLow(kind, kind === KIND_RUN ? cls : n));
        if (right > 0) this.writeFreeSpan(at + n, right, tx);
        // What is left before the window: FREE headers that end at it (the range's spans may
        // run past `at`; a chunk walk must find the window's header).
        if (left > 0) this.writeFreeSpan(start, left, tx);
        invariant(this.freeStarts === s && (k + 1 >= s.length || s[k + 1]! >= at + n), 'the split left the free index ordered');
        return at;
      }
      if (relook) continue;
      if (reclaim && this.reclaimEmptyRuns(tx) > 0) continue;
      if (this.grow(n)) continue;
      throw new PoolFullError(`pool full: no ${n * CHUNK_SIZE} contiguous bytes free and the pool may not grow`);
    }
  }

  /** Real span headers strictly inside [start, start + n). */
  private innerSpanStarts(start: number, n: number): number[] {
    const out: number[] = [];
    if (n - 1 <= this.spanStarts.size) {
      for (let c = start + 1; c < start + n; c++) if (this.spanStarts.has(c)) out.push(c);
    } else {
      for (const c of this.spanStarts) if (c > start && c < start + n) out.push(c);
    }
    return out;
  }

  /** Logs and queues FREE headers covering [start, start + len). */
  writeFreeSpan(start: number, len: number, tx: AllocTx): void {
    while (len > 0) {
      const q = Math.min(len, MAX_SPAN + 1);
      const off = this.chunkOffset(start);
      this.spanStarts.add(start);
      tx.snapshot(off, 8);
      tx.defer(OP_HEADER, off, encodeLow(KIND_FREE, q - 1));
      start += q;
      len -= q;
    }
  }

  /** Turns every run with no allocated block into a free chunk (logged). */
  reclaimEmptyRuns(tx: AllocTx): number {
    let n = 0;
    for (const [i, run] of this.runs) {
      if (run.nFree !== run.g.blocks) continue;
      // One run is one step: reclaimed runs before it are whole in the index and the pool's
      // queued changes, so a log growing here sees a consistent free index.
      tx.reserveLog(2, 8 + run.g.bitmapBytes);
      const off = this.chunkOffset(i);
      tx.snapshot(off, 8);
      tx.defer(OP_HEADER, off, encodeLow(KIND_FREE, 0));
      // The chunk may be handed out in this transaction: its bitmap must come back on rollback.
      tx.snapshot(off + 8, run.g.bitmapBytes);
      tx.needDrain();
      this.spanStarts.add(i);
      this.runs.delete(i);
      this.dataFrom[i] = NO_DATA;
      if (run.inPartial) {
        const list = this.partial[run.cls]!;
        heapRemove(list, list.indexOf(run));
        run.inPartial = false;
      }
      this.insertFree(i, 1);
      n++;
    }
    return n;
  }

  /**
   * Result of the last successful `locate`: the block's run and index (run set), or its
   * extent's first chunk and length (run undefined). Reused to keep free() allocation-free.
   */
  readonly found: { run: Run | undefined; block: number; extent: number; chunks: number } = {
    run: undefined,
    block: 0,
    extent: 0,
    chunks: 0,
  };

  /** Finds the allocated block starting at `offset` (into `found`); false when there is none. */
  locate(offset: number): boolean {
    if (!Number.isSafeInteger(offset) || offset < this.heapOffset) return false;
    const i = Math.floor((offset - this.heapOffset) / CHUNK_SIZE);
    if (i >= this.nChunks) return false;
    const f = this.found;
    const run = this.runs.get(i);
    if (run !== undefined) {
      const rel = offset - run.base - run.g.dataStart;
      if (rel < 0 || rel % run.g.blockSize !== 0) return false;
      const block = rel / run.g.blockSize;
      if (block >= run.g.blocks) return false;
      if ((run.avail[block >> 5]! & (1 << (block & 31))) === 0) return false;
      f.run = run;
      f.block = block;
      return true;
    }
    const n = this.extents.get(i);
    if (n !== undefined && offset === this.chunkOffset(i) + EXTENT_DATA) {
      f.run = undefined;
      f.extent = i;
      f.chunks = n;
      return true;
    }
    return false;
  }

  private markExtent(i: number, n: number): void {
    this.dataFrom[i] = EXTENT_DATA;
    this.dataFrom.fill(0, i + 1, i + n);
  }

  /**
   * Whether [offset, offset + length) lies in the heap's data space: in a run's blocks or an
   * extent's data, never over a chunk header, a run's bitmap, a log chunk or a free chunk.
   * Those are the bytes check() trusts; the transaction vets every range a caller adds with
   * this, so an offset read through a damaged reference cannot reach them. It does not tell
   * live blocks from free ones: a damaged reference can still point into user data, which no
   * check of offsets can tell from a sound one. One typed-array load per chunk touched.
   */
  inDataSpace(offset: number, length: number): boolean {
    const rel = offset - this.heapOffset;
    const i = Math.floor(rel * CHUNK_RECIPROCAL);
    if (i < 0 || i >= this.nChunks) return false;
    const end = rel - i * CHUNK_SIZE + length;
    if (rel - i * CHUNK_SIZE < this.dataFrom[i]!) return false;
    if (end <= CHUNK_SIZE) return true;
    // Only an extent spans chunks: every further chunk touched must be the inside of one.
    const last = i + Math.ceil(end * CHUNK_RECIPROCAL) - 1;
    if (last >= this.nChunks) return false;
    for (let j = i + 1; j <= last; j++) if (this.dataFrom[j] !== 0) return false;
    return true;
  }

  /** Logs and queues the free of a located block; the DRAM index changes at commit. */
  free(offset: number, tx: AllocTx): void {
    // Room first: a log that grows allocates, and locate's result (`found`) is shared.
    tx.reserveLog(1, 8);
    if (!this.locate(offset)) throw new FerriteError('EINVAL', `free(${offset}): not an allocated block`);
    const { run, block, extent, chunks } = this.found;
    if (run !== undefined) {
      const bm = run.base + 8;
      tx.snapshot(bm + (block >> 6) * 8, 8);
      tx.defer(OP_CLEAR_BIT, bm + (block >> 3), 1 << (block & 7));
    } else {
      const off = this.chunkOffset(extent);
      tx.snapshot(off, 8);
      tx.defer(OP_HEADER, off, encodeLow(KIND_FREE, chunks - 1));
    }
  }

  /** Makes blocks freed by a committed transaction available again. */
  commitFree(offset: number): void {
    invariant(this.locate(offset), 'a block freed in a transaction is still located at its commit');
    const { run, block, extent, chunks } = this.found;
    if (run !== undefined) {
      run.avail[block >> 5] = (run.avail[block >> 5]! & ~(1 << (block & 31))) >>> 0;
      run.nFree++;
      if ((block >> 5) < run.hint) run.hint = block >> 5;
      if (!run.inPartial) this.pushPartial(run);
    } else {
      this.extents.delete(extent);
      this.dataFrom.fill(NO_DATA, extent, extent + chunks);
      this.insertFree(extent, chunks);
      this.spanStarts.add(extent);
    }
  }

  /** Usable bytes of an allocated block; EINVAL when `offset` is not one. */
  usableSize(offset: number): number {
    if (!this.locate(offset)) throw new FerriteError('EINVAL', `usableSize(${offset}): not an allocated block`);
    const f = this.found;
    return f.run !== undefined ? f.run.g.blockSize : f.chunks * CHUNK_SIZE - EXTENT_DATA;
  }

  /**
   * The first chunk of the free tail: chunks [result, nChunks) are all free (nChunks when the
   * last chunk is in use, or a damaged header stopped the walk, whose tail is then unknown).
   */
  get freeTailStart(): number {
    const last = this.freeStarts.length - 1;
    if (last < 0 || this.usableChunks !== this.nChunks) return this.nChunks;
    const start = this.freeStarts[last]!;
    return start + this.freeLens[last]! === this.nChunks ? start : this.nChunks;
  }

  /**
   * The pool's size dropped to `k` chunks (shrink.ts): every chunk from `k` on was free, and
   * no span header before `k` reaches past it. Forgets the tail in the DRAM index.
   */
  cutTail(k: number): void {
    invariant(k >= 1 && k <= this.nChunks && this.freeTailStart <= k, 'only a free tail is cut');
    if (k === this.nChunks) return;
    const last = this.freeStarts.length - 1;
    const start = this.freeStarts[last]!;
    if (start === k) {
      this.freeStarts.pop();
      this.freeLens.pop();
    } else {
      this.freeLens[last] = k - start;
    }
    for (const c of this.spanStarts) if (c >= k) this.spanStarts.delete(c);
    this.dataFrom = this.dataFrom.slice(0, k);
    this.nChunks = k;
    this.usableChunks = k;
  }

  get freeChunks(): number {
    let n = 0;
    for (const l of this.freeLens) n += l;
    return n;
  }

  get largestFreeRange(): number {
    let m = 0;
    for (const l of this.freeLens) if (l > m) m = l;
    return m;
  }
}

// ---- the partial runs' min-heaps (by chunk index) ----

function heapPush(h: Run[], run: Run): void {
  h.push(run);
  siftUp(h, h.length - 1);
}

/** Removes the element at `at` (0 is the lowest run). */
function heapRemove(h: Run[], at: number): void {
  invariant(at >= 0 && at < h.length, 'a run removed from its heap is in it');
  const last = h.pop()!;
  if (at === h.length) return;
  h[at] = last;
  siftDown(h, at);
  siftUp(h, at);
}

function siftUp(h: Run[], at: number): void {
  const run = h[at]!;
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (h[parent]!.chunk <= run.chunk) break;
    h[at] = h[parent]!;
    at = parent;
  }
  h[at] = run;
}

function siftDown(h: Run[], at: number): void {
  const run = h[at]!;
  const n = h.length;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= n) break;
    if (child + 1 < n && h[child + 1]!.chunk < h[child]!.chunk) child++;
    if (h[child]!.chunk >= run.chunk) break;
    h[at] = h[child]!;
    at = child;
  }
  h[at] = run;
}

/** FREE headers that describe a free span of `len` chunks (one per MAX_SPAN + 1 chunks). */
export function freeSpanHeaders(len: number): number {
  return len <= 0 ? 0 : Math.ceil(len / (MAX_SPAN + 1));
}

export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
