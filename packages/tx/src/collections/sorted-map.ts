/**
 * PSortedMap: a persistent ordered map, a B+ tree of pool blocks.
 *
 * On-pool format (little-endian; references are pool offsets, 0 = none):
 *
 *   header block (64 bytes)
 *     0  magic u32 'PSM1'   4 version u32   8 nodeSize u32
 *     16 count u64          24 root u64     32 height u64 (1: the root is a leaf)
 *     40 first leaf u64     48 last leaf u64
 *     56 the store's creation stamp u64 (internal/context.ts, HEADER_STAMP)
 *   node block (nodeSize bytes, a slotted page)
 *     0  kind u8 (1 leaf, 2 internal)   2 count u16   4 heapStart u16   6 garbage u16
 *     8  leaf: prev u64 | internal: child0 u64
 *     16 leaf: next u64
 *     24 slots: count × u16, the in-node offsets of the records, in key order
 *     records are packed from the end of the node down to heapStart; `garbage` counts the
 *     bytes of dead records between heapStart and the end (reclaimed when a node is rebuilt)
 *   leaf record:     klen u16 | vlen u16 | vcap u16 | flags u16 | key | value area (vcap bytes)
 *                    flags bit 0: the value lives in its own block; the area then holds
 *                    block u64 | length u32
 *   internal record: klen u16 | 0 u16 | 0 u32 | child u64 | key
 *                    (child holds keys >= key and < the next record's key; child0 the rest)
 *
 * Keys are the store's order-preserving encodings, compared as unsigned bytes in place.
 * The node size is chosen at creation so that every record fits three times in a node
 * (4 KiB for keys up to ~1.3 KiB, else 16320 or 32704 bytes); a split of an overfull node then
 * always yields two nodes that fit. Values too large to keep three records per node go to their own block.
 *
 * Crash safety: every write plans its stores in a WriteSet while the old state is still
 * readable, allocates first, snapshots every changed range with ONE tx.addRanges, then stores.
 */
import type { LiveReader, ReadOp, Transaction } from '@ferrite/heap';
import { StepIterator } from './step-iterator.js';
import { CorruptionError, FerriteError, TooBigError, booleanOption, integerOption, invalidArgument, invariant, readOptions } from '@ferrite/core';
import type { CollectionContext, CollectionInternals } from '../internal/context.js';
import { rejection } from '../internal/rejection.js';
import { checkInside, compareBytes, readRef, readU64, writeU64 } from './pool-words.js';
import { WriteSet } from './write-set.js';
import { collectProblems } from './problems.js';
import type { Key, KeyPrefix } from '../codec/keys.js';

const MAGIC = 0x314d5350; // 'PSM1'
const VERSION = 1;
const H_MAGIC = 0;
const H_VERSION = 4;
const H_NODE_SIZE = 8;
const H_COUNT = 16;
const H_ROOT = 24;
const H_HEIGHT = 32;
const H_FIRST = 40;
const H_LAST = 48;
const H_MUTABLE = 16;
const H_MUTABLE_LEN = 40;
const HEADER_SIZE = 64;

const N_KIND = 0;
const N_COUNT = 2;
const N_HEAP = 4;
const N_GARBAGE = 6;
const N_PREV = 8; // leaf
const N_CHILD0 = 8; // internal
const N_NEXT = 16; // leaf
const N_SLOTS = 24;
const LEAF = 1;
const INTERNAL = 2;

const R_KLEN = 0;
const R_VLEN = 2;
const R_VCAP = 4;
const R_FLAGS = 6;
const R_HEADER = 8;
const R_CHILD = 8; // internal
const INTERNAL_R_HEADER = 16;
const F_EXTERNAL = 1;
const EXTERNAL_AREA = 12;

/** Tree height bound: with >= 3 records per node, 40 levels are far beyond any pool. */
const MAX_HEIGHT = 40;
/** Inline values up to this size (when they also fit the node's record bound). */
const INLINE_VALUE_MAX = 512;

/** The names `range` accepts in its options (any other is EINVAL). */
const RANGE_OPTIONS = ['gt', 'gte', 'lt', 'lte', 'reverse', 'limit'] as const;

/**
 * Range bounds over keys `K` (all optional; `limit` caps the number of entries). A bound of a
 * composite key may be any prefix of it (`KeyPrefix`): `{ gte: [2], lt: [3] }`. At most one
 * of `gt` / `gte` and one of `lt` / `lte`.
 */
export interface RangeOptions<K extends Key> {
  gt?: KeyPrefix<K>;
  gte?: KeyPrefix<K>;
  lt?: KeyPrefix<K>;
  lte?: KeyPrefix<K>;
  reverse?: boolean;
  limit?: number;
}

/**
 * Node sizes that fit the heap: 4 KiB is the largest run class, shared with the queue's and
 * the hash map's segments (so their runs' free blocks serve each other); the others fill one
 * or two whole chunks of an extent, for keys too large for 4 KiB nodes.
 */
const NODE_SIZES = [4096, 16384 - 64, 32768 - 64] as const;

/** The smallest node size holding three largest records (see NODE_SIZES). */
export function nodeSizeFor(maxKeySize: number): number {
  for (const size of NODE_SIZES) {
    if (Math.floor((size - N_SLOTS) / 3) >= maxKeySize + INTERNAL_R_HEADER + EXTERNAL_AREA + 2) return size;
  }
  throw new FerriteError('EINVAL', `keys of ${maxKeySize} bytes are too large for a sorted map`);
}

/**
 * A persistent ordered map from keys `K` to values `V`, found by name in a Store
 * (`store.sortedMap<K, V>(name)`). Entries iterate in key order: numbers < strings <
 * Uint8Arrays < arrays, each ordered naturally; arrays (composite keys) element by element,
 * a prefix first — so `range({ gte: [2], lt: [3] })` selects every `[2, ...]` key.
 *
 * Reads never write. Each write joins the store's current transaction or is its own durable
 * transaction. Iterators are lazy and stay valid across writes to the map (see `range`).
 */
const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/** What a scan iterates: bounds (encoded), direction, count and what it returns. */
interface ScanBounds {
  readonly lower: Uint8Array | undefined;
  readonly lowerOpen: boolean;
  readonly upper: Uint8Array | undefined;
  readonly upperOpen: boolean;
  readonly reverse: boolean;
  readonly limit: number;
  /** 0 keys, 1 values, 2 entries. */
  readonly mode: 0 | 1 | 2;
}

/** An iterator of a PSortedMap (see `PSortedMap.scanStep`): its place, in fields. */
class SortedScan extends StepIterator<unknown> {
  /** The first step descended to the lower (upper) bound. */
  started = false;
  /** The leaf and slot of the record returned last (the start, before the first). */
  leaf = 0;
  pos = 0;
  /** The map's version that `leaf` and `pos` belong to. */
  at = 0;
  /** The last key returned, encoded: last[0, lastLen) (a scratch that grows; lastLen -1: none yet). */
  last = new Uint8Array(32);
  lastLen = -1;
  /** Set by a descent after a write: the next record must lie beyond `last` (else the tree is damaged). */
  resumed = false;
  // Each step returns an entry or moves to a neighbour leaf: without a write, at most
  // 2 * count + 4 of them from a descent to the end (a damaged leaf chain stops here).
  steps = 0;
  maxSteps = 0;
  yielded = 0;
  private saved: { started: boolean; leaf: number; pos: number; at: number; last: Uint8Array; lastLen: number; resumed: boolean; steps: number; maxSteps: number; yielded: number } | undefined;

  constructor(private readonly map: { scanStep(it: SortedScan): IteratorResult<unknown, undefined> }, readonly bounds: ScanBounds, reader: LiveReader | undefined) {
    super(reader);
  }

  protected step(): IteratorResult<unknown, undefined> {
    return this.map.scanStep(this);
  }

  protected save(): void {
    const sv = (this.saved ??= { started: false, leaf: 0, pos: 0, at: 0, last: new Uint8Array(32), lastLen: -1, resumed: false, steps: 0, maxSteps: 0, yielded: 0 });
    sv.started = this.started;
    sv.leaf = this.leaf;
    sv.pos = this.pos;
    sv.at = this.at;
    sv.lastLen = this.lastLen;
    if (this.lastLen > 0) {
      if (sv.last.length < this.lastLen) sv.last = new Uint8Array(this.last.length);
      sv.last.set(this.last.subarray(0, this.lastLen));
    }
    sv.resumed = this.resumed;
    sv.steps = this.steps;
    sv.maxSteps = this.maxSteps;
    sv.yielded = this.yielded;
  }

  protected restore(): void {
    const sv = this.saved;
    invariant(sv !== undefined, 'a scan is restored after it was saved');
    this.started = sv.started;
    this.leaf = sv.leaf;
    this.pos = sv.pos;
    this.at = sv.at;
    this.lastLen = sv.lastLen;
    if (sv.lastLen > 0) {
      if (this.last.length < sv.lastLen) this.last = new Uint8Array(sv.last.length);
      this.last.set(sv.last.subarray(0, sv.lastLen));
    }
    this.resumed = sv.resumed;
    this.steps = sv.steps;
    this.maxSteps = sv.maxSteps;
    this.yielded = sv.yielded;
  }
}

// A CollectionInternals too (checked where the Store builds it); not declared, since those
// members are internal and stripped from the published types.
export class PSortedMap<K extends Key, V> implements Iterable<[K, V]> {
  private readonly ctx: CollectionContext;
  private readonly header: number;
  private readonly nodeSize: number;
  /** Largest record (with its slot) allowed in a node: a third of the usable node. */
  private readonly maxRecord: number;
  /**
   * Bumped by every write to this map (before its first store) and after the rollback of a
   * transaction that wrote to it: a live iterator whose leaf and slot belong to an older
   * version descends again (see `scan`).
   */
  private version = 0;
  /** `serial` of the transaction our abort hook is registered with (0: none). */
  private hookSerial = 0;
  /** Made once: registering it costs no allocation per write. */
  private readonly abortHook = (): void => {
    this.version++;
    this.hookSerial = 0;
  };
  private readonly ws = new WriteSet();
  /** Descent scratch: node at each depth, and the child index taken there. */
  private readonly path: number[] = new Array<number>(MAX_HEIGHT).fill(0);
  private readonly pathIdx: number[] = new Array<number>(MAX_HEIGHT).fill(0);
  private height = 0;
  /** Set by `descend`: slot position of the key (or where it would go) and whether found. */
  private pos = 0;
  private found = false;

  /**
   * Opens the sorted map whose header is at `headerOffset`.
   * @throws CorruptionError (ECORRUPT) when no sorted map header is there.
   * @internal Store plumbing, not API.
   */
  constructor(ctx: CollectionContext, headerOffset: number) {
    this.ctx = ctx;
    this.header = headerOffset;
    const view = ctx.pool.view;
    checkInside(view, headerOffset, HEADER_SIZE, 'sorted map header');
    if (view.getUint32(headerOffset + H_MAGIC, true) !== MAGIC || view.getUint32(headerOffset + H_VERSION, true) !== VERSION) {
      throw new CorruptionError('ECORRUPT', `no sorted map header at offset ${headerOffset}`);
    }
    this.nodeSize = view.getUint32(headerOffset + H_NODE_SIZE, true);
    if (!(NODE_SIZES as readonly number[]).includes(this.nodeSize)) {
      throw new CorruptionError('ECORRUPT', `sorted map at ${headerOffset}: bad node size ${this.nodeSize}`);
    }
    this.maxRecord = Math.floor((this.nodeSize - N_SLOTS) / 3);
  }

  /** @internal Allocates an empty sorted map (header and an empty root leaf) inside `tx`; returns the header offset. */
  static create(ctx: CollectionContext, tx: Transaction): number {
    const nodeSize = nodeSizeFor(ctx.limits.maxKeySize);
    const header = tx.alloc(HEADER_SIZE, { zero: true });
    const leaf = tx.alloc(nodeSize, { zero: true });
    const view = ctx.pool.view;
    view.setUint32(header + H_MAGIC, MAGIC, true);
    view.setUint32(header + H_VERSION, VERSION, true);
    view.setUint32(header + H_NODE_SIZE, nodeSize, true);
    writeU64(view, header + H_COUNT, 0);
    writeU64(view, header + H_ROOT, leaf);
    writeU64(view, header + H_HEIGHT, 1);
    writeU64(view, header + H_FIRST, leaf);
    writeU64(view, header + H_LAST, leaf);
    view.setUint8(leaf + N_KIND, LEAF);
    view.setUint16(leaf + N_COUNT, 0, true);
    view.setUint16(leaf + N_HEAP, nodeSize % 65536, true);
    view.setUint16(leaf + N_GARBAGE, 0, true);
    return header;
  }

  /** Number of entries (O(1)). */
  get size(): number {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r !== undefined) return r.section(this.sizeOp);
    return readU64(this.ctx.pool.view, this.header + H_COUNT);
  }

  /** The value under `key`, or undefined. */
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

  /** True when `key` is present. */
  has(key: K): boolean {
    this.ctx.assertOpen();
    const r = this.ctx.reader;
    if (r === undefined) return this.hasNow(key);
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
  private readonly hasOp: ReadOp<boolean> = { run: () => (this.ctx.assertOpen(), this.hasNow(this.readKey as K)) };

  private getNow(key: K): V | undefined {
    const k = this.ctx.keys.encode(key);
    const leaf = this.descend(k);
    if (!this.found) return undefined;
    return this.valueAt(this.recordAt(this.ctx.pool.view, leaf, this.pos)) as V;
  }

  private hasNow(key: K): boolean {
    this.descend(this.ctx.keys.encode(key));
    return this.found;
  }

  /**
   * Stores `value` under `key` atomically (durable when the enclosing transaction commits).
   * A value whose encoding fits the old one's space is overwritten in place.
   * @throws TooBigError (ETOOBIG) over the key or value limit; nothing is written.
   */
  set(key: K, value: V): this {
    this.ctx.assertOpen();
    this.ctx.write((tx) => this.setIn(tx, key, value));
    return this;
  }

  /** Removes `key`; true when it was present. Atomic; durable as `set`. */
  delete(key: K): boolean {
    this.ctx.assertOpen();
    return this.ctx.write((tx) => this.deleteIn(tx, key));
  }

  /** Removes every entry and frees their blocks, in one transaction (O(size)). */
  clear(): void {
    this.ctx.assertOpen();
    this.ctx.write((tx) => this.clearIn(tx));
  }

  /** The entry with the smallest key, or undefined when empty. */
  first(): [K, V] | undefined {
    for (const e of this.range({ limit: 1 })) return e;
    return undefined;
  }

  /** The entry with the largest key, or undefined when empty. */
  last(): [K, V] | undefined {
    for (const e of this.range({ reverse: true, limit: 1 })) return e;
    return undefined;
  }

  /**
   * Lazy iterable over the [key, value] entries within the bounds, in key order (descending
   * with `reverse`), at most `limit` of them. Bounds are keys; `gt`/`lt` exclude the bound,
   * `gte`/`lte` include it. Checked here, before the first step: EINVAL for an unknown option,
   * `reverse` other than a boolean, `limit` other than a non-negative integer, both `gt` and
   * `gte` (or `lt` and `lte`), or a bound that is not a key.
   *
   * The iterator (like those of `keys`, `values`, `entries`) stays valid across writes to this
   * map, inside or outside transactions, including the deletion of the entry just returned and
   * the rollback of a transaction: keys come in order; each key present for the whole
   * iteration is returned exactly once, with its value at the time of the step; keys added or
   * removed during the iteration may or may not appear; each step resumes after the last key
   * returned. A step after `store.close()`, or after the map was dropped, throws ECLOSED.
   */
  range(options?: RangeOptions<K>): IterableIterator<[K, V]> {
    this.ctx.assertOpen();
    const o = readOptions('sortedMap.range', options, RANGE_OPTIONS);
    const reverse = booleanOption('sortedMap.range', 'reverse', o.reverse, false);
    // Infinity is accepted as "no limit" (it was the default's value).
    const limit = o.limit === Infinity ? Number.MAX_SAFE_INTEGER : integerOption('sortedMap.range', 'option limit', o.limit, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    if (o.gt !== undefined && o.gte !== undefined) throw rejection(new FerriteError('EINVAL', 'sortedMap.range: give gt or gte, not both'));
    if (o.lt !== undefined && o.lte !== undefined) throw rejection(new FerriteError('EINVAL', 'sortedMap.range: give lt or lte, not both'));
    const lower = this.bound('gt', o.gt) ?? this.bound('gte', o.gte);
    const upper = this.bound('lt', o.lt) ?? this.bound('lte', o.lte);
    return this.scan(lower, o.gt !== undefined, upper, o.lt !== undefined, reverse, limit, 2) as IterableIterator<[K, V]>;
  }

  /** A range bound's encoding (a copy), undefined when absent; its errors name the option. */
  private bound(name: string, key: unknown): Uint8Array | undefined {
    if (key === undefined) return undefined;
    try {
      return this.ctx.keys.encode(key).slice();
    } catch (err) {
      if (err instanceof FerriteError && (err.code === 'EINVAL' || err.code === 'ETOOBIG')) {
        throw rejection(new FerriteError(err.code, `sortedMap.range: option ${name}: ${err.message}`, { cause: err }));
      }
      throw err;
    }
  }

  /** Lazy iterator over the keys in order. */
  keys(): IterableIterator<K> {
    this.ctx.assertOpen();
    return this.scan(undefined, false, undefined, false, false, Infinity, 0) as IterableIterator<K>;
  }

  /** Lazy iterator over the values in key order. */
  values(): IterableIterator<V> {
    this.ctx.assertOpen();
    return this.scan(undefined, false, undefined, false, false, Infinity, 1) as IterableIterator<V>;
  }

  /** Lazy iterator over [key, value] in key order. */
  entries(): IterableIterator<[K, V]> {
    return this.range();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.range();
  }

  /** Calls `fn(value, key, map)` for every entry in key order. */
  forEach(fn: (value: V, key: K, map: PSortedMap<K, V>) => void, thisArg?: unknown): void {
    this.ctx.assertOpen();
    if (typeof fn !== 'function') throw invalidArgument('sortedMap.forEach', 'fn', 'a function', fn);
    for (const [k, v] of this.range()) fn.call(thisArg, v, k, this);
  }

  // ---------------------------------------------------------------- CollectionInternals

  /** @internal Header, every node, every external value block. */
  ownedBlocks(): Iterable<number> {
    this.ctx.assertOpen();
    const out: number[] = [this.header];
    this.walkNodes((node, leaf) => {
      out.push(node);
      if (leaf) {
        const view = this.ctx.pool.view;
        const n = view.getUint16(node + N_COUNT, true);
        for (let i = 0; i < n; i++) {
          const rec = this.recordAt(view, node, i);
          if ((view.getUint16(rec + R_FLAGS, true) & F_EXTERNAL) !== 0) out.push(this.externalBlock(view, rec));
        }
      }
    });
    return out;
  }

  /** @internal Frees every block of this map inside `tx`. */
  destroy(tx: Transaction): void {
    const blocks = [...this.ownedBlocks()];
    this.touched(tx);
    for (const b of blocks) tx.free(b);
  }

  /** @internal No DRAM copy of pool data is kept; live iterators descend again at their next step. */
  invalidateCache(): void {
    this.version++;
  }

  /**
   * Checks the tree's invariants; returns the problems found (empty when sound): node kinds and
   * layout, key order within and across nodes (separators bound their subtrees), uniform leaf
   * depth, the leaf chain in both directions, first/last leaf, and the entry count.
   */
  validate(): string[] {
    return collectProblems((problems) => this.validateInto(problems));
  }

  // ---------------------------------------------------------------- reading

  private readNode(view: DataView, at: number, what: string): number {
    const node = readRef(view, at, this.nodeSize, what);
    if (node === 0) throw new CorruptionError('ECORRUPT', `sorted map at ${this.header}: missing ${what}`);
    return node;
  }

  /** Offset of the record in slot `i` of `node`, bounds-checked. */
  private recordAt(view: DataView, node: number, i: number): number {
    const r = view.getUint16(node + N_SLOTS + 2 * i, true);
    if (r < N_SLOTS || r + R_HEADER > this.nodeSize) {
      throw new CorruptionError('ECORRUPT', `sorted map node ${node}: slot ${i} points outside the node`);
    }
    return node + r;
  }

  private nodeCount(view: DataView, node: number): number {
    const n = view.getUint16(node + N_COUNT, true);
    if (N_SLOTS + 2 * n > this.nodeSize) throw new CorruptionError('ECORRUPT', `sorted map node ${node}: impossible count ${n}`);
    return n;
  }

  /** Compares encoded key `k` with the key of the record at `rec` (leaf or internal). */
  private compareAt(k: Uint8Array, bytes: Uint8Array, view: DataView, rec: number, internal: boolean): number {
    const klen = view.getUint16(rec + R_KLEN, true);
    const start = rec + (internal ? INTERNAL_R_HEADER : R_HEADER);
    if (start + klen > bytes.length) throw new CorruptionError('ECORRUPT', `sorted map record ${rec}: key outside the pool`);
    return compareBytes(k, 0, k.length, bytes, start, klen);
  }

  /**
   * Descends from the root to the leaf where `k` belongs, filling path/pathIdx/height, and
   * sets pos (first slot with key >= k) and found. Returns the leaf.
   */
  private descend(k: Uint8Array): number {
    const view = this.ctx.pool.view;
    const bytes = this.ctx.pool.bytes;
    const height = readU64(view, this.header + H_HEIGHT);
    if (height < 1 || height > MAX_HEIGHT) throw new CorruptionError('ECORRUPT', `sorted map at ${this.header}: bad height ${height}`);
    this.height = height;
    let node = this.readNode(view, this.header + H_ROOT, 'root');
    for (let depth = 0; depth < height - 1; depth++) {
      if (view.getUint8(node + N_KIND) !== INTERNAL) throw new CorruptionError('ECORRUPT', `sorted map node ${node}: expected an internal node`);
      this.path[depth] = node;
      // Number of separators <= k: the child index to follow.
      let lo = 0;
      let hi = this.nodeCount(view, node);
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.compareAt(k, bytes, view, this.recordAt(view, node, mid), true) >= 0) lo = mid + 1;
        else hi = mid;
      }
      this.pathIdx[depth] = lo;
      node = lo === 0
        ? this.readNode(view, node + N_CHILD0, 'child')
        : this.readNode(view, this.recordAt(view, node, lo - 1) + R_CHILD, 'child');
    }
    if (view.getUint8(node + N_KIND) !== LEAF) throw new CorruptionError('ECORRUPT', `sorted map node ${node}: expected a leaf`);
    this.path[height - 1] = node;
    let lo = 0;
    let hi = this.nodeCount(view, node);
    let found = false;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.compareAt(k, bytes, view, this.recordAt(view, node, mid), false);
      if (c > 0) lo = mid + 1;
      else {
        if (c === 0) found = true;
        hi = mid;
      }
    }
    this.pos = lo;
    this.found = found;
    return node;
  }

  private externalBlock(view: DataView, rec: number): number {
    const klen = view.getUint16(rec + R_KLEN, true);
    const area = rec + R_HEADER + klen;
    const len = view.getUint32(area + 8, true);
    const block = readRef(view, area, len === 0 ? 8 : len, 'sorted map value block');
    if (block === 0) throw new CorruptionError('ECORRUPT', `sorted map record ${rec}: missing value block`);
    return block;
  }

  /** Decodes the value of leaf record `rec`. */
  private valueAt(rec: number): unknown {
    const pool = this.ctx.pool;
    const view = pool.view;
    const klen = view.getUint16(rec + R_KLEN, true);
    const area = rec + R_HEADER + klen;
    if ((view.getUint16(rec + R_FLAGS, true) & F_EXTERNAL) !== 0) {
      const block = this.externalBlock(view, rec);
      const len = view.getUint32(area + 8, true);
      return this.ctx.values.decode(pool.bytes, block, block + len);
    }
    const vlen = view.getUint16(rec + R_VLEN, true);
    checkInside(view, area, vlen, 'sorted map value');
    return this.ctx.values.decode(pool.bytes, area, area + vlen);
  }

  private keyAt(rec: number): unknown {
    const view = this.ctx.pool.view;
    const klen = view.getUint16(rec + R_KLEN, true);
    checkInside(view, rec + R_HEADER, klen, 'sorted map key');
    return this.ctx.keys.decode(this.ctx.pool.bytes, rec + R_HEADER, rec + R_HEADER + klen);
  }

  /**
   * The iterator behind `range`, `keys`, `values`, `entries` (issue 19: it stays valid across
   * writes). It keeps a copy of the encoded key it returned last and, while the map is
   * unchanged (`version`), the leaf and slot after it: a step then reads the next slot, as a
   * plain scan. After any write to this map (or a rollback of one) the leaf may have been
   * split, merged, compacted or freed, so the step descends again to the first key after the
   * last one returned (before it, when `reverse`): O(log n), once per write. Hence keys come
   * in strictly increasing (decreasing) order, each key present for the whole iteration is
   * returned exactly once, with its value at that step, and the iteration resumes after the
   * last key it returned whatever happened meanwhile. The store being closed or the map
   * dropped is checked at every step (ECLOSED), before the pool is read.
   */
  private scan(
    lower: Uint8Array | undefined, lowerOpen: boolean,
    upper: Uint8Array | undefined, upperOpen: boolean,
    reverse: boolean, limit: number, mode: 0 | 1 | 2,
  ): IterableIterator<unknown> {
    this.ctx.assertOpen();
    return new SortedScan(this, { lower, lowerOpen, upper, upperOpen, reverse, limit, mode }, this.ctx.reader);
  }

  /** @internal One step of the scan `it` (SortedScan.step): the next key, value or entry, or done. */
  scanStep(it: SortedScan): IteratorResult<unknown, undefined> {
    this.ctx.assertOpen();
    const b = it.bounds;
    const { lower, upper, reverse } = b;
    const pool = this.ctx.pool;
    let view = pool.view;
    if (!it.started) {
      if (!reverse) {
        if (lower === undefined) {
          it.leaf = this.readNode(view, this.header + H_FIRST, 'first leaf');
          it.pos = 0;
        } else {
          it.leaf = this.descend(lower);
          it.pos = this.pos + (b.lowerOpen && this.found ? 1 : 0);
        }
      } else if (upper === undefined) {
        it.leaf = this.readNode(view, this.header + H_LAST, 'last leaf');
        it.pos = this.nodeCount(view, it.leaf) - 1;
      } else {
        it.leaf = this.descend(upper);
        it.pos = this.pos - (b.upperOpen || !this.found ? 1 : 0);
      }
      it.at = this.version;
      it.steps = 0;
      it.maxSteps = 2 * boundedCount(view, this.header + H_COUNT) + 4;
      it.started = true;
    } else {
      // The step after the one that returned the record at `pos`.
      it.pos += reverse ? -1 : 1;
    }
    if (it.yielded >= b.limit) return DONE;
    for (;;) {
      view = pool.view; // the pool may have grown (and been remapped) since the last step
      if (it.at !== this.version) {
        // The map changed since the last step: find the place after the last key again.
        it.at = this.version;
        const k = it.last.subarray(0, it.lastLen);
        it.leaf = this.descend(k);
        it.pos = reverse ? this.pos - 1 : this.pos + (this.found ? 1 : 0);
        it.resumed = true;
        it.steps = 0;
        it.maxSteps = 2 * boundedCount(view, this.header + H_COUNT) + 4;
      }
      if (++it.steps > it.maxSteps) throw new CorruptionError('ECORRUPT', `sorted map at ${this.header}: leaf chain longer than the map`);
      const n = this.nodeCount(view, it.leaf);
      if (it.pos >= n || it.pos < 0) {
        const nextAt = reverse ? it.leaf + N_PREV : it.leaf + N_NEXT;
        const next = readRef(view, nextAt, this.nodeSize, 'sibling leaf');
        if (next === 0) return DONE;
        it.leaf = next;
        it.pos = reverse ? this.nodeCount(view, it.leaf) - 1 : 0;
        continue;
      }
      const rec = this.recordAt(view, it.leaf, it.pos);
      const bytes = pool.bytes;
      if (!reverse && upper !== undefined) {
        const c = this.compareAt(upper, bytes, view, rec, false);
        if (c < 0 || (c === 0 && b.upperOpen)) return DONE;
      }
      if (reverse && lower !== undefined) {
        const c = this.compareAt(lower, bytes, view, rec, false);
        if (c > 0 || (c === 0 && b.lowerOpen)) return DONE;
      }
      const klen = view.getUint16(rec + R_KLEN, true);
      const ks = rec + R_HEADER;
      checkInside(view, ks, klen, 'sorted map key');
      if (it.resumed) {
        // One comparison per descent: a damaged tree must not make the iterator go back.
        const c = compareBytes(it.last, 0, it.lastLen, bytes, ks, klen);
        if (reverse ? c <= 0 : c >= 0) throw new CorruptionError('ECORRUPT', `sorted map at ${this.header}: keys out of order after a descent`);
        it.resumed = false;
      }
      if (it.last.length < klen) it.last = new Uint8Array(Math.max(klen, 2 * it.last.length));
      const last = it.last;
      for (let i = 0; i < klen; i++) last[i] = bytes[ks + i]!;
      it.lastLen = klen;
      it.yielded++;
      const mode = b.mode;
      const value = mode === 0 ? this.keyAt(rec) : mode === 1 ? this.valueAt(rec) : [this.keyAt(rec), this.valueAt(rec)];
      return { done: false, value };
    }
  }

  /** Visits every node (depth-first, bounded by the height); `leaf` tells the kind. */
  private walkNodes(fn: (node: number, leaf: boolean) => void): void {
    const view = this.ctx.pool.view;
    const height = readU64(view, this.header + H_HEIGHT);
    if (height < 1 || height > MAX_HEIGHT) throw new CorruptionError('ECORRUPT', `sorted map at ${this.header}: bad height ${height}`);
    const stack: [number, number][] = [[this.readNode(view, this.header + H_ROOT, 'root'), 0]];
    let visited = 0;
    const limit = Math.ceil(this.ctx.pool.size / this.nodeSize) + 1;
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (++visited > limit) throw new CorruptionError('ECORRUPT', `sorted map at ${this.header}: more nodes than fit the pool`);
      const leaf = depth === height - 1;
      if (view.getUint8(node + N_KIND) !== (leaf ? LEAF : INTERNAL)) {
        throw new CorruptionError('ECORRUPT', `sorted map node ${node}: wrong kind at depth ${depth}`);
      }
      fn(node, leaf);
      if (!leaf) {
        const n = this.nodeCount(view, node);
        for (let i = n - 1; i >= 0; i--) stack.push([this.readNode(view, this.recordAt(view, node, i) + R_CHILD, 'child'), depth + 1]);
        stack.push([this.readNode(view, node + N_CHILD0, 'child'), depth + 1]);
      }
    }
  }

  // ---------------------------------------------------------------- writing

  private touched(tx: Transaction): void {
    this.version++;
    // Once per transaction (the heap reuses one Transaction object, so compare serials).
    if (this.hookSerial !== tx.serial) {
      this.hookSerial = tx.serial;
      tx.onAbort(this.abortHook);
    }
  }

  /** Used bytes of a node's records region + slots (live data only). */
  private liveBytes(view: DataView, node: number): number {
    const n = this.nodeCount(view, node);
    const heap = view.getUint16(node + N_HEAP, true) || 65536;
    const garbage = view.getUint16(node + N_GARBAGE, true);
    return N_SLOTS + 2 * n + (this.nodeSize - heap - garbage);
  }

  private recordSize(view: DataView, rec: number, internal: boolean): number {
    const klen = view.getUint16(rec + R_KLEN, true);
    return internal ? INTERNAL_R_HEADER + klen : R_HEADER + klen + view.getUint16(rec + R_VCAP, true);
  }

  /** Copies of every record of `node`, in order. */
  private records(node: number, internal: boolean): Uint8Array[] {
    const view = this.ctx.pool.view;
    const bytes = this.ctx.pool.bytes;
    const n = this.nodeCount(view, node);
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const rec = this.recordAt(view, node, i);
      const size = this.recordSize(view, rec, internal);
      // Valid records never exceed a third of the node (see maxRecord): a larger one is damage,
      // and letting it into a rebuild could make the split below overflow.
      if (rec + size > node + this.nodeSize || size + 2 > this.maxRecord) {
        throw new CorruptionError('ECORRUPT', `sorted map node ${node}: record ${i} overflows`);
      }
      out.push(bytes.slice(rec, rec + size));
    }
    return out;
  }

  /** Bytes a node holding `items` needs. */
  private static needed(items: Uint8Array[]): number {
    let total = N_SLOTS;
    for (const r of items) total += r.length + 2;
    return total;
  }

  /** A fresh node image holding `items` packed at the end. */
  private image(kind: number, items: Uint8Array[], link0: number, link1: number): Uint8Array {
    const img = new Uint8Array(this.nodeSize);
    const view = new DataView(img.buffer);
    let heap = this.nodeSize;
    view.setUint8(N_KIND, kind);
    view.setUint16(N_COUNT, items.length, true);
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      heap -= r.length;
      img.set(r, heap);
      view.setUint16(N_SLOTS + 2 * i, heap, true);
    }
    invariant(heap >= N_SLOTS + 2 * items.length, 'node image fits');
    view.setUint16(N_HEAP, heap % 65536, true);
    view.setUint16(N_GARBAGE, 0, true);
    writeU64(view, N_PREV, link0);
    writeU64(view, N_NEXT, link1);
    return img;
  }

  private leafRecord(k: Uint8Array, v: Uint8Array, external: number): Uint8Array {
    const vcap = external !== 0 ? EXTERNAL_AREA : v.length;
    const rec = new Uint8Array(R_HEADER + k.length + vcap);
    const view = new DataView(rec.buffer);
    view.setUint16(R_KLEN, k.length, true);
    view.setUint16(R_VLEN, external !== 0 ? 0 : v.length, true);
    view.setUint16(R_VCAP, vcap, true);
    view.setUint16(R_FLAGS, external !== 0 ? F_EXTERNAL : 0, true);
    rec.set(k, R_HEADER);
    if (external !== 0) {
      writeU64(view, R_HEADER + k.length, external);
      view.setUint32(R_HEADER + k.length + 8, v.length, true);
    } else rec.set(v, R_HEADER + k.length);
    return rec;
  }

  private internalRecord(key: Uint8Array, child: number): Uint8Array {
    const rec = new Uint8Array(INTERNAL_R_HEADER + key.length);
    const view = new DataView(rec.buffer);
    view.setUint16(R_KLEN, key.length, true);
    writeU64(view, R_CHILD, child);
    rec.set(key, INTERNAL_R_HEADER);
    return rec;
  }

  /** Whether a value of `vlen` bytes with a key of `klen` bytes is stored inline. */
  private inline(klen: number, vlen: number): boolean {
    return vlen <= INLINE_VALUE_MAX && R_HEADER + klen + vlen + 2 <= this.maxRecord;
  }

  private setIn(tx: Transaction, key: K, value: V): void {
    const pool = this.ctx.pool;
    const kScratch = this.ctx.keys.encode(key);
    if (kScratch.length > this.ctx.limits.maxKeySize || kScratch.length + INTERNAL_R_HEADER + EXTERNAL_AREA + 2 > this.maxRecord) {
      throw new TooBigError(`key of ${kScratch.length} bytes exceeds the limit of ${this.ctx.limits.maxKeySize}`);
    }
    const k = kScratch.slice(); // the value codec must not see the key's scratch reused
    const v = this.ctx.values.encode(value, tx);
    if (v.length > this.ctx.limits.maxValueSize) {
      throw new TooBigError(`value of ${v.length} bytes exceeds the limit of ${this.ctx.limits.maxValueSize}`);
    }
    const leaf = this.descend(k);
    const pos = this.pos;
    const ws = this.ws;
    ws.reset();
    this.touched(tx);
    const inline = this.inline(k.length, v.length);
    let view = pool.view;

    if (this.found) {
      const rec = this.recordAt(view, leaf, pos);
      const flags = view.getUint16(rec + R_FLAGS, true);
      const area = rec + R_HEADER + k.length;
      if ((flags & F_EXTERNAL) === 0 && inline && v.length <= view.getUint16(rec + R_VCAP, true)) {
        ws.snapshot(rec + R_VLEN, 2);
        ws.snapshot(area, v.length);
        ws.u16(rec + R_VLEN, v.length);
        ws.bytes(area, v);
        ws.apply(tx, pool);
        return;
      }
      if ((flags & F_EXTERNAL) !== 0 && !inline) {
        const block = this.externalBlock(view, rec);
        if (v.length <= pool.usableSize(block)) {
          ws.snapshot(area + 8, 4);
          ws.snapshot(block, v.length);
          ws.u32(area + 8, v.length);
          ws.bytes(block, v.slice());
          ws.apply(tx, pool);
          return;
        }
      }
    }

    // A new record: allocate its value block first when it does not go inline.
    const external = inline ? 0 : tx.alloc(v.length);
    if (external !== 0) {
      pool.bytes.set(v, external);
    }
    view = pool.view;
    const newRec = this.leafRecord(k, v, external);
    const n = this.nodeCount(view, leaf);
    const heap = view.getUint16(leaf + N_HEAP, true) || 65536;
    const garbage = view.getUint16(leaf + N_GARBAGE, true);
    const oldRec = this.found ? this.recordAt(view, leaf, pos) : 0;
    const oldSize = oldRec !== 0 ? this.recordSize(view, oldRec, false) : 0;
    const slotsEnd = leaf + N_SLOTS + 2 * (n + (this.found ? 0 : 1));
    if (leaf + heap - newRec.length >= slotsEnd) {
      // Fast path: the record goes into the node's free space; the slots after pos shift.
      const recAt = leaf + heap - newRec.length;
      ws.snapshot(leaf, 8);
      ws.snapshot(recAt, newRec.length);
      if (this.found) {
        ws.snapshot(leaf + N_SLOTS + 2 * pos, 2);
        ws.u16(leaf + N_SLOTS + 2 * pos, recAt - leaf);
        ws.u16(leaf + N_GARBAGE, garbage + oldSize);
      } else {
        ws.snapshot(leaf + N_SLOTS + 2 * pos, 2 * (n - pos + 1));
        const slots = pool.bytes.slice(leaf + N_SLOTS + 2 * pos, leaf + N_SLOTS + 2 * n);
        ws.bytes(leaf + N_SLOTS + 2 * pos + 2, slots);
        ws.u16(leaf + N_SLOTS + 2 * pos, recAt - leaf);
        ws.u16(leaf + N_COUNT, n + 1);
        ws.snapshot(this.header + H_COUNT, 8);
        ws.u64(this.header + H_COUNT, readU64(view, this.header + H_COUNT) + 1);
      }
      ws.u16(leaf + N_HEAP, (heap - newRec.length) % 65536);
      ws.bytes(recAt, newRec);
    } else {
      // Slow path: rebuild the leaf (compacting it), splitting it when it overflows.
      const items = this.records(leaf, false);
      if (this.found) items[pos] = newRec;
      else items.splice(pos, 0, newRec);
      ws.snapshot(this.header + H_MUTABLE, H_MUTABLE_LEN);
      if (!this.found) ws.u64(this.header + H_COUNT, readU64(view, this.header + H_COUNT) + 1);
      // A new largest key (an append: keys written in order, a compaction's rebuild): the
      // full leaf stays full and the new key starts the next one.
      const append = !this.found && pos === n && readU64(view, leaf + N_NEXT) === 0;
      this.planRewrite(tx, this.height - 1, items, append);
    }
    // Frees go before the snapshot so their allocator snapshots share its drain. The slow path
    // allocated (a split), which may have grown the pool: the old view is detached then.
    view = pool.view;
    if (oldRec !== 0 && (view.getUint16(oldRec + R_FLAGS, true) & F_EXTERNAL) !== 0) tx.free(this.externalBlock(view, oldRec));
    ws.apply(tx, pool);
  }

  /**
   * Plans writing `items` as the new contents of the node at `depth` of the current path:
   * rebuilt in place when they fit, else split in two with the separator inserted into the
   * parent (recursively; a new root when the root splits). The header range must be
   * snapshotted by the caller. `append`: the last item is new and larger than every key of
   * the map (the node is on the rightmost path): a split then keeps every old item on the
   * left, so keys written in order fill their nodes instead of leaving them half full.
   */
  private planRewrite(tx: Transaction, depth: number, items: Uint8Array[], append = false): void {
    const pool = this.ctx.pool;
    const ws = this.ws;
    const node = this.path[depth]!;
    const leaf = depth === this.height - 1;
    let view = pool.view;
    const link0 = readU64(view, node + N_PREV);
    const link1 = leaf ? readU64(view, node + N_NEXT) : 0;
    if (PSortedMap.needed(items) <= this.nodeSize) {
      ws.snapshot(node, this.nodeSize);
      ws.bytes(node, this.image(leaf ? LEAF : INTERNAL, items, link0, link1));
      return;
    }
    // Split by bytes: left gets the longest prefix within half of the total. An append keeps
    // the old items on the left (they fitted the node): the new one alone goes right (in an
    // internal node the one before it moves up as the separator).
    let m = 0;
    if (append && items.length >= (leaf ? 2 : 3)) {
      m = leaf ? items.length - 1 : items.length - 2;
    } else {
      const total = PSortedMap.needed(items);
      let acc = N_SLOTS;
      while (m < items.length - 1 && acc + items[m]!.length + 2 <= total / 2) acc += items[m++]!.length + 2;
      if (m === 0) m = 1;
    }
    const right = tx.alloc(this.nodeSize);
    view = pool.view;
    ws.fresh(right, this.nodeSize);
    let sep: Uint8Array;
    if (leaf) {
      const left = items.slice(0, m);
      const rightItems = items.slice(m);
      const first = rightItems[0]!;
      sep = first.subarray(R_HEADER, R_HEADER + new DataView(first.buffer, first.byteOffset).getUint16(R_KLEN, true));
      ws.snapshot(node, this.nodeSize);
      ws.bytes(node, this.image(LEAF, left, link0, right));
      ws.bytes(right, this.image(LEAF, rightItems, node, link1));
      if (link1 !== 0) {
        ws.snapshot(link1 + N_PREV, 8);
        ws.u64(link1 + N_PREV, right);
      } else ws.u64(this.header + H_LAST, right);
    } else {
      // The middle separator moves up; its child becomes the right node's child0.
      const mid = items[m]!;
      const midView = new DataView(mid.buffer, mid.byteOffset);
      sep = mid.subarray(INTERNAL_R_HEADER, INTERNAL_R_HEADER + midView.getUint16(R_KLEN, true));
      const midChild = readU64(midView, R_CHILD);
      ws.snapshot(node, this.nodeSize);
      ws.bytes(node, this.image(INTERNAL, items.slice(0, m), link0, 0));
      ws.bytes(right, this.image(INTERNAL, items.slice(m + 1), midChild, 0));
    }
    const sepRec = this.internalRecord(sep, right);
    if (depth === 0) {
      const root = tx.alloc(this.nodeSize);
      ws.fresh(root, this.nodeSize);
      ws.bytes(root, this.image(INTERNAL, [sepRec], node, 0));
      ws.u64(this.header + H_ROOT, root);
      ws.u64(this.header + H_HEIGHT, this.height + 1);
      if (this.height + 1 > MAX_HEIGHT) throw new FerriteError('ERANGE', 'sorted map too tall');
      return;
    }
    const parent = this.path[depth - 1]!;
    const at = this.pathIdx[depth - 1]!;
    view = pool.view;
    const pn = this.nodeCount(view, parent);
    const pheap = view.getUint16(parent + N_HEAP, true) || 65536;
    if (parent + pheap - sepRec.length >= parent + N_SLOTS + 2 * (pn + 1)) {
      const recAt = parent + pheap - sepRec.length;
      ws.snapshot(parent, 8);
      ws.snapshot(recAt, sepRec.length);
      ws.snapshot(parent + N_SLOTS + 2 * at, 2 * (pn - at + 1));
      ws.bytes(parent + N_SLOTS + 2 * at + 2, pool.bytes.slice(parent + N_SLOTS + 2 * at, parent + N_SLOTS + 2 * pn));
      ws.u16(parent + N_SLOTS + 2 * at, recAt - parent);
      ws.u16(parent + N_COUNT, pn + 1);
      ws.u16(parent + N_HEAP, (pheap - sepRec.length) % 65536);
      ws.bytes(recAt, sepRec);
      return;
    }
    const pitems = this.records(parent, true);
    pitems.splice(at, 0, sepRec);
    this.planRewrite(tx, depth - 1, pitems, append && at === pn);
  }

  private deleteIn(tx: Transaction, key: K): boolean {
    const pool = this.ctx.pool;
    const k = this.ctx.keys.encode(key).slice();
    const leaf = this.descend(k);
    if (!this.found) return false;
    const pos = this.pos;
    const ws = this.ws;
    ws.reset();
    this.touched(tx);
    const view = pool.view;
    const rec = this.recordAt(view, leaf, pos);
    const toFree: number[] = [];
    if ((view.getUint16(rec + R_FLAGS, true) & F_EXTERNAL) !== 0) toFree.push(this.externalBlock(view, rec));
    const n = this.nodeCount(view, leaf);
    const size = this.recordSize(view, rec, false);
    ws.snapshot(this.header + H_MUTABLE, H_MUTABLE_LEN);
    ws.u64(this.header + H_COUNT, readU64(view, this.header + H_COUNT) - 1);
    const depth = this.height - 1;

    if (n === 1 && depth > 0) {
      // The leaf empties: unlink it and remove it from its parent.
      this.planUnlinkLeaf(leaf);
      toFree.push(leaf);
      this.planRemoveChild(depth - 1, this.pathIdx[depth - 1]!, toFree);
    } else {
      const live = this.liveBytes(view, leaf) - size - 2;
      const merged = depth > 0 && live < (this.nodeSize >>> 2) ? this.planMerge(leaf, pos, depth, toFree) : false;
      if (!merged) {
        ws.snapshot(leaf, 8);
        ws.snapshot(leaf + N_SLOTS + 2 * pos, 2 * (n - pos));
        ws.bytes(leaf + N_SLOTS + 2 * pos, pool.bytes.slice(leaf + N_SLOTS + 2 * pos + 2, leaf + N_SLOTS + 2 * n));
        ws.u16(leaf + N_COUNT, n - 1);
        ws.u16(leaf + N_GARBAGE, view.getUint16(leaf + N_GARBAGE, true) + size);
      }
    }
    for (const b of toFree) tx.free(b);
    ws.apply(tx, pool);
    return true;
  }

  /**
   * Merges the leaf (minus its record at `pos`) with an adjacent sibling under the same parent
   * when both fit comfortably in one node. Returns false when no merge applies.
   */
  private planMerge(leaf: number, pos: number, depth: number, toFree: number[]): boolean {
    const view = this.ctx.pool.view;
    const parent = this.path[depth - 1]!;
    const at = this.pathIdx[depth - 1]!;
    const pn = this.nodeCount(view, parent);
    const child = (i: number): number =>
      i === 0 ? this.readNode(view, parent + N_CHILD0, 'child') : this.readNode(view, this.recordAt(view, parent, i - 1) + R_CHILD, 'child');
    let leftIdx: number;
    if (at < pn) leftIdx = at;
    else if (at > 0) leftIdx = at - 1;
    else return false;
    const left = child(leftIdx);
    const right = child(leftIdx + 1);
    const items: Uint8Array[] = [];
    for (const node of [left, right]) {
      const recs = this.records(node, false);
      if (node === leaf) recs.splice(pos, 1);
      items.push(...recs);
    }
    if (PSortedMap.needed(items) > (this.nodeSize * 3) >>> 2) return false;
    const ws = this.ws;
    const link0 = readU64(view, left + N_PREV);
    const link1 = readU64(view, right + N_NEXT);
    ws.snapshot(left, this.nodeSize);
    ws.bytes(left, this.image(LEAF, items, link0, link1));
    if (link1 !== 0) {
      ws.snapshot(link1 + N_PREV, 8);
      ws.u64(link1 + N_PREV, left);
    } else ws.u64(this.header + H_LAST, left);
    toFree.push(right);
    this.planRemoveChild(depth - 1, leftIdx + 1, toFree);
    return true;
  }

  /** Plans unlinking `leaf` from the leaf chain (its neighbours and the header's first/last). */
  private planUnlinkLeaf(leaf: number): void {
    const view = this.ctx.pool.view;
    const ws = this.ws;
    const prev = readU64(view, leaf + N_PREV);
    const next = readU64(view, leaf + N_NEXT);
    if (prev !== 0) {
      ws.snapshot(prev + N_NEXT, 8);
      ws.u64(prev + N_NEXT, next);
    } else ws.u64(this.header + H_FIRST, next);
    if (next !== 0) {
      ws.snapshot(next + N_PREV, 8);
      ws.u64(next + N_PREV, prev);
    } else ws.u64(this.header + H_LAST, prev);
  }

  /**
   * Plans removing child `c` of the internal node at `depth` of the path. A node left without
   * children is removed from its own parent in turn; a root left with one child is replaced by
   * that child. The header range is already snapshotted.
   */
  private planRemoveChild(depth: number, c: number, toFree: number[]): void {
    const pool = this.ctx.pool;
    const view = pool.view;
    const ws = this.ws;
    const node = this.path[depth]!;
    const n = this.nodeCount(view, node);
    if (n === 0) {
      // Its only child goes: the node goes too.
      toFree.push(node);
      if (depth === 0) {
        // Cannot happen for a leaf removal (the tree keeps a root leaf), kept as an invariant.
        invariant(false, 'the root never loses its last child');
      }
      this.planRemoveChild(depth - 1, this.pathIdx[depth - 1]!, toFree);
      return;
    }
    const slot = c === 0 ? 0 : c - 1;
    ws.snapshot(node, 16);
    if (c === 0) ws.u64(node + N_CHILD0, readU64(view, this.recordAt(view, node, 0) + R_CHILD));
    const rec = this.recordAt(view, node, slot);
    ws.snapshot(node + N_SLOTS + 2 * slot, 2 * (n - slot));
    ws.bytes(node + N_SLOTS + 2 * slot, pool.bytes.slice(node + N_SLOTS + 2 * slot + 2, node + N_SLOTS + 2 * n));
    ws.u16(node + N_COUNT, n - 1);
    ws.u16(node + N_GARBAGE, view.getUint16(node + N_GARBAGE, true) + this.recordSize(view, rec, true));
    if (depth === 0 && n === 1) {
      // The root keeps a single child: that child becomes the root.
      let only = c === 0 ? readU64(view, this.recordAt(view, node, 0) + R_CHILD) : readU64(view, node + N_CHILD0);
      let height = this.height - 1;
      toFree.push(node);
      // An internal root keeps >= 1 separator: collapse through internal nodes left with a
      // single child (they are off the path, so this op does not change them). Bounded by the height.
      while (height > 1) {
        const child = only;
        checkInside(view, child, this.nodeSize, 'sorted map node');
        if (view.getUint8(child + N_KIND) !== INTERNAL || this.nodeCount(view, child) !== 0) break;
        toFree.push(child);
        only = this.readNode(view, child + N_CHILD0, 'child');
        height--;
      }
      ws.u64(this.header + H_ROOT, only);
      ws.u64(this.header + H_HEIGHT, height);
    }
  }

  private clearIn(tx: Transaction): void {
    const view = this.ctx.pool.view;
    if (readU64(view, this.header + H_COUNT) === 0 && readU64(view, this.header + H_HEIGHT) === 1) return;
    this.touched(tx);
    const old = [...this.ownedBlocks()].slice(1);
    const leaf = tx.alloc(this.nodeSize);
    const ws = this.ws;
    ws.reset();
    ws.fresh(leaf, this.nodeSize);
    ws.bytes(leaf, this.image(LEAF, [], 0, 0));
    ws.snapshot(this.header + H_MUTABLE, H_MUTABLE_LEN);
    ws.u64(this.header + H_COUNT, 0);
    ws.u64(this.header + H_ROOT, leaf);
    ws.u64(this.header + H_HEIGHT, 1);
    ws.u64(this.header + H_FIRST, leaf);
    ws.u64(this.header + H_LAST, leaf);
    for (const b of old) tx.free(b);
    ws.apply(tx, this.ctx.pool);
  }

  // ---------------------------------------------------------------- validation

  private validateInto(problems: string[]): void {
    const view = this.ctx.pool.view;
    const bytes = this.ctx.pool.bytes;
    const height = readU64(view, this.header + H_HEIGHT);
    const leaves: number[] = [];
    let total = 0;
    // Each stack item: node, depth, lower bound (inclusive) and upper bound (exclusive) keys.
    type Item = { node: number; depth: number; lo: Uint8Array | undefined; hi: Uint8Array | undefined };
    const root = this.readNode(view, this.header + H_ROOT, 'root');
    const stack: Item[] = [{ node: root, depth: 0, lo: undefined, hi: undefined }];
    let visited = 0;
    const keyOf = (rec: number, internal: boolean): Uint8Array => {
      const klen = view.getUint16(rec + R_KLEN, true);
      const s = rec + (internal ? INTERNAL_R_HEADER : R_HEADER);
      return bytes.slice(s, s + klen);
    };
    const cmp = (a: Uint8Array, b: Uint8Array): number => compareBytes(a, 0, a.length, b, 0, b.length);
    while (stack.length > 0) {
      const { node, depth, lo, hi } = stack.pop()!;
      if (++visited > 1_000_000) throw new Error('too many nodes');
      const leaf = depth === height - 1;
      const kind = view.getUint8(node + N_KIND);
      if (kind !== (leaf ? LEAF : INTERNAL)) {
        problems.push(`node ${node}: kind ${kind} at depth ${depth} of ${height}`);
        continue;
      }
      const n = this.nodeCount(view, node);
      const heap = view.getUint16(node + N_HEAP, true) || 65536;
      if (heap < N_SLOTS + 2 * n || heap > this.nodeSize) problems.push(`node ${node}: heap start ${heap} overlaps the slots`);
      let liveBytes = 0;
      let prevKey: Uint8Array | undefined;
      const keys: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const rec = this.recordAt(view, node, i);
        if (rec - node < heap) problems.push(`node ${node}: slot ${i} below the heap start`);
        const size = this.recordSize(view, rec, !leaf);
        if (rec + size > node + this.nodeSize) problems.push(`node ${node}: record ${i} overflows`);
        liveBytes += size;
        const key = keyOf(rec, !leaf);
        keys.push(key);
        if (prevKey !== undefined && cmp(prevKey, key) >= 0) problems.push(`node ${node}: keys out of order at ${i}`);
        if (lo !== undefined && cmp(key, lo) < 0) problems.push(`node ${node}: key ${i} below its subtree bound`);
        if (hi !== undefined && cmp(key, hi) >= 0) problems.push(`node ${node}: key ${i} above its subtree bound`);
        prevKey = key;
        if (leaf && (view.getUint16(rec + R_FLAGS, true) & F_EXTERNAL) !== 0) this.externalBlock(view, rec);
      }
      const garbage = view.getUint16(node + N_GARBAGE, true);
      if (heap + liveBytes + garbage !== this.nodeSize) {
        problems.push(`node ${node}: heap ${heap} + live ${liveBytes} + garbage ${garbage} != ${this.nodeSize}`);
      }
      if (leaf) {
        leaves.push(node);
        total += n;
        if (n === 0 && height > 1) problems.push(`leaf ${node}: empty in a tree of height ${height}`);
      } else {
        const children = [readU64(view, node + N_CHILD0)];
        for (let i = 0; i < n; i++) children.push(readU64(view, this.recordAt(view, node, i) + R_CHILD));
        for (let i = children.length - 1; i >= 0; i--) {
          const c = children[i]!;
          if (c === 0 || c % 8 !== 0 || c + this.nodeSize > view.byteLength) {
            problems.push(`node ${node}: bad child ${c}`);
            continue;
          }
          stack.push({ node: c, depth: depth + 1, lo: i === 0 ? lo : keys[i - 1], hi: i === n ? hi : keys[i] });
        }
      }
    }
    if (height > 1 && this.nodeCount(view, root) === 0) problems.push('the internal root has a single child');
    if (total !== readU64(view, this.header + H_COUNT)) problems.push(`count ${readU64(view, this.header + H_COUNT)} but ${total} entries`);
    if (readU64(view, this.header + H_FIRST) !== leaves[0]) problems.push('first leaf is not the leftmost leaf');
    if (readU64(view, this.header + H_LAST) !== leaves[leaves.length - 1]) problems.push('last leaf is not the rightmost leaf');
    for (let i = 0; i < leaves.length; i++) {
      const l = leaves[i]!;
      if (readU64(view, l + N_PREV) !== (i === 0 ? 0 : leaves[i - 1])) problems.push(`leaf ${l}: prev link wrong`);
      if (readU64(view, l + N_NEXT) !== (i === leaves.length - 1 ? 0 : leaves[i + 1])) problems.push(`leaf ${l}: next link wrong`);
    }
  }
}

/**
 * A count word, at most what the pool could hold (one record per 8 bytes): a bound for walks
 * that a damaged count, or one a reader's overtaken attempt read mid-change, must not stretch
 * into a loop of practically no end.
 */
function boundedCount(view: DataView, at: number): number {
  return Math.min(readU64(view, at), Math.floor(view.byteLength / 8));
}
