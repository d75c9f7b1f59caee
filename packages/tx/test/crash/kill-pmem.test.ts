/**
 * Real crashes on tmpfs with forced cache-line flushes: a child process runs bank transfers
 * on a native mapping and is killed with SIGKILL at random instants; the parent reopens the
 * pool each time (real recovery) and checks the bank's invariants and every reported commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { budget, report, suiteSeed } from './budget.js';
import { killLoop } from './kill-loop.js';

test('SIGKILLed transfers on tmpfs (forcePmem) lose nothing committed', async () => {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'ferrite-kill-pmem-'));
  try {
    const kills = budget(100);
    const seed = suiteSeed(0x6b11_0001);
    console.log(`# kill loop (tmpfs+forcePmem): seed ${seed}, ${kills} kills`);
    const r = await killLoop({ path: join(dir, 'bank.pool'), mode: 'pmem', kills, seed, size: 1 << 20 });
    assert.equal(r.kills, kills);
    assert.ok(r.reported > 0, `no transfer was reported over ${kills} kills`);
    console.log(`# tmpfs+forcePmem: ${r.reported} transfers reported, child started by ${r.how}, ${r.earlyKills} kills before open finished, ${r.inFlightSurvived} unreported commits found durable`);
    report('tmpfs+forcePmem kill loop', 'kills:pmem', r.kills);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
