/**
 * Every kind of JavaScript value a user can pass: it comes back exactly (same type, same bytes,
 * same contents) through PMap, PSortedMap and PQueue and through a reopen, or the write is
 * refused with EVALUE naming the kind and the path inside the value, and nothing is stored.
 * (docs/api.md, "Values", has the table.) Issue 17, item 4.
 */
import { test } from 'node:test';
import vm from 'node:vm';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { SimulatedRegion, forEveryCrashPoint } from '@ferrite/core/testing';
import type { Pool, Transaction } from '@ferrite/heap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../src/store.js';
import { MAX_VALUE_WEIGHT } from '../src/codec/value-walk.js';
import { PoolValueCodec } from '../src/codec/values.js';
import { openHarness, type Harness } from './store-harness.js';
import { FakePool, type FakeTransaction } from './store-fake-pool.js';
import { assertSame, difference } from './support/same-value.js';

/** Writes `value` under `key` in the map, the sorted map and the queue of the store. */
function writeEverywhere(s: Store, key: string, value: unknown): void {
  s.map<string, unknown>('m').set(key, value);
  s.sortedMap<string, unknown>('s').set(key, value);
  s.queue<unknown>('q').push(value);
}

/** Checks that every collection holds exactly `expected` (key → value; the queue in order). */
function assertHolds(s: Store, expected: [string, unknown][], when: string): void {
  const m = s.map<string, unknown>('m');
  const sm = s.sortedMap<string, unknown>('s');
  assert.equal(m.size, expected.length, `${when}: map size`);
  assert.equal(sm.size, expected.length, `${when}: sorted map size`);
  for (const [k, v] of expected) {
    assertSame(m.get(k), v, `${when}: map.get(${JSON.stringify(k)})`);
    assertSame(sm.get(k), v, `${when}: sortedMap.get(${JSON.stringify(k)})`);
  }
  const queued = [...s.queue<unknown>('q')];
  assert.equal(queued.length, expected.length, `${when}: queue length`);
  expected.forEach(([k, v], i) => assertSame(queued[i], v, `${when}: queue[${i}] (${k})`));
  const report = s.check();
  assert.ok(report.ok, `${when}: ${JSON.stringify(report.problems)}`);
}

function fresh(): Harness {
  const h = openHarness({ size: 4 << 20 });
  h.store.map('m');
  h.store.sortedMap('s');
  h.store.queue('q');
  return h;
}

// ---------------------------------------------------------------- kinds that come back exactly

const withCause = (): Error => {
  const e = new TypeError('bad type', { cause: { code: 7 } });
  (e as Error & { code?: string }).code = 'E_BAD';
  return e;
};
const protoKeyInMap = (): Map<string, unknown> => {
  const o: Record<string, unknown> = {};
  Object.defineProperty(o, '__proto__', { value: 1, enumerable: true, writable: true, configurable: true });
  return new Map([['k', o]]);
};

const ROUND_TRIPS: [string, () => unknown][] = [
  ['Float64Array', () => new Float64Array([1.5, -2, NaN, Infinity, -0])],
  ['Float32Array', () => new Float32Array([0.25, -1e30])],
  ['Int32Array', () => new Int32Array([-1, 7, 2 ** 31 - 1])],
  ['Uint16Array', () => new Uint16Array([1, 0xffff, 300])],
  ['Int16Array view at an offset', () => new Int16Array(Int16Array.from([1, 2, 3, 4, 5, 6, 7, 8]).buffer, 4, 3)],
  ['Int8Array', () => Int8Array.from([-128, 0, 127])],
  ['Uint8ClampedArray', () => Uint8ClampedArray.from([0, 128, 255])],
  ['Uint32Array', () => Uint32Array.from([0xffffffff, 1])],
  ['BigInt64Array', () => BigInt64Array.from([1n, -(2n ** 63n)])],
  ['BigUint64Array', () => BigUint64Array.from([2n ** 64n - 1n])],
  ['DataView', () => { const d = new DataView(new ArrayBuffer(6)); d.setUint16(1, 0xbeef); return d; }],
  ['DataView at an offset', () => new DataView(Uint8Array.from([9, 8, 7, 6, 5]).buffer, 1, 3)],
  ['ArrayBuffer', () => Uint8Array.from([1, 2, 3, 250]).buffer],
  ['Uint8Array', () => Uint8Array.from([0, 1, 255])],
  ['Buffer', () => Buffer.from('a node buffer')],
  ['Set', () => new Set<unknown>([1, 'a', { b: 2 }, [3]])],
  ['Set in a record', () => ({ tags: new Set(['x', 'y']), n: 1 })],
  ['Map with object keys', () => new Map<unknown, unknown>([[{ k: 1 }, 'v'], [[1, 2], new Set([3])]])],
  ['string with a lone surrogate', () => 'x\ud800'.repeat(40)],
  ['short string with a lone trailing surrogate', () => 'ab\udc00'],
  ['lone surrogate in a record field', () => ({ name: 'a\udbff', n: 1 })],
  ['object key with a lone surrogate', () => ({ ['k\ud800']: 1 })],
  ['RegExp', () => /a+b/giu],
  ['Error', () => new Error('boom')],
  ['TypeError with a cause and a code', withCause],
  ['AggregateError', () => new AggregateError([new Error('one'), 2], 'several')],
  ['an Error whose name was changed', () => Object.assign(new RangeError('r'), { name: 'Custom' })],
  ['-0', () => -0],
  ['-0 in a record field', () => ({ a: -0, b: 1 })],
  ['-0 in an array', () => [0, -0, 1]],
  ['NaN and infinities', () => [NaN, Infinity, -Infinity]],
  ['bigint beyond 64 bits', () => 2n ** 100n + 7n],
  ['negative bigint beyond 64 bits', () => -(2n ** 200n)],
  ['64-bit bigints', () => [2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 0n]],
  ['null-prototype object', () => Object.assign(Object.create(null) as object, { a: 1, nested: Object.create(null) as object })],
  ['__proto__ key inside a Map value', protoKeyInMap],
  ['constructor and toJSON keys', () => ({ constructor: 'x', toJSON: 1 })],
  ['hasOwnProperty key', () => ({ hasOwnProperty: 5, a: 1 })],
  ['array with holes', () => [1, , 3, , ]], // eslint-disable-line no-sparse-arrays
  ['array of holes only', () => new Array(5)],
  ['undefined in arrays and objects', () => [undefined, { u: undefined }]],
  ['undefined', () => undefined],
  ['boxed primitives', () => [Object(1) as object, Object('s\ud800') as object, Object(false) as object, Object(5n) as object, Object(-0) as object]],
  ['Date', () => new Date(1_700_000_000_123)],
  ['Date before 1970, with milliseconds', () => new Date(-12_345_678_901)],
  ['invalid Date', () => new Date(NaN)],
  ['extreme Dates', () => [new Date(8.64e15), new Date(-8.64e15)]],
  ['nested kinds', () => ({ a: [new Map([['x', new Set([new Float64Array([1])])]])], e: new Error('inner', { cause: -0 }) })],
];

for (const [name, make] of ROUND_TRIPS) {
  test(`${name} comes back exactly, from every collection and after a reopen`, () => {
    const h = fresh();
    const value = make();
    writeEverywhere(h.store, 'k', value);
    assertHolds(h.store, [['k', value]], 'written');
    assertHolds(h.reopen(), [['k', value]], 'reopened');
    h.store.close();
  });
}

test('a stored Float64Array holds exactly its own bytes: nothing else of process memory reaches the pool', () => {
  const pool = new FakePool();
  const codec = new PoolValueCodec(pool as unknown as Pool, pool.root(64));
  const value = new Float64Array([1.5, -2]);
  const encoded = pool.transaction((tx: FakeTransaction) => codec.encode(value, tx as unknown as Transaction).slice());
  const payload = new Uint8Array(value.buffer);
  // msgpack ext 8 (c7), length 1 + 16, type 't' (0x74), typed array code 8 (Float64Array), the bytes.
  assert.deepEqual([...encoded], [0xc7, 17, 0x74, 8, ...payload]);
});

test('properties added to arrays, Maps, Sets, Dates, RegExps, binary values and boxed primitives are not stored (docs/api.md)', () => {
  const h = fresh();
  const kinds: [string, () => object][] = [
    ['array', () => [1, 2]],
    ['Map', () => new Map([[1, 2]])],
    ['Set', () => new Set([1])],
    ['Date', () => new Date(5)],
    ['RegExp', () => /x/g],
    ['Uint8Array', () => new Uint8Array([1, 2])],
    ['Float64Array', () => new Float64Array([0.5])],
    ['ArrayBuffer', () => new Uint8Array([3]).buffer],
    ['boxed number', () => Object(5) as object],
    ['boxed string', () => Object('st') as object],
    ['boxed bigint', () => Object(7n) as object],
  ];
  const expected: [string, unknown][] = [];
  for (const [name, make] of kinds) {
    const tagged = Object.assign(make(), { tag: 'x' });
    writeEverywhere(h.store, name, tagged);
    expected.push([name, make()]);
    const back = h.store.map<string, object>('m').get(name);
    assert.ok(back !== undefined && !Object.hasOwn(back, 'tag'), `${name}: the added property is not stored`);
  }
  assertHolds(h.store, expected, 'written');
  assertHolds(h.reopen(), expected, 'reopened');
  h.store.close();
});

// Found in review: the walk copied arrays with Array.prototype.slice, which makes its result with
// `a.constructor[Symbol.species]`: an own `constructor` turned an array into an ArrayBuffer or a
// RegExp, or threw a raw TypeError.
test('an array with an own constructor property is stored as the array (the property is not stored)', () => {
  const h = fresh();
  const ctors: [string, unknown][] = [
    ['ArrayBuffer', ArrayBuffer], ['RegExp', RegExp], ['Map', Map], ['Uint8Array', Uint8Array],
    ['Float64Array', Float64Array], ['a string', 'x'], ['an object', {}], ['null', null],
  ];
  const expected: [string, unknown][] = [];
  for (const [name, ctor] of ctors) {
    // eslint-disable-next-line no-sparse-arrays
    const a: unknown[] = [7, 'z', , { n: 1 }];
    Object.defineProperty(a, 'constructor', { value: ctor, enumerable: false, configurable: true, writable: true });
    writeEverywhere(h.store, `array, constructor ${name}`, a);
    // eslint-disable-next-line no-sparse-arrays
    expected.push([`array, constructor ${name}`, [7, 'z', , { n: 1 }]]);
    writeEverywhere(h.store, `nested, constructor ${name}`, { list: Object.assign([1.5, -0], { constructor: ctor }) });
    expected.push([`nested, constructor ${name}`, { list: [1.5, -0] }]);
  }
  assertHolds(h.store, expected, 'written');
  assertHolds(h.reopen(), expected, 'reopened');
  h.store.close();
});

// ---------------------------------------------------------------- kinds that are refused

class Point {
  x = 1;
}
class MyArray extends Array<number> {}
class MyMap extends Map<string, number> {}
function detachedBytes(): Uint8Array {
  const u = new Uint8Array(8);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u;
}
function cyclic(): unknown {
  const a: Record<string, unknown> = { b: {} };
  (a.b as Record<string, unknown>).c = [1, a];
  return a;
}
function deep(n: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}
const itself: object = new (class Self { toJSON(): unknown { return itself; } })();
const Float16 = (globalThis as { Float16Array?: new (n: number) => object }).Float16Array;

/** [name, value, path in the message, kind in the message] */
const REFUSED: [string, () => unknown, string, RegExp][] = [
  ['a function', () => () => 1, 'value', /a function/],
  ['a function deep inside (the issue\'s example)', () => ({ a: [1, 2, 3, () => 1] }), 'value.a[3]', /a function/],
  ['a method', () => ({ f(): number { return 1; } }), 'value.f', /a function/],
  ['a symbol', () => Symbol('s'), 'value', /a symbol/],
  ['a symbol in a Map key', () => new Map([[Symbol('k'), 1]]), 'value{key #0}', /a symbol/],
  ['a class instance', () => ({ p: new Point() }), 'value.p', /instance of Point/],
  ['an Array subclass', () => MyArray.from([1]), 'value', /instance of MyArray/],
  ['a Map subclass', () => new MyMap(), 'value', /instance of MyMap/],
  ['a WeakMap', () => [new WeakMap()], 'value[0]', /a WeakMap/],
  ['a WeakSet', () => new WeakSet(), 'value', /a WeakSet/],
  ['a WeakRef', () => new WeakRef({}), 'value', /a WeakRef/],
  ['a Promise', () => ({ p: Promise.resolve(1) }), 'value.p', /a Promise/],
  ['a SharedArrayBuffer', () => new SharedArrayBuffer(8), 'value', /a SharedArrayBuffer/],
  ['a generator', () => (function* g() { yield 1; })(), 'value', /a generator/],
  ['a boxed symbol', () => Object(Symbol('b')) as object, 'value', /a boxed symbol/],
  ['a cycle', cyclic, 'value.b.c[1]', /a cycle/],
  ['a detached Uint8Array', () => ({ d: detachedBytes() }), 'value.d', /detached/],
  ['a detached ArrayBuffer', () => detachedBytes().buffer, 'value', /detached/],
  ['a resizable ArrayBuffer', () => new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(8, { maxByteLength: 16 }), 'value', /resizable/],
  ['an Error subclass', () => new (class MyError extends Error {})('x'), 'value', /instance of MyError/],
  // Found in review: a Date subclass (and a Date of another realm) inherits Date's toJSON and was
  // stored as a string, an invalid one as null.
  ['a Date subclass', () => ({ at: new (class Stamp extends Date {})(5) }), 'value.at', /instance of Stamp/],
  ['a Date of another realm', () => vm.runInNewContext('new Date(5)') as object, 'value', /Date/],
  ['nesting deeper than 1000', () => deep(1001), `value${'[0]'.repeat(1000)}`, /nested too deep/],
  ['a toJSON that returns the object itself', () => itself, 'value', /instance of Self.*toJSON returns the object itself/],
  ...(Float16 === undefined ? [] : [['a Float16Array', () => new Float16(2), 'value', /Float16Array/] as [string, () => unknown, string, RegExp]]),
];

for (const [name, make, path, kind] of REFUSED) {
  test(`${name} is refused with EVALUE naming it and where it is; nothing is stored`, () => {
    const h = fresh();
    const s = h.store;
    writeEverywhere(s, 'before', { kept: 1 });
    const structures = s.stats().pool.used;
    const refused = (err: unknown): boolean => {
      assert.ok(isFerriteError(err, 'EVALUE'), `EVALUE, got ${String(err)}`);
      assert.ok(err.message.startsWith(`${path} is `), `path in "${err.message}"`);
      assert.match(err.message, kind);
      return true;
    };
    assert.throws(() => s.map('m').set('k', make()), refused);
    assert.throws(() => s.sortedMap('s').set('k', make()), refused);
    assert.throws(() => s.queue('q').push(1, make()), refused); // all or nothing
    assertHolds(s, [['before', { kept: 1 }]], 'after the refusals');
    assert.equal(s.stats().pool.used, structures, 'no block was left allocated');
    // Inside a transaction that catches it, the refusal leaves the transaction usable.
    s.transaction(() => {
      assert.throws(() => s.map('m').set('k', make()), refused);
      writeEverywhere(s, 'after', 2);
    });
    assertHolds(h.reopen(), [['before', { kept: 1 }], ['after', 2]], 'reopened');
    h.store.close();
  });
}

test('a value over maxValueSize is refused with ETOOBIG before it is walked in full', () => {
  const h = openHarness({ maxValueSize: 1024 });
  const m = h.store.map<string, unknown>('m');
  // 2^40 shared references to one leaf when expanded: the running bound stops the walk early.
  let v: unknown = 'leaf';
  for (let i = 0; i < 40; i++) v = [v, v];
  assert.throws(() => m.set('k', v), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.throws(() => m.set('k', new Array(5000)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.throws(() => m.set('k', 'x'.repeat(2000)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.equal(m.size, 0);
  h.store.close();
});

// ---------------------------------------------------------------- the user's own code

test('an error thrown by a getter, a toJSON or a Proxy trap propagates unchanged; the store is unchanged', () => {
  const h = fresh();
  const s = h.store;
  writeEverywhere(s, 'before', 1);
  const boom = new Error('user code failed');
  const values: [string, () => unknown][] = [
    ['getter', () => ({ a: 1, get b(): number { throw boom; } })],
    ['nested getter', () => ({ a: [{ get c(): number { throw boom; } }] })],
    ['toJSON', () => ({ a: new (class { toJSON(): unknown { throw boom; } })() })],
    ['Proxy get trap', () => new Proxy({ a: 1 }, { get(): unknown { throw boom; } })],
    ['Proxy ownKeys trap', () => ({ x: new Proxy({}, { ownKeys(): never { throw boom; } }) })],
    ['Proxy getPrototypeOf trap', () => new Proxy({}, { getPrototypeOf(): never { throw boom; } })],
  ];
  for (const [what, make] of values) {
    assert.throws(() => s.map('m').set('k', make()), (e: unknown) => e === boom, what);
    assert.throws(() => s.sortedMap('s').set('k', make()), (e: unknown) => e === boom, what);
    assert.throws(() => s.queue('q').push(make()), (e: unknown) => e === boom, what);
    // Caught inside a transaction: the transaction carries on and commits the rest.
    s.transaction(() => {
      assert.throws(() => s.map('m').set('k', make()), (e: unknown) => e === boom, what);
    });
  }
  // A key whose Proxy trap throws: the same.
  const key = new Proxy(['a'], { get(): unknown { throw boom; } });
  assert.throws(() => s.map('m').set(key as unknown as string, 1), (e: unknown) => e === boom);
  assert.throws(() => s.sortedMap('s').get(key as unknown as string), (e: unknown) => e === boom);
  assertHolds(s, [['before', 1]], 'after the user errors');
  h.store.close();
});

test('a getter runs once per write and a Proxy is stored as what its traps present', () => {
  const h = fresh();
  let reads = 0;
  const v = { get n(): number { reads++; return 5; }, nested: { get m(): number { reads++; return 6; } } };
  h.store.map('m').set('k', v);
  assert.equal(reads, 2);
  assertSame(h.store.map('m').get('k'), { n: 5, nested: { m: 6 } });
  const p = new Proxy({ a: 1 }, { get: (t, k) => (k === 'a' ? 2 : Reflect.get(t, k)) });
  h.store.map('m').set('p', p);
  assertSame(h.store.map('m').get('p'), { a: 2 });
  h.store.close();
});

// ---------------------------------------------------------------- property: anything, exactly

/** Strings with lone surrogates, `__proto__` and other special keys among ordinary ones. */
const oddUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff') },
);
const oddString = fc.string({ unit: oddUnit, maxLength: 12 });
const oddKey = fc.oneof({ weight: 5, arbitrary: oddString }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', 'toJSON', '0', '1') });
const binary = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((u) => Buffer.from(u)),
  fc.uint8Array({ maxLength: 24 }).map((u) => u.buffer as ArrayBuffer),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 24 }), fc.nat()).map(([u, at]) => new DataView(u.buffer, at % u.length)),
  fc.bigInt64Array({ maxLength: 4 }),
  fc.bigUint64Array({ maxLength: 4 }),
);
const extra = fc.oneof(
  fc.constantFrom(-0, NaN, Infinity, -Infinity, 0),
  fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }),
  fc.date({ noInvalidDate: false }),
  oddString,
  binary,
  fc.constantFrom(/x+/g, /^a|b$/imsuy, new RegExp('\\d', 'd')),
  fc.tuple(fc.constantFrom(Error, TypeError, RangeError, SyntaxError), oddString).map(([C, m]) => new C(m)),
);
const anything = fc.anything({
  maxDepth: 3,
  maxKeys: 5,
  key: oddKey,
  values: [fc.boolean(), fc.integer(), fc.double(), oddString, fc.constant(null), fc.constant(undefined), extra],
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withSparseArray: true,
  withTypedArray: true,
  withObjectString: true,
});

test('property: anything (typed arrays, sets, maps, dates, bigints, holes, lone surrogates, -0, NaN...) comes back exactly, from every collection and after a reopen', () => {
  const h = fresh();
  let round = 0;
  fc.assert(
    fc.property(fc.array(anything, { minLength: 1, maxLength: 6 }), (values) => {
      const s = h.store;
      round++;
      for (const c of ['m', 's', 'q'] as const) (c === 'q' ? s.queue(c) : c === 'm' ? s.map(c) : s.sortedMap(c)).clear();
      const expected: [string, unknown][] = values.map((v, i) => [`k${i}`, v]);
      s.transaction(() => {
        for (const [k, v] of expected) writeEverywhere(s, k, v);
      });
      assertHolds(s, expected, 'written');
      if (round % 10 === 0) assertHolds(h.reopen(), expected, 'reopened');
    }),
    { numRuns: 300 },
  );
  h.store.close();
});

test('property: records of scalar fields (the fast record paths) come back exactly, -0, NaN and lone surrogates included', () => {
  const h = fresh();
  const scalar = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.constantFrom(0, -0, NaN, Infinity, 0x3f, 0x40, -0x21, 2 ** 32, -(2 ** 31) - 1),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.string({ unit: 'grapheme-ascii', maxLength: 33 }),
    oddString,
  );
  const shapes = [['ino', 'size', 'mtime', 'mode'], ['a', 'b'], ['name', 'n']];
  let last: [string, unknown][] = [];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(2), fc.array(scalar, { minLength: 4, maxLength: 4 })), { minLength: 1, maxLength: 20 }), (rows) => {
      const s = h.store;
      const expected: [string, unknown][] = rows.map(([which, fields], i) => {
        const v: Record<string, unknown> = {};
        shapes[which]!.forEach((k, j) => (v[k] = fields[j]));
        return [`r${i}`, v];
      });
      for (const c of ['m', 's', 'q'] as const) (c === 'q' ? s.queue(c) : c === 'm' ? s.map(c) : s.sortedMap(c)).clear();
      for (const [k, v] of expected) writeEverywhere(s, k, v);
      assertHolds(s, expected, 'written');
      last = expected;
    }),
    { numRuns: 200 },
  );
  assertHolds(h.reopen(), last, 'reopened');
  h.store.close();
});

test('the comparator of these tests tells the kinds apart (it can fail)', () => {
  assert.notEqual(difference(0, -0), undefined);
  assert.notEqual(difference([undefined], new Array(1)), undefined);
  assert.notEqual(difference(Buffer.from([1]), Uint8Array.from([1])), undefined);
  assert.notEqual(difference(Object.create(null), {}), undefined);
  assert.notEqual(difference(new Float64Array([1]), new Float32Array([1])), undefined);
  assert.notEqual(difference(new DataView(new ArrayBuffer(2)), new DataView(new ArrayBuffer(3))), undefined);
  assert.notEqual(difference(new Set([1, 2]), [1, 2]), undefined);
  assert.notEqual(difference('a\ud800', 'a\ufffd'), undefined);
  assert.notEqual(difference(new Error('a'), new Error('b')), undefined);
  assert.equal(difference(new Map([[1, { a: [1, , 3] }]]), new Map([[1, { a: [1, , 3] }]])), undefined); // eslint-disable-line no-sparse-arrays
});

// ---------------------------------------------------------------- crashes

interface Snapshot {
  m: [string, unknown][];
  s: [string, unknown][];
  q: unknown[];
}
function snapshot(s: Store): Snapshot {
  const m = [...s.map<string, unknown>('m')].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { m, s: [...s.sortedMap<string, unknown>('s')], q: [...s.queue('q')] };
}
function sameSnapshot(a: Snapshot, b: Snapshot): string | undefined {
  if (a.m.length !== b.m.length || a.s.length !== b.s.length || a.q.length !== b.q.length) return 'sizes differ';
  for (const [x, y] of [[a.m, b.m], [a.s, b.s]] as const) {
    for (let i = 0; i < x.length; i++) {
      if (x[i]![0] !== y[i]![0]) return `key ${x[i]![0]} instead of ${y[i]![0]}`;
      const d = difference(x[i]![1], y[i]![1], x[i]![0]);
      if (d !== undefined) return d;
    }
  }
  for (let i = 0; i < a.q.length; i++) {
    const d = difference(a.q[i], b.q[i], `queue[${i}]`);
    if (d !== undefined) return d;
  }
  return undefined;
}

test('crash: a transaction writing every kind (new record shapes holding them) recovers to before or after, exactly, at every flush and drain', () => {
  const REGION = 1 << 20;
  const kinds = ROUND_TRIPS.map(([, make]) => make());
  const op = (s: Store): void => s.transaction(() => {
    kinds.forEach((v, i) => {
      // A record of a shape never seen before holding the value: a structure is minted too.
      const record = { [`kind${i}`]: v, n: -0 };
      s.map('m').set(`k${i}`, record);
      s.sortedMap('s').set(`k${i}`, v);
    });
    s.queue('q').push(...kinds.slice(0, 12));
  });
  const setup = (): { region: SimulatedRegion; store: Store } => {
    const region = new SimulatedRegion(REGION);
    const store = Store.open(region, { create: true, size: REGION });
    writeEverywhere(store, 'pre', { kept: new Set([1]) });
    return { region, store };
  };
  const probe = setup();
  const before = snapshot(probe.store);
  op(probe.store);
  const after = snapshot(probe.store);
  probe.store.close();
  const states = forEveryCrashPoint<{ store: Store }, { snap: Snapshot; ok: boolean; problems: string }>({
    setup: () => {
      const { region, store } = setup();
      return { region, state: { store } };
    },
    run: (_region, st) => op(st.store),
    recover: (region) => {
      const store = Store.open(region);
      try {
        const report = store.check();
        return { snap: snapshot(store), ok: report.ok, problems: JSON.stringify(report.problems.slice(0, 3)) };
      } finally {
        store.close();
      }
    },
    check: (r, cx) => {
      assert.ok(r.ok, r.problems);
      const toAfter = sameSnapshot(r.snap, after);
      if (!cx.crashed) assert.equal(toAfter, undefined, toAfter);
      else assert.ok(toAfter === undefined || sameSnapshot(r.snap, before) === undefined, `neither before nor after: ${toAfter ?? ''}`);
    },
    seeds: 2,
    recoveryCrashDepth: 1,
  });
  assert.ok(states > 20, `${states} crash states`);
});

// Found in review: a record's keys live in the pool's structures blob (at most 1 MiB), and long
// keys made it overflow: an invariant Error, then for every later new shape too. A shape whose
// keys would not fit is not shared now: its keys go inline, counted against maxValueSize.
test('objects whose keys add up past the structures blob are stored exactly (or ETOOBIG), and later shapes still are', () => {
  const region = new SimulatedRegion(64 << 20);
  let s = Store.open(region, { create: true, size: 64 << 20, maxValueSize: 4 << 20 });
  const expected: [string, unknown][] = [];
  const wide: Record<string, number> = {};
  for (let i = 0; i < 2000; i++) wide[`${String(i).padStart(4, '0')}${'k'.repeat(596)}`] = i;
  s.map<string, unknown>('m').set('wide', wide);
  expected.push(['wide', wide]);
  for (let n = 0; n < 40; n++) {
    const o: Record<string, number> = {};
    for (let i = 0; i < 100; i++) o[`s${n}_${i}_${'q'.repeat(400)}`] = i;
    s.map<string, unknown>('m').set(`shape${n}`, o);
    expected.push([`shape${n}`, o]);
  }
  s.map<string, unknown>('m').set('small', { a: 1, b: 'two' });
  expected.push(['small', { a: 1, b: 'two' }]);
  const holds = (st: Store, when: string): void => {
    const m = st.map<string, unknown>('m');
    for (const [k, v] of expected) assert.deepStrictEqual(m.get(k), v, `${k} ${when}`);
    assert.ok(st.check().ok, when);
  };
  holds(s, 'written');
  // Over maxValueSize once the keys are inline: ETOOBIG, nothing written.
  const small = Store.open(SimulatedRegion.fromImage(region.bytes.slice()), {});
  assert.throws(() => small.map('m').set('too-wide', wide), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  small.close();
  s.close();
  s = Store.open(region, {});
  holds(s, 'reopened');
  s.close();
});

// Found in review: how many levels of the kinds ferrite's extension encodes were accepted
// depended on the stack (500 to 1,000, with the JIT's warmth), and a value a warm process
// stored could not be encoded again by a compaction in a fresh one (EVALUE: stack exhausted).
// Those levels count two against a fixed bound now.
test('nesting of the costly kinds is bounded at 500 levels, whatever the stack; such a value compacts in a fresh process', () => {
  const kinds: [string, (x: unknown) => unknown][] = [
    ['Set', (x) => new Set([x])],
    ['null-prototype object', (x) => Object.assign(Object.create(null) as object, { a: x })],
    ['array with holes', (x) => { const a = new Array<unknown>(3); a[1] = x; return a; }],
    ['object with a __proto__ key', (x) => JSON.parse(`{"__proto__": 1, "a": 0}`, (k, v: unknown) => (k === 'a' ? x : v)) as unknown],
    ['Error', (x) => Object.assign(new Error('e'), { cause: x })],
  ];
  const nest = (wrap: (x: unknown) => unknown, n: number, inner: unknown = 1): unknown => {
    let v = inner;
    for (let i = 0; i < n; i++) v = wrap(v);
    return v;
  };
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-weight-'));
  try {
    const path = join(dir, 'w.pool');
    const s = Store.open(path, { create: true, size: 32 << 20 });
    const m = s.map<string, unknown>('m');
    for (const [name, wrap] of kinds) {
      // Many times each: a warm JIT must not move the bound.
      for (let round = 0; round < 5; round++) {
        assert.throws(() => m.set(`${name} 501`, nest(wrap, MAX_VALUE_WEIGHT / 2 + 1)), (e: unknown) => isFerriteError(e, 'EVALUE') && /weighted depth/.test((e as Error).message), name);
        m.set(`${name} 500`, nest(wrap, MAX_VALUE_WEIGHT / 2));
      }
      assert.equal(m.has(`${name} 501`), false);
    }
    // Plain levels count one: 999 arrays inside, and 400 Sets with 200 arrays mixed.
    m.set('plain 999', deep(999));
    m.set('mixed', nest((x) => new Set([x]), 400, deep(200)));
    assert.throws(() => m.set('mixed over', nest((x) => new Set([x]), 401, deep(199))), (e: unknown) => isFerriteError(e, 'EVALUE'));
    const size = m.size;
    s.close();
    const child = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx',
      fileURLToPath(new URL('./support/compact-child.ts', import.meta.url)), path], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { entries: size }, 'the fresh process compacted every value');
    const after = Store.open(path, { readOnly: true });
    try {
      assert.deepStrictEqual(after.map('m').get('plain 999'), deep(999));
      assert.equal(after.map('m').size, size);
    } finally {
      after.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
