/**
 * An in-memory `CacheStore` with real transaction semantics (a throw rolls back every write
 * of the outermost transaction; nested transactions flatten), used to test the cache's logic
 * without a pool. With a `file`, every committed transaction also rewrites a JSON snapshot
 * atomically (write + rename), so a process killed with SIGKILL reopens at its last commit:
 * the same durability contract as a ferrite Store, far slower, for tests only.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { invariant } from './invariant.js';
import type { CacheStore, DirRecord, DirentMap, DirentRecord, InodeRecord, KVMap, ScanRecord, StoreInfo } from './store-api.js';

type Undo = () => void;

class TxLog {
  depth = 0;
  undo: Undo[] = [];
  onCommit: (() => void) | undefined;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

class MemoryMap<K, V> implements KVMap<K, V> {
  readonly data = new Map<K, V>();
  constructor(private readonly tx: TxLog, private readonly run: <T>(fn: () => T) => T) {}
  get(key: K): V | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : clone(v);
  }
  has(key: K): boolean {
    return this.data.has(key);
  }
  set(key: K, value: V): void {
    this.run(() => {
      const had = this.data.has(key);
      const old = this.data.get(key);
      this.tx.undo.push(() => (had ? this.data.set(key, old as V) : this.data.delete(key)));
      this.data.set(key, clone(value));
    });
  }
  delete(key: K): boolean {
    return this.run(() => {
      if (!this.data.has(key)) return false;
      const old = this.data.get(key) as V;
      this.tx.undo.push(() => this.data.set(key, old));
      this.data.delete(key);
      return true;
    });
  }
  *entries(): Iterable<[K, V]> {
    for (const [k, v] of [...this.data]) yield [k, clone(v)];
  }
  count(): number {
    return this.data.size;
  }
}

class MemoryDirents implements DirentMap {
  /** parentIno -> name -> record */
  readonly byParent = new Map<number, Map<string, DirentRecord>>();
  private n = 0;
  constructor(private readonly tx: TxLog, private readonly run: <T>(fn: () => T) => T) {}
  get(key: readonly [number, string]): DirentRecord | undefined {
    const v = this.byParent.get(key[0])?.get(key[1]);
    return v === undefined ? undefined : { ...v };
  }
  has(key: readonly [number, string]): boolean {
    return this.byParent.get(key[0])?.has(key[1]) ?? false;
  }
  set(key: readonly [number, string], value: DirentRecord): void {
    this.run(() => {
      const old = this.get(key);
      this.tx.undo.push(() => (old === undefined ? this.raw(key, undefined) : this.raw(key, old)));
      this.raw(key, { ...value });
    });
  }
  delete(key: readonly [number, string]): boolean {
    return this.run(() => {
      const old = this.get(key);
      if (old === undefined) return false;
      this.tx.undo.push(() => this.raw(key, old));
      this.raw(key, undefined);
      return true;
    });
  }
  /** Writes without undo (loading a snapshot, and inside set/delete). */
  raw(key: readonly [number, string], value: DirentRecord | undefined): void {
    let m = this.byParent.get(key[0]);
    if (value === undefined) {
      if (m?.delete(key[1])) this.n--;
      if (m && m.size === 0) this.byParent.delete(key[0]);
      return;
    }
    if (!m) this.byParent.set(key[0], (m = new Map()));
    if (!m.has(key[1])) this.n++;
    m.set(key[1], value);
  }
  *children(parentIno: number): Iterable<[string, DirentRecord]> {
    const m = this.byParent.get(parentIno);
    if (!m) return;
    const names = [...m.keys()].sort();
    for (const name of names) yield [name, { ...(m.get(name) as DirentRecord) }];
  }
  *entries(): Iterable<[readonly [number, string], DirentRecord]> {
    for (const [p, m] of [...this.byParent]) for (const [name, v] of [...m]) yield [[p, name], { ...v }];
  }
  count(): number {
    return this.n;
  }
}

interface Snapshot {
  inodes: [number, InodeRecord][];
  dirents: [[number, string], DirentRecord][];
  dirs: [number, DirRecord][];
  meta: [string, ScanRecord][];
}

/** The in-memory fake store (optionally snapshotted to a JSON file at every commit). */
export class MemoryStore implements CacheStore {
  private readonly tx = new TxLog();
  readonly inodes: MemoryMap<number, InodeRecord>;
  readonly dirents: MemoryDirents;
  readonly dirs: MemoryMap<number, DirRecord>;
  readonly meta: MemoryMap<string, ScanRecord>;
  readonly info: StoreInfo;
  private closed = false;
  /** Number of committed outermost transactions (tests check batching with it). */
  commits = 0;

  constructor(private readonly file?: string) {
    const run = <T>(fn: () => T): T => this.transaction(fn);
    this.inodes = new MemoryMap(this.tx, run);
    this.dirents = new MemoryDirents(this.tx, run);
    this.dirs = new MemoryMap(this.tx, run);
    this.meta = new MemoryMap(this.tx, run);
    this.info = { kind: file ? 'json-file' : 'memory', path: file ?? '', medium: 'memory', persistence: file ? 'write + rename of a JSON snapshot' : 'none' };
    if (file && existsSync(file)) this.load(JSON.parse(readFileSync(file, 'utf8')) as Snapshot);
  }

  transaction<T>(fn: () => T): T {
    invariant(!this.closed, 'store is open');
    this.tx.depth++;
    const mark = this.tx.undo.length;
    try {
      const result = fn();
      this.tx.depth--;
      if (this.tx.depth === 0) {
        this.tx.undo.length = 0;
        this.commits++;
        this.persist();
      }
      return result;
    } catch (err) {
      this.tx.depth--;
      // Roll back only at the outermost level: nested transactions flatten into it.
      if (this.tx.depth === 0) {
        for (let i = this.tx.undo.length - 1; i >= mark; i--) this.tx.undo[i]();
        this.tx.undo.length = 0;
      }
      throw err;
    }
  }

  sizes(): { poolBytes: number; usedBytes: number } {
    return { poolBytes: 0, usedBytes: 0 };
  }

  close(): void {
    this.closed = true;
  }

  private persist(): void {
    if (!this.file) return;
    const snap: Snapshot = {
      inodes: [...this.inodes.data],
      dirents: [...this.dirents.entries()].map(([k, v]) => [[k[0], k[1]], v]),
      dirs: [...this.dirs.data],
      meta: [...this.meta.data],
    };
    writeFileSync(`${this.file}.tmp`, JSON.stringify(snap));
    renameSync(`${this.file}.tmp`, this.file);
  }

  private load(snap: Snapshot): void {
    for (const [k, v] of snap.inodes) this.inodes.data.set(k, v);
    for (const [[p, n], v] of snap.dirents) this.dirents.raw([p, n], v);
    for (const [k, v] of snap.dirs) this.dirs.data.set(k, v);
    for (const [k, v] of snap.meta) this.meta.data.set(k, v);
  }
}
