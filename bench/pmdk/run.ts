/**
 * Builds and runs the PMDK comparison program (pmdk-bench.c, beside this file) so that a
 * benchmark can measure PMDK in the same run as ferrite. Where libpmemobj-dev is missing (or
 * the compile fails) it says why instead, and the caller prints that and goes on.
 *
 * The program prints lines `pmdk <name>: median X µs (...)`; `results` maps each <name> to X.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PmdkRun {
  /** The program's output, to print as it is. */
  readonly output: string;
  /** Median µs per operation, by operation name. */
  readonly results: ReadonlyMap<string, number>;
}

export type PmdkOutcome = { readonly ok: true; readonly run: PmdkRun } | { readonly ok: false; readonly reason: string };

const SOURCE = fileURLToPath(new URL('./pmdk-bench.c', import.meta.url));

/**
 * Compiles pmdk-bench.c into `dir` and runs it there with PMEM_IS_PMEM_FORCE=1 (cache-line
 * flushes on tmpfs, as ferrite's forcePmem). `openPoolMiB`/`openAllocs` size its open-time
 * test; 0 skips that test.
 */
export function runPmdkBench(dir: string, openPoolMiB: number, openAllocs: number): PmdkOutcome {
  const built = buildPmdkBench(dir);
  if (!built.ok) return built;
  return runBuilt(built.exe, [dir, String(openPoolMiB), String(openAllocs)]);
}

/** The compiled program, or why there is none (libpmemobj-dev missing, compile failure). */
export type PmdkBuild = { readonly ok: true; readonly exe: string } | { readonly ok: false; readonly reason: string };

/** Compiles pmdk-bench.c into `dir` (once; run it as often as needed with `runPmdkLoad`). */
export function buildPmdkBench(dir: string): PmdkBuild {
  const probe = spawnSync('pkg-config', ['--exists', 'libpmemobj']);
  if (probe.status !== 0) {
    return { ok: false, reason: 'libpmemobj-dev is not installed (apt-get install -y libpmemobj-dev)' };
  }
  const exe = join(dir, 'pmdk-bench');
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'libpmemobj'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  const cc = spawnSync('cc', ['-O2', '-o', exe, SOURCE, ...flags], { encoding: 'utf8' });
  if (cc.status !== 0) return { ok: false, reason: `compile failed: ${cc.stderr.split('\n')[0] ?? ''}` };
  return { ok: true, exe };
}

/**
 * One run of the program's load mode (a user loading data, issue 21): `n` keys upserted into an
 * empty map, one transaction each, then every key updated in place, one transaction each. Its
 * pool lives in `dir`. Then the same load into a map grown from 16 buckets as PMDK's hashmap_tx
 * example grows its own. `results` holds the three means (µs per operation), named
 * `load 0 to <n> (upsert, 1 tx each)`, `update every key @<n> (1 tx each)` and
 * `load 0 to <n> grown from 16 buckets (1 tx each)`.
 */
export function runPmdkLoad(exe: string, dir: string, n: number): PmdkOutcome {
  return runBuilt(exe, [dir, 'load', String(n)]);
}

function runBuilt(exe: string, args: string[]): PmdkOutcome {
  const run = spawnSync(exe, args, {
    encoding: 'utf8',
    env: { ...process.env, PMEM_IS_PMEM_FORCE: '1' },
  });
  if (run.status !== 0) return { ok: false, reason: `it failed: ${run.stderr.split('\n')[0] ?? `status ${String(run.status)}`}` };
  const results = new Map<string, number>();
  for (const m of run.stdout.matchAll(/^pmdk (.+): (?:median|mean) ([0-9.]+) µs/gm)) results.set(m[1]!, Number(m[2]));
  return { ok: true, run: { output: run.stdout, results } };
}
