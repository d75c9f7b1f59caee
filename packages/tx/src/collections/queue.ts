/**
 * PQueue: a persistent FIFO queue (usable as a journal).
 *
 * Values live inline in a singly linked list of segment blocks; push appends to the tail
 * segment, shift consumes from the head segment and frees it once it is used up. Both are
 * O(1): a push snapshots the header's words, the tail's `used` word and the new entry's bytes
 * with ONE addRanges (one drain) before storing; a segment is allocated (first) only when the
 * tail is full.
 *
 *   header block (HEADER_SIZE bytes):
 *     +0  u64 head segment (0 when the queue never held a value or was cleared)
 *     +8  u64 head position: byte offset, in the head segment's data, of the first entry
 *     +16 u64 tail segment
 *     +24 u64 length (number of values)
 *     +32 u64 segment count
 *     +40 u64 magic
 *     +48 u64 shifted: values ever removed from the front (format 2; the front value's absolute
 *         index, which lets a reader in another process tell which values went, see the iterator)
 *     +56 u64 the store's creation stamp (internal/context.ts, HEADER_STAMP)
 *   segment block:
 *     +0  u64 next segment (0 at the tail)
 *     +8  u64 used bytes of data
 *     +16 u64 data capacity in bytes
 *     +24 data: entries of (u32 length, u32 zero, value bytes padded to 8)
 *
 * Invariants: length > 0 ⇒ head position < head.used; every segment other than the tail is
 * non-empty past the head position; an empty queue with segments has head = tail, position 0
 * and tail.used 0 (its space is reused).
 */
import { CorruptionError, FerriteError, invariant } from '@ferrite/core';
import type { LiveReader, ReadOp, Transaction } from '@ferrite/heap';
import { StepIterator } from './step-iterator.js';
import type { CollectionContext, CollectionInternals } from '../internal/context.js';
import { collectProblems } from './problems.js';

/** Header bytes of format 2 (format 1, before shifted counts: 48); [56, 64) is the store's stamp (HEADER_STAMP). */
const HEADER_SIZE = 64;
const H_HEAD = 0;
const H_HEAD_POS = 8;
const H_TAIL = 16;
const H_LENGTH = 24;
const H_SEGMENTS = 32;
const H_MAGIC = 40;
const H_SHIFTED = 48;
/** 'PQUEUE' + format 1, as a safe integer: a 48-byte header without H_SHIFTED (written up to 2026-12-07). */
const QUEUE_MAGIC_V1 = 0x5155_4555_0001;
/** 'PQUEUE' + format 2. */
const QUEUE_MAGIC = 0x5155_4555_0002;

const SEG_NEXT = 0;
const SEG_USED = 8;
const SEG_CAPACITY = 16;
const SEG_DATA = 24;
/** Data bytes of an ordinary segment; a larger value gets a segment of its own size. */
const SEGMENT_DATA = 4096 - SEG_DATA;
const ENTRY_HEADER = 8;

interface Segment {
  readonly offset: number;
  readonly next: number;
  readonly used: number;
  readonly capacity: number;
}

/** `n` rounded up to a multiple of 8; exact for every safe integer (a u32 length read from damaged bytes too). */
function align8(n: number): number {
  // Not `(n + 7) & ~7`: 32-bit operators turn a length of 2^31 or more negative, and a damaged
  // entry's length then made `entryAt` return its own position (or one before it) as the next
  // one without noticing the overrun, so validate() — store.check() — looped forever (found by
  // the damage property of check-damage.test.ts).
  return Math.ceil(n / 8) * 8;
}

/** Smallest segment block: the header words and one entry. Bounds a walk of the chain by what the pool can hold. */
const MIN_SEGMENT_BYTES = SEG_DATA + ENTRY_HEADER;

/** An iterator of a PQueue (see `PQueue.iterStep`): the absolute index of the next value and its place. */
class QueueIterator extends StepIterator<unknown> {
  started = false;
  /** Absolute index of the next value (see `PQueue.shifted`). */
  index = 0;
  /** Segment and position just after the value returned last. */
  seg = 0;
  pos = 0;
  layout = 0;
  /** A value was returned already. */
  returned = false;
  private saved = { started: false, index: 0, seg: 0, pos: 0, layout: 0, returned: false };

  constructor(private readonly queue: { iterStep(it: QueueIterator): IteratorResult<unknown, undefined> }, reader: LiveReader | undefined) {
    super(reader);
  }

  protected step(): IteratorResult<unknown, undefined> {
    return this.queue.iterStep(this);
  }

  protected save(): void {
    const sv = this.saved;
    sv.started = this.started;
    sv.index = this.index;
    sv.seg = this.seg;
    sv.pos = this.pos;
    sv.layout = this.layout;
    sv.returned = this.returned;
  }

  protected restore(): void {
    const sv = this.saved;
    this.started = sv.started;
    this.index = sv.index;
    this.seg = sv.seg;
    this.pos = sv.pos;
    this.layout = sv.layout;
    this.returned = sv.returned;
  }
}

/**
 * A persistent FIFO queue of values of type `T`, obtained with `store.queue<T>(name)`.
 * Every mutating method is atomic: it joins the current `store.transaction`, or is a
 * transaction of its own (durable when it returns).
 */
// A CollectionInternals too (checked where the Store builds it); not declared, since those
// members are internal and stripped from the published types.
export class PQueue<T = unknown> implements Iterable<T> {
  /** @internal */
  static readonly kind = 'queue';

  /** @internal Allocates and initialises an empty queue's header inside `tx`. */
  static create(ctx: CollectionContext, tx: Transaction): number {
    const header = tx.alloc(HEADER_SIZE, { zero: true });
    ctx.pool.writeU64(header + H_MAGIC, QUEUE_MAGIC);
    return header;
  }

  private readonly ctx: CollectionContext;
  private readonly header: number;
  /**
   * How many values this object has removed from the front (shift, clear) in the state the
   * pool holds now, rolled back with the transaction: the value at the front has the absolute
   * index `shifted`, the one after it `shifted + 1`, ... Iterators count in these indices, so
   * that a shift tells them which values went without their reading the pool (see the
   * iterator). DRAM only: one object per collection writes the queue (the store hands out one).
   */
  private shifted = 0;
  /** `shifted` when the transaction `txSerial` (the last one this queue wrote in) began. */
  private shiftedAtTx = 0;
  private txSerial = 0;
  /**
   * Bumped after the rollback of a transaction that wrote to the queue: values may be back,
   * segments freed or moved, so an iterator's cached place is no longer trusted.
   */
  private layout = 0;
  /** Made once: registering it costs no allocation per write (contexts that do not invalidate us). */
  private readonly abortHook = (): void => this.invalidateCache();
  /**
   * `serial` of the transaction in which a shift emptied the queue and reset its segment's
   * `used` to 0 (0: none). Pushes later in that transaction write over bytes that held live
   * entries when it began, so they must snapshot them; other pushes append past the `used`
   * the transaction began with, into bytes no rollback can make reachable.
   */
  private usedResetIn = 0;

  /** Format 2: the header counts shifted values (H_SHIFTED). */
  private readonly counted: boolean;
  /** Bytes of the header a shift or clear snapshots (the words before the magic; format 2: through the count). */
  private readonly shiftSpan: number;

  /** @internal Use `store.queue(name)`. */
  constructor(ctx: CollectionContext, header: number) {
    this.ctx = ctx;
    this.header = header;
    const magic = ctx.pool.readU64(header + H_MAGIC);
    if (magic !== QUEUE_MAGIC && magic !== QUEUE_MAGIC_V1) {
      throw new CorruptionError('ECORRUPT', `queue header at ${header} has a bad magic number`);
    }
    this.counted = magic === QUEUE_MAGIC;
    this.shiftSpan = this.counted ? H_SHIFTED + 8 : H_MAGIC;
  }

  /** Number of values in the queue. */
  get length(): number {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r !== undefined) return r.section(this.lengthOp);
    return this.ctx.pool.readU64(this.header + H_LENGTH);
  }

  // A live reader's reads, as operations made once; each checks first that the queue exists in
  // the state it reads (the writer may have dropped it).
  private readonly lengthOp: ReadOp<number> = { run: () => (this.ctx.assertOpen(), this.ctx.pool.readU64(this.header + H_LENGTH)) };
  private readonly peekOp: ReadOp<T | undefined> = { run: () => (this.ctx.assertOpen(), this.peekNow()) };

  /**
   * Appends `values` at the back, in order, atomically (all or none); returns the new length.
   * ETOOBIG (nothing written) when a value's encoding exceeds `maxValueSize`.
   */
  push(...values: T[]): number {
    this.ctx.assertOpen();
    return this.ctx.write((tx) => {
      this.begin(tx);
      const codec = this.ctx.values;
      if (values.length === 1) {
        this.pushEncoded(tx, codec.encode(values[0], tx));
      } else {
        // Every value is encoded (copied out of the codec's scratch) before the first is
        // written: a value that cannot be encoded (a getter throws, a refused write in a
        // getter, over maxValueSize) is rejected with nothing pushed, so a transaction that
        // catches the error and carries on does not keep part of the push.
        const encoded: Uint8Array[] = [];
        for (let i = 0; i < values.length; i++) encoded.push(codec.encode(values[i], tx).slice());
        for (let i = 0; i < encoded.length; i++) this.pushEncoded(tx, encoded[i]!);
      }
      return this.ctx.pool.readU64(this.header + H_LENGTH);
    });
  }

  /** Removes and returns the front value; `undefined` when the queue is empty. */
  shift(): T | undefined {
    this.ctx.assertOpen();
    if (this.ctx.pool.readU64(this.header + H_LENGTH) === 0) return undefined;
    return this.ctx.write((tx) => {
      this.begin(tx);
      return this.shiftOne(tx);
    });
  }

  /** The front value without removing it; `undefined` when the queue is empty. */
  peek(): T | undefined {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r !== undefined) return r.section(this.peekOp);
    return this.peekNow();
  }

  private peekNow(): T | undefined {
    const pool = this.ctx.pool;
    if (pool.readU64(this.header + H_LENGTH) === 0) return undefined;
    const seg = this.segment(pool.readU64(this.header + H_HEAD));
    const at = this.entryAt(seg, pool.readU64(this.header + H_HEAD_POS));
    return this.ctx.values.decode(pool.bytes, at.start, at.end) as T;
  }

  /** Removes every value (frees every segment), atomically. */
  clear(): void {
    this.ctx.assertOpen();
    this.ctx.write((tx) => {
      this.begin(tx);
      const pool = this.ctx.pool;
      const length = pool.readU64(this.header + H_LENGTH);
      this.freeSegments(tx);
      tx.addRange(this.header, this.shiftSpan);
      pool.bytes.fill(0, this.header, this.header + H_MAGIC);
      if (this.counted) pool.writeU64(this.header + H_SHIFTED, pool.readU64(this.header + H_SHIFTED) + length);
      this.shifted += length; // every value went from the front
    });
  }

  /**
   * Iterates the values front to back, lazily. The iterator stays valid across writes to the
   * queue, inside or outside transactions: values come in queue order; a value shifted away
   * (or cleared) before the iterator reaches it is not returned; values pushed meanwhile are
   * returned when it reaches them (it ends at the back of the queue as the queue is at that
   * step, like an Array's iterator). After a rollback of the queue it carries on from the same
   * place (by count from the front) in the restored queue. A step after `store.close()`, or
   * after the queue was dropped, throws ECLOSED.
   *
   * How: the iterator keeps the absolute index of the next value (see `shifted`) and the
   * segment and position just after the value it returned last. Pushes never move a value,
   * and a shift frees a segment only once all its values are gone, so while that value is
   * still in the queue (next index > `shifted`) the cached place is valid; when it is not, the
   * next value is the front one. Only a rollback makes the iterator find its place again,
   * walking from the front (at most `length` values).
   */
  [Symbol.iterator](): IterableIterator<T> {
    this.ctx.assertOpen();
    return new QueueIterator(this, this.ctx.reader) as unknown as IterableIterator<T>;
  }

  /**
   * @internal One step of `it` (QueueIterator.step). A live reader (a read-only store following
   * a writer elsewhere) counts in the pool's H_SHIFTED instead of `shifted`: between the
   * committed states it sees, values are only pushed at the back and shifted at the front (a
   * rollback is never seen), so the cached place after the value returned last stays valid as
   * long as that value is still in the queue, whatever the commits in between. A queue of
   * format 1 has no such count: a reader's iterator over it fails (EVERSION) when a commit
   * came between two of its steps.
   */
  iterStep(it: QueueIterator): IteratorResult<unknown, undefined> {
    this.ctx.assertOpen();
    const pool = this.ctx.pool;
    const live = this.ctx.reader !== undefined;
    const shifted = live && this.counted ? pool.readU64(this.header + H_SHIFTED) : this.shifted;
    if (!it.started) {
      it.started = true;
      it.index = shifted;
      it.layout = this.layout;
    }
    const length = pool.readU64(this.header + H_LENGTH);
    let placed = false;
    if (it.layout !== this.layout) {
      it.layout = this.layout;
      if (!live) {
        // Rolled back: count from the front again (the restored queue may be shorter).
        const k = Math.min(Math.max(it.index - shifted, 0), length);
        it.index = shifted + k;
        [it.seg, it.pos] = this.place(k, length);
        placed = true;
      } else if (!this.counted && it.returned) {
        throw new FerriteError('EVERSION', `queue at ${this.header} has format 1, which a reader cannot iterate across the writer's commits (recreate it with this version to get format 2)`);
      }
    }
    if (!placed && it.index <= shifted) {
      // The value returned last is gone (or none was returned): the next one is the front.
      it.index = shifted;
      it.seg = pool.readU64(this.header + H_HEAD);
      it.pos = pool.readU64(this.header + H_HEAD_POS);
    }
    if (it.index >= shifted + length) return { done: true, value: undefined };
    let s = this.segment(it.seg);
    // Past the end of a segment: the next one (non-empty, unless the queue is damaged).
    // Bounded by what the pool could hold too (a count read mid-change by a reader's attempt).
    const segments = Math.min(pool.readU64(this.header + H_SEGMENTS), this.segmentLimit());
    for (let hops = 0; it.pos >= s.used; hops++) {
      if (hops >= segments || s.next === 0) throw new CorruptionError('ECORRUPT', `queue at ${this.header}: fewer values than its length ${length}`);
      it.seg = s.next;
      it.pos = 0;
      s = this.segment(it.seg);
    }
    const at = this.entryAt(s, it.pos);
    const value = this.ctx.values.decode(pool.bytes, at.start, at.end) as T;
    it.pos = at.next;
    it.index++;
    it.returned = true;
    return { done: false, value };
  }

  /** The segment and position of the value `k` places from the front (`k` <= `length`); bounded by both counts. */
  private place(k: number, length: number): [number, number] {
    const pool = this.ctx.pool;
    let seg = pool.readU64(this.header + H_HEAD);
    let pos = pool.readU64(this.header + H_HEAD_POS);
    if (length === 0) return [seg, pos];
    const segments = Math.min(pool.readU64(this.header + H_SEGMENTS), this.segmentLimit());
    let s = this.segment(seg);
    let hops = 0;
    for (let i = 0; i < k; i++) {
      while (pos >= s.used) {
        if (++hops >= segments || s.next === 0) throw new CorruptionError('ECORRUPT', `queue at ${this.header}: fewer values than its length ${length}`);
        seg = s.next;
        pos = 0;
        s = this.segment(seg);
      }
      pos = this.entryAt(s, pos).next;
    }
    return [seg, pos];
  }

  /** Iterates the values front to back (same as the default iterator). */
  values(): IterableIterator<T> {
    return this[Symbol.iterator]();
  }

  /** @internal */
  *ownedBlocks(): Iterable<number> {
    yield this.header;
    const pool = this.ctx.pool;
    let seg = pool.readU64(this.header + H_HEAD);
    // A damaged count (up to 2^53) must not let a chain with a cycle run on: no pool holds
    // more segments than fit in it.
    const count = Math.min(pool.readU64(this.header + H_SEGMENTS), this.segmentLimit());
    for (let i = 0; seg !== 0; i++) {
      if (i >= count) throw new CorruptionError('ECORRUPT', `queue at ${this.header} has more segments than its count ${pool.readU64(this.header + H_SEGMENTS)} allows (or its chain has a cycle)`);
      yield seg;
      seg = this.segment(seg).next;
    }
  }

  /**
   * Checks the queue's invariants by walking every segment and entry; returns the problems
   * found (empty when sound). Reads only.
   */
  validate(): string[] {
    return collectProblems((problems) => this.validateInto(problems));
  }

  private validateInto(problems: string[]): void {
    const pool = this.ctx.pool;
    const h = this.header;
    const length = pool.readU64(h + H_LENGTH);
    const head = pool.readU64(h + H_HEAD);
    const tail = pool.readU64(h + H_TAIL);
    const segments = pool.readU64(h + H_SEGMENTS);
    if ((head === 0) !== (tail === 0)) problems.push(`head ${head} and tail ${tail} disagree on emptiness`);
    if (head === 0) {
      if (length !== 0 || segments !== 0) problems.push(`no segments but length ${length}, segment count ${segments}`);
      return;
    }
    let pos = pool.readU64(h + H_HEAD_POS);
    let seg = head;
    let entries = 0;
    let seen = 0;
    let last = 0;
    // Bounded by what the pool can hold as well: a damaged count and a cycle in the chain
    // would otherwise walk on for up to 2^53 segments.
    const limit = Math.min(segments, this.segmentLimit());
    while (seg !== 0) {
      if (++seen > limit) {
        problems.push(seen > segments ? `more segments than the count ${segments}` : `segment count ${segments} exceeds what the pool can hold, or the chain has a cycle`);
        return;
      }
      const s = this.segment(seg);
      while (pos < s.used) {
        pos = this.entryAt(s, pos).next;
        entries++;
      }
      if (pos !== s.used) problems.push(`segment ${seg}: entries end at ${pos}, not at used ${s.used}`);
      if (s.next !== 0 && s.used === 0) problems.push(`segment ${seg} is empty but not the tail`);
      last = seg;
      seg = s.next;
      pos = 0;
    }
    if (seen !== segments) problems.push(`${seen} segments, count says ${segments}`);
    if (last !== tail) problems.push(`the last segment ${last} is not the tail ${tail}`);
    if (entries !== length) problems.push(`${entries} entries, length says ${length}`);
    if (length === 0 && (pool.readU64(h + H_HEAD_POS) !== 0 || head !== tail)) {
      problems.push('an empty queue must rest on one segment at position 0');
    }
  }

  /** @internal */
  destroy(tx: Transaction): void {
    this.begin(tx);
    this.freeSegments(tx);
    tx.free(this.header);
  }

  /**
   * @internal Called after the rollback of a transaction this queue wrote in (the store's
   * contract, or our own abort hook): `shifted` goes back to what it was when the transaction
   * began, and live iterators find their place again.
   */
  invalidateCache(): void {
    this.shifted = this.shiftedAtTx;
    this.layout++;
  }

  /**
   * The first thing of every write, inside its transaction: notes where `shifted` stood when
   * the transaction began (once per transaction), for a rollback to restore.
   */
  private begin(tx: Transaction): void {
    if (this.txSerial === tx.serial) return;
    this.txSerial = tx.serial;
    this.shiftedAtTx = this.shifted;
    if (!this.ctx.invalidatesOnAbort) tx.onAbort(this.abortHook);
  }

  /**
   * Appends one encoded value. Called after the value was encoded: encoding may allocate (a new
   * record structure), which may move pool.bytes, and it runs user code (getters), which must
   * see no half-done push.
   */
  private pushEncoded(tx: Transaction, encoded: Uint8Array): void {
    const entrySize = ENTRY_HEADER + align8(encoded.length);
    const pool = this.ctx.pool;
    const h = this.header;
    let tail = pool.readU64(h + H_TAIL);
    let used = 0;
    if (tail !== 0) {
      const t = this.segment(tail);
      used = t.used;
      if (used + entrySize > t.capacity) tail = 0;
    }
    if (tail === 0) {
      // A fresh segment (allocation first; its contents need no logging).
      const capacity = Math.max(SEGMENT_DATA, entrySize);
      const seg = tx.alloc(SEG_DATA + capacity);
      pool.writeU64(seg + SEG_NEXT, 0);
      pool.writeU64(seg + SEG_USED, 0);
      pool.writeU64(seg + SEG_CAPACITY, capacity);
      const oldTail = pool.readU64(h + H_TAIL);
      let segments = pool.readU64(h + H_SEGMENTS);
      if (oldTail !== 0 && pool.readU64(h + H_LENGTH) > 0) {
        tx.addRanges([h, H_MAGIC, oldTail + SEG_NEXT, 8]);
        pool.writeU64(oldTail + SEG_NEXT, seg);
      } else {
        // The queue is empty: the new segment becomes its only one (an empty old one is freed,
        // so that the head never rests on an empty segment).
        tx.addRange(h, H_MAGIC);
        if (oldTail !== 0) {
          if (pool.readU64(h + H_HEAD) !== oldTail) {
            throw new CorruptionError('ECORRUPT', `queue at ${h}: empty but with several segments`);
          }
          tx.free(oldTail);
          segments--;
        }
        pool.writeU64(h + H_HEAD, seg);
        pool.writeU64(h + H_HEAD_POS, 0);
      }
      pool.writeU64(h + H_TAIL, seg);
      pool.writeU64(h + H_SEGMENTS, segments + 1);
      tail = seg;
      used = 0;
    } else {
      // One addRanges (one drain) for every word this push changes. The entry's own bytes lie
      // past the tail's `used` as it was when the transaction began (unless a shift in this
      // transaction reset it): a rollback restores `used` and leaves them unreachable, so they
      // are only flushed at commit, not logged.
      if (this.usedResetIn === tx.serial) {
        tx.addRanges([h, H_MAGIC, tail + SEG_USED, 8, tail + SEG_DATA + used, entrySize]);
      } else {
        tx.addRangeNoSnapshot(tail + SEG_DATA + used, entrySize);
        tx.addRanges([h, H_MAGIC, tail + SEG_USED, 8]);
      }
    }
    const at = tail + SEG_DATA + used;
    const bytes = pool.bytes;
    const view = pool.view;
    view.setUint32(at, encoded.length, true);
    view.setUint32(at + 4, 0, true);
    bytes.set(encoded, at + ENTRY_HEADER);
    // Zero the padding so the pool's contents are deterministic.
    bytes.fill(0, at + ENTRY_HEADER + encoded.length, at + entrySize);
    pool.writeU64(tail + SEG_USED, used + entrySize);
    pool.writeU64(h + H_LENGTH, pool.readU64(h + H_LENGTH) + 1);
  }

  private shiftOne(tx: Transaction): T {
    const pool = this.ctx.pool;
    const h = this.header;
    const length = pool.readU64(h + H_LENGTH);
    invariant(length > 0, 'shift of an empty queue');
    const headOff = pool.readU64(h + H_HEAD);
    const head = this.segment(headOff);
    const pos = pool.readU64(h + H_HEAD_POS);
    const at = this.entryAt(head, pos);
    // Decode before anything changes (the value's bytes may be freed below).
    const value = this.ctx.values.decode(pool.bytes, at.start, at.end) as T;
    if (at.next < head.used) {
      tx.addRange(h, this.shiftSpan);
      pool.writeU64(h + H_HEAD_POS, at.next);
    } else if (headOff === pool.readU64(h + H_TAIL)) {
      // The queue becomes empty: keep the segment and reuse its space from the start.
      if (length !== 1) throw new CorruptionError('ECORRUPT', `queue at ${h}: length ${length} but its last entry was reached`);
      tx.addRanges([h, this.shiftSpan, headOff + SEG_USED, 8]);
      pool.writeU64(h + H_HEAD_POS, 0);
      pool.writeU64(headOff + SEG_USED, 0);
      this.usedResetIn = tx.serial;
    } else {
      tx.addRange(h, this.shiftSpan);
      pool.writeU64(h + H_HEAD, head.next);
      pool.writeU64(h + H_HEAD_POS, 0);
      pool.writeU64(h + H_SEGMENTS, pool.readU64(h + H_SEGMENTS) - 1);
      tx.free(headOff);
    }
    pool.writeU64(h + H_LENGTH, length - 1);
    if (this.counted) pool.writeU64(h + H_SHIFTED, pool.readU64(h + H_SHIFTED) + 1);
    this.shifted++;
    return value;
  }

  private freeSegments(tx: Transaction): void {
    const segments = [...this.ownedBlocks()].slice(1);
    for (const seg of segments) tx.free(seg);
  }

  /** The most segments the pool could hold: a bound for every walk of the chain. */
  private segmentLimit(): number {
    return Math.floor(this.ctx.pool.size / MIN_SEGMENT_BYTES);
  }

  /** Reads a segment's header words, checking that they describe a block inside the pool. */
  private segment(offset: number): Segment {
    const pool = this.ctx.pool;
    if (offset === 0 || offset + SEG_DATA > pool.size) {
      throw new CorruptionError('ECORRUPT', `queue at ${this.header}: segment reference ${offset} is invalid`);
    }
    const next = pool.readU64(offset + SEG_NEXT);
    const used = pool.readU64(offset + SEG_USED);
    const capacity = pool.readU64(offset + SEG_CAPACITY);
    if (used > capacity || offset + SEG_DATA + capacity > pool.size || next >= pool.size) {
      throw new CorruptionError('ECORRUPT', `queue at ${this.header}: segment at ${offset} is damaged`);
    }
    return { offset, next, used, capacity };
  }

  /** Locates the entry at `pos` in a segment: its value bytes and the position after it. */
  private entryAt(seg: Segment, pos: number): { start: number; end: number; next: number } {
    const at = seg.offset + SEG_DATA + pos;
    if (pos % 8 !== 0 || pos + ENTRY_HEADER > seg.used) {
      throw new CorruptionError('ECORRUPT', `queue at ${this.header}: entry position ${pos} is outside its segment`);
    }
    const length = this.ctx.pool.view.getUint32(at, true);
    const next = pos + ENTRY_HEADER + align8(length);
    if (next > seg.used) {
      throw new CorruptionError('ECORRUPT', `queue at ${this.header}: entry at ${at} overruns its segment`);
    }
    return { start: at + ENTRY_HEADER, end: at + ENTRY_HEADER + length, next };
  }
}
