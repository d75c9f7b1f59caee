/**
 * A reader of the bank pool, for the readers test: opens the pool read-only while a writer
 * (bank-child.ts) runs transfers and is killed and restarted, and checks, until its time is
 * up, that every state it reads is a committed one:
 *   - `store.read` of the whole bank: checkBank's invariants (balances sum to the total,
 *     checkpoint + journal = balances, consecutive journal up to meta.seq) hold, and the
 *     sequence never goes back;
 *   - an iteration of the accounts outside `store.read` (each step its own committed state):
 *     every account once, each balance a non-negative number.
 * Runs the same loop in `threads` worker threads of its own too.
 *
 * Prints `R <label> <reads> <seq>` about every 200 ms, `D <label> <reads> <seq> <stats json>`
 * when done, and `V <label> <message>` (exit code 3) at the first violation or error.
 *
 * Usage: node bank-reader-child.ts <pool> <milliseconds> <threads>
 */
import { writeSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Store } from '@ferrite/tx';
import { ACCOUNTS, checkBank, type Transfer } from './bank.js';

interface Job {
  readonly path: string;
  readonly until: number;
  readonly label: string;
}

type Report = { kind: 'R' | 'D' | 'V'; text: string };

const NO_REPORTS: ReadonlyMap<number, Transfer> = new Map();

function readLoop(job: Job, emit: (r: Report) => void): void {
  let reads = 0;
  let seq = 0;
  let store: Store | undefined;
  try {
    store = Store.open(job.path, { readOnly: true, readTimeout: 60_000 });
    const s = store;
    const accounts = s.map<number, number>('accounts');
    let lastReport = Date.now();
    while (Date.now() < job.until) {
      const now = s.read(() => checkBank(s, NO_REPORTS, 0, Number.MAX_SAFE_INTEGER));
      if (now < seq) throw new Error(`the bank's sequence went back from ${seq} to ${now}`);
      seq = now;
      const seen = new Set<number>();
      for (const [k, v] of accounts) {
        if (typeof k !== 'number' || k < 0 || k >= ACCOUNTS) throw new Error(`iteration returned account ${String(k)}`);
        if (seen.has(k)) throw new Error(`iteration returned account ${k} twice`);
        if (typeof v !== 'number' || v < 0) throw new Error(`iteration returned balance ${String(v)} for account ${k}`);
        seen.add(k);
      }
      if (seen.size !== ACCOUNTS) throw new Error(`iteration returned ${seen.size} accounts of ${ACCOUNTS}`);
      reads++;
      if (Date.now() - lastReport >= 200) {
        lastReport = Date.now();
        emit({ kind: 'R', text: `${job.label} ${reads} ${seq}` });
      }
    }
    emit({ kind: 'D', text: `${job.label} ${reads} ${seq} ${JSON.stringify(s.stats().reader)}` });
  } catch (err) {
    const e = err as Error & { code?: string };
    const stack = (e.stack ?? String(err)).split('\n').slice(0, 6).join(' | ');
    emit({ kind: 'V', text: `${job.label} after ${reads} reads at seq ${seq}: ${e.code ?? ''} ${stack}` });
  } finally {
    store?.close();
  }
}

function print(r: Report): void {
  writeSync(1, `${r.kind} ${r.text}\n`);
}

if (isMainThread) {
  const [path, millis, threadsText] = process.argv.slice(2);
  if (path === undefined || millis === undefined) {
    process.stderr.write('usage: bank-reader-child.ts <pool> <milliseconds> <threads>\n');
    process.exit(2);
  }
  const until = Date.now() + Number(millis);
  const threads = Number(threadsText ?? '0');
  let violated = false;
  const workers = Array.from({ length: threads }, (_, i) => new Promise<void>((resolve) => {
    // The same file (bundled or not) as the worker's code; tsx's loader comes with execArgv.
    const w = new Worker(new URL(import.meta.url), { workerData: { path, until, label: `${process.pid}/t${i}` } satisfies Job, execArgv: process.execArgv });
    w.on('message', (r: Report) => {
      if (r.kind === 'V') violated = true;
      print(r);
    });
    w.on('error', (err) => {
      violated = true;
      print({ kind: 'V', text: `${process.pid}/t${i} worker error: ${String(err)}` });
    });
    w.on('exit', () => resolve());
  }));
  readLoop({ path, until, label: `${process.pid}/main` }, (r) => {
    if (r.kind === 'V') violated = true;
    print(r);
  });
  await Promise.all(workers);
  process.exit(violated ? 3 : 0);
} else {
  readLoop(workerData as Job, (r) => parentPort?.postMessage(r));
}
