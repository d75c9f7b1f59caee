/**
 * Readers in other processes and threads, against a writer that is SIGKILLed at random moments
 * and restarted: two reader processes, each with a worker thread of its own, check the bank's
 * invariants with `store.read` and iterate the accounts, non-stop, while writer children run
 * transfers on the same pool (bank-child.ts) and are killed — in the middle of a transaction,
 * of a commit's copy into the file, of the recovery at open. No reader may ever see a broken
 * invariant or a sequence going back, hang, or die; readers never stop a writer from opening.
 * On persistent memory (tmpfs, forcePmem: the writer changes the pool in place) and on an
 * ordinary file (redo log; the writer copies each commit into the file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';
import { checkBank } from './bank.js';
import { budget, suiteSeed } from './budget.js';
import { childCommand, type ChildCommand } from './child-command.js';
import { createBank, diskDir } from './kill-loop.js';

const READER_SOURCE = fileURLToPath(new URL('./bank-reader-child.ts', import.meta.url));

interface Exited {
  out: string;
  err: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

function collect(child: ReturnType<typeof spawn>): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const r: Exited = { out: '', err: '', code: null, signal: null };
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => { r.out += c; });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => { if (r.err.length < 20_000) r.err += c; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      r.code = code;
      r.signal = signal;
      resolve(r);
    });
  });
}

/** Runs one writer child until `delay` ms after it printed `line` ('opening' or 'ready'), then SIGKILLs it. */
function writerRun(command: ChildCommand, path: string, mode: 'pmem' | 'msync', seed: number, line: 'opening' | 'ready', delay: number): Promise<Exited> {
  const child = spawn(process.execPath, [...command.args, path, mode, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  let armed = false;
  const watchdog = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.on('data', (c: Buffer) => {
    if (armed) return;
    seen += c.toString('utf8');
    if (seen.includes(`${line}\n`)) {
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), delay);
    }
  });
  return collect(child).finally(() => clearTimeout(watchdog));
}

async function readersAgainstKilledWriters(mode: 'pmem' | 'msync', dir: string): Promise<void> {
  const path = join(dir, 'bank.pool');
  const seed = suiteSeed(mode === 'pmem' ? 0x2ead_0001 : 0x2ead_0002);
  const prng = new Prng(seed);
  createBank({ path, mode, kills: 0, seed, size: 1 << 20 });
  const writer = childCommand();
  const reader = childCommand(READER_SOURCE);
  const kills = budget(12);
  const readMillis = 4000 + kills * 400;
  console.log(`# readers (${mode}): seed ${seed}, ${kills} writer kills, readers for ${readMillis} ms (${writer.how})`);
  try {
    const readers = [0, 1].map(() => collect(spawn(process.execPath, [...reader.args, path, String(readMillis), '1'], { stdio: ['ignore', 'pipe', 'pipe'] })));
    const started = Date.now();
    let k = 0;
    // Writers come and go for as long as the readers read (at least `kills` times).
    while (k < kills || Date.now() - started < readMillis - 500) {
      const duringOpen = prng.below(5) === 0;
      const run = await writerRun(writer, path, mode, prng.nextU32(), duringOpen ? 'opening' : 'ready', duringOpen ? prng.below(4) : 20 + prng.below(150));
      assert.equal(run.signal, 'SIGKILL', `writer ${k} ended by itself (code ${String(run.code)}): ${run.err}`);
      k++;
    }
    const done = await Promise.all(readers);
    for (const [i, r] of done.entries()) {
      const violations = r.out.split('\n').filter((l) => l.startsWith('V '));
      assert.deepEqual(violations, [], `reader ${i} saw a state that is not a committed one:\n${violations.join('\n')}\n${r.err}`);
      assert.equal(r.signal, null, `reader ${i} died: ${r.signal} ${r.err}`);
      assert.equal(r.code, 0, `reader ${i} exited with ${String(r.code)}: ${r.err}`);
      const finals = r.out.split('\n').filter((l) => l.startsWith('D '));
      assert.equal(finals.length, 2, `reader ${i}: main thread and worker both finish: ${r.out.slice(-2000)}`);
      for (const f of finals) {
        const [, label, reads, seq] = f.split(' ');
        assert.ok(Number(reads) > 0, `${label} read nothing`);
        assert.ok(Number(seq) > 0, `${label} never saw a transfer`);
        console.log(`# ${mode} reader ${f}`);
      }
    }
    // And the pool itself: recovered by a last writable open, consistent.
    const store = Store.open(path, { forcePmem: mode === 'pmem' });
    try {
      checkBank(store, new Map(), 0, Number.MAX_SAFE_INTEGER);
      assert.ok(store.check().ok);
    } finally {
      store.close();
    }
    console.log(`# ${mode}: ${k} writers killed while the readers read`);
  } finally {
    writer.dispose();
    reader.dispose();
  }
}

test('readers in two processes and two worker threads see only committed states of a writer killed at random (persistent memory)', { skip: existsSync('/dev/shm') ? false : 'no /dev/shm' }, async () => {
  const dir = mkdtempSync(join('/dev/shm', 'ferrite-readers-'));
  try {
    await readersAgainstKilledWriters('pmem', dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readers in two processes and two worker threads see only committed states of a writer killed at random (ordinary file)', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-readers-'));
  try {
    await readersAgainstKilledWriters('msync', dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
