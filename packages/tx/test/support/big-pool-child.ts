// Child, run with Node 24 (ArrayBuffers above 4 GiB): stores whose pool crosses the 4 GiB
// boundary. The pool files are allocated for real (on a disk: fallocate is fast there) and
// removed by the parent. Prints what it saw as JSON.
//   six <dir>    a 6 GiB pool: entries below and above 4 GiB, a word across it, reopen, check
//   grow <dir>   a 3 GiB pool grown to 6 GiB through 4 GiB, entries on both sides, reopen, check
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from '@ferrite/heap';
import { Store, openPoolFile } from '../../src/index.js';

const GiB = 2 ** 30;
const BOUNDARY = 2 ** 32;
const [scenario, dir] = process.argv.slice(2) as [string, string];
const out: Record<string, unknown> = {};

/** Values of 70,000 bytes: each is an extent of its own, placed first-fit. */
const value = (k: number): string => `${k}:${'v'.repeat(70_000)}`;

function setEntries(path: string, from: number, to: number, maxSize?: number): void {
  const store = Store.open(path, { maxSize, forcePmem: true });
  const m = store.map<number, string>('m');
  for (let k = from; k < to; k++) m.set(k, value(k));
  store.close();
}

/** Reads the word across 4 GiB, then frees the fillers (the store does not know them). */
function dropFillers(path: string, fillers: number[], maxSize?: number): void {
  const pool = openPoolFile(path, { layout: 'ferrite', forcePmem: true, maxSize });
  out.word = pool.readU64(WORD_AT);
  pool.transaction((tx) => {
    for (const f of fillers) tx.free(f);
  });
  pool.close();
}

/** Reopens: every entry, check(), and where the blocks lie relative to 4 GiB. */
function verify(path: string, entries: number): void {
  const store = Store.open(path, { forcePmem: true });
  const m = store.map<number, string>('m');
  let same = m.size === entries;
  for (let k = 0; k < entries && same; k++) same = m.get(k) === value(k);
  out.entriesRead = same;
  const report = store.check();
  out.checkOk = report.ok;
  out.problems = report.problems.slice(0, 3);
  out.poolSize = store.stats().pool.size;
  store.close();
  const pool = openPoolFile(path, { layout: 'ferrite', forcePmem: true, readOnly: true });
  let below = 0;
  let above = 0;
  for (const a of pool.allocations()) {
    if (a.offset + a.size <= BOUNDARY) below++;
    else if (a.offset >= BOUNDARY) above++;
  }
  out.blocks = { below, above };
  pool.close();
  out.fileSize = statSync(path).size;
}

const WORD_AT = BOUNDARY - 4; // a u64 whose halves lie on both sides of 4 GiB
const WORD = 0x1234_5678_9abc;

/** Writes the word across 4 GiB into a filler block that holds it (through the log). */
function writeWordInFiller(pool: Pool, filler: number, size: number): void {
  if (!(filler <= WORD_AT && WORD_AT + 8 <= filler + size)) throw new Error(`filler [${filler}, +${size}) does not hold 4 GiB`);
  pool.transaction((tx) => {
    tx.addRange(WORD_AT, 8);
    pool.writeU64(WORD_AT, WORD);
  });
}

switch (scenario) {
  case 'six': {
    const path = join(dir, 'six.pool');
    Store.open(path, { create: true, size: 6 * GiB, forcePmem: true }).close();
    setEntries(path, 0, 20); // low addresses
    // A filler of 4.25 GiB takes the free space up past 4 GiB; the next entries land above.
    const pool = openPoolFile(path, { layout: 'ferrite', forcePmem: true });
    const fillerSize = 4.25 * GiB;
    const filler = pool.transaction((tx) => tx.alloc(fillerSize));
    writeWordInFiller(pool, filler, fillerSize);
    pool.close();
    setEntries(path, 20, 40);
    dropFillers(path, [filler]);
    verify(path, 40);
    break;
  }
  case 'grow': {
    const path = join(dir, 'grow.pool');
    const maxSize = 6 * GiB;
    Store.open(path, { create: true, size: 3 * GiB, maxSize, forcePmem: true }).close();
    setEntries(path, 0, 10, maxSize); // low addresses
    // Two fillers: the second needs growth past 4 GiB (1.5x: 4.5 GiB) and ends past it.
    let pool = openPoolFile(path, { layout: 'ferrite', forcePmem: true, maxSize });
    const first = pool.transaction((tx) => tx.alloc(2.5 * GiB));
    const second = pool.transaction((tx) => tx.alloc(1.5 * GiB));
    out.sizeAfterFirstGrowth = pool.size;
    writeWordInFiller(pool, second, 1.5 * GiB);
    pool.close();
    setEntries(path, 10, 20, maxSize); // above 4 GiB, after the second filler
    // A third filler grows the pool to its maxSize; freeing the first leaves room low again.
    pool = openPoolFile(path, { layout: 'ferrite', forcePmem: true, maxSize });
    const third = pool.transaction((tx) => tx.alloc(1.25 * GiB));
    out.sizeAfterSecondGrowth = pool.size;
    pool.transaction((tx) => tx.free(first));
    pool.close();
    setEntries(path, 20, 30, maxSize); // low again
    dropFillers(path, [second, third], maxSize);
    verify(path, 30);
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
process.stdout.write(JSON.stringify(out));
