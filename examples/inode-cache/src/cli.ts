/**
 * The inode-cache program: `scan`, `stat`, `ls`, `revalidate`, `verify`, `info`, `boot`.
 * Exit codes: 0 success; 1 an error (a message on stderr, the cache unchanged by the failed
 * step) or, for `--verify`/`verify`, a disagreement with the file system; 2 a usage error.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { boot, defaultBootOptions, MAX_LOOKUPS, MAX_RUNS } from './boot.js';
import { attrsOf, diffAttrs, modeString, typeOfMode, type InodeAttrs } from './fs-types.js';
import { DEFAULT_BATCH_ENTRIES, InodeCache, MAX_BATCH_ENTRIES, type CachedEntry, type SyncResult } from './inode-cache.js';
import { CacheError, errnoCode, usageError } from './invariant.js';
import { defaultPool, openStore } from './open-store.js';
import { Progress } from './progress.js';
import { coldRun, hotRun } from './runs.js';
import { formatBytes, formatCount } from './table.js';
import { MAX_TREE_ENTRIES } from './tree-gen.js';

const HELP = `usage: inode-cache <command> [options]

A persistent inode cache of a directory tree, kept in a ferrite pool.

commands:
  scan DIR          walk DIR (lstat, no links followed, one file system) into the cache in
                    batched transactions; a killed scan resumes when run again
  stat PATH         the cached attributes of PATH                 [--verify]
  ls DIR            the cached entries of DIR                     [--verify]
  revalidate        re-read only the directories whose mtime/ctime changed   [--deep]
  verify            compare everything the cache holds with the file system
  info              the pool, its medium, the scan record and counts
  boot              the experiment: cold start vs hot start (see below)

options:
  --pool FILE       the pool (default: $INODE_CACHE_POOL or <default pool dir>/ferrite-inode-cache.pool)
  --verify          (stat, ls) also lstat the live file system and compare; exit 1 on a difference
  --deep            (revalidate) read every directory, to see files changed in place
  --batch N         (scan, revalidate) entries per transaction (default ${DEFAULT_BATCH_ENTRIES})
  --quiet           no progress display
  -h, --help        this text

boot options:
  --entries N       tree size (default 100000)
  --sizes A,B,...   several tree sizes, e.g. 1000,10000,100000
  --runs N          cold and hot runs per size (default 3)
  --seed N          tree generator seed (default 1)
  --lookups N       path lookups answered by each start (default 1000)
  --drop-caches     drop the kernel's caches before every run (root only)
  --plot FILE.svg   write a chart of cold and hot boot time against tree size
  --crash           kill the first scan with SIGKILL part way, reopen, verify, resume
  --in-process      run starts in this process (pool closed and reopened) instead of children
  --deep            hot starts revalidate deeply (read every directory)
  --keep            keep the generated tree and the pool
  --tree-dir DIR    where trees are generated (default: the system temp directory)
  --pool-dir DIR    where pools go (default: the store's default medium directory)
`;

type Values = Record<string, string | boolean | undefined>;

const COMMON = { pool: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
const OPTIONS: Record<string, NonNullable<ParseArgsConfig['options']>> = {
  scan: { ...COMMON, batch: { type: 'string' }, commits: { type: 'boolean' } },
  stat: { ...COMMON, verify: { type: 'boolean' } },
  ls: { ...COMMON, verify: { type: 'boolean' } },
  revalidate: { ...COMMON, deep: { type: 'boolean' }, batch: { type: 'string' } },
  verify: { ...COMMON },
  info: { ...COMMON },
  boot: {
    ...COMMON, entries: { type: 'string' }, sizes: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' },
    lookups: { type: 'string' }, 'drop-caches': { type: 'boolean' }, plot: { type: 'string' }, crash: { type: 'boolean' },
    'in-process': { type: 'boolean' }, deep: { type: 'boolean' }, keep: { type: 'boolean' }, 'tree-dir': { type: 'string' },
    'pool-dir': { type: 'string' },
  },
  __run: { deep: { type: 'boolean' } },
};
const POSITIONALS: Record<string, [number, string]> = {
  scan: [1, 'scan DIR'], stat: [1, 'stat PATH'], ls: [1, 'ls DIR'], revalidate: [0, 'revalidate'], verify: [0, 'verify'],
  info: [0, 'info'], boot: [0, 'boot'],
};

function integer(values: Values, name: string, dflt: number, lo: number, hi: number): number {
  const raw = values[name];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < lo || n > hi) {
    throw usageError(`--${name} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Where the program writes: the process's streams, or (tests) anything writable. */
export interface CliStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

let io: CliStreams = { stdout: process.stdout, stderr: process.stderr };

const out = (line: string): void => {
  io.stdout.write(`${line}\n`);
};

/**
 * Runs the program with `argv` (without node and script) and returns the exit code; errors a
 * user can cause are thrown (`describeError` gives the message and exit code). Writes to
 * `streams` (default: the process's).
 */
export async function main(argv: readonly string[], streams: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const saved = io;
  io = streams;
  try {
    return await run(argv);
  } finally {
    io = saved;
  }
}

async function run(argv: readonly string[]): Promise<number> {
  // `pnpm start -- scan DIR` passes the `--` through: accept it.
  const [command, ...rest] = argv[0] === '--' ? argv.slice(1) : argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  const options = OPTIONS[command];
  if (options === undefined) throw usageError(`unknown command ${JSON.stringify(command)}; see --help`);
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (err) {
    throw usageError(`${command}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}; see --help`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (command === '__run') return internalRun(positionals, values);
  const [count, synopsis] = POSITIONALS[command];
  if (positionals.length !== count) {
    throw usageError(`usage: inode-cache ${synopsis} [options] (got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}); see --help`);
  }
  if (command === 'boot') return bootCommand(values);
  const pool = typeof values.pool === 'string' ? values.pool : defaultPool();
  const quiet = values.quiet === true;
  switch (command) {
    case 'scan': {
      const batchEntries = integer(values, 'batch', DEFAULT_BATCH_ENTRIES, 1, MAX_BATCH_ENTRIES);
      const root = positionals[0];
      return withCache(pool, true, (cache) => {
        const before = cache.scanRecord;
        const resumed = before !== undefined && before.state === 'running';
        const progress = new Progress(resumed ? 'resuming scan' : 'scan', undefined, { quiet, stream: io.stderr });
        const r = cache.scan(root, {
          batchEntries,
          onProgress: (p) => progress.update(p.entriesListed, p.path),
          // For `boot --crash`: a line per committed batch, so the parent can kill mid-scan.
          onCommit: values.commits === true ? () => out(`committed ${cache.scanRecord?.batches ?? 0} ${cache.counts().dirents}`) : undefined,
        });
        progress.done(r.entriesListed);
        const c = cache.counts();
        out(`${before === undefined ? 'scanned' : resumed ? 'resumed and finished' : 'revalidated'} ${cache.scanRecord?.root}: ${formatCount(c.dirents)} entries, ${formatCount(c.dirs)} directories cached; this pass read ${formatCount(r.dirsListed)} of ${formatCount(r.dirsVisited)} directories in ${r.batches} transactions`);
        out(`pool ${pool} (${cache.store.info.medium}; durability by ${cache.store.info.persistence})`);
        return reportUnreadable(r);
      });
    }
    case 'revalidate': {
      const batchEntries = integer(values, 'batch', DEFAULT_BATCH_ENTRIES, 1, MAX_BATCH_ENTRIES);
      return withCache(pool, false, (cache) => {
        const progress = new Progress('revalidate', cache.counts().dirs, { quiet, stream: io.stderr });
        const r = cache.revalidate({ deep: values.deep === true, batchEntries, onProgress: (p) => progress.update(p.dirsVisited, p.path) });
        progress.done(r.dirsVisited);
        out(`revalidated ${cache.scanRecord?.root}: lstat'ed ${formatCount(r.dirsVisited)} directories, read ${formatCount(r.dirsListed)}; ${r.added} added, ${r.removed} removed, ${r.updated} changed`);
        return reportUnreadable(r);
      });
    }
    case 'stat':
      return withCache(pool, false, (cache) => {
        const e = cache.resolve(positionals[0]);
        out(`${e.path}\n  inode ${e.ino}  type ${e.type}  mode ${modeString(e.attrs.mode)} (${(e.attrs.mode & 0o7777).toString(8)})  links ${e.attrs.nlink}\n  uid ${e.attrs.uid}  gid ${e.attrs.gid}  size ${e.attrs.size}\n  mtime ${new Date(e.attrs.mtimeMs).toISOString()}  ctime ${new Date(e.attrs.ctimeMs).toISOString()}`);
        return values.verify === true ? verifyEntries([e]) : 0;
      });
    case 'ls':
      return withCache(pool, false, (cache) => {
        const entries = cache.list(positionals[0]);
        for (const e of entries) {
          out(`${modeString(e.attrs.mode)} ${String(e.attrs.nlink).padStart(3)} ${String(e.attrs.uid).padStart(5)} ${String(e.attrs.gid).padStart(5)} ${String(e.attrs.size).padStart(10)} ${new Date(e.attrs.mtimeMs).toISOString().slice(0, 19)} ${String(e.ino).padStart(9)} ${e.name}`);
        }
        if (values.verify !== true) return 0;
        const dir = cache.resolve(positionals[0]);
        let live: string[];
        try {
          live = readdirSync(dir.path).sort();
        } catch (err) {
          throw new CacheError('EACCES', `${dir.path}: cannot read the live directory (${errnoCode(err) ?? 'error'})`);
        }
        const cachedNames = new Set(entries.map((e) => e.name));
        let bad = 0;
        for (const n of live) if (!cachedNames.has(n)) (bad++, out(`differs: ${join(dir.path, n)}: on disk, not in the cache`));
        const liveSet = new Set(live);
        const still = entries.filter((e) => {
          if (liveSet.has(e.name)) return true;
          bad++;
          out(`differs: ${e.path}: in the cache, not on disk`);
          return false;
        });
        return Math.max(verifyEntries(still), bad > 0 ? 1 : 0);
      });
    case 'verify':
      return withCache(pool, false, (cache) => {
        const r = cache.verify();
        for (const m of r.mismatches) out(`differs: ${m}`);
        out(`verified ${formatCount(r.entries)} entries in ${formatCount(r.dirs)} listings: ${r.mismatchCount === 0 ? 'the cache agrees with the file system' : `${r.mismatchCount} mismatches`}`);
        return r.mismatchCount === 0 ? 0 : 1;
      });
    case 'info':
      return withCache(pool, false, (cache) => {
        const { info } = cache.store;
        const { poolBytes } = cache.store.sizes();
        out(`pool        ${info.path} (${formatBytes(poolBytes)})`);
        out(`medium      ${info.medium}; durability by ${info.persistence}`);
        const rec = cache.scanRecord;
        if (rec === undefined) {
          out('scan        none yet');
          return 0;
        }
        const c = cache.counts();
        out(`root        ${rec.root} (inode ${rec.rootIno})`);
        out(`scan        ${rec.state}; ${rec.batches} transactions; last directory committed: ${rec.lastDir}`);
        out(`cached      ${formatCount(c.inodes)} inodes, ${formatCount(c.dirents)} entries, ${formatCount(c.dirs)} directory listings`);
        if (rec.unreadable > 0) out(`unreadable  ${rec.unreadable} entries at the last pass (retried by revalidate)`);
        return 0;
      });
    default:
      throw usageError(`unknown command ${JSON.stringify(command)}; see --help`);
  }
}

/** Compares cached entries with a fresh lstat; prints differences; 1 if any. */
function verifyEntries(entries: readonly CachedEntry[]): number {
  let bad = 0;
  for (const e of entries) {
    let st;
    try {
      st = lstatSync(e.path, { throwIfNoEntry: false });
    } catch (err) {
      bad++;
      out(`differs: ${e.path}: cannot lstat (${errnoCode(err) ?? 'error'})`);
      continue;
    }
    if (st === undefined) {
      bad++;
      out(`differs: ${e.path}: cached, gone from disk`);
      continue;
    }
    if (st.ino !== e.ino || typeOfMode(st.mode) !== e.type) {
      bad++;
      out(`differs: ${e.path}: cached inode ${e.ino} (${e.type}), on disk ${st.ino} (${typeOfMode(st.mode)})`);
      continue;
    }
    const live: InodeAttrs = attrsOf(st);
    const d = diffAttrs(e.attrs, live);
    if (d.length > 0) {
      bad++;
      out(`differs: ${e.path}: ${d.map((k) => `${k} cached ${e.attrs[k]}, on disk ${live[k]}`).join('; ')}`);
    }
  }
  out(bad === 0 ? `verified: ${entries.length === 1 ? 'the entry agrees' : `all ${entries.length} entries agree`} with the file system` : `verify: ${bad} difference${bad === 1 ? '' : 's'} (run revalidate${bad > 0 ? ', or revalidate --deep for files changed in place' : ''})`);
  return bad === 0 ? 0 : 1;
}

function reportUnreadable(r: SyncResult): number {
  if (r.unreadable.length === 0) return 0;
  for (const u of r.unreadable.slice(0, 20)) io.stderr.write(`inode-cache: cannot read ${u.path}: ${u.code === 'EACCES' ? 'permission denied' : u.code} (${u.code})\n`);
  if (r.unreadable.length > 20) io.stderr.write(`inode-cache: ... and ${r.unreadable.length - 20} more\n`);
  io.stderr.write(`inode-cache: ${r.unreadable.length} entr${r.unreadable.length === 1 ? 'y was' : 'ies were'} skipped; everything else is cached, and the next scan or revalidate retries them\n`);
  return 1;
}

/** Opens the pool, runs `fn` with the cache, always closes. */
function withCache(pool: string, create: boolean, fn: (cache: InodeCache) => number): number {
  let store;
  try {
    store = openStore(pool, { create });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' && !create) throw new CacheError('ENOCACHE', `no cache pool at ${pool}: run \`scan DIR\` first (or pass --pool)`);
    throw err;
  }
  try {
    return fn(new InodeCache(store));
  } finally {
    store.close();
  }
}

async function bootCommand(values: Values): Promise<number> {
  const o = defaultBootOptions();
  if (values.sizes !== undefined && values.entries !== undefined) throw usageError('boot: give --entries or --sizes, not both');
  if (typeof values.sizes === 'string') {
    const parts = values.sizes.split(',');
    o.sizes = parts.map((p) => integer({ sizes: p.trim() }, 'sizes', 0, 1, MAX_TREE_ENTRIES));
  } else {
    o.sizes = [integer(values, 'entries', 100_000, 1, MAX_TREE_ENTRIES)];
  }
  o.runs = integer(values, 'runs', o.runs, 1, MAX_RUNS);
  o.seed = integer(values, 'seed', o.seed, 0, 0xffff_ffff);
  o.lookups = integer(values, 'lookups', o.lookups, 1, MAX_LOOKUPS);
  o.dropCaches = values['drop-caches'] === true;
  o.crash = values.crash === true;
  o.inProcess = values['in-process'] === true;
  o.deep = values.deep === true;
  o.keep = values.keep === true;
  o.quiet = values.quiet === true;
  if (typeof values.plot === 'string') {
    if (!values.plot.endsWith('.svg')) throw usageError(`--plot writes SVG: give a file name ending in .svg, got ${JSON.stringify(values.plot)}`);
    o.plot = values.plot;
  }
  if (typeof values['tree-dir'] === 'string') o.treeDir = values['tree-dir'];
  if (typeof values['pool-dir'] === 'string') o.poolDir = values['pool-dir'];
  o.out = out;
  o.err = io.stderr;
  await boot(o);
  return 0;
}

/** `__run cold ROOT LOOKUPS` / `__run hot ROOT LOOKUPS POOL [--deep]`: one measured start, JSON on stdout. */
function internalRun(positionals: string[], values: Values): number {
  const [kind, root, lookupsFile, pool] = positionals;
  if (!((kind === 'cold' && positionals.length === 3) || (kind === 'hot' && positionals.length === 4))) {
    throw usageError('usage (internal, used by boot): inode-cache __run cold ROOT LOOKUPS.json | __run hot ROOT LOOKUPS.json POOL [--deep]');
  }
  const lookups = JSON.parse(readFileSync(lookupsFile, 'utf8')) as string[];
  const result = kind === 'cold' ? coldRun(root, lookups) : hotRun(pool, root, lookups, values.deep === true);
  out(JSON.stringify(result));
  return 0;
}

/** The message and exit code the program gives for an error thrown by `main`. */
export function describeError(err: unknown): { message: string; code: number } {
  if (err instanceof CacheError) return { message: err.message, code: err.exitCode };
  if (err instanceof Error && err.name === 'FerriteError') {
    return { message: `pool: ${err.message} (${(err as Error & { code?: string }).code ?? 'error'})`, code: 1 };
  }
  return { message: err instanceof Error ? (err.stack ?? err.message) : String(err), code: 1 };
}

const isMain = process.argv[1] !== undefined && /cli\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const { message, code } = describeError(err);
      process.stderr.write(`inode-cache: ${message}\n`);
      process.exitCode = code;
    },
  );
}
