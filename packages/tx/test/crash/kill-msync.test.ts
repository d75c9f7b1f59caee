/**
 * Real crashes on an ordinary file (the msync path): a child process runs bank transfers and
 * is killed with SIGKILL at random instants; the parent reopens the pool each time and checks
 * the bank's invariants and every reported commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { budget, report, suiteSeed } from './budget.js';
import { diskDir, killLoop } from './kill-loop.js';

test('SIGKILLed transfers on a disk file (msync) lose nothing committed', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-kill-msync-'));
  try {
    const kills = budget(100);
    const seed = suiteSeed(0x6b11_0002);
    console.log(`# kill loop (msync file): seed ${seed}, ${kills} kills`);
    const r = await killLoop({ path: join(dir, 'bank.pool'), mode: 'msync', kills, seed, size: 1 << 20 });
    assert.equal(r.kills, kills);
    assert.ok(r.reported > 0, `no transfer was reported over ${kills} kills`);
    console.log(`# msync file: ${r.reported} transfers reported, child started by ${r.how}, ${r.earlyKills} kills before open finished, ${r.inFlightSurvived} unreported commits found durable`);
    report('msync file kill loop', 'kills:msync', r.kills);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
