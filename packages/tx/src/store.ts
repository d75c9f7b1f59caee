/**
 * Store: the user-facing object over a pool. Named, typed collections found in a persistent
 * registry, and synchronous transactions that are durable when they return.
 *
 * The store's root object (the pool's root, ROOT_SIZE bytes):
 *   +0  u32 magic 'FSTR'   +4 u32 format version
 *   +8  u64 registry block (see registry.ts)
 *   +16 u64 value structures block (see codec/values.ts)
 */
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { types } from 'node:util';
import { CorruptionError, FerriteError, booleanOption, integerOption, invalidArgument, invariant, isFerriteError, readOptions, stringOption } from '@ferrite/core';
import { isFileTarget } from '@ferrite/core';
import type { FileTarget, Region } from '@ferrite/core';
// A namespace import: the module links even while the heap package is being built.
import * as heap from '@ferrite/heap';
import type { DurabilityStats, LiveReader, LiveReaderStats, Pool, PoolStats, ReadOp, ShrinkResult, Transaction, CheckReport } from '@ferrite/heap';
import { OrderedKeyCodec, DEFAULT_MAX_KEY_SIZE } from './codec/keys.js';
import type { Key } from './codec/keys.js';
import { PoolValueCodec, DEFAULT_MAX_VALUE_SIZE, MAX_VALUE_SIZE_LIMIT } from './codec/values.js';
import { MAX_KEY_SIZE_LIMIT } from './codec/keys.js';
import { MAX_COLLECTIONS, Registry, encodeName } from './registry.js';
import { leftPoolUntouched, rejection } from './internal/rejection.js';
import { encodingInThisThread, writeDuringEncoding } from './internal/encoding-guard.js';
import { PQueue } from './collections/queue.js';
import { MAX_EXPECTED_SIZE, PMap } from './collections/hash-map.js';
import { PSortedMap } from './collections/sorted-map.js';
import { HEADER_STAMP } from './internal/context.js';
import type { CollectionContext, CollectionInternals, KeyCodec, Limits, TxOp, ValueCodec } from './internal/context.js';
import { openPoolFile } from './pool-file.js';
import { backupArguments, backupLive } from './backup.js';
import type { BackupInfo, BackupOptions, RunningBackup } from './backup.js';

const ROOT_SIZE = 64;
const R_MAGIC = 0;
const R_VERSION = 4;
const R_REGISTRY = 8;
const R_STRUCTURES = 16;
const STORE_MAGIC = 0x52545346; // 'FSTR'
const STORE_VERSION = 1;

/** Default size of a new pool: 64 MiB. */
export const DEFAULT_POOL_SIZE = 64 << 20;
/** Default layout name. */
export const DEFAULT_LAYOUT = 'ferrite';

/** The kinds of collection a store holds. */
export type CollectionKind = 'map' | 'sortedMap' | 'queue';

/** Options of `store.map(name, options)`. */
export interface MapOptions {
  /**
   * Entries the map is expected to hold: a map created by this call gets a table of at least
   * that many buckets at once, so a load of that many entries makes no table doubling. An
   * integer in [0, MAX_EXPECTED_SIZE]; ignored when the map already exists. Default 0 (16 buckets).
   */
  expectedSize?: number;
}

/** Options of `Store.open`. */
export interface StoreOptions {
  /** Create the pool when the file does not exist (or the region is blank). Default false. */
  create?: boolean;
  /** Size in bytes of a new pool. Default 64 MiB. */
  size?: number;
  /** Largest size the pool may grow to when it fills up. Default: `size` (no growth). */
  maxSize?: number;
  /**
   * Layout name. Creating: stamped into the new pool (default 'ferrite'). Opening: when given,
   * the pool's layout must equal it (ELAYOUT otherwise); when omitted, a pool of any layout
   * opens (PMDK's `pmemobj_open(path, NULL)`), and `store.layout` tells which it is.
   */
  layout?: string;
  /**
   * Open as a reader: writes throw EROFS. A pool file opened read-only follows its writer —
   * another process or thread that has it open, now or later: every read observes a committed
   * state, and the commits the writer has returned from are seen at the next read (see
   * `store.read` and docs/concurrency.md). No lock is taken: readers never stop a writer from
   * opening. Default false.
   */
  readOnly?: boolean;
  /**
   * A writable open of a pool file another writer holds: wait up to this many milliseconds for
   * it to close instead of failing with EBUSY at once. Default 0.
   */
  lockTimeout?: number;
  /**
   * A read-only open of a pool file: how long one read waits for a writer that stays inside one
   * change of the pool (on persistent memory: one transaction), in milliseconds, before EBUSY.
   * Default 10000.
   */
  readTimeout?: number;
  /**
   * Treat the file as persistent memory: make data durable with cache-line flushes on the
   * mapping instead of the redo log and device syncs. Only correct on real PMEM (DAX) or where
   * durability past a crash of the machine is not needed (tmpfs). Default: true for paths under
   * /dev/shm, else false.
   */
  forcePmem?: boolean;
  /**
   * Writes outside a transaction (`set`, `delete`, `push`...) defer their durability to the
   * group commit of the event-loop turn, as `transactionAsync` does: each is atomic and visible
   * at once; `await store.flushed()` waits until all are durable. Default false: each such write
   * is durable when it returns. `transaction()` is durable on return either way.
   */
  groupCommit?: boolean;
  /**
   * A pool on an ordinary file: bytes of redo log after which a checkpoint syncs the pool file
   * and starts the log over (default 32 MiB, at least 64 KiB). Bounds the log file's size and
   * the time a replay after a crash takes; smaller means more pool-file syncs.
   */
  checkpointBytes?: number;
  /** Largest encoded key, bytes. Default 1 KiB, at most 4 KiB. */
  maxKeySize?: number;
  /** Largest encoded value, bytes. Default 1 MiB, at most 16 MiB. */
  maxValueSize?: number;
}

/** One row of `store.collections()`. */
export interface CollectionInfo {
  readonly name: string;
  readonly kind: CollectionKind;
  /** Entries (maps) or values (queues). */
  readonly size: number;
}

/** What `store.stats()` returns. */
export interface StoreStats {
  /** The pool file's path, or undefined for a store over a Region. */
  readonly path: string | undefined;
  /** Where the pool lives: 'tmpfs' (/dev/shm), 'file', or 'region' (a Region given to open). */
  readonly medium: 'tmpfs' | 'file' | 'region';
  /** True when durability comes from cache-line flushes (DAX or forcePmem), false for msync. */
  readonly isPmem: boolean;
  readonly readOnly: boolean;
  readonly recovered: boolean;
  /** The recovery happened in a private copy (read-only open): the file still needs it. */
  readonly recoveredInMemory: boolean;
  readonly layout: string;
  /** Collection counts, total and by kind. */
  readonly collections: { readonly total: number } & Readonly<Record<CollectionKind, number>>;
  /** The heap's statistics (size, used, free, transactions, flushes, drains, ...). */
  readonly pool: PoolStats;
  /** How commits become durable and what it cost since open (`pool.durability`). */
  readonly durability: DurabilityStats;
  /**
   * A read-only store of a pool file (a live reader): 'live' while it reads the pool the writer
   * changes, 'recovered' while it reads a private recovered copy (the writer died, or none is
   * open and the pool needs recovery); with its counters. Undefined for a writer.
   */
  readonly reader: ({ readonly mode: 'live' | 'recovered' } & Readonly<LiveReaderStats>) | undefined;
}

/** A problem found by `store.check()`. */
export interface CheckProblem {
  readonly offset: number;
  readonly kind: string;
  readonly message: string;
}

/** What `store.check()` returns. */
export interface StoreCheckReport {
  readonly ok: boolean;
  readonly problems: CheckProblem[];
  /** Allocated blocks found (pool.allocations()). */
  readonly allocated: number;
  /** Blocks reachable from the store's root. */
  readonly reachable: number;
}

type AnyCollection = CollectionInternals & { readonly size?: number; readonly length?: number };

/** @internal How the store creates, opens and counts one kind of collection. */
export interface KindDef {
  readonly code: number;
  readonly kind: CollectionKind;
  /** `entries`: how many the new collection is about to receive (a hint; 0 when unknown). */
  readonly create: (ctx: CollectionContext, tx: Transaction, entries: number) => number;
  readonly construct: (ctx: CollectionContext, header: number) => AnyCollection;
  readonly count: (c: AnyCollection) => number;
}

const KINDS: readonly KindDef[] = [
  {
    code: 1, kind: 'map',
    create: (ctx, tx, entries) => PMap.create(ctx, tx, entries),
    construct: (ctx, header) => new PMap<Key, unknown>(ctx, header),
    count: (c) => (c as PMap<Key, unknown>).size,
  },
  {
    code: 2, kind: 'sortedMap',
    create: (ctx, tx) => PSortedMap.create(ctx, tx),
    construct: (ctx, header) => new PSortedMap<Key, unknown>(ctx, header),
    count: (c) => (c as PSortedMap<Key, unknown>).size,
  },
  {
    code: 3, kind: 'queue',
    create: (ctx, tx) => PQueue.create(ctx, tx),
    construct: (ctx, header) => new PQueue<unknown>(ctx, header),
    count: (c) => (c as PQueue<unknown>).length,
  },
];

function kindByName(kind: CollectionKind): KindDef {
  const def = KINDS.find((k) => k.kind === kind);
  if (def === undefined) throw new FerriteError('EINVAL', `collection kind ${kind} is not available in this build`);
  return def;
}

function kindByCode(code: number): KindDef {
  const def = KINDS.find((k) => k.code === code);
  if (def === undefined) throw new CorruptionError('ECORRUPT', `registry holds an unknown collection kind ${code}`);
  return def;
}


/**
 * Where to put a pool by default: `/dev/shm/<name>.pool` (tmpfs, memory speed; forcePmem is
 * then the default) when /dev/shm is a writable directory, else `<os.tmpdir()>/<name>.pool`.
 * Data on tmpfs does not survive a reboot; use a path on a real file system (or a DAX
 * mount) for data that must.
 */
export function defaultPoolPath(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('/') || name.includes('\0')) {
    throw new FerriteError('EINVAL', 'defaultPoolPath needs a plain file name');
  }
  return join(shmAvailable() ? '/dev/shm' : tmpdir(), `${name}.pool`);
}

function shmAvailable(): boolean {
  try {
    return statSync('/dev/shm').isDirectory();
  } catch {
    return false;
  }
}

function isTmpfsPath(path: string): boolean {
  return path.startsWith('/dev/shm/');
}

/** @internal The context handed to one collection object (it is closed when the collection is dropped). */
export class StoreCollectionContext implements CollectionContext {
  dropped = false;
  /**
   * A live reader's: the registry of the state read now has no such collection at `header`
   * (the writer dropped it). Worked out again after every commit (`Store.followRefresh`), so a
   * wrong value from a state being written never lasts past the attempt that read it.
   */
  gone = false;
  /** The collection's header block and its creation stamp (set by `Store.remember`; HEADER_STAMP). */
  header = 0;
  stamp = 0;
  readonly reader: LiveReader | undefined;
  /** The collection object this context serves (set by `Store.remember`). */
  object: AnyCollection | undefined = undefined;
  /** `Store.txSerial` of the last transaction this collection ran a write in (see `Store.noteWriter`). */
  wroteIn = 0;
  constructor(private readonly store: Store, readonly name: string) {
    this.reader = store.pool.reader;
  }
  get pool(): Pool { return this.store.pool; }
  get keys(): KeyCodec { return this.store.keyCodec; }
  get values(): ValueCodec { return this.store.valueCodec; }
  get limits(): Limits { return this.store.limits; }
  get readOnly(): boolean { return this.store.readOnly; }
  /** `afterAbort` invalidates every collection that wrote in the aborted transaction, before anything that may fail. */
  readonly invalidatesOnAbort = true;
  write<T>(fn: (tx: Transaction) => T): T {
    this.assertOpen();
    return this.store.run({ run: fn }, this);
  }
  run<T>(op: TxOp<T>): T {
    if (this.dropped) throw new FerriteError('ECLOSED', `collection "${this.name}" was dropped`);
    return this.store.run(op, this); // which checks that the store is open
  }
  assertOpen(): void {
    if (this.dropped || this.gone) throw new FerriteError('ECLOSED', `collection "${this.name}" was dropped`);
    this.store.assertOpen();
  }
  newHashSeed(): number {
    return this.store.hashSeeds();
  }
}

/** A user's transaction function as a TxOp (the user's `fn` takes no argument). */
class UserTxOp implements TxOp<unknown> {
  fn: (() => unknown) | undefined = undefined;
  run(): unknown {
    const fn = this.fn;
    invariant(fn !== undefined, 'a user transaction has its function');
    this.fn = undefined;
    return fn();
  }
}

interface OpenCollection {
  readonly def: KindDef;
  readonly header: number;
  readonly ctx: StoreCollectionContext;
  readonly object: AnyCollection;
}

/**
 * A persistent store: a pool with named collections. Open it with `Store.open`.
 * One writer per pool: a second writable open of the same file fails with EBUSY.
 */
/**
 * A store root that is absent (`root` 0) or blank (its magic 0) is a pool that never had a
 * store, or one whose first open crashed between making the root and stamping it: then the
 * heap holds no block but the blank root's own. Anything more allocated means a store lived
 * here and its root record was damaged: ECORRUPT, with nothing changed. Found in review: 8
 * zeroed bytes (the root pointer) made a pool of 100 entries open as an empty store, a writable
 * open re-rooted it, and `ferrite check --repair` freed every entry as a leak.
 */
function assertNeverHadStore(pool: Pool, root: number): void {
  let rootBytes = 0;
  if (root !== 0) {
    try {
      rootBytes = pool.usableSize(root);
    } catch (err) {
      if (!isFerriteError(err, 'EINVAL')) throw err;
      throw new CorruptionError('ECORRUPT', `the pool's root record points at ${root}, which is not an allocated block (nothing was changed)`);
    }
  }
  const used = pool.stats().used;
  if (used > rootBytes) {
    throw new CorruptionError('ECORRUPT', `the pool's store root is ${root === 0 ? 'missing' : 'blank'}, but its heap holds ${used} bytes of blocks: its root record was damaged, or the pool was made with @ferrite/heap and holds no store (nothing was changed)`);
  }
}

export class Store {
  /** @internal */ readonly pool: Pool;
  /** @internal */ readonly keyCodec: OrderedKeyCodec;
  /** @internal Replaced when a live reader binds the root again (`bindRoot`). */ valueCodec: PoolValueCodec;
  /** The key and value size limits in force. */
  readonly limits: Limits;
  /** True when opened read-only: every write throws EROFS. */
  readonly readOnly: boolean;
  /** The pool file's path (undefined for a store over a Region). */
  readonly path: string | undefined;

  private rootOffset: number;
  private registry: Registry | undefined;
  private readonly open = new Map<string, OpenCollection>();
  /** A live reader's collection contexts, current and replaced: their `gone` follows every commit. */
  private readonly contexts = new Set<StoreCollectionContext>();
  /** A live reader read garbage (a failed attempt): the root, registry and structures are read again. */
  private rootStale = false;
  /** Collections dropped in the running transaction (revived if it aborts). */
  private dropped: OpenCollection[] = [];
  private tx: Transaction | undefined = undefined;
  /** The first error thrown out of a nested transaction: the outermost one must roll back. */
  private doomed: { error: unknown } | undefined = undefined;
  private closed = false;
  /** The operation the next outermost transaction runs (see `outermost`). */
  private outerOp: TxOp<unknown> | undefined = undefined;
  /** The collection whose write `outerOp` is, if any (see `noteWriter`). */
  private outerWriter: StoreCollectionContext | undefined = undefined;
  /** Counts outermost transactions that began: identifies the running one in `noteWriter`. */
  private txSerial = 0;
  /**
   * The collections that ran a write in the running transaction: an abort invalidates exactly
   * these (`afterAbort`), so that the DRAM state and the live iterators of the others carry on.
   */
  private readonly writers: (StoreCollectionContext | undefined)[] = [];
  /**
   * How many of `writers` are the running transaction's. A count, not the array's length:
   * truncating an array drops its backing store, and the next push would allocate one again,
   * once per transaction.
   */
  private nWriters = 0;
  /** Runs a user's `transaction(fn)` as an operation; made once, `fn` set per call. */
  private readonly userOp: UserTxOp = new UserTxOp();
  /** Lone writes (outside `transaction`) defer their durability to the turn's group commit. */
  private groupCommit = false;
  /** The durability of the last deferred transaction (every earlier one is durable before it). */
  private lastDurable: Promise<void> = Promise.resolve();
  /** Deferred transactions run inside a running transaction: settled when it is durable or rolled back. */
  private nestedDeferred: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** The backup running on this store (backup.ts), if any. */
  private runningBackup: RunningBackup | undefined = undefined;

  /**
   * @internal Where new hash maps get their hash seed (a u32): random; tests replace it so that
   * a seed that shows a bug replays.
   */
  hashSeeds: () => number = () => (Math.random() * 0x100000000) >>> 0;

  /** Where new collections get their creation stamp (HEADER_STAMP): random, non-zero, below 2^48. */
  private readonly collectionStamps = (): number => Math.floor(Math.random() * 0xffff_ffff_ffff) + 1;

  private constructor(pool: Pool, path: string | undefined, limits: Limits) {
    this.pool = pool;
    this.path = path;
    this.readOnly = pool.readOnly;
    this.limits = limits;
    this.keyCodec = new OrderedKeyCodec(limits.maxKeySize);
    const reader = pool.reader;
    if (reader !== undefined) {
      // A live reader: the root, registry and structures are read in a section, and again
      // whenever a commit may have changed them (followInvalidate, followRefresh).
      this.rootOffset = 0;
      this.registry = undefined;
      this.valueCodec = new PoolValueCodec(pool, 0, limits.maxValueSize);
      reader.onInvalidate = (all) => this.followInvalidate(all);
      reader.onRefresh = () => this.followRefresh();
      reader.section({ run: () => this.bindRoot() });
      return;
    }
    let root = pool.rootOffset();
    if (root === 0) assertNeverHadStore(pool, 0);
    if (root === 0 && !pool.readOnly) root = pool.root(ROOT_SIZE);
    this.rootOffset = root;
    if (root !== 0) {
      const view = pool.view;
      const magic = view.getUint32(root + R_MAGIC, true);
      if (magic === 0) assertNeverHadStore(pool, root);
      if (magic === 0 && !pool.readOnly) {
        // A fresh root: stamp it (atomically, so a crash leaves it either blank or stamped).
        pool.transaction((tx) => {
          tx.addRange(root, ROOT_SIZE);
          view.setUint32(root + R_MAGIC, STORE_MAGIC, true);
          view.setUint32(root + R_VERSION, STORE_VERSION, true);
        });
      } else if (magic !== 0 && magic !== STORE_MAGIC) {
        throw new CorruptionError('ECORRUPT', `the pool's root object is not a ferrite store (magic 0x${magic.toString(16)})`);
      } else if (magic !== 0 && view.getUint32(root + R_VERSION, true) !== STORE_VERSION) {
        throw new CorruptionError('EVERSION', `store format version ${view.getUint32(root + R_VERSION, true)} is not ${STORE_VERSION}`);
      }
    }
    // A read-only store over a pool that never had a root has no collections and no structures.
    this.registry = root === 0 ? undefined : new Registry(pool, root + R_REGISTRY);
    this.valueCodec = new PoolValueCodec(pool, root === 0 ? 0 : root + R_STRUCTURES, limits.maxValueSize);
  }

  /**
   * A live reader's view of the store root as the pool holds it now: registry and value
   * structures (none while the writer has not made the root yet). Reads the pool: inside a
   * section.
   */
  private bindRoot(): void {
    const pool = this.pool;
    let root = pool.rootOffset();
    const view = pool.view;
    const magic = root === 0 ? 0 : view.getUint32(root + R_MAGIC, true);
    if (magic === 0) {
      // Absent, or made and not stamped yet: as if absent (if nothing else is allocated).
      assertNeverHadStore(pool, root);
      root = 0;
    } else if (magic !== STORE_MAGIC) {
      throw new CorruptionError('ECORRUPT', `the pool's root object is not a ferrite store (magic 0x${magic.toString(16)})`);
    } else if (view.getUint32(root + R_VERSION, true) !== STORE_VERSION) {
      throw new CorruptionError('EVERSION', `store format version ${view.getUint32(root + R_VERSION, true)} is not ${STORE_VERSION}`);
    }
    this.rootOffset = root;
    this.registry = root === 0 ? undefined : new Registry(pool, root + R_REGISTRY);
    this.valueCodec = new PoolValueCodec(pool, root === 0 ? 0 : root + R_STRUCTURES, this.limits.maxValueSize);
    this.rootStale = false;
  }

  /**
   * A live reader's caches after a commit (or, `all`, after an attempt that may have read a
   * state being written): collections drop what they mirror; with `all`, the registry and the
   * value structures go too. Reads nothing (it runs outside any section).
   */
  private followInvalidate(all: boolean): void {
    if (all) {
      this.rootStale = true;
      this.valueCodec.reset();
    }
    for (const c of this.open.values()) c.object.invalidateCache();
  }

  /** A live reader's refresh, inside a section: the registry as the pool holds it, and which collections are gone. */
  private followRefresh(): void {
    if (this.rootStale || this.rootOffset === 0) this.bindRoot();
    else this.registry?.reloadIfChanged();
    // Gone: no longer in the registry, or another collection in its place — dropped and made
    // again under the same name, maybe at the same offset (its stamp differs).
    for (const ctx of this.contexts) {
      const e = this.registry?.get(ctx.name);
      ctx.gone = e === undefined || e.header !== ctx.header || this.pool.readU64(ctx.header + HEADER_STAMP) !== ctx.stamp;
    }
  }

  /**
   * Runs `fn` against one committed state of the pool and returns its result: every read inside
   * agrees with every other (the sum of a bank's accounts is the same whatever transfers the
   * writer commits meanwhile).
   *
   * On a read-only store that follows a writer in another process or thread, `fn` MAY RUN MORE
   * THAN ONCE: when a commit overtook it, its result is dropped and it runs again (each read
   * inside stops it early once a commit came); so `fn` should only read, and keep no effect of a
   * run that did not return. It completes under a writer that commits non-stop: after a few
   * overtaken runs the reader asks the writer to wait before its next change until `fn` is done
   * (for about twice the last run's time, at most a second). Values it returns are plain copies
   * and stay valid. EBUSY when the writer stays inside one transaction past `readTimeout`.
   *
   * On a writer's store (or a read-only store of a Region), `fn` runs once: nothing else writes
   * meanwhile. `fn` must be synchronous (ETXSTATE otherwise, before it runs).
   */
  read<T>(fn: () => T): T {
    this.assertOpen();
    if (typeof fn !== 'function') throw invalidArgument('store.read', 'fn', 'a function', fn);
    if (types.isAsyncFunction(fn) || types.isGeneratorFunction(fn)) {
      throw new FerriteError('ETXSTATE', 'store.read: fn must be synchronous; an async or generator function was given and not run');
    }
    const reader = this.pool.reader;
    if (reader === undefined) return fn();
    const op: ReadOp<T> = { run: fn };
    return reader.section(op);
  }

  /**
   * Opens (or, with `create: true`, creates) the store in the pool file `path`, or over a
   * `Region` (a simulated region in tests: a blank region is created when `create` is set).
   *
   * Errors: ENOENT (no file, `create` not set), EBUSY (another writer holds it), ELAYOUT
   * (other layout), EBADMAGIC / EVERSION / ECORRUPT (not a readable pool), EINVAL (options).
   * If the pool was interrupted in a transaction, opening rolls it back first (`recovered`);
   * a read-only open does so in a private copy-on-write mapping and leaves the file as is.
   */
  static open(target: string | Region | FileTarget, options?: StoreOptions): Store {
    const o = checkOpenArguments(target, options);
    // The layout is checked at open only when given; a new pool gets the default name.
    const { layout, readOnly } = o;
    const createLayout = layout ?? DEFAULT_LAYOUT;
    const limits: Limits = { maxKeySize: o.maxKeySize, maxValueSize: o.maxValueSize };
    let pool: Pool;
    let path: string | undefined;
    if (typeof target === 'string') {
      path = target;
      const size = o.size ?? DEFAULT_POOL_SIZE;
      pool = openPoolFile(target, {
        create: o.create,
        size,
        maxSize: o.maxSize ?? (existsSync(target) ? undefined : size),
        layout: existsSync(target) ? layout : createLayout,
        readOnly,
        forcePmem: o.forcePmem ?? isTmpfsPath(target),
        ...(o.checkpointBytes !== undefined ? { checkpointBytes: o.checkpointBytes } : {}),
        ...(o.lockTimeout !== undefined ? { lockTimeout: o.lockTimeout } : {}),
        ...(o.readTimeout !== undefined ? { readTimeout: o.readTimeout } : {}),
      });
    } else if (isFileTarget(target)) {
      // A pool file given as its parts (a simulated disk in crash tests): blank means create.
      const cp = o.checkpointBytes !== undefined ? { checkpointBytes: o.checkpointBytes } : {};
      if (o.create && isBlankFile(target)) {
        const size = o.size ?? target.pool.length;
        pool = heap.Pool.create(target, { layout: createLayout, size, maxSize: o.maxSize ?? size, ...cp });
      } else {
        pool = heap.Pool.open(target, { layout, maxSize: o.maxSize, readOnly, ...cp });
      }
    } else {
      if (o.create && isBlank(target)) {
        const size = o.size ?? target.length;
        pool = heap.Pool.create(target, { layout: createLayout, size, maxSize: o.maxSize ?? size });
      } else {
        pool = heap.Pool.open(target, { layout, maxSize: o.maxSize, readOnly });
      }
    }
    try {
      const store = new Store(pool, path, limits);
      store.groupCommit = o.groupCommit;
      return store;
    } catch (err) {
      pool.close();
      throw err;
    }
  }

  /**
   * Opens a store over a pool that is already open (advanced: tests, tools). The store takes
   * the pool over: `store.close()` closes it. The pool must not be used directly afterwards.
   */
  static fromPool(pool: Pool, options?: Pick<StoreOptions, 'maxKeySize' | 'maxValueSize'>): Store {
    const p = pool as Partial<Pool> | null;
    if (typeof p !== 'object' || p === null || typeof p.transaction !== 'function' || typeof p.rootOffset !== 'function') {
      throw invalidArgument('Store.fromPool', 'pool', 'an open @ferrite/heap Pool', pool);
    }
    if (p.isClosed === true) throw new FerriteError('ECLOSED', 'Store.fromPool: the pool is closed');
    const o = readOptions('Store.fromPool', options, ['maxKeySize', 'maxValueSize'] as const);
    return new Store(pool, undefined, checkLimits('Store.fromPool', o.maxKeySize, o.maxValueSize));
  }

  /**
   * True when open rolled back an interrupted transaction (for a read-only store: in memory
   * only; for one that follows a writer: while it reads a recovered copy, see `stats().reader`).
   */
  get recovered(): boolean {
    return this.pool.reader?.recovering ?? this.pool.recovered;
  }

  /** The pool's layout name. */
  get layout(): string {
    return this.pool.layout;
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Closes the store and unmaps the pool. Idempotent. Every later call on the store or its
   * collections throws ECLOSED. ETXSTATE when called inside a transaction (or from code that runs
   * while a value is being encoded: a getter, `toJSON`).
   */
  close(): void {
    if (this.closed) return;
    // Checked first: a getter runs inside the writing transaction, and its message says why.
    if (this.encoding()) throw writeDuringEncoding('store.close()');
    if (this.tx !== undefined) throw new FerriteError('ETXSTATE', 'close() inside a transaction');
    this.closed = true;
    if (this.runningBackup !== undefined) this.runningBackup.aborted = new FerriteError('ECLOSED', 'the store was closed during its backup');
    this.open.clear();
    this.pool.close();
  }

  /**
   * Copies the whole store into the new file `path` while the application keeps reading and
   * writing (see docs/api.md, "Backup, compaction and shrink"): the copy is one committed
   * state of the store — the one at the backup's last step, every transaction committed
   * before it included (deferred ones are made durable in this store first) — written under
   * a hidden name, synced and then named, so a failed or killed backup leaves no file at
   * `path`. Each step is a short synchronous copy between two event-loop turns; writes wait
   * only for the step running when they are issued. `compact: true` writes only the live data
   * (collections rebuilt into a fresh pool, cut after its last chunk). Restore: `Store.open`
   * of the copy. The copy gets a uuid of its own.
   *
   * Errors (the promise rejects; the store is unchanged and `path` holds no file): EINVAL (bad
   * arguments), EEXIST (`path` exists), ENOSPC (no room at `path`), EBUSY (a backup of this
   * store is running, or this is a read-only store of a pool file, which follows its writer:
   * back up from the writer's store, or with backupPoolFile), ECLOSED (the store was closed before the backup's last step), EACCES,
   * ENOENT and the file system's errors; ETXSTATE when called inside a transaction (or from
   * code run while a value is being encoded: a getter, `toJSON`), which it leaves unaffected.
   */
  backup(path: string, options?: BackupOptions): Promise<BackupInfo> {
    try {
      this.assertOpen();
      const a = backupArguments('store.backup', path, options);
      // Refused as shrink and close are. Its copy is taken at its last step, turns after the
      // running transaction ended: the call would promise a copy of the state the transaction
      // sees and deliver one that holds the transaction whole or not at all, whichever way it
      // ended, plus whatever was written in between (found in review: accepted, and the copy
      // held the state after the transaction's end, not the one at the call). A rejected
      // promise, not a throw: the transaction carries on, unaffected.
      if (this.encoding()) throw writeDuringEncoding('store.backup()');
      if (this.tx !== undefined) throw new FerriteError('ETXSTATE', 'store.backup() inside a transaction: call it after the transaction returns (the copy is one committed state, taken over later event-loop turns)');
      if (this.runningBackup !== undefined) throw new FerriteError('EBUSY', 'a backup of this store is running; wait for it to settle');
      const reader = this.pool.reader;
      if (reader !== undefined && !reader.frozen) {
        // Its writer changes the bytes under a copy that takes many steps: one committed state
        // is the writer's to copy.
        throw new FerriteError('EBUSY', 'a read-only store of a pool file follows its writer, which may change the pool under a copy: call backup() on the writer\'s store, or use backupPoolFile (it keeps writers out while it copies)');
      }
      const running: RunningBackup = { aborted: undefined };
      this.runningBackup = running;
      return backupLive(this, a.path, a.compact, a.onProgress, running).finally(() => {
        if (this.runningBackup === running) this.runningBackup = undefined;
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Gives the free space at the end of the pool back to the file system: the pool's size drops
   * to its last chunk in use (empty runs there reclaimed first), durably, then the file is cut
   * there (`pool.shrink()` of @ferrite/heap; crash-safe at every step). Blocks in use are never
   * moved: space freed in the middle stays in the pool, reused before the pool grows (compact
   * with `backup(path, { compact: true })` or `ferrite compact` to get it back too). Returns the
   * pool's size and the file's length before and after.
   * @throws EROFS (read-only), ETXSTATE (inside a transaction, or from code run while a value
   *   is being encoded), EBUSY (a backup is running), ECLOSED, EIO.
   */
  shrink(): ShrinkResult {
    this.assertOpen();
    if (this.readOnly) throw new FerriteError('EROFS', 'the store is open read-only');
    if (this.encoding()) throw writeDuringEncoding('store.shrink()');
    if (this.tx !== undefined) throw new FerriteError('ETXSTATE', 'store.shrink() inside a transaction');
    if (this.runningBackup !== undefined) throw new FerriteError('EBUSY', 'a backup of this store is running; shrink once it settled');
    return this.pool.shrink();
  }

  /**
   * True while a codec runs user code (a value's getters or toJSON, a composite key's element
   * accesses): every write, transaction, drop and close is refused then, with ETXSTATE
   * (internal/encoding-guard.ts explains why).
   */
  private encoding(): boolean {
    // Any store of this thread encoding, not only this one: they share msgpackr's buffer.
    return encodingInThisThread();
  }

  /** @internal Throws ECLOSED when the store is closed. */
  assertOpen(): void {
    if (this.closed) throw new FerriteError('ECLOSED', 'the store is closed');
  }

  /**
   * Runs `fn` in a transaction and returns its result. Every write made by `fn`, to any number
   * of collections, becomes durable together when the outermost `transaction` returns; if `fn`
   * throws, all of them are rolled back and the error is rethrown. Nested calls flatten into
   * the outermost one: an error thrown out of a nested call rolls back the whole transaction,
   * even if an outer `fn` catches it (the outermost call then throws ETXSTATE). `fn` must be
   * synchronous: returning a promise throws ETXSTATE (rolled back).
   * On a read-only store `fn` runs without a transaction (reads work, writes throw EROFS).
   * ETXSTATE, before `fn` runs, when called while a value is being encoded (from its getter or
   * `toJSON`): code there may read the store but not write to it.
   */
  transaction<T>(fn: () => T): T {
    this.assertOpen();
    if (typeof fn !== 'function') throw rejection(invalidArgument('store.transaction', 'fn', 'a function', fn));
    // Refused before it runs: an async function's code after its first await (a generator's
    // body, run when iterated) would write outside any transaction.
    if (types.isAsyncFunction(fn) || types.isGeneratorFunction(fn)) {
      throw rejection(new FerriteError('ETXSTATE', 'store.transaction: fn must be synchronous; an async or generator function was given and not run'));
    }
    if (this.encoding()) throw writeDuringEncoding('store.transaction()');
    // Read-only: `fn` reads one committed state (store.read; it may run more than once).
    if (this.readOnly) return this.read(fn);
    if (this.tx !== undefined) {
      let r: T;
      try {
        r = fn();
      } catch (err) {
        if (this.doomed === undefined) this.doomed = { error: err };
        throw err;
      }
      if (isThenable(r)) {
        // It wrote, maybe, and more may follow its awaits: the whole transaction rolls back.
        const err = new FerriteError('ETXSTATE', 'store.transaction: a nested transaction function returned a promise (it must be synchronous); the transaction will roll back');
        if (this.doomed === undefined) this.doomed = { error: err };
        throw err;
      }
      return r;
    }
    const op = this.userOp;
    op.fn = fn;
    try {
      return this.outermost(op) as T;
    } finally {
      op.fn = undefined; // do not keep the user's closure alive
    }
  }

  /**
   * Runs `fn` in a transaction at once — its writes are visible to this store when it returns,
   * and a throw rolls back only this transaction — and returns a promise of `fn`'s result that
   * resolves when the transaction is DURABLE. On a pool file (not persistent memory) the
   * transactions of one event-loop turn share one log write and one device sync, made off the
   * main thread (group commit); on persistent memory every commit is durable at once.
   *
   * Crash semantics: every transaction whose promise resolved survives a crash; of the others,
   * each is present whole or absent, and they are a prefix: if one is present after a crash,
   * every transaction committed before it is too. If the durable write fails (EIO, ENOSPC on
   * the log's file system) the promise rejects, as do those of every later transaction, and the
   * store is unusable (close and open it again: it holds every transaction that resolved).
   * Inside a running transaction it joins it (its promise settles with the outermost one).
   * Errors of `fn` (and ETXSTATE, EROFS... as for `transaction`) reject the promise.
   */
  transactionAsync<T>(fn: () => T): Promise<T> {
    try {
      this.assertOpen();
      if (typeof fn !== 'function') throw rejection(invalidArgument('store.transactionAsync', 'fn', 'a function', fn));
      if (types.isAsyncFunction(fn) || types.isGeneratorFunction(fn)) {
        throw rejection(new FerriteError('ETXSTATE', 'store.transactionAsync: fn must be synchronous (its promise is the durability); an async or generator function was given and not run'));
      }
      if (this.encoding()) throw writeDuringEncoding('store.transactionAsync()');
      // As `transaction` on a read-only store: `read(fn)`, one committed state (found in review:
      // fn ran outside a read section, so its reads could mix several commits).
      if (this.readOnly) return Promise.resolve(this.read(fn));
      if (this.tx !== undefined) {
        const r = this.transaction(fn);
        return new Promise<T>((resolve, reject) => this.nestedDeferred.push({ resolve: () => resolve(r), reject }));
      }
      const op = this.userOp;
      op.fn = fn;
      let result: T;
      try {
        result = this.outermost(op, true) as T;
      } finally {
        op.fn = undefined;
      }
      return this.lastDurable.then(() => result);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A promise that resolves when every transaction committed so far — deferred ones
   * (`transactionAsync`, lone writes with `groupCommit`) included — is durable; rejects if
   * making one durable failed.
   */
  flushed(): Promise<void> {
    if (this.closed) return Promise.reject(new FerriteError('ECLOSED', 'the store is closed'));
    // A synchronous commit that failed made nothing deferred fail (found in review: flushed()
    // resolved on an unusable store).
    const failure = this.pool.failure;
    if (failure !== undefined) return Promise.reject(new FerriteError('EIO', 'a commit failed; the store is unusable (close and open it again)', { cause: failure }));
    return this.lastDurable;
  }

  /** @internal Joins the running transaction, or runs `fn` as a transaction of its own. */
  write<T>(fn: (tx: Transaction) => T): T {
    return this.run({ run: fn });
  }

  /**
   * @internal `write` for a reusable operation object (no closure per write): joins the running
   * transaction, or runs `op` as a transaction of its own. `writer`: the collection whose write
   * `op` is (an abort of the transaction invalidates it, see `afterAbort`).
   */
  run<T>(op: TxOp<T>, writer?: StoreCollectionContext): T {
    if (this.closed) throw new FerriteError('ECLOSED', 'the store is closed');
    if (this.readOnly) throw new FerriteError('EROFS', 'the store is open read-only');
    // Before anything is touched, so the refused write leaves the store and the outer write's
    // transaction as they were.
    if (this.encoding()) throw writeDuringEncoding('a write');
    const tx = this.tx;
    if (tx !== undefined) {
      if (writer !== undefined) this.noteWriter(writer);
      try {
        return op.run(tx);
      } catch (err) {
        if (this.doomed === undefined && !leftPoolUntouched(err)) this.doomed = { error: err };
        throw err;
      }
    }
    return this.outermost(op, this.groupCommit, writer);
  }

  /**
   * Records that `ctx`'s collection runs a write in the running transaction (called inside it,
   * just before the write's operation: a write refused earlier never gets here). One compare
   * per write once the collection is listed.
   */
  private noteWriter(ctx: StoreCollectionContext): void {
    if (ctx.wroteIn === this.txSerial) return;
    ctx.wroteIn = this.txSerial;
    this.writers[this.nWriters++] = ctx;
  }

  /** Empties `writers` (keeping its backing store; no reference to a collection stays behind). */
  private forgetWriters(): void {
    for (let i = 0; i < this.nWriters; i++) this.writers[i] = undefined;
    this.nWriters = 0;
  }

  /**
   * Runs `op` as the outermost transaction. The function handed to the pool is made once
   * (`outerBody`, reading `outerOp`): a transaction allocates nothing here. Re-entry is not
   * possible: while it runs `this.tx` is set, so nested writes join instead of coming here.
   */
  private outermost<T>(op: TxOp<T>, deferred = false, writer?: StoreCollectionContext): T {
    this.doomed = undefined;
    this.outerOp = op;
    this.outerWriter = writer;
    let result: T;
    const nested = this.nestedDeferred;
    try {
      if (deferred) {
        const run = this.pool.transactionDeferred(this.outerBody);
        result = run.result as T;
        this.deferDurable(run.durable);
      } else {
        result = this.pool.transaction(this.outerBody) as T;
      }
    } catch (err) {
      this.outerOp = undefined;
      this.outerWriter = undefined;
      this.tx = undefined;
      this.doomed = undefined;
      if (nested.length > 0) {
        this.nestedDeferred = [];
        for (const n of nested) n.reject(err);
      }
      try {
        this.afterAbort();
      } catch {
        // The pool itself failed (EIO, a damaged registry): the caller gets the original error;
        // the DRAM state is rebuilt when the store is opened again.
      }
      throw err;
    }
    this.tx = undefined;
    if (this.nWriters > 0) this.forgetWriters();
    if (this.dropped.length > 0) this.dropped = [];
    if (nested.length > 0) {
      // transactionAsync calls nested in this one: durable with it, and with every commit
      // before it. Even when the outer transaction is synchronous: one that wrote nothing made
      // nothing durable, and what its nested calls read may still wait for its log sync (found
      // in review: they resolved at once, before an earlier transactionAsync was durable).
      this.nestedDeferred = [];
      const durable = this.lastDurable;
      for (const n of nested) durable.then(n.resolve, n.reject);
    }
    return result;
  }

  /** Chains a deferred transaction's durability (commits become durable in order). */
  private deferDurable(durable: Promise<void>): void {
    // The transactions of one group share its promise: handle each promise once. Nobody may
    // await it (a lone grouped write): a failure must not be an unhandled rejection; it reaches
    // `flushed()`, later transactionAsync promises, and the next write (EIO).
    if (durable === this.lastDurable) return;
    durable.catch(() => undefined);
    this.lastDurable = durable;
  }

  /** The body of every outermost transaction (see `outermost`). */
  private readonly outerBody = (tx: Transaction): unknown => {
    const op = this.outerOp;
    invariant(op !== undefined, 'an outermost transaction has its operation');
    this.outerOp = undefined;
    this.tx = tx;
    // Writers are noted only once the transaction has begun: a pool that refuses to begin one
    // (EIO) ran no write, and its abort must invalidate nothing.
    this.txSerial++;
    if (this.nWriters > 0) this.forgetWriters();
    const writer = this.outerWriter;
    if (writer !== undefined) {
      this.outerWriter = undefined;
      this.noteWriter(writer);
    }
    const r = op.run(tx);
    if (this.doomed !== undefined) {
      throw new FerriteError('ETXSTATE', 'a nested transaction failed, so the whole transaction was rolled back', {
        cause: this.doomed.error,
      });
    }
    if (isThenable(r)) {
      throw new FerriteError('ETXSTATE', 'a transaction function must be synchronous (it returned a promise); rolled back');
    }
    this.tx = undefined;
    return r;
  };

  /**
   * Brings DRAM state back in line with the rolled-back pool. Only the collections that ran a
   * write in the transaction (and those it dropped) changed in the pool: they alone are
   * invalidated. The others keep their caches and their live iterators go on undisturbed (a
   * refused write or a rollback elsewhere must not reach them, issue 19).
   */
  private afterAbort(): void {
    if (this.closed) {
      this.forgetWriters();
      return;
    }
    // First: collections rely on it instead of abort hooks of their own
    // (CollectionContext.invalidatesOnAbort), so a failing reload must not skip it.
    try {
      for (let i = 0; i < this.nWriters; i++) this.writers[i]?.object?.invalidateCache();
      for (const c of this.dropped) if (c.ctx.wroteIn !== this.txSerial) c.object.invalidateCache();
    } finally {
      this.forgetWriters();
    }
    this.registry?.reload();
    for (const c of this.dropped) {
      // Only a collection that existed before the transaction is back (its header is the
      // registry's again); one made and dropped inside it stays dropped. A name dropped, made
      // again and dropped again lists both: the one that existed must win, whatever the order,
      // or the user's object of it would be left working but unknown to the store.
      const entry = this.registry?.get(c.ctx.name);
      if (entry === undefined || entry.header !== c.header) continue;
      const other = this.open.get(c.ctx.name);
      if (other !== undefined && other !== c) other.ctx.dropped = true;
      c.ctx.dropped = false;
      this.open.set(c.ctx.name, c);
    }
    this.dropped = [];
    for (const [name, c] of this.open) {
      const entry = this.registry?.get(name);
      if (entry === undefined || entry.header !== c.header) {
        // Created in the aborted transaction: it no longer exists.
        c.ctx.dropped = true;
        this.open.delete(name);
      }
    }
  }

  /**
   * The hash map named `name`, created (empty) on first use. Keys are numbers, strings,
   * Uint8Arrays or arrays of those; values anything msgpackr encodes. Returns the same object
   * for the same name. EKIND when `name` holds another kind; EROFS when it must be created in
   * a read-only store; EINVAL for a bad name (empty, or over 112 UTF-8 bytes) or bad options.
   * `options.expectedSize`: when the map is created here, its table is made for that many
   * entries at once (no doubling until it holds more; ENOSPC, nothing created, when the pool
   * cannot hold the table); ignored when the map exists.
   */
  map<K extends Key = Key, V = unknown>(name: string, options?: MapOptions): PMap<K, V> {
    let entries = 0;
    if (options !== undefined) {
      const o = readOptions('store.map', options, ['expectedSize'] as const);
      entries = integerOption('store.map', 'option expectedSize', o.expectedSize, 0, MAX_EXPECTED_SIZE, 0);
    }
    return this.collection(name, 'map', entries) as unknown as PMap<K, V>;
  }

  /**
   * The sorted map named `name`, created on first use; iterates in key order and supports
   * `range`. Same rules as `map`.
   */
  sortedMap<K extends Key = Key, V = unknown>(name: string): PSortedMap<K, V> {
    return this.collection(name, 'sortedMap') as unknown as PSortedMap<K, V>;
  }

  /** The FIFO queue named `name`, created on first use. Same rules as `map`. */
  queue<T = unknown>(name: string): PQueue<T> {
    return this.collection(name, 'queue') as unknown as PQueue<T>;
  }

  private collection(name: string, kind: CollectionKind, entries = 0): AnyCollection {
    this.assertOpen();
    encodeName(name);
    const reader = this.pool.reader;
    if (reader !== undefined) return reader.section({ run: () => this.collectionLive(name, kind) });
    const cached = this.open.get(name);
    if (cached !== undefined) {
      if (cached.def.kind !== kind) throw kindError(name, cached.def.kind, kind);
      return cached.object;
    }
    const entry = this.registry?.get(name);
    if (entry !== undefined) {
      const def = kindByCode(entry.kind);
      if (def.kind !== kind) throw kindError(name, def.kind, kind);
      return this.remember(name, def, entry.header).object;
    }
    if (this.readOnly) throw new FerriteError('EROFS', `no collection "${name}", and the store is read-only`);
    // Checked before anything is allocated, so the refusal leaves a running transaction usable.
    if (this.registry !== undefined && this.registry.list().length >= MAX_COLLECTIONS) {
      throw rejection(new FerriteError('ERANGE', `a store holds at most ${MAX_COLLECTIONS} collections; "${name}" was not created`));
    }
    const def = kindByName(kind);
    const ctx = new StoreCollectionContext(this, name);
    return this.write((tx) => {
      const registry = this.registry;
      invariant(registry !== undefined, 'a writable store has a registry');
      const header = def.create(ctx, tx, entries);
      // A fresh block of this transaction: a rollback frees it, no snapshot needed.
      this.pool.writeU64(header + HEADER_STAMP, this.collectionStamps());
      registry.add(tx, name, def.code, header);
      return this.remember(name, def, header, ctx).object;
    });
  }

  /** A live reader's `collection`: the registry of the state read now says where it is (if anywhere). */
  private collectionLive(name: string, kind: CollectionKind): AnyCollection {
    const entry = this.registry?.get(name);
    if (entry === undefined) throw new FerriteError('EROFS', `no collection "${name}", and the store is read-only`);
    const def = kindByCode(entry.kind);
    if (def.kind !== kind) throw kindError(name, def.kind, kind);
    const cached = this.open.get(name);
    if (cached !== undefined && cached.header === entry.header && !cached.ctx.gone) return cached.object;
    // New, or dropped and made again by the writer: the old object stays gone.
    return this.remember(name, def, entry.header).object;
  }

  private remember(name: string, def: KindDef, header: number, ctx = new StoreCollectionContext(this, name)): OpenCollection {
    const c: OpenCollection = { def, header, ctx, object: def.construct(ctx, header) };
    ctx.object = c.object;
    ctx.header = header;
    this.open.set(name, c);
    if (this.pool.reader !== undefined) {
      ctx.stamp = this.pool.readU64(header + HEADER_STAMP);
      this.contexts.add(ctx);
    }
    return c;
  }

  /** Lists the collections: name, kind and current size, in creation order (until a drop reorders). */
  collections(): CollectionInfo[] {
    this.assertOpen();
    const reader = this.pool.reader;
    if (reader !== undefined) return reader.section({ run: () => this.collectionsNow() });
    return this.collectionsNow();
  }

  private collectionsNow(): CollectionInfo[] {
    const registry = this.registry;
    if (registry === undefined) return [];
    return registry.list().map((e) => {
      const def = kindByCode(e.kind);
      const cached = this.open.get(e.name);
      const c = cached !== undefined && cached.header === e.header && !cached.ctx.gone ? cached : this.remember(e.name, def, e.header);
      return { name: e.name, kind: def.kind, size: def.count(c.object) };
    });
  }

  /**
   * Deletes the collection `name` and frees all its blocks, atomically (joins the current
   * transaction). Returns false when there is no such collection. Objects for it throw ECLOSED
   * afterwards. EROFS when read-only; ETXSTATE while a value is being encoded (a getter's drop).
   */
  drop(name: string): boolean {
    this.assertOpen();
    encodeName(name);
    if (this.readOnly) throw new FerriteError('EROFS', 'the store is open read-only');
    if (this.encoding()) throw writeDuringEncoding('store.drop()');
    const entry = this.registry?.get(name);
    if (entry === undefined) return false;
    return this.write((tx) => {
      const registry = this.registry;
      invariant(registry !== undefined, 'a writable store has a registry');
      const c = this.open.get(name) ?? this.remember(name, kindByCode(entry.kind), entry.header);
      c.object.destroy(tx);
      registry.remove(tx, name);
      this.open.delete(name);
      c.ctx.dropped = true;
      this.dropped.push(c);
      return true;
    });
  }

  /** Statistics: the pool's, collection counts, and which medium / persistence path is used. */
  stats(): StoreStats {
    this.assertOpen();
    const reader = this.pool.reader;
    if (reader !== undefined) return reader.section({ run: () => this.statsNow() });
    return this.statsNow();
  }

  private statsNow(): StoreStats {
    const counts: Record<CollectionKind, number> = { map: 0, sortedMap: 0, queue: 0 };
    const list = this.registry?.list() ?? [];
    for (const e of list) counts[kindByCode(e.kind).kind]++;
    const region = this.pool.region;
    const pool = this.pool.stats();
    return {
      path: this.path,
      medium: this.path === undefined ? 'region' : isTmpfsPath(this.path) ? 'tmpfs' : 'file',
      isPmem: region.isPmem,
      readOnly: this.readOnly,
      recovered: this.recovered,
      recoveredInMemory: this.pool.reader?.recovering ?? this.pool.recoveredInMemory,
      layout: this.pool.layout,
      collections: { total: list.length, ...counts },
      pool,
      durability: pool.durability,
      reader: this.pool.reader === undefined ? undefined : { mode: this.pool.reader.recovering ? 'recovered' : 'live', ...this.pool.reader.stats },
    };
  }

  /**
   * Checks the pool (`pool.check()`), each collection's own invariants (its `validate()`), and
   * reachability: every allocated block must be reachable from the store's root (registry,
   * value structures, each collection's blocks) and every reachable block allocated, none
   * owned twice. Reads only; safe on a read-only store. ETXSTATE inside a transaction.
   * Damage is reported, never thrown (a damaged root slot: kind 'store').
   */
  check(): StoreCheckReport {
    this.assertOpen();
    const reader = this.pool.reader;
    if (reader !== undefined) return reader.section({ run: () => this.checkNow() });
    return this.checkNow();
  }

  private checkNow(): StoreCheckReport {
    const report: CheckReport = this.pool.check();
    const problems: CheckProblem[] = report.problems.map((p) => ({ offset: p.offset, kind: p.kind, message: p.message }));
    const allocated = new Set<number>();
    for (const a of this.pool.allocations()) allocated.add(a.offset);
    const reachable = new Map<number, string>();
    const reach = (offset: number, owner: string): void => {
      const prior = reachable.get(offset);
      if (prior !== undefined) {
        problems.push({ offset, kind: 'shared', message: `block ${offset} is owned by ${prior} and ${owner}` });
        return;
      }
      reachable.set(offset, owner);
      if (!allocated.has(offset)) {
        problems.push({ offset, kind: 'dangling', message: `block ${offset} (${owner}) is reachable but not allocated` });
      }
    };
    // The root object itself may or may not be listed among allocations, depending on the heap.
    if (this.rootOffset !== 0 && allocated.has(this.rootOffset)) reach(this.rootOffset, 'store root');
    // A root slot read from damaged bytes throws ECORRUPT (a word past 2^53): reported as the
    // heap's check reports its damage, never thrown out of check() (found by the damage
    // property of check-damage.test.ts: a damaged value-structures slot made check() throw).
    // The block it named is then listed as a leak too; `ferrite check --repair` frees leaks
    // only when nothing else is wrong, so it leaves such a pool alone.
    const rootSlot = (slot: number, owner: string, walk: () => void): void => {
      try {
        walk();
      } catch (err) {
        if (!isFerriteError(err)) throw err;
        problems.push({ offset: this.rootOffset + slot, kind: 'store', message: `the store root's ${owner} slot is damaged: ${err.message}` });
      }
    };
    if (this.registry !== undefined) {
      const registry = this.registry;
      rootSlot(R_REGISTRY, 'registry', () => {
        const block = registry.block();
        if (block !== 0) reach(block, 'registry');
      });
      rootSlot(R_STRUCTURES, 'value structures', () => {
        for (const offset of this.valueCodec.ownedBlocks()) reach(offset, 'value structures');
      });
      for (const e of this.registry.list()) {
        try {
          const def = kindByCode(e.kind);
          const cached = this.open.get(e.name);
          const c = cached !== undefined && cached.header === e.header && !cached.ctx.gone ? cached : this.remember(e.name, def, e.header);
          for (const offset of c.object.ownedBlocks()) reach(offset, `collection "${e.name}"`);
          const validate = (c.object as { validate?: () => string[] }).validate;
          if (typeof validate === 'function') {
            for (const message of validate.call(c.object)) {
              problems.push({ offset: e.header, kind: 'collection', message: `collection "${e.name}": ${message}` });
            }
          }
        } catch (err) {
          problems.push({ offset: e.header, kind: 'collection', message: `collection "${e.name}": ${(err as Error).message}` });
        }
      }
    }
    for (const offset of allocated) {
      if (!reachable.has(offset)) problems.push({ offset, kind: 'leak', message: `block ${offset} is allocated but unreachable` });
    }
    return { ok: problems.length === 0, problems, allocated: allocated.size, reachable: reachable.size };
  }
}

/** The names `Store.open` accepts in its options (any other is EINVAL). */
const OPEN_OPTIONS = ['create', 'size', 'maxSize', 'layout', 'readOnly', 'forcePmem', 'maxKeySize', 'maxValueSize', 'groupCommit', 'checkpointBytes', 'lockTimeout', 'readTimeout'] as const;

interface OpenArguments {
  create: boolean;
  size: number | undefined;
  maxSize: number | undefined;
  /** Absent: opening checks no layout; creating stamps the default. */
  layout: string | undefined;
  readOnly: boolean;
  forcePmem: boolean | undefined;
  groupCommit: boolean;
  checkpointBytes: number | undefined;
  lockTimeout: number | undefined;
  readTimeout: number | undefined;
  maxKeySize: number;
  maxValueSize: number;
}

/** Store.open's one validation step: the target, then every option (type, range, combination). */
function checkOpenArguments(target: unknown, options: unknown): OpenArguments {
  const fn = 'Store.open';
  const isRegion = typeof target === 'object' && target !== null && (target as Partial<Region>).bytes instanceof Uint8Array &&
    typeof (target as Partial<Region>).persist === 'function' && typeof (target as Partial<Region>).close === 'function';
  if (!(typeof target === 'string' && target.length > 0 && !target.includes('\0')) && !isRegion && !isFileTarget(target)) {
    throw invalidArgument(fn, 'target', 'a pool file path (a non-empty string), a Region or a FileTarget', target);
  }
  const o = readOptions(fn, options, OPEN_OPTIONS);
  const create = booleanOption(fn, 'create', o.create, false);
  const readOnly = booleanOption(fn, 'readOnly', o.readOnly, false);
  const size = integerOption(fn, 'option size', o.size, 1, heap.MAX_POOL_SIZE);
  const maxSize = integerOption(fn, 'option maxSize', o.maxSize, 1, heap.MAX_POOL_SIZE);
  const layout = o.layout === undefined ? undefined : stringOption(fn, 'layout', o.layout, DEFAULT_LAYOUT);
  // Its bounds too (EINVAL), before anything is opened or created.
  if (layout !== undefined) heap.encodeLayout(layout);
  const forcePmem = o.forcePmem === undefined ? undefined : booleanOption(fn, 'forcePmem', o.forcePmem, false);
  const groupCommit = booleanOption(fn, 'groupCommit', o.groupCommit, false);
  const checkpointBytes = integerOption(fn, 'option checkpointBytes', o.checkpointBytes, 64 * 1024, heap.MAX_POOL_SIZE);
  const lockTimeout = integerOption(fn, 'option lockTimeout', o.lockTimeout, 0, 2 ** 31 - 1);
  const readTimeout = integerOption(fn, 'option readTimeout', o.readTimeout, 0, 2 ** 31 - 1);
  const limits = checkLimits(fn, o.maxKeySize, o.maxValueSize);
  if (create && readOnly) throw new FerriteError('EINVAL', `${fn}: create and readOnly exclude each other (a pool cannot be created read-only)`);
  if (size !== undefined && maxSize !== undefined && create && maxSize < size) {
    throw new FerriteError('EINVAL', `${fn}: option maxSize (${maxSize}) is below option size (${size})`);
  }
  if (forcePmem !== undefined && typeof target !== 'string') {
    throw new FerriteError('EINVAL', `${fn}: option forcePmem applies to pool files, not to a Region`);
  }
  if ((lockTimeout !== undefined || readTimeout !== undefined) && typeof target !== 'string') {
    throw new FerriteError('EINVAL', `${fn}: options lockTimeout and readTimeout apply to pool files, not to a Region or FileTarget`);
  }
  return { create, size, maxSize, layout, readOnly, forcePmem, groupCommit, checkpointBytes, lockTimeout, readTimeout, ...limits };
}

function checkLimits(fn: string, maxKeySize: unknown, maxValueSize: unknown): Limits {
  return {
    maxKeySize: integerOption(fn, 'option maxKeySize', maxKeySize, 16, MAX_KEY_SIZE_LIMIT, DEFAULT_MAX_KEY_SIZE),
    maxValueSize: integerOption(fn, 'option maxValueSize', maxValueSize, 64, MAX_VALUE_SIZE_LIMIT, DEFAULT_MAX_VALUE_SIZE),
  };
}

function kindError(name: string, actual: CollectionKind, asked: CollectionKind): FerriteError {
  return new FerriteError('EKIND', `collection "${name}" is a ${actual}, not a ${asked}`);
}

function isThenable(r: unknown): boolean {
  return r !== null && (typeof r === 'object' || typeof r === 'function') && typeof (r as { then?: unknown }).then === 'function';
}

/** A region is blank (no pool yet) when both header copies are all zero. */
/** A pool file is blank (no pool yet) when it is empty or its header copies are all zero. */
function isBlankFile(target: FileTarget): boolean {
  const n = Math.min(512, target.pool.length);
  if (n === 0) return true;
  const head = new Uint8Array(n);
  target.pool.read(0, head, 0, n);
  return head.every((b) => b === 0);
}

function isBlank(region: Region): boolean {
  const bytes = region.bytes;
  const n = Math.min(512, bytes.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== 0) return false;
  return true;
}
