/**
 * A reader thread of readers.bench.ts: opens the pool read-only, says `ready`, waits for the
 * start word, then gets random keys flat out until the stop word; posts how many it did.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from '../../src/index.js';

const { path, keys, control } = workerData as { path: string; keys: number; control: SharedArrayBuffer };
const flags = new Int32Array(control); // [0]: 1 = go, [1]: 1 = stop
const store = Store.open(path, { readOnly: true });
const map = store.map<string, unknown>('bench');
parentPort?.postMessage({ ready: true });
Atomics.wait(flags, 0, 0);
let gets = 0;
let x = 12345;
while (Atomics.load(flags, 1) === 0) {
  for (let i = 0; i < 256; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    if (map.get(`key${String(x % keys).padStart(9, '0')}`) === undefined) throw new Error('a present key read as absent');
  }
  gets += 256;
}
parentPort?.postMessage({ gets, stats: store.stats().reader });
store.close();
