/**
 * Real crashes of group commit on an ordinary file: a child runs bank transfers with
 * `transactionAsync`, in batches issued in one event-loop turn (one log write and sync each,
 * off the main thread), reporting each transfer only once its promise resolved; it is
 * SIGKILLed at random instants. After every kill: every resolved transfer is there, the pool's
 * transfers are consecutive (commits are a prefix: none is missing before one that is there),
 * the bank's invariants hold, and check() is clean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { budget, report, suiteSeed } from './budget.js';
import { diskDir, killLoop } from './kill-loop.js';

test('SIGKILLed transactionAsync transfers on a disk file lose no resolved commit, and commits are a prefix', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-kill-async-'));
  try {
    const kills = budget(60);
    const seed = suiteSeed(0x6b11_0003);
    console.log(`# kill loop (transactionAsync, file): seed ${seed}, ${kills} kills`);
    const r = await killLoop({ path: join(dir, 'bank.pool'), mode: 'async', kills, seed, size: 1 << 20 });
    assert.equal(r.kills, kills);
    assert.ok(r.reported > 0, `no transfer was reported over ${kills} kills`);
    console.log(`# async file: ${r.reported} transfers reported, ${r.earlyKills} kills before open finished, ${r.inFlightSurvived} kills found durable unreported transfers`);
    report('async file kill loop', 'kills:async', r.kills);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
