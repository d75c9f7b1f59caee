/**
 * A DRAM-only stand-in for @ferrite/heap's Pool (no durability, no crash model), used by the
 * codec tests so they do not depend on the heap. It implements the transaction semantics the
 * tx layer relies on: addRange snapshots, alloc/free atomic with the transaction, onAbort /
 * onCommit hooks, nested calls flattening.
 */
import { FerriteError, PoolFullError, invariant } from '@ferrite/core';

export class FakeTransaction {
  readonly undo: { offset: number; bytes: Uint8Array }[] = [];
  readonly allocated: number[] = [];
  readonly freed: number[] = [];
  readonly commitHooks: (() => void)[] = [];
  readonly abortHooks: (() => void)[] = [];
  constructor(private readonly pool: FakePool) {}
  addRange(offset: number, length: number): void {
    this.undo.push({ offset, bytes: this.pool.bytes.slice(offset, offset + length) });
  }
  addRanges(ranges: ArrayLike<number>): void {
    for (let i = 0; i < ranges.length; i += 2) this.addRange(ranges[i]!, ranges[i + 1]!);
  }
  alloc(size: number, options?: { zero?: boolean }): number {
    const off = this.pool.allocRaw(size);
    if (options?.zero) this.pool.bytes.fill(0, off, off + size);
    this.allocated.push(off);
    return off;
  }
  free(offset: number): void {
    if (!this.pool.blocks.has(offset)) throw new FerriteError('EINVAL', `not an allocated block: ${offset}`);
    this.freed.push(offset);
  }
  abort(reason?: unknown): never {
    throw reason ?? new FerriteError('ETXSTATE', 'aborted');
  }
  onCommit(fn: () => void): void { this.commitHooks.push(fn); }
  onAbort(fn: () => void): void { this.abortHooks.push(fn); }
}

export class FakePool {
  bytes: Uint8Array;
  view: DataView;
  readonly blocks = new Map<number, number>();
  private top = 64;
  private current: FakeTransaction | undefined;
  readonly layout = 'fake';
  readonly uuid = '00000000-0000-0000-0000-000000000000';
  readonly readOnly = false;
  readonly recovered = false;
  private rootOff = 0;
  transactions = 0;

  constructor(size = 1 << 20) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  get size(): number { return this.bytes.length; }
  readU64(offset: number): number { return Number(this.view.getBigUint64(offset, true)); }
  writeU64(offset: number, v: number): void { this.view.setBigUint64(offset, BigInt(v), true); }
  allocRaw(size: number): number {
    const rounded = Math.max(16, Math.ceil(size / 16) * 16);
    if (this.top + rounded > this.bytes.length) throw new PoolFullError('fake pool full');
    const off = this.top;
    this.top += rounded;
    this.blocks.set(off, rounded);
    return off;
  }
  usableSize(offset: number): number { return this.blocks.get(offset) ?? 0; }
  allocations(): Iterable<{ offset: number; size: number }> {
    return [...this.blocks].map(([offset, size]) => ({ offset, size }));
  }
  root(size: number): number {
    if (this.rootOff === 0) {
      this.rootOff = this.allocRaw(size);
      this.blocks.delete(this.rootOff);
    }
    return this.rootOff;
  }
  rootOffset(): number { return this.rootOff; }
  get currentTransaction(): FakeTransaction | undefined { return this.current; }
  transaction<T>(fn: (tx: FakeTransaction) => T): T {
    if (this.current) return fn(this.current);
    const tx = new FakeTransaction(this);
    this.current = tx;
    try {
      const result = fn(tx);
      this.current = undefined;
      for (const off of tx.freed) this.blocks.delete(off);
      this.transactions++;
      for (const h of tx.commitHooks) h();
      return result;
    } catch (err) {
      this.current = undefined;
      for (let i = tx.undo.length - 1; i >= 0; i--) this.bytes.set(tx.undo[i]!.bytes, tx.undo[i]!.offset);
      for (const off of tx.allocated) this.blocks.delete(off);
      for (const h of tx.abortHooks) h();
      throw err;
    }
  }
  get region(): { isPmem: boolean; granularity: string } { return { isPmem: false, granularity: 'page' }; }
  stats(): Record<string, number> { return { size: this.size, transactions: this.transactions }; }
  check(): { ok: boolean; problems: { offset: number; message: string; kind: string }[] } {
    return { ok: true, problems: [] };
  }
  close(): void {}
}

export function assertNoTx(pool: FakePool): void {
  invariant(pool.currentTransaction === undefined, 'no transaction open');
}
