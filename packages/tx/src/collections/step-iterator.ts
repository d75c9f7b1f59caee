/**
 * The base of the collections' iterators: an object whose every `next()` is one step, with its
 * whole state in fields (not a generator's hidden frame). A live reader (a read-only store
 * following a writer in another process, the heap's live-reader.ts) runs each step in a
 * section that may run it again when a commit overtook it: the step saves its state first and
 * a retry puts it back, which a generator could not do (an exception ends a generator).
 *
 * Like a generator: `next()` after the end, or after a step threw, returns done; `return()`
 * ends it; it is its own iterable and inherits %IteratorPrototype% (the iterator helpers of
 * Node 22 and later: map, filter, take, toArray...).
 */
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
            return this.step();
          },
          retry: () => this.restore(),
        };
        r = this.reader.section(this.liveOp);
      }
      if (r.done === true) this.finished = true;
      return r;
    } catch (err) {
      this.finished = true;
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
