/**
 * A reader of a pool that a writer in another process or thread keeps changing: every read
 * runs in a section that observes one committed state (commit-seq.ts has the protocol).
 *
 * A section notes the commit sequence (even: no change under way), runs the read, and keeps
 * its result only if the sequence is unchanged afterwards; otherwise it drops every cache the
 * read may have filled from a state being changed and runs the read again. The read itself
 * may meet a structure half written — a length beyond its block, a chain that loops, bytes
 * msgpack refuses — and every read path of the heap and the collections turns what it cannot
 * trust into an exception, bounded loops included, never into a crash: an exception inside a
 * section whose sequence changed is one more reason to run it again, and only an exception of
 * a section that validates is the caller's.
 *
 * - Odd sequence: the writer is inside a change. The reader spins briefly, then sleeps in
 *   growing steps; every `LIVENESS_MS` it checks that the writer still holds the pool (its
 *   lock). Past `readTimeout` (a writer inside one transaction that long) it gives up: EBUSY.
 * - Starved: after PAUSE_AFTER attempts overtaken by commits it asks the writer to wait
 *   (commit-seq.ts, PAUSE) for about twice its last attempt, so `store.read` completes under
 *   a writer that commits non-stop.
 * - Dead writer: the sequence is odd and nobody holds the lock (the writer was killed in the
 *   middle of a change). The reader makes a private copy of the pool as recovery would leave it
 *   (the redo log replayed, the interrupted transaction rolled back; `ReaderSource.recover`)
 *   and reads that, a committed state that no longer changes, until a new writer's open bumps
 *   EPOCH; then it reads the pool again. The same at open when no writer holds the pool and it
 *   needs recovery (a crash, of the process or of the machine, left a log).
 * - Growth: a section that finds the header's size beyond its mapping maps the file again
 *   (`ReaderSource.follow`).
 */
import { FerriteError, invariant } from '@ferrite/core';
import type { Region } from '@ferrite/core';
import { changesInThisThread, changingInThisThread, clockMs, EPOCH_INDEX, PAUSE_INDEX, SEQ_INDEX, sleepMs, untilMs, wordsOf } from './commit-seq.js';
import { PrivateRegion } from './private-region.js';

/** Where a live reader's pool comes from (made by the opener: a pool file, or a Region in tests). */
export interface ReaderSource {
  /** The bytes the writer changes and readers read; its first page holds the reader words. */
  readonly shared: Region;
  /** True while a writer has the pool open (holds its lock). */
  writerAlive(): boolean;
  /**
   * A private copy of the pool as a writer's recovery would leave it now, or undefined when the
   * shared bytes need no recovery (no redo record, no interrupted transaction). The caller
   * closes the copy.
   */
  recover(): Region | undefined;
  /** Maps the shared view to `size` bytes of the file (the pool grew or shrank). */
  follow(size: number): void;
  /** Words the reader may store into to ask for a pause; undefined when it cannot write. */
  pauseWords(): Int32Array | undefined;
  /** Releases what the source holds (the pause mapping). */
  close(): void;
}

/** What a live reader needs of its pool. */
export interface ReaderPool {
  /** Reads now go to `region` (the shared view, or a recovered copy). */
  readFrom(region: Region): void;
  /** Re-reads the header from the current bytes; returns the pool's size. */
  rereadHeader(): number;
  /** The bytes reads go to now. */
  bytes(): Uint8Array;
}

/** One read that a section may run more than once. */
export interface ReadOp<T> {
  run(): T;
  /** Called before the read runs again: put back whatever state the failed attempt advanced. */
  retry?(): void;
}

/** Thrown inside a nested section whose state changed: ends the outer attempt early. */
const RETRY: unique symbol = Symbol('ferrite.retry');

/** The store was closed by the function of a section: its mapping is gone, so what it read cannot be checked. */
function closedInside(): FerriteError {
  return new FerriteError('ECLOSED', 'the store was closed inside its own read section: what the function read can no longer be checked against one committed state');
}

/**
 * `sectionSeq` of a section reading a private copy (recovered, or frozen): it never changes.
 * Above every value of the 32-bit sequence word, so never mistaken for one (a sentinel inside
 * its range, -2, was one after 2^31 transactions).
 */
const SNAPSHOT = 2 ** 40;
/** Spins on an odd sequence before the first sleep. */
const SPINS = 64;
/** Writer liveness is checked this often while the sequence stays odd (ms). */
const LIVENESS_MS = 20;
/**
 * Attempts overtaken by commits before the reader asks the writer to pause. A short read
 * overtaken a few times is cheaper to run again than a pause is to the writer.
 */
const PAUSE_AFTER = 6;
/**
 * Attempts in a row overtaken by a commit of this thread's own writer (the section's function
 * writes through it) after which a section gives up with ETXSTATE: a function that writes in
 * every attempt can never read one committed state. Below PAUSE_AFTER: a pause request would
 * make this thread's writer wait for this thread's reader.
 */
const MAX_SELF_OVERTAKEN = 3;
/** The longest pause a reader asks for (ms); the writer caps it too (MAX_WRITER_PAUSE_MS). */
const MAX_PAUSE_REQUEST_MS = 1000;
/** Default of `readTimeout` (ms). */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;

/** Counters of a live reader (for stats and tests). */
export interface LiveReaderStats {
  /** Sections run again because a commit overtook them. */
  retries: number;
  /** Times the reader slept on an odd sequence. */
  waits: number;
  /** Pauses asked of the writer. */
  pauses: number;
  /** Recovered private copies made (dead writers, pools left needing recovery). */
  snapshots: number;
  /** Sections that found the pool's size changed and mapped it again. */
  remaps: number;
}

export class LiveReader {
  readonly stats: LiveReaderStats = { retries: 0, waits: 0, pauses: 0, snapshots: 0, remaps: 0 };
  /**
   * Called when caches filled from the pool must go: `all` after a failed attempt (whatever it
   * read may be garbage, the value structures included), else after a commit (what a commit can
   * change: registry, collection headers).
   */
  onInvalidate: (all: boolean) => void = () => undefined;
  /** Called inside a section, after a commit or a failed attempt: reload what `onInvalidate` dropped (it may read the pool). */
  onRefresh: () => void = () => undefined;
  private readonly pool: ReaderPool;
  private readonly source: ReaderSource;
  private readonly readTimeoutMs: number;
  /** The pool's uuid: a writer of it in this thread inside a change cannot be waited for. */
  private readonly uuid: string | undefined;
  /** This thread's count of changes its writer of the pool began (undefined: uuid unknown). */
  private readonly changesHere: { readonly made: number } | undefined;
  private words: Int32Array;
  private wordsSource: Uint8Array;
  /** The sequence the caches were filled at (a validated section); -1: none. */
  private validSeq = -1;
  private depth = 0;
  /** The outer attempt running now (a new number for each), and what to undo if it fails. */
  private attemptNo = 0;
  private readonly attemptUndo: (() => void)[] = [];
  private sectionSeq = 0;
  /**
   * Reading a recovered private copy (or the shared bytes a dead writer left consistent) until
   * a new writer's EPOCH; or, `frozen`, a copy for good (`freeze`).
   */
  private snapshot: { readonly region: Region | undefined; readonly epoch: number; readonly frozen: boolean } | undefined = undefined;
  /** Our pause request, 0 when none. */
  private pauseDeadline = 0;
  private lastAttemptMs = 0;
  private closed = false;

  constructor(pool: ReaderPool, source: ReaderSource, options: { readTimeoutMs?: number; uuid?: string } = {}) {
    this.pool = pool;
    this.source = source;
    this.readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.uuid = options.uuid;
    this.changesHere = options.uuid === undefined ? undefined : changesInThisThread(options.uuid);
    this.wordsSource = source.shared.bytes;
    this.words = wordsOf(this.wordsSource);
  }

  /** True while reads go to a recovered private copy (the writer died or none is open). */
  get recovering(): boolean {
    return this.snapshot !== undefined && this.snapshot.region !== undefined && !this.snapshot.frozen;
  }

  /** The recovered copy reads go to while `recovering` (what made it: `Pool.pendingRecovery`). */
  get recoveredCopy(): Region | undefined {
    return this.recovering ? this.snapshot?.region : undefined;
  }

  /** True while a writer has the pool open. */
  writerAlive(): boolean {
    return this.source.writerAlive();
  }

  /** True once `freeze` made reads go to a private copy for good. */
  get frozen(): boolean {
    return this.snapshot?.frozen === true;
  }

  /**
   * Inside a section (`store.read`): the number of the attempt running, new for each attempt.
   * Undefined outside one.
   */
  get attempt(): number | undefined {
    return this.depth > 0 ? this.attemptNo : undefined;
  }

  /**
   * Inside a section: `undo` runs if the running attempt fails (before it runs again), so state
   * that reads of the attempt advanced goes back to where the attempt found it.
   */
  onAttemptFailed(undo: () => void): void {
    invariant(this.depth > 0, 'an attempt hook is registered inside a section');
    this.attemptUndo.push(undo);
  }

  /** The commit sequence now: a later value differs once a writer changed the pool (or opened). */
  sequence(): number {
    return Atomics.load(this.w(), SEQ_INDEX);
  }

  /**
   * From now on every read goes to a private copy of the committed state the pool holds now:
   * one consistent view for long reads (a tool's check or dump) that neither retries nor asks
   * the writer to wait after the copy. Costs memory for the whole pool. Idempotent.
   */
  freeze(): void {
    if (this.snapshot?.frozen === true) return;
    const copy = this.section({
      run: (): Region => {
        const bytes = this.pool.bytes();
        const size = Math.min(this.pool.rereadHeader(), bytes.length);
        return new PrivateRegion(bytes.subarray(0, size));
      },
    });
    const old = this.snapshot;
    this.snapshot = { region: copy, epoch: 0, frozen: true };
    this.pool.readFrom(copy);
    old?.region?.close();
    this.validSeq = -1;
    this.onInvalidate(true);
  }

  /**
   * At open: without a writer, a pool a crash left needing recovery is read from a recovered
   * copy; otherwise reads go to the shared bytes.
   */
  start(): void {
    const w = this.w();
    const epoch = Atomics.load(w, EPOCH_INDEX);
    if (this.source.writerAlive()) return;
    const odd = (Atomics.load(w, SEQ_INDEX) & 1) === 1;
    let copy: Region | undefined;
    // The words again after `recover()`, never `w`: a recovery that finds the pool grown remaps
    // the shared view, and `w` is then a view of a detached buffer (found in review: a raw
    // TypeError from Atomics.load).
    try {
      copy = this.source.recover();
    } catch (err) {
      // A writer opening meanwhile changes the pool under the copy: read it live instead.
      if (Atomics.load(this.w(), EPOCH_INDEX) !== epoch || this.source.writerAlive()) return;
      throw err;
    }
    if (Atomics.load(this.w(), EPOCH_INDEX) !== epoch || this.source.writerAlive()) {
      copy?.close();
      return;
    }
    if (copy === undefined && !odd) return;
    this.adopt(copy, epoch);
  }

  /** Runs `op` against one committed state and returns its result (see the module comment). */
  section<T>(op: ReadOp<T>): T {
    if (this.closed) throw new FerriteError('ECLOSED', 'the pool is closed');
    if (this.depth > 0) return this.nested(op);
    const started = clockMs();
    const here = this.changesHere;
    let selfOvertaken = 0; // attempts in a row overtaken by a commit of this thread's own writer
    for (let attempt = 0; ; attempt++) {
      const s = this.begin(attempt, started);
      const t0 = attempt >= PAUSE_AFTER - 1 ? clockMs() : 0;
      this.depth = 1;
      this.attemptNo++;
      if (this.attemptUndo.length !== 0) this.attemptUndo.length = 0;
      this.sectionSeq = s;
      const mine = here === undefined ? 0 : here.made;
      let r: T;
      try {
        if (s !== this.validSeq) this.refresh();
        r = op.run();
      } catch (err) {
        this.depth = 0;
        if (this.closed) throw closedInside();
        if (err !== RETRY && !this.changed(s)) {
          this.endPause();
          this.attemptUndo.length = 0;
          throw err;
        }
        this.failed(op, t0);
        selfOvertaken = here !== undefined && here.made !== mine ? selfOvertaken + 1 : 0;
        if (selfOvertaken >= MAX_SELF_OVERTAKEN) throw this.wroteInSection();
        continue;
      }
      this.depth = 0;
      if (this.closed) throw closedInside();
      if (this.changed(s)) {
        this.failed(op, t0);
        selfOvertaken = here !== undefined && here.made !== mine ? selfOvertaken + 1 : 0;
        if (selfOvertaken >= MAX_SELF_OVERTAKEN) throw this.wroteInSection();
        continue;
      }
      this.validSeq = s;
      if (this.attemptUndo.length !== 0) this.attemptUndo.length = 0;
      if (this.pauseDeadline !== 0) this.endPause();
      return r;
    }
  }

  /**
   * The function of a section wrote through this thread's writer of the pool in each of
   * MAX_SELF_OVERTAKEN attempts in a row: its own commit overtook every one, and it would go on
   * doing so forever.
   */
  private wroteInSection(): FerriteError {
    this.endPause();
    return new FerriteError('ETXSTATE', "a read section's function wrote through this thread's writer of the pool: its own commit changed the state it was reading (the write was made; read and write through the writer's store instead, or write after the read)");
  }

  /** Inside a section (`store.read`): runs `op`; a change of state ends the outer attempt. */
  private nested<T>(op: ReadOp<T>): T {
    const r = op.run();
    if (this.closed) throw closedInside();
    if (this.changed(this.sectionSeq)) throw RETRY;
    return r;
  }

  /** True when the state a section noted is no longer the pool's (never, for a snapshot). */
  private changed(s: number): boolean {
    if (s === SNAPSHOT) return false;
    const w = this.w();
    if (Atomics.load(w, SEQ_INDEX) !== s) return true;
    // The shared bytes a dead writer left consistent, read with the sequence odd: a new writer
    // bumps EPOCH before it writes, while the sequence may stay the same odd value.
    const snap = this.snapshot;
    return snap !== undefined && snap.region === undefined && Atomics.load(w, EPOCH_INDEX) !== snap.epoch;
  }

  private failed<T>(op: ReadOp<T>, t0: number): void {
    // State that reads nested in the attempt advanced (iterators stepped inside store.read)
    // goes back to where the attempt found it, latest first.
    const undo = this.attemptUndo;
    for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
    undo.length = 0;
    this.stats.retries++;
    this.validSeq = -1;
    if (t0 !== 0) this.lastAttemptMs = untilMs(clockMs(), t0);
    this.onInvalidate(true);
    op.retry?.();
  }

  /** Caches of an older state go; the header (and the mapping's length) follow the pool. */
  private refresh(): void {
    const size = this.pool.rereadHeader();
    // Reading the shared view (live, or left consistent by a dead writer): follow its size.
    // A mapping with diverted pages (an overtaken read reached past a tail the writer cut: the
    // fault guard gave it a private page there) is mapped again too, so no stale page survives
    // into a state where the file holds data there again.
    const shared = this.source.shared;
    if (this.snapshot?.region === undefined && (size !== shared.length || (shared.faults ?? 0) > 0)) {
      this.source.follow(size);
      this.stats.remaps++;
      this.pool.readFrom(this.source.shared);
      this.pool.rereadHeader();
    }
    this.onInvalidate(false);
    this.onRefresh();
  }

  /**
   * The sequence to read at: an even one (waiting while it is odd), or SNAPSHOT while reading a
   * recovered copy. Asks for a pause once starved.
   */
  private begin(attempt: number, started: number): number {
    if (this.snapshot !== undefined) {
      if (this.snapshot.frozen || Atomics.load(this.w(), EPOCH_INDEX) === this.snapshot.epoch) {
        // A private copy never changes; the shared bytes of a dead writer are read at the
        // sequence they hold, checked with the epoch (`changed`).
        return this.snapshot.region !== undefined ? SNAPSHOT : Atomics.load(this.w(), SEQ_INDEX);
      }
      this.leaveSnapshot();
    }
    if (attempt >= PAUSE_AFTER) this.requestPause();
    let spins = 0;
    let step = 0.02;
    let nextLiveness = 0;
    for (;;) {
      const s = Atomics.load(this.w(), SEQ_INDEX);
      if ((s & 1) === 0) return s;
      if (++spins < SPINS) continue;
      if (spins === SPINS && this.uuid !== undefined && changingInThisThread(this.uuid)) {
        this.endPause();
        throw new FerriteError('ETXSTATE', "this thread's writer of the pool is inside a transaction: a read-only store of the same pool cannot read until it ends (read through the writer's store)");
      }
      const now = clockMs();
      if (untilMs(now, nextLiveness) >= 0 || nextLiveness === 0) {
        nextLiveness = now + LIVENESS_MS;
        let entered = false;
        try {
          entered = !this.source.writerAlive() && this.enterSnapshot();
        } catch (err) {
          this.endPause();
          throw err;
        }
        if (entered) {
          return this.snapshot?.region !== undefined ? SNAPSHOT : Atomics.load(this.w(), SEQ_INDEX);
        }
      }
      if (untilMs(now, started) > this.readTimeoutMs) {
        this.endPause();
        throw new FerriteError('EBUSY', `the writer has been inside one change of the pool for over ${this.readTimeoutMs} ms (readTimeout)`);
      }
      this.stats.waits++;
      sleepMs(step);
      step = Math.min(step * 2, 1);
    }
  }

  /** The writer is gone: read a recovered copy. False when a writer appeared meanwhile. */
  private enterSnapshot(): boolean {
    const w = this.w();
    // EPOCH before the lock: a writer that takes the lock after our look bumps EPOCH before it
    // writes anything, and we see that after the copy.
    const epoch = Atomics.load(w, EPOCH_INDEX);
    if (this.source.writerAlive()) return false;
    let copy: Region | undefined;
    // The words again after `recover()`, never `w` (see `start`: it may remap the view).
    try {
      copy = this.source.recover();
    } catch (err) {
      // A new writer changing the pool under the copy; else the pool cannot be recovered.
      if (Atomics.load(this.w(), EPOCH_INDEX) !== epoch || this.source.writerAlive()) return false;
      throw err;
    }
    if (Atomics.load(this.w(), EPOCH_INDEX) !== epoch || this.source.writerAlive()) {
      copy?.close();
      return false;
    }
    this.adopt(copy, epoch);
    return true;
  }

  private adopt(copy: Region | undefined, epoch: number): void {
    this.snapshot = { region: copy, epoch, frozen: false };
    this.stats.snapshots++;
    if (copy !== undefined) this.pool.readFrom(copy);
    this.validSeq = -1;
    this.onInvalidate(true);
  }

  private leaveSnapshot(): void {
    const snap = this.snapshot;
    invariant(snap !== undefined, 'leaving a snapshot that was entered');
    this.snapshot = undefined;
    if (snap.region !== undefined) {
      this.pool.readFrom(this.source.shared);
      snap.region.close();
    }
    this.validSeq = -1;
    this.onInvalidate(true);
  }

  private requestPause(): void {
    const pw = this.source.pauseWords();
    if (pw === undefined) return;
    const ms = Math.min(MAX_PAUSE_REQUEST_MS, Math.max(1, 2 * this.lastAttemptMs));
    const deadline = ((clockMs() + ms) % 0x7fffffff) + 1;
    const cur = Atomics.load(pw, PAUSE_INDEX);
    // Another reader's later deadline stays.
    if (cur !== 0 && untilMs(cur, deadline) > 0) return;
    Atomics.store(pw, PAUSE_INDEX, deadline);
    this.pauseDeadline = deadline;
    this.stats.pauses++;
  }

  private endPause(): void {
    if (this.pauseDeadline === 0) return;
    const pw = this.source.pauseWords();
    if (pw !== undefined) Atomics.compareExchange(pw, PAUSE_INDEX, this.pauseDeadline, 0);
    this.pauseDeadline = 0;
  }

  /** The reader words over the shared view's current bytes. */
  private w(): Int32Array {
    const bytes = this.source.shared.bytes;
    if (bytes !== this.wordsSource) {
      this.wordsSource = bytes;
      this.words = wordsOf(bytes);
    }
    return this.words;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endPause();
    this.snapshot?.region?.close();
    this.snapshot = undefined;
    this.source.close();
  }
}
