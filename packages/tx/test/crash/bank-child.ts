/**
 * The child of the real-crash tests: opens the bank pool on a native mapping (printing
 * `opening` before and `ready` after, so the parent can aim kills at recovery), then runs
 * transfers until it is killed, writing `C <seq> <from> <to> <amount>` to stdout after each
 * transfer's transaction has returned (so it is durable). Writes to a pipe are synchronous
 * on Linux, so a line written before the SIGKILL reaches the parent. The pipe may be
 * non-blocking (libuv sets it so): when the parent falls behind under load, a write meets
 * EAGAIN and is retried after a short sleep, never dropped (`writeLine`).
 *
 * Usage: node --conditions=ferrite-source --import tsx bank-child.ts <pool> <pmem|msync|async> <seed>
 * ('async': an ordinary file, transfers by transactionAsync in batches of one turn each.)
 */
import { writeLine } from './write-line.js';
import { Prng } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';
import { transfer, transferAsync, type Transfer } from './bank.js';

const [path, mode, seedText] = process.argv.slice(2);
if (path === undefined || (mode !== 'pmem' && mode !== 'msync' && mode !== 'async')) {
  process.stderr.write('usage: bank-child.ts <pool> <pmem|msync|async> <seed>\n');
  process.exit(2);
}
const prng = new Prng(Number(seedText ?? '1'));

const rand = (): number => prng.nextU32() / 4294967296;

// "opening" lets the parent aim some kills at the open itself (recovery of the last kill).
writeLine('opening\n');
const store = Store.open(path, { forcePmem: mode === 'pmem' });
const ASYNC_BATCH = 20;
writeLine('ready\n');
if (mode === 'async') {
  // Batches of transactionAsync transfers issued in one turn: each is reported only once its
  // promise resolved (durable), in order. Up to ASYNC_BATCH may be durable yet unreported.
  for (let i = 0; i < 1_000_000; ) {
    const n = 1 + Math.floor(rand() * ASYNC_BATCH);
    const batch: Promise<Transfer>[] = [];
    for (let j = 0; j < n; j++, i++) batch.push(transferAsync(store, rand));
    for (const p of batch) {
      const t = await p;
      writeLine(`C ${t.seq} ${t.from} ${t.to} ${t.amount}\n`);
    }
  }
} else {
  // Bounded: the parent kills the child long before this; a runaway child stops by itself.
  for (let i = 0; i < 1_000_000; i++) {
    const t = transfer(store, rand);
    writeLine(`C ${t.seq} ${t.from} ${t.to} ${t.amount}\n`);
  }
}
store.close();
