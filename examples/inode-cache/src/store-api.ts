/**
 * The seam between the inode cache and the store that keeps it.
 *
 * `InodeCache` only talks to a `CacheStore`: four collections and a transaction. The real
 * one (`ferrite-store.ts`) maps them onto a ferrite `Store` — a hash map of inodes, a sorted
 * map of directory entries keyed by `[parentIno, name]`, a hash map of directory records and
 * one of metadata. `memory-store.ts` is an in-memory fake with the same transactional
 * semantics, so the cache's logic is tested without a pool.
 */
import type { EntryType, InodeAttrs } from './fs-types.js';

/** An inode as cached: its lstat attributes and how many cached directory entries name it. */
export interface InodeRecord extends InodeAttrs {
  /** Cached directory entries that name this inode (hard links); the root counts 1. */
  refs: number;
}

/** A directory entry's value: the inode it names and its type (what `d_type` says). */
export interface DirentRecord {
  ino: number;
  type: EntryType;
}

/**
 * A directory whose listing is in the cache, complete, as of `mtimeMs`/`ctimeMs`. Written in
 * the same transaction as the listing's entries, so its presence means "these entries are
 * all of them"; a directory entry of type 'dir' without a record has not been listed yet.
 */
export interface DirRecord {
  /** The directory's mtime and ctime as lstat'ed just before it was read. */
  mtimeMs: number;
  ctimeMs: number;
  /** Wall-clock time (ms) just before that lstat: tells a "racy" listing (see inode-cache.ts). */
  listedAtMs: number;
  /** Number of entries in the listing. */
  entries: number;
  /** Names and inode numbers of the subdirectories in the listing, so a revalidation walks directories without reading every entry. */
  subdirNames: string[];
  subdirInos: number[];
}

/** The progress record of a scan: written in the same transaction as every batch. */
export interface ScanRecord {
  /** Absolute real path of the cached tree's root. */
  root: string;
  rootIno: number;
  /** Device of the root: the scan stays on this file system. */
  dev: number;
  /** 'running' until every reachable directory has been listed once, then 'complete'. */
  state: 'running' | 'complete';
  startedAtMs: number;
  updatedAtMs: number;
  /** When the last scan or revalidation finished (0 while running). */
  completedAtMs: number;
  /** Totals over the life of the cache. */
  dirsListed: number;
  entriesListed: number;
  batches: number;
  /** Path of the last directory whose listing was committed (the scan cursor, for humans). */
  lastDir: string;
  /** Directories that could not be read at the last pass (they are retried every pass). */
  unreadable: number;
}

/** A persistent map as the cache uses it. */
export interface KVMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): boolean;
  has(key: K): boolean;
  /** Every entry, in no particular order (used by `verify`). */
  entries(): Iterable<[K, V]>;
  /** Number of entries. */
  count(): number;
}

/** The directory-entry map: keyed by [parentIno, name], with the entries of one directory in order. */
export interface DirentMap extends KVMap<readonly [number, string], DirentRecord> {
  /** Entries of directory `parentIno` as [name, record]. Safe to write to the map while iterating only if the caller first collects the result. */
  children(parentIno: number): Iterable<[string, DirentRecord]>;
}

/** Where the cache is kept and how it is made durable, for the report lines. */
export interface StoreInfo {
  /** 'ferrite', or 'memory' / 'json-file' for the test fakes. */
  readonly kind: string;
  /** The pool file, if any. */
  readonly path: string;
  /** 'tmpfs', 'dax', 'file', or 'memory'. */
  readonly medium: string;
  /** How a commit is made durable, e.g. 'cache-line flush (forcePmem)' or 'msync'. */
  readonly persistence: string;
}

export interface CacheStore {
  readonly inodes: KVMap<number, InodeRecord>;
  readonly dirents: DirentMap;
  readonly dirs: KVMap<number, DirRecord>;
  readonly meta: KVMap<string, ScanRecord>;
  /** Runs `fn` atomically: durable on return, rolled back on throw; nested calls flatten. */
  transaction<T>(fn: () => T): T;
  readonly info: StoreInfo;
  /** Bytes of the pool file (0 for fakes) and bytes in use, if the store knows. */
  sizes(): { poolBytes: number; usedBytes: number };
  close(): void;
}
