import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FerriteError, isFerriteError, PoolFullError } from '@ferrite/core';
import type { ErrorCode } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { HEADER_A, HEADER_B, H_SIZE, H_VERSION, MAGIC } from '../src/layout.js';
import { refuseGrowthAbove } from './helpers/program.js';

const KB = 1024;

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isFerriteError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

function fresh(size = 64 * KB, maxSize?: number): { region: SimulatedRegion; pool: Pool } {
  const region = new SimulatedRegion(size);
  const pool = Pool.create(region, { layout: 'unit', size, maxSize });
  return { region, pool };
}

/** The durable image, opened on a new simulated region (what a restart sees). */
function reopen(region: SimulatedRegion, opts: { maxSize?: number; readOnly?: boolean } = {}): Pool {
  return Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' })), { layout: 'unit', ...opts });
}

test('create then open: layout, uuid, size, root survive', () => {
  const { region, pool } = fresh();
  assert.equal(pool.layout, 'unit');
  assert.match(pool.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(pool.size, 64 * KB);
  assert.equal(pool.rootOffset(), 0);
  const root = pool.root(100);
  assert.equal(pool.root(50), root, 'a smaller request returns the same root');
  assert.ok(pool.usableSize(root) >= 100);
  for (let i = 0; i < 100; i++) assert.equal(pool.bytes[root + i], 0, 'root is zeroed');
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 1234);
  });
  const again = reopen(region);
  assert.equal(again.uuid, pool.uuid);
  assert.equal(again.rootOffset(), root);
  assert.equal(again.readU64(root), 1234);
  assert.equal(again.recovered, false);
  assert.ok(again.check().ok);
});

test('root grows by reallocation, keeping its contents', () => {
  const { region, pool } = fresh();
  const root = pool.root(16);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 77);
  });
  const bigger = pool.root(6000);
  assert.notEqual(bigger, root);
  assert.equal(pool.readU64(bigger), 77);
  assert.equal(pool.bytes[bigger + 5999], 0);
  throwsCode(() => pool.usableSize(root), 'EINVAL');
  const again = reopen(region);
  assert.equal(again.rootOffset(), bigger);
  assert.ok(again.check().ok);
});

test('open errors: EBADMAGIC, EVERSION, ELAYOUT, ECORRUPT; nothing is written', () => {
  const { region } = fresh();
  const good = region.crashImage({ seed: 0, mode: 'media' });

  const cases: { name: string; damage: (b: Uint8Array) => void; code: ErrorCode; layout?: string }[] = [
    { name: 'zeros', damage: (b) => b.fill(0), code: 'EBADMAGIC' },
    { name: 'bad magic in both', damage: (b) => { b[HEADER_A] = 0; b[HEADER_B] = 0; }, code: 'EBADMAGIC' },
    { name: 'both checksums bad', damage: (b) => { b[HEADER_A + 40] ^= 1; b[HEADER_B + 40] ^= 1; }, code: 'ECORRUPT' },
    { name: 'wrong layout', damage: () => {}, code: 'ELAYOUT', layout: 'other' },
    {
      name: 'unknown version',
      damage: (b) => {
        for (const base of [HEADER_A, HEADER_B]) {
          const v = new DataView(b.buffer, b.byteOffset);
          v.setUint32(base + H_VERSION, 99, true);
          // Re-seal the copy so only the version is wrong.
          void resealed(b, base);
        }
      },
      code: 'EVERSION',
    },
    {
      name: 'shorter than header says',
      damage: (b) => {
        for (const base of [HEADER_A, HEADER_B]) {
          new DataView(b.buffer, b.byteOffset).setUint32(base + H_SIZE, 128 * KB, true);
          resealed(b, base);
        }
      },
      code: 'ECORRUPT',
    },
  ];
  for (const c of cases) {
    const img = good.slice();
    c.damage(img);
    const r = SimulatedRegion.fromImage(img);
    const before = r.bytes.slice();
    throwsCode(() => Pool.open(r, { layout: c.layout ?? 'unit' }), c.code);
    assert.deepEqual(r.bytes, before, `${c.name}: nothing written`);
    assert.equal(r.events.flushes + r.events.drains, 0, `${c.name}: no flush`);
  }
  // A region shorter than a header.
  throwsCode(() => Pool.open(new SimulatedRegion(256), { layout: 'unit' }), 'ECORRUPT');
  void MAGIC;
});

import { crc32c } from '@ferrite/core';
import { H_CRC } from '../src/layout.js';
function resealed(b: Uint8Array, base: number): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset);
  v.setUint32(base + H_CRC, crc32c(b, base, H_CRC), true);
  return b;
}

test('a torn header copy is recovered from the other and repaired', () => {
  for (const copy of [HEADER_A, HEADER_B]) {
    const { region, pool } = fresh();
    const root = pool.root(8);
    const img = region.crashImage({ seed: 0, mode: 'media' });
    img[copy + 50] ^= 0xff;
    const r = SimulatedRegion.fromImage(img);
    const p = Pool.open(r, { layout: 'unit' });
    assert.equal(p.rootOffset(), root);
    assert.ok(p.check().ok, 'the damaged copy was rewritten');
    // Read-only opens do not repair.
    const r2 = SimulatedRegion.fromImage(img);
    const ro = Pool.open(r2, { layout: 'unit', readOnly: true });
    assert.equal(ro.check().problems.filter((x) => x.kind === 'header').length, 1);
    assert.equal(r2.events.flushes, 0);
  }
});

test('create errors: layout too long, NUL, size too small, region too short, maxSize < size', () => {
  const r = new SimulatedRegion(64 * KB);
  throwsCode(() => Pool.create(r, { layout: 'x'.repeat(65), size: 64 * KB }), 'EINVAL');
  Pool.create(new SimulatedRegion(64 * KB), { layout: 'é'.repeat(32), size: 64 * KB });
  throwsCode(() => Pool.create(r, { layout: 'a\0b', size: 64 * KB }), 'EINVAL');
  throwsCode(() => Pool.create(r, { layout: 'x', size: 16 * KB }), 'EINVAL');
  throwsCode(() => Pool.create(r, { layout: 'x', size: 128 * KB }), 'EINVAL');
  throwsCode(() => Pool.create(r, { layout: 'x', size: 64 * KB, maxSize: 32 * KB }), 'EINVAL');
  throwsCode(() => Pool.create(r, { layout: 'x', size: 64 * KB, logCapacity: 10 }), 'EINVAL');
  const small = Pool.create(new SimulatedRegion(32 * KB), { layout: 'x', size: 32 * KB });
  assert.ok(small.transaction((tx) => tx.alloc(1000)) > 0, 'a 32 KiB pool holds data');
});

test('closed and read-only pools', () => {
  const { region, pool } = fresh();
  pool.root(8);
  pool.close();
  pool.close();
  throwsCode(() => pool.transaction(() => 1), 'ECLOSED');
  throwsCode(() => pool.root(8), 'ECLOSED');
  const ro = reopen(region, { readOnly: true });
  assert.equal(ro.readOnly, true);
  throwsCode(() => ro.transaction(() => 1), 'EROFS');
  assert.ok(ro.check().ok);
});

test('growth: an allocation that does not fit grows the pool up to maxSize; offsets stay valid', () => {
  const { region, pool } = fresh(64 * KB, 1024 * KB);
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 5);
  });
  const big = pool.transaction((tx) => tx.alloc(100 * KB));
  assert.ok(pool.size > 64 * KB);
  assert.equal(pool.bytes.length, region.length);
  assert.equal(pool.readU64(root), 5);
  assert.ok(pool.check().ok);
  const again = reopen(region, { maxSize: 1024 * KB });
  assert.equal(again.size, pool.size);
  assert.ok(again.usableSize(big) >= 100 * KB);
  // Fill to the maximum: ENOSPC, never beyond maxSize.
  let n = 0;
  for (;;) {
    try {
      again.transaction((tx) => tx.alloc(60 * KB));
      n++;
    } catch (err) {
      assert.ok(isFerriteError(err, 'ENOSPC'));
      break;
    }
  }
  assert.ok(n >= 10);
  assert.ok(again.size <= 1024 * KB);
  assert.ok(again.check().ok);
  // A reopen without maxSize keeps the pool's own (1 MiB, in its header): no growth beyond it.
  const fixed = reopen(region);
  assert.equal(fixed.maxSize, 1024 * KB);
  throwsCode(() => fixed.transaction((tx) => tx.alloc(2000 * KB)), 'ENOSPC');
});

test('growth survives a crash between extending the file and updating the header', () => {
  const { region, pool } = fresh(64 * KB, 512 * KB);
  pool.root(8);
  // Crash at the header's first persist after the region grew: the image is longer than the header says.
  region.crashAfter(2, { on: 'drain' });
  assert.throws(() => pool.transaction((tx) => tx.alloc(100 * KB)));
  const img = region.crashImage({ seed: 1, mode: 'media' });
  assert.ok(img.length > 64 * KB);
  const p = Pool.open(SimulatedRegion.fromImage(img), { layout: 'unit', maxSize: 512 * KB });
  assert.ok(p.check().ok);
  const off = p.transaction((tx) => tx.alloc(100 * KB));
  assert.ok(p.usableSize(off) >= 100 * KB);
  assert.ok(p.check().ok);
});

test('layout: open without one accepts any layout (as pmemobj_open(path, NULL)); with one it must match', () => {
  const { region, pool } = fresh();
  pool.close();
  const image = region.crashImage({ seed: 0, mode: 'media' });
  const any = Pool.open(SimulatedRegion.fromImage(image));
  assert.equal(any.layout, 'unit');
  any.close();
  const named = Pool.open(SimulatedRegion.fromImage(image), { layout: 'unit' });
  assert.equal(named.layout, 'unit');
  named.close();
  throwsCode(() => Pool.open(SimulatedRegion.fromImage(image), { layout: 'ferrite' }), 'ELAYOUT');
  // A bad layout name is still refused when given.
  throwsCode(() => Pool.open(SimulatedRegion.fromImage(image), { layout: 'x'.repeat(65) }), 'EINVAL');
});

test('growth the region refuses (a full file system): PoolFullError naming it, the pool unchanged and usable', () => {
  const size = 64 * KB;
  const region = refuseGrowthAbove(new SimulatedRegion(size), size + 16 * KB);
  const pool = Pool.create(region, { layout: 'unit', size, maxSize: 16 * size });
  const kept = pool.transaction((tx) => tx.alloc(1000));
  const before = [...pool.allocations()];
  for (let attempt = 0; attempt < 2; attempt++) {
    assert.throws(
      () => pool.transaction((tx) => tx.alloc(200 * KB)),
      (err: unknown) => err instanceof PoolFullError && err.code === 'ENOSPC' && /cannot grow from 65536 to \d+ bytes \(grow\(simulated\)/.test(err.message),
    );
    assert.equal(pool.size, size);
    assert.equal(region.length, size, 'the region did not grow');
    assert.deepEqual([...pool.allocations()], before);
    assert.ok(pool.check().ok);
  }
  // Usable: what fits in the pool (or in the one chunk the file system still has) works.
  const small = pool.transaction((tx) => tx.alloc(100));
  assert.ok(small > 0);
  pool.transaction((tx) => tx.free(small));
  assert.equal(pool.usableSize(kept) >= 1000, true);
});

test('growth: when the file system cannot give the 1.5x, the smallest growth that serves the request is taken', () => {
  const size = 256 * KB;
  const region = refuseGrowthAbove(new SimulatedRegion(size), size + 64 * KB);
  const pool = Pool.create(region, { layout: 'unit', size, maxSize: 16 * size });
  // 20000-byte blocks take two chunks each: allocate until one needs the pool to grow.
  for (let i = 0; i < 100 && pool.size === size; i++) pool.transaction((tx) => tx.alloc(20000));
  assert.equal(pool.size, size + 2 * 16 * KB, 'grew by the two chunks the block needed, not by half');
  assert.ok(pool.check().ok);
});

test('growth: ERANGE from the region (a file too long for its file system) is PoolFullError too; EIO is not', () => {
  const size = 64 * KB;
  const tooLong = Pool.create(refuseGrowthAbove(new SimulatedRegion(size), size, 'ERANGE'), { layout: 'unit', size, maxSize: 4 * size });
  assert.throws(() => tooLong.transaction((tx) => tx.alloc(100 * KB)), PoolFullError);
  assert.ok(tooLong.check().ok);
  const failing = Pool.create(refuseGrowthAbove(new SimulatedRegion(size), size, 'EIO'), { layout: 'unit', size, maxSize: 4 * size });
  const before = [...failing.allocations()];
  assert.throws(
    () => failing.transaction((tx) => tx.alloc(100 * KB)),
    (err: unknown) => isFerriteError(err, 'EIO') && !(err instanceof PoolFullError),
  );
  assert.deepEqual([...failing.allocations()], before, 'the transaction was rolled back');
  assert.ok(failing.check().ok);
  assert.ok(failing.transaction((tx) => tx.alloc(100)) > 0, 'and the pool is usable');
});

test('a pool that failed while writing can still be closed (and opened again), even mid-transaction', () => {
  const size = 64 * KB;
  const region = new SimulatedRegion(size);
  const pool = Pool.create(region, { layout: 'unit', size });
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 7);
  });
  // From now on every flush fails, as msync does on an I/O error.
  const fail = (): never => {
    throw new FerriteError('EIO', 'simulated: the medium failed');
  };
  for (const name of ['flush', 'flushRanges', 'persist', 'persistRanges', 'drain'] as const) {
    (region as unknown as Record<string, unknown>)[name] = fail;
  }
  throwsCode(() => pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 8);
  }), 'EIO');
  throwsCode(() => pool.transaction(() => 0), 'EIO');
  pool.close(); // not ETXSTATE: closing is the way out
  assert.equal(pool.isClosed, true);
  const again = reopen(region);
  assert.equal(again.readU64(again.rootOffset()), 7, 'the committed state');
  assert.ok(again.check().ok);
});
