// Child, run with Node 24 (ArrayBuffers up to 2^53 bytes): a pool of the largest size a
// mapping may have, 2^45 bytes (MAX_MAPPING_LENGTH), opened on a sparse file. Its format is written byte for byte
// as `Pool.create` would write it (the header copies, the log generation, a FREE header per
// span of 2^24 chunks) — the file cannot be created for real: a writable pool is allocated,
// and 32 TiB is not at hand. Prints what it saw as JSON.
//   max <dir>      (Node 24) the 2^45-byte pool, read-only; writable; one chunk more
//   limit <dir>    (Node 20) a pool just under 4 GiB that must grow past it
import { closeSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FerriteError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { MAX_MAPPING_LENGTH } from '@ferrite/native';
import { Pool } from '../../src/index.js';
import { encodeLow, headerCheck, KIND_FREE, MAX_SPAN } from '../../src/chunks.js';
import { writeHeader } from '../../src/header.js';
import { createOnFile, openOnFile } from './native-pool.js';
import { CHUNK_SIZE } from '../../src/layout.js';

const [scenario, dir] = process.argv.slice(2) as [string, string];
const out: Record<string, unknown> = {};

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof FerriteError) return err.code;
    throw err;
  }
}

/** A sparse file holding the format of a pool of `size` bytes (heap fully free). */
function sparsePool(path: string, size: number): void {
  // Pool.create on a small simulated region gives the header, root record and log of a pool
  // of at least 4 MiB (the same heap offset as any larger pool); the header is then
  // rewritten with the large size.
  const small = 8 << 20;
  const sim = new SimulatedRegion(small);
  const pool = Pool.create(sim, { layout: 'big', size: small });
  const fields = pool.headerFields;
  const heapOffset = fields.heapOffset;
  writeHeader(sim, { ...fields, size, maxSize: size });
  const fd = openSync(path, 'w');
  try {
    truncateSync(path, size);
    writeSync(fd, sim.bytes, 0, heapOffset, 0);
    const chunks = Math.floor((size - heapOffset) / CHUNK_SIZE);
    const word = Buffer.alloc(8);
    for (let start = 0; start < chunks; ) {
      const q = Math.min(chunks - start, MAX_SPAN + 1);
      const low = encodeLow(KIND_FREE, q - 1);
      word.writeUInt32LE(low, 0);
      word.writeUInt32LE(headerCheck(low), 4);
      writeSync(fd, word, 0, 8, heapOffset + start * CHUNK_SIZE);
      start += q;
    }
  } finally {
    closeSync(fd);
  }
}

switch (scenario) {
  case 'max': {
    const path = join(dir, 'max.pool');
    sparsePool(path, MAX_MAPPING_LENGTH);
    const pool = openOnFile(path, { layout: 'big', readOnly: true });
    out.size = pool.size;
    out.mapped = pool.bytes.length;
    const report = pool.check();
    out.checkOk = report.ok;
    out.problems = report.problems.slice(0, 3);
    out.freeChunks = report.freeChunks;
    out.allocations = [...pool.allocations()].length;
    pool.close();
    // Writable, it would have to be allocated: 32 TiB is refused at once, the file untouched.
    const before = statSync(path);
    out.writable = codeOf(() => openOnFile(path, { layout: 'big' }).close());
    const after = statSync(path);
    out.untouched = after.size === before.size && after.blocks === before.blocks;
    // One chunk more than a mapping may hold.
    const over = join(dir, 'over.pool');
    sparsePool(over, MAX_MAPPING_LENGTH + CHUNK_SIZE);
    out.over = codeOf(() => openOnFile(over, { layout: 'big', readOnly: true }).close());
    break;
  }
  case 'limit': {
    // Node 20 holds at most 4 GiB in one ArrayBuffer: growth stops there with PoolFullError
    // (an older build aborted the process with a double free). A disk directory: 4 GiB is
    // allocated for real.
    const path = join(dir, 'limit.pool');
    const pool = createOnFile(path, { layout: 'big', size: 2 ** 32 - (1 << 20), maxSize: 2 ** 33 });
    const big = pool.transaction((tx) => tx.alloc(2 ** 32 - (8 << 20)));
    const before = [...pool.allocations()].length;
    try {
      pool.transaction((tx) => tx.alloc(16 << 20));
      out.grow = 'ok';
    } catch (err) {
      out.grow = err instanceof FerriteError ? `${err.name}:${err.code}` : String(err);
      out.growMessage = err instanceof Error ? err.message : '';
    }
    out.size = pool.size;
    out.unchanged = [...pool.allocations()].length === before;
    out.checkOk = pool.check().ok;
    out.usable = codeOf(() => {
      const small = pool.transaction((tx) => tx.alloc(1000));
      pool.transaction((tx) => {
        tx.free(small);
        tx.free(big);
      });
    });
    out.checkAfterOk = pool.check().ok;
    pool.close();
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
process.stdout.write(JSON.stringify(out));
