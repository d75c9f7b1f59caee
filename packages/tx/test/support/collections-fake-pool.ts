/**
 * A DRAM stand-in for @ferrite/heap's Pool (no durability), used to test collection logic
 * (model tests, aborts, growth) independently of the heap. It implements the heap contract's
 * transaction semantics: undo of added ranges on throw, allocations/frees atomic with the
 * transaction, nested calls flattened, growth that replaces `bytes` (so stale arrays show).
 * It also counts `addRanges` calls per transaction, to check the one-snapshot-per-op rule.
 * `logRanges` (the batching form) answers "store later" for a pseudo-random half of its calls
 * (a fixed sequence per pool), so the collections' kept stores and their drain hooks are
 * exercised against the models; the hooks run at the next addRange(s), `drain()` or commit.
 */
import { FerriteError, PoolFullError, invariant } from '@ferrite/core';

const ALIGN = 16;
const BASE = 4096; // offsets below are never handed out (0 means "none")

export interface FakeTransaction {
  addRange(offset: number, length: number): void;
  addRanges(ranges: ArrayLike<number>): void;
  logRanges(ranges: ArrayLike<number>): boolean;
  afterDrain(hook: { afterDrain(): void }): void;
  drain(): void;
  addRangeNoSnapshot(offset: number, length: number): void;
  alloc(size: number, options?: { zero?: boolean; noFlush?: boolean }): number;
  free(offset: number): void;
  abort(reason?: unknown): never;
  onCommit(fn: () => void): void;
  onAbort(fn: () => void): void;
}

/** Serials of fake transactions: like the heap's, distinct per transaction (never 0). */
let nextSerial = 1;

class FakeTx implements FakeTransaction {
  /** Collections register their abort hook once per transaction by comparing serials. */
  readonly serial = nextSerial++;
  readonly undo: { offset: number; bytes: Uint8Array }[] = [];
  readonly allocated: number[] = [];
  readonly freed: number[] = [];
  readonly commitHooks: (() => void)[] = [];
  readonly abortHooks: (() => void)[] = [];
  addRangesCalls = 0;
  logRangesCalls = 0;
  noSnapshotCalls = 0;
  constructor(private readonly pool: FakePool) {}
  readonly hooks: { afterDrain(): void }[] = [];
  /** A drain is owed: logRanges answered false and no drain has run since. */
  owed = false;
  addRange(offset: number, length: number): void {
    this.addRanges([offset, length]);
  }
  addRanges(ranges: ArrayLike<number>): void {
    this.addRangesCalls++;
    this.snapshot(ranges);
    this.drain();
  }
  logRanges(ranges: ArrayLike<number>): boolean {
    this.logRangesCalls++;
    this.snapshot(ranges);
    if (!this.owed && !this.pool.nextDeferral()) return true;
    this.owed = true;
    return false;
  }
  afterDrain(hook: { afterDrain(): void }): void {
    invariant(this.owed, 'afterDrain hooks wait for a drain that is owed');
    this.hooks.push(hook);
  }
  drain(): void {
    this.owed = false;
    const hooks = this.hooks.splice(0);
    for (const h of hooks) h.afterDrain();
  }
  private snapshot(ranges: ArrayLike<number>): void {
    invariant(ranges.length % 2 === 0, 'pairs');
    for (let i = 0; i < ranges.length; i += 2) {
      const offset = ranges[i]!;
      const length = ranges[i + 1]!;
      if (!Number.isSafeInteger(offset) || offset < BASE || length < 0 || offset + length > this.pool.size) {
        throw new FerriteError('ERANGE', `addRange outside the pool: ${offset}+${length}`);
      }
      this.undo.push({ offset, bytes: this.pool.bytes.slice(offset, offset + length) });
    }
  }
  /**
   * Like the heap: the bytes are NOT restored on abort (they keep what the transaction wrote),
   * so a collection that declares live bytes no-snapshot fails its model tests.
   */
  addRangeNoSnapshot(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < BASE || length < 0 || offset + length > this.pool.size) {
      throw new FerriteError('ERANGE', `addRangeNoSnapshot outside the pool: ${offset}+${length}`);
    }
    this.noSnapshotCalls++;
  }
  alloc(size: number, options?: { zero?: boolean; noFlush?: boolean }): number {
    const off = this.pool.allocBlock(size);
    this.allocated.push(off);
    const len = this.pool.usableSize(off);
    if (options?.zero) this.pool.bytes.fill(0, off, off + len);
    else this.pool.bytes.fill(0xa5, off, off + len); // garbage, to catch reliance on zeroes
    return off;
  }
  free(offset: number): void {
    if (!this.pool.blocks.has(offset) || this.freed.includes(offset)) {
      throw new FerriteError('EINVAL', `free of ${offset}: not an allocated block`);
    }
    this.freed.push(offset);
  }
  abort(reason?: unknown): never {
    throw reason instanceof Error ? reason : new FerriteError('ETXSTATE', `transaction aborted: ${String(reason)}`);
  }
  onCommit(fn: () => void): void {
    this.commitHooks.push(fn);
  }
  onAbort(fn: () => void): void {
    this.abortHooks.push(fn);
  }
}

export interface FakePoolOptions {
  size: number;
  maxSize?: number;
}

export class FakePool {
  private buf: Uint8Array;
  private dv: DataView;
  readonly maxSize: number;
  readonly readOnly = false;
  readonly recovered = false;
  /** offset -> usable size of every allocated block */
  readonly blocks = new Map<number, number>();
  private readonly freeLists = new Map<number, number[]>();
  private top = BASE;
  private tx: FakeTx | undefined = undefined;
  transactions = 0;
  /** addRanges calls (each a drain) and logRanges calls (none) of the last committed transaction. */
  lastAddRangesCalls = 0;
  lastLogRangesCalls = 0;
  /** The pseudo-random sequence of `logRanges` answers (see the file's comment). */
  private deferralState = 0x2545f491;

  /** True when the next `logRanges` answers "store later" (about half the time). */
  nextDeferral(): boolean {
    this.deferralState = (Math.imul(this.deferralState, 1103515245) + 12345) >>> 0;
    return (this.deferralState >>> 16) % 2 === 1;
  }

  constructor(options: FakePoolOptions) {
    this.buf = new Uint8Array(options.size);
    this.dv = new DataView(this.buf.buffer);
    this.maxSize = options.maxSize ?? options.size;
  }

  get size(): number {
    return this.buf.length;
  }
  get bytes(): Uint8Array {
    return this.buf;
  }
  get view(): DataView {
    return this.dv;
  }
  get currentTransaction(): FakeTransaction | undefined {
    return this.tx;
  }

  readU64(offset: number): number {
    return this.dv.getUint32(offset, true) + this.dv.getUint32(offset + 4, true) * 2 ** 32;
  }
  writeU64(offset: number, v: number): void {
    this.dv.setUint32(offset, v >>> 0, true);
    this.dv.setUint32(offset + 4, Math.floor(v / 2 ** 32), true);
  }

  usableSize(offset: number): number {
    const s = this.blocks.get(offset);
    if (s === undefined) throw new FerriteError('EINVAL', `${offset} is not an allocated block`);
    return s;
  }

  allocations(): Iterable<{ offset: number; size: number }> {
    return [...this.blocks].map(([offset, size]) => ({ offset, size }));
  }

  /** A byte copy of the pool, for "reopen" tests that rebuild a pool from the same bytes. */
  snapshot(): { bytes: Uint8Array; blocks: Map<number, number>; top: number } {
    invariant(this.tx === undefined, 'no snapshot inside a transaction');
    return { bytes: this.buf.slice(), blocks: new Map(this.blocks), top: this.top };
  }

  static fromSnapshot(s: { bytes: Uint8Array; blocks: Map<number, number>; top: number }, maxSize: number): FakePool {
    const p = new FakePool({ size: s.bytes.length, maxSize });
    p.buf.set(s.bytes);
    for (const [o, z] of s.blocks) p.blocks.set(o, z);
    p.top = s.top;
    return p;
  }

  allocBlock(size: number): number {
    if (!Number.isSafeInteger(size) || size <= 0) throw new FerriteError('EINVAL', `bad allocation size ${size}`);
    if (size > 1 << 24) throw new FerriteError('ERANGE', `allocation of ${size} bytes is too large`);
    const rounded = Math.ceil(size / ALIGN) * ALIGN;
    const list = this.freeLists.get(rounded);
    if (list !== undefined && list.length > 0) {
      const off = list.pop()!;
      this.blocks.set(off, rounded);
      return off;
    }
    while (this.top + rounded > this.buf.length) {
      const next = Math.min(this.maxSize, this.buf.length * 2);
      if (next <= this.buf.length) throw new PoolFullError(`fake pool full (${this.buf.length} bytes)`);
      const grown = new Uint8Array(next);
      grown.set(this.buf);
      this.buf = grown;
      this.dv = new DataView(grown.buffer);
    }
    const off = this.top;
    this.top += rounded;
    this.blocks.set(off, rounded);
    return off;
  }

  transaction<T>(fn: (tx: FakeTransaction) => T): T {
    if (this.tx !== undefined) return fn(this.tx);
    const tx = new FakeTx(this);
    this.tx = tx;
    try {
      const result = fn(tx);
      tx.drain(); // the commit drains: kept stores go in before it
      this.tx = undefined;
      for (const off of tx.freed) {
        const size = this.blocks.get(off)!;
        this.blocks.delete(off);
        const list = this.freeLists.get(size) ?? [];
        list.push(off);
        this.freeLists.set(size, list);
      }
      this.transactions++;
      this.lastAddRangesCalls = tx.addRangesCalls;
      this.lastLogRangesCalls = tx.logRangesCalls;
      for (const h of tx.commitHooks) h();
      return result;
    } catch (err) {
      this.tx = undefined;
      for (let i = tx.undo.length - 1; i >= 0; i--) this.buf.set(tx.undo[i]!.bytes, tx.undo[i]!.offset);
      for (const off of tx.allocated) {
        const size = this.blocks.get(off)!;
        this.blocks.delete(off);
        const list = this.freeLists.get(size) ?? [];
        list.push(off);
        this.freeLists.set(size, list);
      }
      for (const h of tx.abortHooks) h();
      throw err;
    }
  }
}
