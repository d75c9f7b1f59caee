/**
 * The child of the real-crash tests: opens the bank pool on a native mapping (printing
 * `opening` before and `ready` after, so the parent can aim kills at recovery), then runs
 * transfers until it is killed, writing `C <seq> <from> <to> <amount>` to stdout after each
 * transfer's transaction has returned (so it is durable). Writes to a pipe are synchronous
 * on Linux, so a line written before the SIGKILL reaches the parent. The pipe may be
 * non-blocking (libuv sets it so): when the parent falls behind under load, a write meets
 * EAGAIN and is retried after a short sleep, never dropped (`writeLine`).
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
const nap = new Int32Array(new SharedArrayBuffer(4));

/** Writes `line` to stdout completely, waiting out EAGAIN (a full non-blocking pipe). */
function writeLine(line: string): void {
  const bytes = Buffer.from(line);
  let done = 0;
  for (let attempt = 0; done < bytes.length; attempt++) {
    try {
      done += writeSync(1, bytes, done, bytes.length - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt > 100_000) throw err;
      Atomics.wait(nap, 0, 0, 1); // 1 ms: the parent drains the pipe meanwhile
    }
  }
}
const rand = (): number => prng.nextU32() / 4294967296;

// "opening" lets the parent aim some kills at the open itself (recovery of the last kill).
writeLine('opening\n');
const store = Store.open(path, { forcePmem: mode === 'pmem' });
writeLine('ready\n');
// Bounded: the parent kills the child long before this; a runaway child stops by itself.
for (let i = 0; i < 1_000_000; i++) {
  const t = transfer(store, rand);
  writeLine(`C ${t.seq} ${t.from} ${t.to} ${t.amount}\n`);
}
store.close();
