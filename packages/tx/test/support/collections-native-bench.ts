/**
 * Micro-benchmark of PMap / PSortedMap through the Store on a real pool (tmpfs, forcePmem).
 *   node --conditions=ferrite-source --import tsx packages/tx/test/support/collections-native-bench.ts
 * Prints `name: median X µs (n samples)` lines plus drains per operation.
 */
import { rmSync } from 'node:fs';
import { Store } from '../../src/index.js';

const N = Number(process.env.N ?? 100_000);
const SAMPLES = 21;
const path = `/dev/shm/ferrite-collections-bench-${process.pid}.pool`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
function measure(name: string, ops: number, fn: (i: number) => void): void {
  const samples: number[] = [];
  let i = 0;
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < ops; k++) fn(i++);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / ops);
  }
  // The minimum is printed too: on a shared, loaded machine it is the steadier figure.
  console.log(`${name}: median ${median(samples).toFixed(3)} µs (${SAMPLES} samples, min ${Math.min(...samples).toFixed(3)} µs)`);
}

interface Value { ino: number; size: number; mtime: number; mode: number }
const valueOf = (i: number): Value => ({ ino: i, size: 2048 + (i % 100), mtime: 1_700_000_000 + i, mode: 0o100644 });
const keyOf = (i: number): string => `key${String(i).padStart(9, '0')}`;

rmSync(path, { force: true });
const store = Store.open(path, { create: true, size: 256 << 20, maxSize: 1 << 30, forcePmem: true });
try {
  const map = store.map<string, Value>('m');
  const tree = store.sortedMap<number, Value>('t');
  for (let b = 0; b < N; b += 10_000) {
    store.transaction(() => {
      for (let i = b; i < Math.min(N, b + 10_000); i++) {
        map.set(keyOf(i), valueOf(i));
        tree.set(i, valueOf(i));
      }
    });
  }
  let sink = 0;
  measure(`PMap get @${N}`, 10_000, (i) => { sink += map.get(keyOf((i * 7919) % N))!.ino; });
  measure(`PSortedMap get @${N}`, 10_000, (i) => { sink += tree.get((i * 7919) % N)!.ino; });
  let next = N;
  measure(`PMap insert (1 tx each) @${N}`, 200, () => { map.set(keyOf(next), valueOf(next)); next++; });
  measure(`PMap update (1 tx each) @${N}`, 200, (i) => { map.set(keyOf(i % N), valueOf(i + 1)); });
  measure(`PSortedMap insert (1 tx each) @${N}`, 200, (i) => { tree.set(N + i, valueOf(i)); });
  measure(`PSortedMap update (1 tx each) @${N}`, 200, (i) => { tree.set(i % N, valueOf(i + 1)); });
  measure(`PMap delete (1 tx each) @${N}`, 200, (i) => { map.delete(keyOf(N + i)); });
  measure(`PSortedMap range 1000 @${N}`, 5, (i) => { for (const [, v] of tree.range({ gte: (i * 1000) % (N - 1000), limit: 1000 })) sink += v.ino; });
  measure(`PMap 1000 inserts in one tx (per insert)`, 1, () => {
    store.transaction(() => { for (let k = 0; k < 1000; k++) { map.set(keyOf(next), valueOf(next)); next++; } });
  });
  if (sink === 0.5) console.log('');
} finally {
  store.close();
  rmSync(path, { force: true });
}
