/**
 * pool.check(): walks every piece of persistent metadata, independently of the DRAM index,
 * and compares the two. Reports problems; never throws on damage.
 */
import { popcount } from './allocator.js';
import type { Allocator } from './allocator.js';
import { decodeHeader, KIND_EXTENT, KIND_FREE, KIND_LOG, KIND_RUN, runGeometries } from './chunks.js';
import type { DecodedHeader } from './chunks.js';
import { readHeaderCopy } from './header.js';
import type { HeaderFields } from './header.js';
import { CHUNK_SIZE, HEADER_A, HEADER_B, peekU64, ROOT_OFFSET, ROOT_SIZE } from './layout.js';
import type { Mem } from './mem.js';
import { pendingEntries } from './undo-log.js';
import type { UndoLog } from './undo-log.js';

export interface CheckProblem {
  /** Pool offset the problem is about. */
  offset: number;
  message: string;
  /**
   * 'header' | 'log-pending' | 'log-chain' | 'log-orphan' | 'chunk-header' | 'chunk-bounds' |
   * 'bitmap' | 'bitmap-dram' | 'accounting' | 'overlap' | 'root'
   */
  kind: string;
}

export interface CheckReport {
  ok: boolean;
  problems: CheckProblem[];
  /** Figures the walk found (persistent state). */
  chunks: number;
  freeChunks: number;
  runs: number;
  extents: number;
  logChunks: number;
  allocatedBlocks: number;
}

interface Checked {
  mem: Mem;
  log: UndoLog;
  alloc: Allocator;
  heapOffset: number;
  size: number;
  headerFields: HeaderFields;
}

export function checkPool(pool: Checked): CheckReport {
  const problems: CheckProblem[] = [];
  const add = (offset: number, kind: string, message: string): void => {
    if (problems.length < 1000) problems.push({ offset, kind, message });
  };
  const { mem, log, alloc, heapOffset, size } = pool;
  const { bytes, view } = mem;

  // Header copies.
  for (const [name, base] of [['A', HEADER_A], ['B', HEADER_B]] as const) {
    const c = readHeaderCopy(bytes, view, base);
    if (!c.ok) add(base, 'header', `header copy ${name}: ${c.reason}`);
    else if (c.fields.seq !== pool.headerFields.seq || c.fields.size !== size || c.fields.maxSize !== pool.headerFields.maxSize) {
      add(base, 'header', `header copy ${name} is stale (seq ${c.fields.seq}, size ${c.fields.size}, maxSize ${c.fields.maxSize})`);
    }
  }

  // Undo log.
  for (const d of log.damage) add(d.offset, 'log-chain', d.message);
  // Entries of the current generation followed by a matching sealed record belong to a
  // committed transaction (a read-only open of a pool whose last sealed commit's generation
  // word was not yet durable): not pending. A writable pool's G moved past them at open.
  const pending = pendingEntries(mem, log, size);
  if (pending > 0) add(log.segments[0]!.start, 'log-pending', `${pending} valid undo log entries outside a transaction`);
  const logChunks = new Set<number>();
  for (const s of log.segments) if (s.chunk >= 0) logChunks.add((s.chunk - heapOffset) / CHUNK_SIZE);

  // Chunk walk.
  for (const d of alloc.damage) add(d.offset, d.kind, d.message);
  const geos = runGeometries(CHUNK_SIZE);
  const nChunks = Math.floor((size - heapOffset) / CHUNK_SIZE);
  const h: DecodedHeader = { kind: 0, span: 0, cls: 0 };
  const walkFree: number[] = [];
  const seenRuns = new Set<number>();
  const seenExtents = new Set<number>();
  let freeChunks = 0;
  let runs = 0;
  let extents = 0;
  let logChunkCount = 0;
  let allocatedBlocks = 0;
  let i = 0;
  while (i < nChunks) {
    const off = heapOffset + i * CHUNK_SIZE;
    if (!decodeHeader(view.getUint32(off, true), view.getUint32(off + 4, true), h)) {
      add(off, 'chunk-header', `chunk ${i}: header fails its check or has an unknown kind`);
      break;
    }
    if (i + h.span > nChunks) {
      add(off, 'chunk-bounds', `chunk ${i}: span ${h.span} runs past the heap end (${nChunks} chunks)`);
      break;
    }
    const inDram = alloc.runs.has(i) || alloc.extents.has(i) || alloc.logs.has(i);
    if (h.kind === KIND_FREE) {
      freeChunks += h.span;
      const n = walkFree.length;
      if (n > 0 && walkFree[n - 2]! + walkFree[n - 1]! === i) walkFree[n - 1]! += h.span;
      else walkFree.push(i, h.span);
      if (inDram) add(off, 'accounting', `chunk ${i}: free on the pool but in use in the DRAM index`);
    } else if (h.kind === KIND_RUN) {
      runs++;
      const g = geos[h.cls]!;
      const run = alloc.runs.get(i);
      if (run === undefined || run.cls !== h.cls) add(off, 'accounting', `chunk ${i}: run of class ${h.cls} not in the DRAM index`);
      seenRuns.add(i);
      let used = 0;
      const bm = off + 8;
      for (let b = 0; b < g.bitmapBytes; b++) {
        const byte = bytes[bm + b]!;
        for (let k = 0; k < 8; k++) {
          if ((byte & (1 << k)) === 0) continue;
          const block = b * 8 + k;
          if (block >= g.blocks) add(bm + b, 'bitmap', `chunk ${i}: bitmap bit ${block} set past the last block (${g.blocks})`);
          else used++;
        }
      }
      allocatedBlocks += used;
      if (run !== undefined) {
        for (let w = 0; w < run.avail.length; w++) {
          const p = bm + w * 4;
          const word = (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24)) >>> 0;
          const tail = w === run.avail.length - 1 && g.blocks % 32 !== 0 ? ~((1 << (g.blocks % 32)) - 1) >>> 0 : 0;
          if (((word | tail) >>> 0) !== run.avail[w]) {
            add(p, 'bitmap-dram', `chunk ${i}: bitmap word ${w} disagrees with the DRAM index`);
          }
        }
        if (run.g.blocks - run.nFree !== used) {
          add(off, 'accounting', `chunk ${i}: ${used} blocks allocated on the pool, ${run.g.blocks - run.nFree} in DRAM`);
        }
      }
    } else if (h.kind === KIND_EXTENT) {
      extents++;
      allocatedBlocks++;
      seenExtents.add(i);
      if (alloc.extents.get(i) !== h.span) add(off, 'accounting', `chunk ${i}: extent of ${h.span} chunks not in the DRAM index`);
    } else if (h.kind === KIND_LOG) {
      logChunkCount += h.span;
      if (!logChunks.has(i)) add(off, 'log-orphan', `chunk ${i}: undo log chunks not linked from the log`);
    }
    i += h.span;
  }
  for (const c of logChunks) {
    if (alloc.logs.get(c) === undefined) add(heapOffset + c * CHUNK_SIZE, 'log-chain', `log segment at chunk ${c} is not a LOG span`);
  }
  for (const k of alloc.runs.keys()) if (!seenRuns.has(k)) add(heapOffset + k * CHUNK_SIZE, 'accounting', `DRAM run at chunk ${k} is not a run on the pool`);
  for (const k of alloc.extents.keys()) if (!seenExtents.has(k)) add(heapOffset + k * CHUNK_SIZE, 'accounting', `DRAM extent at chunk ${k} is not an extent on the pool`);

  // Free index vs walk (only meaningful when the walk covered the whole heap).
  if (i >= nChunks) {
    const same =
      walkFree.length === 2 * alloc.freeStarts.length &&
      alloc.freeStarts.every((s, k) => walkFree[2 * k] === s && walkFree[2 * k + 1] === alloc.freeLens[k]);
    if (!same) add(heapOffset, 'accounting', `free chunk index (${alloc.freeChunks} chunks) disagrees with the pool (${freeChunks} chunks)`);
  }

  // Overlaps among DRAM spans (a span covering another's start).
  const spans: [number, number][] = [];
  for (const k of alloc.runs.keys()) spans.push([k, 1]);
  for (const [k, n] of alloc.extents) spans.push([k, n]);
  for (const [k, n] of alloc.logs) spans.push([k, n]);
  for (let f = 0; f < alloc.freeStarts.length; f++) spans.push([alloc.freeStarts[f]!, alloc.freeLens[f]!]);
  spans.sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < spans.length; k++) {
    const [ps, pn] = spans[k - 1]!;
    if (ps + pn > spans[k]![0]) add(heapOffset + spans[k]![0] * CHUNK_SIZE, 'overlap', `chunks ${ps}+${pn} overlap chunk ${spans[k]![0]}`);
  }

  // Root record.
  const rootOffset = peekU64(view, ROOT_OFFSET);
  const rootSize = peekU64(view, ROOT_SIZE);
  if (rootOffset < 0 || rootSize < 0) add(ROOT_OFFSET, 'root', 'root record holds a value above 2^53');
  else if (rootOffset !== 0) {
    if (!alloc.locate(rootOffset)) add(ROOT_OFFSET, 'root', `root ${rootOffset} is not an allocated block`);
    else {
      const usable = alloc.usableSize(rootOffset);
      if (usable < rootSize) add(ROOT_SIZE, 'root', `root size ${rootSize} exceeds its block (${usable})`);
    }
  }

  return {
    ok: problems.length === 0,
    problems,
    chunks: nChunks,
    freeChunks,
    runs,
    extents,
    logChunks: logChunkCount,
    allocatedBlocks,
  };
}
