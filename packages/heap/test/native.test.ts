/**
 * The same model-based programs on a native mapping (persistent memory emulated: forcePmem; no
 * crash injection): the pool file must end byte-for-byte equal to the simulated run's pool (past
 * the header, whose UUID differs). Pool files by path (both media, the redo log, locking,
 * read-only opens) are tested where they are opened: @ferrite/tx's pool-file tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { createOnFile, openOnFile } from './helpers/native-pool.js';
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
      const pool = createOnFile(p, { layout: 'native', size, maxSize: 4 * size, forcePmem: true });
      const history = runProgram(pool, initRoot(pool), program);
      const final = history[history.length - 1]!;
      assertMatches(pool, final);
      assert.deepEqual(final, simHistory[simHistory.length - 1]);
      assert.equal(pool.size, simPool.size);
      assert.ok(Buffer.from(pool.bytes.subarray(512, pool.size)).equals(Buffer.from(simPool.bytes.subarray(512, simPool.size))), 'same bytes');
      assert.ok(pool.check().ok);
      pool.close();
      const again = openOnFile(p, { layout: 'native', maxSize: 4 * size, forcePmem: true });
      assertMatches(again, final);
      fillAndEmpty(again, final);
      again.close();
      rmSync(p);
    }),
    { numRuns: 15, seed: 11 },
  );
});
