/**
 * Typed errors at every entry point (issue 17, items 5 and 6): each case here threw a plain
 * TypeError, or nothing at all, before. A wrong argument is a FerriteError (EINVAL, or a more
 * precise code) naming the argument, raised before anything is touched; an unknown option is
 * refused; the user's own error propagates unchanged; the store is unchanged afterwards.
 */
import type { Key } from '../src/codec/keys.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '@ferrite/heap';
import { Store } from '../src/store.js';
import { MAX_COLLECTIONS } from '../src/registry.js';
import { openHarness } from './store-harness.js';

function refused(code: ErrorCode, names?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isFerriteError(err, code), `expected ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    if (names !== undefined) assert.match(err.message, names);
    return true;
  };
}

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-entry-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('Store.open: a target that is not a path or a Region, and options that are not an object, are EINVAL naming them', () => {
  for (const target of [5, undefined, {}, null, '', 'a\0b', [], () => 1, Symbol('t')]) {
    assert.throws(() => Store.open(target as unknown as string), refused('EINVAL', /Store\.open: target/));
  }
  withDir((dir) => {
    const path = join(dir, 'p.pool');
    for (const options of [null, 5, 'create', [], () => 1]) {
      assert.throws(() => Store.open(path, options as unknown as object), refused('EINVAL', /Store\.open: options/));
    }
  });
});

test('Store.open: options are checked for type and range, unknown names are refused, nothing is created', () => {
  withDir((dir) => {
    const path = join(dir, 'p.pool');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ create: true, sizee: 1 << 20 }, /unknown option "sizee"/],
      [{ create: 'yes' }, /option create/],
      [{ readOnly: 'no' }, /option readOnly/],
      [{ create: true, size: -1 }, /option size/],
      [{ create: true, size: 1.5 }, /option size/],
      [{ create: true, size: '1000000' }, /option size/],
      [{ create: true, maxSize: 2 ** 60 }, /option maxSize/],
      [{ create: true, size: 1 << 20, maxSize: 1 << 19 }, /maxSize .* below option size/],
      [{ create: true, layout: 7 }, /option layout/],
      [{ create: true, forcePmem: 1 }, /option forcePmem/],
      [{ create: true, maxKeySize: 8 }, /option maxKeySize/],
      [{ create: true, maxValueSize: 2 ** 40 }, /option maxValueSize/],
      [{ create: true, readOnly: true }, /create and readOnly/],
    ];
    for (const [options, names] of cases) {
      assert.throws(() => Store.open(path, options), refused('EINVAL', names), JSON.stringify(options));
    }
    assert.throws(() => Store.open(path), refused('ENOENT'), 'no pool file was left behind');
    // An options object's getter runs once; what it throws propagates unchanged.
    const boom = new Error('from a getter');
    assert.throws(() => Store.open(path, { get create(): boolean { throw boom; } }), (e: unknown) => e === boom);
  });
});

test('Store.open of an existing pool: maxSize is validated (-5, 1.5, a string, below the size)', () => {
  withDir((dir) => {
    const path = join(dir, 'p.pool');
    Store.open(path, { create: true, size: 1 << 20 }).close();
    // Byte for byte: a refused open bumped the writer-epoch and commit-sequence words (found
    // in review), now it writes nothing, on persistent memory or a file.
    for (const forcePmem of [true, false]) {
      const before = readFileSync(path);
      for (const maxSize of [-5, 1.5, '1000000000', NaN, 1 << 10, 1 << 19]) {
        assert.throws(() => Store.open(path, { maxSize: maxSize as number, forcePmem }), refused('EINVAL', /maxSize/), String(maxSize));
      }
      assert.ok(readFileSync(path).equals(before), `the refused opens wrote nothing (forcePmem ${String(forcePmem)})`);
    }
    const s = Store.open(path);
    assert.equal(s.stats().pool.maxSize, 1 << 20, 'the refused opens changed nothing');
    s.close();
  });
});

test('maxSize is remembered: a pool created to grow still grows after a reopen that does not repeat it', () => {
  withDir((dir) => {
    const path = join(dir, 'p.pool');
    Store.open(path, { create: true, size: 256 << 10, maxSize: 8 << 20 }).close();
    const s = Store.open(path);
    const m = s.map<number, string>('m');
    for (let i = 0; i < 40; i++) m.set(i, 'x'.repeat(32 << 10)); // about 1.3 MiB
    assert.ok(s.stats().pool.size > 256 << 10, 'the pool grew');
    assert.equal(s.stats().pool.maxSize, 8 << 20);
    assert.ok(s.check().ok);
    s.close();
    // A writable open that gives maxSize records it.
    Store.open(path, { maxSize: 16 << 20 }).close();
    const again = Store.open(path, { readOnly: true });
    assert.equal(again.stats().pool.maxSize, 16 << 20);
    assert.equal(again.map<number, string>('m').size, 40);
    again.close();
  });
});

test('Store.fromPool: the pool and the options are checked', () => {
  for (const pool of [undefined, null, 5, {}, 'pool']) {
    assert.throws(() => Store.fromPool(pool as unknown as Pool), refused('EINVAL', /Store\.fromPool: pool/));
  }
  const pool = Pool.create(new SimulatedRegion(1 << 20), { layout: 'ferrite', size: 1 << 20 });
  assert.throws(() => Store.fromPool(pool, { maxKeySize: 8 }), refused('EINVAL', /maxKeySize/));
  assert.throws(() => Store.fromPool(pool, { layout: 'x' } as unknown as object), refused('EINVAL', /unknown option "layout"/));
  pool.close();
  assert.throws(() => Store.fromPool(pool), refused('ECLOSED'));
});

test('store.transaction: an async or generator function is refused before it runs; nothing is written after its await', async () => {
  const h = openHarness({});
  const s = h.store;
  const m = s.map<string, number>('m');
  let ran = false;
  assert.throws(() => s.transaction(async () => {
    ran = true;
    await null;
    m.set('after-await', 1);
  }), refused('ETXSTATE', /synchronous/));
  assert.throws(() => s.transaction(function* gen() {
    ran = true;
    m.set('in-generator', 1);
    yield 1;
  } as unknown as () => unknown), refused('ETXSTATE', /synchronous/));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(ran, false, 'the function never ran');
  assert.equal(m.size, 0);
  // A plain function returning a promise is found when it returns: rolled back.
  assert.throws(() => s.transaction(() => {
    m.set('returned-a-promise', 1);
    return Promise.resolve(1);
  }), refused('ETXSTATE'));
  assert.equal(m.size, 0);
  for (const fn of [undefined, 5, 'fn', {}]) assert.throws(() => s.transaction(fn as unknown as () => unknown), refused('EINVAL', /fn/));
  // Inside a running transaction, a refused nested call does not doom it.
  s.transaction(() => {
    m.set('kept', 1);
    assert.throws(() => s.transaction(async () => 1), refused('ETXSTATE'));
  });
  assert.equal(m.get('kept'), 1);
  assert.ok(s.check().ok);
  h.store.close();
});

test('keys: a detached Uint8Array is EINVAL; a Proxy whose trap throws gives the user\'s error; nothing is written', () => {
  const h = openHarness({});
  const m = h.store.map<Key, number>('m');
  const t = h.store.sortedMap<Key, number>('t');
  const detached = new Uint8Array(4);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  for (const c of [m, t]) {
    assert.throws(() => c.set(detached, 1), refused('EINVAL', /detached/));
    assert.throws(() => c.get([1, detached]), refused('EINVAL', /detached/));
    assert.throws(() => c.has(detached), refused('EINVAL', /detached/));
  }
  const boom = new TypeError('trap');
  const key = new Proxy([1, 2], { get(): never { throw boom; } });
  for (const c of [m, t]) {
    assert.throws(() => c.set(key, 1), (e: unknown) => e === boom);
    assert.throws(() => c.delete(key), (e: unknown) => e === boom);
  }
  // A Proxy pretending to be a Uint8Array is not one: EINVAL, not a TypeError from a getter.
  const fake = new Proxy(new Uint8Array(2), {});
  assert.throws(() => m.set(fake, 1), refused('EINVAL', /unsupported key/));
  assert.equal(m.size, 0);
  assert.equal(t.size, 0);
  assert.ok(h.store.check().ok);
  h.store.close();
});

test('sortedMap.range: options are checked when range is called; gt with gte (lt with lte) is refused', () => {
  const h = openHarness({});
  const t = h.store.sortedMap<number, number>('t');
  for (let i = 0; i < 10; i++) t.set(i, i);
  const cases: [unknown, RegExp][] = [
    [null, /options must be an object/],
    [5, /options must be an object/],
    [{ reverse: 'yes' }, /option reverse/],
    [{ reverse: 1 }, /option reverse/],
    [{ limit: '2' }, /option limit/],
    [{ limit: 1.5 }, /option limit/],
    [{ limit: -1 }, /option limit/],
    [{ limit: NaN }, /option limit/],
    [{ gt: 1, gte: 1 }, /gt or gte, not both/],
    [{ lt: 5, lte: 5 }, /lt or lte, not both/],
    [{ lmit: 2 }, /unknown option "lmit"/],
    [{ gt: null }, /option gt/],
    [{ lte: {} }, /option lte/],
  ];
  for (const [options, names] of cases) {
    assert.throws(() => t.range(options as object), refused('EINVAL', names), JSON.stringify(options));
  }
  assert.deepEqual([...t.range({ gt: 2, lte: 5, reverse: true, limit: 2 })].map(([k]) => k), [5, 4]);
  assert.deepEqual([...t.range({ limit: Infinity })].length, 10);
  assert.deepEqual([...t.range(undefined)].length, 10);
  h.store.close();
});

test('forEach needs a function (checked before iterating, also on an empty collection)', () => {
  const h = openHarness({});
  for (const c of [h.store.map('m'), h.store.sortedMap('t')]) {
    assert.throws(() => c.forEach(undefined as unknown as () => void), refused('EINVAL', /forEach: fn/));
    assert.throws(() => c.forEach('x' as unknown as () => void), refused('EINVAL', /forEach: fn/));
  }
  h.store.close();
});

test(`the collection limit (${MAX_COLLECTIONS}) is ERANGE before anything is allocated; a transaction that catches it goes on`, () => {
  const h = openHarness({ size: 64 << 20 });
  const s = h.store;
  s.transaction(() => {
    for (let i = 0; i < MAX_COLLECTIONS; i++) s.queue(`q${i}`);
  });
  const used = s.stats().pool.used;
  assert.throws(() => s.map('one-too-many'), refused('ERANGE', /at most 4096 collections/));
  assert.equal(s.stats().pool.used, used, 'nothing was allocated');
  s.transaction(() => {
    assert.throws(() => s.sortedMap('one-too-many'), refused('ERANGE'));
    s.queue('q0').push(1);
  });
  assert.equal(s.queue('q0').length, 1);
  assert.equal(s.stats().collections.total, MAX_COLLECTIONS);
  assert.ok(s.check().ok);
  h.store.close();
});
