// The reading commands on a live pool: a writer in another process runs bank transfers
// non-stop (tx's crash workload: every transfer moves money between accounts and journals it,
// in one transaction), and `dump`, `check`, `info` and `stats` run meanwhile. Each must report
// one committed state: the dumped balances sum to the bank's total, the checkpoint plus the
// journal gives the balances, the journal is consecutive up to meta.seq; check finds the pool
// consistent. On persistent memory (tmpfs, forcePmem: the writer stores in place) and on an
// ordinary file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@ferrite/tx';
import { ACCOUNTS, INITIAL_BALANCE, setUpBank, type Transfer } from '../../tx/test/crash/bank.js';
import { childCommand } from '../../tx/test/crash/child-command.js';
import { diskDir } from '../../tx/test/crash/kill-loop.js';
import { run } from './support/run.js';

interface Line {
  collection: string;
  key?: unknown;
  index?: number;
  value: unknown;
}

/** The bank's invariants over a dump's lines; returns meta.seq. */
function checkDumpedBank(lines: Line[]): number {
  const of = (c: string): Line[] => lines.filter((l) => l.collection === c);
  const balances = new Array<number>(ACCOUNTS).fill(NaN);
  for (const l of of('accounts')) balances[l.key as number] = l.value as number;
  const folded = new Array<number>(ACCOUNTS).fill(NaN);
  for (const l of of('checkpoint')) folded[l.key as number] = l.value as number;
  assert.equal(balances.reduce((a, b) => a + b, 0), ACCOUNTS * INITIAL_BALANCE, 'the dumped balances sum to the total');
  const seq = of('meta').find((l) => l.key === 'seq')?.value as number;
  const journal = of('journal').map((l) => l.value as Transfer);
  journal.forEach((t, i) => {
    assert.equal(t.seq, seq - journal.length + 1 + i, 'the journal is consecutive up to meta.seq');
    folded[t.from]! -= t.amount;
    folded[t.to]! += t.amount;
  });
  assert.deepEqual(folded, balances, 'checkpoint + journal gives the balances');
  return seq;
}

async function liveCommands(dir: string, mode: 'pmem' | 'msync'): Promise<void> {
  const pool = join(dir, 'bank.pool');
  const setup = Store.open(pool, { create: true, size: 1 << 20, forcePmem: mode === 'pmem' });
  setUpBank(setup);
  setup.close();
  const command = childCommand();
  const writer = spawn(process.execPath, [...command.args, pool, mode, '7'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let transfers = 0;
    await new Promise<void>((resolve, reject) => {
      writer.stdout.setEncoding('utf8').on('data', (s: string) => {
        transfers += s.split('\n').filter((l) => l.startsWith('C ')).length;
        if (transfers >= 20) resolve();
      });
      writer.on('exit', (code) => reject(new Error(`the writer exited with ${String(code)}`)));
    });
    let lastSeq = 0;
    for (let round = 0; round < 8; round++) {
      const dump = run('dump', pool);
      assert.equal(dump.code, 0, dump.stderr);
      const seq = checkDumpedBank(dump.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line));
      assert.ok(seq >= lastSeq, `dumps go forward (${lastSeq} then ${seq})`);
      lastSeq = seq;
      const check = run('check', pool);
      assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);
      assert.match(check.stdout, /consistent/);
      for (const cmd of ['info', 'stats']) {
        const r = run(cmd, pool);
        assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
        assert.match(r.stdout, /accounts|collections/);
      }
    }
    assert.ok(lastSeq > 0, 'the dumps saw transfers');
    console.log(`# ${mode}: 8 rounds of dump, check, info and stats under a writer at seq ${lastSeq}`);
  } finally {
    writer.kill('SIGKILL');
    await new Promise((resolve) => writer.on('close', resolve));
    command.dispose();
  }
}

test('dump, check, info and stats report one committed state of a pool a writer changes non-stop (persistent memory)', { skip: existsSync('/dev/shm') ? false : 'no /dev/shm' }, async () => {
  const dir = mkdtempSync(join('/dev/shm', 'ferrite-cli-live-'));
  try {
    await liveCommands(dir, 'pmem');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dump, check, info and stats report one committed state of a pool a writer changes non-stop (ordinary file)', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-cli-live-'));
  try {
    await liveCommands(dir, 'msync');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
