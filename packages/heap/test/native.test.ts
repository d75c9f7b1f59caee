/**
 * The same model-based programs on a native mapping (no crash injection): the pool file must
 * end byte-for-byte equal to the simulated run's pool (past the header, whose UUID differs),
 * and path-level create/open/growth/locking/read-only behave as documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { assertMatches, fillAndEmpty, initRoot, programArb, runProgram } from './helpers/program.js';

const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = mkdtempSync(join(base, 'ferrite-heap-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = (): string => join(dir, `p${n++}.pool`);

test('random programs on a native mapping match the simulated run byte for byte', () => {
  fc.assert(
    fc.property(programArb(8, 6), (program) => {
      const size = 64 * 1024;
      const sim = new SimulatedRegion(size);
      const simPool = Pool.create(sim, { layout: 'native', size, maxSize: 4 * size });
      const simHistory = runProgram(simPool, initRoot(simPool), program);

      const p = path();
      const pool = Pool.create(p, { layout: 'native', size, maxSize: 4 * size, forcePmem: true });
      const history = runProgram(pool, initRoot(pool), program);
      const final = history[history.length - 1]!;
      assertMatches(pool, final);
      assert.deepEqual(final, simHistory[simHistory.length - 1]);
      assert.equal(pool.size, simPool.size);
      assert.ok(Buffer.from(pool.bytes.subarray(512, pool.size)).equals(Buffer.from(simPool.bytes.subarray(512, simPool.size))), 'same bytes');
      assert.ok(pool.check().ok);
      pool.close();
      const again = Pool.open(p, { layout: 'native', maxSize: 4 * size });
      assertMatches(again, final);
      fillAndEmpty(again, final);
      again.close();
      rmSync(p);
    }),
    { numRuns: 15, seed: 11 },
  );
});

test('path pools: create is exclusive, open locks, growth extends the file, read-only opens', () => {
  const p = path();
  const pool = Pool.create(p, { layout: 'files', size: 64 * 1024, maxSize: 1 << 20 });
  assert.ok(statSync(p).size >= 64 * 1024);
  assert.throws(() => Pool.create(p, { layout: 'files', size: 64 * 1024 }), (e) => isFerriteError(e, 'EEXIST'));
  assert.throws(() => Pool.open(p, { layout: 'files' }), (e) => isFerriteError(e, 'EBUSY'));
  const root = pool.root(64);
  const big = pool.transaction((tx) => {
    tx.addRange(root, 8);
    const b = tx.alloc(200 * 1024);
    pool.writeU64(root, b);
    pool.bytes.fill(5, b, b + 200 * 1024);
    return b;
  });
  assert.ok(pool.size > 64 * 1024);
  assert.equal(statSync(p).size, pool.size);
  pool.close();
  const ro = Pool.open(p, { layout: 'files', readOnly: true });
  assert.equal(ro.readU64(ro.rootOffset()), big);
  assert.equal(ro.bytes[big + 1000], 5);
  assert.throws(() => ro.transaction(() => 0), (e) => isFerriteError(e, 'EROFS'));
  ro.close();
  assert.throws(() => Pool.open(p, { layout: 'wrong' }), (e) => isFerriteError(e, 'ELAYOUT'));
  const rw = Pool.open(p, { layout: 'files' });
  assert.ok(rw.check().ok);
  rw.close();
  assert.throws(() => Pool.open(join(dir, 'missing.pool'), { layout: 'files' }), (e) => isFerriteError(e, 'ENOENT'));
});

test('a crashed pool file: read-only open recovers in memory and leaves the file alone; writable open recovers it', async () => {
  const { writeFileSync, readFileSync } = await import('node:fs');
  const region = new SimulatedRegion(64 * 1024);
  const pool = Pool.create(region, { layout: 'crashed', size: 64 * 1024 });
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 1);
  });
  region.crashAfter(2, { on: 'drain' }); // at the commit's drain of the alloc's snapshots: no commit record yet
  assert.throws(() =>
    pool.transaction((tx) => {
      tx.addRange(root, 8);
      pool.writeU64(root, 2);
      tx.alloc(100);
    }),
  );
  const p = path();
  const image = region.crashImage({ seed: 0, mode: 'live' });
  writeFileSync(p, image);
  const ro = Pool.open(p, { layout: 'crashed', readOnly: true });
  assert.equal(ro.recovered, true);
  assert.equal(ro.recoveredInMemory, true);
  assert.equal(ro.readU64(root), 1);
  assert.ok(ro.check().ok);
  ro.close();
  assert.ok(readFileSync(p).equals(Buffer.from(image)), 'the file is untouched');
  const rw = Pool.open(p, { layout: 'crashed' });
  assert.equal(rw.recovered, true);
  assert.equal(rw.readU64(root), 1);
  assert.ok(rw.check().ok);
  rw.close();
  const again = Pool.open(p, { layout: 'crashed' });
  assert.equal(again.recovered, false);
  again.close();
});
