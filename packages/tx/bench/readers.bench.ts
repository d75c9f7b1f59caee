/**
 * Readers in other threads (read-only stores following the writer; the heap's live-reader.ts),
 * in one run, on tmpfs with forcePmem and on an ordinary disk file:
 *
 * - a reader's `get` against the writer's own `get` of the same pool (target: at most 1.3×),
 *   and lmdb-js's `get` in the same run as the anchor;
 * - gets per second of two reader threads against one (target: at least 1.6× on two cores);
 * - the writer's durable insert while two reader threads read flat out, against without
 *   (target: at most 1.2×), and while one does; lmdb-js's durable put (`putSync`) with two and
 *   one lmdb-js reader threads, the anchor: on a machine of two cores, a writer and two readers
 *   flat out are three threads on two cores, whatever the store. The control: the writer's
 *   insert next to two threads as busy as readers that read no store (a JavaScript Map of the
 *   same keys), which parts the writer's loss into the cores' share and what reading adds;
 *
 * Prints `name: median X µs (n samples)` lines and the ratios. FERRITE_BENCH_QUICK=1 shortens
 * the throughput runs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { open as openLmdb } from 'lmdb';
import { Store } from '../src/index.js';
import { diskDir } from '../test/crash/kill-loop.js';

const KEYS = 100_000;
const SAMPLES = 31;
const PER_SAMPLE = 1000;
const THROUGHPUT_MS = process.env.FERRITE_BENCH_QUICK === '1' ? 1000 : 2500;

interface Value { ino: number; size: number; mtime: number; mode: number }
const valueOf = (i: number): Value => ({ ino: i, size: 2048 + (i % 100), mtime: 1_700_000_000 + i, mode: 0o100644 });
const keyOf = (i: number): string => `key${String(i).padStart(9, '0')}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(batch: () => void): number {
  const t0 = process.hrtime.bigint();
  batch();
  return Number(process.hrtime.bigint() - t0) / 1000 / PER_SAMPLE;
}

function fmt(x: number): string {
  return x < 10 ? x.toFixed(3) : x.toFixed(2);
}

function line(name: string, samples: number[]): number {
  const m = median(samples);
  console.log(`${name}: median ${fmt(m)} µs (${samples.length} samples)`);
  return m;
}

/** Random keys, the same sequence for every contender. */
function keysFor(sample: number): string[] {
  let x = 0x9e3779b9 ^ sample;
  const out: string[] = [];
  for (let i = 0; i < PER_SAMPLE; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(keyOf(x % KEYS));
  }
  return out;
}

interface ReaderThreads {
  start(): void;
  stop(): Promise<number>;
}

/** Starts `n` reader threads on `path`, ready (sources compiled, store open) on return. */
async function readerThreads(path: string, n: number, engine: 'ferrite' | 'lmdb' | 'busy' = 'ferrite'): Promise<ReaderThreads> {
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const workers = Array.from({ length: n }, () => new Worker(new URL('./support/get-worker.mjs', import.meta.url), {
    workerData: { path, keys: KEYS, control, engine },
    execArgv: ['--conditions=ferrite-source'],
  }));
  const results = workers.map((w) => new Promise<number>((resolve, reject) => {
    w.on('message', (m: { ready?: boolean; gets?: number }) => {
      if (m.gets !== undefined) resolve(m.gets);
    });
    w.on('error', reject);
  }));
  await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  })));
  return {
    start(): void {
      Atomics.store(flags, 0, 1);
      Atomics.notify(flags, 0);
    },
    async stop(): Promise<number> {
      Atomics.store(flags, 1, 1);
      const counts = await Promise.all(results);
      await Promise.all(workers.map((w) => w.terminate()));
      return counts.reduce((a, b) => a + b, 0);
    },
  };
}

async function throughput(path: string, n: number): Promise<number> {
  const t = await readerThreads(path, n);
  const t0 = Date.now();
  t.start();
  await new Promise((r) => setTimeout(r, THROUGHPUT_MS));
  const gets = await t.stop();
  return gets / ((Date.now() - t0) / 1000);
}

async function medium(label: string, dir: string, forcePmem: boolean): Promise<void> {
  const path = join(dir, 'readers.pool');
  const writer = Store.open(path, { create: true, size: 64 << 20, maxSize: 1 << 30, forcePmem });
  const map = writer.map<string, Value>('bench');
  for (let b = 0; b < KEYS; b += 10_000) {
    writer.transaction(() => {
      for (let i = b; i < b + 10_000; i++) map.set(keyOf(i), valueOf(i));
    });
  }
  const reader = Store.open(path, { readOnly: true });
  const rmap = reader.map<string, Value>('bench');
  const lmdbDir = mkdtempSync(join(dir, 'lmdb-'));
  const lmdb = openLmdb({ path: lmdbDir, compression: false });
  await lmdb.transaction(() => {
    for (let i = 0; i < KEYS; i++) lmdb.put(keyOf(i), valueOf(i));
  });
  const lmdbReader = openLmdb({ path: lmdbDir, compression: false, readOnly: true });

  // 1. get: the writer's own, a reader's, lmdb's reader; samples interleaved.
  const w: number[] = [];
  const r: number[] = [];
  const l: number[] = [];
  for (let s = -1; s < SAMPLES; s++) {
    const keys = keysFor(s);
    const tw = time(() => { for (const k of keys) map.get(k); });
    const tr = time(() => { for (const k of keys) rmap.get(k); });
    const tl = time(() => { for (const k of keys) lmdbReader.get(k); });
    if (s < 0) continue; // warm-up
    w.push(tw);
    r.push(tr);
    l.push(tl);
  }
  const mw = line(`get @100k, the writer's store (${label})`, w);
  const mr = line(`get @100k, a reader's store (${label})`, r);
  const ml = line(`get @100k, lmdb-js reader (${label})`, l);
  console.log(`get @100k (${label}): reader/writer ${(mr / mw).toFixed(2)}× (target ≤ 1.3×); reader/lmdb ${(mr / ml).toFixed(2)}×`);

  // 2. Throughput of one reader thread and of two.
  const one = await throughput(path, 1);
  const two = await throughput(path, 2);
  console.log(`reader threads (${label}): one ${Math.round(one).toLocaleString('en')} gets/s, two ${Math.round(two).toLocaleString('en')} gets/s: ${(two / one).toFixed(2)}× (target ≥ 1.6× on two cores)`);

  // 3. The writer's durable insert (one transaction each), without readers and with two.
  let next = KEYS;
  const insertSamples = (): number[] => {
    const out: number[] = [];
    for (let s = -1; s < (forcePmem ? SAMPLES : 9); s++) {
      const per = forcePmem ? PER_SAMPLE : 100;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < per; i++, next++) map.set(keyOf(next), valueOf(next));
      const us = Number(process.hrtime.bigint() - t0) / 1000 / per;
      if (s >= 0) out.push(us);
    }
    return out;
  };
  const alone = line(`durable insert, no readers (${label})`, insertSamples());
  const t = await readerThreads(path, 2);
  t.start();
  const withReaders = line(`durable insert, two reader threads reading flat out (${label})`, insertSamples());
  const gets = await t.stop();
  const t1 = await readerThreads(path, 1);
  t1.start();
  const withOne = line(`durable insert, one reader thread reading flat out (${label})`, insertSamples());
  await t1.stop();
  // The control: two threads as busy as readers that never touch the pool. What the writer
  // loses to them is the share of two cores three busy threads leave it, whatever the store.
  const tb = await readerThreads(path, 2, 'busy');
  tb.start();
  const withBusy = line(`durable insert, two busy threads that read no store (${label})`, insertSamples());
  await tb.stop();
  console.log(`durable insert (${label}): with two readers / without ${(withReaders / alone).toFixed(2)}× (target ≤ 1.2×), with one ${(withOne / alone).toFixed(2)}×; the two readers made ${gets.toLocaleString('en')} gets meanwhile; writer paused for readers ${writer.stats().pool.readerPauses.count} times`);
  console.log(`durable insert (${label}): with two busy threads that read no store / without ${(withBusy / alone).toFixed(2)}× (the cores' share, the control); two readers against two busy threads ${(withReaders / withBusy).toFixed(2)}× (what reading the pool adds)`);

  // 3b. The anchor: lmdb-js's durable put with lmdb-js reader threads.
  let lnext = KEYS;
  const lmdbSamples = (): number[] => {
    const out: number[] = [];
    for (let s = -1; s < (forcePmem ? SAMPLES : 9); s++) {
      const per = forcePmem ? PER_SAMPLE : 100;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < per; i++, lnext++) lmdb.putSync(keyOf(lnext), valueOf(lnext));
      const us = Number(process.hrtime.bigint() - t0) / 1000 / per;
      if (s >= 0) out.push(us);
    }
    return out;
  };
  const lAlone = line(`lmdb-js putSync, no readers (${label})`, lmdbSamples());
  const lt = await readerThreads(lmdbDir, 2, 'lmdb');
  lt.start();
  const lTwo = line(`lmdb-js putSync, two lmdb-js reader threads reading flat out (${label})`, lmdbSamples());
  await lt.stop();
  const lt1 = await readerThreads(lmdbDir, 1, 'lmdb');
  lt1.start();
  const lOne = line(`lmdb-js putSync, one lmdb-js reader thread reading flat out (${label})`, lmdbSamples());
  await lt1.stop();
  console.log(`lmdb-js putSync (${label}): with two readers / without ${(lTwo / lAlone).toFixed(2)}×, with one ${(lOne / lAlone).toFixed(2)}× (the anchor for the ratios above)`);

  reader.close();
  writer.close();
  await lmdbReader.close();
  await lmdb.close();
}

const shm = existsSync('/dev/shm') ? mkdtempSync(join('/dev/shm', 'ferrite-bench-readers-')) : undefined;
const disk = mkdtempSync(join(diskDir() ?? tmpdir(), 'ferrite-bench-readers-'));
try {
  if (shm !== undefined) await medium('tmpfs, forcePmem', shm, true);
  await medium('ext4 file', disk, false);
} finally {
  if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
  rmSync(disk, { recursive: true, force: true });
}
