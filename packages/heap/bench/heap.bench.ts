/**
 * Heap benchmarks (pool on tmpfs, forcePmem: cache-line flushes, as PMEM_IS_PMEM_FORCE=1):
 * - a transaction that snapshots and sets 8 bytes,
 * - alloc + free of 64 bytes (each in its own transaction, like pmemobj_alloc/pmemobj_free,
 *   and both in one transaction),
 * - open time of a 1 GiB pool holding a million allocations.
 * PMDK's anchors from DESIGN.md are printed beside; when libpmemobj-dev is installed, the C
 * program in bench/pmdk (the repository root) measures PMDK in the same run.
 * Usage: node --conditions=ferrite-source --import tsx packages/heap/bench/heap.bench.ts [--quick]
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPmdkBench } from '../../../bench/pmdk/run.js';
import { Pool } from '../src/index.js';
import { createOnFile, openOnFile } from '../test/helpers/native-pool.js';

const quick = process.argv.includes('--quick') || process.env.FERRITE_BENCH_QUICK === '1';
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-heap-bench-'));
const medium = existsSync('/dev/shm') ? 'tmpfs, forcePmem' : 'tmpdir, forcePmem';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Runs `fn` `perSample` times per sample; returns per-call µs medians over `samples`. */
function measure(samples: number, perSample: number, fn: () => void): number {
  for (let i = 0; i < perSample; i++) fn(); // warm-up
  const xs: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perSample; i++) fn();
    xs.push(Number(process.hrtime.bigint() - t0) / 1000 / perSample);
  }
  return median(xs);
}

function line(name: string, us: number, n: number, anchor?: string): void {
  console.log(`${name}: median ${us.toFixed(3)} µs (${n} samples)${anchor ? `   [${anchor}]` : ''}`);
}

try {
  // ---- 8-byte transaction ----
  {
    const pool = createOnFile(join(dir, 'tx.pool'), { layout: 'bench', size: 64 << 20, forcePmem: true });
    const root = pool.root(64);
    let v = 0;
    const samples = quick ? 5 : 21;
    const us = measure(samples, quick ? 2000 : 20000, () => {
      pool.transaction((tx) => {
        tx.addRange(root, 8);
        pool.writeU64(root, ++v);
      });
    });
    line(`heap tx set 8 bytes (${medium})`, us, samples, 'PMDK 1.12: ~1.0 µs');
    const st = pool.stats();
    console.log(`# per 8-byte tx: ${st.lastTx.drains} drains, ${st.lastTx.flushes} cache lines flushed (PMDK: 3 drains)`);

    const a = measure(samples, quick ? 2000 : 20000, () => {
      const off = pool.transaction((tx) => tx.alloc(64));
      pool.transaction((tx) => tx.free(off));
    });
    line(`heap alloc+free 64 bytes, two transactions (${medium})`, a, samples, 'PMDK pmemobj_alloc+pmemobj_free: see pmdk line');
    const b = measure(samples, quick ? 2000 : 20000, () => {
      pool.transaction((tx) => tx.free(tx.alloc(64)));
    });
    line(`heap alloc+free 64 bytes, one transaction (${medium})`, b, samples);
    pool.close();
  }

  // ---- open of a 1 GiB pool with a million allocations ----
  {
    const size = quick ? 64 << 20 : 1 << 30;
    const count = quick ? 50_000 : 1_000_000;
    const path = join(dir, 'open.pool');
    const pool = createOnFile(path, { layout: 'bench', size, forcePmem: true });
    const batch = 10_000;
    for (let done = 0; done < count; done += batch) {
      pool.transaction((tx) => {
        for (let i = 0; i < batch; i++) tx.alloc(64);
      });
    }
    pool.close();
    const times: number[] = [];
    const samples = quick ? 3 : 7;
    for (let i = 0; i < samples; i++) {
      const t0 = process.hrtime.bigint();
      const p = openOnFile(path, { layout: 'bench', forcePmem: true });
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (i === 0) {
        const n = p.stats().perClass.reduce((acc, c) => acc + c.allocated, 0);
        if (n !== count) throw new Error(`expected ${count} allocations, found ${n}`);
      }
      p.close();
    }
    line(`heap open ${size >> 20} MiB pool with ${count} allocations (${medium})`, median(times), samples, 'PMDK: see pmdk line');
  }

  // ---- PMDK in the same run: our C program over libpmemobj (bench/pmdk/pmdk-bench.c) ----
  const pmdk = runPmdkBench(dir, 1024, quick ? 0 : 1_000_000);
  if (pmdk.ok) process.stdout.write(pmdk.run.output);
  else console.log(`# PMDK not measured: ${pmdk.reason}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
