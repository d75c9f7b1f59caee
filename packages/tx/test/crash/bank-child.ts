/**
 * The child of the real-crash tests: opens the bank pool on a native mapping (printing
 * `opening` before and `ready` after, so the parent can aim kills at recovery), then runs
 * transfers until it is killed, writing `C <seq> <from> <to> <amount>` to stdout after each
 * transfer's transaction has returned (so it is durable). Writes to a pipe are synchronous
 * on Linux, so a line written before the SIGKILL reaches the parent.
 *
 * Usage: node --conditions=ferrite-source --import tsx bank-child.ts <pool> <pmem|msync> <seed>
 */
import { writeSync } from 'node:fs';
import { Prng } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';
import { transfer } from './bank.js';

const [path, mode, seedText] = process.argv.slice(2);
if (path === undefined || (mode !== 'pmem' && mode !== 'msync')) {
  process.stderr.write('usage: bank-child.ts <pool> <pmem|msync> <seed>\n');
  process.exit(2);
}
const prng = new Prng(Number(seedText ?? '1'));
const rand = (): number => prng.nextU32() / 4294967296;

// "opening" lets the parent aim some kills at the open itself (recovery of the last kill).
writeSync(1, 'opening\n');
const store = Store.open(path, { forcePmem: mode === 'pmem' });
writeSync(1, 'ready\n');
// Bounded: the parent kills the child long before this; a runaway child stops by itself.
for (let i = 0; i < 1_000_000; i++) {
  const t = transfer(store, rand);
  writeSync(1, `C ${t.seq} ${t.from} ${t.to} ${t.amount}\n`);
}
store.close();
