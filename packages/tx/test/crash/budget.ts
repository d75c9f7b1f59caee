/**
 * Budgets and reporting of the crash suite.
 *
 * A default run checks at least 50,000 crash states over all the simulated-crash files
 * together (each file checks its share; node:test runs the files in parallel), and the second
 * Node of a CI run 25,000 more, of other seeds (FERRITE_TEST_PASS=2). FERRITE_SOAK=1
 * multiplies every budget by 20 (FERRITE_SOAK=<factor> by that factor, e.g. 0.1 for a quick local run), and
 * FERRITE_CRASH_SEED fixes the fast-check seed (a soak run picks a random one by default and
 * prints it, so that any failure replays).
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function soakFactor(): number {
  const v = process.env['FERRITE_SOAK'];
  if (v === undefined || v === '' || v === '0') return 1;
  const n = Number(v);
  // FERRITE_SOAK=1 means "soak" (20×); any other positive number is the factor itself
  // (below 1 for a quick local run).
  return Number.isFinite(n) && n > 0 && n !== 1 ? n : 20;
}

/**
 * The second Node of a run (`scripts/test.mjs --also-node`, as CI runs; it sets
 * FERRITE_TEST_PASS=2): same code, so it spends half the budget on other seeds. Running the
 * first pass's cases again checked nothing new; these are new states, still replayable (the
 * seed is fixed per pass, and printed on a failure).
 */
const SECOND_PASS = process.env['FERRITE_TEST_PASS'] === '2';

export const SOAK = soakFactor() * (SECOND_PASS ? 0.5 : 1);

/** Scales a default budget by the soak factor. */
export function budget(n: number): number {
  return Math.ceil(n * SOAK);
}

/** The fast-check seed of this run: FERRITE_CRASH_SEED, else fixed (CI) or random (soak). */
export function suiteSeed(fixed: number): number {
  const v = process.env['FERRITE_CRASH_SEED'];
  if (v !== undefined && v !== '') return Number(v) | 0;
  if (SOAK > 1) return (Date.now() ^ (process.pid << 8)) | 0;
  return SECOND_PASS ? (fixed ^ 0x2b2b_0002) | 0 : fixed;
}

// The test files run as separate processes under one `node --test`; they add their counts to
// a file named after that parent so that the last one can print the run's total. Tallies of
// runs older than a day are removed as we go.
const tallyDir = join(tmpdir(), 'ferrite-crash-tally');
const tallyFile = join(tallyDir, `${process.ppid}.txt`);
const DAY_MS = 24 * 3600 * 1000;

function pruneOldTallies(): void {
  for (const name of readdirSync(tallyDir)) {
    const path = join(tallyDir, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > DAY_MS) rmSync(path, { force: true });
    } catch {
      // Another process pruned it first.
    }
  }
}

/**
 * Records `count` of `what` ('states' or 'kills:<mode>') for this run and prints this file's
 * line plus the run's totals so far (the last file to finish prints the complete totals).
 */
export function report(label: string, what: 'states' | 'kills:pmem' | 'kills:msync' | 'kills:async', count: number): void {
  mkdirSync(tallyDir, { recursive: true });
  pruneOldTallies();
  appendFileSync(tallyFile, `${what} ${count}\n`);
  let states = 0;
  let pmem = 0;
  let msync = 0;
  let async = 0;
  for (const line of readFileSync(tallyFile, 'utf8').split('\n')) {
    const [k, n] = line.split(' ');
    if (k === 'states') states += Number(n);
    else if (k === 'kills:pmem') pmem += Number(n);
    else if (k === 'kills:msync') msync += Number(n);
    else if (k === 'kills:async') async += Number(n);
  }
  const mine = what === 'states' ? `${count} crash states` : `${count} kills survived`;
  console.log(`# ${label}: ${mine}`);
  if (states > 0) console.log(`store crash states checked: ${states} (run total so far)`);
  if (pmem + msync + async > 0) {
    console.log(`real crashes: ${pmem + msync + async} kills survived (tmpfs+forcePmem: ${pmem}, file: ${msync}, file with transactionAsync: ${async}) (run total so far)`);
  }
}
