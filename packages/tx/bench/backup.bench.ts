/**
 * Backups and compaction (issue 22), on an ordinary file system on disk (ext4 here) and on
 * tmpfs (/dev/shm):
 *   - `store.backup()` of a 1 GiB pool no one writes, in MiB/s, against `cp` of the same file
 *     (and `cp` followed by an fsync of the copy: a backup's copy is durable when it returns);
 *   - the same backup while a writer commits transactions every event-loop turn: MiB/s, the
 *     longest synchronous step of the backup (how long a write waited at most), the worst
 *     event-loop delay, and how many passes it took;
 *   - compaction time per GiB of live data (`compactPoolFile` of a pool of which 90% was
 *     deleted: the time to rebuild its live entries), and the size it gives.
 * FERRITE_BENCH_QUICK=1 uses a 256 MiB pool. Prints `name: value` lines and a table.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, statSync, statfsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Store, compactPoolFile } from '../src/index.js';

const QUICK = process.env.FERRITE_BENCH_QUICK === '1';
const POOL_BYTES = QUICK ? 256 << 20 : 1 << 30;
const ROUNDS = QUICK ? 2 : 3;
const MIB = 1 << 20;
const VALUE = 3000;

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

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A pool of about POOL_BYTES: values of 3 KB in a hash map, written in transactions of 1,000. */
function makePool(path: string, forcePmem: boolean): number {
  const store = Store.open(path, { create: true, size: POOL_BYTES, maxSize: 2 * POOL_BYTES, forcePmem });
  const m = store.map<number, string>('data');
  const n = Math.floor((POOL_BYTES * 0.9) / (VALUE + 200));
  for (let b = 0; b < n; b += 1000) {
    store.transaction(() => {
      for (let i = b; i < Math.min(n, b + 1000); i++) m.set(i, `${i}`.padEnd(VALUE, 'v'));
    });
  }
  store.close();
  return n;
}

interface Row {
  medium: string;
  work: string;
  value: string;
}

async function run(medium: string, dir: string, forcePmem: boolean, rows: Row[]): Promise<void> {
  const work = mkdtempSync(join(dir, 'ferrite-backup-bench-'));
  try {
    const src = join(work, 'src.pool');
    const n = makePool(src, forcePmem);
    const size = statSync(src).size;
    const sizeMiB = size / MIB;
    // cp, and cp + fsync of the copy.
    const cpMs: number[] = [];
    const cpSyncMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const dst = join(work, `cp-${r}.pool`);
      let t = nowMs();
      execFileSync('cp', [src, dst]);
      cpMs.push(nowMs() - t);
      rmSync(dst);
      t = nowMs();
      execFileSync('cp', [src, dst]);
      const fd = openSync(dst, 'r');
      fsyncSync(fd);
      closeSync(fd);
      cpSyncMs.push(nowMs() - t);
      rmSync(dst);
    }
    // store.backup of an idle store.
    const store = Store.open(src, { forcePmem });
    const idleMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const dst = join(work, `b-${r}.pool`);
      const t = nowMs();
      await store.backup(dst);
      idleMs.push(nowMs() - t);
      rmSync(dst);
    }
    // store.backup while a writer commits 20 transactions (of one 3 KB value each) per turn.
    const busy: { ms: number; pause: number; delay: number; rounds: number; writes: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const dst = join(work, `w-${r}.pool`);
      const m = store.map<number, string>('data');
      let stop = false;
      let writes = 0;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          for (let k = 0; k < 20; k++, writes++) m.set((i * 20 + k) % n, `${i}`.padEnd(VALUE, 'w'));
          await turn();
        }
      })();
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const t = nowMs();
      const info = await store.backup(dst);
      const ms = nowMs() - t;
      h.disable();
      stop = true;
      await writer;
      busy.push({ ms, pause: info.maxPauseMs, delay: h.max / 1e6, rounds: info.rounds, writes });
      rmSync(dst);
    }
    // Compaction: delete 90%, then compact in place; time per GiB of live data.
    const m = store.map<number, string>('data');
    for (let b = 0; b < n; b += 1000) {
      store.transaction(() => {
        for (let i = b; i < Math.min(n, b + 1000); i++) if (i % 10 !== 0) m.delete(i);
      });
    }
    const live = store.stats().pool.used;
    store.close();
    const t = nowMs();
    const info = compactPoolFile(src);
    const compactMs = nowMs() - t;
    const mibps = (ms: number): string => `${(sizeMiB / (ms / 1000)).toFixed(0)} MiB/s`;
    const b = busy.sort((x, y) => x.ms - y.ms)[Math.floor(busy.length / 2)]!;
    const lines: [string, string][] = [
      [`cp of a ${sizeMiB.toFixed(0)} MiB pool`, `${mibps(median(cpMs))} (${median(cpMs).toFixed(0)} ms)`],
      ['cp + fsync of the copy', `${mibps(median(cpSyncMs))} (${median(cpSyncMs).toFixed(0)} ms)`],
      ['store.backup, idle store', `${mibps(median(idleMs))} (${median(idleMs).toFixed(0)} ms), ${(median(idleMs) / median(cpSyncMs)).toFixed(2)}x cp + fsync`],
      ['store.backup, a writer every turn', `${mibps(b.ms)} (${b.ms.toFixed(0)} ms, ${b.rounds} passes, ${b.writes} writes meanwhile)`],
      ['  longest step (a write waited at most)', `${b.pause.toFixed(1)} ms; worst event-loop delay ${b.delay.toFixed(1)} ms`],
      [`compaction of ${(live / MIB).toFixed(0)} MiB live (of ${sizeMiB.toFixed(0)} MiB)`, `${(compactMs / 1000 / (live / (1 << 30))).toFixed(1)} s per GiB live (${compactMs.toFixed(0)} ms), file ${(info.bytesAfter / MIB).toFixed(1)} MiB`],
    ];
    for (const [w, v] of lines) {
      console.log(`${w} (${medium}): ${v}`);
      rows.push({ medium, work: w, value: v });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
const disk = diskDir();
const need = 3.2 * POOL_BYTES;
if (disk !== undefined && freeBytes(disk) > need) await run('ext4 disk, redo log', disk, false, rows);
else console.log(`(no disk directory with ${(need / MIB).toFixed(0)} MiB free: disk run skipped)`);
if (freeBytes('/dev/shm') > need) await run('tmpfs, forcePmem', '/dev/shm', true, rows);
else console.log(`(/dev/shm has less than ${(need / MIB).toFixed(0)} MiB free: tmpfs run skipped)`);
console.log('\n| medium | work | result |\n|---|---|---|');
for (const r of rows) console.log(`| ${r.medium} | ${r.work} | ${r.value} |`);
