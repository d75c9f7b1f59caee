/**
 * Store over real pool files (tmpfs under /dev/shm when present, else the OS temp dir):
 * create / reopen, ENOENT, EBUSY, read-only (EROFS, recovery without writing the file),
 * growth up to maxSize.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Store, defaultPoolPath } from '../src/index.js';

const paths: string[] = [];
function tempPool(tag: string): string {
  const p = defaultPoolPath(`ferrite-store-test-${process.pid}-${tag}`);
  rmSync(p, { force: true });
  paths.push(p);
  return p;
}
after(() => {
  for (const p of paths) rmSync(p, { force: true });
});
function code(c: ErrorCode) {
  return (e: unknown) => isFerriteError(e, c);
}

test('create, write, close, reopen: the data is there; stats name the medium', () => {
  const path = tempPool('basic');
  assert.throws(() => Store.open(path), code('ENOENT'));
  const store = Store.open(path, { create: true, size: 4 << 20 });
  store.map<string, number>('m').set('a', 1);
  store.queue<string>('q').push('x', 'y');
  const st = store.stats();
  assert.equal(st.path, path);
  assert.equal(st.medium, path.startsWith('/dev/shm/') ? 'tmpfs' : 'file');
  assert.equal(st.isPmem, path.startsWith('/dev/shm/'));
  assert.equal(st.layout, 'ferrite');
  assert.equal(st.recovered, false);
  assert.ok(st.pool.size >= 4 << 20);
  store.close();
  assert.ok(existsSync(path));
  const again = Store.open(path);
  assert.equal(again.map<string, number>('m').get('a'), 1);
  assert.deepEqual([...again.queue<string>('q')], ['x', 'y']);
  assert.ok(again.check().ok);
  again.close();
  assert.throws(() => Store.open(path, { layout: 'other' }), code('ELAYOUT'));
});

test('a second writable open of the same pool is EBUSY', () => {
  const path = tempPool('busy');
  const store = Store.open(path, { create: true, size: 1 << 20 });
  assert.throws(() => Store.open(path), code('EBUSY'));
  store.close();
  Store.open(path).close();
});

test('read-only: reads work, every write is EROFS, transaction runs fn', () => {
  const path = tempPool('ro');
  const w = Store.open(path, { create: true, size: 1 << 20 });
  w.map<string, number>('m').set('a', 1);
  w.queue<number>('q').push(1);
  w.close();
  const before = readFileSync(path);
  const r = Store.open(path, { readOnly: true });
  assert.equal(r.readOnly, true);
  const m = r.map<string, number>('m');
  assert.equal(m.get('a'), 1);
  assert.throws(() => m.set('b', 2), code('EROFS'));
  assert.throws(() => r.queue<number>('q').push(2), code('EROFS'));
  assert.throws(() => r.queue<number>('q').shift(), code('EROFS'));
  assert.throws(() => r.queue('new'), code('EROFS'));
  assert.throws(() => r.drop('m'), code('EROFS'));
  assert.equal(r.transaction(() => m.get('a')), 1);
  assert.deepEqual(r.collections().map((c) => c.name), ['m', 'q']);
  assert.ok(r.check().ok);
  r.close();
  assert.deepEqual(readFileSync(path), before, 'a read-only open leaves the file untouched');
});

test('read-only open of a pool that needs recovery presents the recovered state and leaves the file as is', () => {
  // Make a pool image interrupted mid-transaction on the simulated region, then save it as a file.
  const size = 1 << 20;
  const region = new SimulatedRegion(size);
  const s = Store.open(region, { create: true, size });
  s.queue<number>('q').push(1, 2);
  // The 2nd drain of the transaction: the first makes the snapshots of the first push durable
  // (later pushes append past the tail's `used` without logging, so they need no drain of
  // their own); the 2nd is the commit's data drain, before the commit point.
  region.crashAfter(2, { on: 'drain' });
  let crashed = false;
  try {
    s.transaction(() => {
      const q = s.queue<number>('q');
      for (let i = 0; i < 50; i++) q.push(100 + i);
      q.shift();
    });
  } catch {
    crashed = region.crashed !== undefined;
  }
  assert.ok(crashed, 'the transaction was interrupted');
  const path = tempPool('recover');
  writeFileSync(path, region.crashImage({ seed: 1, mode: 'live' }));
  const image = readFileSync(path);

  const r = Store.open(path, { readOnly: true });
  assert.equal(r.recovered, true);
  assert.equal(r.stats().recoveredInMemory, true);
  assert.deepEqual([...r.queue<number>('q')], [1, 2]);
  assert.ok(r.check().ok);
  r.close();
  assert.deepEqual(readFileSync(path), image, 'read-only recovery did not write the file');

  const w = Store.open(path);
  assert.equal(w.recovered, true);
  assert.equal(w.stats().recoveredInMemory, false);
  assert.deepEqual([...w.queue<number>('q')], [1, 2]);
  w.queue<number>('q').push(3);
  w.close();
  const again = Store.open(path, { readOnly: true });
  assert.equal(again.recovered, false);
  assert.deepEqual([...again.queue<number>('q')], [1, 2, 3]);
  again.close();
});

test('the pool grows up to maxSize, then ENOSPC rolls back and leaves the store usable', () => {
  const path = tempPool('grow');
  const store = Store.open(path, { create: true, size: 256 << 10, maxSize: 2 << 20 });
  const q = store.queue<string>('q');
  const initial = store.stats().pool.size;
  const value = 'v'.repeat(1000);
  let pushed = 0;
  let full: unknown;
  for (let i = 0; i < 5000 && full === undefined; i++) {
    try {
      q.push(value);
      pushed++;
    } catch (e) {
      full = e;
    }
  }
  assert.ok(isFerriteError(full, 'ENOSPC'), String(full));
  const grown = store.stats().pool.size;
  assert.ok(grown > initial && grown <= 2 << 20, `grew from ${initial} to ${grown}`);
  assert.equal(q.length, pushed);
  assert.ok(pushed > 1000);
  assert.equal(q.shift(), value);
  assert.ok(store.check().ok);
  store.close();
  const again = Store.open(path, { maxSize: 2 << 20 });
  assert.equal(again.queue('q').length, pushed - 1);
  again.close();
});

test('defaultPoolPath picks tmpfs when present and rejects path-like names', () => {
  const p = defaultPoolPath('x');
  assert.ok(p.endsWith('/x.pool'));
  if (existsSync('/dev/shm')) assert.ok(p.startsWith('/dev/shm/'));
  assert.throws(() => defaultPoolPath('a/b'), code('EINVAL'));
  assert.throws(() => defaultPoolPath(''), code('EINVAL'));
});

test('layout as PMDK: create stamps "ferrite"; open without layout accepts any; with layout it must match', () => {
  const plain = tempPool('layout-default');
  Store.open(plain, { create: true, size: 1 << 20 }).close();
  const d = Store.open(plain, { layout: 'ferrite' });
  assert.equal(d.layout, 'ferrite');
  d.close();
  const app = tempPool('layout-app');
  const w = Store.open(app, { create: true, size: 1 << 20, layout: 'app' });
  w.map<string, number>('m').set('k', 1);
  w.close();
  // Without a layout: a pool of any layout opens (before, the default 'ferrite' was enforced).
  const any = Store.open(app);
  assert.equal(any.layout, 'app');
  assert.equal(any.map<string, number>('m').get('k'), 1);
  any.close();
  const ro = Store.open(app, { readOnly: true });
  assert.equal(ro.layout, 'app');
  ro.close();
  assert.throws(() => Store.open(app, { layout: 'ferrite' }), code('ELAYOUT'));
  assert.throws(() => Store.open(app, { layout: 'other', readOnly: true }), code('ELAYOUT'));
  Store.open(app, { layout: 'app' }).close();
  // On a region too.
  const region = new SimulatedRegion(1 << 20);
  Store.open(region, { create: true, layout: 'r' }).close();
  const onRegion = Store.open(SimulatedRegion.fromImage(region.media()));
  assert.equal(onRegion.layout, 'r');
  onRegion.close();
});
