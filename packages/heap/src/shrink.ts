/**
 * Giving a pool's tail back (`pool.shrink()`): the chunks at the end of the heap that hold no
 * data leave the pool, and its file (or region) is cut there.
 *
 * Protocol, each step crash-safe on its own:
 * 0. When the undo log has overflow segments (LOG chunks a transaction that outgrew the log's
 *    area linked, kept for later big transactions) and freeing them lengthens the free tail, a
 *    transaction unlinks and frees them: between transactions the log holds nothing. Its own
 *    few undo entries lie in segment 0 (checked), so a crash in it is rolled back by a
 *    recovery that follows the link as it is on the media, whether the store to it landed.
 * 1. A transaction turns empty runs into free chunks (what the allocator does before growing,
 *    `reclaimEmptyRuns`) when that lengthens the free tail, and, when the whole heap is free,
 *    splits its span so that chunk 0 (the one chunk a heap keeps) is a span of its own. After
 *    it, every chunk from k on is free and no span header before k reaches past k: the pool is
 *    valid with its old size and with the size that ends at chunk k.
 * 2. Both header copies get the new size (A persisted, then B; on a pool file, one commit of
 *    the redo log): the pool is now k chunks long, durably.
 * 3. The region (the pool file) is cut at the new size: `Region.shrink`, or the FileTarget's
 *    `shrinkPool` (on a file written through the redo log, first a checkpoint, so no record an
 *    open may replay names the tail).
 * The order matters: a crash between 2 and 3 leaves a file longer than its header says, which
 * every open accepts (the tail is not looked at; the next shrink cuts it); the other order
 * would leave a file shorter than its header, which open refuses (ECORRUPT). So the header
 * always goes first, and a file longer than its header is cut by shrink even when no chunk is
 * freed.
 */
import { invariant } from '@ferrite/core';
import type { AllocTx, Allocator } from './allocator.js';
import { freeSpanHeaders, OP_HEADER, OP_U64 } from './allocator.js';
import { encodeLow, KIND_FREE } from './chunks.js';
import { CHUNK_SIZE, ENTRY_HEADER, LOG_NEXT } from './layout.js';
import type { UndoLog } from './undo-log.js';

/** What `pool.shrink()` returns. */
export interface ShrinkResult {
  /** The pool's size (its header's) before and after. */
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  /** The length of the file (the region) before and after: what the file system got back is the difference. */
  readonly fileBefore: number;
  readonly fileAfter: number;
}

/** What the protocol needs from the pool (pool.ts provides it). */
export interface ShrinkHost {
  readonly alloc: Allocator;
  readonly log: UndoLog;
  readonly heapOffset: number;
  /** The header's size now. */
  readonly size: number;
  /** The region's (file's) length now. */
  readonly regionLength: number;
  /** Runs `fn` as one transaction of the pool (rolled back if it throws). */
  transaction(fn: (tx: AllocTx) => void): void;
  /** Reads the undo log's segment chain from the pool again (after step 0 committed). */
  reloadLog(): void;
  /** Step 2: both header copies say `newSize`, durably. */
  setSize(newSize: number): void;
  /** Step 3: the region (file) cut at `newLength`, durably, where it can be. */
  truncate(newLength: number): void;
}

/** True when chunk `c` lies in a free range of the DRAM index. */
function isFree(alloc: Allocator, c: number): boolean {
  const s = alloc.freeStarts;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s[mid]! <= c) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && c < s[lo - 1]! + alloc.freeLens[lo - 1]!;
}

/**
 * Where the free tail would start once the empty runs (and, with `logs`, the undo log's
 * overflow segments) are freed: walks back over free chunks and those. At most nChunks steps.
 */
function tailAfterReclaim(alloc: Allocator, logs: boolean): number {
  let k = alloc.freeTailStart;
  if (alloc.usableChunks !== alloc.nChunks) return k;
  while (k > 0) {
    const run = alloc.runs.get(k - 1);
    if (run !== undefined && run.nFree === run.g.blocks) {
      k--;
      continue;
    }
    if (isFree(alloc, k - 1)) {
      k--;
      continue;
    }
    let segment = -1;
    if (logs) for (const [i, n] of alloc.logs) if (i + n === k) segment = i;
    if (segment < 0) break;
    k = segment;
  }
  return k;
}

/**
 * Step 0: unlinks and frees every overflow segment of the undo log, in the running transaction
 * (which must have written nothing yet). Its undo entries — the link word and the segments'
 * chunk headers — must all lie in segment 0: an entry written into a segment being freed would
 * be missed by a recovery that finds the link already cleared.
 */
function releaseLogSegments(alloc: Allocator, log: UndoLog, tx: AllocTx): void {
  const segments = [...alloc.logs];
  if (segments.length === 0) return;
  const entries = 1 + segments.length;
  invariant(log.seg === 0 && log.fits(entries * (ENTRY_HEADER + 8)), "step 0's undo entries fit segment 0");
  tx.reserveLog(entries, 8 * entries);
  tx.snapshot(LOG_NEXT, 8);
  tx.defer(OP_U64, LOG_NEXT, 0);
  for (const [i, n] of segments) {
    const off = alloc.chunkOffset(i);
    tx.snapshot(off, 8);
    tx.defer(OP_HEADER, off, encodeLow(KIND_FREE, n - 1));
    alloc.logs.delete(i);
    alloc.insertFree(i, n);
    alloc.spanStarts.add(i);
  }
  invariant(log.seg === 0, "step 0's undo entries stayed in segment 0");
}

/** The shrink protocol (see the module comment). */
export function shrinkPool(host: ShrinkHost): ShrinkResult {
  const alloc = host.alloc;
  const sizeBefore = host.size;
  const fileBefore = host.regionLength;
  // Step 0, only when freeing the log's segments gives more back, in a transaction of its own.
  const log = host.log;
  if (alloc.logs.size > 0 && log.damage.length === 0 && tailAfterReclaim(alloc, true) < tailAfterReclaim(alloc, false)) {
    host.transaction((tx) => releaseLogSegments(alloc, log, tx));
    host.reloadLog();
    invariant(log.segments.length === 1 && alloc.logs.size === 0, 'the undo log is back to its segment 0');
  }
  // Step 1, only when it gives more back than the tail already free, or the heap is all free.
  if (tailAfterReclaim(alloc, false) < alloc.freeTailStart || alloc.freeTailStart === 0) {
    host.transaction((tx) => {
      if (tailAfterReclaim(alloc, false) < alloc.freeTailStart) alloc.reclaimEmptyRuns(tx);
      const n = alloc.nChunks;
      if (alloc.freeTailStart === 0 && n > 1) {
        // Chunk 0 stays (a heap has at least one): its span must end where the pool will.
        const entries = 1 + freeSpanHeaders(n - 1);
        tx.reserveLog(entries, 8 * entries);
        alloc.writeFreeSpan(0, 1, tx);
        alloc.writeFreeSpan(1, n - 1, tx);
      }
    });
  }
  const k = Math.max(1, alloc.freeTailStart);
  invariant(k <= alloc.nChunks && (k === alloc.nChunks || alloc.freeTailStart <= k), 'the chunks cut are free');
  const newSize = host.heapOffset + k * CHUNK_SIZE;
  if (newSize < host.size) {
    host.setSize(newSize); // step 2: the header first
    alloc.cutTail(k);
  }
  const size = host.size;
  invariant(size === Math.min(sizeBefore, newSize), 'the header says the new size');
  if (host.regionLength > size) host.truncate(size); // step 3: then the file
  return { sizeBefore, sizeAfter: size, fileBefore, fileAfter: host.regionLength };
}
