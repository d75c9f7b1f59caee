/**
 * Issue 21: the write path as a user loads data, next to PMDK (bench/pmdk) and lmdb-js in the
 * same run, on the same medium (tmpfs at /dev/shm; ferrite with forcePmem, PMDK with
 * PMEM_IS_PMEM_FORCE=1, lmdb-js with its durable commits).
 *
 * Keys are integers spread by a multiplicative hash (key(i) = i * 2654435761 mod 2^32), values
 * `{ name: <20 characters>, n }`. Per size (100k and 1M entries; FERRITE_BENCH_QUICK=1: 100k
 * only), each round starts from an EMPTY map and measures:
 * - load: every key set into the empty map, one durable transaction each (PMDK: a lookup, then
 *   an insert in its own transaction, into a table sized for N from the start); and the same
 *   into a ferrite map made for N entries (`store.map(name, { expectedSize: N })`), like for like;
 *   and PMDK's load into a map grown from 16 buckets as its hashmap_tx example grows (a rebuild
 *   at twice the buckets in one transaction), like for like with ferrite's map grown from empty;
 * - update: every key set again with a value of the same encoded size, one transaction each
 *   (PMDK: a lookup, then a transaction that snapshots and overwrites the value);
 * - 1,000 inserts in one transaction into the loaded map, against lmdb-js's transactionSync of
 *   1,000 puts (samples alternate), per insert;
 * - get of present keys in random order, against lmdb-js's get (samples alternate);
 * - 100,000 inserts in one transaction into an empty map (a collection committed before),
 *   against lmdb-js's transactionSync of 100,000 puts into an empty database, per insert.
 * The medians over rounds (and over the alternating samples) are compared at the end with
 * issue 21's targets. The JavaScript is warmed up once before the first round (a throwaway load
 * of 20,000 keys): PMDK, in C, has nothing to warm.
 *
 * Prints `<op> @<size> ferrite (tmpfs, forcePmem): median X µs (n samples)` and the same for
 * the anchor, then the target lines. Fence counts (drains) of the batch transactions are
 * printed too: they must not grow with the number of writes beyond what the log forces.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { buildPmdkBench, runPmdkLoad } from '../../../bench/pmdk/run.js';
import { Store } from '../src/index.js';

const QUICK = process.env.FERRITE_BENCH_QUICK === '1';
const SIZES = [100_000, ...(QUICK ? [] : [1_000_000])];
const ROUNDS: Record<number, number> = { 100_000: 5, 1_000_000: 3 };
const BATCH = 1000;
const BATCH_SAMPLES = 9;
const GET_BATCH = 2000;
const GET_SAMPLES = 15;
const BULK = 100_000;
const SHM = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

interface Value { name: string; n: number }
const NAME = 'abcdefghijklmnopqrst';

function keyOf(i: number): number {
  return Math.imul(i, 2654435761) >>> 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function fmt(x: number): string {
  return x < 10 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(1);
}

/** µs per operation of `ops` operations done by `fn`. */
function time(ops: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / ops;
}

function openFerrite(dir: string, n: number): Store {
  const size = Math.max(64 << 20, n * 320);
  return Store.open(join(dir, 'ferrite.pool'), { create: true, size, maxSize: size * 8, forcePmem: true });
}

function openLmdbDb(dir: string, n: number): RootDatabase<Value, number> {
  return openLmdb<Value, number>({ path: join(dir, 'lmdb'), mapSize: Math.max(256 << 20, n * 1024) });
}

/** Sets key(i) for i in [from, to), one durable transaction each. */
function load(map: { set(k: number, v: Value): unknown }, from: number, to: number): void {
  for (let i = from; i < to; i++) map.set(keyOf(i), { name: NAME, n: i });
}

interface Samples {
  load: number[];
  loadSized: number[];
  update: number[];
  pmdkLoad: number[];
  pmdkLoadGrown: number[];
  pmdkUpdate: number[];
  batch: number[];
  lmdbBatch: number[];
  get: number[];
  lmdbGet: number[];
  bulk: number[];
  lmdbBulk: number[];
  batchDrains: number[];
  bulkDrains: number[];
}

function round(n: number, s: Samples, pmdkExe: string | undefined, r: number): void {
  const dir = mkdtempSync(join(SHM, 'ferrite-load-bench-'));
  try {
    const store = openFerrite(dir, n);
    const db = openLmdbDb(dir, n);
    const map = store.map<number, Value>('load');
    s.load.push(time(n, () => load(map, 0, n)));
    // The same encoded size: i ^ 1 has i's msgpack width.
    s.update.push(time(n, () => { for (let i = 0; i < n; i++) map.set(keyOf(i), { name: NAME, n: i ^ 1 }); }));
    if (map.size !== n) throw new Error(`the map holds ${map.size} entries, not ${n}`);
    // The same load into a map made for n entries (store.map's expectedSize): no doubling, as
    // PMDK's table here, which is sized for N from the start. Its own pool, closed after.
    {
      const sizedStore = Store.open(join(dir, 'sized.pool'), { create: true, size: Math.max(64 << 20, n * 320), maxSize: Math.max(64 << 20, n * 320) * 8, forcePmem: true });
      const sized = sizedStore.map<number, Value>('load', { expectedSize: n });
      s.loadSized.push(time(n, () => load(sized, 0, n)));
      if (sized.size !== n) throw new Error(`the presized map holds ${sized.size} entries, not ${n}`);
      sizedStore.close();
      rmSync(join(dir, 'sized.pool'));
    }
    for (let i = 0; i < n; i += BATCH) db.transactionSync(() => { for (let j = i; j < Math.min(n, i + BATCH); j++) db.put(keyOf(j), { name: NAME, n: j }); });

    // 1,000 inserts in one transaction, alternating with lmdb-js (fresh keys above n).
    let fk = n + r * 10 * BATCH * BATCH_SAMPLES;
    let lk = fk;
    for (let k = -1; k < BATCH_SAMPLES; k++) {
      const f = time(BATCH, () => store.transaction(() => { for (let j = 0; j < BATCH; j++, fk++) map.set(keyOf(fk), { name: NAME, n: fk }); }));
      const drains = store.stats().pool.lastTx.drains;
      const l = time(BATCH, () => db.transactionSync(() => { for (let j = 0; j < BATCH; j++, lk++) db.put(keyOf(lk), { name: NAME, n: lk }); }));
      if (k < 0) continue; // warm-up
      s.batch.push(f);
      s.lmdbBatch.push(l);
      s.batchDrains.push(drains);
    }

    // get of present keys in random order, alternating with lmdb-js.
    let sink = 0;
    for (let k = -1; k < GET_SAMPLES; k++) {
      const keys = Array.from({ length: GET_BATCH }, (_, j) => keyOf(((k + 2) * 7919 + j * 40503) % n));
      const f = time(GET_BATCH, () => { for (let j = 0; j < GET_BATCH; j++) sink += map.get(keys[j]!)!.n; });
      const l = time(GET_BATCH, () => { for (let j = 0; j < GET_BATCH; j++) sink += db.get(keys[j]!)!.n; });
      if (k < 0) continue;
      s.get.push(f);
      s.lmdbGet.push(l);
    }
    if (sink === 0.5) console.log('');

    // 100,000 inserts in one transaction into an empty map / database.
    const bulk = store.map<number, Value>('bulk');
    bulk.size; // created (and committed) before the measured transaction
    s.bulk.push(time(BULK, () => store.transaction(() => load(bulk, 0, BULK))));
    s.bulkDrains.push(store.stats().pool.lastTx.drains);
    const bulkDb = openLmdb<Value, number>({ path: join(dir, 'lmdb-bulk'), mapSize: 256 << 20 });
    s.lmdbBulk.push(time(BULK, () => bulkDb.transactionSync(() => { for (let i = 0; i < BULK; i++) bulkDb.put(keyOf(i), { name: NAME, n: i }); })));
    bulkDb.close();
    store.close();
    db.close();

    if (pmdkExe !== undefined) {
      const p = runPmdkLoad(pmdkExe, dir, n);
      if (!p.ok) throw new Error(`PMDK: ${p.reason}`);
      s.pmdkLoad.push(p.run.results.get(`load 0 to ${n} (upsert, 1 tx each)`)!);
      s.pmdkLoadGrown.push(p.run.results.get(`load 0 to ${n} grown from 16 buckets (1 tx each)`)!);
      s.pmdkUpdate.push(p.run.results.get(`update every key @${n} (1 tx each)`)!);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function line(op: string, label: string, who: string, xs: number[]): void {
  if (xs.length > 0) console.log(`${op} @${label} ${who}: median ${fmt(median(xs))} µs (${xs.length} samples)`);
}

function target(what: string, ferrite: number[], anchor: number[], anchorName: string, limit: number): void {
  if (ferrite.length === 0 || anchor.length === 0) return;
  const f = median(ferrite);
  const a = median(anchor);
  const ratio = f / a;
  console.log(`target ${what}: ferrite ${fmt(f)} µs, ${anchorName} ${fmt(a)} µs, ratio ${ratio.toFixed(2)} (target <= ${limit}): ${ratio <= limit ? 'met' : 'NOT met'}`);
}

function main(): void {
  const buildDir = mkdtempSync(join(SHM, 'ferrite-pmdk-build-'));
  try {
    const built = buildPmdkBench(buildDir);
    if (!built.ok) console.log(`# PMDK not measured: ${built.reason}`);
    // Warm the JavaScript up once: a throwaway load.
    {
      const dir = mkdtempSync(join(SHM, 'ferrite-load-warm-'));
      try {
        const store = openFerrite(dir, 20_000);
        load(store.map<number, Value>('warm'), 0, 20_000);
        store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    for (const n of SIZES) {
      const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
      const s: Samples = { load: [], loadSized: [], update: [], pmdkLoad: [], pmdkLoadGrown: [], pmdkUpdate: [], batch: [], lmdbBatch: [], get: [], lmdbGet: [], bulk: [], lmdbBulk: [], batchDrains: [], bulkDrains: [] };
      for (let r = 0; r < ROUNDS[n]!; r++) round(n, s, built.ok ? built.exe : undefined, r);
      console.log(`\n# ${label} entries, ${ROUNDS[n]} rounds`);
      line('map load from empty (1 tx each)', label, 'ferrite (tmpfs, forcePmem)', s.load);
      line('map load from empty (1 tx each), table sized for N (expectedSize)', label, 'ferrite (tmpfs, forcePmem)', s.loadSized);
      line('map load from empty (1 tx each)', label, 'PMDK (tmpfs, table sized for N)', s.pmdkLoad);
      line('map load from empty (1 tx each)', label, 'PMDK (tmpfs, grown from 16 buckets as its hashmap_tx example)', s.pmdkLoadGrown);
      line('map update every key, same size (1 tx each)', label, 'ferrite (tmpfs, forcePmem)', s.update);
      line('map update every key, same size (1 tx each)', label, 'PMDK (tmpfs)', s.pmdkUpdate);
      line(`map ${BATCH} inserts in one tx, per insert`, label, 'ferrite (tmpfs, forcePmem)', s.batch);
      line(`map ${BATCH} inserts in one tx, per insert`, label, 'lmdb (tmpfs, transactionSync)', s.lmdbBatch);
      line('map get', label, 'ferrite (tmpfs, forcePmem)', s.get);
      line('map get', label, 'lmdb (tmpfs)', s.lmdbGet);
      line(`map ${BULK} inserts in one tx into an empty map, per insert`, label, 'ferrite (tmpfs, forcePmem)', s.bulk);
      line(`map ${BULK} inserts in one tx into an empty map, per insert`, label, 'lmdb (tmpfs, transactionSync)', s.lmdbBulk);
      console.log(`# fences (drains) per transaction: ${BATCH} inserts ${median(s.batchDrains)}, ${BULK} inserts ${median(s.bulkDrains)}`);
      console.log(`# issue 21 targets @${label}, against this run`);
      target(`load from empty, both maps grown from 16 buckets (like for like) @${label}`, s.load, s.pmdkLoadGrown, 'PMDK', 1.2);
      target(`load from empty, both tables sized for N (like for like) @${label}`, s.loadSized, s.pmdkLoad, 'PMDK', 1.2);
      target(`load from empty, ferrite grown against PMDK sized for N @${label}`, s.load, s.pmdkLoad, 'PMDK', 1.2);
      target(`update @${label}`, s.update, s.pmdkUpdate, 'PMDK', 1);
      target(`${BATCH} inserts in one tx @${label}`, s.batch, s.lmdbBatch, 'lmdb-js', 1);
      target(`${BULK} inserts in one tx @${label}`, s.bulk, s.lmdbBulk, 'lmdb-js', 1);
      target(`get @${label}`, s.get, s.lmdbGet, 'lmdb-js', 0.25);
    }
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
  }
}

main();
