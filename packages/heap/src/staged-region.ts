/**
 * The writer's view of a pool on an ordinary file: a private copy-on-write view whose changes
 * reach the pool file only through the redo log (wal.ts), a commit at a time.
 *
 * Stores go to the private view (a MAP_PRIVATE mapping: the kernel never writes them to the
 * file). `flush` and `persist` only RECORD the ranges the heap declares changed (every changed
 * byte is flushed before a transaction commits: the persistent-memory protocol already demands
 * it, and its crash tests prove it); `drain` does nothing. A commit — `commit()` at the end of
 * a transaction, or a group of deferred ones (`commitLater`) at the end of the event-loop turn —
 * captures the current bytes of every recorded range into one redo record, writes it to the log
 * file and syncs it (ONE device sync, whatever the transaction's size: the commit point), then
 * copies the ranges into the pool file (its page cache; the kernel writes them back when it
 * likes). A checkpoint, once the log has grown past `checkpointBytes`, syncs the pool file and
 * starts a new epoch of the log (wal.ts says why the header is synced first).
 *
 * Order. Records are written, synced and applied strictly in the order they were captured, and
 * a checkpoint is taken only when every record before it is applied: then a crash leaves the log
 * holding a prefix of the commits (each whole), the pool file holding at most what those commits
 * wrote, and replay brings the file to exactly the last durable commit.
 *
 * The undo log of the heap (entries, generation word) is scratch here: the heap does not flush
 * it (Mem.scratchLog), and a recorded range inside it is an invariant failure, because replaying
 * the writer's undo entries into the file could make recovery roll a committed transaction back.
 */
import { FerriteError, PoolFullError, invariant, isFerriteError } from '@ferrite/core';
import type { FileTarget, Granularity, IoOp, Region } from '@ferrite/core';
import { Coverage, RangeList } from './coverage.js';
import { copyBytes, encodeRecord, encodeWalHeader, RANGE_ENTRY, RECORD_HEADER, RECORDS_START } from './wal.js';
import type { CommitSeq } from './commit-seq.js';

/**
 * The writer's private view: a Region that can give its private pages back (a MAP_PRIVATE
 * mapping: madvise DONTNEED) and say whether its file still backs it (@ferrite/native's
 * `Mapping.checkFile`: EIO when another program cut the file shorter than the view, or a page
 * faulted).
 */
export interface DiscardableRegion extends Region {
  discard?(offset: number, length: number): void;
  checkFile?(): void;
}

export interface StagedRegionOptions {
  /** The pool's uuid (the log's header names it). */
  readonly uuid: Uint8Array;
  /** The log's epoch: its header is written and synced already (recovery did it). */
  readonly epoch: number;
  /** Ranges the heap must never record: its undo log, generation word and the reader words, [start, end) pairs. */
  readonly scratch: readonly number[];
  /** Where the heap (its chunks) starts: ranges from here on may be joined across short gaps. */
  readonly heapStart: number;
  /** Log bytes after which a checkpoint is taken (default 32 MiB). */
  readonly checkpointBytes?: number;
  /** Changed bytes after which a group is closed before the end of the turn (default 8 MiB). */
  readonly groupBytes?: number;
  /** Private pages written back after which they are discarded from the view (default 64 MiB). */
  readonly discardBytes?: number;
  /** Called once when a commit fails (the pool is unusable from then on). */
  readonly onFailure?: (err: unknown) => void;
  /** The commit sequence of the shared view: odd while a durable commit is copied into it (commit-seq.ts). */
  readonly commitSeq?: CommitSeq;
}

/** Counters (for `pool.stats()` and benchmarks). */
export interface StagedStats {
  /** Records written (commits, groups). */
  records: number;
  /** Device syncs issued (log syncs, checkpoints' pool and log syncs). */
  syncs: number;
  /** Bytes of redo records written. */
  logBytes: number;
  checkpoints: number;
  /** Transactions whose durability was deferred, and those made durable so far. */
  deferred: number;
}

interface Waiter {
  /** The last transaction the promise stands for (it grows while its group is open). */
  serial: number;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** A captured group: its record, where it goes in the log, and the last transaction it holds. */
interface Group {
  readonly record: Uint8Array;
  readonly at: number;
  readonly upTo: number;
  readonly ranges: Float64Array;
  readonly count: number;
  done: boolean;
}

/** A log that cannot grow: the commit cannot be made durable (ENOSPC), nothing changed. */
function logFull(err: unknown): unknown {
  if (!isFerriteError(err, 'ENOSPC')) return err;
  return new PoolFullError(`no room on the file system for the redo log of this commit: ${err.message}`);
}

const MIB = 1024 * 1024;
const PAGE = 4096;
/** The most log room `reserve` asks for at once (see there). */
const RESERVE_CAP = 64 * MIB;
/** Recorded ranges at least this long are cut down to their changed pages (elideUnchanged). */
const ELIDE_MIN = 64 * 1024;
/** Heap ranges this close are joined into one record entry (mergeGaps). */
const GAP_JOIN = 48;
/** A log file grows by at least this much at a time (growth syncs: keep it rare). */
const WAL_GROWTH = 4 * MIB;

export class StagedRegion implements Region {
  readonly granularity: Granularity = 'page';
  readonly isPmem = false;
  readonly writable = true;
  readonly stats: StagedStats = { records: 0, syncs: 0, logBytes: 0, checkpoints: 0, deferred: 0 };

  private readonly target: FileTarget;
  private readonly view: DiscardableRegion;
  private readonly uuid: Uint8Array;
  private readonly scratch: readonly number[];
  private readonly heapStart: number;
  private readonly checkpointBytes: number;
  private readonly groupBytes: number;
  private readonly discardBytes: number;
  private readonly onFailure: ((err: unknown) => void) | undefined;
  private readonly commitSeq: CommitSeq | undefined;

  /**
   * Bytes recorded since the last capture: an interval set bucketed by page, so a range
   * flushed many times (a hot header word) is kept once, and capture reads them back sorted
   * without sorting every range. `nDirty` / `dirtyBytes` count what was recorded (a bound).
   */
  private readonly coverage = new Coverage();
  private readonly pieces = new RangeList();
  private nDirty = 0;
  private dirtyBytes = 0;
  /** Scratch of capture: the recorded intervals, sorted and merged. */
  private readonly sorted = new RangeList();
  /** Transactions ended (committed or deferred) so far; the last one captured; the last durable. */
  private ended = 0;
  private captured = 0;
  private durable = 0;
  private readonly waiters: Waiter[] = [];
  /**
   * The waiter of the transactions deferred since the last capture: they are captured
   * together, so they share one promise (a transaction of a busy group costs no promise).
   */
  private openWaiter: Waiter | undefined = undefined;
  /** Captured groups not yet submitted, and the one whose write and sync are running. */
  private readonly ready: Group[] = [];
  private flying: Group | undefined = undefined;
  /**
   * The checkpoint submitted and not yet handled (an object of its own, so the completion of one
   * that `finishFlying` handled already cannot mistake a later checkpoint for itself).
   */
  private checkpointing: object | undefined = undefined;
  /** The log's epoch, the next record's sequence number and offset. */
  private epoch: number;
  private seq = 1;
  private tail = RECORDS_START;
  /** Bytes copied into the pool file since the private pages were last discarded. */
  private appliedSinceDiscard = 0;
  private scheduled = false;
  private failure: unknown = undefined;
  /**
   * Copying a durable record into the pool file failed (a page the file system could not give):
   * the commits stay durable in the log, which from then on is the only copy. No more copies
   * into the file, no checkpoint, no discard of private pages, no elision against the file;
   * commits go on until the log cannot grow (then ENOSPC, cleanly), and the next open replays.
   */
  private applyFailure: unknown = undefined;
  private closed = false;

  constructor(target: FileTarget, view: DiscardableRegion, options: StagedRegionOptions) {
    invariant(!target.readOnly, 'a staged region writes its target');
    this.target = target;
    this.view = view;
    this.uuid = options.uuid;
    this.epoch = options.epoch;
    this.scratch = options.scratch;
    this.heapStart = options.heapStart;
    this.checkpointBytes = options.checkpointBytes ?? 32 * MIB;
    this.groupBytes = options.groupBytes ?? 8 * MIB;
    this.discardBytes = options.discardBytes ?? 64 * MIB;
    this.onFailure = options.onFailure;
    this.commitSeq = options.commitSeq;
  }

  get bytes(): Uint8Array {
    return this.view.bytes;
  }

  get length(): number {
    return this.view.length;
  }

  // ---- Region: flushes record, drains do nothing ----

  flush(offset: number, length: number): void {
    if (length <= 0) return;
    this.record(offset, length);
  }

  flushRanges(ranges: ArrayLike<number>, count = ranges.length / 2): void {
    for (let i = 0; i < count; i++) if (ranges[2 * i + 1]! > 0) this.record(ranges[2 * i]!, ranges[2 * i + 1]!);
  }

  persistRanges(ranges: ArrayLike<number>, count = ranges.length / 2): void {
    this.flushRanges(ranges, count);
  }

  drain(): void {
    // Nothing is durable before a commit; ordering inside the private view needs no fence.
  }

  persist(offset: number, length: number): void {
    this.flush(offset, length);
  }

  private record(offset: number, length: number): void {
    if (!(offset >= 0 && offset + length <= this.view.length && Number.isSafeInteger(offset) && Number.isSafeInteger(length))) {
      throw new FerriteError('ERANGE', `flush(${offset}, ${length}) is outside the pool [0, ${this.view.length})`);
    }
    const s = this.scratch;
    for (let i = 0; i < s.length; i += 2) {
      // The test first: a message built on every call cost more than the test (V8 makes the string).
      if (!(offset + length <= s[i]! || offset >= s[i + 1]!)) {
        invariant(false, `a range recorded for the pool file lies in scratch (the writer's undo log, the reader words): ${offset}+${length}`);
      }
    }
    this.pieces.clear();
    this.coverage.add(offset, length, this.pieces);
    this.nDirty++;
    this.dirtyBytes += length;
  }

  /**
   * Grows the pool file (allocated; its new length durable) and the view. The FREE headers and
   * the pool header the heap then writes are recorded like any change.
   */
  grow(newLength: number): void {
    this.checkUsable();
    // A cut file would be extended again with zeros where its bytes were (the native grow
    // refuses that too): the pool fails instead.
    this.checkFileOrFail();
    invariant(this.view.grow !== undefined, 'the private view can grow');
    if (this.target.pool.length < newLength) this.target.growPool(newLength);
    this.view.grow(newLength);
  }

  /**
   * Gives the pool file's tail back (the heap's header no longer counts it, durably, before
   * this is called: shrink.ts). Every commit so far is made durable and applied, and the log
   * starts a new epoch (a checkpoint): no record an open could replay names the tail any more
   * (a replay past the end would grow the file again, and a read-only open would refuse it).
   * Then the private view is cut, and the pool file with the shared view. Nothing is cut when
   * a copy into the file failed earlier (the log is then the only copy of some commits), or
   * when the view or the target cannot shrink: the file keeps its length, which is harmless.
   */
  shrink(newLength: number): void {
    this.checkUsable();
    invariant(newLength <= this.view.length, 'a staged region shrinks, never grows, here');
    if (newLength === this.view.length) return;
    this.commit();
    try {
      if (this.applyFailure !== undefined) return;
      if (this.tail > RECORDS_START) this.checkpointNow();
    } catch (err) {
      this.fail(err);
      throw err;
    }
    if (this.view.shrink === undefined || this.target.shrinkPool === undefined) return;
    this.view.shrink(newLength);
    // Readers of the shared view see the cut as a change (commit-seq.ts): they map the pool
    // again at its new length.
    this.commitSeq?.enter();
    try {
      this.target.shrinkPool(newLength);
    } finally {
      this.commitSeq?.leave();
    }
  }

  // ---- commits ----

  /** Makes every transaction ended so far durable: ONE log sync (plus a checkpoint's, rarely). */
  commit(): void {
    this.checkUsable();
    this.ended++;
    try {
      this.finishFlying();
      this.capture();
      const groups = this.ready.splice(0);
      if (groups.length > 0) {
        const ops: IoOp[] = [];
        for (const g of groups) ops.push({ op: 'write', file: this.target.wal, offset: g.at, data: g.record });
        ops.push({ op: 'sync', file: this.target.wal });
        this.target.queue.runNow(ops);
        this.stats.syncs++;
        for (const g of groups) this.applied(g);
      }
      if (this.shouldCheckpoint()) this.checkpointNow();
      this.settleWaiters();
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /**
   * Records the end of a transaction whose durability is deferred; the promise resolves when a
   * commit made it durable (the group commit at the end of this event-loop turn, or an earlier
   * `commit()`), and rejects if that commit failed.
   */
  commitLater(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new FerriteError('ECLOSED', 'the pool is closed'));
    const serial = ++this.ended;
    this.stats.deferred++;
    let w = this.openWaiter;
    const fresh = w === undefined;
    if (w === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      w = { serial, promise, resolve, reject };
      this.waiters.push(w);
      this.openWaiter = w;
    }
    w.serial = serial;
    if (this.dirtyBytes >= this.groupBytes) {
      try {
        this.capture();
      } catch (err) {
        // The transaction is in the view already: a failure here (the log could not grow) must
        // stop the pool, as a failed commit does, or it would become durable with a later one
        // while its caller was told it failed. A promise made for this call alone is never
        // returned (the caller gets the throw): it leaves the waiters first, or fail() would
        // reject it with nobody to handle it (an unhandled rejection: a process death).
        if (fresh) {
          this.waiters.pop();
          this.openWaiter = undefined;
        }
        this.fail(err);
        throw err;
      }
    }
    this.schedule();
    return w.promise;
  }

  /** Transactions whose durability is deferred and not yet reached. */
  get pendingDeferred(): number {
    return this.waiters.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after this turn's microtasks: every transaction of the turn joins.
    setImmediate(() => {
      this.scheduled = false;
      if (this.failure !== undefined || this.closed) return;
      try {
        this.capture();
        this.pump();
        this.settleWaiters(); // transactions that changed nothing durable are durable already
      } catch (err) {
        this.fail(err);
      }
    });
  }

  /** Captures the recorded ranges into a record (a group), if any transaction ended since. */
  private capture(): void {
    this.openWaiter = undefined; // what ended so far is captured now: later ones wait on a new promise
    if (this.nDirty === 0) {
      // Transactions that changed nothing durable (or only the scratch log): durable already.
      this.captured = this.ended;
      if (this.flying === undefined && this.ready.length === 0) this.durable = this.ended;
      return;
    }
    const sorted = this.sorted;
    sorted.clear();
    let count = this.coverage.collect(sorted);
    count = this.mergeGaps(count);
    // Large ranges (a big block allocated, and flushed whole at commit as every fresh block
    // is) shrink to the pages that changed, when the file is known to hold everything else.
    if (this.flying === undefined && this.ready.length === 0 && this.applyFailure === undefined) count = this.elideUnchanged(count);
    if (count === 0) {
      // Every change turned out to be no change: nothing to log; durable as it is.
      this.coverage.clear();
      this.nDirty = 0;
      this.dirtyBytes = 0;
      this.captured = this.ended;
      this.durable = this.ended;
      return;
    }
    const ranges = sorted.data.slice(0, 2 * count);
    const record = encodeRecord(ranges, count, this.view.bytes, this.epoch, this.seq);
    // The record holds what the view held. If another program cut the pool file, the view's
    // untouched pages past the cut read as zeros (the fault guard's private pages), and so may
    // what the transaction computed from them: nothing of it may reach the log. Checked after
    // the bytes were read, so a cut during the encoding is seen too. Callers fail the pool.
    this.checkFile();
    const at = this.tail;
    try {
      this.ensureLog(at + record.length);
    } catch (err) {
      // Past the room `reserve` made (RESERVE_CAP), after these transactions committed in the
      // view: no ENOSPC here, whose PoolFullError promises a rollback that can no longer be.
      if (!isFerriteError(err, 'ENOSPC')) throw err;
      throw new FerriteError('EIO', `the redo log cannot grow for transactions already committed (their changes outgrew the ${RESERVE_CAP / MIB} MiB of log room reserved before the commit): they are not durable; close and open the pool again: ${err.message}`, { cause: err });
    }
    this.seq++;
    this.tail = at + record.length;
    this.coverage.clear();
    this.nDirty = 0;
    this.dirtyBytes = 0;
    this.captured = this.ended;
    this.ready.push({ record, at, upTo: this.ended, ranges, count, done: false });
  }

  /**
   * Cuts every recorded range of at least ELIDE_MIN bytes down to the pages whose bytes differ
   * between the view and the pool file. Sound only when nothing captured is still unapplied:
   * then the file holds the view's state as of the last capture, every change since is inside
   * the recorded ranges, and a page that reads the same in both has not changed (or changed
   * back), so the file needs nothing there. Returns the new count.
   */
  private elideUnchanged(count: number): number {
    const d = this.sorted.data;
    let big = false;
    for (let i = 0; i < count; i++) if (d[2 * i + 1]! >= ELIDE_MIN) big = true;
    if (!big) return count;
    const out: number[] = [];
    const view = this.view.bytes;
    const shared = this.target.shared;
    const page = new Uint8Array(shared === undefined ? PAGE : 0);
    for (let i = 0; i < count; i++) {
      const off = d[2 * i]!;
      const len = d[2 * i + 1]!;
      if (len < ELIDE_MIN) {
        out.push(off, len);
        continue;
      }
      const end = off + len;
      let runStart = -1;
      for (let p = off; p < end; ) {
        const q = Math.min(end, (Math.floor(p / PAGE) + 1) * PAGE);
        const mine = view.subarray(p, q);
        let file: Uint8Array;
        if (shared !== undefined) file = shared.bytes.subarray(p, q);
        else {
          file = page.subarray(0, q - p);
          if (q <= this.target.pool.length) this.target.pool.read(p, file);
        }
        const same = q <= (shared?.length ?? this.target.pool.length) && Buffer.compare(mine, file) === 0;
        if (!same && runStart < 0) runStart = p;
        if (same && runStart >= 0) {
          out.push(runStart, p - runStart);
          runStart = -1;
        }
        p = q;
      }
      if (runStart >= 0) out.push(runStart, end - runStart);
    }
    const n = out.length / 2;
    this.sorted.clear();
    for (let i = 0; i < out.length; i += 2) this.sorted.push(out[i]!, out[i + 1]!);
    return n;
  }

  /**
   * Joins sorted ranges in the heap whose gap is at most GAP_JOIN bytes: a record entry costs
   * 16 bytes plus padding, and the bytes between hold the view's committed state, which the file
   * holds too (every change is recorded) — except the writer's undo log, which lies before the
   * heap or in a log chunk's body, never in a gap this short between two ranges of the heap.
   */
  private mergeGaps(count: number): number {
    const d = this.sorted.data;
    if (count <= 1) return count;
    let w = 0;
    for (let r = 1; r < count; r++) {
      const end = d[2 * w]! + d[2 * w + 1]!;
      const o = d[2 * r]!;
      if (d[2 * w]! >= this.heapStart && o - end <= GAP_JOIN) {
        d[2 * w + 1] = o + d[2 * r + 1]! - d[2 * w]!;
      } else {
        w++;
        d[2 * w] = o;
        d[2 * w + 1] = d[2 * r + 1]!;
      }
    }
    this.sorted.n = w + 1;
    return w + 1;
  }

  /**
   * Grows the log file ahead of `end`: by WAL_GROWTH at least (growth syncs: keep it rare), or,
   * when the file system has not that much room, by what `end` needs. PoolFullError (ENOSPC)
   * when not even that fits; the log is then as it was.
   */
  private ensureLog(end: number): void {
    const wal = this.target.wal;
    if (end <= wal.length) return;
    const exact = Math.ceil(end / PAGE) * PAGE;
    const generous = Math.ceil(Math.max(end, wal.length + WAL_GROWTH, 2 * wal.length) / PAGE) * PAGE;
    try {
      wal.grow(generous);
      return;
    } catch (err) {
      if (!isFerriteError(err, 'ENOSPC') || generous === exact) throw logFull(err);
    }
    try {
      wal.grow(exact);
    } catch (err) {
      throw logFull(err);
    }
  }

  /**
   * Room in the log for a commit of `bytes` more changed bytes in `ranges` more ranges, on top of
   * what is recorded already (a bound: headers and padding of every range counted).
   */
  reserve(bytes: number, ranges: number): void {
    this.checkUsable();
    // Per range: its entry, its padding, and the gap `mergeGaps` may join to it (a joined gap is
    // logged as data: counting only entries and padding let a record outgrow its room).
    const bound = RECORD_HEADER + (this.nDirty + ranges) * (RANGE_ENTRY + 8 + GAP_JOIN) + this.dirtyBytes + bytes;
    // Capped: a large fresh block is counted whole here, yet logged only where it changed
    // (elideUnchanged), and the room asked for is allocated in the log file, not just checked.
    // A record that outgrows the room reserved still grows the log when it is captured; only
    // then can a full file system fail the commit after the fact (EIO, the pool unusable:
    // docs/durability.md).
    this.ensureLog(this.tail + Math.min(bound, RESERVE_CAP));
  }

  /** Submits the next ready group when none is running. */
  private pump(): void {
    if (this.flying !== undefined || this.checkpointing !== undefined) return;
    const g = this.ready.shift();
    if (g === undefined) return;
    this.flying = g;
    this.target.queue
      .submit([
        { op: 'write', file: this.target.wal, offset: g.at, data: g.record },
        { op: 'sync', file: this.target.wal },
      ])
      .then(
        () => this.onFlown(g),
        (err: unknown) => this.fail(err),
      );
  }

  /** The group's record is durable: apply it, settle its transactions, start the next one. */
  private onFlown(g: Group): void {
    if (g.done || this.failure !== undefined) return; // handled already by a commit() that waited
    invariant(this.flying === g, 'groups complete in the order they were submitted');
    this.flying = undefined;
    this.stats.syncs++;
    try {
      this.applied(g);
      if (this.shouldCheckpoint()) this.checkpointLater();
      this.settleWaiters();
      if (this.ready.length === 0 && this.nDirty > 0 && this.waiters.length > 0) this.capture();
      this.pump();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Waits for the running group (if any) and handles its completion here, synchronously. */
  private finishFlying(): void {
    if (this.flying === undefined && this.checkpointing === undefined) return;
    this.target.queue.waitIdle();
    // waitIdle reports no failure (the programs' promises do, later, as microtasks): an empty
    // program throws the one that poisoned the queue. Without it a group whose write or sync
    // failed (EIO) was applied here, and its transactions told they were durable.
    this.target.queue.runNow([]);
    this.checkpointing = undefined;
    const g = this.flying;
    if (g !== undefined) {
      this.flying = undefined;
      this.stats.syncs++;
      this.applied(g);
    }
  }

  /** Copies a durable group's ranges into the pool file; its transactions are durable now. */
  private applied(g: Group): void {
    invariant(!g.done, 'a group is applied once');
    g.done = true;
    this.durable = g.upTo;
    this.stats.records++;
    this.stats.logBytes += g.record.length;
    if (this.applyFailure === undefined) {
      try {
        this.copyToFile(g);
      } catch (err) {
        // A file cut by another program is no full file system: the log is not the only copy
        // of what the cut took (a checkpoint had synced it into the file and started the log
        // over), so going on would lose it without a word. The pool fails (EIO); the log keeps
        // this commit and every one before it.
        this.checkFile();
        this.applyFailure = err;
      }
    }
  }

  /** Copies a durable group's ranges into the pool file (its page cache). */
  private copyToFile(g: Group): void {
    const rec = g.record;
    const shared = this.target.shared;
    // Readers of the shared view see it change from here on (commit-seq.ts): odd until every
    // range is in. If the copy fails (a page the file system could not give), it stays odd:
    // readers wait, then read a recovered copy once this writer is gone.
    this.commitSeq?.enter();
    let at = RECORD_HEADER + g.count * RANGE_ENTRY; // the data follows the range table
    const recView = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    const sharedBytes = shared?.bytes;
    const sharedView = sharedBytes === undefined ? undefined : new DataView(sharedBytes.buffer, sharedBytes.byteOffset, sharedBytes.byteLength);
    for (let i = 0; i < g.count; i++) {
      const off = g.ranges[2 * i]!;
      const len = g.ranges[2 * i + 1]!;
      if (sharedView !== undefined) copyBytes(sharedBytes!, sharedView, off, rec, recView, at, len);
      else this.target.pool.write(off, rec, at, len);
      at += len + ((8 - (len % 8)) % 8);
    }
    // A page of the file the file system could not give (a copy-on-write file system that is
    // full, a hole punched by another program) faulted, and the fault guard kept the stores in
    // memory: the shared view's drain says so (ENOSPC / EIO). The record stays in the log (no
    // checkpoint follows a failure), so the commit is not lost.
    shared?.drain();
    this.commitSeq?.leave();
    this.appliedSinceDiscard += rec.length;
  }

  private settleWaiters(): void {
    const w = this.waiters;
    let n = 0;
    while (n < w.length && w[n]!.serial <= this.durable) n++;
    if (n === 0) return;
    for (const x of w.splice(0, n)) x.resolve();
  }

  private shouldCheckpoint(): boolean {
    return this.applyFailure === undefined && this.tail >= this.checkpointBytes && this.flying === undefined && this.ready.length === 0 && this.checkpointing === undefined;
  }

  /** Ops of a checkpoint: the pool file synced, then the next epoch's header written and synced. */
  private checkpointOps(): IoOp[] {
    this.epoch++;
    this.seq = 1;
    this.tail = RECORDS_START;
    this.stats.checkpoints++;
    this.stats.syncs += 2;
    return [
      { op: 'sync', file: this.target.pool },
      { op: 'write', file: this.target.wal, offset: 0, data: encodeWalHeader(this.uuid, this.epoch) },
      { op: 'sync', file: this.target.wal },
    ];
  }

  private checkpointNow(): void {
    // The log starts over only while the pool file holds everything it held (see checkFile).
    this.checkFile();
    this.target.queue.runNow(this.checkpointOps());
    this.discardIfDue();
  }

  private checkpointLater(): void {
    this.checkFile();
    const mine = {};
    this.checkpointing = mine;
    this.target.queue.submit(this.checkpointOps()).then(
      () => {
        // Handled already: a commit() or close() waited for it (finishFlying); after close the
        // view is unmapped, and a throw here would be an unhandled rejection (a process death).
        if (this.checkpointing !== mine || this.closed || this.failure !== undefined) return;
        this.checkpointing = undefined;
        try {
          this.discardIfDue();
          this.pump();
        } catch (err) {
          this.fail(err);
        }
      },
      (err: unknown) => this.fail(err),
    );
  }

  /**
   * Once many pages were written to the file, the view's private copies of them are dropped:
   * the next read maps the file's page again. Only when nothing is pending (every change of the
   * view is in the file), so nothing is lost.
   */
  private discardIfDue(): void {
    if (this.appliedSinceDiscard < this.discardBytes || this.view.discard === undefined || this.applyFailure !== undefined) return;
    if (this.nDirty > 0 || this.ready.length > 0 || this.flying !== undefined) return;
    this.view.discard(0, this.view.length);
    this.appliedSinceDiscard = 0;
  }

  /**
   * Throws EIO when the pool file no longer backs the view: another program cut it shorter
   * (the pages past the cut, which a checkpoint may have made durable only there, are gone),
   * or a page of the view faulted (it read zeros where the file had no page). The native view
   * says (one fstat); other views (the simulator's) cannot lose their file. Every caller fails
   * the pool on it: nothing more is logged, applied or checkpointed, and the log keeps the
   * commits made durable before.
   */
  private checkFile(): void {
    this.view.checkFile?.();
  }

  private checkFileOrFail(): void {
    try {
      this.checkFile();
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = isFerriteError(err) ? err : new FerriteError('EIO', `committing to the pool file failed: ${String(err)}`, { cause: err });
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
    this.onFailure?.(this.failure);
  }

  private checkUsable(): void {
    if (this.closed) throw new FerriteError('ECLOSED', 'the pool is closed');
    if (this.failure !== undefined) {
      throw new FerriteError('EIO', 'an earlier commit to the pool file failed; close and open the pool again', { cause: this.failure });
    }
  }

  /** Log bytes of the current epoch (for tests and stats). */
  get logTail(): number {
    return this.tail;
  }

  /**
   * Closes: commits what is pending, checkpoints (the pool file then holds everything and the
   * log nothing), closes the files and removes the log. After a failure it only closes.
   */
  close(): void {
    if (this.closed) return;
    let clean = false;
    let lost: unknown = undefined;
    if (this.failure === undefined) {
      try {
        if (this.nDirty > 0 || this.waiters.length > 0 || this.flying !== undefined || this.ready.length > 0) this.commit();
      } catch (err) {
        // Commits not made durable are lost: close() says so once the files are closed (a
        // lone grouped write's caller holds no promise that would). The log keeps every
        // commit made durable before.
        this.fail(err);
        lost = this.failure;
      }
      if (lost === undefined) {
        try {
          this.finishFlying(); // a checkpoint still running, if any
          if (this.tail > RECORDS_START && this.applyFailure === undefined) this.checkpointNow();
          // The log is the only copy of what the file could not take: it stays for the next open.
          clean = this.applyFailure === undefined;
        } catch (err) {
          // Every commit is durable in the log, which stays: the next open replays it.
          this.fail(err);
        }
      }
    } else {
      try {
        this.target.queue.waitIdle();
      } catch {
        // already failed
      }
    }
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new FerriteError('ECLOSED', 'the pool was closed before the commit'));
    this.view.close();
    this.target.close(clean);
    if (lost !== undefined) {
      throw new FerriteError('EIO', `close: making the last commits durable failed; they are lost (the pool file holds the last durable state): ${lost instanceof Error ? lost.message : String(lost)}`, { cause: lost });
    }
  }
}
