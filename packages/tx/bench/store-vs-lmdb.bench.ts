/**
 * ferrite Store vs lmdb-js, in one run, on the same medium (tmpfs at /dev/shm; ferrite with
 * forcePmem, i.e. cache-line flushes as PMEM_IS_PMEM_FORCE=1 does; lmdb with its default
 * durable commits, which on tmpfs cost no device I/O).
 *
 * Every operation is timed in samples of several operations (hrtime around the batch, divided
 * by the batch size) so that the timer's own cost does not dominate sub-microsecond
 * operations; ferrite's and lmdb's samples alternate so both see the same machine load; the
 * median over samples is reported.
 *
 * Sizes: 100k and 1M entries (issue 5 asks for both); FERRITE_BENCH_QUICK=1 runs 100k only.
 * Prints, per operation and size:
 *   `<op> @<size> ferrite (tmpfs, forcePmem): median X µs (n samples)`
 *   `<op> @<size> lmdb (tmpfs): median Y µs (n samples)`
 *   `<op> @<size>: ferrite median X µs, lmdb Y µs, ratio X/Y`
 * and then issue 5's two targets against what this run measured: the durable insert against
 * PMDK's map upsert at 100k (bench/pmdk, where libpmemobj-dev is installed), the get against
 * lmdb-js's get scaled as the target was set (0.3 µs where lmdb-js measured 1.1 µs).
 */
import { rmSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb, type Database, type RootDatabase } from 'lmdb';
import { runPmdkBench } from '../../../bench/pmdk/run.js';
import { Store, defaultPoolPath } from '../src/index.js';

const SIZES = [100_000, ...(process.env.FERRITE_BENCH_QUICK === '1' ? [] : [1_000_000])];
const SAMPLES = 31;

interface Value { ino: number; size: number; mtime: number; mode: number }
function valueOf(i: number): Value {
  return { ino: i, size: 2048 + (i % 100), mtime: 1_700_000_000 + i, mode: 0o100644 };
}
function keyOf(i: number): string {
  return `key${String(i).padStart(9, '0')}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times one batch of `perSample` operations; µs per operation. */
function time(perSample: number, batch: () => void): number {
  const t0 = process.hrtime.bigint();
  batch();
  const t1 = process.hrtime.bigint();
  return Number(t1 - t0) / 1000 / perSample;
}

/**
 * Runs ferrite's and lmdb's batches (each performing `perSample` operations) alternately,
 * SAMPLES times each after one warm-up, so both see the same machine load (the ratio is the
 * figure to trust on a noisy machine). Returns per-operation µs samples; ferrite's are
 * undefined when it has no such operation.
 */
function pair(
  perSample: number,
  ferrite: ((sample: number) => void) | undefined,
  lmdb: (sample: number) => void,
): [number[] | undefined, number[]] {
  ferrite?.(-1);
  lmdb(-1);
  const f: number[] = [];
  const l: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    if (ferrite !== undefined) f.push(time(perSample, () => ferrite(s)));
    l.push(time(perSample, () => lmdb(s)));
  }
  return [ferrite === undefined ? undefined : f, l];
}

function fmt(x: number): string {
  return x < 10 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(1);
}

/** Medians of this run, by `<op> @<size>`: what the target lines at the end compare. */
const medians = new Map<string, { ferrite: number | undefined; lmdb: number }>();
/** bench/pmdk's rounds of 1,000 operations, and ferrite's insert timed the same way (µs). */
const PMDK_ROUNDS = 15;
let ferriteAsPmdk: number | undefined;

function report(op: string, size: number, ferrite: number[] | undefined, lmdb: number[]): void {
  const label = size >= 1_000_000 ? `${size / 1_000_000}M` : `${size / 1000}k`;
  const l = median(lmdb);
  medians.set(`${op} @${label}`, { ferrite: ferrite === undefined ? undefined : median(ferrite), lmdb: l });
  console.log(`${op} @${label} lmdb (tmpfs): median ${fmt(l)} µs (${lmdb.length} samples)`);
  if (ferrite === undefined) {
    console.log(`${op} @${label}: ferrite n/a, lmdb ${fmt(l)} µs`);
    return;
  }
  const f = median(ferrite);
  console.log(`${op} @${label} ferrite (tmpfs, forcePmem): median ${fmt(f)} µs (${ferrite.length} samples)`);
  console.log(`${op} @${label}: ferrite median ${fmt(f)} µs, lmdb ${fmt(l)} µs, ratio ${(f / l).toFixed(2)}`);
}

/**
 * Issue 5's targets, set on the project's reference VM: a durable insert at or below PMDK's
 * map insert (2.4 µs there) and a get at or below 0.3 µs (where lmdb-js's get took 1.1 µs).
 * This VM's speed varies by 2x from hour to hour, so each target is checked as a ratio to
 * what this run measured: PMDK's map upsert at 100k (the same operation: a lookup, then an
 * insert in its own transaction) and lmdb-js's get.
 */
function reportTargets(): void {
  const get = medians.get('map get @100k');
  console.log('\n# issue 5 targets, against this run');
  if (get?.ferrite !== undefined) {
    const scaled = (0.3 / 1.1) * get.lmdb;
    console.log(`target get: ferrite median ${fmt(get.ferrite)} µs, lmdb ${fmt(get.lmdb)} µs, ratio ${(get.ferrite / get.lmdb).toFixed(2)} (target ratio <= ${(0.3 / 1.1).toFixed(2)}, i.e. <= ${fmt(scaled)} µs in this run): ${get.ferrite <= scaled ? 'met' : 'NOT met'}`);
  }
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-pmdk-'));
  try {
    const pmdk = runPmdkBench(dir, 0, 0);
    if (!pmdk.ok) {
      console.log(`# PMDK not measured: ${pmdk.reason}`);
      return;
    }
    const upsert = pmdk.run.results.get('map upsert (lookup + insert, 1 tx each) @100k');
    const blind = pmdk.run.results.get('map insert 32-byte value (1 tx each)');
    if (ferriteAsPmdk !== undefined && upsert !== undefined) {
      console.log(`target insert: ferrite median ${fmt(ferriteAsPmdk)} µs, PMDK upsert @100k ${fmt(upsert)} µs, both timed as rounds of 1000, ratio ${(ferriteAsPmdk / upsert).toFixed(2)} (target ratio <= 1): ${ferriteAsPmdk <= upsert ? 'met' : 'NOT met'}${blind === undefined ? '' : `; PMDK's blind head insert into <= 15k entries: ${fmt(blind)} µs`}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cleanup(path: string): void {
  for (const p of [path, `${path}-lock`]) if (existsSync(p)) rmSync(p, { recursive: true, force: true });
}

function openFerrite(size: number): { store: Store; path: string } {
  const path = defaultPoolPath(`ferrite-bench-${process.pid}`);
  cleanup(path);
  // ~200 bytes per entry for map + sorted map + slack; grow allowed.
  const bytes = Math.max(64 << 20, size * 512);
  const store = Store.open(path, { create: true, size: bytes, maxSize: bytes * 4, forcePmem: true });
  return { store, path };
}

function openLmdbDb(size: number): { db: RootDatabase<Value, string>; qdb: Database<Value, number>; path: string } {
  const path = `/dev/shm/lmdb-bench-${process.pid}`;
  cleanup(path);
  const db = openLmdb<Value, string>({ path, mapSize: Math.max(256 << 20, size * 1024), maxDbs: 4 });
  const qdb = db.openDB<Value, number>({ name: 'queue' });
  return { db, qdb, path };
}

function run(size: number): void {
  const f = openFerrite(size);
  const l = openLmdbDb(size);
  const map = f.store.map<string, Value>('map');
  const queue = f.store.queue<Value>('queue');
  let sorted: { set(k: string, v: Value): unknown; range(o: { gte?: string; limit?: number }): Iterable<[string, Value]> } | undefined;
  try {
    sorted = f.store.sortedMap<string, Value>('sorted') as unknown as typeof sorted;
  } catch {
    sorted = undefined; // sorted map not available in this build
  }

  // Preload both stores with `size` entries, 1000 per transaction.
  for (let i = 0; i < size; i += 1000) {
    const end = Math.min(size, i + 1000);
    f.store.transaction(() => {
      for (let j = i; j < end; j++) {
        map.set(keyOf(j), valueOf(j));
        sorted?.set(keyOf(j), valueOf(j));
      }
    });
    l.db.transactionSync(() => {
      for (let j = i; j < end; j++) l.db.put(keyOf(j), valueOf(j));
    });
  }

  const rnd = (s: number, k: number) => ((s + 7) * 2654435761 + k * 40503) % size;
  let next = size; // fresh keys for inserts
  const GET_BATCH = 2000;
  const ONE_BATCH = 200;

  // insert, one transaction (durable commit) per insert
  {
    let fk = next;
    let lk = next;
    const [fr, lr] = pair(
      ONE_BATCH,
      () => { for (let k = 0; k < ONE_BATCH; k++) { const i = fk++; map.set(keyOf(i), valueOf(i)); } },
      () => { for (let k = 0; k < ONE_BATCH; k++) { const i = lk++; l.db.putSync(keyOf(i), valueOf(i)); } },
    );
    next = Math.max(fk, lk);
    report('map insert (1 tx each)', size, fr, lr);
    // The fence count is what bounds a durable insert on real PMEM: allocate, one addRanges, commit.
    map.set(keyOf(fk++), valueOf(0));
    const last = f.store.stats().pool.lastTx;
    console.log(`# ferrite durable insert: ${last.drains} drains, ${last.flushes} cache-line flushes`);
    if (size === 100_000) {
      // For the comparison with PMDK, timed exactly as bench/pmdk times its upsert: rounds of
      // 1,000 inserts back to back (not interleaved with lmdb, whose work evicts ferrite's
      // cache lines between samples), median of the per-round means. The map stays below
      // its table's next doubling (2^17 buckets), as PMDK's fixed table does.
      const first = fk;
      const rounds: number[] = [];
      for (let r = 0; r < PMDK_ROUNDS; r++) {
        rounds.push(time(1000, () => { for (let k = 0; k < 1000; k++) { const i = fk++; map.set(keyOf(i), valueOf(i)); } }));
      }
      ferriteAsPmdk = median(rounds);
      console.log(`map insert (1 tx each) @100k ferrite, timed as bench/pmdk (${PMDK_ROUNDS} rounds of 1000): median ${fmt(ferriteAsPmdk)} µs`);
      // Back to the size the later operations were measured at (15k more entries would start
      // the table's doubling inside the batch-transaction measurement).
      f.store.transaction(() => { for (let i = first; i < fk; i++) map.delete(keyOf(i)); });
    }
  }
  // get of present keys
  {
    let sink = 0;
    const keys = Array.from({ length: GET_BATCH }, (_, k) => keyOf(rnd(3, k)));
    const [fr, lr] = pair(
      GET_BATCH,
      () => { for (let k = 0; k < GET_BATCH; k++) sink += map.get(keys[k]!)!.ino; },
      () => { for (let k = 0; k < GET_BATCH; k++) sink += l.db.get(keys[k]!)!.ino; },
    );
    if (sink === 0.5) console.log('');
    report('map get', size, fr, lr);
  }
  // update in place, one transaction per update
  {
    const [fr, lr] = pair(
      ONE_BATCH,
      (s) => { for (let k = 0; k < ONE_BATCH; k++) { const i = rnd(s + 11, k); map.set(keyOf(i), { ...valueOf(i), size: s }); } },
      (s) => { for (let k = 0; k < ONE_BATCH; k++) { const i = rnd(s + 11, k); l.db.putSync(keyOf(i), { ...valueOf(i), size: s }); } },
    );
    report('map update (1 tx each)', size, fr, lr);
  }
  // delete, one transaction per delete (of the keys inserted above, so the size stays ~N)
  {
    let fk = size;
    let lk = size;
    const [fr, lr] = pair(
      ONE_BATCH,
      () => { for (let k = 0; k < ONE_BATCH; k++) map.delete(keyOf(fk++)); },
      () => { for (let k = 0; k < ONE_BATCH; k++) l.db.removeSync(keyOf(lk++)); },
    );
    report('map delete (1 tx each)', size, fr, lr);
  }
  // 1,000 inserts in one transaction (µs per transaction)
  {
    let fk = next + 1_000_000;
    let lk = next + 1_000_000;
    const [fr, lr] = pair(
      1,
      () => f.store.transaction(() => { for (let k = 0; k < 1000; k++) { const i = fk++; map.set(keyOf(i), valueOf(i)); } }),
      () => l.db.transactionSync(() => { for (let k = 0; k < 1000; k++) { const i = lk++; l.db.put(keyOf(i), valueOf(i)); } }),
    );
    report('map 1000 inserts in one tx (per tx)', size, fr, lr);
  }
  // queue push and shift, one transaction each (lmdb: integer keys, head and tail counters)
  {
    let head = 0;
    let tail = 0;
    const [fp, lp] = pair(
      ONE_BATCH,
      () => { for (let k = 0; k < ONE_BATCH; k++) queue.push(valueOf(k)); },
      () => { for (let k = 0; k < ONE_BATCH; k++) l.qdb.putSync(tail++, valueOf(k)); },
    );
    report('queue push (1 tx each)', size, fp, lp);
    // lmdb as a queue: integer keys with the head kept in a counter (get + removeSync).
    const [fs, ls] = pair(
      ONE_BATCH,
      () => { for (let k = 0; k < ONE_BATCH; k++) queue.shift(); },
      () => {
        for (let k = 0; k < ONE_BATCH; k++) {
          if (l.qdb.get(head) !== undefined) l.qdb.removeSync(head);
          head++;
        }
      },
    );
    report('queue shift (1 tx each)', size, fs, ls);
  }
  // range scan of 1,000 entries (µs per scan)
  {
    let sink = 0;
    const sm = sorted;
    const [fr, lr] = pair(
      1,
      sm === undefined ? undefined : (s) => {
        for (const [, v] of sm.range({ gte: keyOf(rnd(s + 5, 0) % (size - 1000)), limit: 1000 })) sink += v.ino;
      },
      (s) => {
        for (const { value } of l.db.getRange({ start: keyOf(rnd(s + 5, 0) % (size - 1000)), limit: 1000 })) sink += value.ino;
      },
    );
    if (sink === 0.5) console.log('');
    report('range scan of 1000', size, fr, lr);
  }
  // hash map iteration, 1,000 entries per sample (µs per 1,000): one iterator carried on from
  // sample to sample (a new one when it ends), so the samples walk the whole table rather
  // than its first 1,000 entries again; lmdb-js reads 1,000 entries from a random key.
  {
    let sink = 0;
    let it = map.entries();
    const [fr, lr] = pair(
      1,
      () => {
        for (let k = 0; k < 1000; k++) {
          let r = it.next();
          if (r.done === true) {
            it = map.entries();
            r = it.next();
          }
          sink += (r.value as [string, Value])[1].ino;
        }
      },
      (s) => {
        for (const { value } of l.db.getRange({ start: keyOf(rnd(s + 9, 0) % (size - 1000)), limit: 1000 })) sink += value.ino;
      },
    );
    if (sink === 0.5) console.log('');
    report('map iteration of 1000', size, fr, lr);
  }

  f.store.close();
  l.db.close();
  cleanup(f.path);
  cleanup(l.path);
}

for (const size of SIZES) run(size);
reportTargets();
