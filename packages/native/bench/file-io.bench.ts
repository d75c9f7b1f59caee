/**
 * The cost of a small durable write on an ordinary file system (what a redo log pays per
 * commit), each way @ferrite/native offers it, on the disk (os.tmpdir(); the medium is
 * printed — on a tmpfs a sync does nothing and these numbers say nothing):
 * - FileHandle.write of 200 B + sync (fdatasync) into a file grown beforehand, so its size
 *   never changes: grown by `grow` (fallocate; on ext4 the blocks are "unwritten" extents,
 *   which the first write into each converts), and grown then written with zeros and synced
 *   ("pre-written", as databases recycle their logs) — to see whether that conversion costs;
 * - appending: the file grows by 200 B each time (FileHandle.grow, which reserves, sets the
 *   size and fsyncs; and a plain appending write through node:fs + fdatasync, where fdatasync
 *   must also commit the new size);
 * - msync of the one page a 200 B store dirtied in a shared mapping (today's msync path);
 * - the write + sync as a program of the I/O queue: runNow, and submit awaited one at a time
 *   (the round trip through the I/O thread and back to the event loop);
 * - 100 writes of 200 B and one sync in one program (what group commit amortizes).
 * The machine is shared and its disk busy with others' work, so the cases are interleaved:
 * each round times one batch of every case, and each line is the median over rounds of the
 * time per operation. Compare the lines of one run with each other.
 * Run: node scripts/bench.mjs file-io   (or node --conditions=ferrite-source --import tsx this file)
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IoOp } from '@ferrite/core';
import { createIoQueue, map, mediumOf, openFile, pageSize } from '../src/index.js';
import type { FileHandle } from '../src/index.js';

const RECORD = 200;
const PAGE = pageSize();
const ROUNDS = 40;
const BATCH = 10;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

interface Case {
  name: string;
  /** Operations one call of `run` counts as. */
  per: number;
  run: (i: number) => void | Promise<void>;
  samples: number[];
}

const dir = mkdtempSync(join(tmpdir(), 'ferrite-bench-io-'));
try {
  const medium = mediumOf(dir);
  console.log(`# ${dir} is ${medium}${medium === 'tmpfs' ? ' (not a disk: these numbers say nothing about syncs)' : ''}`);
  const record = new Uint8Array(RECORD).fill(0x5a);
  const slots = (ROUNDS + 1) * BATCH * 100;
  const room = slots * RECORD;
  const offset = (i: number): number => (i % slots) * RECORD;

  const fallocated = openFile(join(dir, 'fallocated.wal'), { create: true });
  fallocated.grow(room);
  const prewritten = openFile(join(dir, 'prewritten.wal'), { create: true });
  prewritten.grow(room);
  for (let o = 0; o < room; o += 1 << 20) prewritten.write(o, new Uint8Array(Math.min(1 << 20, room - o)));
  prewritten.sync();
  const appended = openFile(join(dir, 'appended.wal'), { create: true });
  const fd = openSync(join(dir, 'appended-fs.wal'), 'a');
  const mapped = map(join(dir, 'mapped.pool'), { create: { size: 64 * PAGE }, forcePmem: false });
  const queue = createIoQueue();
  const program = (file: FileHandle, i: number): IoOp[] =>
    [{ op: 'write', file, offset: offset(i), data: record }, { op: 'sync', file }];
  const group = (file: FileHandle, i: number): IoOp[] => {
    const ops: IoOp[] = [];
    for (let k = 0; k < 100; k++) ops.push({ op: 'write', file, offset: offset(i * 100 + k), data: record });
    ops.push({ op: 'sync', file });
    return ops;
  };
  let appendedLength = 0;

  const cases: Case[] = [
    { name: 'write 200 B + fdatasync, pre-written file', per: 1, samples: [], run: (i) => {
      prewritten.write(offset(i), record);
      prewritten.sync();
    } },
    { name: 'write 200 B + fdatasync, file grown by grow (fallocate)', per: 1, samples: [], run: (i) => {
      fallocated.write(offset(i), record);
      fallocated.sync();
    } },
    { name: 'grow by 200 B + write 200 B + fdatasync, appending FileHandle', per: 1, samples: [], run: () => {
      appended.grow(appendedLength + RECORD);
      appended.write(appendedLength, record);
      appendedLength += RECORD;
      appended.sync();
    } },
    { name: 'appending write 200 B + fdatasync, node:fs (for comparison)', per: 1, samples: [], run: () => {
      writeSync(fd, record);
      fdatasyncSync(fd);
    } },
    { name: 'store 200 B + msync of its page, shared mapping', per: 1, samples: [], run: (i) => {
      const at = (i % 64) * PAGE + 100;
      mapped.bytes.set(record, at);
      mapped.persist(at, RECORD);
    } },
    { name: 'runNow [write 200 B, sync], pre-written file', per: 1, samples: [], run: (i) => queue.runNow(program(prewritten, i)) },
    { name: 'await submit [write 200 B, sync], pre-written file', per: 1, samples: [], run: (i) => queue.submit(program(prewritten, i)) },
    { name: 'await submit [100 × write 200 B, sync], per write, pre-written file', per: 100, samples: [], run: (i) => queue.submit(group(prewritten, i)) },
    { name: 'await submit [100 × write 200 B, sync], per write, fallocate file', per: 100, samples: [], run: (i) => queue.submit(group(fallocated, i)) },
  ];
  let i = 0;
  for (let round = -1; round < ROUNDS; round++) { // round -1 warms up
    for (const c of cases) {
      const start = process.hrtime.bigint();
      for (let k = 0; k < BATCH; k++) await c.run(i++);
      if (round >= 0) c.samples.push(Number(process.hrtime.bigint() - start) / (BATCH * c.per) / 1000);
    }
  }
  for (const c of cases) {
    console.log(`${c.name} (${medium}): median ${median(c.samples).toFixed(1)} µs (${ROUNDS} rounds of ${BATCH})`);
  }
  const stats = prewritten.stats();
  console.log(`# pre-written file: ${stats.writes} writes, ${stats.bytesWritten} bytes, ${stats.syncs} syncs`);
  for (const f of [fallocated, prewritten, appended]) f.close();
  closeSync(fd);
  mapped.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
