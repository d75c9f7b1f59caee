/**
 * The cost of making data durable through @ferrite/native, per path:
 * - forcePmem on tmpfs: clwb (or clflushopt/clflush) of each line + sfence, in user space;
 * - the msync path: an ordinary file on disk, msync(MS_SYNC) of the covering page;
 * - a batched flushRanges of 16 ranges + drain (one Node-API crossing for the 16), and the
 *   same as one persistRanges call (what a commit uses).
 * Each sample times a batch of calls; the line printed is the median per call.
 * Run: node scripts/bench.mjs native   (or node --conditions=ferrite-source --import tsx this file)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuFlushInstruction, map, mediumOf } from '../src/index.js';
import type { Mapping } from '../src/index.js';

const LENGTH = 1 << 22; // 4 MiB
const LINE = 64;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Times `samples` batches of `batch` calls of `op(i)`; prints the median µs per call. */
function bench(name: string, samples: number, batch: number, op: (i: number) => void): void {
  for (let i = 0; i < batch * 2; i++) op(i); // warm up
  const perCall: number[] = [];
  let i = 0;
  for (let s = 0; s < samples; s++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < batch; k++) op(i++);
    const ns = Number(process.hrtime.bigint() - start);
    perCall.push(ns / batch / 1000);
  }
  console.log(`${name}: median ${median(perCall).toFixed(3)} µs (${samples} samples of ${batch})`);
}

/** Dirties one byte per line at `offset`, as a real commit would, then runs `persist`. */
function lineSync(m: Mapping, lines: number): (i: number) => void {
  return (i) => {
    const offset = (i % lines) * LINE;
    m.bytes[offset] = i & 0xff;
    m.persist(offset, LINE);
  };
}

function batch16(m: Mapping, oneCall = false): (i: number) => void {
  const ranges = new Float64Array(32);
  // 16 scattered 64-byte ranges, as a transaction's changed ranges would be.
  return (i) => {
    for (let r = 0; r < 16; r++) {
      const offset = (((i * 16 + r) * 4099) % (LENGTH / LINE)) * LINE;
      m.bytes[offset] = i & 0xff;
      ranges[2 * r] = offset;
      ranges[2 * r + 1] = LINE;
    }
    if (oneCall) m.persistRanges(ranges, 16);
    else {
      m.flushRanges(ranges, 16);
      m.drain();
    }
  };
}

const shm = mkdtempSync(join('/dev/shm', 'ferrite-bench-'));
const disk = mkdtempSync(join(tmpdir(), 'ferrite-bench-'));
try {
  console.log(`# flush instruction: ${cpuFlushInstruction()}; disk dir ${disk} is ${mediumOf(disk)}`);
  const pmem = map(join(shm, 'pmem.pool'), { create: { size: LENGTH }, forcePmem: true });
  const lines = LENGTH / LINE;
  bench('native call overhead: drain() on a page-granular mapping (no-op, tmpfs)', 200, 2000, (() => {
    const m = map(join(shm, 'noop.pool'), { create: { size: 65536 }, forcePmem: false });
    return () => m.drain();
  })());
  bench(`sync 64 B line, forcePmem on tmpfs (${cpuFlushInstruction()} + sfence)`, 200, 1000, lineSync(pmem, lines));
  bench('flush + drain 64 B line as two calls, forcePmem on tmpfs', 200, 1000, (i) => {
    const offset = (i % lines) * LINE;
    pmem.bytes[offset] = i & 0xff;
    pmem.flush(offset, LINE);
    pmem.drain();
  });
  bench('flushRanges of 16 × 64 B ranges + drain, forcePmem on tmpfs', 200, 200, batch16(pmem));
  bench('persistRanges of 16 × 64 B ranges (one call), forcePmem on tmpfs', 200, 200, batch16(pmem, true));
  bench('16 × sync of 64 B (unbatched, for comparison), forcePmem on tmpfs', 200, 200, (i) => {
    for (let r = 0; r < 16; r++) {
      const offset = (((i * 16 + r) * 4099) % lines) * LINE;
      pmem.bytes[offset] = i & 0xff;
      pmem.persist(offset, LINE);
    }
  });
  pmem.close();

  const tmpfsPage = map(join(shm, 'page.pool'), { create: { size: LENGTH }, forcePmem: false });
  bench('sync 64 B line, msync path on tmpfs (page granularity)', 100, 100, lineSync(tmpfsPage, lines));
  tmpfsPage.close();

  const file = map(join(disk, 'file.pool'), { create: { size: LENGTH }, forcePmem: false });
  bench(`sync 64 B line, msync path on disk (${mediumOf(disk)})`, 50, 10, lineSync(file, lines));
  bench(`flushRanges of 16 × 64 B ranges + drain, msync path on disk (${mediumOf(disk)})`, 30, 3, batch16(file));
  file.close();
} finally {
  rmSync(shm, { recursive: true, force: true });
  rmSync(disk, { recursive: true, force: true });
}
