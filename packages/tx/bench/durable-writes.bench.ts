/**
 * Durable writes, ferrite against lmdb-js in the same run and the same directory, on two media
 * (issue 20):
 *   - an ordinary file system on disk (ext4 here): ferrite's pool file with its redo log (one
 *     device sync per commit), lmdb with its default durable commits;
 *   - tmpfs (/dev/shm): ferrite with forcePmem (cache-line flushes, as on persistent memory),
 *     lmdb as above (its syncs cost no device I/O there).
 * Work, 32-byte values (`{ n, s }`, encoded to about 32 bytes by both):
 *   - one durable `set` per transaction (lmdb: `putSync`);
 *   - 1,000 `set`s in one transaction (lmdb: `transactionSync` with 1,000 `put`s), per set;
 *   - 20,000 writes in flight: ferrite `transactionAsync` each (group commit), lmdb `put`
 *     (its async, batched commit), per write, and the worst event-loop delay during the run
 *     (perf_hooks.monitorEventLoopDelay), which says whether syncs block the event loop.
 * Rounds alternate ferrite and lmdb so both see the same machine load; medians over rounds.
 * Prints `<work> (<medium>): ferrite X µs, lmdb Y µs, ratio X/Y` and a table.
 */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { Store } from '../src/index.js';

const QUICK = process.env.FERRITE_BENCH_QUICK === '1';
const ROUNDS = QUICK ? 3 : 5;
const SINGLES = QUICK ? 300 : 1000;
const BATCH = 1000;
const BATCHES = QUICK ? 5 : 10;
const IN_FLIGHT = 20_000;

const TMPFS_MAGIC = 0x01021994;
function diskDir(): string | undefined {
  for (const d of [tmpdir(), '/var/tmp', homedir()]) {
    try {
      if (statfsSync(d).type !== TMPFS_MAGIC) return d;
    } catch {
      // next
    }
  }
  return undefined;
}

const value = (i: number): { n: number; s: string } => ({ n: i, s: 'v'.repeat(20) });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const now = (): number => Number(process.hrtime.bigint()) / 1000;

interface Pair {
  ferrite: number[];
  lmdb: number[];
}

interface Medium {
  name: string;
  dir: string;
  forcePmem: boolean;
}

async function inFlight(fn: (i: number) => Promise<unknown>, n: number): Promise<{ us: number; maxDelayMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = now();
  const ps: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    ps.push(fn(i));
    // Keep issuing across turns, as a server would: 1,000 writes per turn.
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(ps);
  const us = (now() - t0) / n;
  h.disable();
  return { us, maxDelayMs: h.max / 1e6 };
}

async function run(m: Medium): Promise<string[]> {
  const rows: string[] = [];
  const dir = mkdtempSync(join(m.dir, 'ferrite-durable-'));
  try {
    const store = Store.open(join(dir, 'f.pool'), { create: true, size: 256 << 20, maxSize: 1 << 30, forcePmem: m.forcePmem });
    const map = store.map<number, { n: number; s: string }>('m');
    const lmdb: RootDatabase<{ n: number; s: string }, number> = openLmdb({ path: join(dir, 'lmdb'), mapSize: 1 << 30 });
    let key = 0;
    const single: Pair = { ferrite: [], lmdb: [] };
    const batch: Pair = { ferrite: [], lmdb: [] };
    const flight: Pair = { ferrite: [], lmdb: [] };
    const delay: Pair = { ferrite: [], lmdb: [] };
    for (let r = 0; r < ROUNDS; r++) {
      let t = now();
      for (let i = 0; i < SINGLES; i++) map.set(key + i, value(i));
      single.ferrite.push((now() - t) / SINGLES);
      t = now();
      for (let i = 0; i < SINGLES; i++) lmdb.putSync(key + i, value(i));
      single.lmdb.push((now() - t) / SINGLES);
      key += SINGLES;
      t = now();
      for (let b = 0; b < BATCHES; b++) {
        store.transaction(() => {
          for (let i = 0; i < BATCH; i++) map.set(key + b * BATCH + i, value(i));
        });
      }
      batch.ferrite.push((now() - t) / (BATCHES * BATCH));
      t = now();
      for (let b = 0; b < BATCHES; b++) {
        lmdb.transactionSync(() => {
          for (let i = 0; i < BATCH; i++) void lmdb.put(key + b * BATCH + i, value(i));
        });
      }
      batch.lmdb.push((now() - t) / (BATCHES * BATCH));
      key += BATCHES * BATCH;
      const base = key;
      const f = await inFlight((i) => store.transactionAsync(() => map.set(base + i, value(i))), IN_FLIGHT);
      const l = await inFlight((i) => lmdb.put(base + i, value(i)), IN_FLIGHT);
      key += IN_FLIGHT;
      flight.ferrite.push(f.us);
      flight.lmdb.push(l.us);
      delay.ferrite.push(f.maxDelayMs);
      delay.lmdb.push(l.maxDelayMs);
    }
    const syncs = store.stats().durability;
    store.close();
    await lmdb.close();
    const line = (work: string, p: Pair, unit = 'µs'): void => {
      const fm = median(p.ferrite);
      const lm = median(p.lmdb);
      console.log(`${work} (${m.name}): ferrite ${fm.toFixed(2)} ${unit}, lmdb ${lm.toFixed(2)} ${unit}, ratio ${(fm / lm).toFixed(2)}`);
      rows.push(`| ${work} | ${m.name} | ${fm.toFixed(2)} ${unit} | ${lm.toFixed(2)} ${unit} | ${(fm / lm).toFixed(2)} |`);
    };
    line('one durable set per transaction', single);
    line('1,000 sets in one transaction, per set', batch);
    line(`${IN_FLIGHT.toLocaleString('en')} async writes in flight, per write`, flight);
    line('worst event-loop delay during them', delay, 'ms');
    console.log(`(${m.name}) ferrite durability: ${syncs.mode}, ${syncs.syncs} syncs, ${syncs.records} records, ${syncs.checkpoints} checkpoints`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const media: Medium[] = [];
const disk = diskDir();
if (disk !== undefined) media.push({ name: 'disk file', dir: disk, forcePmem: false });
else console.log('(no disk file system found for the file medium: only tmpfs is measured)');
media.push({ name: 'tmpfs, forcePmem', dir: '/dev/shm', forcePmem: true });
const table = ['| work | medium | ferrite | lmdb-js | ratio |', '|---|---|---|---|---|'];
for (const m of media) table.push(...(await run(m)));
console.log('\n' + table.join('\n'));
