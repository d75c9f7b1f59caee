/**
 * The contract between the Store and its collections (internal, not exported to users).
 *
 * A collection is a persistent data structure whose root lives in a header block in the pool;
 * the registry maps the collection's name to that header's offset. Collections never open
 * transactions themselves: every write goes through `ctx.write`, which joins the store's
 * current transaction or opens one of its own (a write outside `store.transaction` is its own
 * transaction), so several collections can change atomically together.
 *
 * Encoding a value (or a composite key) runs user code: getters, `toJSON`, Proxy traps. From
 * there `write` and `run` refuse (ETXSTATE, see encoding-guard.ts), so a write path is never
 * re-entered by a write; but reads are allowed, and a read encodes its key into the same
 * `keys` scratch. So a write path must not hold the key codec's scratch across a value encode:
 * encode the value first, or copy the key.
 */
import type { LiveReader, Pool, Transaction } from '@ferrite/heap';

/**
 * Every kind's header block is at least HEADER_MIN bytes and leaves [HEADER_STAMP,
 * HEADER_STAMP + 8) to the store: a u64 stamp, random and non-zero, written when the store
 * creates the collection (0 in collections made before stamps). A reader in another process
 * tells by it a collection from one the writer dropped and made again under the same name,
 * whose header block the allocator may well have put at the same offset.
 */
export const HEADER_STAMP = 56;
export const HEADER_MIN = 64;

/** Encodes keys to bytes whose unsigned lexicographic order is the keys' order. */
export interface KeyCodec {
  /** Encodes `key`; TooBigError (ETOOBIG) over `maxKeySize`, FerriteError EINVAL for an unsupported key type. The returned array may be a scratch buffer valid until the next call. */
  encode(key: unknown): Uint8Array;
  /** Decodes bytes[start, end) produced by `encode`. */
  decode(bytes: Uint8Array, start: number, end: number): unknown;
}

/** Encodes values with msgpackr; record structures live in the pool (see codec/values.ts). */
export interface ValueCodec {
  /** Encodes `value` (may record a new structure persistently inside `tx`); ETOOBIG over `maxValueSize`. The returned array may be a scratch buffer valid until the next call. */
  encode(value: unknown, tx: Transaction): Uint8Array;
  /**
   * Like `encode`, but keeps the encoding in the codec's scratch and returns its length: no
   * array is made per call (the write paths run once per operation). The bytes stay valid
   * until the next encode; `writeEncoded` copies them out.
   */
  encodeToScratch(value: unknown, tx: Transaction): number;
  /** Copies the last `encodeToScratch` result to dst[at, at + length). */
  writeEncoded(dst: Uint8Array, at: number): void;
  /** Decodes bytes[start, end). */
  decode(bytes: Uint8Array, start: number, end: number): unknown;
}

export interface Limits {
  /** Largest encoded key, in bytes. */
  readonly maxKeySize: number;
  /** Largest encoded value, in bytes. */
  readonly maxValueSize: number;
}

/**
 * A write operation handed to `CollectionContext.run`: an object the collection makes once and
 * reuses (its arguments in fields), so a write allocates no closure.
 */
export interface TxOp<T> {
  run(tx: Transaction): T;
}

export interface CollectionContext {
  readonly pool: Pool;
  readonly keys: KeyCodec;
  readonly values: ValueCodec;
  readonly limits: Limits;
  readonly readOnly: boolean;
  /**
   * True when the context calls `invalidateCache()` on a collection after every rollback of a
   * transaction in which that collection ran a write (`write` or `run` was entered; the Store
   * does): collections then need no `tx.onAbort` hook of their own (registering one costs an
   * array per transaction in the heap). Collections that did not write are left alone, so
   * their caches and live iterators survive a rollback elsewhere.
   */
  readonly invalidatesOnAbort: boolean;
  /** Runs `fn` inside the store's transaction (joining the current one, or its own). EROFS when read-only, ECLOSED when closed. */
  write<T>(fn: (tx: Transaction) => T): T;
  /** `write` for a reusable operation object: `op.run(tx)` inside the store's transaction. */
  run<T>(op: TxOp<T>): T;
  /** Throws ECLOSED when the store is closed. Called at the start of every public method. */
  assertOpen(): void;
  /**
   * A read-only store that follows a writer in another process or thread: every read of the
   * pool runs in one of its sections (`reader.section(op)`, which may run `op` more than once;
   * see the heap's live-reader.ts). Undefined for a writer's store: reads run directly.
   */
  readonly reader: LiveReader | undefined;
  /**
   * The hash seed of a new hash map (a u32). Random unless a test fixes it: some bugs show only
   * for some layouts of a table, and a failing seed must replay (issue 16). Default: random.
   */
  newHashSeed?(): number;
}

/**
 * What every collection kind implements for the store (registry, drop, reachability checks).
 * `create` allocates a header block inside `tx` and returns its offset; the collection class is
 * constructed over an existing header with `new Kind(ctx, headerOffset)`.
 */
export interface CollectionInternals {
  /** Every pool block this collection owns (header included), for reachability checks. */
  ownedBlocks(): Iterable<number>;
  /** Frees every block this collection owns, header included, inside `tx`. */
  destroy(tx: Transaction): void;
  /**
   * Brings DRAM state back in line with the pool after the rollback of a transaction in which
   * this collection wrote (see `invalidatesOnAbort`; also after a rolled-back drop of it).
   * Only then: a queue restores its count of shifted values from it.
   */
  invalidateCache(): void;
}
