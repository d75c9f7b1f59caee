/**
 * Child of durable-failures.test.ts: awaits transactionAsync calls on a pool file until the
 * completion of a group starts a checkpoint (the second), then closes the store at once, while
 * that checkpoint is still running. Its completion used to run after close() had unmapped the
 * view and throw ECLOSED inside a promise callback: an unhandled rejection, a process death.
 * Prints one JSON line: what a reopen sees. argv[2]: the pool path.
 */
import { rmSync } from 'node:fs';
import { Store } from '../../src/index.js';

const path = process.argv[2]!;
const s = Store.open(path, { create: true, size: 64 << 20, maxSize: 1 << 30, forcePmem: false });
const m = s.map<number, string>('m');
const big = 'v'.repeat(900_000);
let i = 0;
for (;;) {
  await s.transactionAsync(() => m.set(i % 40, big + i));
  i++;
  const d = s.stats().durability as { checkpoints: number };
  if (d.checkpoints >= 2) break;
}
s.close();
// Turns for the checkpoint's completion to run (it is what used to throw).
await new Promise((r) => setTimeout(r, 300));
const again = Store.open(path, { forcePmem: false });
const size = again.map('m').size;
const ok = again.check().ok;
again.close();
for (const p of [path, path + '.wal']) rmSync(p, { force: true });
console.log(JSON.stringify({ size, ok, transactions: i }));
