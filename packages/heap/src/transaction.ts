/**
 * Undo-log transactions.
 *
 * Protocol (why it is crash-safe):
 * 1. Before a range changes, its old bytes are appended to the undo log (entries tagged with
 *    the log generation G and a checksum) and flushed; `addRange` drains before it returns,
 *    so the snapshot is durable before the caller's first store to the range. The entries of
 *    generation g go to parity area g % 2 of log segment 0, then to the overflow segments.
 * 2. The allocator's metadata changes (bitmap bits, chunk headers) are snapshotted the same
 *    way but NOT drained; the changes themselves are deferred until after the next drain
 *    (the next addRange, or commit), so they never reach the media before their snapshot.
 * 3. Commit, sealed (2 drains for a small transaction): when every entry lies in the area, the
 *    changed ranges (snapshotted pieces, fresh blocks, no-snapshot ranges, applied metadata)
 *    number at most MAX_SEALED_RANGES and MAX_SEALED_BYTES, and a record fits after the last
 *    entry: write a commit record there (gen g, a mark no entry can carry, the ranges, and a
 *    64-bit seal over those fields and the ranges' NEW contents), then ONE persistRanges over
 *    the ranges and the record. Durable when it returns. Then G := g + 1 is stored, neither
 *    flushed nor fenced ("pending"): the next drain of anything flushes and fences it (the next
 *    transaction's first drain takes it into its own flush call).
 *    Commit, classic (anything bigger): persistRanges over the ranges, then G := g + 1 and a
 *    persist (3 drains).
 * 4. Rollback (throw, abort) restores the valid entries newest first and persists them, then
 *    bumps G. Restoring is idempotent, so a crash during it is harmless.
 * 5. Recovery at open, media G = w: scan area w % 2 and the overflow chain for entries of
 *    generation w. If a well-formed record of generation w follows the area's entries and its
 *    seal, recomputed over the media, matches: the transaction committed, keep it. Otherwise
 *    roll the entries back. Either way (when anything of generation w was found) persist
 *    G := w + 2: the transaction after a sealed one may have left half-written entries of
 *    generation w + 1 in the other area, which must never pass for the next transaction's.
 *
 * Why the sealed commit is safe. (a) Media G is always the DRAM G or, while a sealed commit's
 * G is pending, the one before: G is stored only after a drain of the same transaction (drain
 * B, or a rollback's persist; `bumpGeneration` drains first should it ever be pending), and a
 * pending G becomes durable with the next drain. (b) A crash before drain B returns may leave
 * any mix of old and new 8-byte words in the ranges and in the record. Recovery keeps the
 * transaction only if the record is whole and every word of every range holds its new value:
 * any torn word changes the seal (a single changed word always does, see seal.ts; several
 * changed words collide with probability about 2^-64 per recovery, for non-adversarial data;
 * the seal is not a cryptographic hash and this is not a proof), and the ranges cover every
 * byte the transaction changed, so a match means the pool holds exactly the committed state.
 * A transaction whose call returned passed drain B, so its seal matches and it is never lost.
 * (c) A sealed transaction T (gen g) can only be judged by its seal while media G = g, i.e.
 * until the next drain. Until then nothing may change the bytes its seal covers: the next
 * transaction writes its entries to the OTHER area (g + 1) % 2 or to overflow segments, which
 * T never uses (T had no overflow entries, and the ranges of a sealed transaction never lie in
 * the log); its in-place stores to added ranges come after its first drain (addRange drains),
 * its allocator changes are deferred past a drain; the only stores it makes before a drain are
 * into fresh blocks and no-snapshot ranges, and those drain first when they overlap T's ranges
 * (`touchesSealed`: a block T freed and the next transaction reuses, capacity T wrote and made
 * unused). Area g % 2 (T's entries and record) is rewritten only by generation g + 2, which
 * exists only after a drain of generation g + 1 made G >= g + 1 durable. (d) Recovery keeps or
 * rolls back without writing anything but the restores and G; crashed at any point it runs
 * again on the same entries and record: restores move words towards their old values, so a
 * seal that did not match cannot come to match unless the ranges hold exactly the new bytes
 * (old equal to new), which is the committed state anyway.
 */
import { FerriteError, PoolFullError, invalidArgument, invariant } from '@ferrite/core';
import { Allocator, OP_CLEAR_BIT, OP_HEADER, OP_SET_BIT, OP_U64, OP_ZERO } from './allocator.js';
import type { AllocTx } from './allocator.js';
import { headerCheck, KIND_LOG } from './chunks.js';
import { Coverage, RangeList } from './coverage.js';
import {
  CHUNK_SIZE, ENTRY_HEADER, MAX_LOG_BYTES, MAX_SEALED_BYTES, MAX_SEALED_OFFSET, MAX_SEALED_RANGES, MAX_SEGMENTS, SEGMENT_RESERVE, writeU64,
} from './layout.js';
import type { Mem } from './mem.js';
import { bumpGeneration, pad8, publishGeneration, recordPlace, recordSize, rollBack, UndoLog, writeRecord } from './undo-log.js';

/** The handle a transaction function receives. */
export interface Transaction {
  /**
   * Snapshots [offset, offset + length) into the undo log; durable before it returns (one
   * drain, together with any pending allocator snapshots). Already-covered bytes (added
   * before, or inside a block allocated by this transaction) are not logged again.
   * ERANGE when the range is outside the heap; EINVAL when a non-empty range covers heap
   * metadata (a chunk header, a run's bitmap, a log or free chunk: nothing is logged or
   * changed); ETXSTATE when the transaction is over.
   */
  addRange(offset: number, length: number): void;
  /** Same for many ranges given as (offset, length) pairs, with one drain in total; one refused range refuses the call. */
  addRanges(ranges: ArrayLike<number>): void;
  /**
   * `addRanges` without its drain, for a writer that batches its stores so that many writes of
   * one transaction share a fence. Snapshots the ranges (same checks and errors), then returns
   * true when no drain is owed for them — every range is covered by a snapshot already durable,
   * by a block this transaction allocated or by a no-snapshot range — and the caller may store
   * into them at once; or false when a snapshot of one of them is not durable yet, and then the
   * caller must NOT store into these ranges until the transaction has drained: it keeps its
   * stores and makes them from a hook registered with `afterDrain`. Reads of those bytes
   * return the old contents until then.
   */
  logRanges(ranges: ArrayLike<number>): boolean;
  /**
   * Runs `hook.afterDrain()` right after the next drain of this transaction — the next
   * addRange(s), a growth of its log, an allocation that must drain, `drain()`, or at the
   * latest the commit, before it flushes anything — once (register again for a later drain).
   * The hook makes the stores that `logRanges` made wait; it must not call the transaction.
   * A rollback forgets the hooks without calling them. Register a hook once per drain.
   */
  afterDrain(hook: DrainHook): void;
  /**
   * Makes every snapshot taken so far durable now (one drain) and runs the `afterDrain` hooks;
   * nothing when no drain is owed. For a batching writer that must read bytes whose stores it
   * keeps, or that must store now.
   */
  drain(): void;
  /**
   * Registers [offset, offset + length) to be flushed at commit WITHOUT snapshotting it (like
   * PMDK's POBJ_XADD_NO_SNAPSHOT): no log entry, no drain. At commit the bytes are durable
   * before the commit point; if the transaction rolls back (throw, abort, or a crash before the
   * commit point) they are NOT restored and may hold any mix of old and new contents. The
   * bytes then count as covered, like a fresh block's: a later addRange of them in the same
   * transaction logs nothing (no state a rollback restores reads them).
   *
   * Safe only when the range's old contents are meaningless in every state a rollback or
   * recovery can produce, i.e. in the state as it was when this transaction BEGAN: nothing
   * reachable from that state reads those bytes. Typically: unused capacity past the value a
   * length/tail word had at the transaction's start, that word being snapshotted with
   * `addRange(s)` in this transaction, inside a block allocated before it and not freed by it.
   * Not safe: space this same transaction made unused (a queue emptied by a shift, then pushed
   * into, inside one transaction: a rollback brings the shifted entry back, and its bytes must
   * still be there). Call it BEFORE the first store to the range: right after a sealed commit,
   * the call drains first when the range overlaps bytes that commit changed (until that drain
   * its seal must find them unchanged). A range inside a block allocated by this transaction
   * needs no call. ERANGE outside the heap; EINVAL over heap metadata (as `addRange`);
   * ETXSTATE when the transaction is over.
   */
  addRangeNoSnapshot(offset: number, length: number): void;
  /**
   * Allocates a block of at least `size` bytes, atomic with the transaction. Contents are
   * zeroed when `options.zero`, otherwise unspecified. The block needs no addRange: it is
   * flushed at commit. May grow the pool (re-read `pool.bytes` afterwards). PoolFullError
   * (ENOSPC, the transaction is rolled back) when no space is left; ERANGE when `size`
   * exceeds the largest allocation; EINVAL for a size that is not a positive integer, or for
   * `zero` with `noFlush`.
   *
   * `options.noFlush` (PMDK: `POBJ_XALLOC_NO_FLUSH`): the block is NOT flushed at commit nor
   * counted as written by this transaction. Declare each part you write with
   * `addRangeNoSnapshot` before writing it (it is then flushed and sealed with the commit);
   * the rest keeps whatever the free space held, and after a crash may hold anything. For a
   * block whose parts become meaningful one at a time (a table whose slots are filled later);
   * an `addRange` of its bytes logs them like any others.
   */
  alloc(size: number, options?: { zero?: boolean; noFlush?: boolean }): number;
  /**
   * Frees a block allocated before (or in this transaction), atomic with it; its space is
   * reusable only after commit. EINVAL when `offset` is not an allocated block (or was
   * already freed in this transaction).
   */
  free(offset: number): void;
  /** Rolls the whole transaction back and throws a TransactionAbortedError (code ETXSTATE). */
  abort(reason?: unknown): never;
  /**
   * Runs `fn` once the transaction has committed and is durable (for `transactionDeferred`:
   * once committed; durability follows with its `durable` promise), after readers in other
   * threads and processes can see the commit. Every hook runs even when one throws; the
   * first error is then thrown by `pool.transaction`, with the commit in place.
   */
  onCommit(fn: () => void): void;
  /**
   * Identifies the running transaction: constant from its start to its end, larger for every
   * later transaction of the same pool object (counts from 1 at open). Lets a caller register
   * its `onAbort` hook once per transaction without an `onCommit` hook to reset a flag.
   */
  readonly serial: number;
  // One object serves every transaction of its pool (nothing is allocated per transaction): a
  // reference kept past its function acts on whichever transaction runs (README, "pool.transaction").
  /** Runs `fn` after the transaction has been rolled back. */
  onAbort(fn: () => void): void;
}

/** The stores a batching writer keeps until the transaction drained (see `Transaction.logRanges`). */
export interface DrainHook {
  /** Makes the kept stores; called right after a drain made their snapshots durable. */
  afterDrain(): void;
}

/** Thrown by `tx.abort()` and rethrown by `pool.transaction`; `reason` holds abort's argument. */
export class TransactionAbortedError extends FerriteError {
  readonly reason: unknown;
  constructor(reason: unknown) {
    super('ETXSTATE', 'transaction aborted', { cause: reason });
    this.name = 'TransactionAbortedError';
    this.reason = reason;
  }
}

/** Per-transaction counters (`pool.stats().lastTx`). */
export interface TxCounters {
  flushes: number;
  drains: number;
}

/** The services a transaction needs from its pool. */
export interface TxHost {
  readonly mem: Mem;
  readonly log: UndoLog;
  readonly alloc: Allocator;
  readonly heapOffset: number;
  readonly size: number;
  /** Offset of the root object (0 when none). */
  readonly rootBlock: number;
}

export class TxImpl implements Transaction, AllocTx {
  active = false;
  serial = 0;
  /** Set when the transaction was rolled back while the outermost function still runs. */
  doomed: unknown = undefined;
  isDoomed = false;
  private readonly coverage = new Coverage();
  /**
   * The ranges logged since the last drain (their entries are not durable yet): a store into
   * them must wait for the drain; a store into other covered bytes (durable entries, fresh
   * blocks, no-snapshot ranges) may go at once (`logRanges`).
   */
  private readonly undurable = new Coverage();
  /** (offset, length) pairs to flush at commit: logged pieces and fresh blocks. */
  private readonly flushList = new RangeList();
  /**
   * The changed ranges no log entry names (fresh blocks, no-snapshot ranges): a sealed
   * commit's record lists these; the entries name the rest.
   */
  private readonly unlogged = new RangeList();
  /** Scratch: log entry ranges to flush before a drain. */
  private readonly entryRanges = new RangeList();
  /** Deferred metadata changes: (op, offset, arg) triples; `nOps` numbers used. */
  private readonly ops: number[] = [];
  private nOps = 0;
  private undrained = false;
  private mustDrain = false;
  /** Anything written to the pool (log entries, or metadata) by this transaction. */
  touched = false;
  /** Whether the last committed transaction wrote anything (a staged region then commits it). */
  lastTouched = false;
  /** The pool or the undo log grew during this transaction (debug checks look after it). */
  grew = false;
  private readonly freed: number[] = [];
  private nFreed = 0;
  private readonly freedSet = new Set<number>();
  private commitHooks: (() => void)[] = [];
  private abortHooks: (() => void)[] = [];
  private startFlushes = 0;
  private startDrains = 0;
  readonly last: TxCounters = { flushes: 0, drains: 0 };
  /** False: every commit is classic (tests and benchmarks compare the two). */
  sealing = true;
  /**
   * The ranges of the last sealed commit, (offset, length) pairs, while its G may be undurable
   * (`mem.genUnfenced`): a later transaction must not change them before a drain.
   */
  private readonly sealedRanges = new Float64Array(2 * MAX_SEALED_RANGES);
  private nSealed = 0;

  constructor(private readonly host: TxHost) {}

  begin(): void {
    invariant(!this.active, 'begin outside a transaction');
    this.active = true;
    this.serial++;
    this.isDoomed = false;
    this.doomed = undefined;
    this.startFlushes = this.host.mem.flushes;
    this.startDrains = this.host.mem.drains;
    this.grew = false;
  }

  private checkUsable(): void {
    if (!this.active) throw new FerriteError('ETXSTATE', 'the transaction is over');
    if (this.isDoomed) throw new FerriteError('ETXSTATE', 'the transaction was rolled back');
    if (this.inHooks) throw new FerriteError('ETXSTATE', 'an afterDrain hook may only store into the pool: it called the transaction');
  }

  /** True while afterDrain hooks run (see drainAndApply). */
  private inHooks = false;

  // ---- user API ----

  addRange(offset: number, length: number): void {
    this.checkUsable();
    this.checkUserRange(offset, length);
    if (length === 0) return;
    this.logRange(offset, length);
    this.drainAndApply();
  }

  addRanges(ranges: ArrayLike<number>): void {
    this.checkUsable();
    checkPairs('addRanges', ranges);
    if (ranges.length % 2 !== 0) throw new FerriteError('EINVAL', 'addRanges takes (offset, length) pairs');
    for (let i = 0; i < ranges.length; i += 2) this.checkUserRange(ranges[i]!, ranges[i + 1]!);
    for (let i = 0; i < ranges.length; i += 2) if (ranges[i + 1]! > 0) this.logRange(ranges[i]!, ranges[i + 1]!);
    this.drainAndApply();
  }

  logRanges(ranges: ArrayLike<number>): boolean {
    this.checkUsable();
    checkPairs('logRanges', ranges);
    if (ranges.length % 2 !== 0) throw new FerriteError('EINVAL', 'logRanges takes (offset, length) pairs');
    for (let i = 0; i < ranges.length; i += 2) this.checkUserRange(ranges[i]!, ranges[i + 1]!);
    for (let i = 0; i < ranges.length; i += 2) if (ranges[i + 1]! > 0) this.logRange(ranges[i]!, ranges[i + 1]!);
    if (!this.undrained) {
      // Every snapshot is durable: pending allocator changes (covered by durable snapshots) go
      // in now, as a drain would apply them, and the caller stores at once.
      if (this.nOps > 0) this.applyOps();
      return true;
    }
    // A drain is owed, but perhaps not for these ranges: covered by entries drained before,
    // by fresh blocks or by no-snapshot ranges, they may be stored into at once.
    for (let i = 0; i < ranges.length; i += 2) {
      if (ranges[i + 1]! > 0 && this.undurable.overlaps(ranges[i]!, ranges[i + 1]!)) return false;
    }
    return true;
  }

  afterDrain(hook: DrainHook): void {
    this.checkUsable();
    if (typeof hook !== 'object' || hook === null || typeof hook.afterDrain !== 'function') {
      throw invalidArgument('tx.afterDrain', 'hook', 'an object with an afterDrain method', hook);
    }
    if (!this.undrained) throw new FerriteError('ETXSTATE', 'tx.afterDrain: no drain is owed (logRanges returned true): store at once');
    this.hooks.push(hook);
  }

  drain(): void {
    this.checkUsable();
    this.drainAndApply();
  }

  /** Hooks of batching writers, run after the next drain (`afterDrain`). */
  private readonly hooks: DrainHook[] = [];

  addRangeNoSnapshot(offset: number, length: number): void {
    this.checkUsable();
    this.checkUserRange(offset, length);
    if (length === 0) return;
    // The caller stores into these bytes right after this call, without a drain: bytes the
    // previous (sealed) transaction changed must not change before its G is durable.
    if (this.host.mem.genUnfenced && this.touchesSealed(offset, length)) this.host.mem.drain();
    // Flushed with the commit's data ranges; never logged, so no drain is owed. Marked covered,
    // as a fresh block is: the caller vouched that no state a rollback can restore reads these
    // bytes, so a later addRange of them in this transaction has nothing to keep either (and a
    // table whose dead slots a transaction fills one by one logs none of them).
    const fl = this.flushList;
    const before = fl.n;
    const n = this.coverage.add(offset, length, fl);
    for (let i = before; i < before + n; i++) this.unlogged.push(fl.data[2 * i]!, fl.data[2 * i + 1]!);
    this.touched = true;
  }

  alloc(size: number, options?: { zero?: boolean; noFlush?: boolean }): number {
    this.checkUsable();
    const noFlush = options?.noFlush === true;
    if (noFlush && options?.zero === true) throw new FerriteError('EINVAL', 'alloc: zero and noFlush together (the zeros would not be made durable)');
    let off: number;
    this.allocatorDepth++;
    this.noFlushAlloc = noFlush;
    try {
      off = this.host.alloc.alloc(size, this);
    } catch (err) {
      if (err instanceof PoolFullError) this.rollbackAndDoom(err);
      throw err;
    } finally {
      this.noFlushAlloc = false;
      this.allocatorDepth--;
    }
    if (this.mustDrain) this.drainAndApply();
    if (options?.zero === true) this.host.mem.bytes.fill(0, off, off + this.host.alloc.usableSize(off));
    return off;
  }

  free(offset: number): void {
    this.checkUsable();
    if (this.freedSet.has(offset)) throw new FerriteError('EINVAL', `free(${offset}): already freed in this transaction`);
    if (offset === this.host.rootBlock) throw new FerriteError('EINVAL', `free(${offset}): the root object cannot be freed`);
    this.allocatorDepth++;
    try {
      this.host.alloc.free(offset, this);
    } finally {
      this.allocatorDepth--;
    }
    this.freed[this.nFreed++] = offset;
    this.freedSet.add(offset);
  }

  abort(reason?: unknown): never {
    this.checkUsable();
    const err = new TransactionAbortedError(reason);
    this.rollbackAndDoom(err);
    throw err;
  }

  onCommit(fn: () => void): void {
    this.checkUsable();
    if (typeof fn !== 'function') throw invalidArgument('tx.onCommit', 'fn', 'a function', fn);
    this.commitHooks.push(fn);
  }

  onAbort(fn: () => void): void {
    this.checkUsable();
    if (typeof fn !== 'function') throw invalidArgument('tx.onAbort', 'fn', 'a function', fn);
    this.abortHooks.push(fn);
  }

  // ---- internal: ranges and log ----

  /** Snapshots a range the user may not add (the root record) and drains. */
  addInternalRange(offset: number, length: number): void {
    this.checkUsable();
    this.logRange(offset, length);
    this.drainAndApply();
  }

  private checkUserRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new FerriteError('EINVAL', `addRange(${String(offset)}, ${String(length)}): not non-negative integers`);
    }
    // The common case first, the same verdict: a range in the data space of the heap's chunks
    // lies inside the heap (its chunks end at or before `size`: growth sets the header's size
    // before it adds chunks, shrink cuts them right after it, and no transaction runs between).
    // Reading `host.size` costs an allocation here: a u64 field read through a getter that
    // is not inlined is boxed.
    if (length > 0 && this.host.alloc.inDataSpace(offset, length)) return;
    if (offset < this.host.heapOffset || offset + length > this.host.size) {
      throw new FerriteError('ERANGE', `addRange(${offset}, ${length}) is outside the heap [${this.host.heapOffset}, ${this.host.size})`);
    }
    // Stores follow this call: a range over a chunk header, a run bitmap or the log (an offset
    // read through a damaged reference, or a caller's arithmetic slip) would corrupt the heap
    // itself, which check() trusts. The caller has stored nothing yet, so refusing is clean.
    // An empty range stores nothing: any offset in the heap will do.
    if (length > 0) {
      // inDataSpace said no, above.
      throw new FerriteError('EINVAL', `addRange(${offset}, ${length}) covers heap metadata (a chunk header, a run bitmap, the log or free chunks)`);
    }
  }

  /** Snapshots the uncovered parts of a range (no drain). Also used for the root record. */
  logRange(offset: number, length: number): void {
    const list = this.flushList;
    const before = list.n;
    const n = this.coverage.add(offset, length, list);
    if (n === 0) return;
    this.touched = true;
    // logPiece may append more pieces (log growth), so re-read `data` every time.
    for (let i = before; i < before + n; i++) {
      const o = list.data[2 * i]!;
      const l = list.data[2 * i + 1]!;
      this.logPiece(o, l);
      this.undurable.mark(o, l);
    }
    this.undrained = true;
  }

  private logPiece(offset: number, length: number): void {
    const log = this.host.log;
    // An allocator step reserved room for its snapshots: growing the log here would allocate
    // in the middle of the step, against a free index the step is changing (issue 16).
    invariant(this.allocatorDepth === 0 || log.fits(ENTRY_HEADER + pad8(length)), 'an allocator snapshot fits the log room it reserved');
    while (length > 0) {
      let room = log.room();
      if (room === 0 && !log.nextSegment()) {
        this.growLog(ENTRY_HEADER + pad8(length));
        room = log.room();
      } else if (room === 0) {
        continue;
      }
      const take = Math.min(room, length);
      log.write(offset, take);
      offset += take;
      length -= take;
    }
  }

  /**
   * Links a new overflow segment. Its chunk headers and the link word are snapshotted into
   * the current segment's reserve and changed inside this transaction, so a rollback unlinks
   * and frees it again; a committed transaction keeps it for the next ones.
   */
  /** `need`: bytes of entries (headers included) the new segment must hold besides its reserve. */
  private growLog(need: number): void {
    const log = this.host.log;
    const capacity = log.capacity;
    if (log.segments.length >= MAX_SEGMENTS || capacity >= MAX_LOG_BYTES) {
      const err = new FerriteError('ERANGE', `transaction exceeds the undo log limit of ${MAX_LOG_BYTES} bytes`);
      this.rollbackAndDoom(err);
      throw err;
    }
    const min = Math.ceil((64 + need + SEGMENT_RESERVE) / CHUNK_SIZE);
    const chunks = Math.max(1, Math.min(Math.max(min, Math.ceil(capacity / CHUNK_SIZE)), Math.ceil(MAX_LOG_BYTES / CHUNK_SIZE)));
    log.useReserve = true;
    let start: number;
    this.allocatorDepth++;
    try {
      start = this.host.alloc.takeChunks(chunks, KIND_LOG, this, false);
      const off = this.host.alloc.chunkOffset(start);
      this.logRange(log.lastLink, 8);
      this.defer(OP_U64, log.lastLink, off);
      this.host.alloc.logs.set(start, chunks);
    } catch (err) {
      log.useReserve = false;
      if (err instanceof PoolFullError) this.rollbackAndDoom(err);
      throw err;
    } finally {
      log.useReserve = false;
      this.allocatorDepth--;
    }
    this.drainAndApply();
    this.grew = true;
    const { mem } = this.host;
    const off = this.host.alloc.chunkOffset(start);
    // The new segment's own link and first entry slot: fresh space, written directly. The
    // link that reaches it and its chunk header are flushed now so that they are durable at
    // the latest with the drain that makes its first entry durable.
    mem.bytes.fill(0, off + 8, off + 64 + ENTRY_HEADER);
    if (!mem.scratchLog) {
      mem.flush(off, 64 + ENTRY_HEADER);
      mem.flush(log.lastLink, 8);
    } else {
      // Scratch log (a pool on a file): only the new segment's own link, which is pool state
      // the chain walk reads, goes to the file; the link that reaches it and its chunk header
      // are snapshotted ranges, flushed at commit. Never the entry slot: undo entries of the
      // writer must not reach the file (staged-region.ts says why).
      mem.flush(off + 8, 8);
    }
    log.addSegment(off, chunks);
    invariant(log.nextSegment(), 'the new segment follows');
  }

  snapshot(offset: number, length: number): void {
    this.logRange(offset, length);
  }

  defer(op: number, offset: number, arg: number): void {
    const ops = this.ops;
    const n = this.nOps;
    ops[n] = op;
    ops[n + 1] = offset;
    ops[n + 2] = arg;
    this.nOps = n + 3;
    this.touched = true;
  }

  cancelDeferred(offset: number): void {
    const ops = this.ops;
    let w = 0;
    for (let r = 0; r < this.nOps; r += 3) {
      if (ops[r] === OP_HEADER && ops[r + 1] === offset) continue;
      ops[w] = ops[r]!;
      ops[w + 1] = ops[r + 1]!;
      ops[w + 2] = ops[r + 2]!;
      w += 3;
    }
    this.nOps = w;
  }

  needDrain(): void {
    this.mustDrain = true;
  }

  /**
   * Inside an allocator call (alloc, free, or the takeChunks of a log segment): its snapshots
   * must fit the room reserved with `reserveLog`, never grow the log (see AllocTx.reserveLog).
   */
  private allocatorDepth = 0;

  reserveLog(entries: number, bytes: number): boolean {
    invariant(entries >= 0 && bytes >= 0 && bytes % 8 === 0, 'a log reservation is whole entries of 8-byte multiples');
    const log = this.host.log;
    const need = entries * ENTRY_HEADER + bytes;
    if (log.fits(need)) return false;
    // While a segment is being linked its reserve is all there is: takeChunks of a LOG span
    // only picks ranges whose snapshots fit it (RESERVE_ENTRIES).
    invariant(!log.useReserve, 'the snapshots that link a log segment fit its reserve');
    while (log.nextSegment()) if (log.fits(need)) return false;
    this.growLog(need);
    invariant(log.fits(need), 'a new log segment holds the reservation it was made for');
    return true;
  }

  /** Set during an `alloc(size, { noFlush: true })`: the block is not registered as fresh. */
  private noFlushAlloc = false;

  fresh(offset: number, length: number): void {
    if (this.noFlushAlloc) {
      // Not flushed nor covered: the caller declares what it writes (addRangeNoSnapshot, which
      // itself drains first over a sealed predecessor's ranges). Still drain before handing
      // the block out when it overlaps them: it is the same rule, kept where fresh blocks keep it.
      if (this.host.mem.genUnfenced && this.touchesSealed(offset, length)) this.mustDrain = true;
      return;
    }
    const fl = this.flushList;
    const before = fl.n;
    const n = this.coverage.add(offset, length, fl);
    for (let i = before; i < before + n; i++) this.unlogged.push(fl.data[2 * i]!, fl.data[2 * i + 1]!);
    this.touched = true;
    // The caller stores into a fresh block before any drain: if the previous (sealed)
    // transaction changed its bytes (it freed the block), its G must be durable first.
    if (this.host.mem.genUnfenced && this.touchesSealed(offset, length)) this.mustDrain = true;
  }

  /** True when [offset, offset + length) overlaps a range of the last sealed commit. */
  private touchesSealed(offset: number, length: number): boolean {
    const r = this.sealedRanges;
    const end = offset + length;
    for (let i = 0; i < this.nSealed; i++) {
      const o = r[2 * i]!;
      if (o < end && offset < o + r[2 * i + 1]!) return true;
    }
    return false;
  }

  /**
   * Makes pending snapshots durable (one drain), then applies the deferred metadata changes and
   * runs the hooks of batching writers (`afterDrain`).
   */
  private drainAndApply(): void {
    const must = this.mustDrain;
    this.mustDrain = false;
    const mem = this.host.mem;
    if (!this.undrained && this.nOps === 0) {
      invariant(this.hooks.length === 0, 'afterDrain hooks exist only while a drain is owed');
      if (must && mem.genUnfenced) mem.drain();
      return;
    }
    if (this.undrained) {
      const er = this.entryRanges;
      er.clear();
      this.host.log.takeUnflushed(er);
      mem.takeGenerationFlush(er); // a sealed predecessor's G: this drain makes it durable
      mem.persistLog(er.data, er.n);
      this.undrained = false;
      this.undurable.clear();
    }
    if (this.nOps > 0) this.applyOps();
    const hooks = this.hooks;
    if (hooks.length > 0) {
      // A hook only stores: a call of the transaction from one is refused (checkUsable; found
      // in review: an alloc there was never applied while the DRAM index counted it, and
      // committed blocks were free again after a reopen).
      this.inHooks = true;
      try {
        for (let i = 0; i < hooks.length; i++) hooks[i]!.afterDrain();
      } finally {
        this.inHooks = false;
      }
      // pop() is inlined; setting `length` is a builtin call on every transaction of a batching writer.
      while (hooks.length > 0) hooks.pop();
    }
  }

  /** Applies the deferred metadata changes (their snapshots are durable). */
  private applyOps(): void {
    const ops = this.ops;
    const nOps = this.nOps;
    const { bytes, view } = this.host.mem;
    for (let i = 0; i < nOps; i += 3) {
      const op = ops[i]!;
      const off = ops[i + 1]!;
      const arg = ops[i + 2]!;
      invariant(this.coverage.covers(off, op === OP_ZERO ? arg : op === OP_HEADER || op === OP_U64 ? 8 : 1), 'metadata change was snapshotted');
      switch (op) {
        case OP_HEADER:
          view.setUint32(off, arg, true);
          view.setUint32(off + 4, headerCheck(arg), true);
          break;
        case OP_SET_BIT:
          bytes[off] = bytes[off]! | arg;
          break;
        case OP_CLEAR_BIT:
          bytes[off] = bytes[off]! & ~arg;
          break;
        case OP_ZERO:
          bytes.fill(0, off, off + arg);
          break;
        case OP_U64:
          writeU64(view, off, arg);
          break;
        default:
          invariant(false, 'known deferred op');
      }
    }
    this.nOps = 0;
  }

  // ---- end of a transaction ----

  /**
   * Commits; returns the onCommit hooks for the caller to run once the commit is durable and
   * readers may look again (pool.ts): a hook is user code, and one that throws must find a
   * finished, usable pool, not fail the commit.
   */
  commit(): (() => void)[] {
    invariant(this.active && !this.isDoomed, 'commit of a live transaction');
    const { mem, log, alloc } = this.host;
    this.lastTouched = this.touched;
    if (this.touched) {
      this.drainAndApply();
      const fl = this.flushList;
      if (this.sealing && this.canSeal()) {
        // Sealed: the record joins the changed ranges in ONE flush + fence; durable on return.
        const un = this.unlogged;
        const at = recordPlace(log.pos, recordSize(un.n));
        const size = writeRecord(mem, log, at, un.data, un.n);
        fl.push(at, size);
        mem.persistRanges(fl.data, fl.n); // (flushes a predecessor's G first, if still owed)
        fl.n--;
        publishGeneration(mem, log);
        const d = fl.data;
        const r = this.sealedRanges;
        for (let i = 0; i < 2 * fl.n; i++) r[i] = d[i]!;
        this.nSealed = fl.n;
      } else {
        mem.persistRanges(fl.data, fl.n); // one native call: the changed ranges, then the fence
        bumpGeneration(mem, log);
      }
      for (let i = 0; i < this.nFreed; i++) alloc.commitFree(this.freed[i]!);
    }
    const hooks = this.commitHooks;
    this.finish();
    return hooks;
  }

  /** Bytes and ranges the commit will flush (an upper bound: before merging), for `Region.reserve`. */
  commitFootprint(): { bytes: number; ranges: number } {
    const fl = this.flushList;
    let bytes = 0;
    for (let i = 1; i < 2 * fl.n; i += 2) bytes += fl.data[i]!;
    return { bytes, ranges: fl.n };
  }

  /**
   * A transaction seals when every entry lies in its parity area, its changed ranges are few
   * and small enough (MAX_SEALED_*), and the record fits in the area after the last entry.
   */
  private canSeal(): boolean {
    const fl = this.flushList;
    const n = fl.n;
    const log = this.host.log;
    if (n === 0 || n > MAX_SEALED_RANGES || log.seg !== 0 || this.host.size > MAX_SEALED_OFFSET) return false;
    const rec = recordSize(this.unlogged.n);
    if (recordPlace(log.pos, rec) + rec > log.segments[0]!.end) return false;
    const d = fl.data;
    let bytes = 0;
    for (let i = 1; i < 2 * n; i += 2) bytes += d[i]!;
    return bytes <= MAX_SEALED_BYTES;
  }

  /** Rolls back now (pool exactly as before the transaction); the outer function still runs. */
  rollbackAndDoom(reason: unknown): void {
    if (this.isDoomed) return;
    // Doomed before the hooks run: a hook that throws must not leave the transaction usable
    // (found in review: later work committed, and transaction() returned normally).
    this.isDoomed = true;
    this.doomed = reason;
    this.rollback(true);
  }

  /**
   * Undoes everything, then runs the abort hooks; leaves the transaction active. Every hook
   * runs even when one throws; with `hookErrors` the first error is thrown after the last.
   */
  private rollback(hookErrors: boolean): void {
    const { mem, log, alloc } = this.host;
    this.nOps = 0;
    if (this.touched) {
      rollBack(mem, log, this.host.size);
      log.load(this.host.size);
      alloc.rebuild(this.host.size);
    }
    const hooks = this.abortHooks;
    this.resetState();
    const failure = runEveryHook(hooks);
    if (failure !== undefined && hookErrors) throw failure.error;
  }

  /** Ends the outermost transaction after a throw: rolls back unless already rolled back. */
  end(threw: boolean): void {
    // An abort hook's error is dropped here: the transaction failed already, and its caller
    // gets that error. A failing rollback itself (EIO) still throws, leaving the pool broken.
    if (threw && !this.isDoomed) this.rollback(false);
    this.finish();
  }

  private resetState(): void {
    const hooks = this.hooks;
    while (hooks.length > 0) hooks.pop();
    this.coverage.clear();
    this.undurable.clear();
    this.flushList.clear();
    this.unlogged.clear();
    this.nOps = 0;
    this.undrained = false;
    this.mustDrain = false;
    this.touched = false;
    if (this.nFreed > 0) {
      this.nFreed = 0;
      this.freedSet.clear();
    }
    if (this.commitHooks.length > 0) this.commitHooks = [];
    if (this.abortHooks.length > 0) this.abortHooks = [];
    this.host.log.reset();
  }

  private finish(): void {
    this.resetState();
    this.active = false;
    this.last.flushes = this.host.mem.flushes - this.startFlushes;
    this.last.drains = this.host.mem.drains - this.startDrains;
  }
}

/**
 * Runs every hook, even after one threw (user code: one failure must not skip the others);
 * returns the first error, if any, for the caller to throw or drop.
 */
export function runEveryHook(hooks: readonly (() => void)[]): { error: unknown } | undefined {
  let failure: { error: unknown } | undefined;
  for (const fn of hooks) {
    try {
      fn();
    } catch (err) {
      failure ??= { error: err };
    }
  }
  return failure;
}

/** EINVAL unless `ranges` is an array-like of numbers (a raw TypeError escaped before). */
function checkPairs(fn: string, ranges: unknown): void {
  if (typeof ranges !== 'object' || ranges === null || typeof (ranges as { length?: unknown }).length !== 'number') {
    throw invalidArgument(`tx.${fn}`, 'ranges', 'an array of (offset, length) pairs', ranges);
  }
}
