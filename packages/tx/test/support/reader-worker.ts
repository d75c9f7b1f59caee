/**
 * A reader in a worker thread, for readers.test.ts: opens the bank pool read-only and checks
 * the bank's invariants with `store.read` until `until`, while the main thread of the same
 * process writes. Posts { reads, seq, stats } when done, or { error } at the first violation.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from '../../src/index.js';
import { checkBank } from '../crash/bank.js';

const { path, until } = workerData as { path: string; until: number };
let reads = 0;
let seq = 0;
let store: Store | undefined;
try {
  store = Store.open(path, { readOnly: true });
  const s = store;
  while (Date.now() < until) {
    const now = s.read(() => checkBank(s, new Map(), 0, Number.MAX_SAFE_INTEGER));
    if (now < seq) throw new Error(`the sequence went back from ${seq} to ${now}`);
    seq = now;
    reads++;
  }
  parentPort?.postMessage({ reads, seq, stats: s.stats().reader });
} catch (err) {
  parentPort?.postMessage({ error: `${(err as { code?: string }).code ?? ''} ${(err as Error).stack ?? String(err)}`, reads, seq });
} finally {
  store?.close();
}
