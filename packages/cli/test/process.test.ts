// The command as a real process: exit codes, help, usage errors, the launcher, and that a
// damaged pool ends in a message and an exit code, never a signal. Each child costs about a
// second (tsx compiles the sources), so they run concurrently and are few.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Store } from '@ferrite/tx';
import { runChild } from './support/run.js';
import { run } from './support/run.js';
import { LAYOUT, makeStorePool } from './support/pools.js';

let dir = '';
let pool = '';
before(() => {
  dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-cli-proc-'));
  pool = join(dir, 'p.pool');
  makeStorePool(pool);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('exit codes of real processes: 0 consistent, 1 inconsistent, 2 usage or open error', async () => {
  const damaged = join(dir, 'damaged.pool');
  const bytes = readFileSync(pool);
  bytes[256 + 8] ^= 1; // header copy B's version field: checksum mismatch
  writeFileSync(damaged, bytes);
  const [ok, bad, usage, missing] = await Promise.all([
    runChild(['check', pool]),
    runChild(['check', damaged]),
    runChild(['check', pool, '--frobnicate']),
    runChild(['info', join(dir, 'missing.pool')]),
  ]);
  for (const r of [ok, bad, usage, missing]) assert.equal(r.signal, null);
  // The rest in-process (same code path, no second of tsx per case).
  const [unknown, help, checkHelp, none] = [run('frobnicate'), run('--help'), run('check', '--help'), run()];
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /consistent/);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stdout, /0x00000100 +header +yes +header copy B: checksum mismatch/);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /Unknown option '--frobnicate'/);
  assert.match(usage.stderr, /ferrite check --help/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /ENOENT/);
  assert.equal(help.code, 0);
  for (const c of ['create', 'info', 'check', 'dump', 'stats']) assert.match(help.stdout, new RegExp(`\\n  ${c} `));
  assert.equal(checkHelp.code, 0);
  assert.match(checkHelp.stdout, /Usage: ferrite check FILE \[--repair\] \[--heap\] \[--json\]/);
  assert.match(checkHelp.stdout, /--repair/);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: ferrite <command>/);
  // No progress drawing when stderr is not a terminal.
  assert.doesNotMatch(ok.stderr, /\r/);
});

test('every command has its own --help, and usage errors never touch the file', () => {
  for (const c of ['create', 'info', 'check', 'dump', 'stats']) {
    const r = run(c, '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^Usage: ferrite ${c} `));
    assert.match(r.stdout, /Options:\n/);
    assert.equal(run('help', c).stdout, r.stdout);
  }
  const before2 = readFileSync(pool);
  assert.equal(run('info', pool, 'extra').code, 2);
  assert.equal(run('dump').code, 2);
  assert.deepEqual(readFileSync(pool), before2);
});

test('a pool held by a writer in another process: the reading commands work; a second writer is EBUSY naming its pid until it lets go', async () => {
  const holder = spawn(
    process.execPath,
    ['--conditions=ferrite-source', '--import', 'tsx', fileURLToPath(new URL('./support/hold.ts', import.meta.url)), pool, LAYOUT],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      holder.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (out.includes('ready')) resolve();
      });
      holder.on('exit', (code) => reject(new Error(`holder exited with ${String(code)}`)));
    });
    for (const cmd of ['info', 'check', 'dump', 'stats']) {
      const r = run(cmd, pool);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    }
    // A second writer is refused at once, naming the holder.
    assert.throws(() => Store.open(pool, { layout: LAYOUT }), (e: Error) => new RegExp(`EBUSY|held by pid ${holder.pid}`).test(`${(e as { code?: string }).code ?? ''} ${e.message}`) && e.message.includes(String(holder.pid)));
  } finally {
    holder.stdin.end();
    await new Promise((resolve) => holder.on('close', resolve));
  }
  assert.equal(run('check', pool).code, 0);
});
