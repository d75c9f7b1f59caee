/**
 * PMDK libpmemobj measured in the same run as ferrite, by our C program bench/pmdk/pmdk-bench.c.
 * Compiled here when libpmemobj-dev is installed (pkg-config finds libpmemobj); skipped with a
 * message otherwise. Runs with PMEM_IS_PMEM_FORCE=1 on tmpfs, as ferrite's forcePmem does.
 * Set FERRITE_BENCH_OPEN_ALLOCS=0 to skip the (slow to prepare) 1 GiB open measurement.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('./pmdk/pmdk-bench.c', import.meta.url));
const pkg = spawnSync('pkg-config', ['--cflags', '--libs', 'libpmemobj'], { encoding: 'utf8' });
if (pkg.status !== 0) {
  console.log('pmdk: skipped — libpmemobj-dev is not installed (apt-get install libpmemobj-dev to compare)');
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'ferrite-pmdk-'));
const binary = join(work, 'pmdk-bench');
const cc = spawnSync('cc', ['-O2', '-o', binary, source, ...pkg.stdout.trim().split(/\s+/)], { encoding: 'utf8' });
if (cc.status !== 0) {
  console.log(`pmdk: skipped — compiling ${source} failed:\n${cc.stderr}`);
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const allocs = process.env.FERRITE_BENCH_OPEN_ALLOCS ?? '1000000';
console.log(`pmdk: libpmemobj ${spawnSync('pkg-config', ['--modversion', 'libpmemobj'], { encoding: 'utf8' }).stdout.trim()}, pool in ${dir}, PMEM_IS_PMEM_FORCE=1`);
const run = spawnSync(binary, [dir, '1024', allocs], {
  encoding: 'utf8',
  env: { ...process.env, PMEM_IS_PMEM_FORCE: '1' },
});
process.stdout.write(run.stdout);
if (run.status !== 0) process.stdout.write(`pmdk: failed (${run.status ?? run.signal}): ${run.stderr}\n`);
rmSync(work, { recursive: true, force: true });
