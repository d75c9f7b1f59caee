/**
 * A writer that grows the pool at `path` (a commit of 4 MB of values), then SIGKILLs itself in
 * the middle of its next transaction: the lock goes with the process, the commit sequence is
 * left odd, and the pool is larger than a reader opened before saw it (readers.test.ts).
 * Usage: grow-and-die-child.ts PATH forcePmem(0|1)
 */
import { Store } from '../../src/index.js';

const [path, pmem] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: grow-and-die-child.ts PATH 0|1');
const s = Store.open(path, { forcePmem: pmem === '1' });
const big = s.map<number, string>('big');
s.transaction(() => {
  for (let i = 0; i < 20; i++) big.set(i, 'x'.repeat(200_000));
});
process.stdout.write(`${s.stats().pool.size}\n`);
s.transaction(() => {
  s.map<number, number>('m').set(2, 2);
  process.kill(process.pid, 'SIGKILL');
});
