/**
 * pool.shrink(): the free tail of the heap leaves the pool and its region — on a simulated
 * region, on a pool file written through the redo log (simulated disk), and on real mappings
 * (tmpfs with cache-line flushes, an ordinary file with msync). What stays is exactly what was
 * allocated, the pool checks clean, reopens, and grows again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerriteError } from '@ferrite/core';
import { SimulatedDisk, SimulatedFileTarget, SimulatedRegion } from '@ferrite/core/testing';
import { CHUNK_SIZE, Pool } from '../src/index.js';
import { assertMatches, initRoot, runTx } from './helpers/program.js';
import type { Model } from './helpers/program.js';
import { createOnFile, openOnFile } from './helpers/native-pool.js';

const SIZE = 64 * 1024;
const MAX = 64 * CHUNK_SIZE;

/** Allocates `n` blocks of `size` bytes, one transaction each; returns their offsets and the model. */
function fill(pool: Pool, model: Model, n: number, size: number): { offsets: number[]; model: Model } {
  const offsets: number[] = [];
  let m = model;
  for (let i = 0; i < n; i++) {
    const before = new Set(m.blocks.keys());
    m = runTx(pool, m, { ops: [{ k: 'alloc', size }, { k: 'root', v: i }], abort: false });
    offsets.push([...m.blocks.keys()].find((o) => !before.has(o))!);
  }
  return { offsets, model: m };
}

/** Frees `offsets` in one transaction; returns the model after it. */
function freeAll(pool: Pool, model: Model, offsets: number[]): Model {
  pool.transaction((tx) => {
    for (const o of offsets) tx.free(o);
  });
  const m: Model = { blocks: new Map(model.blocks), root: model.root, rootValue: model.rootValue };
  for (const o of offsets) m.blocks.delete(o);
  return m;
}

test('a free tail leaves the pool and the region; what is allocated stays, the pool checks clean and reopens', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
  let m = initRoot(pool);
  const small = fill(pool, m, 20, 100); // runs near the start
  const big = fill(pool, small.model, 12, 30000); // extents: the pool grows
  m = big.model;
  const grown = pool.size;
  assert.ok(grown > 4 * SIZE, `the pool grew (${grown})`);
  // Free the extents in the second half: a free tail.
  m = freeAll(pool, m, big.offsets.slice(4));
  const r = pool.shrink();
  assert.equal(r.sizeBefore, grown);
  assert.ok(r.sizeAfter < grown && r.sizeAfter === pool.size, `shrunk to ${r.sizeAfter}`);
  assert.equal(r.fileAfter, region.length);
  assert.equal(region.length, pool.size, 'the region is cut at the new size');
  const lastBlock = Math.max(...[...m.blocks.entries()].map(([o, b]) => o + b.size));
  assert.ok(pool.size - lastBlock < CHUNK_SIZE + 64, 'nothing but the last block\'s chunk is kept past it');
  assert.ok(pool.check().ok, JSON.stringify(pool.check().problems.slice(0, 3)));
  assertMatches(pool, m);
  // Nothing left to give: a second shrink changes nothing.
  const again = pool.shrink();
  assert.equal(again.sizeAfter, again.sizeBefore);
  assert.equal(again.fileAfter, again.fileBefore);
  // Reopen from the media: the same blocks, the same size.
  const reopened = Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' })));
  assert.equal(reopened.size, pool.size);
  assertMatches(reopened, m);
  assert.ok(reopened.check().ok);
  // And it grows again.
  const more = fill(reopened, m, 6, 30000);
  assert.ok(reopened.size > pool.size);
  assert.ok(reopened.check().ok);
  assertMatches(reopened, more.model);
});

test('empty runs at the tail are reclaimed; a heap with nothing allocated keeps its first chunk', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
  // No root: everything can go. Runs of several classes, then extents, all freed.
  const blocks: number[] = [];
  for (let i = 0; i < 200; i++) blocks.push(pool.transaction((tx) => tx.alloc(i % 2 === 0 ? 2000 : 300)));
  for (let i = 0; i < 6; i++) blocks.push(pool.transaction((tx) => tx.alloc(40000)));
  assert.ok(pool.stats().perClass.some((c) => c.runs > 1));
  pool.transaction((tx) => {
    for (const b of blocks) tx.free(b);
  });
  const r = pool.shrink();
  assert.equal(r.sizeAfter, pool.heapOffset + CHUNK_SIZE, 'one chunk is kept');
  assert.equal(region.length, r.sizeAfter);
  assert.equal(pool.stats().perClass.reduce((a, c) => a + c.runs, 0), 0, 'the empty runs are gone');
  assert.ok(pool.check().ok, JSON.stringify(pool.check().problems.slice(0, 3)));
  const b = pool.transaction((tx) => tx.alloc(4000));
  assert.ok(pool.check().ok);
  assert.equal(pool.usableSize(b), 4096);
  const big = pool.transaction((tx) => tx.alloc(100000));
  assert.ok(pool.size > r.sizeAfter, 'grows again');
  assert.ok(big > 0 && pool.check().ok);
});

test('a run still in use at the tail stops the shrink there; the runs before it are left alone', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
  let m = initRoot(pool);
  const ext = fill(pool, m, 4, 30000);
  m = ext.model;
  const tail = fill(pool, m, 1, 200); // a run after the extents (the first runs are full? no: a new class)
  m = tail.model;
  m = freeAll(pool, m, ext.offsets);
  const before = pool.size;
  pool.shrink();
  assert.ok(pool.size <= before);
  const lastEnd = Math.max(...[...m.blocks.entries()].map(([o, b]) => o + b.size));
  assert.ok(pool.size >= lastEnd, 'every allocated block is inside the pool');
  assertMatches(pool, m);
  assert.ok(pool.check().ok);
});

test('a region longer than the header says (a crash between the two steps) is cut by the next shrink', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
  let m = initRoot(pool);
  const ext = fill(pool, m, 6, 30000);
  m = freeAll(pool, ext.model, ext.offsets);
  // Crash at the region's truncation (its drain event): the header is new, the region long.
  const sizeBefore = pool.size;
  let drainsToShrink = 0;
  {
    const probe = new SimulatedRegion(SIZE);
    const p = Pool.create(probe, { size: SIZE, maxSize: MAX });
    let pm = initRoot(p);
    const e = fill(p, pm, 6, 30000);
    pm = freeAll(p, e.model, e.offsets);
    const d0 = probe.events.drains;
    p.shrink();
    drainsToShrink = probe.events.drains - d0;
  }
  region.crashAfter(drainsToShrink, { on: 'drain' });
  assert.throws(() => pool.shrink(), (e: unknown) => (e as Error).name === 'SimulatedCrash');
  const image = region.crashImage({ seed: 0, mode: 'media' });
  assert.equal(image.length, sizeBefore, 'the crash struck before the cut');
  const reopened = Pool.open(SimulatedRegion.fromImage(image));
  assert.ok(reopened.size < sizeBefore, 'the header says the new size');
  assert.ok(reopened.check().ok);
  assertMatches(reopened, m);
  const r = reopened.shrink();
  assert.equal(r.sizeAfter, reopened.size);
  assert.equal(r.fileBefore, sizeBefore);
  assert.equal(r.fileAfter, reopened.size, 'the long file is cut');
});

test('blocks come from the lowest run with room: after deletes all over the heap, new blocks do not pin its free tail', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE, maxSize: MAX });
  const blocks: number[] = [];
  for (let t = 0; t < 20; t++) {
    pool.transaction((tx) => {
      for (let i = 0; i < 100; i++) blocks.push(tx.alloc(200));
    });
  }
  const grown = pool.size;
  // Free the upper half, and one block in ten of the lower half, in ascending order (the last
  // freed run is the highest one).
  const half = blocks.length / 2;
  pool.transaction((tx) => {
    for (let i = 0; i < blocks.length; i++) if (i >= half || i % 10 === 0) tx.free(blocks[i]!);
  });
  // New blocks fill the holes of the lower half, not a run of the upper one.
  const fresh: number[] = [];
  pool.transaction((tx) => {
    for (let i = 0; i < 50; i++) fresh.push(tx.alloc(200));
  });
  const kept = [...blocks.slice(0, half).filter((_, i) => i % 10 !== 0), ...fresh];
  const top = Math.max(...kept);
  assert.ok(Math.max(...fresh) <= Math.max(...blocks.slice(0, half)), 'the new blocks went into the lower half');
  const r = pool.shrink();
  assert.ok(r.sizeAfter < grown * 0.75, `the upper half was given back (${r.sizeAfter} of ${grown})`);
  assert.ok(r.sizeAfter > top);
  assert.ok(pool.check().ok);
  assert.deepEqual([...pool.allocations()].map((a) => a.offset).sort((a, b) => a - b), kept.sort((a, b) => a - b));
});

test('refusals: read-only (EROFS), inside a transaction (ETXSTATE), closed (ECLOSED)', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE });
  assert.throws(() => pool.transaction(() => pool.shrink()), (e: unknown) => isFerriteError(e, 'ETXSTATE'));
  const ro = Pool.open(region, { readOnly: true });
  assert.throws(() => ro.shrink(), (e: unknown) => isFerriteError(e, 'EROFS'));
  pool.close();
  assert.throws(() => pool.shrink(), (e: unknown) => isFerriteError(e, 'ECLOSED'));
});

test('a pool file written through the redo log (simulated disk): the log is checkpointed, the view and the file cut', () => {
  for (const shared of [false, true]) {
    const disk = new SimulatedDisk({ pool: MAX, wal: 16 << 20 });
    const pool = Pool.create(new SimulatedFileTarget(disk, { shared }), { size: SIZE, maxSize: MAX });
    let m = initRoot(pool);
    const ext = fill(pool, m, 8, 30000);
    m = freeAll(pool, ext.model, ext.offsets.slice(2));
    const grown = pool.size;
    const r = pool.shrink();
    assert.ok(r.sizeAfter < grown);
    assert.equal(r.fileAfter, r.sizeAfter, 'the view is cut');
    assert.equal(disk.file('pool').length, r.sizeAfter, 'the pool file is cut');
    assert.equal(disk.media('pool').length, r.sizeAfter, 'durably');
    assertMatches(pool, m);
    assert.ok(pool.check().ok);
    // Commits after the shrink, then a reopen (replaying them) from the media.
    m = runTx(pool, m, { ops: [{ k: 'alloc', size: 300 }, { k: 'root', v: 77 }], abort: false });
    const reopened = Pool.open(SimulatedFileTarget.fromRegion(SimulatedRegion.fromImage(disk.region.crashImage({ seed: 0, mode: 'media' }), disk.region.options), { shared }));
    assertMatches(reopened, m);
    assert.ok(reopened.check().ok);
    assert.equal(reopened.size, pool.size);
  }
});

test('real mappings: tmpfs with cache-line flushes and an ordinary file with msync: the file gets shorter', () => {
  const dirs = [mkdtempSync(join('/dev/shm', 'ferrite-shrink-')), mkdtempSync(join(tmpdir(), 'ferrite-shrink-'))];
  try {
    for (const [i, dir] of dirs.entries()) {
      const path = join(dir, 'p.pool');
      const pmem = i === 0;
      let pool = createOnFile(path, { size: SIZE, maxSize: 1 << 24, forcePmem: pmem });
      let m = initRoot(pool);
      const ext = fill(pool, m, 10, 60000);
      m = freeAll(pool, ext.model, ext.offsets.slice(1));
      const long = statSync(path).size;
      const r = pool.shrink();
      assert.equal(statSync(path).size, r.sizeAfter, `${pmem ? 'tmpfs' : 'file'}: the file is cut`);
      assert.ok(r.sizeAfter < long);
      assertMatches(pool, m);
      m = runTx(pool, m, { ops: [{ k: 'alloc', size: 90000 }, { k: 'root', v: 5 }], abort: false });
      assert.ok(statSync(path).size > r.sizeAfter, 'and grows again');
      pool.close();
      pool = openOnFile(path, { forcePmem: pmem });
      assertMatches(pool, m);
      assert.ok(pool.check().ok);
      pool.close();
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
