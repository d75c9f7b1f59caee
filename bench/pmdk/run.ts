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
  const probe = spawnSync('pkg-config', ['--exists', 'libpmemobj']);
  if (probe.status !== 0) {
    return { ok: false, reason: 'libpmemobj-dev is not installed (apt-get install -y libpmemobj-dev)' };
  }
  const exe = join(dir, 'pmdk-bench');
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'libpmemobj'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  const cc = spawnSync('cc', ['-O2', '-o', exe, SOURCE, ...flags], { encoding: 'utf8' });
  if (cc.status !== 0) return { ok: false, reason: `compile failed: ${cc.stderr.split('\n')[0] ?? ''}` };
  const run = spawnSync(exe, [dir, String(openPoolMiB), String(openAllocs)], {
    encoding: 'utf8',
    env: { ...process.env, PMEM_IS_PMEM_FORCE: '1' },
  });
  if (run.status !== 0) return { ok: false, reason: `it failed: ${run.stderr.split('\n')[0] ?? `status ${String(run.status)}`}` };
  const results = new Map<string, number>();
  for (const m of run.stdout.matchAll(/^pmdk (.+): median ([0-9.]+) µs/gm)) results.set(m[1]!, Number(m[2]));
  return { ok: true, run: { output: run.stdout, results } };
}
