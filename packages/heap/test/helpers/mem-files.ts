/**
 * In-memory files for tests of the file-backed path: a FileIO over a growable array (every
 * write is durable at once: no crash model — the simulated disk of @ferrite/core/testing has
 * one), an IoQueue that runs programs later, in order, and a FileTarget over two of them.
 * Counts writes and syncs so tests can assert how many syncs a commit costs.
 */
import { FerriteError, checkRange } from '@ferrite/core';
import type { FileIO, FileTarget, IoOp, IoQueue, Region } from '@ferrite/core';
import { PrivateRegion } from '../../src/private-region.js';

export class MemFile implements FileIO {
  data: Uint8Array;
  writes = 0;
  syncs = 0;
  closed = false;
  constructor(length = 0) {
    this.data = new Uint8Array(length);
  }
  get length(): number {
    return this.data.length;
  }
  write(offset: number, src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): void {
    this.check();
    checkRange('write', offset, length, this.data.length);
    this.data.set(src.subarray(srcOffset, srcOffset + length), offset);
    this.writes++;
  }
  read(offset: number, dst: Uint8Array, dstOffset = 0, length = dst.length - dstOffset): void {
    this.check();
    checkRange('read', offset, length, this.data.length);
    dst.set(this.data.subarray(offset, offset + length), dstOffset);
  }
  sync(): void {
    this.check();
    this.syncs++;
  }
  grow(newLength: number): void {
    this.check();
    if (newLength < this.data.length) throw new FerriteError('EINVAL', 'grow below the length');
    const d = new Uint8Array(newLength);
    d.set(this.data);
    this.data = d;
  }
  close(): void {
    // The file outlives its handles here: a reopen uses the same object.
  }
  private check(): void {
    if (this.closed) throw new FerriteError('ECLOSED', 'file closed');
  }
}

function run(ops: readonly IoOp[]): void {
  for (const op of ops) {
    if (op.op === 'write') op.file.write(op.offset, op.data);
    else op.file.sync();
  }
}

export class MemQueue implements IoQueue {
  private readonly queue: { ops: readonly IoOp[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private failure: unknown = undefined;
  get pending(): number {
    return this.queue.length;
  }
  private runOne(): void {
    const p = this.queue.shift()!;
    if (this.failure !== undefined) {
      p.reject(this.failure);
      return;
    }
    try {
      run(p.ops);
      p.resolve();
    } catch (err) {
      this.failure = err;
      p.reject(err);
    }
  }
  submit(ops: readonly IoOp[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      setImmediate(() => {
        if (this.queue.length > 0) this.runOne();
      });
    });
  }
  runNow(ops: readonly IoOp[]): void {
    this.waitIdle();
    if (this.failure !== undefined) throw this.failure;
    try {
      run(ops);
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }
  waitIdle(): void {
    while (this.queue.length > 0) this.runOne();
  }
}

/** Two files standing for a pool file and its log (the same objects across "processes"). */
export interface MemFiles {
  pool: MemFile;
  wal: MemFile;
}

export function memFiles(): MemFiles {
  return { pool: new MemFile(), wal: new MemFile() };
}

/** A FileTarget over `files`, with a fresh queue (a new process). `closedWith` records close's argument. */
export function memTarget(files: MemFiles, readOnly = false): FileTarget & { closedWith?: boolean } {
  const target: FileTarget & { closedWith?: boolean } = {
    kind: 'file-target',
    pool: files.pool,
    wal: files.wal,
    queue: new MemQueue(),
    readOnly,
    openPrivate: (): Region => new GrowablePrivate(files.pool.data),
    growPool(newLength: number): void {
      files.pool.grow(newLength);
    },
    close(removeWal: boolean): void {
      target.closedWith = removeWal;
      if (removeWal) files.wal.data = new Uint8Array(0);
    },
  };
  return target;
}

/** A private copy that can grow (the simulated counterpart of a MAP_PRIVATE view). */
export class GrowablePrivate extends PrivateRegion {
  grow(newLength: number): void {
    const bigger = new Uint8Array(newLength);
    bigger.set(this.bytes);
    this.bytes = bigger;
  }
}
