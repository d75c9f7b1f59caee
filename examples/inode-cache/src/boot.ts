/**
 * The boot experiment: "What if we stored the inode cache in NVM? Would booting with a hot
 * inode cache improve boot times?"
 *
 * For each tree size: generate a deterministic tree in a temporary directory, scan it into a
 * fresh pool (or, with `crash`, kill that scan with SIGKILL part way, reopen, verify, resume),
 * then alternate cold starts (list and lstat everything) and hot starts (open the pool,
 * revalidate, answer the same lookups), each in a fresh child process by default, and report
 * medians. With `dropCaches` the kernel's page/dentry/inode caches are dropped before every
 * run, cold and hot alike, as after a reboot.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultPoolDir, mediumOf } from '@ferrite/native';
import { checkCanDropCaches, dropCaches } from './drop-caches.js';
import { InodeCache } from './inode-cache.js';
import { CacheError, invariant } from './invariant.js';
import { openStore } from './open-store.js';
import { renderPlot } from './plot.js';
import { Progress } from './progress.js';
import { Prng } from './prng.js';
import { coldRun, hotRun, type ColdResult, type HotResult } from './runs.js';
import { formatBytes, formatCount, formatMs, median, renderTable } from './table.js';
import { materializeTree, planTree, sampleLookups } from './tree-gen.js';

export interface BootOptions {
  sizes: number[];
  runs: number;
  seed: number;
  lookups: number;
  dropCaches: boolean;
  plot: string | undefined;
  crash: boolean;
  inProcess: boolean;
  deep: boolean;
  keep: boolean;
  treeDir: string;
  poolDir: string;
  quiet: boolean;
  /** Where the report goes (default process.stdout). */
  out?: (line: string) => void;
  /** Where progress goes (default process.stderr). */
  err?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** Bounds on the experiment's parameters. */
export const MAX_RUNS = 50;
export const MAX_LOOKUPS = 100_000;

export interface BootRow {
  entries: number;
  cachesDropped: boolean;
  coldMs: number[];
  hot: HotResult[];
  cold: ColdResult[];
  poolBytes: number;
  /** Bytes in use in the pool after the first scan. */
  usedBytes: number;
  initialScanMs: number;
  generateMs: number;
}

/** The command line that runs this program's CLI in a child process (tsx + workspace sources). */
export function childCommand(args: readonly string[]): [string, string[]] {
  const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
  return [process.execPath, ['--conditions=ferrite-source', '--import', import.meta.resolve('tsx'), cli, ...args]];
}

function runChild<T>(args: readonly string[]): T {
  const [cmd, argv] = childCommand(args);
  const res = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (res.status !== 0) throw new Error(`child ${args.join(' ')} failed (${res.status ?? res.signal}): ${res.stderr}`);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Runs the experiment and prints its report; returns the rows (tests inspect them). */
export async function boot(o: BootOptions): Promise<BootRow[]> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (o.dropCaches) checkCanDropCaches();
  mkdirSync(o.treeDir, { recursive: true });
  const poolMedium = mediumOf(o.poolDir);
  const treeMedium = mediumOf(o.treeDir);
  out('ferrite inode-cache boot experiment');
  out(`  pool medium:  ${o.poolDir} (${poolMedium})`);
  out(`  tree medium:  ${o.treeDir} (${treeMedium})${treeMedium === 'tmpfs' ? ' — note: a tree on tmpfs has no device to read, so cold starts are flattered' : ''}`);
  out(`  machine:      ${cpus().length} CPU, ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${loadavg()[0].toFixed(1)} at start`);
  out(`  runs:         ${o.runs} cold + ${o.runs} hot per size, alternating, ${o.inProcess ? 'in this process (pool closed and reopened each run)' : 'each in a fresh child process'}; timed from the first step to the last answer, process start-up excluded`);
  out(`  kernel caches: ${o.dropCaches ? 'dropped before every run (sync; echo 3 > /proc/sys/vm/drop_caches)' : 'warm (not dropped; --drop-caches, as root, drops them before every run)'}`);
  const started = performance.now();
  const rows: BootRow[] = [];
  for (const size of o.sizes) rows.push(await bootOne(size, o, out));

  out('');
  out(renderTable(
    ['entries', 'kernel caches', 'cold median', 'hot median', 'speedup', 'pool size (used)', 'lookups/s (cache)'],
    rows.map((r) => {
      const cold = median(r.coldMs);
      const hot = median(r.hot.map((h) => h.totalMs));
      return [formatCount(r.entries), r.cachesDropped ? 'dropped' : 'warm', formatMs(cold), formatMs(hot), `${(cold / hot).toFixed(1)}×`,
        `${formatBytes(r.poolBytes)} (${formatBytes(r.usedBytes)})`, formatCount(median(r.hot.map((h) => h.lookupsPerSec)))];
    }),
  ));
  out('');
  out('breakdown (medians): cold = walk (readdir + lstat of every entry) + lookups; hot = open pool + revalidate (lstat of every directory, read the changed ones) + lookups');
  out(renderTable(
    ['entries', 'setup: generate', 'setup: first scan', 'cold walk', 'hot open', 'hot revalidate', 'dirs lstat\'ed', 'dirs read', 'lookups'],
    rows.map((r) => [formatCount(r.entries), formatMs(r.generateMs), formatMs(r.initialScanMs), formatMs(median(r.cold.map((c) => c.walkMs))),
      formatMs(median(r.hot.map((h) => h.openMs))), formatMs(median(r.hot.map((h) => h.revalidateMs))),
      formatCount(median(r.hot.map((h) => h.dirsVisited))), formatCount(median(r.hot.map((h) => h.dirsListed))), formatCount(Math.min(o.lookups, r.entries))]),
  ));
  if (o.plot !== undefined) {
    writeFileSync(o.plot, renderPlot([
      { label: 'cold start (walk + lstat everything)', color: '#d62728', points: rows.map((r) => [r.entries, median(r.coldMs)] as const) },
      { label: 'hot start (open pool + revalidate)', color: '#1f77b4', points: rows.map((r) => [r.entries, median(r.hot.map((h) => h.totalMs))] as const) },
    ], {
      title: `Boot time with and without a persistent inode cache (caches ${rows.every((r) => r.cachesDropped) ? 'dropped' : 'warm'})`,
      xLabel: 'entries in the tree', yLabel: 'time to ready (ms, median)',
    }));
    out(`\nplot written to ${o.plot}`);
  }
  out(`\nexperiment took ${(Math.round((performance.now() - started) / 100) / 10).toFixed(1)} s in all (load average ${loadavg()[0].toFixed(1)} at the end)`);
  return rows;
}

async function bootOne(size: number, o: BootOptions, out: (line: string) => void): Promise<BootRow> {
  const base = mkdtempSync(join(o.treeDir, 'ferrite-boot-'));
  const root = join(base, 'tree');
  const pool = join(o.poolDir, `ferrite-boot-${process.pid}-${size}.pool`);
  rmSync(pool, { force: true });
  try {
    out('');
    out(`== ${formatCount(size)} entries ==`);
    let t = performance.now();
    const plan = planTree(size, o.seed);
    mkdirSync(root);
    materializeTree(root, plan);
    const generateMs = performance.now() - t;
    out(`generated ${root}: ${formatCount(plan.counts.dir)} directories, ${formatCount(plan.counts.file)} files, ${formatCount(plan.counts.symlink)} symlinks, ${formatCount(plan.counts.hardlink)} hard links, depth ${plan.maxDepth} (${formatMs(generateMs)})`);
    // Step out of the file-time granularity window, so the cache trusts every listing (see
    // RACY_WINDOW_MS): the hot runs then measure the steady state "nothing changed since".
    await new Promise((r) => setTimeout(r, 150));
    const lookups = sampleLookups(plan, Math.min(o.lookups, size));
    const lookupsFile = join(base, 'lookups.json');
    writeFileSync(lookupsFile, JSON.stringify(lookups));

    t = performance.now();
    const usedBytes = o.crash ? await crashAndResume(root, pool, size, o, out) : initialScan(root, pool, size, o, out);
    const initialScanMs = performance.now() - t;

    const cold: ColdResult[] = [];
    const hot: HotResult[] = [];
    for (let i = 0; i < o.runs; i++) {
      if (o.dropCaches) dropCaches();
      cold.push(o.inProcess ? coldRun(root, lookups) : runChild<ColdResult>(['__run', 'cold', root, lookupsFile]));
      if (o.dropCaches) dropCaches();
      hot.push(o.inProcess ? hotRun(pool, root, lookups, o.deep) : runChild<HotResult>(['__run', 'hot', root, lookupsFile, pool, ...(o.deep ? ['--deep'] : [])]));
      const c = cold[cold.length - 1];
      const h = hot[hot.length - 1];
      if (c.digest !== h.digest) throw new Error(`run ${i + 1}: the cold and the hot start answered the lookups differently`);
      if (c.entries !== size) throw new Error(`run ${i + 1}: the cold walk saw ${c.entries} entries, the tree has ${size}`);
      out(`run ${i + 1}/${o.runs}: cold ${formatMs(c.totalMs)}, hot ${formatMs(h.totalMs)} (open ${formatMs(h.openMs)}, revalidate ${formatMs(h.revalidateMs)}, ${formatCount(h.dirsListed)} dirs read), answers agree`);
    }
    const poolBytes = statSync(pool).size;
    return { entries: size, cachesDropped: o.dropCaches, coldMs: cold.map((c) => c.totalMs), cold, hot, poolBytes, usedBytes, initialScanMs, generateMs };
  } finally {
    if (o.keep) {
      out(`kept ${root} and ${pool}`);
    } else {
      rmSync(base, { recursive: true, force: true });
      rmSync(pool, { force: true });
    }
  }
}

/** The first scan, in this process; returns the bytes in use in the pool afterwards. */
function initialScan(root: string, pool: string, size: number, o: BootOptions, out: (line: string) => void): number {
  const store = openStore(pool, { create: true });
  try {
    const cache = new InodeCache(store);
    const progress = new Progress('first scan', size, { quiet: o.quiet, stream: o.err });
    const t = performance.now();
    const r = cache.scan(root, { onProgress: (p) => progress.update(p.entriesListed, p.path) });
    progress.done(r.entriesListed);
    const { poolBytes, usedBytes } = store.sizes();
    out(`first scan into ${pool}: ${formatCount(r.entriesListed)} entries, ${formatCount(r.dirsListed)} directories, ${r.batches} transactions, ${formatMs(performance.now() - t)}; pool ${formatBytes(poolBytes)} (${formatBytes(usedBytes)} used) on ${store.info.medium}, durability by ${store.info.persistence}`);
    invariant(r.unreadable.length === 0, 'a generated tree is readable');
    return usedBytes;
  } finally {
    store.close();
  }
}

/**
 * Crash safety shown: a child process scans the tree into the pool and is killed with
 * SIGKILL part way (at a point drawn from the seed, so mid-transaction as often as not);
 * the pool is reopened (ferrite rolls back the interrupted transaction), what it holds is
 * verified against the tree, the scan resumes and finishes, and the whole is verified.
 */
async function crashAndResume(root: string, pool: string, size: number, o: BootOptions, out: (line: string) => void): Promise<number> {
  const fraction = 0.2 + new Prng(o.seed ^ 0xc0ffee).next() * 0.5;
  const target = Math.floor(size * fraction);
  const [cmd, argv] = childCommand(['scan', root, '--pool', pool, '--batch', '256', '--commits', '--quiet']);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let committed = 0;
  let killedAt = -1;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^committed (\d+) (\d+)$/.exec(line);
    if (m === null) continue;
    committed = Number(m[2]);
    if (committed >= target && killedAt < 0) {
      killedAt = committed;
      child.kill('SIGKILL');
    }
  }
  const { code, signal } = await exited;
  if (signal !== 'SIGKILL') {
    throw new Error(`the scan to be killed ended by itself (code ${code}); ${stderr}`);
  }
  out(`crash: killed the scan with SIGKILL after it reported ${formatCount(killedAt)} of ${formatCount(size)} entries committed (it may have gone on a little before the signal landed)`);
  const store = openStore(pool, { create: false });
  try {
    const cache = new InodeCache(store);
    const rec = cache.scanRecord;
    invariant(rec !== undefined, 'the killed scan committed its scan record');
    const counts = cache.counts();
    out(`reopened ${pool} (${store.info.medium}; durability by ${store.info.persistence}): ${store.recovered ? 'an interrupted transaction was rolled back' : 'no transaction was in flight'}; scan ${rec.state}; ${formatCount(counts.dirents)} entries and ${formatCount(counts.dirs)} directory listings cached; last committed directory ${rec.lastDir}`);
    const before = cache.verify();
    out(`verified everything the cache holds against the tree: ${formatCount(before.entries)} entries in ${formatCount(before.dirs)} listings, ${before.mismatchCount} mismatches`);
    if (before.mismatchCount > 0) throw new CacheError('ENOENT', `the cache disagrees with the tree after the crash:\n${before.mismatches.join('\n')}`);
    const progress = new Progress('resumed scan', size, { quiet: o.quiet, stream: o.err });
    const r = cache.scan(root, { onProgress: (p) => progress.update(counts.dirents + p.entriesListed, p.path) });
    progress.done(cache.counts().dirents);
    out(`resumed: ${formatCount(r.dirsVisited - r.dirsListed)} directories already cached (one lstat each), ${formatCount(r.dirsListed)} read, ${formatCount(r.entriesListed)} entries added; scan ${cache.scanRecord?.state}`);
    const after = cache.verify();
    if (after.mismatchCount > 0 || after.entries !== size) {
      throw new CacheError('ENOENT', `the resumed cache disagrees with the tree (${after.entries} of ${size} entries):\n${after.mismatches.join('\n')}`);
    }
    out(`verified: all ${formatCount(after.entries)} entries agree with the tree`);
    return store.sizes().usedBytes;
  } finally {
    store.close();
  }
}

/** The defaults of `boot`. */
export function defaultBootOptions(): BootOptions {
  return {
    sizes: [100_000], runs: 3, seed: 1, lookups: 1000, dropCaches: false, plot: undefined, crash: false,
    inProcess: false, deep: false, keep: false, treeDir: tmpdir(), poolDir: defaultPoolDir(), quiet: false,
  };
}
