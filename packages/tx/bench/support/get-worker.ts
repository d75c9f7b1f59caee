/**
 * A reader thread of readers.bench.ts: opens the pool read-only (or, with `engine: 'lmdb'`,
 * the lmdb-js database at `path`), says `ready`, waits for the start word, then gets random
 * keys flat out until the stop word; posts how many it did.
 *
 * With `engine: 'busy'` it reads no store at all: the same loop over a JavaScript Map of the
 * same keys, so the thread keeps a core as busy as a reader does without touching the pool.
 * The bench's control: what the writer loses to a busy thread whatever that thread does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { open as openLmdb } from 'lmdb';
import { Store } from '../../src/index.js';

const { path, keys, control, engine } = workerData as { path: string; keys: number; control: SharedArrayBuffer; engine?: 'ferrite' | 'lmdb' | 'busy' };
const flags = new Int32Array(control); // [0]: 1 = go, [1]: 1 = stop
let get: (key: string) => unknown;
let close: () => unknown;
if (engine === 'busy') {
  const local = new Map<string, number>();
  for (let i = 0; i < keys; i++) local.set(`key${String(i).padStart(9, '0')}`, i);
  get = (k) => local.get(k);
  close = () => undefined;
} else if (engine === 'lmdb') {
  const db = openLmdb({ path, compression: false, readOnly: true });
  get = (k) => db.get(k);
  close = () => db.close();
} else {
  const store = Store.open(path, { readOnly: true });
  const map = store.map<string, unknown>('bench');
  get = (k) => map.get(k);
  close = () => store.close();
}
parentPort?.postMessage({ ready: true });
Atomics.wait(flags, 0, 0);
let gets = 0;
let x = 12345;
while (Atomics.load(flags, 1) === 0) {
  for (let i = 0; i < 256; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    if (get(`key${String(x % keys).padStart(9, '0')}`) === undefined) throw new Error('a present key read as absent');
  }
  gets += 256;
}
parentPort?.postMessage({ gets });
await close();
