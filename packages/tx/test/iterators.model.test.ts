/**
 * Iterators across writes (issue 19), model-based: fast-check `commands` open iterators of a
 * hash map, a sorted map (ranges with bounds, reverse, limit; keys, values) and a queue, and
 * interleave their steps with writes of every kind — single writes, deleting the key an
 * iterator just returned, bulk inserts that double the hash table and split B+ tree leaves,
 * bulk deletes that merge them, clear, push, shift, transactions of many writes with steps
 * inside them, transactions rolled back in the iterated collection and in others, writes
 * refused with ETOOBIG, and big values that grow (remap) the pool from 256 KiB.
 *
 * Every step is checked against the model, exactly, and against the documented guarantees:
 * - sorted map: the step returns the smallest key present after the last one returned (the
 *   largest before it, reversed) within the bounds, with its current value; so keys come in
 *   order and each key present for the whole iteration comes exactly once;
 * - hash map: the step returns the smallest key present after the last one in the iterator's
 *   order (reversed hash, then key bytes: hash-map.ts `iterate`), with its current value; no
 *   key comes twice, and when the iterator ends every key present since it started has come;
 * - queue: the step returns the value at the iterator's place counted from the front
 *   (values shifted away are skipped; after a rollback, the same count in the restored queue).
 * A coverage count per event (a doubling, a split, a merge, a remap, a rollback of the
 * iterated collection and of another one, a refused write, each mid-iteration) must be non-zero
 * after the runs, so the test cannot pass by not exercising them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Store } from '../src/store.js';
import { OrderedKeyCodec, TAG_STRING, compareKeys, type Key } from '../src/codec/keys.js';
import { compareBytes, hashBytes, hashTaggedAscii } from '../src/collections/pool-words.js';
import { rev32, type PMap } from '../src/collections/hash-map.js';
import type { PSortedMap, RangeOptions } from '../src/collections/sorted-map.js';
import type { PQueue } from '../src/collections/queue.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const RUNS = SOAK ? 1000 : 100;
const SEED = 0x2545f491;
const MAX_VALUE = 2048;
const START = 256 << 10;

// ---------------------------------------------------------------- keys and values

const keyId = (k: Key): string => JSON.stringify(k, (_, v: unknown) => (v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('hex')}` : v));

/**
 * Pairs of string keys whose 32-bit hashes are equal under SEED (found by brute force: about
 * 4 among 200k keys), so the hash map's tie-break by key bytes is exercised.
 */
const COLLIDING: string[] = (() => {
  const seen = new Map<number, string>();
  const out: string[] = [];
  for (let i = 0; out.length < 8 && i < 2_000_000; i++) {
    const s = `c${i}`;
    const h = hashTaggedAscii(TAG_STRING, s, SEED);
    const prior = seen.get(h);
    if (prior !== undefined) out.push(prior, s);
    else seen.set(h, s);
  }
  return out;
})();

const keyArb: fc.Arbitrary<Key> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 120 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 }).map((i) => `k${i}`) },
  { weight: 2, arbitrary: fc.constantFrom(...COLLIDING) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 4 }), fc.constantFrom('a', 'b', 'c', '')).map(([a, b]) => [a, b] as Key) },
);

const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 30 }),
  fc.record({ ino: fc.integer({ min: 0, max: 1e6 }), name: fc.string({ maxLength: 6 }) }).map((r) => ({ ...r })),
  fc.integer({ min: 100, max: 700 }).map((n) => 'v'.repeat(n)), // relocations; external values in the tree
  fc.constant(null),
);

// ---------------------------------------------------------------- the world: store, model, iterators

type Coll = 'm' | 's';
type IterSpec =
  | { c: 'm'; mode: 0 | 1 | 2 }
  | { c: 's'; mode: 0 | 1 | 2; range: RangeOptions<Key> | undefined }
  | { c: 'q' };

interface Entry { key: Key; value: unknown }

interface IterModel {
  spec: IterSpec;
  done: boolean;
  /** Keys (ids) returned so far: none may come twice. */
  returned: Set<string>;
  /** Keys present in every state since the iterator was made: each must come before it ends. */
  always: Set<string>;
  last: Key | undefined;
  count: number;
  /** Queue: absolute index of the next value. */
  next: number;
  /** Hash map: log2 of the table's buckets at the first step (the old table's while migrating). */
  c0: number | undefined;
  /** The pool's bytes at the previous step (a different object: the pool was remapped). */
  bytes: Uint8Array | undefined;
}

interface World {
  store: Store;
  m: PMap<Key, unknown>;
  s: PSortedMap<Key, unknown>;
  q: PQueue<unknown>;
  o: PMap<string, unknown>;
  model: {
    m: Map<string, Entry>;
    s: Map<string, Entry>;
    /** base: absolute index of the front value (values shifted or cleared so far). */
    q: { base: number; values: unknown[] };
    o: Map<string, unknown>;
  };
  iters: { real: Iterator<unknown>; model: IterModel }[];
  fills: number;
}

/** Events seen mid-iteration, over all runs: each must happen (see the file's notes). */
const coverage = {
  steps: 0, doubling: 0, split: 0, merge: 0, remap: 0, ownAbort: 0, otherAbort: 0, tooBig: 0,
  deleteReturned: 0, shiftedPast: 0, hashTies: 0, exhausted: 0,
  /** A hash map step on a table smaller than the one its iterator began on (clear, a rolled-back doubling). */
  shrunk: 0,
};

const codec = new OrderedKeyCodec(1024);
const hashCache = new Map<string, { hash: number; bytes: Uint8Array }>();
function hashOf(k: Key): { hash: number; bytes: Uint8Array } {
  const id = keyId(k);
  let p = hashCache.get(id);
  if (p === undefined) {
    const bytes = codec.encode(k).slice();
    p = { hash: hashBytes(bytes, 0, bytes.length, SEED), bytes };
    hashCache.set(id, p);
  }
  return p;
}
/**
 * The hash map's iteration order for an iterator that began on a table of 2^c0 buckets
 * (hash-map.ts `iterate`): by hash mod 2^c0, then the hash's other bits reversed, then the
 * encoded key.
 */
function comparePos(a: Key, b: Key, c0: number): number {
  const pa = hashOf(a);
  const pb = hashOf(b);
  const low = 2 ** c0 - 1;
  if ((pa.hash & low) !== (pb.hash & low)) return (pa.hash & low) - (pb.hash & low);
  const rest = 2 ** (32 - c0) - 1;
  const ra = rev32(pa.hash) & rest;
  const rb = rev32(pb.hash) & rest;
  if (ra !== rb) return ra - rb;
  return compareBytes(pa.bytes, 0, pa.bytes.length, pb.bytes, 0, pb.bytes.length);
}

function makeWorld(): World {
  const region = new SimulatedRegion(START);
  const store = Store.open(region, { create: true, size: START, maxSize: 64 << 20, maxValueSize: MAX_VALUE });
  store.hashSeeds = () => SEED;
  return {
    store,
    m: store.map<Key, unknown>('m'),
    s: store.sortedMap<Key, unknown>('s'),
    q: store.queue<unknown>('q'),
    o: store.map<string, unknown>('o'),
    model: { m: new Map(), s: new Map(), q: { base: 0, values: [] }, o: new Map() },
    iters: [],
    fills: 0,
  };
}

function live(w: World, c: 'm' | 's' | 'q'): boolean {
  return w.iters.some((it) => it.model.spec.c === c && !it.model.done && it.model.count > 0);
}

/** Keys present in every state since an iterator began: intersect with the state now. */
function afterWrite(w: World, c: Coll): void {
  for (const it of w.iters) {
    if (it.model.spec.c !== c) continue;
    for (const id of it.model.always) if (!w.model[c].has(id)) it.model.always.delete(id);
  }
}

const tableLog = (w: World): number => {
  const m = w.m as unknown as { header: number };
  return (w.store as unknown as { pool: { readU64(at: number): number } }).pool.readU64(m.header + 32);
};
const treeNodes = (w: World): number => {
  let n = 0;
  for (const _ of w.s.ownedBlocks()) n++;
  return n;
};
const poolBytes = (w: World): Uint8Array => (w.store as unknown as { pool: { bytes: Uint8Array } }).pool.bytes;

function set(w: World, c: Coll, k: Key, v: unknown): void {
  w[c].set(k, v);
  w.model[c].set(keyId(k), { key: k, value: v });
  afterWrite(w, c);
}

function del(w: World, c: Coll, k: Key): void {
  assert.equal(w[c].delete(k), w.model[c].delete(keyId(k)), `delete(${keyId(k)}) of ${c}`);
  afterWrite(w, c);
}

function clear(w: World, c: Coll | 'q'): void {
  if (c === 'q') {
    w.q.clear();
    w.model.q.base += w.model.q.values.length;
    w.model.q.values = [];
    return;
  }
  w[c].clear();
  w.model[c].clear();
  afterWrite(w, c);
}

function push(w: World, values: unknown[]): void {
  assert.equal(w.q.push(...values), w.model.q.values.length + values.length);
  w.model.q.values.push(...values);
}

function shift(w: World): void {
  const got = w.q.shift();
  const want = w.model.q.values.shift();
  if (w.model.q.values.length + (want === undefined ? 0 : 1) > 0) w.model.q.base++;
  assert.deepEqual(got, want);
  for (const it of w.iters) if (it.model.spec.c === 'q' && !it.model.done && it.model.next < w.model.q.base) coverage.shiftedPast++;
}

/** A write refused before anything is stored (ETOOBIG): nothing changes. */
function tooBig(w: World, c: Coll | 'q'): void {
  const big = 'x'.repeat(MAX_VALUE + 10);
  assert.throws(() => (c === 'q' ? w.q.push(big) : w[c].set(0, big)), (e) => isFerriteError(e, 'ETOOBIG'));
  if (w.iters.some((it) => !it.model.done && it.model.count > 0)) coverage.tooBig++;
}

function inBounds(k: Key, r: RangeOptions<Key> | undefined): boolean {
  if (r === undefined) return true;
  if (r.gte !== undefined && compareKeys(k, r.gte as Key) < 0) return false;
  if (r.gt !== undefined && compareKeys(k, r.gt as Key) <= 0) return false;
  if (r.lte !== undefined && compareKeys(k, r.lte as Key) > 0) return false;
  if (r.lt !== undefined && compareKeys(k, r.lt as Key) >= 0) return false;
  return true;
}

/** What the model says the next step returns: an entry, a queue value, or nothing (done). */
function expected(w: World, m: IterModel): { entry: Entry } | { value: unknown } | undefined {
  if (m.done) return undefined;
  const spec = m.spec;
  if (spec.c === 'q') {
    const q = w.model.q;
    const at = Math.min(Math.max(m.next, q.base), q.base + q.values.length);
    if (at >= q.base + q.values.length) return undefined;
    m.next = at;
    return { value: q.values[at - q.base] };
  }
  if (spec.c === 's') {
    const r = spec.range;
    if (r?.limit !== undefined && m.count >= r.limit) return undefined;
    const reverse = r?.reverse === true;
    let best: Entry | undefined;
    for (const e of w.model.s.values()) {
      if (!inBounds(e.key, r)) continue;
      if (m.last !== undefined && (reverse ? compareKeys(e.key, m.last) >= 0 : compareKeys(e.key, m.last) <= 0)) continue;
      if (best === undefined || (reverse ? compareKeys(e.key, best.key) > 0 : compareKeys(e.key, best.key) < 0)) best = e;
    }
    return best === undefined ? undefined : { entry: best };
  }
  if (m.c0 === undefined) {
    const header = (w.m as unknown as { header: number }).header;
    const pool = (w.store as unknown as { pool: { readU64(at: number): number } }).pool;
    m.c0 = pool.readU64(header + 40) !== 0 ? tableLog(w) - 1 : tableLog(w);
  }
  const c0 = m.c0;
  let best: Entry | undefined;
  for (const e of w.model.m.values()) {
    if (m.last !== undefined && comparePos(e.key, m.last, c0) <= 0) continue;
    if (best === undefined || comparePos(e.key, best.key, c0) < 0) best = e;
  }
  return best === undefined ? undefined : { entry: best };
}

function step(w: World, i: number): void {
  const it = w.iters[i % w.iters.length]!;
  const m = it.model;
  const want = expected(w, m);
  const bytes = poolBytes(w);
  if (m.bytes !== undefined && m.bytes !== bytes && !m.done) coverage.remap++;
  m.bytes = bytes;
  const got = it.real.next();
  if (want === undefined) {
    assert.equal(got.done, true, `${JSON.stringify(m.spec)}: ended`);
    const limited = m.spec.c === 's' && m.spec.range?.limit !== undefined && m.count >= m.spec.range.limit;
    if (!m.done && m.spec.c !== 'q' && !limited) {
      // The guarantee itself: every key present for the whole iteration was returned.
      for (const id of m.always) assert.ok(m.returned.has(id), `${JSON.stringify(m.spec)}: key ${id}, present throughout, was never returned`);
      if (m.count > 0) coverage.exhausted++;
    }
    m.done = true;
    return;
  }
  coverage.steps++;
  if (m.spec.c === 'm' && m.c0 !== undefined && tableLog(w) < m.c0) coverage.shrunk++;
  assert.equal(got.done, false, `${JSON.stringify(m.spec)}: a step was due`);
  m.count++;
  if ('value' in want) {
    assert.deepEqual(got.value, want.value, 'the queue value at the iterator\'s place');
    m.next++;
    return;
  }
  const e = want.entry;
  const spec = m.spec as { c: Coll; mode: 0 | 1 | 2 };
  if (spec.mode === 0) assert.deepEqual(got.value, e.key);
  else if (spec.mode === 1) assert.deepEqual(got.value, e.value);
  else assert.deepEqual(got.value, [e.key, e.value]);
  const id = keyId(e.key);
  assert.ok(!m.returned.has(id), `key ${id} returned twice`);
  if (spec.c === 'm' && m.last !== undefined && hashOf(m.last).hash === hashOf(e.key).hash) coverage.hashTies++;
  m.returned.add(id);
  m.last = e.key;
}

// ---------------------------------------------------------------- commands

type Cmd = fc.Command<object, World>;

const iterSpecArb: fc.Arbitrary<IterSpec> = fc.oneof(
  fc.constantFrom(0, 1, 2).map((mode) => ({ c: 'm' as const, mode: mode as 0 | 1 | 2 })),
  fc.tuple(
    fc.constantFrom(0, 1, 2),
    fc.option(fc.record({
      lower: fc.option(fc.tuple(fc.boolean(), keyArb), { nil: undefined }),
      upper: fc.option(fc.tuple(fc.boolean(), keyArb), { nil: undefined }),
      reverse: fc.boolean(),
      limit: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
    }), { nil: undefined }),
  ).map(([mode, r]) => {
    if (r === undefined) return { c: 's' as const, mode: mode as 0 | 1 | 2, range: undefined };
    const range: RangeOptions<Key> = { reverse: r.reverse };
    if (r.lower !== undefined) range[r.lower[0] ? 'gt' : 'gte'] = r.lower[1];
    if (r.upper !== undefined) range[r.upper[0] ? 'lt' : 'lte'] = r.upper[1];
    if (r.limit !== undefined) range.limit = r.limit;
    return { c: 's' as const, mode: 2 as const, range };
  }),
  fc.constant({ c: 'q' as const }),
);

function open(w: World, spec: IterSpec): void {
  let real: Iterator<unknown>;
  if (spec.c === 'q') real = w.q[Symbol.iterator]();
  else if (spec.c === 'm') real = spec.mode === 0 ? w.m.keys() : spec.mode === 1 ? w.m.values() : w.m.entries();
  else if (spec.range !== undefined) real = w.s.range(spec.range);
  else real = spec.mode === 0 ? w.s.keys() : spec.mode === 1 ? w.s.values() : w.s.entries();
  // Keys present now (within a range's bounds): those still present at its end must all come.
  const always = new Set<string>();
  if (spec.c !== 'q') for (const [id, e] of w.model[spec.c]) if (spec.c === 'm' || inBounds(e.key, spec.range)) always.add(id);
  w.iters.push({ real, model: { spec, done: false, returned: new Set(), always, last: undefined, count: 0, next: 0, c0: undefined, bytes: undefined } });
  if (w.iters.length > 6) w.iters.shift();
}

/** One operation inside a transaction (or alone). */
type Op =
  | { t: 'set'; c: Coll; k: Key; v: unknown }
  | { t: 'del'; c: Coll; k: Key }
  | { t: 'delReturned'; i: number }
  | { t: 'push'; v: unknown[] }
  | { t: 'shift'; n: number }
  | { t: 'step'; i: number; n: number }
  | { t: 'fill'; c: Coll; n: number; big: boolean }
  | { t: 'drain'; c: Coll; keep: number }
  | { t: 'clear'; c: Coll | 'q' }
  | { t: 'other'; n: number; big: boolean }
  | { t: 'collide'; v: unknown }
  | { t: 'tooBig'; c: Coll | 'q' };

const collArb = fc.constantFrom<Coll>('m', 's');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('set' as const), c: collArb, k: keyArb, v: valueArb }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('del' as const), c: collArb, k: keyArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('delReturned' as const), i: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('push' as const), v: fc.array(valueArb, { minLength: 1, maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('shift' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('step' as const), i: fc.nat(20), n: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('fill' as const), c: collArb, n: fc.integer({ min: 10, max: 90 }), big: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drain' as const), c: collArb, keep: fc.integer({ min: 2, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('clear' as const), c: fc.constantFrom<Coll | 'q'>('m', 's', 'q') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('other' as const), n: fc.integer({ min: 1, max: 30 }), big: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tooBig' as const), c: fc.constantFrom<Coll | 'q'>('m', 's', 'q') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('collide' as const), v: valueArb }) },
);

function apply(w: World, op: Op): void {
  switch (op.t) {
    case 'set': set(w, op.c, op.k, op.v); return;
    case 'del': del(w, op.c, op.k); return;
    case 'delReturned': {
      // "Iterate and delete what expired": the key an iterator returned last.
      const it = w.iters.length === 0 ? undefined : w.iters[op.i % w.iters.length]!.model;
      if (it === undefined || it.spec.c === 'q' || it.last === undefined) return;
      if (!it.done && w.model[it.spec.c].has(keyId(it.last))) coverage.deleteReturned++;
      del(w, it.spec.c, it.last);
      return;
    }
    case 'push': push(w, op.v); return;
    case 'shift': for (let i = 0; i < op.n; i++) shift(w); return;
    case 'step': if (w.iters.length > 0) for (let i = 0; i < op.n; i++) step(w, op.i); return;
    case 'fill': {
      // Fresh keys: enough to double the table (16, 32, ... buckets) or split leaves.
      const base = w.fills++;
      for (let i = 0; i < op.n; i++) set(w, op.c, `f${base}-${i}`, op.big ? 'b'.repeat(300 + i) : i);
      return;
    }
    case 'drain': {
      let n = 0;
      for (const e of [...w.model[op.c].values()]) if (typeof e.key === 'string' && e.key.startsWith('f') && n++ % op.keep !== 0) del(w, op.c, e.key);
      return;
    }
    case 'clear': clear(w, op.c); return;
    case 'other': {
      // Another collection: big values grow the pool (remapping it) under the iterators.
      for (let i = 0; i < op.n; i++) {
        const k = `g${i % 12}`;
        const v = op.big ? 'g'.repeat(1500) : i;
        w.o.set(k, v);
        w.model.o.set(k, v);
      }
      return;
    }
    case 'tooBig': tooBig(w, op.c); return;
    case 'collide': for (const k of COLLIDING) set(w, 'm', k, op.v); return;
  }
}

function touches(op: Op): (Coll | 'q' | 'o')[] {
  switch (op.t) {
    case 'set': case 'del': case 'fill': case 'drain': return [op.c];
    case 'delReturned': return ['m', 's'];
    case 'push': case 'shift': return ['q'];
    case 'clear': case 'tooBig': return [op.c];
    case 'other': return ['o'];
    case 'collide': return ['m'];
    case 'step': return [];
  }
}

/** Runs `body`, noting doublings, splits and merges that happen while an iterator of that collection is live. */
function observed(w: World, body: () => void): void {
  const liveM = live(w, 'm');
  const liveS = live(w, 's');
  const log = tableLog(w);
  const nodes = liveS ? treeNodes(w) : 0;
  body();
  if (liveM && live(w, 'm') && tableLog(w) > log) coverage.doubling++;
  if (liveS && live(w, 's')) {
    const after = treeNodes(w);
    if (after > nodes) coverage.split++;
    if (after < nodes) coverage.merge++;
  }
}

class OpCmd implements Cmd {
  constructor(readonly op: Op) {}
  check(): boolean { return true; }
  run(_m: object, w: World): void { observed(w, () => apply(w, this.op)); }
  toString(): string { return `op(${JSON.stringify(this.op)})`; }
}

class OpenCmd implements Cmd {
  constructor(readonly spec: IterSpec) {}
  check(): boolean { return true; }
  run(_m: object, w: World): void {
    open(w, this.spec);
    step(w, w.iters.length - 1); // started: writes from here on are mid-iteration
  }
  toString(): string { return `open(${JSON.stringify(this.spec)})`; }
}

/** A transaction of many operations, iterator steps among them; committed or rolled back. */
class TxCmd implements Cmd {
  constructor(readonly ops: Op[], readonly abort: boolean) {}
  check(): boolean { return true; }
  run(_m: object, w: World): void {
    const saved = { m: new Map(w.model.m), s: new Map(w.model.s), q: { base: w.model.q.base, values: [...w.model.q.values] }, o: new Map(w.model.o) };
    const marker = new Error('rolled back on purpose');
    const wrote = new Set<string>();
    for (const op of this.ops) for (const c of touches(op)) wrote.add(c);
    const liveBefore = { m: live(w, 'm'), s: live(w, 's'), q: live(w, 'q') };
    const body = (): void => {
      w.store.transaction(() => {
        for (const op of this.ops) apply(w, op);
        if (this.abort) throw marker;
      });
    };
    if (!this.abort) {
      observed(w, body);
      return;
    }
    observed(w, () => assert.throws(body, (e) => e === marker));
    w.model.m = saved.m;
    w.model.s = saved.s;
    w.model.q = saved.q;
    w.model.o = saved.o;
    afterWrite(w, 'm');
    afterWrite(w, 's');
    for (const c of ['m', 's', 'q'] as const) {
      if (!liveBefore[c]) continue;
      if (wrote.has(c)) coverage.ownAbort++;
      else if (wrote.size > 0) coverage.otherAbort++;
    }
  }
  toString(): string { return `tx(${this.abort ? 'abort' : 'commit'}, ${JSON.stringify(this.ops)})`; }
}

const commandArbs: fc.Arbitrary<Cmd>[] = [
  iterSpecArb.map((s) => new OpenCmd(s)),
  iterSpecArb.map((s) => new OpenCmd(s)),
  opArb.map((op) => new OpCmd(op)),
  opArb.map((op) => new OpCmd(op)),
  opArb.map((op) => new OpCmd(op)),
  fc.record({ t: fc.constant('step' as const), i: fc.nat(20), n: fc.integer({ min: 1, max: 12 }) }).map((op) => new OpCmd(op)),
  fc.record({ t: fc.constant('step' as const), i: fc.nat(20), n: fc.integer({ min: 1, max: 12 }) }).map((op) => new OpCmd(op)),
  fc.tuple(fc.array(opArb, { minLength: 2, maxLength: 25 }), fc.boolean()).map(([ops, abort]) => new TxCmd(ops, abort)),
  fc.tuple(fc.array(opArb, { minLength: 2, maxLength: 25 }), fc.boolean()).map(([ops, abort]) => new TxCmd(ops, abort)),
];

test('iterators across writes behave as the model says (hash map, sorted map, queue)', () => {
  assert.ok(COLLIDING.length >= 4, 'keys with equal hashes were found');
  fc.assert(
    fc.property(fc.commands(commandArbs, { maxCommands: 100, size: 'max' }), (cmds) => {
      const w = makeWorld();
      try {
        fc.modelRun(() => ({ model: {}, real: w }), cmds);
        // Drain every live iterator: the end-of-iteration guarantees are checked as they end.
        for (let i = 0; i < w.iters.length; i++) {
          for (let n = 0; n < 10_000 && !w.iters[i]!.model.done; n++) step(w, i);
          assert.ok(w.iters[i]!.model.done, 'an iterator ends');
        }
        assert.equal(w.store.check().ok, true);
      } finally {
        w.store.close();
      }
    }),
    { numRuns: RUNS },
  );
  console.log(`iterator model coverage: ${JSON.stringify(coverage)}`);
  for (const [event, n] of Object.entries(coverage)) assert.ok(n > 0, `no ${event} happened mid-iteration in ${RUNS} runs`);
});
