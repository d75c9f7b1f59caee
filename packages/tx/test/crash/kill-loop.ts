/**
 * The parent side of the real-crash tests: spawns the bank child on a native pool, kills it
 * with SIGKILL at a random instant, reopens the pool (real recovery on a real mapping) and
 * checks the bank's invariants and every transfer the child reported committed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { Prng } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';
import { checkBank, setUpBank, type Transfer } from './bank.js';
import { childCommand, type ChildCommand } from './child-command.js';

export interface KillLoopOptions {
  /** Pool file path (on tmpfs for 'pmem', on a disk file system for 'msync'). */
  path: string;
  /** 'pmem': forcePmem on tmpfs; 'msync': an ordinary file; 'async': the same with transactionAsync. */
  mode: 'pmem' | 'msync' | 'async';
  kills: number;
  seed: number;
  /** Pool size at creation. */
  size: number;
}

export interface KillLoopResult {
  kills: number;
  /** Transfers the children reported committed, over all kills. */
  reported: number;
  /** Kills that struck before the child had opened the pool (during open and recovery). */
  earlyKills: number;
  /** Kills after which the pool held a transfer the child had not reported yet. */
  inFlightSurvived: number;
  /** How the child was started: 'bundle' (esbuild, fast) or 'tsx'. */
  how: 'bundle' | 'tsx';
}

interface ChildRun {
  lines: string[];
  ready: boolean;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs one child and kills it with SIGKILL `delay` ms after it reports its first committed
 * transfer, or, when `duringOpen` is set, `delay` ms after it prints `opening` (so the kill
 * may strike while it opens and recovers the pool).
 */
function runChild(command: ChildCommand, opts: KillLoopOptions, childSeed: number, duringOpen: boolean, delay: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command.args, opts.path, opts.mode, String(childSeed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: ChildRun = { lines: [], ready: false, stderr: '', code: null, signal: null };
    let partial = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    // A child that never gets ready must not hang the suite.
    const watchdog = setTimeout(kill, 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (line === 'opening') {
          if (duringOpen) timer = setTimeout(kill, delay);
        } else if (line === 'ready') {
          run.ready = true;
        } else {
          // The clock of an ordinary kill starts at the first commit: on the msync path a
          // commit may take longer than the whole 5-50 ms window on a loaded machine.
          if (!duringOpen && run.lines.length === 0) timer = setTimeout(kill, delay);
          run.lines.push(line);
        }
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
      // A line cut by the kill has no newline: it was not completely reported, ignore it.
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

/** A child's `C seq from to amount` line (a transfer it saw commit). */
export function parseTransfer(line: string): Transfer {
  const m = /^C (\d+) (\d+) (\d+) (\d+)$/.exec(line);
  assert.ok(m, `unexpected line from the child: ${JSON.stringify(line)}`);
  return { seq: Number(m[1]), from: Number(m[2]), to: Number(m[3]), amount: Number(m[4]) };
}

/** Creates the bank pool at `opts.path` (replacing nothing: the caller gives a fresh path). */
export function createBank(opts: KillLoopOptions): void {
  const store = Store.open(opts.path, { create: true, size: opts.size, forcePmem: opts.mode === 'pmem' });
  setUpBank(store);
  store.close();
}

export async function killLoop(opts: KillLoopOptions): Promise<KillLoopResult> {
  const command = childCommand();
  const result: KillLoopResult = { kills: 0, reported: 0, earlyKills: 0, inFlightSurvived: 0, how: command.how };
  try {
    await loop(opts, command, result);
  } finally {
    command.dispose();
  }
  return result;
}

async function loop(opts: KillLoopOptions, command: ChildCommand, result: KillLoopResult): Promise<void> {
  const prng = new Prng(opts.seed);
  // Every transfer reported over all children, by seq (kept to compare with the journal).
  const reported = new Map<number, Transfer>();
  let lastSeq = 0;
  createBank(opts);
  for (let k = 0; k < opts.kills; k++) {
    const childSeed = prng.nextU32();
    // One kill in eight is aimed at the open (0-3 ms after "opening": recovery of the last
    // kill's pool, or the first transfers); the others land 5-50 ms after the first commit.
    const duringOpen = prng.below(8) === 0;
    const run = await runChild(command, opts, childSeed, duringOpen, duringOpen ? prng.below(4) : 5 + prng.below(46));
    const where = `kill ${k} (mode ${opts.mode}, loop seed ${opts.seed}, child seed ${childSeed})`;
    assert.equal(run.signal, 'SIGKILL', `${where}: the child ended by itself (code ${String(run.code)}): ${run.stderr}`);
    result.kills++;
    if (!run.ready) result.earlyKills++;
    let maxReported = lastSeq;
    for (const line of run.lines) {
      const t = parseTransfer(line);
      assert.equal(t.seq, maxReported + 1, `${where}: the child reported seq ${t.seq} after ${maxReported}`);
      reported.set(t.seq, t);
      maxReported = t.seq;
      result.reported++;
    }
    const store = Store.open(opts.path, { forcePmem: opts.mode === 'pmem' });
    try {
      // async: a whole batch (one turn, ASYNC_BATCH in the child) may be durable, unreported.
      const seq = checkBank(store, reported, maxReported, opts.mode === 'async' ? 20 : 1);
      const report = store.check();
      assert.ok(report.ok, `${where}: store.check() found problems: ${JSON.stringify(report.problems.slice(0, 5))}`);
      if (seq > maxReported) result.inFlightSurvived++;
      // The pool is the truth from now on: an unreported transfer that survived is durable.
      lastSeq = seq;
    } catch (err) {
      throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      store.close();
    }
    // Old reports that left the journal can no longer be compared; keep the map small.
    for (const s of reported.keys()) if (s < lastSeq - 100) reported.delete(s);
  }
}

const TMPFS_MAGIC = 0x01021994;

/** A temporary folder on a disk file system (not tmpfs, where msync would write nothing). */
export function diskDir(): string {
  for (const candidate of [tmpdir(), '/var/tmp', homedir()]) {
    try {
      if (statfsSync(candidate).type !== TMPFS_MAGIC) return candidate;
    } catch {
      // Not there or not readable: try the next one.
    }
  }
  return tmpdir();
}
