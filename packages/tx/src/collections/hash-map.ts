/**
 * PMap: a persistent hash map (chained buckets with the first entry inline, incremental
 * rehash) living in a pool.
 *
 * On-pool format 3 (all integers little-endian, every reference a pool offset, 0 = none):
 *
 *   header block (64 bytes)
 *     0  magic u32 'PHM1'    4  version u32 (3; 2 is read too, see FORMAT_DEAD_SLOTS)
 *     8  seed u32 (hash seed, fixed at creation)
 *     16 count u64           24 table u64 (directory of the current table)
 *     32 capLog2 u64 (current table has 2^capLog2 buckets)
 *     40 oldTable u64 (directory of the table being migrated from, 0 when not migrating)
 *     48 cursor u64 (old buckets [0, cursor) have been moved to the current table)
 *     56 the store's creation stamp u64 (internal/context.ts, HEADER_STAMP)
 *   directory block: one u64 segment reference per 2^segShift buckets (segShift = min(capLog2, 6))
 *   segment block: 2^segShift bucket slots of 64 bytes (one cache line each)
 *   entry (a slot, or a block of the overflow chain):
 *     next u64 | hash u32 | klen u32 | vlen u32 | pad u32 | key | value
 *
 * A bucket slot has an entry's layout: its `next` word heads the bucket's overflow chain of
 * entry blocks, and its other 56 bytes hold one entry inline when the key and value fit in 40
 * bytes (klen 0 marks the slot empty; encoded keys are never empty). A lookup of an inline
 * entry touches one cache line, not two (bucket head, then entry): on a cold cache that is
 * one dependent miss fewer, and an inline insert or delete allocates and frees nothing. The
 * price is 64 bytes per bucket (the table holds 0.5 to 1 entries per bucket) instead of 8.
 *
 * Chaining keeps every write small (a slot's words, a `next` word, plus the header's count)
 * and lets an update overwrite the value where it fits. Segmented tables let a large table
 * grow without one huge allocation, and let the new table's segments be allocated lazily while
 * migrating, so no operation pays for the whole table.
 *
 * Crash safety: every write op allocates first, then snapshots every word it will change with
 * ONE `tx.addRanges`, then stores; the heap's undo log makes the op atomic with its
 * transaction. Freshly allocated blocks need no snapshot. The payload of an EMPTY slot is dead
 * bytes: filling it snapshots only the slot's hash/klen word (restored, it says empty again)
 * and declares the rest with `addRangeNoSnapshot`, so it is flushed and sealed with the commit.
 * While a doubling migrates, the new table's slots of buckets not yet migrated are dead bytes
 * too (format 3): nothing reads them, and the step that migrates a bucket writes its two new
 * slots whole, declared with `addRangeNoSnapshot`; the new table's segments are allocated
 * without zeroing or flushing (`noFlush`).
 */
import type { DrainHook, LiveReader, ReadOp, Transaction } from '@ferrite/heap';
import { StepIterator } from './step-iterator.js';
import { CorruptionError, FerriteError, TooBigError, invalidArgument, invariant } from '@ferrite/core';
import type { CollectionContext, CollectionInternals, TxOp } from '../internal/context.js';
import { NUMBER_KEY_LENGTH, NUMBER_KEY_WORDS, OrderedKeyCodec, TAG_NUMBER, TAG_STRING, numberKeyHi, numberKeyLo, numberKeyWords } from '../codec/keys.js';
import type { Key } from '../codec/keys.js';
import { NumberList, bytesEqual, checkInside, checkWithin, compareBytes, hashBytes, hashNumberKey, hashNumberKey32, hashTaggedAscii, numberKeyEqual, readRef, readRefIn, readU64, taggedAsciiEqual, writeU64 } from './pool-words.js';
import { collectProblems } from './problems.js';
import { OffsetSet } from './offset-set.js';
import { leftPoolUntouched } from '../internal/rejection.js';

const MAGIC = 0x314d4850; // 'PHM1'
const VERSION = 3;
/**
 * Format 3 (2026-12) differs from format 2 in one rule: the new table's slots of buckets not
 * yet migrated may hold anything (segments are allocated without zeroing; a rolled-back step
 * leaves what it wrote), where format 2 kept them zero and its migration relied on it. A map of
 * format 2 is read and written as format 3; its header says 3 from the first write that starts
 * a doubling or takes a migration step, so that an older ferrite (which reads format 2 only)
 * refuses it rather than migrate over dead slots.
 */
const FORMAT_DEAD_SLOTS = 3;

const H_MAGIC = 0;
const H_VERSION = 4;
const H_SEED = 8;
const H_COUNT = 16;
const H_TABLE = 24;
const H_CAPLOG = 32;
const H_OLD = 40;
const H_CURSOR = 48;
/** Header bytes a write may change: [16, 64), snapshotted as one range. */
const H_MUTABLE = 16;
const H_MUTABLE_LEN = 48;
const HEADER_SIZE = 64;

const E_NEXT = 0;
const E_HASH = 8;
const E_KLEN = 12;
const E_VLEN = 16;
const ENTRY_HEADER = 24;
/** A bucket slot: one cache line with an entry's layout (runs align blocks to 64 bytes). */
const SLOT_SIZE = 64;
/** Key plus value bytes an inline entry can hold. */
const INLINE_MAX = SLOT_SIZE - ENTRY_HEADER;
/** The slot bytes an inline entry fills after its hash/klen word: vlen, pad, key, value. */
const SLOT_PAYLOAD = E_VLEN;
const SLOT_PAYLOAD_LEN = SLOT_SIZE - E_VLEN;

const INITIAL_CAP_LOG2 = 4;
/** Tables stop doubling at 2^28 buckets; chains get longer beyond ~268M entries. */
const MAX_CAP_LOG2 = 28;
/**
 * Largest `expectedSize` of `store.map(name, { expectedSize })`: the largest table's buckets.
 * A map grows past it all the same (its chains get longer); the hint only sizes the first table.
 */
export const MAX_EXPECTED_SIZE = 2 ** MAX_CAP_LOG2;
/**
 * At most 2^6 slots (4 KiB) per segment block: the heap's largest run class, so segments come
 * from runs (3 per 16 KiB chunk, 64-byte aligned) rather than from whole-chunk extents. The
 * directory then holds one word per 64 buckets (128 KiB for a million entries).
 */
const SEG_SHIFT_MAX = 6;
/**
 * Old buckets moved per insert (and per relocating update) while migrating, at least: every
 * cursor is a multiple of it (format 3 requires it: `readState`). A table doubles from C to 2C
 * buckets when count exceeds C; moving the C old buckets takes at most C/MIGRATE_STEP steps,
 * far fewer than the C inserts before count exceeds 2C, so migrations never overlap (and a
 * doubling waits for the migration before it in any case). Bigger tables take bigger steps
 * (`stepSizeOf`) inside big transactions (BIG_STEPS_AFTER). Deletes take no step: they must never allocate (a full pool must stay
 * emptiable).
 */
const MIGRATE_STEP = 4;
/**
 * A step moves at least oldCap / STEPS_PER_MIGRATION old buckets, up to MIGRATE_STEP_MAX: a
 * step has fixed costs (the header's snapshot, the no-snapshot ranges, the links' logging,
 * directory reads) that 4-bucket steps paid C/4 times per doubling; in one big transaction
 * each also adds ranges that every later snapshot of the transaction searches. Up to 1024 old
 * buckets a step stays at 4; from 8192 it moves 32. Not more: the step that enters two new
 * segments (their first touch of fresh memory) is the slowest write of a doubling, measured
 * p99 of a load's inserts 39-42 us with steps of 16-32, 50 us with 64 (4-bucket steps: 38);
 * 64-bucket steps won nothing measurable over 32 (fixed costs are already paid C/32 times).
 */
const STEPS_PER_MIGRATION = 256;
const MIGRATE_STEP_MAX = 32;
/**
 * Steps bigger than MIGRATE_STEP are taken only by a transaction that has already inserted
 * (or relocated) more than this many entries of the map: there no single write's latency is
 * seen, and the fewer, bigger steps cost less in all. A lone write, or a small transaction (each
 * `transactionAsync` of a server, say), keeps 4-bucket steps, so that an event-loop turn of
 * many of them does not gather the work of a whole migration: with 32-bucket steps for every
 * write, the worst event-loop delay of 20,000 `transactionAsync` writes on ext4 doubled (15 to
 * 28-34 ms, durable-writes benchmark, 2026-12-08), and their throughput did not improve.
 */
const BIG_STEPS_AFTER = 64;

/** Up to this many bytes, a kept byte range is copied by a loop rather than through a view and `set`. */
const COPY_LOOP_MAX = 64;

const KEEP_U32 = 0;
const KEEP_U64 = 1;
const KEEP_BYTES = 2;
const HEADER_COUNT = 1;
const HEADER_TABLE = 2;
const HEADER_VERSION = 4;

/** `x` (a u32) with its 32 bits in reverse order (the iteration order within a bucket, see `iterate`). */
export function rev32(x: number): number {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return ((x >>> 16) | (x << 16)) >>> 0;
}

// The scratch lists of a write are NumberLists (pool-words.ts): emptying a JS array drops its
// backing store, and the next push allocates another (a builtin call and garbage per write).

function segShiftOf(capLog2: number): number {
  return capLog2 < SEG_SHIFT_MAX ? capLog2 : SEG_SHIFT_MAX;
}

/**
 * Old buckets a migration step moves (see STEPS_PER_MIGRATION) while an old table of `oldCap`
 * buckets migrates into one of 2^capLog2: a power of two from MIGRATE_STEP up to
 * MIGRATE_STEP_MAX and to a segment of the new table (16 to 64 slots), so that steps aligned
 * to it stay inside one segment per half.
 */
function stepSizeOf(oldCap: number, capLog2: number, stepsPerMigration: number): number {
  const most = Math.min(MIGRATE_STEP_MAX, 1 << segShiftOf(capLog2));
  let size = MIGRATE_STEP;
  while (size < most && size * stepsPerMigration < oldCap) size *= 2;
  return size;
}

/**
 * An iterator's place in its order (see `PMap.iterate`): the first-level bucket count fixed at
 * its first step, the position of the last key returned and a copy of that key.
 */
class MapCursor {
  /** log2 of the first-level buckets: the table's size at the first step (the old table's while migrating). */
  readonly c0: number;
  readonly firsts: number;
  readonly low: number;
  /** Positions per first-level bucket: 2^(32 - c0) <= 2^28, so every position is a small integer. */
  readonly per: number;
  // The place, as (first-level bucket, position within it): the position `(h mod 2^c0, rev32(h)
  // mod 2^(32 - c0))` of the last key returned, or the start of the next interval to scan.
  first = 0;
  rest = 0;
  /** The last key returned, encoded: last[0, lastLen); lastLen -1 when the place starts an interval (every key at it comes next). */
  last = new Uint8Array(32);
  lastLen = -1;
  /**
   * Where the interval scanned last ends when it held no key after the one returned, and the
   * map's version then: while no write intervenes, the next step starts there directly.
   */
  skipFirst = -1;
  skipRest = 0;
  skipAt = 0;
  constructor(c0: number) {
    this.c0 = c0;
    this.firsts = 1 << c0;
    this.low = this.firsts - 1;
    this.per = 1 << (32 - c0);
  }

  // A live reader's attempt may be overtaken by a commit: the place is kept before each one
  // and put back for the next (step-iterator.ts).
  private saved: { first: number; rest: number; last: Uint8Array; lastLen: number; skipFirst: number; skipRest: number; skipAt: number } | undefined;

  save(): void {
    const sv = (this.saved ??= { first: 0, rest: 0, last: new Uint8Array(32), lastLen: -1, skipFirst: -1, skipRest: 0, skipAt: 0 });
    sv.first = this.first;
    sv.rest = this.rest;
    sv.lastLen = this.lastLen;
    if (this.lastLen > 0) {
      if (sv.last.length < this.lastLen) sv.last = new Uint8Array(this.last.length);
      sv.last.set(this.last.subarray(0, this.lastLen));
    }
    sv.skipFirst = this.skipFirst;
    sv.skipRest = this.skipRest;
    sv.skipAt = this.skipAt;
  }

  restore(): void {
    const sv = this.saved;
    invariant(sv !== undefined, 'a cursor is restored after it was saved');
    this.first = sv.first;
    this.rest = sv.rest;
    this.lastLen = sv.lastLen;
    if (sv.lastLen > 0) {
      if (this.last.length < sv.lastLen) this.last = new Uint8Array(sv.last.length);
      this.last.set(sv.last.subarray(0, sv.lastLen));
    }
    this.skipFirst = sv.skipFirst;
    this.skipRest = sv.skipRest;
    this.skipAt = sv.skipAt;
  }
}

/** An iterator of a PMap (see `PMap.iterate`): its cursor, made at the first step. */
class MapIterator extends StepIterator<unknown> {
  cursor: MapCursor | undefined = undefined;
  private hadCursor = false;
  constructor(private readonly map: { iterStep(it: MapIterator): IteratorResult<unknown, undefined> }, readonly mode: 0 | 1 | 2, reader: LiveReader | undefined) {
    super(reader);
  }
  protected step(): IteratorResult<unknown, undefined> {
    return this.map.iterStep(this);
  }
  protected save(): void {
    this.hadCursor = this.cursor !== undefined;
    this.cursor?.save();
  }
  protected restore(): void {
    if (!this.hadCursor) this.cursor = undefined;
    else this.cursor?.restore();
  }
}

/** Header words read at the start of every operation (reused: no allocation per call). */
interface TableState {
  count: number;
  table: number;
  capLog2: number;
  old: number;
  cursor: number;
}

/**
 * A persistent hash map from keys `K` to values `V`, found by name in a Store
 * (`store.map<K, V>(name)`).
 *
 * Keys are encoded by the store's key codec and compared as bytes; values by its msgpackr
 * value codec. Reads never allocate beyond the decoded value. Every write joins the store's
 * current transaction, or is its own durable transaction when called outside one.
 *
 * Iteration (`keys`, `values`, `entries`, `forEach`, `for..of`) is lazy, in no particular
 * order, and stays valid across writes to the map (see `entries`).
 */
// A CollectionInternals too (checked where the Store builds it); not declared, since those
// members are internal and stripped from the published types.
export class PMap<K extends Key, V> implements Iterable<[K, V]> {
  private readonly ctx: CollectionContext;
  private readonly header: number;
  private readonly seed: number;
  /**
   * The key codec's maxKeySize when it is the OrderedKeyCodec, else 0: a read may then hash
   * and compare an ASCII string key shorter than this from the string itself (its encoding is
   * the string tag and its units), without encoding it. Longer keys go to the codec, which
   * refuses them as before (ETOOBIG).
   */
  private readonly asciiReadMax: number;
  /**
   * Whether a number key (not NaN) is hashed and compared from its 8 payload bytes as two words
   * (`numberKeyWords`), without writing its encoding: when the key codec is the
   * OrderedKeyCodec, whose encoding of a number that is (tag and words, 9 bytes, within any
   * maxKeySize). NaN goes to the codec, which refuses it as before.
   */
  private readonly numberKeys: boolean;
  /**
   * Bumped by every write and after the rollback of a transaction that wrote to the map: an
   * iterator's shortcut to the next bucket (see `iterate`) holds only while it is unchanged.
   */
  private version = 0;
  /** `serial` of the transaction our abort hook is registered with (0: none). */
  private hookSerial = 0;
  /** Made once: registering it costs no allocation per write. */
  private readonly abortHook = (): void => {
    this.version++;
    this.dropKept();
    this.stValid = false;
    this.hookSerial = 0;
  };
  private readonly st: TableState = { count: 0, table: 0, capLog2: 0, old: 0, cursor: 0 };
  /** The header's format version (2 or 3), re-read with the header (a rollback may restore 2). */
  private format = VERSION;
  /**
   * Whether `st` mirrors the header. Only this object writes the header (the store hands out
   * one object per collection), so reads skip re-reading and re-checking it. A write drops the
   * mirror as it starts (`touched`) and, when it changed no table word, sets it again at its
   * end with the new count; an abort of a transaction we wrote in, and any error out of a
   * write, drop it.
   */
  private stValid = false;
  /**
   * DRAM copy of the current table's segment references, by segment index (0: not read yet),
   * filled as reads find them (each validated once, as `slotOf` does) so that a lookup reads
   * no directory word. Directory words change only in writes that leave `stValid` false, so
   * `readState` drops the copy whenever it re-reads the header: it lives exactly as long as
   * the mirror (writes that resize or migrate, aborts, errors, invalidateCache). At most
   * 2^(MAX_CAP_LOG2 - SEG_SHIFT_MAX) entries (4 MiB) for the largest table.
   */
  private segs = new Float64Array(1);
  /** Indices set in `segs` since it was last dropped (dropping clears only those). */
  private readonly segsSet: number[] = [];
  /** Set by `find`: the offset of the word that references the entry found (0: inline), or the chain's last. */
  private foundPred = 0;
  /** Set by `find`: the home slot of the key. */
  private foundSlot = 0;
  /**
   * The arguments of the running `set`/`delete`, read (and cleared) by the operation objects
   * below as they start: a value's getter that writes to this map again sets them anew only
   * after the outer operation has taken its own copies.
   */
  private opKey: K | undefined = undefined;
  private opValue: V | undefined = undefined;
  private readonly setOp: TxOp<void> = {
    run: (tx: Transaction): void => {
      const key = this.opKey as K;
      const value = this.opValue as V;
      this.opKey = undefined;
      this.opValue = undefined;
      this.setIn(tx, key, value);
    },
  };
  private readonly deleteOp: TxOp<boolean> = {
    run: (tx: Transaction): boolean => {
      const key = this.opKey as K;
      this.opKey = undefined;
      return this.deleteIn(tx, key);
    },
  };
  /**
   * Slots whose inline entry this map removed in the transaction `emptiedSerial` (deletes,
   * entries that outgrew their slot). Their payload is live in the state a rollback restores,
   * so refilling one in the same transaction snapshots it instead of declaring it dead.
   */
  private readonly emptied = new Set<number>();
  private emptiedSerial = 0;
  /** Scratch for the ranges of one write: the header's, and the buckets' (`logStores`). */
  private readonly headerRanges = new NumberList();
  private readonly ranges = new NumberList();
  /** Scratch for a migration step: the `next` words it changes (offset, value pairs), and the new slots whose chains they are in. */
  private readonly links = new NumberList();
  private readonly linkSlots = new NumberList();
  /** Scratch for a migration step: new segments to hook into the directory (dirWord, segment pairs). */
  private readonly newSegs = new NumberList();
  /** Set by `prepareMigration`: the slots of the step's first old bucket and of its first new bucket in each half. */
  private stepOld = 0;
  private stepLo = 0;
  private stepHi = 0;
  /**
   * STEPS_PER_MIGRATION, a field so that the crash tests can take big steps on the small maps
   * a simulated pool holds (any value gives steps a pool of every ferrite of format 3 reads).
   */
  private stepsPerMigration = STEPS_PER_MIGRATION;
  /** BIG_STEPS_AFTER, a field for the crash tests (0: big steps from a transaction's first write). */
  private bigStepsAfter = BIG_STEPS_AFTER;
  /** Inserts and relocations of this map in the transaction `writesSerial` (see BIG_STEPS_AFTER). */
  private writesInTx = 0;
  private writesSerial = -1;
  /**
   * The transaction that upgraded this map from format 2 (its serial), or -1. Its steps write
   * the new table the format-2 way (zeroed segments, snapshotted slots and directory words): a
   * rollback makes the map format 2 again, which needs unmigrated new buckets empty and
   * unentered directory words zero.
   */
  private upgradedIn = -1;
  /** Scratch: blocks a write frees once it has stored everything (it may still read them). */
  private readonly pendingFrees = new NumberList();

  // Kept stores (batching, see `Transaction.logRanges`). A write whose snapshots are not durable
  // yet may not store into the live words it changes: it keeps those stores here, and
  // `applyKept` makes them right after the transaction's next drain. The writes of a
  // transaction so share a fence instead of taking one each. Until then the pool holds the old
  // words, so every bucket with a kept store is listed in `keptSlots` (by its slot), and a read
  // or write that reaches one of them drains first; the header's words live in the mirror `st`
  // (`keptHeader` says which to write). Stores into fresh blocks and dead bytes (no-snapshot
  // ranges) are never kept. Outside a transaction nothing is kept.
  /** The running write stores into its buckets / the header at once (snapshots durable): set by `logStores`. */
  private direct = true;
  private headerDirect = true;
  private readonly keptSlots = new OffsetSet();
  /** Kept stores as (kind, offset, a, b) quads: KEEP_U32/KEEP_U64 (a: the value), KEEP_BYTES (a: start in keptBytes, b: length). */
  private keptOps = new Float64Array(64);
  private nKept = 0;
  private keptBytes = new Uint8Array(256);
  private nKeptBytes = 0;
  /** Header words to write from the mirror: HEADER_COUNT | HEADER_TABLE | HEADER_VERSION. */
  private keptHeader = 0;
  /** Our hook is registered with the transaction for its next drain. */
  private hookArmed = false;
  private readonly drainHook: DrainHook = { afterDrain: (): void => this.applyKept() };

  /**
   * Opens the map whose header block is at `headerOffset` (as returned by `create`).
   * @throws CorruptionError (ECORRUPT) when no hash map header is there.
   * @internal Store plumbing, not API.
   */
  constructor(ctx: CollectionContext, headerOffset: number) {
    this.ctx = ctx;
    this.header = headerOffset;
    const view = ctx.pool.view;
    checkInside(view, headerOffset, HEADER_SIZE, 'hash map header');
    if (view.getUint32(headerOffset + H_MAGIC, true) !== MAGIC) {
      throw new CorruptionError('ECORRUPT', `no hash map header at offset ${headerOffset}`);
    }
    const version = view.getUint32(headerOffset + H_VERSION, true);
    if (version === 1) {
      // Format 1 (bucket heads of 8 bytes, every entry a block) was written by ferrite up to 2026-11-21.
      throw new CorruptionError('EVERSION', `hash map at ${headerOffset} has format 1; this ferrite reads format ${VERSION} (recreate the map)`);
    }
    if (version !== 2 && version !== VERSION) {
      throw new CorruptionError('ECORRUPT', `hash map at ${headerOffset} has an unknown format version`);
    }
    this.format = version;
    this.seed = view.getUint32(headerOffset + H_SEED, true);
    this.asciiReadMax = ctx.keys instanceof OrderedKeyCodec ? ctx.keys.maxKeySize : 0;
    this.numberKeys = ctx.keys instanceof OrderedKeyCodec && ctx.limits.maxKeySize >= NUMBER_KEY_LENGTH;
  }

  /**
   * Allocates and initialises an empty map's blocks inside `tx`; returns the header offset.
   * The map exists once `tx` commits. `entries`: how many it is about to receive (a compaction
   * rebuilding a map): its table is then made at the size those entries need, every segment
   * allocated, so that filling it never doubles the table (no migration, no old table freed
   * behind it: a dense copy). Default 0: the smallest table.
   * @internal Store plumbing, not API.
   */
  static create(ctx: CollectionContext, tx: Transaction, entries = 0): number {
    // The table doubles once count exceeds its buckets: 2^capLog2 >= entries needs none.
    let capLog2 = INITIAL_CAP_LOG2;
    while (capLog2 < MAX_CAP_LOG2 && 2 ** capLog2 < entries) capLog2++;
    const segShift = segShiftOf(capLog2);
    const nSegs = 2 ** (capLog2 - segShift);
    const header = tx.alloc(HEADER_SIZE, { zero: true });
    const dir = tx.alloc(8 * nSegs, { zero: true });
    const seg = tx.alloc(SLOT_SIZE << segShift, { zero: true });
    for (let s = 1; s < nSegs; s++) {
      const more = tx.alloc(SLOT_SIZE << segShift, { zero: true });
      writeU64(ctx.pool.view, dir + 8 * s, more); // re-read: an allocation may grow the pool
    }
    const view = ctx.pool.view;
    view.setUint32(header + H_MAGIC, MAGIC, true);
    view.setUint32(header + H_VERSION, VERSION, true);
    const seed = ctx.newHashSeed !== undefined ? ctx.newHashSeed() : Math.random() * 0x100000000;
    view.setUint32(header + H_SEED, seed >>> 0, true);
    writeU64(view, header + H_COUNT, 0);
    writeU64(view, header + H_TABLE, dir);
    writeU64(view, header + H_CAPLOG, capLog2);
    writeU64(view, header + H_OLD, 0);
    writeU64(view, header + H_CURSOR, 0);
    writeU64(view, dir, seg);
    return header;
  }

  /** Number of entries (O(1): a persistent counter). */
  get size(): number {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r !== undefined) return r.section(this.sizeOp);
    if (this.keptHeader !== 0) {
      // The count word is kept (see keptSlots): the mirror has it, while its transaction
      // lives; one the heap rolled back already (doomed) took the kept stores with it.
      if (this.ctx.pool.currentTransaction !== undefined && this.hookArmed) return this.st.count;
      this.dropKept();
      this.stValid = false;
    }
    return readU64(this.ctx.pool.view, this.header + H_COUNT);
  }

  /** The value stored under `key`, or undefined. Never writes. */
  get(key: K): V | undefined {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r === undefined) return this.getNow(key);
    this.readKey = key;
    try {
      return r.section(this.getOp);
    } finally {
      this.readKey = undefined;
    }
  }

  /** True when `key` is present. Never writes. */
  has(key: K): boolean {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r === undefined) return this.lookup(key) !== 0;
    this.readKey = key;
    try {
      return r.section(this.hasOp);
    } finally {
      this.readKey = undefined;
    }
  }

  // A live reader's reads, as operations made once (their argument in `readKey`). Each checks
  // first that the collection exists in the state it reads (the writer may have dropped it).
  private readKey: K | undefined = undefined;
  private readonly sizeOp: ReadOp<number> = { run: () => (this.ctx.assertOpen(), readU64(this.ctx.pool.view, this.header + H_COUNT)) };
  private readonly getOp: ReadOp<V | undefined> = { run: () => (this.ctx.assertOpen(), this.getNow(this.readKey as K)) };
  private readonly hasOp: ReadOp<boolean> = { run: () => (this.ctx.assertOpen(), this.lookup(this.readKey as K) !== 0) };

  private getNow(key: K): V | undefined {
    const e = this.lookup(key);
    if (e === 0) return undefined;
    const pool = this.ctx.pool;
    const view = pool.view;
    const bytes = pool.bytes;
    // The entry's line is in cache: lookup just compared its key (klen is checked there).
    const start = e + ENTRY_HEADER + view.getUint32(e + E_KLEN, true);
    const vlen = view.getUint32(e + E_VLEN, true);
    checkWithin(bytes.length, start, vlen, 'hash map value');
    return this.ctx.values.decode(bytes, start, start + vlen) as V;
  }

  /**
   * Stores `value` under `key`, atomically. Durable when the enclosing transaction commits
   * (at return when called outside `store.transaction`). An existing value is overwritten in
   * place when the new encoding fits its block, else the entry moves to a new block.
   * @throws TooBigError (ETOOBIG) when the key or value exceeds the store's limits; nothing is written.
   */
  set(key: K, value: V): this {
    // The arguments travel in fields to an operation object made once: no closure per write.
    this.opKey = key;
    this.opValue = value;
    try {
      this.ctx.run(this.setOp);
    } catch (err) {
      this.afterFailedWrite(err);
      throw err;
    } finally {
      this.opKey = undefined;
      this.opValue = undefined;
    }
    return this;
  }

  /** Removes `key`; true when it was present. Atomic; durable as `set`. */
  delete(key: K): boolean {
    this.opKey = key;
    try {
      return this.ctx.run(this.deleteOp);
    } catch (err) {
      this.afterFailedWrite(err);
      throw err;
    } finally {
      this.opKey = undefined;
    }
  }

  /**
   * Removes every entry and frees their blocks, atomically in one transaction (O(size) work
   * and undo-log space for the frees).
   */
  clear(): void {
    this.ctx.assertOpen();
    try {
      this.ctx.write((tx) => this.clearIn(tx));
    } catch (err) {
      // As set and delete: a refusal before anything was written keeps the mirror and the
      // kept stores of the transaction's earlier writes (dropping the mirror alone would
      // apply those stores from a header read again from the pool: a corrupt count).
      this.afterFailedWrite(err);
      throw err;
    }
    // clearIn wrote the header words into the pool itself: the mirror reads them again.
    this.stValid = false;
  }

  /** Lazy iterator over the keys; valid across writes, as `entries`. */
  keys(): IterableIterator<K> {
    return this.iterate(0) as IterableIterator<K>;
  }

  /** Lazy iterator over the values; valid across writes, as `entries`. */
  values(): IterableIterator<V> {
    return this.iterate(1) as IterableIterator<V>;
  }

  /**
   * Lazy iterator over [key, value] pairs, in an unspecified order. It stays valid across
   * writes to this map, inside or outside transactions (deleting the entry just returned,
   * inserts that double the table, `clear`, rollbacks): each key present for the whole
   * iteration is returned exactly once, with its value at the time of the step; no key is
   * returned twice; keys added or removed during the iteration may or may not appear. A step
   * after `store.close()`, or after the map was dropped, throws ECLOSED.
   */
  entries(): IterableIterator<[K, V]> {
    return this.iterate(2) as IterableIterator<[K, V]>;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** Calls `fn(value, key, map)` for every entry, like `Map.prototype.forEach`. */
  forEach(fn: (value: V, key: K, map: PMap<K, V>) => void, thisArg?: unknown): void {
    this.ctx.assertOpen();
    if (typeof fn !== 'function') throw invalidArgument('map.forEach', 'fn', 'a function', fn);
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  // ---------------------------------------------------------------- CollectionInternals

  /** @internal Every block of this map: header, directories, segments, overflow entries. */
  ownedBlocks(): Iterable<number> {
    this.ctx.assertOpen();
    this.flushKept();
    const out: number[] = [this.header];
    this.readState();
    const st = this.st;
    const view = this.ctx.pool.view;
    const tables: [number, number][] = [[st.table, st.capLog2]];
    if (st.old !== 0) tables.push([st.old, st.capLog2 - 1]);
    for (const [dir, capLog2] of tables) {
      out.push(dir);
      const segShift = segShiftOf(capLog2);
      const nseg = 1 << (capLog2 - segShift);
      for (let s = 0; s < nseg; s++) {
        // A directory word of a segment no step has entered yet (new table), or has finished
        // (old table), is dead while the table migrates (format 3): it may name a freed block.
        if (!this.segmentLive(dir === st.old, s)) continue;
        const seg = readRef(view, dir + s * 8, SLOT_SIZE << segShift, 'hash map segment');
        if (seg === 0) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: missing segment ${s} of table ${dir}`);
        out.push(seg);
      }
    }
    this.forEachChainBlock((e) => out.push(e));
    return out;
  }

  /** @internal Frees every block of this map inside `tx` (the map must not be used afterwards). */
  destroy(tx: Transaction): void {
    const blocks = [...this.ownedBlocks()];
    for (const b of blocks) tx.free(b);
    this.touched(tx);
    this.stValid = false;
  }

  /** @internal Drops the header mirror and the segment cache (after a rollback); live iterators re-read the table. */
  invalidateCache(): void {
    this.version++;
    this.dropKept();
    this.stValid = false;
  }

  /**
   * Checks the map's internal invariants and returns the problems found (empty when sound):
   * header fields, bucket membership of every entry, stored hashes, unique keys, the counter,
   * and that unmigrated buckets of the new table are empty. For tests and `check` tools.
   */
  validate(): string[] {
    this.flushKept();
    return collectProblems((problems) => this.validateInto(problems));
  }

  // ---------------------------------------------------------------- internals: reads

  private readState(): void {
    if (this.stValid) return;
    // Kept header words are written from the mirror: reading the header again under them would
    // lose them (every path that drops the mirror applies or drops the kept stores first).
    invariant(this.nKept === 0 && this.keptHeader === 0, 'the hash map header is read again only without kept stores');
    const view = this.ctx.pool.view;
    const h = this.header;
    const st = this.st;
    st.count = readU64(view, h + H_COUNT);
    // Every entry takes a 64-byte slot or block: a larger count is damage (or a reader's
    // attempt reading mid-change), and walks bounded by it must stay bounded.
    if (st.count > view.byteLength / SLOT_SIZE) throw new CorruptionError('ECORRUPT', `hash map at ${h}: count ${st.count} exceeds what the pool holds`);
    this.format = view.getUint32(h + H_VERSION, true);
    if (this.format !== 2 && this.format !== VERSION) throw new CorruptionError('ECORRUPT', `hash map at ${h}: unknown format version`);
    st.capLog2 = readU64(view, h + H_CAPLOG);
    st.cursor = readU64(view, h + H_CURSOR);
    if (st.capLog2 < INITIAL_CAP_LOG2 || st.capLog2 > MAX_CAP_LOG2) {
      throw new CorruptionError('ECORRUPT', `hash map at ${h}: bad table size 2^${st.capLog2}`);
    }
    const dirBytes = 8 << (st.capLog2 - segShiftOf(st.capLog2));
    st.table = readRef(view, h + H_TABLE, dirBytes, 'hash map table');
    st.old = readRef(view, h + H_OLD, dirBytes >>> 1 || 8, 'hash map old table');
    if (st.table === 0 || (st.old !== 0 && st.cursor >= 2 ** (st.capLog2 - 1)) || (st.old === 0 && st.cursor !== 0) || st.cursor % MIGRATE_STEP !== 0) {
      throw new CorruptionError('ECORRUPT', `hash map at ${h}: inconsistent table state`);
    }
    this.dropSegments(1 << (st.capLog2 - segShiftOf(st.capLog2)));
    this.stValid = true;
  }

  /**
   * Whether segment `s` of the current table (or of the old one, `old`) is in use (st current):
   * always when no doubling migrates; while one does, a segment of the new table once a step
   * has entered it (one of its buckets is below the cursor, in either half), a segment of the
   * old table until the cursor has passed its end. The directory word of a segment not in use
   * is dead bytes (format 3): nothing reads it.
   */
  private segmentLive(old: boolean, s: number): boolean {
    const st = this.st;
    if (st.old === 0) return !old;
    const oldCap = 2 ** (st.capLog2 - 1);
    if (old) return (s + 1) * (1 << segShiftOf(st.capLog2 - 1)) > st.cursor;
    return ((s << segShiftOf(st.capLog2)) % oldCap) < st.cursor;
  }

  /** Forgets every cached segment reference; sizes `segs` for `nseg` segments. */
  private dropSegments(nseg: number): void {
    const segsSet = this.segsSet;
    if (this.segs.length !== nseg) {
      this.segs = new Float64Array(nseg);
    } else {
      for (let i = 0; i < segsSet.length; i++) this.segs[segsSet[i]!] = 0;
    }
    segsSet.length = 0;
  }

  /** Offset of the slot of bucket `b` of the table with directory `dir` and 2^capLog2 buckets. */
  private slotOf(view: DataView, dir: number, capLog2: number, b: number): number {
    const segShift = segShiftOf(capLog2);
    const seg = readRef(view, dir + (b >>> segShift) * 8, SLOT_SIZE << segShift, 'hash map segment');
    if (seg === 0) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: missing segment for bucket ${b}`);
    return seg + (b & ((1 << segShift) - 1)) * SLOT_SIZE;
  }

  /** The slot of the bucket that holds hash `h` now (old table when not yet migrated). Needs readState. */
  private homeSlot(view: DataView, h: number): number {
    const st = this.st;
    if (st.old !== 0) {
      const oldLog = st.capLog2 - 1;
      const bOld = h & ((1 << oldLog) - 1);
      if (bOld >= st.cursor) return this.slotOf(view, st.old, oldLog, bOld);
    }
    const segShift = segShiftOf(st.capLog2);
    const b = h & ((1 << st.capLog2) - 1);
    const s = b >>> segShift;
    let seg = this.segs[s]!;
    if (!(seg > 0)) {
      invariant(s < this.segs.length, 'the cached segment references are sized for the current table');
      seg = this.slotOf(view, st.table, st.capLog2, s << segShift);
      this.segs[s] = seg;
      this.segsSet.push(s);
    }
    return seg + (b & ((1 << segShift) - 1)) * SLOT_SIZE;
  }

  /**
   * `homeSlot` when no doubling migrates and the segment is cached (`segs`), else 0: the common
   * case of a lookup, small enough for V8 to inline into the walks (homeSlot is not).
   */
  private cachedHomeSlot(h: number): number {
    const st = this.st;
    if (st.old !== 0) return 0;
    const segShift = segShiftOf(st.capLog2);
    const b = h & ((1 << st.capLog2) - 1);
    // Out of range (never: segs is sized for the table) reads undefined, which is not > 0.
    const seg = this.segs[b >>> segShift]!;
    return seg > 0 ? seg + (b & ((1 << segShift) - 1)) * SLOT_SIZE : 0;
  }

  /**
   * The entry for `key`, or 0: the read path. A number key is hashed and compared from the
   * words of its encoding (`lookupNumber`); an ASCII string key (the common case) from the
   * string itself, in one pass each and without writing its encoding (same bytes, same hash:
   * pool-words.ts); any other key is encoded. Unlike `find`, it keeps no predecessor for a
   * write. Small on purpose: V8 inlines a get's calls only within a budget of bytecode (a warm
   * `has` took 44 instead of 57 ns with every call inlined, measured 2026-12-08).
   */
  private lookup(key: K): number {
    if (typeof key === 'number' && this.numberKeys && key === key) return this.lookupNumber(key);
    return this.lookupOther(key);
  }

  /**
   * `lookup` of a number key (not NaN) when `numberKeys`: `findNumber`'s walk for a read (no
   * foundSlot, foundPred), its key's words and hash computed in place (`numberKeyHi`,
   * `hashNumberKey32`: signed integers, never boxed), in one function on purpose (a copy, as
   * `findAscii` is). A get on a large map waits for a cache miss on its bucket slot, and how
   * much of that wait the CPU overlaps with the next get's miss depends on how few
   * instructions lie between the two: calls, stores of the key's words and checks repeated per
   * helper all count. Measured 2026-12-08 (100k entries, random order) against `findNumber`
   * reached through calls: a warm `has` 40 against 50 ns, a cold `get` 0.27 against 0.31 µs.
   */
  private lookupNumber(n: number): number {
    if (!this.stValid) this.readState();
    const hi = numberKeyHi(n);
    const lo = numberKeyLo();
    const h = hashNumberKey32(TAG_NUMBER, hi, lo, this.seed);
    const pool = this.ctx.pool;
    const view = pool.view;
    const bytes = pool.bytes;
    const size = bytes.length;
    const st = this.st;
    let e = this.cachedHomeSlot(h) || this.homeSlot(view, h);
    // A bucket whose stores this map still keeps must be read after them.
    if (this.keptSlots.size > 0 && this.keptSlots.has(e)) this.flushKept();
    const limit = st.count + 2;
    let steps = 0;
    while (e !== 0) {
      if (++steps > limit) this.chainTooLong();
      if (view.getInt32(e + E_HASH, true) === h && view.getUint32(e + E_KLEN, true) === NUMBER_KEY_LENGTH) {
        const k = e + ENTRY_HEADER;
        checkWithin(size, k, NUMBER_KEY_LENGTH, 'hash map key');
        if (bytes[k] === TAG_NUMBER && view.getInt32(k + 1, false) === hi && view.getInt32(k + 5, false) === lo) return e;
      }
      // readRefIn inline (it is called only to throw its error): no call per chained entry.
      const nlo = view.getUint32(e + E_NEXT, true);
      const nhi = view.getUint32(e + E_NEXT + 4, true);
      if (nlo === 0 && nhi === 0) return 0;
      const next = nlo + nhi * 4294967296;
      if (nhi >= 0x200000 || (nlo & 7) !== 0 || next + ENTRY_HEADER > size) readRefIn(view, size, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
      e = next;
    }
    return 0;
  }

  /** `lookup` of any key but a number one on the number path. */
  private lookupOther(key: K): number {
    if (typeof key === 'string' && key.length < this.asciiReadMax) {
      const h = hashTaggedAscii(TAG_STRING, key, this.seed);
      if (h >= 0) return this.findAscii(key, h);
    }
    const k = this.ctx.keys.encode(key);
    return this.find(k, hashBytes(k, 0, k.length, this.seed));
  }

  /**
   * `find` for the ASCII string `s` whose key encoding hashes to `h` (see `lookup`); no
   * foundPred. A copy of `find`'s walk on purpose: one walk taking either key form (a typeof
   * test per matching entry, foundPred kept) made get 8% slower (measured 2026-11-21).
   */
  private findAscii(s: string, h: number): number {
    this.readState();
    const view = this.ctx.pool.view;
    const bytes = this.ctx.pool.bytes;
    const klen = s.length + 1;
    // The walk starts at the slot itself: an empty slot's klen (0) matches no key.
    let e = this.homeSlot(view, h);
    if (this.keptSlots.size > 0 && this.keptSlots.has(e)) this.flushKept();
    const limit = this.st.count + 2;
    let steps = 0;
    while (e !== 0) {
      if (++steps > limit) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: chain longer than the map`);
      if (view.getUint32(e + E_HASH, true) === h && view.getUint32(e + E_KLEN, true) === klen) {
        checkInside(view, e + ENTRY_HEADER, klen, 'hash map key');
        if (taggedAsciiEqual(bytes, e + ENTRY_HEADER, TAG_STRING, s)) return e;
      }
      e = readRef(view, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
    }
    return 0;
  }

  /**
   * `find` for the number key whose encoding is TAG_NUMBER and the words `hi`, `lo`
   * (`numberKeyWords`) and hashes to `h`, compared in place without the encoding; sets
   * foundSlot and foundPred as `find` does (a write takes this path too). A copy of `find`'s
   * walk, as `findAscii` is, so that neither walk tests the key's form per entry.
   */
  private findNumber(hi: number, lo: number, h: number): number {
    if (!this.stValid) this.readState();
    const pool = this.ctx.pool;
    const view = pool.view;
    const bytes = pool.bytes;
    const size = bytes.length;
    // Compared as signed words: `h`, `hi`, `lo` may come unsigned (a write's), and an unsigned
    // word of 2^31 or more is compared as a double (see hashNumberKey32).
    const h32 = h | 0;
    const hi32 = hi | 0;
    const lo32 = lo | 0;
    const slot = this.cachedHomeSlot(h32) || this.homeSlot(view, h32);
    // A bucket whose stores this map still keeps must be read after them.
    if (this.keptSlots.size > 0 && this.keptSlots.has(slot)) this.flushKept();
    this.foundSlot = slot;
    let pred = 0;
    let e = slot;
    const limit = this.st.count + 2;
    let steps = 0;
    while (e !== 0) {
      if (++steps > limit) this.chainTooLong();
      if (view.getInt32(e + E_HASH, true) === h32 && view.getUint32(e + E_KLEN, true) === NUMBER_KEY_LENGTH) {
        checkWithin(size, e + ENTRY_HEADER, NUMBER_KEY_LENGTH, 'hash map key');
        if (numberKeyEqual(view, bytes, e + ENTRY_HEADER, TAG_NUMBER, hi32, lo32)) {
          this.foundPred = pred;
          return e;
        }
      }
      pred = e + E_NEXT;
      e = readRefIn(view, size, pred, ENTRY_HEADER, 'hash map entry');
    }
    this.foundPred = pred;
    return 0;
  }

  /** A walk's error (a function of its own: the walks stay small enough for V8 to inline). */
  private chainTooLong(): never {
    throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: chain longer than the map`);
  }

  /**
   * Finds the entry for encoded key `k` with hash `h`; 0 when absent. Sets foundSlot, and
   * foundPred: the word that references the entry found (0 when it is the slot's inline
   * entry), or the chain's last `next` word when absent.
   */
  private find(k: Uint8Array, h: number): number {
    this.readState();
    const view = this.ctx.pool.view;
    const bytes = this.ctx.pool.bytes;
    const klen = k.length;
    invariant(klen > 0, 'encoded keys are never empty (klen 0 marks an empty slot)');
    const slot = this.homeSlot(view, h);
    // A bucket whose stores this map still keeps must be read after them.
    if (this.keptSlots.size > 0 && this.keptSlots.has(slot)) this.flushKept();
    this.foundSlot = slot;
    let pred = 0;
    let e = slot;
    const limit = this.st.count + 2;
    let steps = 0;
    while (e !== 0) {
      if (++steps > limit) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: chain longer than the map`);
      if (view.getUint32(e + E_HASH, true) === h && view.getUint32(e + E_KLEN, true) === klen) {
        checkInside(view, e + ENTRY_HEADER, klen, 'hash map key');
        if (bytesEqual(k, bytes, e + ENTRY_HEADER, klen)) {
          this.foundPred = pred;
          return e;
        }
      }
      pred = e + E_NEXT;
      e = readRef(view, pred, ENTRY_HEADER, 'hash map entry');
    }
    this.foundPred = pred;
    return 0;
  }

  /**
   * Calls fn for every overflow-chain entry block (bucket order; inline entries are not
   * blocks), bounded by the counter. Needs nothing.
   */
  private forEachChainBlock(fn: (e: number) => void): void {
    this.readState();
    const st = this.st;
    const view = this.ctx.pool.view;
    const limit = st.count;
    let seen = 0;
    const walk = (slot: number): void => {
      let e = readRef(view, slot + E_NEXT, ENTRY_HEADER, 'hash map entry');
      while (e !== 0) {
        if (++seen > limit) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: more entries than its count`);
        fn(e);
        e = readRef(view, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
      }
    };
    if (st.old === 0) {
      const cap = 2 ** st.capLog2;
      for (let b = 0; b < cap; b++) walk(this.slotOf(view, st.table, st.capLog2, b));
    } else {
      const oldCap = 2 ** (st.capLog2 - 1);
      for (let b = 0; b < oldCap; b++) {
        if (b < st.cursor) {
          walk(this.slotOf(view, st.table, st.capLog2, b));
          walk(this.slotOf(view, st.table, st.capLog2, b + oldCap));
        } else {
          walk(this.slotOf(view, st.old, st.capLog2 - 1, b));
        }
      }
    }
  }

  /**
   * The iterator behind `keys`, `values`, `entries` (issue 19: it stays valid across writes).
   *
   * It visits keys in one total order that no write changes, fixed at its first step from the
   * table's size then, 2^c0 buckets (the old table's, while a doubling migrates): by `h mod
   * 2^c0` (h the key's hash; the bucket index in that table, so buckets come in memory order),
   * then by the hash's higher bits reversed (bit c0 most significant), then by encoded key bytes
   * (for equal hashes): the position `pos(h)` below, then the key. Every layout the table can
   * take lists this order bucket by bucket: in a table of 2^c >= 2^c0 buckets, bucket b holds
   * the hashes whose low c bits are b, i.e. one interval of positions (inside the interval of
   * bucket `b mod 2^c0`), and a doubling splits each interval into its two halves; while a
   * migration runs, an old bucket still unmoved covers both halves. (Redis's SCAN cursor walks
   * buckets in this reversed-bit order for the same reason; it keeps only a bucket cursor and
   * returns a bucket's keys in chain order, so a bucket split under it can hand back keys it
   * already gave: at least once.) In a smaller table (after `clear`, or a rollback of a
   * doubling) a bucket holds several of the first-level intervals whole, and a step takes only
   * the keys of its own. The iterator keeps just its place in the order: the position and a
   * copy of the last key returned. Each step finds the bucket covering the place in whatever
   * layout the table has now and returns the smallest key after it there, or moves on to the
   * next interval. So a step returns the smallest key present after the last one, like a sorted
   * map's iterator after a write: each key present for the whole iteration is returned exactly
   * once across doublings, migrations, `clear` and rollbacks; no key is returned twice; keys
   * added or removed meanwhile may or may not be. No DRAM grows with the map.
   *
   * Cost: a step scans one bucket (its slot and chain: ~1 entry at the table's load), comparing
   * keys only between equal hashes; without doublings meanwhile the buckets come in memory
   * order, as a plain scan of the table. After a doubling an interval spans 2^(c - c0) buckets
   * spread over the table; after a shrink, a bucket is scanned once per interval it holds.
   * Bounded work: a chain by the count (as every walk), the moves of one step by the number of
   * intervals (each moves the place forward by at least 2^(32 - 28) positions).
   */
  private iterate(mode: 0 | 1 | 2): IterableIterator<unknown> {
    this.ctx.assertOpen();
    return new MapIterator(this, mode, this.ctx.reader);
  }

  /** @internal One step of `it` (MapIterator.step): the next key, value or entry, or done. */
  iterStep(it: MapIterator): IteratorResult<unknown, undefined> {
    this.ctx.assertOpen();
    if (it.cursor === undefined) {
      this.readState();
      it.cursor = new MapCursor(this.st.old !== 0 ? this.st.capLog2 - 1 : this.st.capLog2);
    }
    const cursor = it.cursor;
    const e = this.advance(cursor);
    if (e === 0) return { done: true, value: undefined };
    // `advance` checked the entry's bytes lie in the pool.
    const pool = this.ctx.pool;
    const bytes = pool.bytes;
    const ks = e + ENTRY_HEADER;
    const klen = cursor.lastLen;
    const vlen = pool.view.getUint32(e + E_VLEN, true);
    const mode = it.mode;
    let value: unknown;
    if (mode === 0) value = this.ctx.keys.decode(bytes, ks, ks + klen);
    else if (mode === 1) value = this.ctx.values.decode(bytes, ks + klen, ks + klen + vlen);
    else value = [this.ctx.keys.decode(bytes, ks, ks + klen), this.ctx.values.decode(bytes, ks + klen, ks + klen + vlen)];
    return { done: false, value };
  }

  /**
   * One step of an iterator (see `iterate`): the entry with the smallest key after the
   * cursor's place, which becomes the new place (its key copied into the cursor), or 0 when
   * there is none. A plain function rather than the generator's body: it keeps no state across
   * a yield, and V8 optimizes it as any loop.
   */
  private advance(cur: MapCursor): number {
    if (cur.skipFirst >= 0) {
      if (cur.skipAt === this.version) {
        if (cur.skipFirst >= cur.firsts) return 0;
        cur.first = cur.skipFirst;
        cur.rest = cur.skipRest;
        cur.lastLen = -1;
      }
      cur.skipFirst = -1;
    }
    // No user code runs within a step: the table and the mapping stay as read here.
    this.flushKept();
    if (!this.stValid) this.readState();
    const st = this.st;
    const view = this.ctx.pool.view; // re-read each step: a write may have grown (remapped) the pool
    const bytes = this.ctx.pool.bytes;
    const limit = st.count + 2;
    const c0 = cur.c0;
    const low = cur.low;
    const per = cur.per;
    const perMask = per - 1;
    let first = cur.first;
    let rest = cur.rest;
    let lastLen = cur.lastLen;
    // The smallest key after the place in the bucket covering it (`best`), and whether another follows it.
    let best = 0;
    let bestRest = 0;
    let bestLen = 0;
    let more = false;
    let endFirst = 0;
    let endRest = 0;
    for (;;) {
      // A hash at the place, and the bucket that holds it now.
      const h = rest === 0 ? first : (rev32(rest) | first) >>> 0;
      let bits = st.capLog2;
      let slot: number;
      if (st.old !== 0 && (h & ((1 << (bits - 1)) - 1)) >= st.cursor) {
        bits--;
        slot = this.slotOf(view, st.old, bits, h & ((1 << bits) - 1));
      } else slot = this.homeSlot(view, h);
      const bucketMask = (1 << bits) - 1;
      // The positions that bucket covers: an interval of the first-level bucket, or all of it
      // (powers of two up to 2^28: integer arithmetic, which this loop depends on for speed).
      const span = bits >= c0 ? 1 << (32 - bits) : per;
      endRest = (rest & ~(span - 1)) + span;
      endFirst = first;
      if (endRest >= per) {
        endFirst++;
        endRest = 0;
      }
      let e = slot; // the slot's inline entry first (skipped when empty), then its chain
      let steps = 0;
      while (e !== 0) {
        if (++steps > limit) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: chain longer than the map`);
        const klen = view.getUint32(e + E_KLEN, true);
        if (klen !== 0) {
          const eh = view.getUint32(e + E_HASH, true);
          if (((eh ^ h) & bucketMask) !== 0) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: entry ${e} is in a bucket its hash is not`);
          // In a table smaller than the first level, the bucket holds other first-level buckets too.
          if ((eh & low) === first) {
            const r = rev32(eh) & perMask;
            if (r > rest || (r === rest && (lastLen < 0 || this.keyAfter(view, bytes, e, klen, cur.last, lastLen)))) {
              if (best === 0) {
                best = e;
                bestRest = r;
                bestLen = klen;
              } else {
                more = true;
                if (r < bestRest || (r === bestRest && !this.keyAfter(view, bytes, e, klen, bytes.subarray(best + ENTRY_HEADER, best + ENTRY_HEADER + bestLen), bestLen))) {
                  best = e;
                  bestRest = r;
                  bestLen = klen;
                }
              }
            }
          }
        } else if (e !== slot) {
          throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: chain entry ${e} has an empty key`);
        }
        e = readRef(view, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
      }
      if (best !== 0) break;
      // Nothing after the place in its interval: the next interval (the place only moves forward).
      if (endFirst >= cur.firsts) {
        cur.first = endFirst;
        cur.rest = 0;
        return 0;
      }
      first = endFirst;
      rest = endRest;
      lastLen = -1;
    }
    const ks = best + ENTRY_HEADER;
    checkInside(view, ks, bestLen + view.getUint32(best + E_VLEN, true), 'hash map entry');
    let last = cur.last;
    if (last.length < bestLen) cur.last = last = new Uint8Array(Math.max(bestLen, 2 * last.length));
    for (let i = 0; i < bestLen; i++) last[i] = bytes[ks + i]!;
    cur.lastLen = bestLen;
    cur.first = first;
    cur.rest = bestRest;
    if (!more) {
      cur.skipFirst = endFirst;
      cur.skipRest = endRest;
      cur.skipAt = this.version;
    }
    return best;
  }

  /** True when the key of entry `e` (`klen` bytes) sorts after k[0, kLen) (equal hashes: the rare tie). */
  private keyAfter(view: DataView, bytes: Uint8Array, e: number, klen: number, k: Uint8Array, kLen: number): boolean {
    checkInside(view, e + ENTRY_HEADER, klen, 'hash map key');
    return compareBytes(bytes, e + ENTRY_HEADER, klen, k, 0, kLen) > 0;
  }

  // ---------------------------------------------------------------- internals: writes

  /**
   * Marks a write: invalidates iterators now and again if `tx` rolls back. The mirror stays
   * valid: every write keeps it equal to the header it leaves (written or kept), and any error
   * out of a write drops it (`afterFailedWrite`).
   */
  private touched(tx: Transaction): void {
    this.version++;
    // Once per transaction (the heap reuses one Transaction object, so compare serials), and
    // only when the context does not already invalidate us after an abort.
    if (!this.ctx.invalidatesOnAbort && this.hookSerial !== tx.serial) {
      this.hookSerial = tx.serial;
      tx.onAbort(this.abortHook);
    }
  }

  private encodeKey(key: K): Uint8Array {
    const k = this.ctx.keys.encode(key);
    if (k.length > this.ctx.limits.maxKeySize) {
      throw new TooBigError(`key of ${k.length} bytes exceeds the limit of ${this.ctx.limits.maxKeySize}`);
    }
    return k;
  }

  private setIn(tx: Transaction, key: K, value: V): void {
    const pool = this.ctx.pool;
    // The value first: its getters and toJSON may read the store, and a read encodes its key
    // into the key codec's scratch, which holds `k` below until the entry is written. Nothing
    // after the key's encoding runs user code. The value's encoding stays in the value codec's
    // scratch until `writeEncoded` (writes, the only other encodes, are refused meanwhile).
    // A key rejected after this leaves at most a new record structure in the transaction:
    // reachable and consistent if it commits, rolled back (memory too) if it aborts.
    const values = this.ctx.values;
    const vlen = values.encodeToScratch(value, tx);
    if (vlen > this.ctx.limits.maxValueSize) {
      throw new TooBigError(`value of ${vlen} bytes exceeds the limit of ${this.ctx.limits.maxValueSize}`);
    }
    // A number key is found without its encoding (`findNumber`), which only an insert or a
    // relocation writes: encoded below, once the update in place is ruled out (encoding a
    // number runs no user code, so it may come after the value's).
    let k: Uint8Array | undefined;
    let klen: number;
    let h: number;
    let e: number;
    if (typeof key === 'number' && this.numberKeys && key === key) {
      numberKeyWords(key);
      const hi = NUMBER_KEY_WORDS[0]!;
      const lo = NUMBER_KEY_WORDS[1]!;
      klen = NUMBER_KEY_LENGTH;
      h = hashNumberKey(TAG_NUMBER, hi, lo, this.seed);
      e = this.findNumber(hi, lo, h);
    } else {
      k = this.encodeKey(key);
      klen = k.length;
      h = hashBytes(k, 0, klen, this.seed);
      e = this.find(k, h);
    }
    const pred = this.foundPred;
    const slot = this.foundSlot;
    const inline = e !== 0 && pred === 0; // the entry found is the slot's inline one
    const ranges = this.ranges;
    ranges.clear();
    this.touched(tx);

    if (e !== 0 && ENTRY_HEADER + klen + vlen <= (inline ? SLOT_SIZE : pool.usableSize(e))) {
      // Update in place: the value bytes, and their length word when it changes.
      const vstart = e + ENTRY_HEADER + klen;
      const sameLength = pool.view.getUint32(e + E_VLEN, true) === vlen;
      if (!sameLength) ranges.push2(e + E_VLEN, 4);
      if (vlen > 0) ranges.push2(vstart, vlen);
      if (ranges.length === 0) return; // an empty value over an empty value: nothing changes
      this.headerRanges.clear();
      this.logStores(tx, ranges);
      if (!sameLength) this.put32(e + E_VLEN, vlen);
      if (vlen > 0) this.putValue(vstart, vlen);
      this.keptIn(slot);
      return;
    }

    if (k === undefined) {
      k = this.encodeKey(key);
      invariant(k.length === klen, 'a number key encodes to the length findNumber compared');
    }
    // A new key goes into its home slot when that is empty and the entry fits; anything else
    // (a new key that does not, an entry that outgrew its place) gets a block of the chain.
    const intoSlot = e === 0 && ENTRY_HEADER + klen + vlen <= SLOT_SIZE && pool.view.getUint32(slot + E_KLEN, true) === 0;
    // Allocate everything first (allocation may grow and remap the pool).
    this.pendingFrees.clear();
    const fresh = intoSlot ? 0 : tx.alloc(ENTRY_HEADER + klen + vlen);
    const st = this.st;
    let newDir = 0;
    if (e === 0 && st.old === 0 && st.count + 1 > 2 ** st.capLog2 && st.capLog2 < MAX_CAP_LOG2) {
      const newLog = st.capLog2 + 1;
      newDir = tx.alloc(8 << (newLog - segShiftOf(newLog)), { zero: true });
    }
    // A migration step, which stops before the op's own old bucket (see prepareMigration).
    if (this.writesSerial !== tx.serial) {
      this.writesSerial = tx.serial;
      this.writesInTx = 0;
    }
    this.writesInTx++;
    const stepEnd = st.old !== 0 ? this.prepareMigration(tx, h) : -1;

    // The entry's bytes but its hash/klen word: a fresh block, or the payload of an empty
    // slot. That payload is dead bytes if the slot was empty when the transaction began (a
    // rollback leaves it empty): declared no-snapshot, before the first store to it, while
    // the hash/klen word, snapshotted below, keeps the slot empty until the op's stores. A
    // slot this transaction emptied is logged with the op's ranges, and filled after them.
    const at = intoSlot ? slot : fresh;
    const slotLive = intoSlot && this.emptiedIn(tx).has(slot);
    if (intoSlot && !slotLive) tx.addRangeNoSnapshot(slot + SLOT_PAYLOAD, SLOT_PAYLOAD_LEN);
    let view = pool.view;
    if (!intoSlot) {
      view.setUint32(fresh + E_HASH, h, true);
      view.setUint32(fresh + E_KLEN, klen, true);
    }
    if (!slotLive) this.writeEntryTail(at, k, vlen);

    // Snapshot only the header words this write changes: a resize or a migration step changes
    // the table words, a plain insert only the count (8 logged bytes instead of 48), and a
    // relocation without a step none.
    const headerRanges = this.headerRanges;
    headerRanges.clear();
    if (newDir !== 0 || stepEnd >= 0) headerRanges.push2(this.header + H_MUTABLE, H_MUTABLE_LEN);
    else if (e === 0) headerRanges.push2(this.header + H_COUNT, 8);
    // A format-2 map becomes format 3 before its first step over dead slots (FORMAT_DEAD_SLOTS).
    const upgrade = (newDir !== 0 || stepEnd >= 0) && this.format < FORMAT_DEAD_SLOTS;
    if (upgrade) headerRanges.push2(this.header + H_VERSION, 4);
    if (slotLive) ranges.push2(slot + E_HASH, SLOT_SIZE - E_HASH); // hash/klen and payload
    else if (intoSlot) ranges.push2(slot + E_HASH, 8); // hash and klen
    else if (inline) ranges.push2(slot, 16); // the chain head and hash/klen: the slot empties
    else ranges.push2(pred, 8);
    this.migrationRanges(tx, stepEnd);
    // Frees before the snapshot: their allocator snapshots share its drain, and a freed
    // block keeps its contents until commit (the step below still reads old segments).
    if (e !== 0 && !inline) this.pendingFrees.push(e);
    this.freePending(tx);
    // The step's buckets move now (dead bytes, stored at once); the links it changes join the
    // op's ranges: one logRanges for both.
    this.moveBuckets(pool.view, stepEnd, ranges);
    this.logStores(tx, ranges);
    view = pool.view;

    if (e === 0) {
      if (intoSlot) {
        if (slotLive) this.keepEntryTail(slot, k, vlen);
        // hash, then klen: the slot holds the entry from here on
        this.put64(slot + E_HASH, h + klen * 0x100000000);
      } else {
        // Insert at the end of the chain (pred is the chain's last word): no other word changes.
        writeU64(view, fresh + E_NEXT, 0);
        this.put64(pred, fresh);
      }
      st.count++;
      let words = HEADER_COUNT;
      if (newDir !== 0) {
        st.old = st.table;
        st.table = newDir;
        st.capLog2++;
        st.cursor = 0;
        this.dropSegments(1 << (st.capLog2 - segShiftOf(st.capLog2)));
        words |= HEADER_TABLE;
      }
      this.putHeader(words);
    } else if (inline) {
      // Relocate out of the slot: the new block heads the slot's chain, the slot empties.
      writeU64(view, fresh + E_NEXT, readU64(view, slot + E_NEXT));
      this.put64(slot + E_HASH, 0);
      this.put64(slot + E_NEXT, fresh);
      this.emptiedIn(tx).add(slot);
    } else {
      // Relocate: the new block replaces the old one in its chain.
      writeU64(view, fresh + E_NEXT, readU64(view, e + E_NEXT));
      this.put64(pred, fresh);
    }
    this.keptIn(slot);
    this.finishStep(stepEnd);
    if (upgrade) {
      this.format = FORMAT_DEAD_SLOTS;
      this.upgradedIn = tx.serial;
      this.putHeader(HEADER_VERSION);
    }
  }

  /** An entry's vlen, pad, key and value (the last encoded value) at `at`: fresh or dead bytes, stored at once. */
  private writeEntryTail(at: number, k: Uint8Array, vlen: number): void {
    const pool = this.ctx.pool;
    pool.view.setUint32(at + E_VLEN, vlen, true);
    pool.view.setUint32(at + 20, 0, true);
    pool.bytes.set(k, at + ENTRY_HEADER);
    this.ctx.values.writeEncoded(pool.bytes, at + ENTRY_HEADER + k.length);
  }

  /** `writeEntryTail` into live (snapshotted) bytes: stored or kept, as the write's snapshots allow. */
  private keepEntryTail(at: number, k: Uint8Array, vlen: number): void {
    this.put32(at + E_VLEN, vlen);
    this.put32(at + 20, 0);
    this.putBytes(at + ENTRY_HEADER, k, 0, k.length);
    this.putValue(at + ENTRY_HEADER + k.length, vlen);
  }

  // ---------------------------------------------------------------- internals: kept stores

  /**
   * Snapshots the write's ranges without a drain (`tx.logRanges`: `headerRanges`, then the
   * buckets' `ranges`) and decides how it stores into each group: at once when their snapshots
   * are durable (or they are fresh or dead bytes), else kept until the next drain (with our
   * hook registered for it). A bucket store made at once never follows a kept store to the same
   * word: a bucket with kept stores is drained before any write reads it (`find`,
   * `prepareMigration`); the header's words are written from the mirror, so the last write
   * wins either way.
   */
  private logStores(tx: Transaction, ranges: NumberList): void {
    const headerRanges = this.headerRanges;
    const headerDirect = headerRanges.length === 0 || tx.logRanges(headerRanges.array());
    const direct = tx.logRanges(ranges.array());
    this.direct = direct;
    this.headerDirect = headerDirect;
    if ((!direct || !headerDirect) && !this.hookArmed) {
      this.hookArmed = true;
      tx.afterDrain(this.drainHook);
    }
  }

  /** Lists `slot`'s bucket as holding kept stores when the running write kept any. */
  private keptIn(slot: number): void {
    if (!this.direct) this.keptSlots.add(slot);
  }

  private keep(kind: number, offset: number, a: number, b: number): void {
    let ops = this.keptOps;
    const i = 4 * this.nKept;
    if (i + 4 > ops.length) {
      const bigger = new Float64Array(ops.length * 2);
      bigger.set(ops);
      this.keptOps = ops = bigger;
    }
    ops[i] = kind;
    ops[i + 1] = offset;
    ops[i + 2] = a;
    ops[i + 3] = b;
    this.nKept++;
  }

  /** Room for `n` more kept bytes; returns where they go. */
  private keptRoom(n: number): number {
    const at = this.nKeptBytes;
    if (at + n > this.keptBytes.length) {
      const bigger = new Uint8Array(Math.max(2 * this.keptBytes.length, at + n));
      bigger.set(this.keptBytes.subarray(0, at));
      this.keptBytes = bigger;
    }
    this.nKeptBytes = at + n;
    return at;
  }

  /** Stores into a live word the running write snapshotted: at once, or kept. */
  private put32(offset: number, value: number): void {
    if (this.direct) this.ctx.pool.view.setUint32(offset, value, true);
    else this.keep(KEEP_U32, offset, value, 0);
  }

  private put64(offset: number, value: number): void {
    if (this.direct) writeU64(this.ctx.pool.view, offset, value);
    else this.keep(KEEP_U64, offset, value, 0);
  }

  private putBytes(offset: number, src: Uint8Array, start: number, length: number): void {
    if (this.direct) {
      this.ctx.pool.bytes.set(src.subarray(start, start + length), offset);
      return;
    }
    const at = this.keptRoom(length);
    const kept = this.keptBytes;
    if (length <= COPY_LOOP_MAX) for (let j = 0; j < length; j++) kept[at + j] = src[start + j]!;
    else kept.set(src.subarray(start, start + length), at);
    this.keep(KEEP_BYTES, offset, at, length);
  }

  /** The last encoded value (`vlen` bytes, in the value codec's scratch) at `offset`. */
  private putValue(offset: number, vlen: number): void {
    if (this.direct) {
      this.ctx.values.writeEncoded(this.ctx.pool.bytes, offset);
      return;
    }
    const at = this.keptRoom(vlen);
    this.ctx.values.writeEncoded(this.keptBytes, at);
    this.keep(KEEP_BYTES, offset, at, vlen);
  }

  /** The header words `which` (HEADER_*) from the mirror: at once, or kept. */
  private putHeader(which: number): void {
    if (this.headerDirect) this.writeHeaderWords(this.ctx.pool.view, which);
    else this.keptHeader |= which;
  }

  private writeHeaderWords(view: DataView, which: number): void {
    const st = this.st;
    const h = this.header;
    if ((which & HEADER_COUNT) !== 0) writeU64(view, h + H_COUNT, st.count);
    if ((which & HEADER_TABLE) !== 0) {
      writeU64(view, h + H_TABLE, st.table);
      writeU64(view, h + H_CAPLOG, st.capLog2);
      writeU64(view, h + H_OLD, st.old);
      writeU64(view, h + H_CURSOR, st.cursor);
    }
    if ((which & HEADER_VERSION) !== 0) view.setUint32(h + H_VERSION, this.format, true);
  }

  /** The drain hook: makes every kept store, in order, then the kept header words. */
  private applyKept(): void {
    this.hookArmed = false;
    const pool = this.ctx.pool;
    const view = pool.view;
    const bytes = pool.bytes;
    const ops = this.keptOps;
    for (let i = 0; i < 4 * this.nKept; i += 4) {
      const kind = ops[i]!;
      const offset = ops[i + 1]!;
      if (kind === KEEP_U32) view.setUint32(offset, ops[i + 2]!, true);
      else if (kind === KEEP_U64) writeU64(view, offset, ops[i + 2]!);
      else {
        // A kept byte range is usually short (a value, a key): a loop then, not a view made for `set`.
        const kept = this.keptBytes;
        const from = ops[i + 2]!;
        const n = ops[i + 3]!;
        invariant(from + n <= this.nKeptBytes && offset + n <= bytes.length, 'a kept byte range lies inside its buffers');
        if (n <= COPY_LOOP_MAX) for (let j = 0; j < n; j++) bytes[offset + j] = kept[from + j]!;
        else bytes.set(kept.subarray(from, from + n), offset);
      }
    }
    if (this.keptHeader !== 0) this.writeHeaderWords(view, this.keptHeader);
    this.clearKept();
  }

  private clearKept(): void {
    this.nKept = 0;
    this.nKeptBytes = 0;
    this.keptHeader = 0;
    this.keptSlots.clear();
  }

  /** Forgets the kept stores (their transaction rolled back, or a write failed half way). */
  private dropKept(): void {
    this.clearKept();
    this.hookArmed = false;
    this.direct = true;
    this.headerDirect = true;
  }

  /**
   * Makes the kept stores now (a drain of the running transaction), before a read that needs
   * them. When that transaction was rolled back meanwhile, they are forgotten with it.
   */
  private flushKept(): void {
    if (this.nKept === 0 && this.keptHeader === 0) return;
    const tx = this.ctx.pool.currentTransaction;
    if (tx === undefined || !this.hookArmed) {
      this.dropKept();
      this.stValid = false;
      return;
    }
    tx.drain();
    invariant(this.nKept === 0 && this.keptHeader === 0, 'a drain makes the kept stores');
  }

  /**
   * After an error out of a write: one raised before anything was written leaves the mirror
   * and the kept stores as they were (the transaction goes on); any other may have stopped
   * half way, and dooms the transaction: its kept stores are dropped (they would be rolled
   * back) and the header is read again from the pool.
   */
  private afterFailedWrite(err: unknown): void {
    if (leftPoolUntouched(err)) return;
    this.dropKept();
    this.stValid = false;
  }

  /** The slots emptied in `tx` so far (see `emptied`). */
  private emptiedIn(tx: Transaction): Set<number> {
    if (this.emptiedSerial !== tx.serial) {
      this.emptiedSerial = tx.serial;
      // Set#clear allocates a new table even when empty: 4% of an insert's time (profiled).
      if (this.emptied.size > 0) this.emptied.clear();
    }
    return this.emptied;
  }

  private freePending(tx: Transaction): void {
    const frees = this.pendingFrees;
    for (let i = 0; i < frees.length; i++) tx.free(frees.at(i));
    frees.clear();
  }

  /**
   * Unlinks and frees the entry. A delete takes no migration step: it must never allocate,
   * so that a full pool can always be emptied (inserts alone move the migration along fast
   * enough, see MIGRATE_STEP).
   */
  private deleteIn(tx: Transaction, key: K): boolean {
    const pool = this.ctx.pool;
    const k = this.ctx.keys.encode(key);
    const e = this.find(k, hashBytes(k, 0, k.length, this.seed));
    if (e === 0) return false;
    const pred = this.foundPred;
    const slot = this.foundSlot;
    this.touched(tx);
    const ranges = this.ranges;
    ranges.clear();
    // A delete changes the count, no table word; then it empties the slot (its hash/klen word)
    // or unlinks and frees the block.
    this.headerRanges.clear();
    this.headerRanges.push2(this.header + H_COUNT, 8);
    ranges.push2(pred === 0 ? e + E_HASH : pred, 8);
    if (pred !== 0) tx.free(e); // before the snapshot, sharing its drain; the block's contents last until commit
    this.logStores(tx, ranges);
    if (pred === 0) {
      this.put64(e + E_HASH, 0);
      this.emptiedIn(tx).add(e);
    } else {
      this.put64(pred, readU64(pool.view, e + E_NEXT));
    }
    this.st.count--;
    this.putHeader(HEADER_COUNT);
    this.keptIn(slot);
    return true;
  }

  private clearIn(tx: Transaction): void {
    this.flushKept();
    this.readState();
    if (this.st.count === 0 && this.st.old === 0 && this.st.capLog2 === INITIAL_CAP_LOG2) return;
    this.touched(tx);
    const old = [...this.ownedBlocks()].slice(1); // everything but the header
    const dir = tx.alloc(8, { zero: true });
    const seg = tx.alloc(SLOT_SIZE << INITIAL_CAP_LOG2, { zero: true });
    for (const b of old) tx.free(b);
    const ranges = this.ranges;
    ranges.clear();
    ranges.push2(this.header + H_MUTABLE, H_MUTABLE_LEN);
    tx.addRanges(ranges.array());
    const view = this.ctx.pool.view;
    writeU64(view, dir, seg);
    writeU64(view, this.header + H_COUNT, 0);
    writeU64(view, this.header + H_TABLE, dir);
    writeU64(view, this.header + H_CAPLOG, INITIAL_CAP_LOG2);
    writeU64(view, this.header + H_OLD, 0);
    writeU64(view, this.header + H_CURSOR, 0);
  }

  /**
   * First part of a migration step (st current, migrating): picks the step's old buckets,
   * allocates the new table's segments the step enters and frees an old segment it finishes.
   * Returns the new cursor, or -1 when the op takes no step. Must run before the op's snapshot
   * (allocation first, one snapshot call). New segments are `noFlush`: their slots are dead
   * until a step migrates them, and the step declares the slots it writes (`migrationRanges`).
   * A directory word of the new table is dead until its segment is entered (`segmentLive`), so
   * whether to allocate depends on the cursor alone, never on the word.
   *
   * The step moves old buckets [cursor, end), end the next multiple of `stepSizeOf` (a
   * cursor another ferrite left is a multiple of MIGRATE_STEP only), but stops before the op's
   * own old bucket `h mod oldCap` (rounded down to a multiple of MIGRATE_STEP; no step when
   * that is the cursor): the step would have to read the op's stores, which may be kept. The
   * next write goes on; the migration still ends long before the next doubling is due.
   */
  private prepareMigration(tx: Transaction, h: number): number {
    const st = this.st;
    const oldLog = st.capLog2 - 1;
    const oldCap = 2 ** oldLog;
    const size = this.writesInTx > this.bigStepsAfter ? stepSizeOf(oldCap, st.capLog2, this.stepsPerMigration) : MIGRATE_STEP;
    let end = Math.min(st.cursor - (st.cursor % size) + size, oldCap);
    const own = h & (oldCap - 1);
    if (own >= st.cursor && own < end) end = own - (own % MIGRATE_STEP);
    if (end === st.cursor) return -1;
    const segShift = segShiftOf(st.capLog2);
    // The step's new buckets are [cursor, end) and [cursor + oldCap, end + oldCap): a step
    // inside one aligned run of `size` buckets (a power of two up to a segment) keeps each half
    // in one segment, entered when the cursor is at its start (a table of 2^5 or 2^6 buckets
    // is one segment, which both halves share: entered at cursor 0).
    invariant(
      end > st.cursor && st.cursor % MIGRATE_STEP === 0 && end % MIGRATE_STEP === 0 && (end - 1) >>> segShift === st.cursor >>> segShift,
      'a step moves whole groups of MIGRATE_STEP buckets inside one segment per half',
    );
    let view = this.ctx.pool.view;
    // The step's old buckets must be read as the pool holds them after every kept store.
    const oldFirst = this.slotOf(view, st.old, oldLog, st.cursor);
    if (this.keptSlots.size > 0) {
      for (let i = 0; i < end - st.cursor; i++) {
        if (this.keptSlots.has(oldFirst + i * SLOT_SIZE)) {
          this.flushKept();
          break;
        }
      }
    }
    const newSegs = this.newSegs;
    newSegs.clear();
    this.pendingFrees.clear();
    if (st.cursor % (1 << segShift) === 0) {
      const halves = (1 << segShift) > oldCap ? 1 : 2;
      for (let half = 0; half < halves; half++) {
        const dirWord = st.table + ((st.cursor + half * oldCap) >>> segShift) * 8;
        let seg: number;
        if (this.stepsAsFormat2(tx)) seg = tx.alloc(SLOT_SIZE << segShift, { zero: true });
        else {
          seg = tx.alloc(SLOT_SIZE << segShift, { noFlush: true });
          // Dead bytes, neither flushed nor declared: filling them only brings their lines into
          // the cache, where the next steps' stores find them (a store into a line the CPU does
          // not hold waits for it: 8 such waits a step otherwise; 7-12% of a migrating insert).
          this.ctx.pool.bytes.fill(0, seg, seg + (SLOT_SIZE << segShift));
        }
        newSegs.push2(dirWord, seg);
      }
    }
    // Free the old segment the step finishes (its directory word is dead from then on).
    const oldSegShift = segShiftOf(oldLog);
    view = this.ctx.pool.view; // an allocation may have grown the pool
    if (end === oldCap || end % (1 << oldSegShift) === 0) {
      const s = (end - 1) >>> oldSegShift;
      const seg = readRef(view, st.old + s * 8, SLOT_SIZE << oldSegShift, 'hash map segment');
      if (seg === 0) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: old segment ${s} missing before its migration`);
      // Freed just before the snapshot; the step still reads them (contents last until commit).
      this.pendingFrees.push(seg);
      if (end === oldCap) this.pendingFrees.push(st.old);
    }
    // The step's first slots, read once: the old one, and the new one of each half (in a
    // segment just allocated, not yet hooked, or through the directory).
    this.stepOld = oldFirst;
    this.stepLo = this.targetSlot(view, st.cursor);
    this.stepHi = this.targetSlot(view, st.cursor + oldCap);
    return end;
  }

  /** The slot of new bucket `b` during a step: in a segment `prepareMigration` just allocated (not yet hooked), or through the directory. */
  private targetSlot(view: DataView, b: number): number {
    const st = this.st;
    const segShift = segShiftOf(st.capLog2);
    const dirWord = st.table + (b >>> segShift) * 8;
    const newSegs = this.newSegs;
    for (let i = 0; i < newSegs.length; i += 2) {
      if (newSegs.at(i) === dirWord) return newSegs.at(i + 1) + (b & ((1 << segShift) - 1)) * SLOT_SIZE;
    }
    return this.slotOf(view, st.table, st.capLog2, b);
  }

  /**
   * Declares the dead bytes a migration step fills as no-snapshot space (st current, called
   * before the op writes): the new slots of its buckets and the directory words of the
   * segments it enters (format 3: nothing reads them before this step, so it writes them whole
   * and nothing needs their old bytes). The live words it changes — the `next` words of chain
   * entries whose successor changes, and the header — are logged with the op's ranges
   * (`moveBuckets`, the caller).
   */
  private migrationRanges(tx: Transaction, end: number): void {
    if (end < 0) return;
    const n = end - this.st.cursor;
    if (this.stepsAsFormat2(tx)) {
      // Snapshotted (their old bytes are zeros a format-2 map relies on; the segments are
      // fresh zeroed blocks): one transaction per map that was format 2 pays this once.
      const ranges: number[] = [];
      for (let i = 0; i < this.newSegs.length; i += 2) ranges.push(this.newSegs.at(i), 8);
      ranges.push(this.stepLo, n * SLOT_SIZE, this.stepHi, n * SLOT_SIZE);
      tx.addRanges(ranges);
      return;
    }
    for (let i = 0; i < this.newSegs.length; i += 2) tx.addRangeNoSnapshot(this.newSegs.at(i), 8);
    // The new slots of the step: two runs of consecutive slots (one per half, each in one segment).
    tx.addRangeNoSnapshot(this.stepLo, n * SLOT_SIZE);
    tx.addRangeNoSnapshot(this.stepHi, n * SLOT_SIZE);
  }

  /** Whether a step in `tx` writes the new table as format 2 did (see `upgradedIn`). */
  private stepsAsFormat2(tx: Transaction): boolean {
    return this.format < FORMAT_DEAD_SLOTS || this.upgradedIn === tx.serial;
  }

  /**
   * Second part of a migration step (after `migrationRanges`, before the op's snapshot): moves
   * old buckets [cursor, end) into the new table. Each new slot is written whole (chain head,
   * hash/klen: an inline entry or empty) and the entered segments are hooked into the
   * directory, at once (dead bytes declared no-snapshot); a chain is split keeping its order,
   * so only the `next` words whose successor goes to the other new bucket change: those are
   * gathered in one walk (`links`) and their ranges appended to `ranges`, which the op logs
   * with its own; `finishStep` stores them. The op never changes a bucket of its own step
   * (`prepareMigration`), so the walk reads only committed or stored links, and the op's
   * stores touch none of the step's words. The stored hash of each entry picks its new
   * bucket: no key is hashed again.
   */
  private moveBuckets(view: DataView, end: number, ranges: NumberList): void {
    if (end < 0) return;
    const st = this.st;
    const bytes = this.ctx.pool.bytes;
    const oldCap = 2 ** (st.capLog2 - 1);
    const mask = 2 ** st.capLog2 - 1;
    for (let i = 0; i < this.newSegs.length; i += 2) writeU64(view, this.newSegs.at(i), this.newSegs.at(i + 1));
    const oldFirst = this.stepOld;
    const loFirst = this.stepLo;
    const hiFirst = this.stepHi;
    const links = this.links;
    links.clear();
    this.linkSlots.clear();
    for (let i = st.cursor; i < end; i++) {
      const at = (i - st.cursor) * SLOT_SIZE;
      const oldSlot = oldFirst + at;
      const loSlot = loFirst + at;
      const hiSlot = hiFirst + at;
      // Both slots start empty (their old bytes are dead); the inline entry moves to its own.
      writeU64(view, loSlot + E_HASH, 0);
      writeU64(view, hiSlot + E_HASH, 0);
      if (view.getUint32(oldSlot + E_KLEN, true) !== 0) {
        const b = view.getUint32(oldSlot + E_HASH, true) & mask;
        if (b !== i && b !== i + oldCap) {
          throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: the entry in old slot ${i} hashes elsewhere`);
        }
        const target = b === i ? loSlot : hiSlot;
        bytes.copyWithin(target + E_HASH, oldSlot + E_HASH, oldSlot + SLOT_SIZE);
      }
      let loHead = 0;
      let hiHead = 0;
      let lo = 0;
      let hi = 0;
      const linksBefore = links.length;
      let e = readRef(view, oldSlot + E_NEXT, ENTRY_HEADER, 'hash map entry');
      let steps = 0;
      while (e !== 0) {
        if (++steps > st.count + 2) throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: chain longer than the map`);
        const next = readRef(view, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
        const b = view.getUint32(e + E_HASH, true) & mask;
        if (b !== i && b !== i + oldCap) {
          throw new CorruptionError('ECORRUPT', `hash map at ${this.header}: entry ${e} is in old bucket ${i} but hashes elsewhere`);
        }
        // Link e after the last entry of its new chain; a `next` word changes only if it differs.
        if (b === i) {
          if (lo === 0) loHead = e;
          else if (readU64(view, lo + E_NEXT) !== e) links.push2(lo + E_NEXT, e);
          lo = e;
        } else {
          if (hi === 0) hiHead = e;
          else if (readU64(view, hi + E_NEXT) !== e) links.push2(hi + E_NEXT, e);
          hi = e;
        }
        e = next;
      }
      if (lo !== 0 && readU64(view, lo + E_NEXT) !== 0) links.push2(lo + E_NEXT, 0);
      if (hi !== 0 && readU64(view, hi + E_NEXT) !== 0) links.push2(hi + E_NEXT, 0);
      writeU64(view, loSlot + E_NEXT, loHead);
      writeU64(view, hiSlot + E_NEXT, hiHead);
      if (links.length > linksBefore) this.linkSlots.push2(loSlot, hiSlot);
    }
    // The changed links: every one is a word of an old chain (live), logged with the op's ranges.
    for (let i = 0; i < links.length; i += 2) ranges.push2(links.at(i), 8);
  }

  /**
   * Last part of a migration step (after the op's snapshot): stores the links `moveBuckets`
   * gathered, at once or kept like the op's stores (then both new buckets of a bucket with kept
   * links are listed: reads find them there), and moves the cursor (in the mirror; the header
   * words are the caller's snapshot).
   */
  private finishStep(end: number): void {
    if (end < 0) return;
    const st = this.st;
    const links = this.links;
    for (let i = 0; i < links.length; i += 2) this.put64(links.at(i), links.at(i + 1));
    if (!this.direct) for (let i = 0; i < this.linkSlots.length; i++) this.keptSlots.add(this.linkSlots.at(i));
    links.clear();
    this.linkSlots.clear();
    if (end === 2 ** (st.capLog2 - 1)) {
      st.old = 0;
      st.cursor = 0;
    } else {
      st.cursor = end;
    }
    this.putHeader(HEADER_TABLE);
  }

  private validateInto(problems: string[]): void {
    const view = this.ctx.pool.view;
    const bytes = this.ctx.pool.bytes;
    this.readState();
    const st = { ...this.st };
    const seen = new Set<string>();
    let total = 0;
    const checkChain = (slot: number, dir: number, capLog2: number, b: number): void => {
      let e = slot; // its inline entry (unless empty), then its chain
      while (e !== 0) {
        const klen = view.getUint32(e + E_KLEN, true);
        const vlen = view.getUint32(e + E_VLEN, true);
        if (klen === 0) {
          if (e !== slot) problems.push(`entry ${e}: empty key in a chain`);
          e = readRef(view, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
          continue;
        }
        if (++total > st.count + 1) throw new Error(`more entries than the count ${st.count} (or a cycle)`);
        if (e === slot && klen + vlen > INLINE_MAX) problems.push(`slot ${e}: inline entry of ${klen + vlen} bytes overflows its slot`);
        checkInside(view, e + ENTRY_HEADER, klen + vlen, 'entry');
        const h = view.getUint32(e + E_HASH, true);
        if (hashBytes(bytes, e + ENTRY_HEADER, klen, this.seed) !== h) problems.push(`entry ${e}: stored hash is not the key's`);
        if ((h & (2 ** capLog2 - 1)) !== b) problems.push(`entry ${e}: in bucket ${b} of table ${dir}, hashes to another`);
        const id = Buffer.from(bytes.subarray(e + ENTRY_HEADER, e + ENTRY_HEADER + klen)).toString('latin1');
        if (seen.has(id)) problems.push(`entry ${e}: duplicate key`);
        seen.add(id);
        e = readRef(view, e + E_NEXT, ENTRY_HEADER, 'hash map entry');
      }
    };
    if (st.old === 0) {
      const cap = 2 ** st.capLog2;
      for (let b = 0; b < cap; b++) checkChain(this.slotOf(view, st.table, st.capLog2, b), st.table, st.capLog2, b);
    } else {
      const oldLog = st.capLog2 - 1;
      const oldCap = 2 ** oldLog;
      const segShift = segShiftOf(st.capLog2);
      for (let b = 0; b < oldCap; b++) {
        if (b < st.cursor) {
          checkChain(this.slotOf(view, st.table, st.capLog2, b), st.table, st.capLog2, b);
          checkChain(this.slotOf(view, st.table, st.capLog2, b + oldCap), st.table, st.capLog2, b + oldCap);
        } else {
          checkChain(this.slotOf(view, st.old, oldLog, b), st.old, oldLog, b);
          // Format 3 leaves those slots dead (anything); format 2 kept them zero.
          for (const nb of this.format < FORMAT_DEAD_SLOTS ? [b, b + oldCap] : []) {
            if (readU64(view, st.table + (nb >>> segShift) * 8) === 0) continue;
            const slot = this.slotOf(view, st.table, st.capLog2, nb);
            if (readU64(view, slot + E_NEXT) !== 0 || view.getUint32(slot + E_KLEN, true) !== 0) {
              problems.push(`new bucket ${nb} is not empty before its migration`);
            }
          }
        }
      }
      const oldSegShift = segShiftOf(oldLog);
      for (let s = 0; s < oldCap >>> oldSegShift; s++) {
        const present = readU64(view, st.old + s * 8) !== 0;
        const migrated = (s + 1) << oldSegShift <= st.cursor;
        // Format 2 zeroed the word of a finished segment; format 3 leaves it (dead, segmentLive).
        if (!migrated && !present) problems.push(`old segment ${s}: missing before its migration`);
        if (migrated && present && this.format < FORMAT_DEAD_SLOTS) problems.push(`old segment ${s}: still present after its migration`);
      }
    }
    if (total !== st.count) problems.push(`count is ${st.count} but ${total} entries are reachable`);
  }
}
