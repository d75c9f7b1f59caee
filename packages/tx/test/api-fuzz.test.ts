/**
 * API fuzz (issue 17, "How to prove it"): fast-check drives every public method of Store, PMap,
 * PSortedMap and PQueue with hostile arguments — wrong types, Proxies whose traps throw,
 * getters that throw, detached buffers, huge and non-integer numbers, symbols, cycles, async
 * and generator functions, unknown option names — mixed with valid calls, alone and inside
 * transactions, and checks after every call and every run:
 *
 * - a call with a valid argument succeeds and does what a model says; a call with a hostile
 *   one throws, and the only errors are FerriteErrors whose code is in ERROR_CODES and listed
 *   in docs/api.md, or the user's own error (a `UserError` thrown by a getter, a trap, a
 *   callback) passed through unchanged;
 * - the process survives (no signal: the test would not finish), `store.check()` is clean and
 *   the contents equal the model after each run, and again after a reopen.
 *
 * At least MIN_CALLS calls per run of the test command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ERROR_CODES, FerriteError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Store } from '../src/store.js';
import { compareKeys, type Key } from '../src/codec/keys.js';
import type { PMap } from '../src/collections/hash-map.js';
import type { PSortedMap } from '../src/collections/sorted-map.js';
import type { PQueue } from '../src/collections/queue.js';
import { openHarness, type Harness } from './store-harness.js';
import { assertSame } from './support/same-value.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const RUNS = SOAK ? 600 : 60;
const MIN_CALLS = 10_000;
const MAX_VALUE_SIZE = 4096;

/** The error user code throws in these tests: it must come out of ferrite unchanged. */
class UserError extends Error {}

/** The codes docs/api.md lists in its error table. */
const DOCUMENTED = new Set(
  [...readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8').matchAll(/^\| `(E[A-Z]+)`/gm)].map((m) => m[1]!),
);

let calls = 0;
/** How many `tx` calls are running (a nested promise-returning function dooms the outer one). */
let inTransaction = 0;

/** Asserts that `err` is an error ferrite may raise (or the user's own), and returns it. */
function allowed(err: unknown, what: string): unknown {
  if (err instanceof UserError) return err;
  assert.ok(err instanceof FerriteError, `${what}: threw ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  assert.ok((ERROR_CODES as readonly string[]).includes(err.code), `${what}: code ${err.code} is not an ErrorCode`);
  assert.ok(DOCUMENTED.has(err.code), `${what}: code ${err.code} is not in docs/api.md`);
  return err;
}

// ---------------------------------------------------------------- arguments, valid and hostile

interface Arg<T = unknown> {
  /** Makes the argument (fresh each time: a Proxy, a detached buffer, a cycle). */
  readonly make: () => T;
  readonly valid: boolean;
  readonly label: string;
}
/** fast-check prints an argument by its label (a counterexample stays readable). */
function labelled<T extends object>(o: T, label: string): T {
  Object.defineProperty(o, fc.toStringMethod, { value: () => label, enumerable: false });
  return o;
}
const valid = <T>(label: string, v: T): Arg<T> => labelled({ make: () => v, valid: true, label }, label);
const hostile = (label: string, make: () => unknown): Arg => labelled({ make, valid: false, label }, `hostile ${label}`);

function detached(): Uint8Array {
  const u = new Uint8Array(4);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u;
}
function cycle(): unknown[] {
  const a: unknown[] = [1];
  a.push(a);
  return a;
}
const throwingProxy = <T extends object>(target: T): T =>
  new Proxy(target, {
    get(): never { throw new UserError('trap get'); },
    ownKeys(): never { throw new UserError('trap ownKeys'); },
    getPrototypeOf(): never { throw new UserError('trap getPrototypeOf'); },
    has(): never { throw new UserError('trap has'); },
  });
const throwingGetter = (): object => ({ a: 1, get b(): number { throw new UserError('getter'); } });
function deep(n: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** Keys from a small domain (so writes meet existing keys), numbers and strings and composites. */
const validKey: fc.Arbitrary<Arg<Key>> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(-0, 1.5, -1e300, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 2) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 30 }).map((i) => `k${i}`) },
  { weight: 1, arbitrary: fc.constantFrom(Uint8Array.from([0, 1]), Buffer.from('b'), new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom('a', 'b\u0000', '')).map(([a, b]) => [a, b] as Key) },
).map((k) => valid(`key ${String(k)}`, k as Key));

const hostileKey: fc.Arbitrary<Arg> = fc.constantFrom(
  hostile('null', () => null),
  hostile('undefined', () => undefined),
  hostile('NaN', () => NaN),
  hostile('an object', () => ({})),
  hostile('a boolean', () => true),
  hostile('a bigint', () => 1n),
  hostile('a symbol', () => Symbol('k')),
  hostile('a function', () => () => 1),
  hostile('a Date', () => new Date(0)),
  hostile('a detached Uint8Array', detached),
  hostile('a composite with a detached Uint8Array', () => [1, detached()]),
  hostile('a Proxy whose traps throw', () => throwingProxy([1, 2])),
  hostile('a Proxy posing as bytes', () => new Proxy(new Uint8Array(2), {})),
  hostile('a key over maxKeySize', () => 'x'.repeat(2000)),
  hostile('a lone surrogate', () => 'a\ud800'),
  hostile('nested too deep', () => deep(17)),
  hostile('a cycle', cycle),
  hostile('an array holding an object', () => [1, {}]),
  hostile('a sparse array', () => [1, , 2]), // eslint-disable-line no-sparse-arrays
);
const anyKey = fc.oneof({ weight: 4, arbitrary: validKey }, { weight: 1, arbitrary: hostileKey });

const validValue: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.record({ ino: fc.integer(), name: fc.string({ maxLength: 8 }) }).map((r) => ({ ...r })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      -0, NaN, 2n ** 70n, new Set([1, 'a']), new Map([[{ k: 1 }, [2]]]), new Float64Array([1.5, -0]), new Date(NaN),
      [1, , 3], Object.assign(Object.create(null) as object, { a: 1 }), 'lone\udc00', new RangeError('r'), /x+/g, undefined, // eslint-disable-line no-sparse-arrays
    ),
  },
).map((v) => valid('a value', v));

const hostileValue: fc.Arbitrary<Arg> = fc.constantFrom(
  hostile('a function', () => () => 1),
  hostile('a symbol', () => ({ s: Symbol('v') })),
  hostile('a class instance', () => new (class Point { x = 1; })()),
  hostile('a WeakMap', () => [new WeakMap()]),
  hostile('a Promise', () => Promise.resolve(1)),
  hostile('a cycle', cycle),
  hostile('a throwing getter', throwingGetter),
  hostile('a Proxy whose traps throw', () => throwingProxy({ a: 1 })),
  hostile('a throwing toJSON', () => new (class Bad { toJSON(): never { throw new UserError('toJSON'); } })()),
  hostile('a value over maxValueSize', () => 'v'.repeat(MAX_VALUE_SIZE * 2)),
  hostile('a detached Uint8Array', () => ({ d: detached() })),
  hostile('nested too deep', () => deep(1001)),
);
const anyValue = fc.oneof({ weight: 4, arbitrary: validValue }, { weight: 1, arbitrary: hostileValue });

interface RangeArg {
  readonly make: () => unknown;
  readonly valid: boolean;
  /** For a valid one: the bounds (absent ones undefined), reverse, limit. */
  readonly spec?: { gt?: Key; gte?: Key; lt?: Key; lte?: Key; reverse: boolean; limit?: number };
}
const validRange: fc.Arbitrary<RangeArg> = fc
  .record({
    lower: fc.option(fc.tuple(fc.boolean(), validKey), { nil: undefined }),
    upper: fc.option(fc.tuple(fc.boolean(), validKey), { nil: undefined }),
    reverse: fc.boolean(),
    limit: fc.option(fc.nat(12), { nil: undefined }),
  })
  .map(({ lower, upper, reverse, limit }) => {
    const spec: NonNullable<RangeArg['spec']> = { reverse, ...(limit === undefined ? {} : { limit }) };
    if (lower !== undefined) spec[lower[0] ? 'gt' : 'gte'] = lower[1].make();
    if (upper !== undefined) spec[upper[0] ? 'lt' : 'lte'] = upper[1].make();
    return labelled<RangeArg>({ make: () => ({ ...spec }), valid: true, spec }, `range ${fc.stringify(spec)}`);
  });
const hostileRange: fc.Arbitrary<RangeArg> = fc.constantFrom<RangeArg>(...([
  { make: () => null, valid: false },
  { make: () => 5, valid: false },
  { make: () => ({ reverse: 'yes' }), valid: false },
  { make: () => ({ limit: '2' }), valid: false },
  { make: () => ({ limit: 1.5 }), valid: false },
  { make: () => ({ limit: -1 }), valid: false },
  { make: () => ({ gt: 1, gte: 1 }), valid: false },
  { make: () => ({ lt: 1, lte: 1 }), valid: false },
  { make: () => ({ lmit: 2 }), valid: false },
  { make: () => ({ gt: null }), valid: false },
  { make: () => ({ lte: detached() }), valid: false },
  { make: () => ({ get limit(): number { throw new UserError('options getter'); } }), valid: false },
  { make: () => throwingProxy({}), valid: false },
] as RangeArg[]).map((r) => labelled(r, `hostile range ${r.make.toString()}`)));
const anyRange = fc.oneof({ weight: 3, arbitrary: validRange }, { weight: 1, arbitrary: hostileRange });

const hostileCallback: fc.Arbitrary<Arg> = fc.constantFrom(
  hostile('undefined', () => undefined),
  hostile('a string', () => 'fn'),
  hostile('an object', () => ({})),
  hostile('a symbol', () => Symbol('f')),
);

/** Names: the three collections of the test (fixed kinds), two scratch names, hostile ones. */
const MAIN = { m: 'map', s: 'sortedMap', q: 'queue' } as const;
const SCRATCH = ['tmp1', 'tmp2'] as const;
const anyName: fc.Arbitrary<Arg> = fc.oneof(
  fc.constantFrom(...Object.keys(MAIN), ...SCRATCH).map((n) => valid(`name ${n}`, n)),
  fc.constantFrom(
    hostile('an empty name', () => ''),
    hostile('a number', () => 5),
    hostile('null', () => null),
    hostile('a long name', () => 'n'.repeat(200)),
    hostile('a lone surrogate', () => 'n\ud800'),
    hostile('a Proxy', () => throwingProxy({})),
  ),
);

const hostileOpen: fc.Arbitrary<{ target: () => unknown; options: () => unknown }> = fc.record({
  target: fc.constantFrom<() => unknown>(() => 5, () => undefined, () => ({}), () => '', () => null, () => Symbol('p'), () => new SimulatedRegion(1 << 16)),
  options: fc.constantFrom<() => unknown>(
    () => null, () => 5, () => ({ readOnly: 'no' }), () => ({ create: 1 }), () => ({ sizee: 1 }), () => ({ maxSize: -5 }),
    () => ({ maxSize: 1.5 }), () => ({ maxSize: '1000000000' }), () => ({ maxKeySize: 1e9 }), () => ({ get create(): boolean { throw new UserError('options getter'); } }),
    () => throwingProxy({}),
  ),
});

// ---------------------------------------------------------------- calls

type Call =
  | { k: 'set'; c: 'm' | 's'; key: Arg; value: Arg }
  | { k: 'get' | 'has' | 'delete'; c: 'm' | 's'; key: Arg }
  | { k: 'clear'; c: 'm' | 's' | 'q' }
  | { k: 'iterate'; c: 'm' | 's'; how: 'entries' | 'keys' | 'values' | 'iterator' | 'size' }
  | { k: 'forEach'; c: 'm' | 's'; fn: Arg | 'collect' | 'throw' }
  | { k: 'range'; range: RangeArg }
  | { k: 'firstLast' }
  | { k: 'push'; values: Arg[] }
  | { k: 'shift' | 'peek' | 'queueIterate' }
  | { k: 'collection'; kind: 'map' | 'sortedMap' | 'queue'; name: Arg }
  | { k: 'drop'; name: Arg }
  | { k: 'listing' }
  | { k: 'shrink' }
  | { k: 'open'; target: () => unknown; options: () => unknown }
  | { k: 'fromPool'; pool: () => unknown }
  | { k: 'txFn'; fn: 'async' | 'generator' | 'promise' | Arg }
  | { k: 'tx'; body: Call[]; end: 'commit' | 'throw' };

const mapOrSorted = fc.constantFrom<'m' | 's'>('m', 's');
const leafCall: fc.Arbitrary<Call> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('set' as const), c: mapOrSorted, key: anyKey, value: anyValue }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constantFrom('get' as const, 'has' as const, 'delete' as const), c: mapOrSorted, key: anyKey }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('clear' as const), c: fc.constantFrom<'m' | 's' | 'q'>('m', 's', 'q') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('iterate' as const), c: mapOrSorted, how: fc.constantFrom('entries' as const, 'keys' as const, 'values' as const, 'iterator' as const, 'size' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('forEach' as const), c: mapOrSorted, fn: fc.oneof(fc.constantFrom<'collect' | 'throw'>('collect', 'throw'), hostileCallback) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('range' as const), range: anyRange }) },
  { weight: 1, arbitrary: fc.constant({ k: 'firstLast' as const }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('push' as const), values: fc.array(anyValue, { maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('shift' as const, 'peek' as const, 'queueIterate' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('collection' as const), kind: fc.constantFrom('map' as const, 'sortedMap' as const, 'queue' as const), name: anyName }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('drop' as const), name: anyName }) },
  { weight: 1, arbitrary: fc.constant({ k: 'listing' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'shrink' as const }) },
  { weight: 1, arbitrary: hostileOpen.map((o) => ({ k: 'open' as const, ...o })) },
  { weight: 1, arbitrary: fc.constantFrom<() => unknown>(() => undefined, () => ({}), () => 5, () => ({ transaction: 1 })).map((pool) => ({ k: 'fromPool' as const, pool })) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom<'async' | 'generator' | 'promise'>('async', 'generator', 'promise'), hostileCallback).map((fn) => ({ k: 'txFn' as const, fn })) },
);
const call: fc.Arbitrary<Call> = fc.oneof(
  { weight: 12, arbitrary: leafCall },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tx' as const), body: fc.array(leafCall, { minLength: 1, maxLength: 8 }), end: fc.constantFrom<'commit' | 'throw'>('commit', 'commit', 'throw') }) },
);

// ---------------------------------------------------------------- the model

/** The identity of a key: equal for keys the store takes as equal (-0 and 0, Buffer and Uint8Array). */
function keyId(k: unknown): string {
  if (k instanceof Uint8Array) return `bytes:${Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex')}`;
  if (Array.isArray(k)) return `[${k.map(keyId).join(',')}]`;
  if (typeof k === 'number') return Object.is(k, -0) ? '0' : String(k);
  return JSON.stringify(k);
}

interface Model {
  m: Map<string, { key: Key; value: unknown }>;
  s: Map<string, { key: Key; value: unknown }>;
  q: unknown[];
  scratch: Map<string, 'map' | 'sortedMap' | 'queue'>;
}
const emptyModel = (): Model => ({ m: new Map(), s: new Map(), q: [], scratch: new Map() });
const copyModel = (x: Model): Model => ({ m: new Map(x.m), s: new Map(x.s), q: [...x.q], scratch: new Map(x.scratch) });

function sortedEntries(m: Model['s']): { key: Key; value: unknown }[] {
  return [...m.values()].sort((a, b) => compareKeys(a.key, b.key));
}

function assertEntries(actual: Iterable<[unknown, unknown]>, expected: { key: Key; value: unknown }[], ordered: boolean, what: string): void {
  const got = [...actual];
  assert.equal(got.length, expected.length, `${what}: entry count`);
  if (ordered) {
    got.forEach(([k, v], i) => {
      assert.equal(keyId(k), keyId(expected[i]!.key), `${what}: key #${i}`);
      assertSame(v, expected[i]!.value, `${what}: value #${i}`);
    });
    return;
  }
  const byId = new Map(expected.map((e) => [keyId(e.key), e.value]));
  for (const [k, v] of got) {
    assert.ok(byId.has(keyId(k)), `${what}: unexpected key ${keyId(k)}`);
    assertSame(v, byId.get(keyId(k)), `${what}: value of ${keyId(k)}`);
  }
}

function inRange(k: Key, spec: NonNullable<RangeArg['spec']>): boolean {
  if (spec.gt !== undefined && !(compareKeys(k, spec.gt) > 0)) return false;
  if (spec.gte !== undefined && !(compareKeys(k, spec.gte) >= 0)) return false;
  if (spec.lt !== undefined && !(compareKeys(k, spec.lt) < 0)) return false;
  if (spec.lte !== undefined && !(compareKeys(k, spec.lte) <= 0)) return false;
  return true;
}

// ---------------------------------------------------------------- running a call

interface World {
  store: Store;
  m: PMap<Key, unknown>;
  s: PSortedMap<Key, unknown>;
  q: PQueue<unknown>;
}

/**
 * Runs `c` on the store and on `model` (changed only when the call succeeds). `expectFail`
 * calls must throw an allowed error; valid calls must succeed.
 */
function runCall(w: World, model: Model, c: Call): void {
  runOne(w, model, c);
  // Cheap consistency after every call (the full comparison runs after each run).
  if (c.k !== 'tx') {
    assert.equal(w.m.size, model.m.size, `map size after ${describeCall(c)}`);
    assert.equal(w.s.size, model.s.size, `sorted map size after ${describeCall(c)}`);
    assert.equal(w.q.length, model.q.length, `queue length after ${describeCall(c)}`);
  }
}

function describeCall(c: Call): string {
  return fc.stringify(c);
}

function runOne(w: World, model: Model, c: Call): void {
  calls++;
  const what = JSON.stringify(c, (_, v: unknown) => (typeof v === 'function' ? 'fn' : typeof v === 'bigint' ? `${v}n` : v));
  let shouldFail = false;
  let effect: () => void = () => {};
  const attempt = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      allowed(err, what);
      assert.ok(shouldFail, `${what}: a valid call failed: ${(err as Error).message}`);
      return;
    }
    assert.ok(!shouldFail, `${what}: a hostile call succeeded`);
    effect();
  };
  switch (c.k) {
    case 'set': {
      shouldFail = !c.key.valid || !c.value.valid;
      // Hostile keys on purpose: the runtime checks are under test, not the types.
      const key = c.key.make() as Key;
      const value = c.value.make();
      effect = () => model[c.c].set(keyId(key), { key: key as Key, value });
      attempt(() => void (c.c === 'm' ? w.m : w.s).set(key, value));
      return;
    }
    case 'get':
    case 'has':
    case 'delete': {
      shouldFail = !c.key.valid;
      const key = c.key.make() as Key;
      const col = c.c === 'm' ? w.m : w.s;
      const entry = c.key.valid ? model[c.c].get(keyId(key)) : undefined;
      attempt(() => {
        if (c.k === 'get') assertSame(col.get(key), entry?.value, what);
        else if (c.k === 'has') assert.equal(col.has(key), entry !== undefined, what);
        else assert.equal(col.delete(key), entry !== undefined, what);
      });
      if (c.k === 'delete' && !shouldFail) model[c.c].delete(keyId(key));
      return;
    }
    case 'clear':
      effect = () => (c.c === 'q' ? (model.q = []) : model[c.c].clear());
      attempt(() => (c.c === 'm' ? w.m : c.c === 's' ? w.s : w.q).clear());
      return;
    case 'iterate': {
      const col = c.c === 'm' ? w.m : w.s;
      const expected = c.c === 's' ? sortedEntries(model.s) : [...model.m.values()];
      attempt(() => {
        if (c.how === 'size') assert.equal(col.size, expected.length);
        else if (c.how === 'entries') assertEntries(col.entries(), expected, c.c === 's', what);
        else if (c.how === 'iterator') assertEntries(col, expected, c.c === 's', what);
        else if (c.how === 'keys') assertEntries([...col.keys()].map((k) => [k, model[c.c].get(keyId(k))?.value] as [unknown, unknown]), expected, c.c === 's', what);
        else assert.equal([...col.values()].length, expected.length);
      });
      return;
    }
    case 'forEach': {
      const col = c.c === 'm' ? w.m : w.s;
      if (c.fn === 'collect') {
        const seen: [unknown, unknown][] = [];
        attempt(() => (col as PMap<Key, unknown>).forEach((v, k) => seen.push([k, v])));
        assertEntries(seen, c.c === 's' ? sortedEntries(model.s) : [...model.m.values()], c.c === 's', what);
      } else if (c.fn === 'throw') {
        // The user's own callback throws: its error comes out unchanged (or nothing, when empty).
        const mine = new UserError('callback');
        try {
          (col as PMap<Key, unknown>).forEach(() => { throw mine; });
          assert.equal(model[c.c].size, 0, `${what}: the callback ran`);
        } catch (err) {
          assert.equal(err, mine, what);
        }
      } else {
        shouldFail = true;
        const fn = c.fn.make();
        attempt(() => (col as PMap<Key, unknown>).forEach(fn as () => void));
      }
      return;
    }
    case 'range': {
      shouldFail = !c.range.valid;
      const options = c.range.make();
      attempt(() => {
        const got = [...w.s.range(options as object)] as [unknown, unknown][];
        const spec = c.range.spec!;
        let want = sortedEntries(model.s).filter((e) => inRange(e.key, spec));
        if (spec.reverse) want.reverse();
        if (spec.limit !== undefined) want = want.slice(0, spec.limit);
        assertEntries(got, want, true, what);
      });
      return;
    }
    case 'firstLast': {
      const sorted = sortedEntries(model.s);
      attempt(() => {
        const first = w.s.first();
        const last = w.s.last();
        assert.equal(first === undefined ? undefined : keyId(first[0]), sorted.length === 0 ? undefined : keyId(sorted[0]!.key));
        assert.equal(last === undefined ? undefined : keyId(last[0]), sorted.length === 0 ? undefined : keyId(sorted[sorted.length - 1]!.key));
      });
      return;
    }
    case 'push': {
      shouldFail = c.values.some((v) => !v.valid);
      const values = c.values.map((v) => v.make());
      effect = () => model.q.push(...values);
      attempt(() => assert.equal(w.q.push(...values), model.q.length + values.length));
      return;
    }
    case 'shift':
    case 'peek':
    case 'queueIterate':
      attempt(() => {
        if (c.k === 'shift') assertSame(w.q.shift(), model.q[0], what);
        else if (c.k === 'peek') assertSame(w.q.peek(), model.q[0], what);
        else {
          const got = [...w.q];
          assert.equal(got.length, model.q.length);
          got.forEach((v, i) => assertSame(v, model.q[i], `${what} #${i}`));
        }
      });
      if (c.k === 'shift') model.q.shift();
      return;
    case 'collection': {
      const name = c.name.make();
      const known = typeof name === 'string' ? ((MAIN as Record<string, string>)[name] ?? model.scratch.get(name)) : undefined;
      shouldFail = !c.name.valid || (known !== undefined && known !== c.kind);
      effect = () => {
        if (known === undefined) model.scratch.set(name as string, c.kind);
      };
      attempt(() => void (c.kind === 'map' ? w.store.map(name as string) : c.kind === 'sortedMap' ? w.store.sortedMap(name as string) : w.store.queue(name as string)));
      return;
    }
    case 'drop': {
      const name = c.name.make();
      if (typeof name === 'string' && name in MAIN) return; // the test's own collections stay
      shouldFail = !c.name.valid;
      const existed = typeof name === 'string' && model.scratch.has(name);
      effect = () => void model.scratch.delete(name as string);
      attempt(() => assert.equal(w.store.drop(name as string), existed));
      return;
    }
    case 'listing':
      attempt(() => {
        const want = [...Object.entries(MAIN), ...model.scratch].map(([n, k]) => `${n}:${k}`).sort();
        assert.deepEqual(w.store.collections().map((x) => `${x.name}:${x.kind}`).sort(), want);
        assert.equal(w.store.stats().collections.total, want.length);
      });
      return;
    case 'shrink':
      // Gives a free tail back; changes no data. Inside a transaction: ETXSTATE.
      shouldFail = inTransaction > 0;
      attempt(() => void w.store.shrink());
      return;
    case 'open':
      shouldFail = true;
      attempt(() => Store.open(c.target() as string, c.options() as object).close());
      return;
    case 'fromPool':
      shouldFail = true;
      attempt(() => Store.fromPool(c.pool() as never).close());
      return;
    case 'txFn': {
      shouldFail = true;
      let ran = false;
      const fn =
        c.fn === 'async' ? async (): Promise<void> => { ran = true; await null; w.m.set('after-await', 1); }
          : c.fn === 'generator' ? function* gen(): Generator<number> { ran = true; w.m.set('in-generator', 1); yield 1; }
            : c.fn === 'promise' ? (): Promise<number> => { w.m.set('before-promise', 1); return Promise.resolve(1); }
              : c.fn.make();
      attempt(() => w.store.transaction(fn as () => unknown));
      assert.equal(ran, false, `${what}: the function ran`);
      // Nested, the promise's function wrote into the running transaction before it returned:
      // the write is there until that transaction, now doomed, rolls back at its end.
      if (c.fn === 'promise' && inTransaction > 0) model.m.set(keyId('before-promise'), { key: 'before-promise', value: 1 });
      return;
    }
    case 'tx': {
      const scratch = copyModel(model);
      const mine = new UserError('transaction');
      try {
        inTransaction++;
        w.store.transaction(() => {
          for (const inner of c.body) runCall(w, scratch, inner);
          if (c.end === 'throw') throw mine;
        });
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err; // a check inside failed
        if (c.end === 'throw') assert.equal(err, mine, what);
        else allowed(err, what);
        return; // rolled back: the model stays as it was
      } finally {
        inTransaction--;
      }
      assert.equal(c.end, 'commit', what);
      Object.assign(model, scratch);
      return;
    }
  }
}

function world(store: Store): World {
  return { store, m: store.map('m'), s: store.sortedMap('s'), q: store.queue('q') };
}

function assertMatchesModel(w: World, model: Model, when: string): void {
  assertEntries(w.m.entries(), [...model.m.values()], false, `${when}: map`);
  assertEntries(w.s.entries(), sortedEntries(model.s), true, `${when}: sorted map`);
  const queued = [...w.q];
  assert.equal(queued.length, model.q.length, `${when}: queue length`);
  queued.forEach((v, i) => assertSame(v, model.q[i], `${when}: queue #${i}`));
  const want = [...Object.entries(MAIN), ...model.scratch].map(([n, k]) => `${n}:${k}`).sort();
  assert.deepEqual(w.store.collections().map((x) => `${x.name}:${x.kind}`).sort(), want, `${when}: collections`);
  const report = w.store.check();
  assert.ok(report.ok, `${when}: check(): ${JSON.stringify(report.problems.slice(0, 3))}`);
}

test(`API fuzz: hostile and valid calls on Store, PMap, PSortedMap, PQueue (at least ${MIN_CALLS} calls)`, () => {
  let h: Harness | undefined;
  let runs = 0;
  fc.assert(
    fc.property(fc.array(call, { minLength: 100, maxLength: 260 }), (program) => {
      h?.store.close();
      h = openHarness({ size: 4 << 20, maxSize: 16 << 20, maxValueSize: MAX_VALUE_SIZE });
      const model = emptyModel();
      let w = world(h.store);
      for (const c of program) runCall(w, model, c);
      assertMatchesModel(w, model, 'after the run');
      if (runs++ % 5 === 0) {
        w = world(h.reopen({ maxValueSize: MAX_VALUE_SIZE }));
        assertMatchesModel(w, model, 'after a reopen');
      }
    }),
    { numRuns: RUNS, seed: SOAK ? undefined : 0x17, endOnFailure: true },
  );
  h?.store.close();
  console.log(`API fuzz: ${calls} calls`);
  assert.ok(calls >= MIN_CALLS, `${calls} calls, fewer than ${MIN_CALLS}`);
});

test('every ErrorCode is listed in docs/api.md, and the docs list no other', () => {
  assert.deepEqual([...DOCUMENTED].sort(), [...ERROR_CODES].sort());
});
