/**
 * Real crashes of a backup and of a compaction: a child process is SIGKILLed at a random
 * instant while it backs up a pool it keeps writing (bank transfers every event-loop turn), or
 * while it compacts a pool in place. After every kill:
 *   - the source is intact: it opens, its bank invariants hold, every transfer the child
 *     reported is there (at most the one in flight besides), and check() is clean;
 *   - the backup's destination path holds no file unless the backup had published it (its
 *     return follows, but a kill can land between the two): a complete copy, a committed state
 *     of the bank, check() clean; a compacted pool holds exactly what it held before;
 *   - a temporary the kill left (the hidden file of an unpublished create, a compaction's
 *     published copy not yet renamed) is removed by the next backup to the same path, or the
 *     next compaction of the pool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '@ferrite/core/testing';
import { Store, compactPoolFile } from '../../src/index.js';
import { checkBank, setUpBank, type Transfer } from './bank.js';
import { budget, suiteSeed } from './budget.js';
import { childCommand, type ChildCommand } from './child-command.js';
import { diskDir, parseTransfer } from './kill-loop.js';

const CHILD = fileURLToPath(new URL('./backup-child.ts', import.meta.url));
/** Values in the pool besides the bank: the copy takes many steps. */
const FILLER_VALUES = 6000;

interface Run {
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  /** The child printed `D`: the backup or compaction had returned before the kill. */
  finished: boolean;
}

/** Runs the child and kills it `delay` ms after its first `P` (the first step). */
function runChild(command: ChildCommand, args: string[], delay: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command.args, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { lines: [], signal: null, code: null, stderr: '', finished: false };
    let partial = '';
    let timer: NodeJS.Timeout | undefined;
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (line === 'P' && timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), delay);
        if (line === 'D') run.finished = true;
        run.lines.push(line);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (run.stderr.length < 10_000) run.stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      clearTimeout(watchdog);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

/** A bank pool with filler on an ordinary file (the redo log path). */
function makeBank(path: string): void {
  const store = Store.open(path, { create: true, size: 4 << 20, maxSize: 256 << 20 });
  setUpBank(store);
  const filler = store.map<number, string>('filler');
  store.transaction(() => {
    for (let i = 0; i < FILLER_VALUES; i++) filler.set(i, `${i}`.padEnd(3000, 'f'));
  });
  store.close();
}

/** Hidden temporaries of creates of `name` in `dir`. */
function leftovers(dir: string, name: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith(`.${name}.ferrite-`));
}

test('SIGKILL during a live backup: the source is intact, and no file is left at the destination', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-kill-backup-'));
  const command = childCommand(CHILD);
  try {
    const pool = join(dir, 'bank.pool');
    const dest = join(dir, 'copy.pool');
    makeBank(pool);
    const kills = budget(8);
    const prng = new Prng(suiteSeed(0x6b11_0b0b));
    const reported = new Map<number, Transfer>();
    let lastSeq = 0;
    let midway = 0;
    let leftBehind = 0;
    let publishedUnreported = 0;
    for (let k = 0; k < kills; k++) {
      const run = await runChild(command, ['backup', pool, dest, String(prng.nextU32())], prng.below(120));
      const where = `kill ${k} (${command.how})`;
      assert.equal(run.signal, 'SIGKILL', `${where}: the child ended by itself (code ${String(run.code)}): ${run.stderr}`);
      let maxReported = lastSeq;
      for (const line of run.lines) {
        if (!line.startsWith('C ')) continue;
        const t = parseTransfer(line);
        assert.equal(t.seq, maxReported + 1, `${where}: reported seq ${t.seq} after ${maxReported}`);
        reported.set(t.seq, t);
        maxReported = t.seq;
      }
      const source = Store.open(pool);
      try {
        lastSeq = checkBank(source, reported, maxReported, 1);
        assert.ok(source.check().ok, `${where}: the source checks clean`);
        assert.equal(source.map('filler').size, FILLER_VALUES);
      } finally {
        source.close();
      }
      // A copy at the destination is complete: the backup had returned, or the kill struck
      // between its publication (the rename) and its return (no `D` printed yet).
      if (run.finished || existsSync(dest)) {
        if (!run.finished) publishedUnreported++;
        // One committed state of the bank.
        const copy = Store.open(dest, { readOnly: true });
        try {
          assert.ok(copy.check().ok, `${where}: the finished copy checks clean`);
          checkBank(copy, new Map(), 0, Infinity);
          assert.equal(copy.map('filler').size, FILLER_VALUES);
        } finally {
          copy.close();
        }
        rmSync(dest);
      } else {
        midway++;
        if (leftovers(dir, 'copy.pool').length > 0) leftBehind++;
      }
      for (const s of reported.keys()) if (s < lastSeq - 100) reported.delete(s);
    }
    console.log(`# backup kills: ${kills} (${midway} during the copy, ${leftBehind} left a hidden temporary, ${publishedUnreported} after the copy was published but before the backup returned)`);
    assert.ok(midway > 0, 'some kills struck during the copy');
    // The next backup to the same path removes what the killed ones left.
    const store = Store.open(pool);
    try {
      await store.backup(dest);
    } finally {
      store.close();
    }
    assert.deepEqual(leftovers(dir, 'copy.pool'), [], 'no temporary is left once a backup to the path succeeded');
  } finally {
    command.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGKILL during an in-place compaction: the pool holds exactly what it held, and the next compaction cleans up', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-kill-compact-'));
  const command = childCommand(CHILD);
  try {
    const pool = join(dir, 'bank.pool');
    makeBank(pool);
    // Some transfers, and a map mostly deleted: something for the compaction to do.
    const store = Store.open(pool);
    const prng = new Prng(suiteSeed(0x6b11_0c0c));
    const balances = (s: Store): (number | undefined)[] => Array.from({ length: 8 }, (_, a) => s.map<number, number>('accounts').get(a));
    try {
      store.transaction(() => {
        for (let i = 0; i < FILLER_VALUES; i++) if (i % 4 !== 0) store.map('filler').delete(i);
      });
    } finally {
      store.close();
    }
    const ref = Store.open(pool, { readOnly: true });
    const expected = { balances: balances(ref), seq: ref.map<string, number>('meta').get('seq'), filler: ref.map('filler').size };
    ref.close();
    const kills = budget(8);
    let midway = 0;
    let compacted = 0;
    for (let k = 0; k < kills; k++) {
      const run = await runChild(command, ['compact', pool, '-', '0'], prng.below(150));
      const where = `kill ${k} (${command.how})`;
      assert.ok(run.signal === 'SIGKILL' || (run.code === 0 && run.finished), `${where}: the child failed (code ${String(run.code)}): ${run.stderr}`);
      if (run.finished) compacted++;
      else midway++;
      const s = Store.open(pool);
      try {
        assert.ok(s.check().ok, `${where}: the pool checks clean`);
        assert.deepEqual({ balances: balances(s), seq: s.map<string, number>('meta').get('seq'), filler: s.map('filler').size }, expected, `${where}: the same data`);
        checkBank(s, new Map(), 0, Infinity);
      } finally {
        s.close();
      }
      const names = readdirSync(dir).filter((f) => f !== 'bank.pool' && f !== 'bank.pool.wal');
      assert.ok(names.every((f) => f.startsWith('.bank.pool.ferrite-compact') || f.startsWith('..bank.pool.ferrite-compact.ferrite-')), `${where}: only a compaction's temporaries beside the pool: ${names.join(', ')}`);
    }
    console.log(`# compaction kills: ${kills} (${midway} during the compaction, ${compacted} after it)`);
    assert.ok(midway > 0, 'some kills struck during the compaction');
    compactPoolFile(pool);
    assert.deepEqual(readdirSync(dir).filter((f) => f !== 'bank.pool.wal'), ['bank.pool'], 'the next compaction removed every temporary');
  } finally {
    command.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
