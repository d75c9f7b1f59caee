/**
 * The base of the collections' iterators: an object whose every `next()` is one step, with its
 * whole state in fields (not a generator's hidden frame). A live reader (a read-only store
 * following a writer in another process, the heap's live-reader.ts) runs each step in a
 * section that may run it again when a commit overtook it: the step saves its state first and
 * a retry puts it back, which a generator could not do (an exception ends a generator).
 *
 * Like a generator: `next()` after the end, or after a step threw, returns done (but a live
 * reader's EBUSY or ETXSTATE, thrown before the step could run, leaves it going); `return()`
 * ends it; it is its own iterable and inherits %IteratorPrototype% (the iterator helpers of
 * Node 22 and later: map, filter, take, toArray...).
 */
import { isFerriteError } from '@ferrite/core';
import type { LiveReader, ReadOp } from '@ferrite/heap';

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

export abstract class StepIterator<T> implements IterableIterator<T> {
  private finished = false;
  private readonly reader: LiveReader | undefined;
  private liveOp: ReadOp<IteratorResult<T, undefined>> | undefined = undefined;
  private nestedOp: ReadOp<IteratorResult<T, undefined>> | undefined = undefined;
  /** The outer attempt (store.read) whose start this iterator's state was saved at, for its undo. */
  private savedAttempt = -1;
  private finishedAtAttempt = false;
  /** True while a live reader's step runs: an error then is the step's own (see `next`). */
  private stepping = false;

  constructor(reader: LiveReader | undefined) {
    this.reader = reader;
  }

  /** One step: the next value, or done. Sets no state a retry could not put back (see save). */
  protected abstract step(): IteratorResult<T, undefined>;
  /** Keeps the state a step changes (a live reader calls it before each attempt). */
  protected abstract save(): void;
  /** Puts back the state `save` kept. */
  protected abstract restore(): void;

  next(): IteratorResult<T, undefined> {
    if (this.finished) return DONE;
    try {
      let r: IteratorResult<T, undefined>;
      const attempt = this.reader?.attempt;
      if (this.reader === undefined) {
        r = this.step();
      } else if (attempt !== undefined) {
        // Stepped inside a section (store.read): a commit that overtakes the attempt runs the
        // whole function again, so the iterator goes back to where the attempt found it (its
        // state saved at the attempt's first step; the steps of the failed attempt are undone).
        if (this.savedAttempt !== attempt) {
          this.savedAttempt = attempt;
          this.save();
          this.finishedAtAttempt = this.finished;
          this.reader.onAttemptFailed(() => {
            this.restore();
            this.finished = this.finishedAtAttempt;
            this.savedAttempt = -1;
          });
        }
        this.nestedOp ??= { run: () => this.step() };
        r = this.reader.section(this.nestedOp);
      } else {
        this.liveOp ??= {
          run: () => {
            this.save();
            this.stepping = true;
            const r = this.step();
            this.stepping = false;
            return r;
          },
          retry: () => {
            this.stepping = false;
            this.restore();
          },
        };
        r = this.reader.section(this.liveOp);
      }
      if (r.done === true) this.finished = true;
      return r;
    } catch (err) {
      // A live reader that could not begin the step (EBUSY: the writer stayed inside one change
      // past readTimeout; ETXSTATE: this thread's writer is inside a transaction) left the
      // state as it was, or put it back: the iterator goes on at the next call (found in
      // review: it ended, and the keys after it were never returned, with no error).
      const intact = this.liveOp !== undefined && !this.stepping && this.reader?.attempt === undefined &&
        (isFerriteError(err, 'EBUSY') || isFerriteError(err, 'ETXSTATE'));
      this.stepping = false;
      if (!intact) this.finished = true;
      throw err;
    }
  }

  return(value?: unknown): IteratorResult<T, undefined> {
    this.finished = true;
    return value === undefined ? DONE : ({ done: true, value } as unknown as IteratorResult<T, undefined>);
  }

  [Symbol.iterator](): this {
    return this;
  }
}

// What generator objects inherit: Symbol.iterator, and on Node 22+ the iterator helpers.
Object.setPrototypeOf(StepIterator.prototype, Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as object);
