// addRange, addRanges and addRangeNoSnapshot refuse a range over heap metadata: a chunk
// header, a run's bitmap, a log chunk or a free chunk. A caller stores into the range right
// after adding it, so such a range would let a wrong offset (a damaged reference in a
// collection, found by the damaged-pool fuzzer) corrupt the heap's own metadata in a pool that
// check() had accepted. The refusal comes before any store: the pool is unchanged.
//
// The model is independent of the allocator's DRAM index: it decodes the chunk headers from
// the pool's bytes, as check() does, and lists the metadata byte ranges they imply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { CHUNK_SIZE, Pool } from '../src/index.js';
import { decodeHeader, KIND_EXTENT, KIND_RUN, runGeometries } from '../src/chunks.js';
import type { DecodedHeader } from '../src/chunks.js';
import { EXTENT_DATA } from '../src/layout.js';
import { dataImage } from './helpers/image.js';

const SIZE = 1024 * 1024;

type Add = 'addRange' | 'addRanges' | 'addRangeNoSnapshot';

/** Adds [offset, offset + length) with `how` in its own transaction: true if accepted, false on EINVAL. */
function tryAdd(pool: Pool, how: Add, offset: number, length: number): boolean {
  try {
    pool.transaction((tx) => {
      if (how === 'addRange') tx.addRange(offset, length);
      else if (how === 'addRanges') tx.addRanges([offset, length]);
      else tx.addRangeNoSnapshot(offset, length);
    });
    return true;
  } catch (err) {
    if (isFerriteError(err, 'EINVAL')) return false;
    throw err;
  }
}

/** The heap's metadata as [start, end) byte ranges, from the chunk headers in the pool's bytes. */
function metadataRanges(pool: Pool): [number, number][] {
  const geos = runGeometries(CHUNK_SIZE);
  const out: [number, number][] = [];
  const h: DecodedHeader = { kind: 0, span: 0, cls: 0 };
  const nChunks = Math.floor((pool.size - pool.heapOffset) / CHUNK_SIZE);
  for (let i = 0; i < nChunks; i += h.span) {
    const c = pool.heapOffset + i * CHUNK_SIZE;
    assert.ok(decodeHeader(pool.view.getUint32(c, true), pool.view.getUint32(c + 4, true), h), `chunk ${i} header`);
    if (h.kind === KIND_RUN) out.push([c, c + geos[h.cls]!.dataStart]);
    else if (h.kind === KIND_EXTENT) out.push([c, c + EXTENT_DATA]);
    else out.push([c, c + h.span * CHUNK_SIZE]); // free or log: no caller data at all
  }
  return out;
}

/** Whether a non-empty [offset, offset + length) stays clear of every metadata range (an empty range stores nothing). */
function clearOfMetadata(meta: readonly [number, number][], offset: number, length: number): boolean {
  return length === 0 || meta.every(([s, e]) => offset + length <= s || offset >= e);
}

test('a range is accepted exactly when it stays clear of heap metadata (runs, extents, log chunks, free space)', () => {
  const sizes = fc.constantFrom(8, 16, 48, 64, 100, 256, 1000, 4096, 5000, 20_000, 40_000);
  fc.assert(
    fc.property(
      fc.array(fc.record({ size: sizes, freeAt: fc.option(fc.nat(), { nil: undefined }) }), { minLength: 1, maxLength: 30 }),
      fc.array(
        fc.record({
          where: fc.constantFrom('block', 'edge', 'chunk', 'anywhere'),
          pick: fc.nat(),
          delta: fc.integer({ min: -80, max: 80 }),
          length: fc.integer({ min: 0, max: 200 }),
          how: fc.constantFrom<Add>('addRange', 'addRanges', 'addRangeNoSnapshot'),
        }),
        { minLength: 1, maxLength: 40 },
      ),
      (allocs, probes) => {
        const pool = Pool.create(new SimulatedRegion(SIZE), { layout: 'range-bounds', size: SIZE });
        const blocks = new Map<number, number>();
        const root = pool.root(64);
        blocks.set(root, pool.usableSize(root));
        // A transaction whose undo log outgrows its first segment: the log takes heap chunks.
        const big = pool.transaction((tx) => tx.alloc(200_000));
        pool.transaction((tx) => {
          tx.addRange(big, 200_000);
          tx.free(big);
        });
        assert.ok(pool.check().logChunks > 0, 'log chunks in the heap');
        for (const a of allocs) {
          pool.transaction((tx) => {
            const b = tx.alloc(a.size);
            blocks.set(b, pool.usableSize(b));
            if (a.freeAt !== undefined && blocks.size > 1) {
              const victims = [...blocks.keys()].filter((o) => o !== root);
              const v = victims[a.freeAt % victims.length]!;
              tx.free(v);
              blocks.delete(v);
            }
          });
        }
        assert.deepEqual(
          [...pool.allocations()].map((x) => x.offset).sort((x, y) => x - y),
          [...blocks.keys()].sort((x, y) => x - y),
          'the model tracks every allocated block',
        );
        const list = [...blocks];
        const meta = metadataRanges(pool);
        assert.ok(meta.length > 0);
        const nChunks = Math.floor((SIZE - pool.heapOffset) / CHUNK_SIZE);
        for (const p of probes) {
          const [b, n] = list[p.pick % list.length]!;
          const offset =
            p.where === 'block'
              ? b + (p.pick % n)
              : p.where === 'edge'
                ? b + n + p.delta
                : p.where === 'chunk'
                  ? pool.heapOffset + (p.pick % nChunks) * CHUNK_SIZE + Math.abs(p.delta)
                  : pool.heapOffset + (p.pick % (SIZE - pool.heapOffset));
          const length = Math.min(p.length, SIZE - offset);
          const expected = clearOfMetadata(meta, offset, length);
          const before = dataImage(pool.bytes);
          const accepted = tryAdd(pool, p.how, offset, length);
          assert.equal(accepted, expected, `${p.how}(${offset}, ${length}) accepted=${accepted}, clear of metadata=${expected}`);
          if (!accepted) assert.deepEqual(dataImage(pool.bytes), before, 'a refused range leaves the pool unchanged');
        }
        assert.ok(pool.check().ok);
        pool.close();
      },
    ),
    { numRuns: 60 },
  );
});

test('blocks of a run, freed ones too, are data space; its bitmap, the next chunk and the log are not', () => {
  const pool = Pool.create(new SimulatedRegion(SIZE), { layout: 'range-bounds', size: SIZE });
  const [a, b] = pool.transaction((tx) => [tx.alloc(64), tx.alloc(64)]) as [number, number];
  assert.equal(b, a + 64, 'two consecutive 64-byte blocks of one run');
  pool.transaction((tx) => {
    const fresh = tx.alloc(64);
    tx.addRange(fresh, 64);
    tx.free(a);
    tx.addRange(a, 64); // freed by this transaction: still its block until the commit
  });
  // Not the allocator's business: a free block, or two blocks at once, hold no metadata.
  assert.equal(tryAdd(pool, 'addRange', a, 8), true, 'a block freed by a committed transaction');
  assert.equal(tryAdd(pool, 'addRange', a + 56, 16), true, 'two neighbouring blocks');
  const run = pool.heapOffset + Math.floor((b - pool.heapOffset) / CHUNK_SIZE) * CHUNK_SIZE;
  assert.equal(tryAdd(pool, 'addRange', run, 8), false, "the run's chunk header");
  assert.equal(tryAdd(pool, 'addRangeNoSnapshot', run + 8, 8), false, "the run's bitmap");
  assert.equal(tryAdd(pool, 'addRange', run + CHUNK_SIZE - 8, 16), false, 'across into the next chunk');
  const before = dataImage(pool.bytes);
  assert.throws(
    () => pool.transaction((tx) => tx.addRanges([b, 8, run + 8, 8])),
    (err: unknown) => isFerriteError(err, 'EINVAL') && /heap metadata/.test((err as Error).message),
    'one bad range refuses the whole call',
  );
  assert.deepEqual(dataImage(pool.bytes), before);
  assert.ok(pool.check().ok);
  pool.close();
});

test('an extent spans chunks: its data is data space up to its end, its header line is not', () => {
  const pool = Pool.create(new SimulatedRegion(SIZE), { layout: 'range-bounds', size: SIZE });
  const e = pool.transaction((tx) => tx.alloc(3 * CHUNK_SIZE));
  const n = pool.usableSize(e);
  assert.equal(tryAdd(pool, 'addRange', e, n), true, 'the whole extent, across its chunks');
  assert.equal(tryAdd(pool, 'addRange', e + CHUNK_SIZE - 8, 16), true, 'across an inner chunk boundary');
  assert.equal(tryAdd(pool, 'addRange', e - 8, 16), false, 'its header line');
  assert.equal(tryAdd(pool, 'addRange', e + n - 8, 16), false, 'past its end, into the next chunk');
  pool.transaction((tx) => tx.free(e));
  assert.equal(tryAdd(pool, 'addRange', e + CHUNK_SIZE, 8), false, 'a freed extent is free chunks');
  assert.ok(pool.check().ok);
  pool.close();
});

test('runs turned back into free chunks (reclaimed for an extent) are no longer data space', () => {
  const small = 256 * 1024;
  const pool = Pool.create(new SimulatedRegion(small), { layout: 'range-bounds', size: small });
  const [x, y] = pool.transaction((tx) => [tx.alloc(64), tx.alloc(128)]) as [number, number];
  const extents: number[] = [];
  for (;;) {
    try {
      extents.push(pool.transaction((tx) => tx.alloc(CHUNK_SIZE - 64)));
    } catch (err) {
      if (isFerriteError(err, 'ENOSPC')) break;
      throw err;
    }
  }
  pool.transaction((tx) => {
    tx.free(x);
    tx.free(y);
  });
  // No free chunk left: this extent reclaims both empty runs and takes one of their chunks.
  pool.transaction((tx) => tx.alloc(CHUNK_SIZE - 64));
  const meta = metadataRanges(pool);
  const answers = [x, y].map((o) => [tryAdd(pool, 'addRange', o, 8), clearOfMetadata(meta, o, 8)]);
  assert.deepEqual(answers.map(([got]) => got), answers.map(([, want]) => want));
  assert.ok(answers.some(([, want]) => !want), 'one reclaimed run chunk stayed free');
  assert.ok(extents.length > 3);
  pool.close();
});
