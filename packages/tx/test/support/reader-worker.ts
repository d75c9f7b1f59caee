/**
 * A reader in a worker thread, for readers.test.ts: opens the bank pool read-only and checks
 * the bank's invariants with `store.read` for `readMs` from its open, while the main thread of the same
 * process writes. With `ballast`, each read also checks the map 'ballast', which the writer
 * fills whole and clears in single transactions (and then shrinks the pool): all of its values
 * of one generation, and either none or `ballast` of them. Posts { reads, seq, stats } when
 * done, or { error } at the first violation.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from '../../src/index.js';
import { checkBank } from '../crash/bank.js';

// `readMs` counts from the open, not from the worker's creation: a worker that took seconds to
// start (tsx compiling the sources on a loaded machine) still reads for the whole window, while
// the writer goes on until it reports (found in review: a slow start left a test's reader with
// nothing to see, and its remap count at 0).
const { path, readMs, ballast } = workerData as { path: string; readMs: number; ballast?: number };

/** The ballast map's state: all or nothing, one generation, every value whole. */
function checkBallast(s: Store, expected: number): void {
  const m = s.map<number, { gen: number; pad: string }>('ballast');
  const size = m.size;
  let count = 0;
  let gen: number | undefined;
  for (const [k, v] of m) {
    count++;
    gen ??= v.gen;
    if (v.gen !== gen || v.pad !== String(k).padStart(8, '0').repeat(v.pad.length / 8) || v.pad.length === 0) {
      throw new Error(`ballast ${k}: generation ${v.gen} beside ${gen}, or a torn value`);
    }
  }
  if (count !== size || (size !== 0 && size !== expected)) throw new Error(`ballast holds ${count} values (size ${size}), not 0 or ${expected}`);
}
let reads = 0;
let seq = 0;
let store: Store | undefined;
try {
  store = Store.open(path, { readOnly: true });
  const s = store;
  const until = Date.now() + readMs;
  while (Date.now() < until) {
    const now = s.read(() => {
      if (ballast !== undefined) checkBallast(s, ballast);
      return checkBank(s, new Map(), 0, Number.MAX_SAFE_INTEGER);
    });
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
