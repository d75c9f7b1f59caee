/**
 * The commit sequence: how readers in other processes and threads tell a committed state of
 * the pool from one being written, without a lock the writer waits for (a seqlock).
 *
 * Three i32 words in the pool's first page (layout.ts, READER_WORDS), shared by every process
 * that maps the pool file:
 *
 * - SEQ: the writer makes it odd (one atomic add, a full barrier) before its first store into
 *   the bytes readers see, and even again after its last one. A reader notes an even value,
 *   reads, and keeps what it read only if the value is unchanged afterwards (live-reader.ts).
 *   What readers see: on persistent memory (and any Region) the pool itself, which the writer
 *   changes in place from the beginning of a transaction to the end of its commit (or
 *   rollback); on an ordinary file the page cache, which the writer changes only when it
 *   copies a durable commit into it (staged-region.ts), and during recovery at open.
 * - EPOCH: bumped by every writable open before it writes anything, so a reader that
 *   recovered a private copy of a pool whose writer died knows when a new writer took over.
 * - PAUSE: a reader whose reads keep being overtaken by commits stores a deadline (a
 *   millisecond clock, mod 2^31, never 0) and the writer waits before its next change until
 *   the reader clears it or the deadline passes, at most MAX_WRITER_PAUSE_MS per change. A
 *   reader killed meanwhile costs the writer that much once: its deadline simply passes.
 *
 * A writer that dies with SEQ odd leaves it odd: readers find its lock gone and recover a
 * private copy (live-reader.ts); the next writer's open bumps EPOCH, recovers, and makes SEQ
 * even. SEQ only ever moves forward (a new writer makes an odd value even by adding one, an
 * even one odd then even by adding two), so a reader never mistakes a new state for the one it
 * noted.
 *
 * Ordering: the writer's atomic add is a full barrier (lock xadd on x86-64): stores after it
 * are not seen before it, nor stores before the closing add after it. Readers load the word
 * with Atomics.load, which the compiler neither hoists nor merges, and x86-64 keeps a
 * thread's loads in order. ferrite ships for Linux x86-64; other architectures need a fence in
 * the reader, which is why the prebuilt addon is x86-64 only for now (ARCHITECTURE.md).
 */
import { invariant } from '@ferrite/core';
import type { Region } from '@ferrite/core';
import { EPOCH_WORD, PAUSE_WORD, SEQ_WORD } from './layout.js';

/** Index of each word in an Int32Array over the pool's bytes. */
export const SEQ_INDEX = SEQ_WORD / 4;
export const EPOCH_INDEX = EPOCH_WORD / 4;
export const PAUSE_INDEX = PAUSE_WORD / 4;

/**
 * The longest a writer waits for readers before one change (ms). A reader asks for about twice
 * its last attempt: this bounds what a reader whose reads are long can cost each commit.
 */
export const MAX_WRITER_PAUSE_MS = 1000;

/** A millisecond clock all processes of the machine share, mod 2^31, never 0. */
export function clockMs(): number {
  return (Date.now() % 0x7fffffff) + 1;
}

/** Milliseconds from `now` to the deadline `d` (both clockMs values): negative once it passed. */
export function untilMs(d: number, now: number): number {
  // Signed difference mod 2^31 (deadlines are at most seconds away).
  return ((d - now) << 1) >> 1;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for about `ms` milliseconds (fractions allowed). */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Pools (by uuid) whose writer in THIS thread is inside a change now. A reader of the same pool
 * in the same thread (a read-only store read from inside the writer's transaction) would wait
 * for a change that cannot end while it waits: it asks here and refuses instead (ETXSTATE).
 */
// One counter per pool uuid a writer of this thread has used, kept for the thread's life (a
// few bytes per pool): a writer holds its counter and bumps it around each change, where a map
// lookup, set and delete per transaction cost a measurable part of a small durable insert.
// `made` counts the changes begun, for `changesMadeInThisThread`.
const changingHere = new Map<string, { n: number; made: number }>();

/** True when a writer of the pool `uuid` in this thread is inside a change. */
export function changingInThisThread(uuid: string): boolean {
  return (changingHere.get(uuid)?.n ?? 0) > 0;
}

/**
 * This thread's counter of the changes its writers of the pool `uuid` have begun (`made`), the
 * same object for the thread's life: a reader holds it and reads it per attempt, no lookup. A
 * `store.read` function that moved it wrote through this thread's writer: its own commit
 * overtook the read, and running it again would do the same, forever (live-reader.ts).
 */
export function changesInThisThread(uuid: string): { readonly made: number } {
  return changingCounter(uuid);
}

/** The counter of `uuid` in this thread. */
function changingCounter(uuid: string): { n: number; made: number } {
  let c = changingHere.get(uuid);
  if (c === undefined) {
    c = { n: 0, made: 0 };
    changingHere.set(uuid, c);
  }
  return c;
}

/** An Int32Array over the words of `region` (renewed when the region's bytes are replaced). */
export function wordsOf(bytes: Uint8Array): Int32Array {
  invariant(bytes.byteOffset % 4 === 0 && bytes.length >= PAUSE_WORD + 4, 'the reader words lie in the mapped bytes');
  return new Int32Array(bytes.buffer, bytes.byteOffset, (PAUSE_WORD + 4) / 4);
}

/**
 * The writer's side, over the region readers see (the pool itself on persistent memory, the
 * shared view of a pool file).
 */
export class CommitSeq {
  private readonly region: Region;
  private words: Int32Array;
  private source: Uint8Array;
  /** Inside enter()/leave(): the sequence is odd. */
  private odd = false;
  /** Times the writer waited for a reader, and the milliseconds it waited (stats). */
  pauses = 0;
  pausedMs = 0;

  /** This thread's counter of changes to the pool `uuid` (see `changingInThisThread`). */
  private changing: { n: number; made: number } | undefined;
  private uuidValue: string | undefined;

  /** The pool's uuid (see `changingInThisThread`); undefined before it is known. */
  get uuid(): string | undefined {
    return this.uuidValue;
  }

  set uuid(uuid: string | undefined) {
    invariant(!this.odd, 'the uuid of a commit sequence is set between changes');
    this.uuidValue = uuid;
    this.changing = uuid === undefined ? undefined : changingCounter(uuid);
  }

  constructor(region: Region, uuid?: string) {
    this.region = region;
    this.uuid = uuid;
    this.source = region.bytes;
    this.words = wordsOf(this.source);
  }

  /** The words over the region's current bytes (a grow replaces them). */
  private w(): Int32Array {
    const bytes = this.region.bytes;
    if (bytes !== this.source) {
      this.source = bytes;
      this.words = wordsOf(bytes);
    }
    return this.words;
  }

  get isOdd(): boolean {
    return this.odd;
  }

  /**
   * A writable open begins: EPOCH bumped, then SEQ made odd (its recovery may write). A
   * sequence a dead writer left odd stays odd until `leave`.
   */
  beginSession(): void {
    const w = this.w();
    Atomics.add(w, EPOCH_INDEX, 1);
    if ((Atomics.load(w, SEQ_INDEX) & 1) === 0) Atomics.add(w, SEQ_INDEX, 1);
    this.odd = true;
    if (this.changing !== undefined) {
      this.changing.n++;
      this.changing.made++;
    }
  }

  /** The writer is about to change what readers see: waits for a reader's pause, makes SEQ odd. */
  enter(): void {
    invariant(!this.odd, 'commit sequence entered twice');
    const w = this.w();
    const d = Atomics.load(w, PAUSE_INDEX);
    if (d !== 0) {
      // A reader asks for at most MAX_WRITER_PAUSE_MS. A deadline that passed, or that lies
      // further away (one a dead reader left, read across the wrap of the 2^31 ms clock), is
      // cleared: it would otherwise look a few days ahead again every 24.8 days.
      const left = untilMs(d, clockMs());
      if (left > 0 && left <= MAX_WRITER_PAUSE_MS) this.honourPause(w);
      else Atomics.compareExchange(w, PAUSE_INDEX, d, 0);
    }
    Atomics.add(w, SEQ_INDEX, 1);
    this.odd = true;
    if (this.changing !== undefined) {
      this.changing.n++;
      this.changing.made++;
    }
  }

  /** The change is complete: SEQ even again. Not called when the change failed half way. */
  leave(): void {
    invariant(this.odd, 'commit sequence left without entering');
    const w = this.w();
    // Atomics.add returns the word before the add: the invariant costs no second atomic access
    // (each is a call into a V8 builtin, on every commit).
    const before = Atomics.add(w, SEQ_INDEX, 1);
    this.odd = false;
    if (this.changing !== undefined) this.changing.n--;
    invariant((before & 1) === 1, 'the commit sequence is even between changes');
  }

  /** Waits until the readers' deadline passes or they clear it, at most MAX_WRITER_PAUSE_MS. */
  private honourPause(w: Int32Array): void {
    const start = clockMs();
    this.pauses++;
    // Short sleeps: the reader clears its request as soon as its read validated, and the
    // writer should go on right then.
    let step = 0.02;
    for (;;) {
      const d = Atomics.load(w, PAUSE_INDEX);
      const now = clockMs();
      if (d === 0) break;
      if (untilMs(d, now) <= 0 || untilMs(now, start) >= MAX_WRITER_PAUSE_MS) {
        Atomics.compareExchange(w, PAUSE_INDEX, d, 0); // over: a reader still starved asks again
        break;
      }
      sleepMs(step);
      step = Math.min(step * 2, 0.25);
    }
    this.pausedMs += untilMs(clockMs(), start);
  }
}
