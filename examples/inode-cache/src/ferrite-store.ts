/**
 * The real `CacheStore`: a ferrite Store (one pool file) with four collections —
 *   inodes   PMap<number, InodeRecord>            inode number -> attributes + reference count
 *   dirents  PSortedMap<[number, string], DirentRecord>  [parentIno, name] -> { ino, type }
 *   dirs     PMap<number, DirRecord>              directory ino -> its listing's mtime/ctime
 *   meta     PMap<string, ScanRecord>             'scan' -> root and progress
 * A directory's entries are one contiguous key range of `dirents`: [ino] <= key < [ino + 1].
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { cpuFlushInstruction, mediumOf } from '@ferrite/native';
import { Store } from '@ferrite/tx';
import type { CacheStore, DirRecord, DirentMap, DirentRecord, InodeRecord, KVMap, ScanRecord, StoreInfo } from './store-api.js';

/** Layout name of inode-cache pools (a pool of another layout is refused with ELAYOUT). */
export const LAYOUT = 'inode-cache';
/** Initial pool size; it grows up to MAX_POOL_BYTES as the cache fills. */
export const INITIAL_POOL_BYTES = 64 << 20;
/** Largest pool: an explicit bound (about 4 million entries). */
export const MAX_POOL_BYTES = 2 * 1024 ** 3;

/** The structural shape of the ferrite maps the adapter uses (PMap and PSortedMap both fit). */
interface FerriteMapLike<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
  delete(key: K): boolean;
  has(key: K): boolean;
  entries(): Iterable<[K, V]>;
  readonly size: number;
}

class MapAdapter<K, V> implements KVMap<K, V> {
  constructor(protected readonly m: FerriteMapLike<K, V>) {}
  get(key: K): V | undefined {
    return this.m.get(key);
  }
  set(key: K, value: V): void {
    this.m.set(key, value);
  }
  delete(key: K): boolean {
    return this.m.delete(key);
  }
  has(key: K): boolean {
    return this.m.has(key);
  }
  entries(): Iterable<[K, V]> {
    return this.m.entries();
  }
  count(): number {
    return this.m.size;
  }
}

type DirentKey = readonly [number, string] | readonly [number];

interface SortedLike extends FerriteMapLike<DirentKey, DirentRecord> {
  range(options: { gte?: DirentKey; lt?: DirentKey }): Iterable<[DirentKey, DirentRecord]>;
}

class DirentAdapter extends MapAdapter<readonly [number, string], DirentRecord> implements DirentMap {
  constructor(private readonly sorted: SortedLike) {
    super(sorted as unknown as FerriteMapLike<readonly [number, string], DirentRecord>);
  }
  *children(parentIno: number): Iterable<[string, DirentRecord]> {
    for (const [k, v] of this.sorted.range({ gte: [parentIno], lt: [parentIno + 1] })) yield [k[1] as string, v];
  }
}

export interface OpenOptions {
  /** Create the pool if it does not exist (default true). */
  create?: boolean;
  readOnly?: boolean;
}

/** The cache's collections in a ferrite pool at `path`. */
export class FerriteCacheStore implements CacheStore {
  readonly inodes: KVMap<number, InodeRecord>;
  readonly dirents: DirentMap;
  readonly dirs: KVMap<number, DirRecord>;
  readonly meta: KVMap<string, ScanRecord>;
  readonly info: StoreInfo;

  private constructor(readonly store: Store, readonly path: string) {
    this.inodes = new MapAdapter(store.map<number, InodeRecord>('inodes'));
    this.dirents = new DirentAdapter(store.sortedMap<DirentKey, DirentRecord>('dirents') as unknown as SortedLike);
    this.dirs = new MapAdapter(store.map<number, DirRecord>('dirs'));
    this.meta = new MapAdapter(store.map<string, ScanRecord>('meta'));
    const stats = store.stats();
    const medium = mediumOf(path);
    const flush = cpuFlushInstruction();
    this.info = {
      kind: 'ferrite',
      path,
      medium,
      persistence: stats.isPmem
        ? `cache-line flush (${flush}) + sfence${medium === 'dax' ? '' : ', forcePmem'}`
        : 'msync',
    };
  }

  /**
   * Opens (or creates) the pool at `path`. Recovery of an interrupted transaction happens
   * here (ferrite rolls it back). forcePmem is on when the pool's directory is a tmpfs (any
   * tmpfs, not only /dev/shm: tmpfs is memory, so cache-line flushes are the honest
   * durability path there), off elsewhere (msync; DAX files are detected by ferrite itself).
   * @throws FerriteError from Store.open (EBUSY when another process holds the pool, ELAYOUT
   *   for a pool of another layout, ECORRUPT ...).
   */
  static open(path: string, options: OpenOptions = {}): FerriteCacheStore {
    const store = Store.open(path, {
      forcePmem: mediumOf(dirname(resolve(path))) === 'tmpfs',
      create: options.create ?? true,
      readOnly: options.readOnly ?? false,
      size: INITIAL_POOL_BYTES,
      maxSize: MAX_POOL_BYTES,
      layout: LAYOUT,
    });
    try {
      return new FerriteCacheStore(store, path);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /** True when opening rolled back a transaction interrupted by a crash. */
  get recovered(): boolean {
    return this.store.recovered;
  }

  transaction<T>(fn: () => T): T {
    return this.store.transaction(fn);
  }

  sizes(): { poolBytes: number; usedBytes: number } {
    return { poolBytes: statSync(this.path).size, usedBytes: this.store.stats().pool.used };
  }

  close(): void {
    this.store.close();
  }
}
