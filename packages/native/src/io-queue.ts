/**
 * `createIoQueue`: programs of writes and syncs over `FileHandle`s, run in submission order,
 * one at a time, on a thread of the queue's own (an `IoQueue` of @ferrite/core). See README
 * "The I/O queue" for the threading model and what is durable when.
 */
import type { IoOp, IoQueue } from '@ferrite/core';
import { binding } from './binding.js';
import type { NativeQueue } from './binding.js';

/** Counters of a queue. */
export interface IoQueueStats {
  /** Programs finished (run to the end, failed, or failed by the poison). */
  readonly programs: number;
  /** Of those, the ones that failed. */
  readonly failed: number;
  /** Steps run (a failing step counts). */
  readonly steps: number;
  /** Submitted programs not finished yet (`pending`). */
  readonly pending: number;
  /** True once a program failed: every later one fails too. */
  readonly poisoned: boolean;
  /** Data arrays referenced for programs whose promise has not settled (0 when all did). */
  readonly heldArrays: number;
}

/**
 * The native `IoQueue`. Programs run strictly in order — `submit`ted ones on the queue's I/O
 * thread, `runNow` ones on the calling thread once every earlier program finished — and a
 * program that fails (or is refused at submission) poisons the queue: every later program
 * fails with the same code, and nothing more is written.
 *
 * The steps' files must be `FileHandle`s of this package (another `FileIO` is refused with
 * EINVAL). Each write's `data` array is referenced until its program's promise settles, so
 * dropping it is safe; changing its bytes before then changes what is written, and detaching
 * it (transfer) makes the write fail or write undefined bytes (never a crash).
 */
export class NativeIoQueue implements IoQueue {
  #native: NativeQueue;

  /** @internal Use `createIoQueue`. */
  constructor(native: NativeQueue) {
    this.#native = native;
  }

  /**
   * Runs `ops` on the calling thread after every program submitted before it has finished
   * (blocking the event loop meanwhile). Returns when the last step is done.
   * @throws FerriteError the first failure: the step's (EIO, ENOSPC, ...), a refusal
   *   (EINVAL, ERANGE, ECLOSED, EACCES: bad ops, a write outside its file, a closed or
   *   read-only file), or the earlier failure that poisoned the queue.
   */
  runNow(ops: readonly IoOp[]): void {
    this.#native.runNow(ops);
  }

  /**
   * Checks `ops` now and queues them; the I/O thread runs them after every earlier program.
   * The promise resolves when the last step is done and rejects with the first failure (the
   * same codes as `runNow`; a refused program is rejected in its turn, not before). Promises
   * settle in submission order. While a promise is unsettled it keeps the event loop alive.
   */
  submit(ops: readonly IoOp[]): Promise<void> {
    return this.#native.submit(ops);
  }

  /**
   * Blocks the calling thread until every submitted program has finished (their promises
   * settle afterwards, when the event loop runs). It reports no failure: a program that failed
   * says so through its promise only, so a caller that must know at once runs `runNow([])`
   * after it, which throws the failure that poisoned the queue (an empty program writes nothing).
   */
  waitIdle(): void {
    this.#native.waitIdle();
  }

  /** Submitted programs not finished yet. */
  get pending(): number {
    return this.#native.pending();
  }

  /** Counters since creation. */
  stats(): IoQueueStats {
    return this.#native.stats();
  }
}

/**
 * A new I/O queue. Its thread starts with the first `submit` and stops when the queue is
 * garbage-collected (only when idle: unsettled programs keep it), when its JavaScript
 * environment ends (worker exit) and at process exit; a step in progress then completes and
 * no later one starts.
 */
export function createIoQueue(): NativeIoQueue {
  return new NativeIoQueue(new binding.NativeIoQueue());
}
