/**
 * The pool: a Region holding a ferrite heap. Creation, open (with recovery), the root
 * object, transactions, growth, statistics and close.
 */
import { randomBytes } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { types } from 'node:util';
import {
  CorruptionError, FerriteError, PoolFullError, booleanOption, checkRange, integerOption, invalidArgument, invariant, isFerriteError, readOptions, stringOption,
} from '@ferrite/core';
import { isFileTarget } from '@ferrite/core';
import type { FileIO, FileTarget, Region } from '@ferrite/core';
import { Allocator } from './allocator.js';
import { checkPool } from './check.js';
import type { CheckReport } from './check.js';
import { CLASS_SIZES, encodeLow, headerCheck, KIND_FREE, MAX_SPAN } from './chunks.js';
import { chooseHeader, encodeLayout, uuidString, writeHeader } from './header.js';
import type { HeaderFields } from './header.js';
import {
  CHUNK_SIZE, defaultHeapOffset, heapOffsetFor, LOG_ENTRIES, LOG_GENERATION, MAX_POOL_SIZE, peekU64, readU64, ROOT_OFFSET, ROOT_RECORD,
  ROOT_SIZE, writeU64, HEADER_A, HEADER_COPY_SIZE, READER_WORDS, READER_WORDS_SIZE,
} from './layout.js';
import { debugChecks } from './debug.js';
import { FileRegion } from './file-region.js';
import { StagedRegion } from './staged-region.js';
import { RECORDS_START, encodeWalHeader, readWalHeader, scanWal } from './wal.js';
import type { ReplayRange, WalScan } from './wal.js';
import { Mem } from './mem.js';
import { PrivateRegion } from './private-region.js';
import type { PendingRecovery } from './private-region.js';
import { runEveryHook, TxImpl } from './transaction.js';
import type { Transaction, TxHost } from './transaction.js';
import { bumpGeneration, inspectLog, pendingEntries, readGeneration, rollBack, UndoLog, writeGeneration } from './undo-log.js';
import { CommitSeq, wordsOf } from './commit-seq.js';
import { LiveReader } from './live-reader.js';
import type { ReaderPool, ReaderSource } from './live-reader.js';
import { shrinkPool } from './shrink.js';
import type { ShrinkResult } from './shrink.js';

export interface PoolCreateOptions {
  /** Layout name (≤ 64 UTF-8 bytes, no NUL); default 'ferrite'. */
  layout?: string;
  /** Initial pool size in bytes (at least 32 KiB). */
  size: number;
  /** Largest size the pool may grow to (default: `size`, no growth); kept in the header. */
  maxSize?: number;
  /** Bytes of undo log inside the pool's first chunks (default 15.8 KiB below 4 MiB, else 79.4 KiB). */
  logCapacity?: number;
  /** A Region target: close it when the pool closes (default false). A FileTarget always is. */
  ownRegion?: boolean;
  /** A FileTarget: as PoolOpenOptions.checkpointBytes. */
  checkpointBytes?: number;
}

export interface PoolOpenOptions {
  /**
   * Layout name the pool must have (ELAYOUT otherwise). Omitted: any layout opens, as with
   * PMDK's `pmemobj_open(path, NULL)`; `pool.layout` then tells which one it is.
   */
  layout?: string;
  /**
   * Largest size the pool may grow to. Default: the one kept in its header (a pool of format
   * 2, which kept none: its size). Given on a writable open, it replaces the one in the header
   * (durably, before open returns); it may not be below the pool's current size, and a
   * read-only open refuses one that differs from the header's.
   */
  maxSize?: number;
  /**
   * Open without writing. On a pool file whose target can tell whether a writer holds it
   * (`FileTarget.writerAlive`), the pool is read live: reads follow the writer's commits
   * (`pool.reader`). Elsewhere, and when recovery is needed with no writer, recovery happens in
   * a private in-memory copy.
   */
  readOnly?: boolean;
  /** A live reader (see readOnly): how long a read waits for a writer inside one change, ms (default 10 s). */
  readTimeout?: number;
  /** A Region target: close it when the pool closes (default false). A FileTarget always is. */
  ownRegion?: boolean;
  /**
   * A FileTarget on an ordinary file: redo log bytes after which a checkpoint syncs the pool
   * file and starts the log over (default 32 MiB; at least 64 KiB). Bounds replay time and the
   * log file's size.
   */
  checkpointBytes?: number;
}

export interface ClassStats {
  /** Block size of the class. */
  size: number;
  runs: number;
  allocated: number;
  free: number;
}

export interface PoolStats {
  size: number;
  /** The size the pool may grow to (kept in its header). */
  maxSize: number;
  /** Bytes in allocated blocks (usable sizes), the root included, the log's chunks excluded. */
  used: number;
  /** Bytes in free chunks plus free blocks of runs. */
  free: number;
  /** Bytes of chunks owned by the undo log's overflow segments. */
  logOverflow: number;
  perClass: ClassStats[];
  /** 1 - (largest free chunk range / free chunk bytes); 0 when nothing or one range is free. */
  fragmentation: number;
  transactions: number;
  /** Cache lines flushed / drains issued since open. */
  flushes: number;
  drains: number;
  lastTx: { flushes: number; drains: number };
  /** How commits become durable, and what it cost since open. */
  durability: DurabilityStats;
  /**
   * Times this writer waited before a change because a reader in another process or thread
   * asked it to (a read overtaken by commits again and again), and the milliseconds waited.
   */
  readerPauses: { count: number; ms: number };
}

/** How a pool's commits become durable (`pool.stats().durability`). */
export interface DurabilityStats {
  /**
   * 'flush': stores into the pool's memory made durable by cache-line flushes and fences (or
   * msync) — persistent memory, a simulated one, any Region; 'redo-log': a pool on an ordinary
   * file, whose commits write a redo record and sync it (one device sync each).
   */
  readonly mode: 'flush' | 'redo-log';
  /** Device syncs since open: log syncs and checkpoints' syncs ('redo-log'); drains ('flush'). */
  readonly syncs: number;
  /** Redo records written (commits or groups); 0 for 'flush'. */
  readonly records: number;
  /** Checkpoints of the redo log; 0 for 'flush'. */
  readonly checkpoints: number;
  /** Bytes of redo records written; 0 for 'flush'. */
  readonly logBytes: number;
}

const MIN_LOG = 1024;

/** The layout name of a pool created without one. */
export const DEFAULT_LAYOUT = 'ferrite';

// Pool is a TxHost (checked where transactions are made): not declared with `implements`,
// since TxHost's members are internal and stripped from the published types.
export class Pool {
  readonly layout: string;
  readonly uuid: string;
  readonly readOnly: boolean;
  private wasRecovered: boolean;
  private inMemory: boolean;

  /**
   * Open rolled back an interrupted transaction. A live reader (`reader`): it reads a private
   * recovered copy now (its writer died mid-change, or none is open and the pool needs recovery).
   */
  get recovered(): boolean {
    return this.reader !== undefined ? this.reader.recovering : this.wasRecovered;
  }

  /** That rollback happened in a private copy (read-only open): the file still holds the log. */
  get recoveredInMemory(): boolean {
    return this.reader !== undefined ? this.reader.recovering : this.inMemory;
  }

  /**
   * What a writable open would still do to the file, for a pool recovered in memory
   * (`recoveredInMemory`): replay committed redo records (a crash after their commit, a normal
   * state of a pool on an ordinary file), roll back an interrupted transaction, or both.
   * Undefined when nothing is pending.
   */
  get pendingRecovery(): PendingRecovery | undefined {
    if (!this.recoveredInMemory) return undefined;
    if (this.reader === undefined && this.pendingFound !== undefined) return this.pendingFound;
    const region = this.reader !== undefined ? this.reader.recoveredCopy : this.mem.region;
    return region instanceof PrivateRegion ? region.recovery : { replayRecords: 0, rollback: true };
  }

  /** `pendingRecovery` of a read-only open of a pool file (its private view is not a PrivateRegion). */
  private pendingFound: PendingRecovery | undefined = undefined;
  /** Offset of chunk 0: user ranges (addRange) must lie in [heapOffset, size). */
  readonly heapOffset: number;
  /** @internal The region window and flush/drain counters. */
  readonly mem: Mem;
  /** @internal The undo log. */
  readonly log: UndoLog;
  /** @internal The allocator's DRAM index. */
  readonly alloc: Allocator;
  private header: HeaderFields;
  private ownsRegion: boolean;
  private readonly tx: TxImpl;
  private closed = false;
  private broken: unknown = undefined;
  private transactions = 0;
  /** A pool opened on a FileTarget whose region is not a staged one closes the target itself. */
  private fileTarget: FileTarget | undefined = undefined;
  /** ...and, written as persistent memory, removes its (empty) redo log on a clean close. */
  private removeWalAtClose = false;
  /**
   * A writer storing into the bytes readers see (persistent memory, any Region): the commit
   * sequence it makes odd around each transaction (commit-seq.ts). Undefined for readers and
   * for a writer on an ordinary file (its StagedRegion keeps the sequence around its copies).
   */
  private seq: CommitSeq | undefined = undefined;
  /** The commit sequence this writer keeps, wherever (here or in its StagedRegion): for stats. */
  private seqForStats: CommitSeq | undefined = undefined;
  /** The durability of the last deferred transaction that wrote (a pool file's group commit). */
  private lastDeferred: Promise<void> = RESOLVED;
  /**
   * The last function `transaction` or `transactionDeferred` found synchronous. A Store hands
   * the same body to every transaction it runs, so the test of its kind (two calls into C++,
   * about 20 ns, on every write) runs once for it; a function's kind never changes. At most
   * this one function is kept alive by the pool (dropped at close).
   */
  private lastSyncFn: unknown = undefined;
  /**
   * A pool opened read-only that follows a writer (a pool file's reader, or `openLive`): its
   * sections, in which every read of the pool must run (live-reader.ts). Undefined for a
   * writer, and for a read-only pool that is a snapshot taken at open.
   */
  reader: LiveReader | undefined = undefined;
  /** A live reader's DRAM index (log, allocator) is built on demand, from the state it reads. */
  private indexStale = false;

  private constructor(
    region: Region,
    header: HeaderFields,
    opts: { readOnly: boolean; ownsRegion: boolean; recovered: boolean; inMemory: boolean; scratchLog?: boolean },
  ) {
    this.header = header;
    this.layout = header.layout;
    this.uuid = uuidString(header.uuid);
    this.heapOffset = header.heapOffset;
    this.readOnly = opts.readOnly;
    this.wasRecovered = opts.recovered;
    this.inMemory = opts.inMemory;
    this.ownsRegion = opts.ownsRegion;
    this.mem = new Mem(region, { scratchLog: opts.scratchLog ?? false });
    this.log = new UndoLog(this.mem, this.heapOffset);
    this.alloc = new Allocator(this.mem, this.heapOffset);
    this.alloc.grow = (chunks) => this.growBy(chunks);
    this.tx = new TxImpl(this);
  }

  // ---- create / open / close ----

  /**
   * Creates a pool on a Region (its first `size` bytes: persistent memory, a simulated one) or
   * on a `FileTarget` (a pool file on an ordinary file system, with its redo log; made from a
   * path by `@ferrite/tx`'s `createPoolFile`, which also makes the creation of the file atomic).
   * A crash during create leaves no valid pool (open fails with EBADMAGIC or ECORRUPT), never a
   * half-made one: the old header copies are invalidated first, the new ones written last.
   * @throws EINVAL for a bad target, layout name, size or option; EACCES (a read-only target);
   *   ENOSPC / EIO from the file system.
   */
  static create(target: Region | FileTarget, options: PoolCreateOptions): Pool {
    checkTarget('Pool.create', target);
    const o = readOptions('Pool.create', options, ['layout', 'size', 'maxSize', 'logCapacity', 'ownRegion', 'checkpointBytes'] as const);
    const checkpointBytes = integerOption('Pool.create', 'option checkpointBytes', o.checkpointBytes, 64 * 1024, MAX_POOL_SIZE);
    const ownRegion = booleanOption('Pool.create', 'ownRegion', o.ownRegion, false);
    // Without a layout the pool is stamped 'ferrite' (what Store.open creates too).
    const layout = stringOption('Pool.create', 'layout', o.layout, DEFAULT_LAYOUT);
    encodeLayout(layout);
    if (o.size === undefined) throw invalidArgument('Pool.create', 'option size', 'an integer', undefined);
    const size = integerOption('Pool.create', 'option size', o.size, 1, MAX_POOL_SIZE, 0);
    const maxSize = integerOption('Pool.create', 'option maxSize', o.maxSize, size, MAX_POOL_SIZE, size);
    const logCapacity = integerOption('Pool.create', 'option logCapacity', o.logCapacity, MIN_LOG, MAX_POOL_SIZE);
    let heapOffset = defaultHeapOffset(size);
    if (logCapacity !== undefined) heapOffset = heapOffsetFor(logCapacity);
    if (heapOffset + CHUNK_SIZE > size) {
      throw new FerriteError('EINVAL', `size ${size} is too small: the header and log need ${heapOffset} bytes and the heap at least one ${CHUNK_SIZE}-byte chunk`);
    }
    const header: HeaderFields = { uuid: new Uint8Array(randomBytes(16)), layout, size, maxSize, heapOffset, seq: 1 };
    if (isFileTarget(target)) {
      if (target.readOnly) throw new FerriteError('EACCES', 'cannot create a pool on a read-only pool file');
      try {
        if (target.pool.length < size) target.growPool(size);
        const region = target.shared ?? new FileRegion(target);
        format(region, header);
        if (region !== target.shared) region.close();
        // A log of epoch 1, empty: whatever an older file at this name left is not this pool's.
        startWal(target, header.uuid, 1);
      } catch (err) {
        target.close(false);
        throw err;
      }
      return Pool.open(target, { layout, ...(checkpointBytes !== undefined ? { checkpointBytes } : {}) });
    }
    const region = target;
    if (!region.writable) throw new FerriteError('EACCES', 'cannot create a pool on a read-only region');
    if (region.length < size) {
      throw new FerriteError('EINVAL', `region of ${region.length} bytes is smaller than the pool size ${size}`);
    }
    format(region, header);
    const pool = new Pool(region, header, { readOnly: false, ownsRegion: ownRegion, recovered: false, inMemory: false }).init(false);
    pool.seq = new CommitSeq(region, pool.uuid);
    pool.seqForStats = pool.seq;
    return pool;
  }

  /**
   * Opens a pool on a Region or a `FileTarget`, rolling back a transaction a crash interrupted
   * (`pool.recovered`) and, on a file, first replaying the commits the redo log holds. Nothing
   * is written to a pool whose header is rejected.
   * Without `options.layout` any layout name is accepted; with it, another one is ELAYOUT.
   * @throws EBADMAGIC (not a pool), EVERSION, ELAYOUT, ECORRUPT (both header copies damaged,
   * file shorter than the header says, damaged log generation or redo log); EINVAL (options).
   */
  static open(target: Region | FileTarget, options: PoolOpenOptions = {}): Pool {
    checkTarget('Pool.open', target);
    let opts: ReturnType<typeof openOptions>;
    try {
      opts = openOptions(options);
    } catch (err) {
      // A FileTarget is ours from the call on: a refused option must not leave its files open
      // (found in review: a bad layout kept the writer's lock, and every later open was EBUSY).
      if (isFileTarget(target)) target.close(false);
      throw err;
    }
    const { readTimeout, checkpointBytes, ownRegion, layout, wantedMaxSize, readOnly } = opts;
    if (isFileTarget(target)) {
      try {
        if (target.readOnly || readOnly) {
          if (target.shared !== undefined && target.writerAlive !== undefined) return Pool.openLive(fileReaderSource(target, target.shared), layout, wantedMaxSize, readTimeout, target);
          return Pool.openFilesReadOnly(target, layout, wantedMaxSize);
        }
        if (target.shared?.isPmem === true) return Pool.openFilesPmem(target, target.shared, layout, wantedMaxSize);
        return Pool.openFiles(target, layout, wantedMaxSize, checkpointBytes);
      } catch (err) {
        target.close(false);
        throw err;
      }
    }
    const pool = Pool.openRegion(target, layout, wantedMaxSize, readOnly);
    // A read-only open that recovered into a private copy owns that copy, and closes the
    // caller's region now if it was handed over.
    if (ownRegion) {
      if (pool.mem.region === target) pool.ownsRegion = true;
      else target.close();
    }
    return pool;
  }

  /**
   * Open on a Region (the caller owns it). A writable open stores only inside a session of
   * `seq` (commit-seq.ts): the caller's, already begun, or one of its own; `seq` null: none (a
   * private copy no reader sees).
   */
  private static openRegion(region: Region, layout: string | undefined, wantedMaxSize: number | undefined, readOnly: boolean, seq?: CommitSeq | null): Pool {
    const chosen = chooseHeader(region.bytes, layout);
    let header = chosen.fields;
    checkWantedMaxSize(header, wantedMaxSize);
    if (readOnly || !region.writable) {
      if (wantedMaxSize !== undefined && wantedMaxSize !== header.maxSize) {
        throw new FerriteError('EINVAL', `Pool.open: a read-only open cannot change maxSize (the pool's is ${header.maxSize})`);
      }
      // Peek at the log on the original: recover in a private copy only when needed.
      const probe = new Pool(region, header, { readOnly: true, ownsRegion: false, recovered: false, inMemory: false });
      probe.log.load(header.size);
      if (!probe.hasPendingLog()) return probe.init(false);
      const copy = new PrivateRegion(region.bytes.subarray(0, header.size));
      copy.recovery = { replayRecords: 0, rollback: true };
      const pool = new Pool(copy, header, { readOnly: true, ownsRegion: true, recovered: true, inMemory: true });
      return pool.init(true);
    }
    // Readers in other processes see every store from here on: a session of the commit
    // sequence (new epoch, odd) covers the recovery; it ends even only once open succeeded.
    const own = seq === undefined ? new CommitSeq(region, uuidString(header.uuid)) : undefined;
    own?.beginSession();
    // A new maxSize, an older format or a stale copy: both copies rewritten (format 3), durably.
    if (wantedMaxSize !== undefined && wantedMaxSize !== header.maxSize) {
      header = { ...header, maxSize: wantedMaxSize, seq: header.seq + 1 };
      writeHeader(region, header);
    } else if (chosen.repair) {
      writeHeader(region, header);
    }
    const pool = new Pool(region, header, { readOnly: false, ownsRegion: false, recovered: false, inMemory: false });
    pool.init(true);
    if (own !== undefined) {
      own.leave();
      pool.seq = own;
      pool.seqForStats = own;
    }
    return pool;
  }

  /**
   * Writable open on a pool file: replay the redo log into the file (through its shared view,
   * or plain writes), sync it, start a new epoch of the log, roll back an undo log a crash left
   * (a pool last used on persistent memory) on the same view; then the writer works on a
   * private view whose commits go through the log (staged-region.ts). Owns `target`.
   */
  private static openFiles(target: FileTarget, layout: string | undefined, wantedMaxSize: number | undefined, checkpointBytes: number | undefined): Pool {
    const recovery: Region = target.shared ?? new FileRegion(target);
    let header: HeaderFields;
    let recovered: boolean;
    let epoch: number;
    let seq: CommitSeq | undefined;
    try {
      // The header first: a file too short or not a pool is ECORRUPT / EBADMAGIC before
      // anything reads the reader words inside it.
      const fields = chooseHeader(recovery.bytes, layout).fields;
      // Before the session: a refused open writes nothing (found in review: it bumped the
      // epoch). A replayed growth may still take the size past it: refused after the replay.
      checkWantedMaxSize(fields, wantedMaxSize);
      const uuid = fields.uuid;
      // Readers map the file too: the recovery below changes what they see (commit-seq.ts).
      seq = target.shared !== undefined ? new CommitSeq(target.shared) : undefined;
      if (seq !== undefined) seq.uuid = uuidString(uuid);
      seq?.beginSession();
      const scan = replayWal(target, uuid, recovery, recovery !== target.shared);
      if (scan.records > 0) {
        recovery.drain(); // the shared view: a page the file system could not give is EIO/ENOSPC here
        target.pool.sync();
      }
      epoch = startWal(target, uuid, scan.epoch + 1);
      const inner = Pool.openRegion(recovery, layout, wantedMaxSize, false, seq ?? null);
      header = inner.headerFields;
      recovered = inner.recovered;
      inner.detach();
      seq?.leave();
    } finally {
      if (recovery !== target.shared) recovery.close();
    }
    const view = target.openPrivate();
    try {
      // The writer's undo log is scratch: its generations start above the file's, so no entry
      // it writes could ever pass for one of the file's (which keeps its generation word).
      writeGeneration(view.bytes, LOG_GENERATION, readGeneration(new DataView(view.bytes.buffer, view.bytes.byteOffset, view.bytes.byteLength), LOG_GENERATION) + 1);
      let pool: Pool | undefined;
      const staged = new StagedRegion(target, view, {
        uuid: header.uuid,
        epoch,
        scratch: [READER_WORDS, READER_WORDS + READER_WORDS_SIZE, LOG_GENERATION, LOG_GENERATION + 8, LOG_ENTRIES, header.heapOffset],
        heapStart: header.heapOffset,
        ...(seq !== undefined ? { commitSeq: seq } : {}),
        ...(checkpointBytes !== undefined ? { checkpointBytes } : {}),
        onFailure: (err) => {
          if (pool !== undefined && pool.broken === undefined) pool.broken = err;
        },
      });
      pool = new Pool(staged, header, { readOnly: false, ownsRegion: true, recovered, inMemory: false, scratchLog: true });
      pool.tx.sealing = false;
      pool.seqForStats = seq;
      return pool.init(false);
    } catch (err) {
      view.close();
      throw err;
    }
  }

  /**
   * Writable open on a pool file that is persistent memory (DAX, or forced): the writer stores
   * into the shared view and flushes cache lines, as on any Region. A redo log a crash left
   * (the pool was last written as an ordinary file) is replayed into it first. Owns `target`.
   */
  private static openFilesPmem(target: FileTarget, shared: Region, layout: string | undefined, wantedMaxSize: number | undefined): Pool {
    const fields = chooseHeader(shared.bytes, layout).fields;
    // Before the session: a refused open writes nothing (found in review: it bumped the epoch).
    checkWantedMaxSize(fields, wantedMaxSize);
    const uuid = fields.uuid;
    const seq = new CommitSeq(shared, uuidString(uuid));
    seq.beginSession();
    const scan = replayWal(target, uuid, shared, true);
    if (scan.records > 0) {
      shared.drain();
      target.pool.sync();
      startWal(target, uuid, scan.epoch + 1);
    }
    const pool = Pool.openRegion(shared, layout, wantedMaxSize, false, seq);
    seq.leave();
    pool.seq = seq;
    pool.seqForStats = seq;
    pool.fileTarget = target;
    pool.removeWalAtClose = true;
    return pool;
  }

  /**
   * Read-only open on a pool file: a private view of it with the redo log's commits replayed
   * into it (in memory), and an interrupted transaction rolled back there too. Nothing is
   * written to either file. Owns `target`.
   */
  private static openFilesReadOnly(target: FileTarget, layout: string | undefined, wantedMaxSize: number | undefined): Pool {
    const view = target.openPrivate();
    try {
      const uuid = chooseHeader(view.bytes, layout).fields.uuid;
      const scan = scanWal(target.wal, uuid, MAX_POOL_SIZE, (r) => {
        if (r.offset + r.length > view.length) {
          throw new CorruptionError('ECORRUPT', `the redo log names [${r.offset}, +${r.length}) past the pool file's end (${view.length})`);
        }
        view.bytes.set(r.data.subarray(r.at, r.at + r.length), r.offset);
      });
      const chosen = chooseHeader(view.bytes, layout);
      const header = chosen.fields;
      if (wantedMaxSize !== undefined && wantedMaxSize !== header.maxSize) {
        throw new FerriteError('EINVAL', `Pool.open: a read-only open cannot change maxSize (the pool's is ${header.maxSize})`);
      }
      const probe = new Pool(view, header, { readOnly: true, ownsRegion: true, recovered: false, inMemory: scan.records > 0 });
      probe.fileTarget = target;
      probe.log.load(header.size);
      const rollback = probe.hasPendingLog();
      probe.pendingFound = { replayRecords: scan.records, rollback };
      if (!rollback) return probe.init(false);
      probe.wasRecovered = true;
      probe.inMemory = true;
      return probe.init(true);
    } catch (err) {
      view.close();
      throw err;
    }
  }

  /**
   * A live reader (live-reader.ts) of the pool `source` shows: reads follow the
   * writer's commits, each section observing one committed state. The header is read as it is
   * (its copies carry checksums, and a writer rewrites one at a time: one of them is always
   * whole); the DRAM index is built only when asked for (stats, check, allocations), inside
   * the caller's section. `owner`: a FileTarget the pool closes with itself.
   */
  static openLive(source: ReaderSource, layout: string | undefined, wantedMaxSize: number | undefined, readTimeout: number | undefined, owner?: FileTarget): Pool {
    if (typeof source !== 'object' || source === null || typeof source.follow !== 'function' || typeof source.writerAlive !== 'function' ||
        typeof source.shared !== 'object' || source.shared === null || !(source.shared.bytes instanceof Uint8Array)) {
      throw invalidArgument('Pool.openLive', 'source', 'a ReaderSource (shared, writerAlive, recover, follow, pauseWords, close)', source);
    }
    if (readTimeout !== undefined) integerOption('Pool.openLive', 'readTimeout', readTimeout, 0, 2 ** 31 - 1);
    try {
      let header = chooseHeader(source.shared.bytes, layout, { anyLength: true }).fields;
      // A writer may have grown the pool since the file was mapped: map it as it is now, and
      // again if it grew once more meanwhile (found in a test run: a second growth between the
      // two looks failed the open with ECORRUPT). The reader follows later growth by itself.
      for (let round = 0; header.size > source.shared.length; round++) {
        if (round === MAX_OPEN_FOLLOWS) {
          throw new FerriteError('EBUSY', `the pool grew ${round} times while it was being opened (its header says ${header.size} bytes, ${source.shared.length} are mapped): open it again`);
        }
        try {
          source.follow(header.size);
        } catch (err) {
          throw new CorruptionError('ECORRUPT', `file of ${source.shared.length} bytes is shorter than the ${header.size} bytes its header says (${err instanceof Error ? err.message : String(err)})`);
        }
        header = chooseHeader(source.shared.bytes, layout, { anyLength: true }).fields;
      }
      if (wantedMaxSize !== undefined && wantedMaxSize !== header.maxSize) {
        throw new FerriteError('EINVAL', `Pool.open: a read-only open cannot change maxSize (the pool's is ${header.maxSize})`);
      }
      const pool = new Pool(source.shared, header, { readOnly: true, ownsRegion: false, recovered: false, inMemory: false });
      if (owner !== undefined) pool.fileTarget = owner;
      pool.indexStale = true;
      const reader = new LiveReader(pool.readerPool, source, { uuid: pool.uuid, ...(readTimeout !== undefined ? { readTimeoutMs: readTimeout } : {}) });
      pool.reader = reader;
      reader.start();
      return pool;
    } catch (err) {
      source.close();
      throw err;
    }
  }

  /** What the live reader drives: where reads go, and the header they see. */
  private readonly readerPool: ReaderPool = {
    readFrom: (region: Region): void => {
      this.mem.region = region;
      this.mem.refresh();
      this.indexStale = true;
    },
    rereadHeader: (): number => {
      // The region object itself may have grown (a Region shared in one process).
      if (this.mem.bytes !== this.mem.region.bytes) this.mem.refresh();
      const fields = chooseHeader(this.mem.bytes, undefined, { anyLength: true }).fields;
      if (uuidString(fields.uuid) !== this.uuid) throw new CorruptionError('ECORRUPT', 'the pool file now holds another pool (its uuid changed)');
      this.header = fields;
      this.indexStale = true;
      return fields.size;
    },
    bytes: (): Uint8Array => this.mem.bytes,
  };

  /** A live reader's DRAM index (log segments, allocator), built from the state it reads now. */
  private ensureIndex(): void {
    if (!this.indexStale) return;
    const size = this.header.size;
    if (size > this.mem.bytes.length) throw new CorruptionError('ECORRUPT', `the pool's header says ${size} bytes; ${this.mem.bytes.length} are mapped`);
    this.log.load(size);
    this.alloc.rebuild(size);
    this.indexStale = false;
  }

  /**
   * A private copy of the pool `shared` shows, as a writer's open would recover it now: the
   * redo log `wal` replayed into it, an interrupted transaction rolled back. Undefined when
   * there is nothing to recover (no record in the log, no pending undo entry): the shared
   * bytes are a committed state.
   */
  static recoverCopy(shared: Region, wal: FileIO | undefined, follow?: (size: number) => void): Region | undefined {
    try {
      let header = chooseHeader(shared.bytes, undefined, { anyLength: true }).fields;
      if (header.size > shared.length) {
        if (follow === undefined) throw new CorruptionError('ECORRUPT', `the pool's header says ${header.size} bytes; ${shared.length} are mapped`);
        follow(header.size);
        header = chooseHeader(shared.bytes, undefined).fields;
      }
      let records = 0;
      let end = header.size;
      const scan = (apply: ((r: ReplayRange) => void) | undefined): void => {
        if (wal === undefined) return;
        scanWal(wal, header.uuid, MAX_POOL_SIZE, (r) => {
          if (apply !== undefined) apply(r);
          else {
            records++;
            end = Math.max(end, Math.ceil((r.offset + r.length) / CHUNK_SIZE) * CHUNK_SIZE);
          }
        });
      };
      scan(undefined);
      if (records === 0) {
        const probe = new Pool(shared, header, { readOnly: true, ownsRegion: false, recovered: false, inMemory: false });
        probe.log.load(header.size);
        if (!probe.hasPendingLog()) return undefined;
      }
      let copy = new PrivateRegion(shared.bytes.subarray(0, Math.min(shared.length, end)), end);
      const into = copy;
      scan((r) => into.bytes.set(r.data.subarray(r.at, r.at + r.length), r.offset));
      // A replayed growth names a size whose new tail no record need write (a free span is one
      // header at its start): the copy takes the size its header says now, as a writable open's
      // recovery grows the file.
      const replayed = chooseHeader(copy.bytes, undefined, { anyLength: true }).fields.size;
      if (replayed > copy.length) copy = new PrivateRegion(copy.bytes, replayed);
      const inner = Pool.openRegion(copy, undefined, undefined, false, null);
      copy.recovery = { replayRecords: records, rollback: inner.recovered };
      inner.detach();
      return copy;
    } finally {
      wal?.close();
    }
  }

  /**
   * Loads the log and the allocator's DRAM index. With `recover`: a log of generation G = w
   * whose commit record is sealed and matches is a committed transaction (kept); other valid
   * entries are rolled back. Either way, when the log held anything of generation w, G becomes
   * w + 2, never w + 1: entries of generation w + 1 that a crash left half-written in the other
   * area (a transaction that began after a sealed commit, before its first drain) must never
   * be taken for the next transaction's.
   */
  private init(recover: boolean): this {
    const size = this.header.size;
    this.log.load(size);
    if (recover) {
      const st = inspectLog(this.mem, this.log, size);
      if (st.sealed) {
        bumpGeneration(this.mem, this.log, 2);
      } else if (st.entries > 0 || st.record) {
        const restored = rollBack(this.mem, this.log, size, 2);
        this.wasRecovered = restored > 0;
      }
      this.log.load(size);
    }
    this.alloc.rebuild(size);
    return this;
  }

  private hasPendingLog(): boolean {
    // A pending transaction has at least one valid entry and no matching seal; no writes.
    return pendingEntries(this.mem, this.log, this.header.size) > 0;
  }

  /**
   * Closes the pool; idempotent. Unmaps the file when the pool mapped it. Not a commit point
   * (commits are durable already), but it fences a sealed commit's generation word, so a
   * closed pool's log holds nothing recovery must judge. ETXSTATE inside a transaction,
   * unless the pool failed while writing (then every other call throws EIO and closing, to
   * open it again, is what is left).
   */
  close(): void {
    if (this.closed) return;
    // A pool that failed while writing (an msync error, a page the file system could not
    // serve) can never end the transaction it failed in; closing, then opening again, is the
    // way out, so it is allowed then.
    if (this.tx.active && this.broken === undefined) throw new FerriteError('ETXSTATE', 'cannot close a pool inside a transaction');
    if (this.mem.genUnfenced && this.broken === undefined) this.mem.drain();
    this.closed = true;
    this.lastSyncFn = undefined;
    this.reader?.close();
    try {
      // A file-backed writer's region commits what is pending, checkpoints and closes its files.
      if (this.ownsRegion) this.mem.region.close();
    } finally {
      this.fileTarget?.close(this.removeWalAtClose && this.broken === undefined);
    }
  }

  /** Ends this object without closing its region (a recovery pass handing the region on). */
  private detach(): void {
    if (this.mem.genUnfenced) this.mem.drain();
    this.closed = true;
  }

  /** @internal False makes every commit classic (3 drains): for tests and benchmarks. */
  set sealedCommits(on: boolean) {
    this.tx.sealing = on;
  }

  // ---- accessors ----

  get size(): number {
    return this.header.size;
  }

  /** The size the pool may grow to, as kept in its header (see PoolOpenOptions.maxSize). */
  get maxSize(): number {
    return this.header.maxSize;
  }

  /** The root record's offset as stored (0 when none); for the transaction's free() guard. */
  get rootBlock(): number {
    return peekU64(this.mem.view, ROOT_OFFSET);
  }

  get region(): Region {
    return this.mem.region;
  }

  get bytes(): Uint8Array {
    return this.mem.bytes;
  }

  get view(): DataView {
    return this.mem.view;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * The error that made the pool unusable (a commit, a rollback or a durable write failed:
   * every later call throws EIO), or undefined while it works.
   */
  get failure(): unknown {
    return this.broken;
  }

  /** Reads a little-endian u64 that must be a safe integer (ECORRUPT otherwise). */
  readU64(offset: number): number {
    this.checkOpen();
    checkRange('readU64', offset, 8, this.mem.bytes.length);
    return readU64(this.mem.view, offset);
  }

  /**
   * Plain store of a u64 (no logging: inside a transaction, add the range first). EROFS on a
   * read-only pool (found in review: on a read-only mapping the store killed the process with
   * SIGSEGV), ECLOSED after close.
   */
  writeU64(offset: number, value: number): void {
    this.checkOpen();
    if (this.readOnly) throw new FerriteError('EROFS', 'writeU64: the pool is open read-only');
    checkRange('writeU64', offset, 8, this.mem.bytes.length);
    if (!Number.isSafeInteger(value) || value < 0) throw new FerriteError('EINVAL', `writeU64: ${String(value)} is not a non-negative safe integer`);
    // Outside a transaction, the last sealed commit's generation must be durable before any
    // store: recovery checks that commit's seal against the media, and a store into its bytes
    // reaching the media first made recovery roll the commit back (found in review).
    if (!this.tx.active && this.mem.genUnfenced) this.mem.drain();
    writeU64(this.mem.view, offset, value);
  }

  // ---- root ----

  /** Offset of the root object, 0 when none has been made. */
  rootOffset(): number {
    this.checkOpen();
    return this.validRoot().offset;
  }

  /**
   * Offset of the root object, allocating it zeroed (at least `size` bytes) in its own
   * transaction on first call (or inside the running one). When the root exists but is smaller
   * than `size`, it is reallocated: the old contents are copied, the rest zeroed, the old
   * block freed, atomically. Durable on return (outside a transaction).
   */
  root(size: number): number {
    this.checkOpen();
    if (!Number.isSafeInteger(size) || size <= 0) throw new FerriteError('EINVAL', `root size must be a positive integer`);
    const cur = this.validRoot();
    if (cur.offset !== 0 && cur.size >= size) return cur.offset;
    return this.transaction((tx) => {
      const fresh = tx.alloc(size, { zero: true });
      const bytes = this.mem.bytes;
      if (cur.offset !== 0) bytes.copyWithin(fresh, cur.offset, cur.offset + Math.min(cur.size, size));
      this.tx.addInternalRange(ROOT_RECORD, 16);
      writeU64(this.mem.view, ROOT_OFFSET, fresh);
      writeU64(this.mem.view, ROOT_SIZE, size);
      if (cur.offset !== 0) tx.free(cur.offset);
      return fresh;
    });
  }

  private validRoot(): { offset: number; size: number } {
    const offset = readU64(this.mem.view, ROOT_OFFSET);
    const size = readU64(this.mem.view, ROOT_SIZE);
    if (offset === 0) return { offset: 0, size: 0 };
    if (offset < this.heapOffset || offset + size > this.header.size) {
      throw new CorruptionError('ECORRUPT', `root record points outside the heap (${offset}+${size})`);
    }
    return { offset, size };
  }

  // ---- transactions ----

  /**
   * Runs `fn` in a transaction and returns its result once the transaction is durable.
   * A throw from `fn` (or `tx.abort()`) rolls back every added range and every alloc/free,
   * then rethrows. Nested calls join the outermost transaction; a throw out of a nested
   * call rolls back the whole transaction at once, and the outermost call then throws that
   * error even if `fn` caught it. `fn` must be synchronous. Stores inside the transaction to
   * bytes that were neither added nor freshly allocated are NOT undone (a caller bug).
   * @throws EINVAL when `fn` is not a function, EROFS on a read-only pool, ECLOSED after close,
   *   ETXSTATE for an async or generator function (before it runs) or a returned promise.
   */
  transaction<T>(fn: (tx: Transaction) => T): T {
    this.checkOpen();
    if (typeof fn !== 'function') throw invalidArgument('pool.transaction', 'fn', 'a function', fn);
    if (fn !== this.lastSyncFn) {
      if (types.isAsyncFunction(fn) || types.isGeneratorFunction(fn)) {
        throw new FerriteError('ETXSTATE', 'pool.transaction: fn must be synchronous (an async or generator function would write after the transaction ended); it was not run');
      }
      this.lastSyncFn = fn;
    }
    if (this.readOnly) throw new FerriteError('EROFS', 'the pool is open read-only');
    const tx = this.tx;
    if (tx.active) {
      if (tx.isDoomed) throw new FerriteError('ETXSTATE', 'the transaction was rolled back', { cause: tx.doomed });
      try {
        return fn(tx);
      } catch (err) {
        if (tx.active) this.guard(() => tx.rollbackAndDoom(err));
        throw err;
      }
    }
    return this.outermost(fn, false, undefined);
  }

  /**
   * Runs `fn` as a transaction whose DURABILITY is deferred: it commits at once (its effects are
   * visible, and a crash can no longer tear it), and `durable` resolves when a later commit made
   * it durable. On persistent memory every commit is durable when it returns, so `durable` is
   * resolved already; on a pool file (a staged region) the transactions of one event-loop turn
   * share one log write and sync (group commit), and a crash before it may lose them, whole,
   * and only together with every later one. `durable` rejects if that commit fails (the pool is
   * then unusable: EIO). ETXSTATE inside a running transaction. Otherwise as `transaction`.
   */
  transactionDeferred<T>(fn: (tx: Transaction) => T): { result: T; durable: Promise<void> } {
    this.checkOpen();
    if (typeof fn !== 'function') throw invalidArgument('pool.transactionDeferred', 'fn', 'a function', fn);
    if (fn !== this.lastSyncFn) {
      if (types.isAsyncFunction(fn) || types.isGeneratorFunction(fn)) {
        throw new FerriteError('ETXSTATE', 'pool.transactionDeferred: fn must be synchronous; it was not run');
      }
      this.lastSyncFn = fn;
    }
    if (this.readOnly) throw new FerriteError('EROFS', 'the pool is open read-only');
    if (this.tx.active) throw new FerriteError('ETXSTATE', 'pool.transactionDeferred inside a running transaction');
    const out = { durable: RESOLVED };
    const result = this.outermost(fn, true, out);
    return { result, durable: out.durable };
  }

  /**
   * Makes every transaction committed so far durable now, deferred ones included (on a pool
   * file: one log write and sync; elsewhere nothing is ever pending). ETXSTATE inside a
   * transaction; EIO if the commit fails (the pool is then unusable).
   */
  makeDurable(): void {
    this.checkOpen();
    if (this.tx.active) throw new FerriteError('ETXSTATE', 'pool.makeDurable inside a transaction');
    const region = this.mem.region;
    if (region.commit !== undefined && !this.readOnly) this.guard(() => region.commit!());
  }

  /**
   * The outermost transaction: run, commit (or roll back), and make it durable or defer it.
   * `out.durable` receives the promise of its durability, set before the commit hooks run (a
   * hook may run a transaction of its own); `transaction()` passes none: a returned pair was
   * an object per transaction, dropped at once.
   */
  private outermost<T>(fn: (tx: Transaction) => T, deferred: boolean, out: { durable: Promise<void> } | undefined): T {
    const tx = this.tx;
    // Readers see the pool change from here to the end of the commit or rollback: the commit
    // sequence is odd meanwhile. It stays odd if that end fails (the pool is broken; readers
    // wait, then recover a copy once this writer is gone).
    const seq = this.seq;
    seq?.enter();
    try {
      tx.begin();
    } catch (err) {
      seq?.leave(); // nothing readers see was written: beginning writes only the log
      throw err;
    }
    let result: T;
    try {
      result = fn(tx);
      if (isThenable(result)) throw new FerriteError('ETXSTATE', 'transaction functions must be synchronous');
    } catch (err) {
      this.guard(() => tx.end(true));
      seq?.leave();
      this.debugCheckAfterGrowth();
      throw err;
    }
    if (tx.isDoomed) {
      const reason = tx.doomed;
      tx.end(false);
      seq?.leave();
      this.debugCheckAfterGrowth();
      throw reason;
    }
    const region = this.mem.region;
    if (region.reserve !== undefined && tx.touched) {
      // A pool file: room in the redo log first, while a refusal can still roll back.
      const f = tx.commitFootprint();
      try {
        region.reserve(f.bytes, f.ranges);
      } catch (err) {
        this.guard(() => tx.end(true));
        seq?.leave();
        this.debugCheckAfterGrowth();
        throw err;
      }
    }
    let hooks: (() => void)[];
    // `guard`, inline: a closure here would be allocated by every commit.
    try {
      hooks = tx.commit();
    } catch (err) {
      this.broken = err;
      throw err;
    }
    seq?.leave();
    this.transactions++;
    let durable = RESOLVED;
    // A staged region (a pool file): the commit above changed only its private view; this makes
    // it durable (one log sync), or joins this turn's group.
    if (tx.lastTouched && region.commit !== undefined) {
      if (deferred && region.commitLater !== undefined) durable = this.lastDeferred = region.commitLater();
      else this.guard(() => region.commit!());
    } else if (deferred && region.commitLater !== undefined) {
      // Wrote nothing, but may have read what earlier deferred transactions wrote: durable
      // with them (a resolved promise here let `flushed()` resolve before they were).
      durable = this.lastDeferred;
    }
    this.debugCheckAfterGrowth();
    if (out !== undefined) out.durable = durable;
    if (hooks.length > 0) runCommitHooks(hooks);
    return result;
  }

  /**
   * Debug invariant (debug.ts): after a transaction (committed or rolled back) during which the
   * pool or its log grew, the DRAM index and the pool's metadata agree. Runs only with debug
   * checks on, and never on a pool that failed while writing.
   */
  private debugCheckAfterGrowth(): void {
    if (!this.tx.grew || !debugChecks() || this.broken !== undefined) return;
    this.tx.grew = false;
    const report = checkPool(this);
    invariant(report.ok, `the pool is consistent after a transaction that grew it (${report.problems.length} problems; first: ${report.problems[0]?.message ?? ''})`);
  }

  /** Runs a step that touches the region; if it fails the pool is unusable from then on. */
  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.broken = err;
      throw err;
    }
  }

  get currentTransaction(): Transaction | undefined {
    return this.tx.active && !this.tx.isDoomed ? this.tx : undefined;
  }

  private checkOpen(): void {
    if (this.closed) throw new FerriteError('ECLOSED', 'the pool is closed');
    if (this.broken !== undefined) {
      throw new FerriteError('EIO', 'the pool failed while writing; close and open it again to recover', { cause: this.broken });
    }
  }

  // ---- growth ----

  /**
   * Grows the pool by at least `chunks` chunks (≥ 1.5x), up to maxSize and the runtime's
   * largest mapping (`maxMappingLength`: 4 GiB on Node 20): extends the region (new bytes are
   * durable, allocated zeros), writes a FREE header for the new chunks, persists it, then
   * updates both header copies. When the file system cannot give the 1.5x, the smallest
   * growth that serves the request is tried; when it cannot give that either, PoolFullError:
   * a failed region grow leaves the file and the mapping as they were, so the pool is
   * unchanged and usable. A crash before the header update leaves a longer file than the
   * header says, which is harmless. Growth is not undone by a rollback.
   * @returns false when maxSize forbids the growth.
   * @throws PoolFullError when the file system or the runtime does.
   */
  private growBy(chunks: number): boolean {
    const region = this.mem.region;
    const cur = this.alloc.nChunks;
    const maxChunks = Math.floor((this.header.maxSize - this.heapOffset) / CHUNK_SIZE);
    if (cur + chunks > maxChunks) return false;
    // A pool is one ArrayBuffer: Node 20 makes none over 4 GiB; Node 22 and later 2^53 - 1 bytes.
    const limit = Math.min(MAX_POOL_SIZE, Math.floor(bufferConstants.MAX_LENGTH / 4096) * 4096);
    const limitChunks = Math.floor((limit - this.heapOffset) / CHUNK_SIZE);
    if (cur + chunks > limitChunks) {
      throw new PoolFullError(
        `pool full: growing it past ${limit} bytes needs a mapping larger than Node ${process.versions.node} ` +
          'allows (one ArrayBuffer; Node 22 and later allow 2^53 - 1 bytes)',
      );
    }
    const cap = Math.min(maxChunks, limitChunks);
    const wants = [Math.min(cap, Math.max(cur + chunks, Math.ceil(cur * 1.5)))];
    if (wants[0]! > cur + chunks) wants.push(cur + chunks);
    let want = cur;
    for (const w of wants) {
      const size = this.heapOffset + w * CHUNK_SIZE;
      if (region.length >= size) {
        want = w;
        break;
      }
      if (region.grow === undefined) return false;
      try {
        region.grow(size);
      } catch (err) {
        // The file system is full (or refuses a file this long): the region is as it was.
        if (!isFerriteError(err, 'ENOSPC') && !isFerriteError(err, 'ERANGE')) throw err;
        if (w !== wants[wants.length - 1]) continue;
        throw new PoolFullError(
          `pool full: the pool file cannot grow from ${this.header.size} to ${size} bytes (${err.message})`,
        );
      }
      this.mem.refresh();
      want = w;
      break;
    }
    invariant(want >= cur + chunks, 'growth serves the request');
    const newSize = this.heapOffset + want * CHUNK_SIZE;
    let start = cur;
    let left = want - cur;
    while (left > 0) {
      const q = Math.min(left, MAX_SPAN + 1);
      const off = this.heapOffset + start * CHUNK_SIZE;
      const low = encodeLow(KIND_FREE, q - 1);
      this.mem.view.setUint32(off, low, true);
      this.mem.view.setUint32(off + 4, headerCheck(low), true);
      this.mem.persist(off, 8);
      start += q;
      left -= q;
    }
    this.header = { ...this.header, size: newSize, seq: this.header.seq + 1 };
    this.tx.grew = true;
    const before = this.mem.drains;
    writeHeader(region, this.header);
    this.mem.drains = before + 2;
    this.alloc.addChunks(cur, want);
    return true;
  }

  // ---- shrink ----

  /**
   * Gives back the free chunks at the end of the pool: empty runs there become free chunks
   * (one transaction), the header's size drops to the last chunk in use (durably, both
   * copies), then the file (the region) is cut there, durably, where the region can shrink
   * (`Region.shrink`, a FileTarget's `shrinkPool`; others keep their length). A file longer
   * than the header says (a crash after the header step) is cut too. Crash-safe at every step
   * (shrink.ts). The undo log's overflow segments (chunks a big transaction linked) are freed
   * first when that lengthens the tail; every allocated block stays where it is: only a free
   * tail goes (compaction, in @ferrite/tx, moves data). The pool
   * keeps at least one chunk; `maxSize` is unchanged, and the pool grows again as it fills.
   * @throws EROFS read-only; ETXSTATE inside a transaction; ECLOSED; EIO from the file system
   *   (the pool then holds its new size, or its old one, whole).
   */
  shrink(): ShrinkResult {
    this.checkOpen();
    if (this.readOnly) throw new FerriteError('EROFS', 'the pool is open read-only');
    if (this.tx.active) throw new FerriteError('ETXSTATE', 'pool.shrink inside a transaction');
    const pool = this;
    return shrinkPool({
      alloc: this.alloc,
      log: this.log,
      heapOffset: this.heapOffset,
      get size(): number {
        return pool.header.size;
      },
      get regionLength(): number {
        return pool.mem.region.length;
      },
      transaction: (fn) => {
        this.transaction(() => fn(this.tx));
      },
      reloadLog: () => this.log.load(this.header.size),
      setSize: (newSize) => {
        // Readers see the header change (persistent memory: here; a pool file: its commit).
        this.seq?.enter();
        try {
          this.setSize(newSize);
        } finally {
          this.seq?.leave();
        }
      },
      truncate: (newLength) => {
        // Readers see a change while the file is cut, so each one reads the header again and
        // maps the pool at its new length; a read overtaken by the cut is run again. On
        // persistent memory the sequence is ours; a staged region (an ordinary file) first
        // commits what is deferred, which enters its own sequence, and brackets only its cut.
        const seq = this.seq;
        seq?.enter();
        try {
          if (this.fileTarget?.shrinkPool !== undefined) this.fileTarget.shrinkPool(newLength);
          else this.mem.region.shrink?.(newLength);
        } finally {
          try {
            this.mem.refresh();
          } finally {
            seq?.leave();
          }
        }
      },
    });
  }

  /** Both header copies get `newSize`, durably (shrink's step 2; a commit on a staged region). */
  private setSize(newSize: number): void {
    const region = this.mem.region;
    // The last transaction (shrink's own steps) may have sealed its commit with the generation
    // word not yet durable: recovery would then still judge its log, whose entries name chunks
    // of the tail, which a smaller size makes unrestorable (the scan stops there, the seal no
    // longer matches, and a part of the transaction would be rolled back). Fence it first.
    if (this.mem.genUnfenced) this.mem.drain();
    this.header = { ...this.header, size: newSize, seq: this.header.seq + 1 };
    const before = this.mem.drains;
    this.guard(() => writeHeader(region, this.header));
    this.mem.drains = before + 2;
    // A staged region (a pool file): the header change becomes one commit of the redo log.
    if (region.commit !== undefined) this.guard(() => region.commit!());
  }

  // ---- blocks, check, stats ----

  /** Usable bytes of an allocated block; EINVAL when `offset` is not one. */
  usableSize(offset: number): number {
    this.checkOpen();
    this.ensureIndex();
    return this.alloc.usableSize(offset);
  }

  /** Every allocated block (the root included; the undo log's own chunks excluded), in offset order. */
  *allocations(): Iterable<{ offset: number; size: number }> {
    this.checkOpen();
    // Inside a transaction a run made by it is in the DRAM index before its bitmap is zeroed (at
    // the next drain): whatever the chunk held would be listed as blocks (as check() refuses).
    if (this.tx.active) throw new FerriteError('ETXSTATE', 'pool.allocations() inside a transaction');
    this.ensureIndex();
    const a = this.alloc;
    const idx = [...a.runs.keys(), ...a.extents.keys()].sort((x, y) => x - y);
    const bytes = this.mem.bytes;
    for (const i of idx) {
      const run = a.runs.get(i);
      if (run === undefined) {
        const n = a.extents.get(i)!;
        yield { offset: a.chunkOffset(i) + 64, size: n * CHUNK_SIZE - 64 };
        continue;
      }
      const bm = run.base + 8;
      for (let b = 0; b < run.g.blocks; b++) {
        if ((bytes[bm + (b >> 3)]! & (1 << (b & 7))) !== 0) {
          yield { offset: run.base + run.g.dataStart + b * run.g.blockSize, size: run.g.blockSize };
        }
      }
    }
  }

  /** Walks every piece of metadata and reports inconsistencies; never throws on damage. */
  check(): CheckReport {
    this.checkOpen();
    if (this.tx.active) throw new FerriteError('ETXSTATE', 'check() inside a transaction');
    this.ensureIndex();
    return checkPool(this);
  }

  stats(): PoolStats {
    this.checkOpen();
    this.ensureIndex();
    const a = this.alloc;
    const perClass: ClassStats[] = CLASS_SIZES.map((size) => ({ size, runs: 0, allocated: 0, free: 0 }));
    let used = 0;
    let free = a.freeChunks * CHUNK_SIZE;
    for (const run of a.runs.values()) {
      const c = perClass[run.cls]!;
      c.runs++;
      c.allocated += run.g.blocks - run.nFree;
      c.free += run.nFree;
      used += (run.g.blocks - run.nFree) * run.g.blockSize;
      free += run.nFree * run.g.blockSize;
    }
    for (const n of a.extents.values()) used += n * CHUNK_SIZE - 64;
    let logOverflow = 0;
    for (const n of a.logs.values()) logOverflow += n * CHUNK_SIZE;
    const freeChunkBytes = a.freeChunks * CHUNK_SIZE;
    const fragmentation = freeChunkBytes === 0 ? 0 : 1 - (a.largestFreeRange * CHUNK_SIZE) / freeChunkBytes;
    return {
      size: this.header.size,
      maxSize: this.header.maxSize,
      used,
      free,
      logOverflow,
      perClass,
      fragmentation,
      transactions: this.transactions,
      flushes: this.mem.flushes,
      drains: this.mem.drains,
      lastTx: { flushes: this.tx.last.flushes, drains: this.tx.last.drains },
      durability: this.durabilityStats(),
      readerPauses: { count: this.seqForStats?.pauses ?? 0, ms: this.seqForStats?.pausedMs ?? 0 },
    };
  }

  private durabilityStats(): DurabilityStats {
    const region = this.mem.region;
    if (region instanceof StagedRegion) {
      const st = region.stats;
      return { mode: 'redo-log', syncs: st.syncs, records: st.records, checkpoints: st.checkpoints, logBytes: st.logBytes };
    }
    return { mode: 'flush', syncs: this.mem.drains, records: 0, checkpoints: 0, logBytes: 0 };
  }

  /** Header fields as chosen at open (for check()). */
  get headerFields(): HeaderFields {
    return this.header;
  }

  get inTransaction(): boolean {
    return this.tx.active;
  }
}

/** Times a read-only open maps a pool again that a writer keeps growing, before EBUSY. */
const MAX_OPEN_FOLLOWS = 16;

/** EINVAL when a wanted maxSize is below the pool's size (`header`'s). */
function checkWantedMaxSize(header: HeaderFields, wantedMaxSize: number | undefined): void {
  if (wantedMaxSize !== undefined && wantedMaxSize < header.size) {
    throw new FerriteError('EINVAL', `Pool.open: option maxSize (${wantedMaxSize}) is below the pool's size (${header.size})`);
  }
}

/** The options of Pool.open, checked (EINVAL), before anything is read. */
function openOptions(options: PoolOpenOptions): {
  readTimeout: number | undefined; checkpointBytes: number | undefined; ownRegion: boolean;
  layout: string | undefined; wantedMaxSize: number | undefined; readOnly: boolean;
} {
  const o = readOptions('Pool.open', options, ['layout', 'maxSize', 'readOnly', 'ownRegion', 'checkpointBytes', 'readTimeout'] as const);
  const readTimeout = integerOption('Pool.open', 'option readTimeout', o.readTimeout, 0, 2 ** 31 - 1);
  const checkpointBytes = integerOption('Pool.open', 'option checkpointBytes', o.checkpointBytes, 64 * 1024, MAX_POOL_SIZE);
  const ownRegion = booleanOption('Pool.open', 'ownRegion', o.ownRegion, false);
  // Without a layout any pool opens (pmemobj_open(path, NULL)); with one it must match.
  const layout = o.layout === undefined ? undefined : stringOption('Pool.open', 'layout', o.layout, '');
  if (layout !== undefined) encodeLayout(layout);
  const wantedMaxSize = integerOption('Pool.open', 'option maxSize', o.maxSize, 1, MAX_POOL_SIZE);
  const readOnly = booleanOption('Pool.open', 'readOnly', o.readOnly, false);
  return { readTimeout, checkpointBytes, ownRegion, layout, wantedMaxSize, readOnly };
}

/** The target of create/open: a pool file path or a Region (EINVAL for anything else). */
function checkTarget(fn: string, target: unknown): void {
  if (typeof target === 'string') {
    throw invalidArgument(fn, 'target', 'a Region or a FileTarget (open a pool file by its path with openPoolFile / createPoolFile of @ferrite/tx)', target);
  }
  if (isFileTarget(target)) return;
  const r = target as Partial<Region> | null;
  const isRegion =
    typeof r === 'object' && r !== null && r.bytes instanceof Uint8Array && typeof r.length === 'number' &&
    typeof r.flush === 'function' && typeof r.drain === 'function' && typeof r.persist === 'function' && typeof r.close === 'function';
  if (!isRegion) throw invalidArgument(fn, 'target', 'a Region or a FileTarget', target);
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Runs a committed transaction's onCommit hooks, every one; then throws the first error. */
function runCommitHooks(hooks: readonly (() => void)[]): void {
  const failure = runEveryHook(hooks);
  if (failure !== undefined) throw failure.error;
}

/**
 * Replays the redo log of `target` (pool `uuid`) into `region`, grown to what the records
 * reach; with `flush`, each range is flushed as it lands (the caller drains and syncs).
 */
function replayWal(target: FileTarget, uuid: Uint8Array, region: Region, flush: boolean): WalScan {
  return scanWal(target.wal, uuid, MAX_POOL_SIZE, (r) => {
    const end = r.offset + r.length;
    if (end > region.length) {
      invariant(region.grow !== undefined, 'a region a redo log is replayed into can grow');
      region.grow(Math.ceil(end / CHUNK_SIZE) * CHUNK_SIZE);
    }
    region.bytes.set(r.data.subarray(r.at, r.at + r.length), r.offset);
    if (flush) region.flush(r.offset, r.length);
  });
}

/**
 * Starts the log over for pool `uuid`: its header written and synced, before any record of the
 * new epoch may be (wal.ts says why); returns the epoch used:
 * at `next` when the log is this pool's (its epochs only grow, so `next` is above every record
 * it holds). A log of another pool, or one whose header cannot be read, may hold records of any
 * epoch that pool reached, and records do not name their pool: the new epoch is above the other
 * pool's (its header's + 1), or, with no header to go by, far above what checkpoints reach (a
 * random one from 2^32). Starting at 1 let a new pool replay another pool's records of epoch 1.
 */
function startWal(target: FileTarget, uuid: Uint8Array, next: number): number {
  const wal = target.wal;
  const h = readWalHeader(wal, uuid);
  let epoch = next;
  if (h.state === 'other-pool') epoch = Math.max(next, h.epoch + 1);
  else if (h.state === 'none' && wal.length > RECORDS_START) epoch = 2 ** 32 + Math.floor(Math.random() * 2 ** 40);
  invariant(h.state !== 'ok' || epoch > h.epoch, 'a new epoch of a log is above its current one');
  if (wal.length < RECORDS_START) wal.grow(RECORDS_START);
  wal.write(0, encodeWalHeader(uuid, epoch));
  wal.sync();
  return epoch;
}

function isThenable(x: unknown): boolean {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/**
 * Writes a fresh pool: invalidates any old header first (so a crash mid-way leaves no pool,
 * not a mix), then the root record and log header (G = 1), zeroes segment 0 of the log (no
 * stale entry of an earlier pool can carry G), one FREE span over the heap, then header A and B.
 */
function format(region: Region, h: HeaderFields): void {
  const bytes = region.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  bytes.fill(0, HEADER_A, HEADER_A + 2 * HEADER_COPY_SIZE);
  region.persist(HEADER_A, 2 * HEADER_COPY_SIZE);
  bytes.fill(0, ROOT_RECORD, h.heapOffset);
  writeGeneration(bytes, LOG_GENERATION, 1);
  region.persist(ROOT_RECORD, h.heapOffset - ROOT_RECORD);
  const chunks = Math.floor((h.size - h.heapOffset) / CHUNK_SIZE);
  let start = 0;
  while (start < chunks) {
    const q = Math.min(chunks - start, MAX_SPAN + 1);
    const off = h.heapOffset + start * CHUNK_SIZE;
    const low = encodeLow(KIND_FREE, q - 1);
    view.setUint32(off, low, true);
    view.setUint32(off + 4, headerCheck(low), true);
    region.persist(off, 8);
    start += q;
  }
  writeHeader(region, h);
}

/** The live reader's view of a read-only FileTarget that can tell whether a writer holds the pool. */
function fileReaderSource(target: FileTarget, shared: Region): ReaderSource {
  return {
    shared,
    writerAlive: () => target.writerAlive?.() ?? false,
    recover: () => Pool.recoverCopy(shared, target.openWalNow?.(), (size) => target.followPool?.(size)),
    follow: (size: number) => {
      if (target.followPool === undefined) throw new CorruptionError('ECORRUPT', `the pool's size changed to ${size} and this target cannot map it again`);
      target.followPool(size);
    },
    pauseWords: () => target.pauseWords?.(),
    close: () => undefined, // the target: closed with the pool
  };
}

/**
 * A live reader's source over a Region that a writer in this process uses too (tests: a
 * simulated region shared by a writer pool and reader pools; open the reader with
 * `Pool.openLive`). `writerAlive` stands for the writer's lock.
 */
export function regionReaderSource(region: Region, writerAlive: () => boolean): ReaderSource {
  return {
    shared: region,
    writerAlive,
    recover: () => Pool.recoverCopy(region, undefined),
    follow: (size: number) => {
      if (region.length < size) throw new CorruptionError('ECORRUPT', `the region holds ${region.length} bytes, the pool ${size}`);
    },
    pauseWords: () => (region.writable ? wordsOf(region.bytes) : undefined),
    close: () => undefined,
  };
}
