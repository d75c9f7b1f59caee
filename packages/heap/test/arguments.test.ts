/**
 * The heap's public entry points check their arguments first (issue 17, item 5): a wrong one
 * is EINVAL naming it (a TypeError or RangeError from deep inside before, or nothing), an
 * unknown option is refused, and nothing is created or changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import type { Region } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';

const KB = 1024;

function refused(code: ErrorCode, names: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isFerriteError(err, code), `expected ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.match(err.message, names);
    return true;
  };
}

test('Pool.create: target and options are checked (type, range, unknown names); a blank region stays blank', () => {
  for (const target of [5, undefined, null, {}, '', 'a\0b', [1]]) {
    assert.throws(() => Pool.create(target as unknown as Region, { layout: 'x', size: 64 * KB }), refused('EINVAL', /Pool\.create: target/));
  }
  const region = new SimulatedRegion(64 * KB);
  const cases: [unknown, RegExp][] = [
    [undefined, /option size/],
    [null, /options must be an object/],
    [{ layout: 5, size: 64 * KB }, /layout/],
    [{ layout: 'x' }, /option size/],
    [{ layout: 'x', size: '65536' }, /option size/],
    [{ layout: 'x', size: 64 * KB + 0.5 }, /option size/],
    [{ layout: 'x', size: 64 * KB, maxSize: 32 * KB }, /option maxSize/],
    [{ layout: 'x', size: 64 * KB, maxSize: 2 ** 50 }, /option maxSize/],
    [{ layout: 'x', size: 64 * KB, logCapacity: 'big' }, /option logCapacity/],
    [{ layout: 'x', size: 64 * KB, sise: 1 }, /unknown option "sise"/],
    [{ layout: 'x', size: 64 * KB, forcePmem: true }, /unknown option "forcePmem"/],
    [{ layout: 7, size: 64 * KB }, /option layout/],
  ];
  for (const [options, names] of cases) {
    assert.throws(() => Pool.create(region, options as never), refused('EINVAL', names), JSON.stringify(options));
  }
  assert.ok(region.bytes.every((b) => b === 0), 'nothing was written');
});

test('Pool.open: options are checked before the pool is read; readU64/writeU64 check their offset', () => {
  const region = new SimulatedRegion(64 * KB);
  Pool.create(region, { layout: 'x', size: 64 * KB }).close();
  const cases: [unknown, RegExp][] = [
    [{ layout: 5 }, /layout/],
    [{ layout: 'x', readOnly: 'no' }, /option readOnly/],
    [{ layout: 'x', maxSize: -5 }, /option maxSize/],
    [{ layout: 'x', maxSize: '1000000000' }, /option maxSize/],
    [{ layout: 'x', readonly: true }, /unknown option "readonly"/],
  ];
  for (const [options, names] of cases) {
    assert.throws(() => Pool.open(region, options as never), refused('EINVAL', names), JSON.stringify(options));
  }
  const pool = Pool.open(region, { layout: 'x' });
  for (const offset of [-8, 1.5, 64 * KB, 2 ** 60, NaN]) {
    assert.throws(() => pool.readU64(offset), (e: unknown) => isFerriteError(e, 'EINVAL') || isFerriteError(e, 'ERANGE'));
    assert.throws(() => pool.writeU64(offset, 1), (e: unknown) => isFerriteError(e, 'EINVAL') || isFerriteError(e, 'ERANGE'));
  }
  assert.ok(pool.check().ok);
});

test('pool.transaction refuses a non-function, an async and a generator function before running them', async () => {
  const pool = Pool.create(new SimulatedRegion(64 * KB), { layout: 'x', size: 64 * KB });
  const root = pool.root(16);
  let ran = false;
  assert.throws(() => pool.transaction(5 as never), refused('EINVAL', /fn must be a function/));
  assert.throws(() => pool.transaction((async () => {
    ran = true;
    await null;
  }) as never), refused('ETXSTATE', /synchronous/));
  assert.throws(() => pool.transaction(function* gen() {
    ran = true;
  } as never), refused('ETXSTATE', /synchronous/));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(ran, false);
  assert.equal(pool.readU64(root), 0);
  assert.ok(pool.check().ok);
});

test('pool.transaction and transactionDeferred remember only a synchronous function: an async one is refused after a sync one ran, every time', async () => {
  const pool = Pool.create(new SimulatedRegion(64 * KB), { layout: 'x', size: 64 * KB });
  const root = pool.root(16);
  const body = (tx: Parameters<Parameters<typeof pool.transaction>[0]>[0]): void => {
    tx.addRange(root, 8);
    pool.writeU64(root, pool.readU64(root) + 1);
  };
  let ran = 0;
  const asyncBody = (async () => {
    ran++;
    await null;
  }) as never;
  const genBody = function* gen() {
    ran++;
  } as never;
  for (let i = 0; i < 3; i++) {
    pool.transaction(body); // the remembered one
    assert.throws(() => pool.transaction(asyncBody), refused('ETXSTATE', /synchronous/));
    pool.transactionDeferred(body);
    assert.throws(() => pool.transactionDeferred(genBody), refused('ETXSTATE', /synchronous/));
    assert.throws(() => pool.transaction(genBody), refused('ETXSTATE', /synchronous/));
    assert.throws(() => pool.transactionDeferred(asyncBody), refused('ETXSTATE', /synchronous/));
  }
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(ran, 0);
  assert.equal(pool.readU64(root), 6);
  assert.ok(pool.check().ok);
});
