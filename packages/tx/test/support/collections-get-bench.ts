/**
 * Micro-benchmark of the collections' read and write paths on the DRAM fake pool (the
 * official benchmark, against lmdb-js, is packages/tx/bench). Run:
 *   node --conditions=ferrite-source --import tsx packages/tx/test/support/collections-get-bench.ts
 * Prints `name: median X µs (n samples)` lines.
 */
import { PMap } from '../../src/collections/hash-map.js';
import { PSortedMap } from '../../src/collections/sorted-map.js';
import { FakePool } from './collections-fake-pool.js';
import { allocStructuresSlot, makeContext } from './collections-context.js';
import type { Pool } from '@ferrite/heap';

const N = Number(process.env.N ?? 100_000);
const SAMPLES = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function measure(name: string, ops: number, fn: (i: number) => void): void {
  const samples: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / ops);
  }
  // The minimum is printed too: on a shared, loaded machine it is the steadier figure.
  console.log(`${name}: median ${median(samples).toFixed(3)} µs (${SAMPLES} samples, min ${Math.min(...samples).toFixed(3)} µs)`);
}

const pool = new FakePool({ size: 1 << 20, maxSize: 1 << 30 });
const ctx = makeContext(pool, allocStructuresSlot(pool), { maxKeySize: 1024, maxValueSize: 1 << 20 });
const p = pool as unknown as Pool;
const map = new PMap<string, { ino: number; size: number }>(ctx, p.transaction((tx) => PMap.create(ctx, tx)));
const tree = new PSortedMap<number, { ino: number; size: number }>(ctx, p.transaction((tx) => PSortedMap.create(ctx, tx)));
p.transaction(() => {
  for (let i = 0; i < N; i++) {
    map.set(`/usr/lib/file${i}`, { ino: i, size: 4096 });
    tree.set(i, { ino: i, size: 4096 });
  }
});
(globalThis as { gc?: () => void }).gc?.();
const keys = Array.from({ length: 10_000 }, (_, i) => `/usr/lib/file${(i * 7919) % N}`);
let sink = 0;
measure(`PMap get (${N} entries)`, 10_000, (i) => { sink += map.get(keys[i]!)!.ino; });
measure(`PMap has (${N} entries)`, 10_000, (i) => { sink += map.has(keys[i]!) ? 1 : 0; });
measure(`PSortedMap get (${N} entries)`, 10_000, (i) => { sink += tree.get((i * 7919) % N)!.ino; });
measure('key encode (string)', 10_000, (i) => { sink += ctx.keys.encode(keys[i]!).length; });
const enc = p.transaction((tx) => ctx.values.encode({ ino: 1, size: 4096 }, tx).slice());
measure('value decode', 10_000, () => { sink += (ctx.values.decode(enc, 0, enc.length) as { ino: number }).ino; });
measure('PMap update in place (fake pool)', 1000, (i) => { map.set(keys[i]!, { ino: i, size: 1 }); });
measure('PSortedMap range 1000', 10, () => { for (const [, v] of tree.range({ gte: 5000, limit: 1000 })) sink += v.ino; });
if (sink === 42) console.log('');
{
  const big = new Uint8Array(pool.size);
  big.set(enc, 1000);
  measure('value decode from a pool-sized array', 10_000, () => { sink += (ctx.values.decode(big, 1000, 1000 + enc.length) as { ino: number }).ino; });
  measure('value decode from pool.bytes copy-free subarray', 10_000, () => { sink += (ctx.values.decode(big.subarray(1000, 1000 + enc.length), 0, enc.length) as { ino: number }).ino; });
}
