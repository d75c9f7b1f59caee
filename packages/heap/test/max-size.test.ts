/**
 * maxSize is kept in the pool header (format 3, issue 17 item 6): a pool created to grow still
 * grows after a reopen that does not repeat it; a writable open that gives another maxSize
 * records it, durably; format-2 pools (no maxSize) open with maxSize = size and a writable open
 * upgrades their header; a crash at any point of those header writes leaves a pool that opens
 * with the old or the new header, never a broken one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, isFerriteError } from '@ferrite/core';
import type { ErrorCode } from '@ferrite/core';
import { SimulatedRegion, forEveryCrashPoint } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { readHeaderCopy } from '../src/header.js';
import {
  FORMAT_VERSION, HEADER_A, HEADER_B, HEADER_COPY_SIZE, H_CRC_V2, H_END, H_END_V2, H_VERSION,
} from '../src/layout.js';

const KB = 1024;
const LAYOUT = 'max-size';

function throwsCode(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isFerriteError(err, code), `expected ${code}, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

/** What a restart sees: the durable image on a new simulated region. */
function restart(region: SimulatedRegion): SimulatedRegion {
  return SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' }));
}

/** A pool with a root holding `marker`, closed; returns its region. */
function made(size: number, maxSize: number | undefined, marker = 42): SimulatedRegion {
  const region = new SimulatedRegion(size);
  const pool = Pool.create(region, { layout: LAYOUT, size, ...(maxSize === undefined ? {} : { maxSize }) });
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, marker);
  });
  pool.close();
  return region;
}

/** Rewrites both header copies as format 2 (no maxSize; checksum at 136), durably. */
function toFormat2(region: SimulatedRegion): void {
  const bytes = region.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const base of [HEADER_A, HEADER_B]) {
    bytes.fill(0, base + H_CRC_V2, base + HEADER_COPY_SIZE);
    view.setUint32(base + H_VERSION, 2, true);
    view.setUint32(base + H_CRC_V2, crc32c(bytes, base, H_CRC_V2), true);
    region.persist(base, HEADER_COPY_SIZE);
  }
}

function versions(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [HEADER_A, HEADER_B].map((base) => {
    const c = readHeaderCopy(bytes, view, base);
    assert.ok(c.ok, `copy at ${base} is whole`);
    return c.version;
  });
}

/** Allocates `n` blocks of 60 KiB, each in its own transaction; the count that fit. */
function fill(pool: Pool, n: number): number {
  for (let i = 0; i < n; i++) {
    try {
      pool.transaction((tx) => tx.alloc(60 * KB));
    } catch (err) {
      assert.ok(isFerriteError(err, 'ENOSPC'), String(err));
      return i;
    }
  }
  return n;
}

test('a pool created to grow grows after a reopen that does not repeat maxSize', () => {
  const region = restart(made(64 * KB, 1024 * KB));
  const pool = Pool.open(region, { layout: LAYOUT });
  assert.equal(pool.maxSize, 1024 * KB);
  assert.equal(pool.stats().maxSize, 1024 * KB);
  const off = pool.transaction((tx) => tx.alloc(200 * KB));
  assert.ok(pool.size > 64 * KB, 'the pool grew');
  assert.ok(pool.usableSize(off) >= 200 * KB);
  assert.ok(fill(pool, 40) >= 10);
  assert.ok(pool.size <= 1024 * KB, 'never beyond maxSize');
  assert.ok(pool.check().ok);
  // Growth rewrote the header: its maxSize is still there after another restart.
  const again = Pool.open(restart(region), { layout: LAYOUT });
  assert.equal(again.maxSize, 1024 * KB);
  assert.equal(again.size, pool.size);
});

test('maxSize given at a writable open replaces the one in the header; checked for type and range', () => {
  const region = made(64 * KB, 256 * KB);
  const p = Pool.open(region, { layout: LAYOUT, maxSize: 512 * KB });
  assert.equal(p.maxSize, 512 * KB);
  p.close();
  const q = Pool.open(restart(region), { layout: LAYOUT });
  assert.equal(q.maxSize, 512 * KB, 'remembered');
  assert.ok(q.check().ok);
  q.close();
  // Lowering it is allowed down to the current size.
  Pool.open(region, { layout: LAYOUT, maxSize: 64 * KB }).close();
  assert.equal(Pool.open(restart(region), { layout: LAYOUT }).maxSize, 64 * KB);
  for (const bad of [-5, 1.5, '1000000000', NaN, Infinity, null, 2 ** 60, 32 * KB]) {
    throwsCode(() => Pool.open(region, { layout: LAYOUT, maxSize: bad as number }), 'EINVAL', /maxSize/);
  }
  // A read-only open cannot change it (it may repeat it).
  throwsCode(() => Pool.open(region, { layout: LAYOUT, readOnly: true, maxSize: 128 * KB }), 'EINVAL', /read-only/);
  Pool.open(region, { layout: LAYOUT, readOnly: true, maxSize: 64 * KB }).close();
  assert.equal(Pool.open(restart(region), { layout: LAYOUT }).maxSize, 64 * KB, 'the refused opens changed nothing');
});

test('a format-2 pool opens with maxSize = size; read-only leaves it as it is, writable upgrades it', () => {
  const region = made(64 * KB, undefined, 7);
  toFormat2(region);
  assert.deepEqual(versions(region.bytes), [2, 2]);
  const image = region.bytes.slice();
  const ro = Pool.open(region, { layout: LAYOUT, readOnly: true });
  assert.equal(ro.maxSize, 64 * KB);
  assert.equal(ro.readU64(ro.rootOffset()), 7);
  ro.close();
  assert.deepEqual(region.bytes, image, 'a read-only open writes nothing');
  const rw = Pool.open(region, { layout: LAYOUT });
  assert.equal(rw.maxSize, 64 * KB);
  assert.deepEqual(versions(region.bytes), [FORMAT_VERSION, FORMAT_VERSION]);
  assert.ok(rw.check().ok, JSON.stringify(rw.check().problems));
  rw.close();
  // Upgraded with a new maxSize at once, and the pool then grows.
  toFormat2(region);
  const grown = Pool.open(region, { layout: LAYOUT, maxSize: 512 * KB });
  assert.deepEqual(versions(region.bytes), [FORMAT_VERSION, FORMAT_VERSION]);
  grown.transaction((tx) => tx.alloc(200 * KB));
  assert.ok(grown.size > 64 * KB);
  assert.equal(Pool.open(restart(region), { layout: LAYOUT }).maxSize, 512 * KB);
});

test('a header copy of an unknown format version is EVERSION, not damage; a damaged maxSize is damage', () => {
  const region = made(64 * KB, 128 * KB);
  const bytes = region.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const image = bytes.slice();
  for (const base of [HEADER_A, HEADER_B]) {
    view.setUint32(base + H_VERSION, 9, true);
    view.setUint32(base + H_END - 4, crc32c(bytes, base, H_END - 4), true);
  }
  throwsCode(() => Pool.open(region, { layout: LAYOUT }), 'EVERSION');
  bytes.set(image);
  // maxSize below size in both copies (checksums recomputed): the header is inconsistent.
  for (const base of [HEADER_A, HEADER_B]) {
    view.setUint32(base + H_END - 12, 1, true);
    view.setUint32(base + H_END - 8, 0, true);
    view.setUint32(base + H_END - 4, crc32c(bytes, base, H_END - 4), true);
  }
  throwsCode(() => Pool.open(region, { layout: LAYOUT }), 'ECORRUPT', /maxSize/);
  assert.ok(H_END > H_END_V2);
});

interface OpenCrash {
  before: number;
  after: number;
}

/** Crashes a writable open that rewrites the header (upgrade and/or new maxSize) at every point. */
function crashHeaderRewrite(format2: boolean, newMaxSize: number | undefined): number {
  const before = 128 * KB;
  return forEveryCrashPoint<OpenCrash, Pool>({
    setup() {
      const region = made(64 * KB, before, 99);
      if (format2) toFormat2(region);
      return { region, state: { before: format2 ? 64 * KB : before, after: newMaxSize ?? (format2 ? 64 * KB : before) } };
    },
    run(region) {
      Pool.open(region, { layout: LAYOUT, ...(newMaxSize === undefined ? {} : { maxSize: newMaxSize }) }).close();
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT });
    },
    check(pool, ctx) {
      const allowed = ctx.crashed ? [ctx.state.before, ctx.state.after] : [ctx.state.after];
      assert.ok(allowed.includes(pool.maxSize), `maxSize ${pool.maxSize} is one of ${allowed.join(', ')}`);
      assert.equal(pool.size, 64 * KB);
      assert.equal(pool.readU64(pool.rootOffset()), 99);
      assert.ok(pool.check().ok, JSON.stringify(pool.check().problems));
      // The recovered pool grows exactly as far as its maxSize allows.
      const grew = fill(pool, 20) > 0;
      assert.equal(grew, pool.maxSize > 64 * KB || pool.stats().free >= 60 * KB);
      assert.ok(pool.size <= pool.maxSize);
    },
    seeds: 6,
    recoveryCrashDepth: 2,
  });
}

test('crash: a writable open that records a new maxSize, at every flush and drain', () => {
  const states = crashHeaderRewrite(false, 512 * KB);
  assert.ok(states > 10, `${states} crash states`);
});

test('crash: a writable open that upgrades a format-2 header, with and without a new maxSize, at every flush and drain', () => {
  const states = crashHeaderRewrite(true, undefined) + crashHeaderRewrite(true, 256 * KB);
  assert.ok(states > 10, `${states} crash states`);
});

test('crash: growth of a pool reopened without maxSize, at every flush and drain', () => {
  const states = forEveryCrashPoint<{ size: number }, Pool>({
    setup() {
      return { region: made(64 * KB, 512 * KB, 5), state: { size: 64 * KB } };
    },
    run(region) {
      const pool = Pool.open(region, { layout: LAYOUT });
      pool.transaction((tx) => tx.alloc(150 * KB));
      pool.close();
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT });
    },
    check(pool) {
      assert.equal(pool.maxSize, 512 * KB, 'growth keeps maxSize in the header');
      assert.equal(pool.readU64(pool.rootOffset()), 5);
      assert.ok(pool.check().ok, JSON.stringify(pool.check().problems));
      pool.transaction((tx) => tx.alloc(150 * KB));
      assert.ok(pool.size <= 512 * KB);
    },
    seeds: 4,
    recoveryCrashDepth: 1,
  });
  assert.ok(states > 10, `${states} crash states`);
});
