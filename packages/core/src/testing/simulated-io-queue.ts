/**
 * `SimulatedIoQueue`: the `IoQueue` contract (packages/core/src/file-io.ts) run on the
 * calling thread, deterministically, for crash tests on a `SimulatedDisk`.
 *
 * The native queue runs submitted programs on a worker thread, at a moment nobody chooses.
 * Here nothing runs inside `submit`: submitted programs wait until `runNow` or `waitIdle`
 * (or, with `autoRun`, a `setImmediate` after the submit) runs them, in submission order, so
 * a test decides where the "worker" makes progress and every run replays. A program the
 * queue never ran when the crash struck is simply lost, as a worker that had not started it.
 */
import { booleanOption, readOptions } from '../arguments.js';
import { crc32c } from '../checksum.js';
import { FerriteError } from '../errors.js';
import type { FileIO, IoOp, IoQueue } from '../file-io.js';
import { isSimulatedCrash } from './simulated-crash.js';

/** Options of `SimulatedIoQueue`. */
export interface SimulatedIoQueueOptions {
  /**
   * When true, each `submit` also schedules a run of the pending programs with
   * `setImmediate`, so `await queue.submit(ops)` settles without a `waitIdle` (for async
   * tests). Default false: programs run only inside `runNow` and `waitIdle`, which a crash
   * scenario's synchronous `run` needs (nothing may run after the harness took its image).
   */
  autoRun?: boolean;
}

/** A submitted program, its settlement, and checksums of its write data at submission. */
interface Program {
  readonly ops: readonly IoOp[];
  readonly crcs: readonly number[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * An `IoQueue` that runs programs of writes and syncs synchronously on the calling thread:
 * one at a time, in submission order, `runNow`'s own ops after every earlier submitted
 * program. A failing step ends its program and poisons the queue: every later program (and
 * `runNow`) fails with the same error, so nothing is written after a failure. A
 * `SimulatedCrash` thrown by a step (the region's crash countdown) is such a failure, and
 * also propagates out of the `runNow` or `waitIdle` that ran the step (the machine died
 * there); the promises of the programs it ended or skipped reject with it.
 *
 * A submitted write's `data` must stay unchanged until its program ends (the contract):
 * the queue checks it (CRC-32C at submission and when the write runs) and fails the program
 * with EINVAL if it changed, which the native queue could not see.
 */
export class SimulatedIoQueue implements IoQueue {
  private readonly queue: Program[] = [];
  private readonly autoRun: boolean;
  /** The first failure, which every later program gets. */
  private failure: { readonly error: unknown } | undefined = undefined;
  private running = false;
  private scheduled = false;

  constructor(options: SimulatedIoQueueOptions = {}) {
    const o = readOptions('SimulatedIoQueue', options, ['autoRun']);
    this.autoRun = booleanOption('SimulatedIoQueue', 'autoRun', o.autoRun, false);
  }

  /** Programs submitted and not yet finished (a program counts while it runs). */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * The failure that poisoned the queue (the first step that threw, or a changed write
   * buffer), if any. Every program after it fails with this same error.
   */
  get poisoned(): unknown {
    return this.failure?.error;
  }

  /**
   * Runs every submitted program, then `ops`, on the calling thread; returns when the last
   * op is done. Throws the first failure: a `SimulatedCrash` (from a submitted program or
   * from `ops`), the error that poisoned the queue before (then `ops` is not run), or the
   * error of a step of `ops` (which poisons the queue).
   * @throws EINVAL for a malformed program (nothing is run) or a call from inside a step.
   */
  runNow(ops: readonly IoOp[]): void {
    const program = checkProgram('runNow', ops);
    this.enter('runNow');
    try {
      this.runPending();
      if (this.failure !== undefined) throw this.failure.error;
      this.runSteps(program, undefined);
    } catch (err) {
      if (this.failure === undefined) this.failure = { error: err };
      throw err;
    } finally {
      this.running = false;
    }
  }

  /**
   * Queues `ops` and returns at once, without running anything; the promise resolves when
   * the program has run, or rejects with the error that ended it or poisoned the queue
   * before it. It runs at the next `runNow` or `waitIdle` (or soon after, with `autoRun`).
   * On a poisoned queue nothing is queued: the promise rejects with the poisoning error.
   * @throws EINVAL for a malformed program (nothing is queued).
   */
  submit(ops: readonly IoOp[]): Promise<void> {
    const program = checkProgram('submit', ops);
    // Every program before the failure has settled already (the run that failed settles
    // them all), so a later one needs no turn in the queue to know its fate.
    if (this.failure !== undefined) return Promise.reject(this.failure.error);
    const crcs = program.map((op) => (op.op === 'write' ? crc32c(op.data) : 0));
    const promise = new Promise<void>((resolve, reject) => {
      this.queue.push({ ops: program, crcs, resolve, reject });
    });
    if (this.autoRun && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.running || this.queue.length === 0) return;
        try {
          this.waitIdle();
        } catch {
          // A crash: the programs' promises carry it; nobody else is there to tell.
        }
      });
    }
    return promise;
  }

  /**
   * Runs every submitted program now, in order; their promises settle afterwards (as
   * microtasks). A failure other than a crash is reported through the promises only; a
   * `SimulatedCrash` is thrown here too (after every pending promise was rejected), and
   * again by every later call, since the machine is dead.
   * @throws EINVAL for a call from inside a step.
   */
  waitIdle(): void {
    this.enter('waitIdle');
    try {
      this.runPending();
    } finally {
      this.running = false;
    }
    if (this.failure !== undefined && isSimulatedCrash(this.failure.error)) throw this.failure.error;
  }

  /** Guards against a step (a custom FileIO, say) calling back into the queue. */
  private enter(what: string): void {
    if (this.running) throw new FerriteError('EINVAL', `${what}: called from inside a running program`);
    this.running = true;
  }

  /** Runs (or, once poisoned, fails) every queued program, the queue's own order. */
  private runPending(): void {
    while (this.queue.length > 0) {
      const program = this.queue[0]!;
      try {
        if (this.failure !== undefined) throw this.failure.error;
        this.runSteps(program.ops, program.crcs);
      } catch (err) {
        if (this.failure === undefined) this.failure = { error: err };
        this.queue.shift();
        program.reject(this.failure.error);
        continue;
      }
      this.queue.shift();
      program.resolve();
    }
  }

  private runSteps(ops: readonly IoOp[], crcs: readonly number[] | undefined): void {
    for (const [i, op] of ops.entries()) {
      if (op.op === 'sync') {
        op.file.sync();
        continue;
      }
      if (crcs !== undefined && crc32c(op.data) !== crcs[i]) {
        throw new FerriteError(
          'EINVAL',
          `IoQueue: the data of write #${i} changed between submit and its run (it must stay unchanged until the program ends)`,
        );
      }
      op.file.write(op.offset, op.data);
    }
  }
}

/** A copy of `ops` after checking its shape, so a malformed program is refused whole. */
function checkProgram(what: string, ops: readonly IoOp[]): IoOp[] {
  if (!Array.isArray(ops)) throw new FerriteError('EINVAL', `${what}: ops must be an array`);
  return ops.map((op: unknown, i) => {
    const bad = (why: string): FerriteError => new FerriteError('EINVAL', `${what}: op #${i} ${why}`);
    if (typeof op !== 'object' || op === null) throw bad('is not an object');
    const o = op as { op?: unknown; file?: unknown; offset?: unknown; data?: unknown };
    if (!isFileIO(o.file)) throw bad('has no file (a FileIO)');
    if (o.op === 'sync') return { op: 'sync', file: o.file };
    if (o.op !== 'write') throw bad(`is neither 'write' nor 'sync' (${String(o.op)})`);
    if (typeof o.offset !== 'number' || !Number.isSafeInteger(o.offset) || o.offset < 0) {
      throw bad(`has a bad offset ${String(o.offset)}`);
    }
    if (!(o.data instanceof Uint8Array)) throw bad('has data that is not a Uint8Array');
    return { op: 'write', file: o.file, offset: o.offset, data: o.data };
  });
}

function isFileIO(file: unknown): file is FileIO {
  if (typeof file !== 'object' || file === null) return false;
  const f = file as Partial<Record<keyof FileIO, unknown>>;
  return typeof f.write === 'function' && typeof f.sync === 'function';
}
