/**
 * Reading a pool file for the command: its header copies (decoded without opening, so a
 * damaged file can still be described), then the pool and the store on top, read-only.
 * Every function here opens the file read-only: the mapping is PROT_READ and a pending
 * transaction is rolled back only in a private copy (the heap's read-only open), so the file
 * is never written.
 */
import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { FerriteError, isFerriteError } from '@ferrite/core';
import type { ErrorCode } from '@ferrite/core';
import { MAX_RUN_BLOCK } from '@ferrite/heap';
import type { Pool } from '@ferrite/heap';
import type { PoolStats } from '@ferrite/heap';
import { Store, openPoolFile } from '@ferrite/tx';
import type { CollectionKind } from '@ferrite/tx';
import { HEADER_A, HEADER_B, HEADER_COPY_SIZE, readHeaderCopy, uuidString } from './heap-internals.js';

export interface HeaderCopyReport {
  readonly name: 'A' | 'B';
  readonly offset: number;
  readonly ok: boolean;
  /**
   * True when the copy does not even carry ferrite's magic number (a copy the file is too short
   * to hold whole is judged by the bytes it has: a pool cut short keeps its magic number).
   */
  readonly badMagic: boolean;
  readonly reason?: string;
  readonly seq?: number;
}

export interface HeaderReport {
  readonly version: number;
  readonly uuid: string;
  readonly layout: string;
  readonly size: number;
  /** The size the pool may grow to (format 3 keeps it; a format-2 header reads as `size`). */
  readonly maxSize: number;
  readonly heapOffset: number;
  readonly seq: number;
  /** Which copy these fields come from. */
  readonly copy: 'A' | 'B';
}

export interface HeaderScan {
  readonly fileSize: number;
  readonly copies: readonly HeaderCopyReport[];
  /** The copy open would use (valid, highest seq), when there is one. */
  readonly header?: HeaderReport;
}

/**
 * The damaged header copies of a scan, for stderr (undefined when both are sound). A damaged
 * copy makes every command that examines the pool exit 1, whichever it is (command.ts), though
 * the pool opens from the other copy.
 */
export function damagedHeaderCopies(scan: HeaderScan): string | undefined {
  const bad = scan.copies.filter((c) => !c.ok);
  if (bad.length === 0) return undefined;
  return bad.map((c) => `header copy ${c.name} is damaged${c.reason === undefined ? '' : ` (${c.reason})`}`).join('; ') + ": 'ferrite check --repair' rewrites it from the other";
}

export interface SizeClassReport {
  readonly name: string;
  readonly blockSize: number;
  readonly runs: number;
  readonly usedBlocks: number;
  readonly freeBlocks: number;
  readonly usedBytes: number;
}

export interface UsageReport {
  readonly poolSize: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly logOverflowBytes: number;
  readonly allocations: number;
  readonly extents: number;
  readonly extentBytes: number;
  readonly fragmentation: number;
  /** Classes with at least one run. */
  readonly classes: readonly SizeClassReport[];
}

export interface CollectionReport {
  readonly name: string;
  readonly kind: CollectionKind;
  readonly size: number;
}

export interface ErrorReport {
  /** The FerriteError's code, or 'INTERNAL' for an exception that is a bug in ferrite. */
  readonly code: ErrorCode | 'INTERNAL';
  readonly message: string;
}

export interface PoolReport {
  readonly file: string;
  readonly fileSize: number;
  readonly headerCopies: readonly HeaderCopyReport[];
  readonly header?: HeaderReport;
  /** True when an interrupted transaction waits to be rolled back by a writable open. */
  readonly recoveryPending?: boolean;
  /** Committed transactions in the redo log that the next writable open copies into the pool file (see OpenedPool). */
  readonly redoRecordsPending?: number;
  readonly usage?: UsageReport;
  /** The store's collections; absent when the pool is not a store (or did not open). */
  readonly collections?: readonly CollectionReport[];
  /** Why the pool could not be opened. */
  readonly openError?: ErrorReport;
  /** Why the pool opened but its store could not be read. */
  readonly storeError?: ErrorReport;
}

/** Bytes read to decode both header copies. */
const HEADER_SPAN = HEADER_B + HEADER_COPY_SIZE;

/**
 * Reads and decodes both header copies of `path` without mapping or locking it.
 * @throws FerriteError ENOENT / EACCES (file system), ENODEV (not a regular file).
 */
export function scanHeaders(path: string): HeaderScan {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw fsError(path, err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FerriteError('ENODEV', `${path} is not a regular file`);
    const bytes = new Uint8Array(Math.min(HEADER_SPAN, st.size));
    let got = 0;
    // A bounded loop: at most HEADER_SPAN bytes, and a short read (end of file) stops it.
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, got);
      if (n <= 0) break;
      got += n;
    }
    return decodeHeaders(bytes.subarray(0, got), st.size);
  } finally {
    closeSync(fd);
  }
}

/** Decodes the header copies found in the first bytes of a pool image. Never throws. */
export function decodeHeaders(bytes: Uint8Array, fileSize: number): HeaderScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const copies: HeaderCopyReport[] = [];
  let best: HeaderReport | undefined;
  for (const [name, offset] of [['A', HEADER_A], ['B', HEADER_B]] as const) {
    const c = readHeaderCopy(bytes, view, offset);
    if (!c.ok) {
      copies.push({ name, offset, ok: false, badMagic: c.badMagic && !carriesMagic(bytes, offset), reason: c.reason });
      continue;
    }
    copies.push({ name, offset, ok: true, badMagic: false, seq: c.fields.seq });
    if (best === undefined || c.fields.seq > best.seq) {
      best = {
        version: c.version,
        uuid: uuidString(c.fields.uuid),
        layout: c.fields.layout,
        size: c.fields.size,
        maxSize: c.fields.maxSize,
        heapOffset: c.fields.heapOffset,
        seq: c.fields.seq,
        copy: name,
      };
    }
  }
  return best === undefined ? { fileSize, copies } : { fileSize, copies, header: best };
}

/**
 * True when the header copy at `offset` begins with ferrite's magic number, whatever else is
 * wrong with it. `readHeaderCopy` calls a copy the file is too short to hold "bad magic"
 * before it looks at the magic; on the copy padded with zeros to its whole size its answer is
 * the magic number's alone (a missing byte is a zero, which the magic number has none of).
 */
function carriesMagic(bytes: Uint8Array, offset: number): boolean {
  const padded = new Uint8Array(offset + HEADER_COPY_SIZE);
  padded.set(bytes.subarray(0, padded.length));
  const c = readHeaderCopy(padded, new DataView(padded.buffer), offset);
  return c.ok || !c.badMagic;
}

/**
 * EBADMAGIC when neither header copy of the scanned file carries ferrite's magic number: it is
 * not a pool, whatever its size, and every command exits 2 on it. The heap calls a file too
 * short for a header ECORRUPT, damage (exit 1), magic number or not: found in review, a 6-byte
 * text file gave 1 and a 5000-byte one 2. A file that has the magic number and is cut short
 * stays a damaged pool.
 */
export function refuseNonPool(scan: HeaderScan): void {
  if (!scan.copies.every((c) => c.badMagic)) return;
  const why = scan.fileSize < HEADER_SPAN ? `a file of ${scan.fileSize} bytes without ferrite's magic number` : 'bad magic in both header copies';
  throw new FerriteError('EBADMAGIC', `not a ferrite pool (${why})`);
}

function fsError(path: string, err: unknown): FerriteError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new FerriteError('ENOENT', `no such file: ${path}`);
  if (code === 'EACCES' || code === 'EPERM') return new FerriteError('EACCES', `permission denied: ${path}`);
  if (code === 'EISDIR') return new FerriteError('ENODEV', `${path} is a directory`);
  return new FerriteError('EIO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
}

/** A pool opened for the command, with its store when the pool holds one. */
export interface OpenedPool {
  readonly pool: Pool;
  readonly store?: Store;
  readonly storeError?: ErrorReport;
  readonly scan: HeaderScan;
  /** An interrupted transaction was found (read-only: rolled back in memory only). */
  readonly recoveryPending: boolean;
  /**
   * Committed transactions in the redo log (`<pool>.wal`) not yet copied into the pool file (a
   * crash after their commit: durable, and read; the next writable open copies them). Not damage.
   */
  readonly redoRecordsPending: number;
  /**
   * True when a writer changed the pool since this read-only open (one that opened after it:
   * with a writer there already, the open reads a private copy of one committed state). A
   * command that read the pool meanwhile reads it again with `freeze` (see `readConsistently`).
   */
  changed(): boolean;
  close(): void;
}

/**
 * Runs a read-only command's work (`work(freeze)` opens the pool and reads it) so that what it
 * reports is one committed state: a writer that has the pool open when the command starts is
 * frozen out by a private copy (`openPool`); one that opens while the command reads makes the
 * work run again, frozen from the start.
 */
export function readConsistently<T>(work: (freeze: boolean) => { result: T; changed: boolean }): T {
  const first = work(false);
  return first.changed ? work(true).result : first.result;
}

/**
 * Describes an error met while reading a pool. A FerriteError keeps its code. Anything else
 * is a bug in ferrite (damage must end in a FerriteError); it is reported as 'INTERNAL' with
 * where it was thrown, so the command still prints a report and exits instead of dying.
 */
export function errorReport(err: unknown): ErrorReport {
  if (isFerriteError(err)) return { code: err.code, message: err.message };
  const e = err instanceof Error ? err : new Error(String(err));
  // The first frame in ferrite's own code says where the unchecked read is.
  const frames = (e.stack ?? '').split('\n').filter((l) => l.trim().startsWith('at '));
  const frame = frames.find((l) => /[\\/]src[\\/]/.test(l)) ?? frames[0] ?? '';
  return { code: 'INTERNAL', message: `internal error (a bug in ferrite, please report it): ${e.name}: ${e.message} ${frame.trim()}` };
}

/**
 * Opens `path` read-only (or writable for repair), whatever its layout name.
 * The store is opened on top when the pool holds one; `store` is absent (and `storeError`
 * says why) when it does not. A writable open only wraps the pool in a store when
 * `storeExpected` (a store over a pool without a root would create one). `heapOnly` never
 * opens a store: for pools made with @ferrite/heap directly, whose root is the caller's own.
 * @throws FerriteError from the file system or the heap (EBADMAGIC, ECORRUPT, EBUSY, ...);
 *   EBADMAGIC for a file that is not a pool (`refuseNonPool`), whatever its size.
 */
export function openPool(
  path: string,
  options: { readOnly: boolean; storeExpected?: boolean; scan?: HeaderScan; heapOnly?: boolean; freeze?: boolean },
): OpenedPool {
  const scan = options.scan ?? scanHeaders(path);
  refuseNonPool(scan);
  // No layout given: a tool opens a pool of any layout, as PMDK's tools do.
  const pool = openPoolFile(path, { readOnly: options.readOnly });
  // A read-only open follows a live writer (the heap's live-reader.ts). A tool reads the pool
  // through many calls and reports them together: with a writer there, it reads a private copy
  // of the committed state it finds (memory: the pool's size), so its report is one state.
  const reader = pool.reader;
  try {
    if (reader !== undefined && (options.freeze === true || reader.writerAlive())) reader.freeze();
  } catch (err) {
    pool.close();
    throw err;
  }
  const openedAt = reader?.sequence() ?? 0;
  // A read-only open recovers in memory: a redo log's committed records replayed (a crash after
  // their commit, normal on an ordinary file), an interrupted transaction rolled back (damage
  // of a kind: the one thing `check` reports). A writable open has done both in the file.
  const pending = options.readOnly ? pool.pendingRecovery : undefined;
  const recoveryPending = options.readOnly ? pending?.rollback === true : pool.recovered;
  const redoRecordsPending = pending?.replayRecords ?? 0;
  let store: Store | undefined;
  let storeError: ErrorReport | undefined;
  const wantStore = options.heapOnly !== true && (options.readOnly || options.storeExpected === true);
  if (wantStore) {
    try {
      store = Store.fromPool(pool);
    } catch (err) {
      storeError = errorReport(err);
    }
  }
  if (wantStore && store === undefined && storeError === undefined && pool.rootOffset() === 0) {
    storeError = { code: 'EINVAL', message: 'the pool has no root object: it holds no store' };
  }
  return {
    pool,
    store,
    storeError,
    scan,
    recoveryPending,
    redoRecordsPending,
    changed: () => reader !== undefined && !reader.frozen && reader.sequence() !== openedAt,
    close() {
      if (store !== undefined) store.close();
      else pool.close();
    },
  };
}

/** Space usage from the heap's statistics and its allocation list. */
export function usageOf(pool: Pool): UsageReport {
  const s: PoolStats = pool.stats();
  let allocations = 0;
  let extents = 0;
  let extentBytes = 0;
  for (const a of pool.allocations()) {
    allocations += 1;
    if (a.size > MAX_RUN_BLOCK) {
      extents += 1;
      extentBytes += a.size;
    }
  }
  const classes: SizeClassReport[] = [];
  s.perClass.forEach((c, index) => {
    if (c.runs === 0) return;
    classes.push({
      name: `c${index}`,
      blockSize: c.size,
      runs: c.runs,
      usedBlocks: c.allocated,
      freeBlocks: c.free,
      usedBytes: c.allocated * c.size,
    });
  });
  return {
    poolSize: s.size,
    usedBytes: s.used,
    freeBytes: s.free,
    logOverflowBytes: s.logOverflow,
    allocations,
    extents,
    extentBytes,
    fragmentation: s.fragmentation,
    classes,
  };
}

/**
 * Everything `info` shows. Never throws for a damaged pool: what could not be read is
 * reported in `openError` / `storeError`. Throws only when the file itself cannot be read.
 */
export function inspectPool(path: string, options: { heapOnly?: boolean } = {}): PoolReport {
  return readConsistently((freeze) => inspectOnce(path, options.heapOnly, freeze));
}

function inspectOnce(path: string, heapOnly: boolean | undefined, freeze: boolean): { result: PoolReport; changed: boolean } {
  const scan = scanHeaders(path);
  const base = { file: path, fileSize: scan.fileSize, headerCopies: scan.copies, header: scan.header };
  let opened: OpenedPool;
  try {
    opened = openPool(path, { readOnly: true, scan, heapOnly, freeze });
  } catch (err) {
    const report = errorReport(err);
    if (report.code === 'EBUSY' || report.code === 'ENOENT' || report.code === 'EACCES') throw err;
    return { result: { ...base, openError: report }, changed: false };
  }
  try {
    const usage = usageOf(opened.pool);
    let collections: CollectionReport[] | undefined;
    let storeError = opened.storeError;
    if (opened.store !== undefined) {
      try {
        collections = opened.store.collections().map((c) => ({ name: c.name, kind: c.kind, size: c.size }));
      } catch (err) {
        storeError = errorReport(err);
      }
    }
    return { result: { ...base, recoveryPending: opened.recoveryPending, redoRecordsPending: opened.redoRecordsPending, usage, collections, storeError }, changed: opened.changed() };
  } finally {
    opened.close();
  }
}
