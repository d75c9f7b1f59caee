/**
 * CPU time (not wall time) of a durable map insert and of a map get, 100k entries, pool on
 * tmpfs with forcePmem. On a shared, noisy VM wall-clock medians swing by 2× between runs;
 * `process.cpuUsage()` counts only the time this process ran, so it shows 10–20% changes that
 * wall time hides (compare two trees by running this file from each, interleaved).
 * Prints `name: median X µs (n samples)`, each sample 2,000 inserts or 20,000 gets.
 * Usage: node --conditions=ferrite-source --import tsx packages/tx/bench/map-cpu.bench.ts
 */
import { existsSync, rmSync } from 'node:fs';
import { Store, defaultPoolPath } from '../src/index.js';

interface Value { ino: number; size: number; mtime: number; mode: number }
const valueOf = (i: number): Value => ({ ino: i, size: 2048 + (i % 100), mtime: 1_700_000_000 + i, mode: 0o100644 });
const keyOf = (i: number): string => `key${String(i).padStart(9, '0')}`;
const SIZE = 100_000;
/** 15 samples of 2,000 inserts stay below the table's next doubling (2^17 buckets). */
const SAMPLES = 15;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

const path = defaultPoolPath(`ferrite-map-cpu-${process.pid}`);
const cleanup = (): void => {
  for (const p of [path, `${path}-lock`]) if (existsSync(p)) rmSync(p, { recursive: true, force: true });
};
cleanup();
const store = Store.open(path, { create: true, size: 64 << 20, maxSize: 256 << 20, forcePmem: true });
try {
  const map = store.map<string, Value>('map');
  for (let i = 0; i < SIZE; i += 1000) {
    store.transaction(() => {
      for (let j = i; j < i + 1000; j++) map.set(keyOf(j), valueOf(j));
    });
  }
  let next = SIZE;
  const inserts: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const c0 = cpuMicros();
    for (let k = 0; k < 2000; k++) {
      const i = next++;
      map.set(keyOf(i), valueOf(i));
    }
    inserts.push((cpuMicros() - c0) / 2000);
  }
  const last = store.stats().pool.lastTx;
  console.log(`map insert CPU (1 tx each) @100k ferrite (tmpfs, forcePmem): median ${median(inserts).toFixed(3)} µs (${SAMPLES} samples)`);
  console.log(`# per insert: ${last.drains} drains, ${last.flushes} cache-line flushes`);
  const keys = Array.from({ length: 2000 }, (_, k) => keyOf((70 * 2654435761 + k * 40503) % SIZE));
  let sink = 0;
  const gets: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const c0 = cpuMicros();
    for (let r = 0; r < 10; r++) for (let k = 0; k < 2000; k++) sink += map.get(keys[k]!)!.ino;
    gets.push((cpuMicros() - c0) / 20000);
  }
  if (sink === 0.5) console.log('');
  console.log(`map get CPU @100k ferrite (tmpfs, forcePmem): median ${median(gets).toFixed(3)} µs (${SAMPLES} samples)`);
} finally {
  store.close();
  cleanup();
}
