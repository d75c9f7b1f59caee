/**
 * The shared conformance suite for `Region` implementations (abstract-level style): one
 * call registers `node:test` tests that check the contract every Region must keep, so the
 * native mapping, the simulated region and any user implementation are held to the same
 * rules.
 *
 * ```ts
 * import { regionConformanceSuite } from '@ferrite/core/testing';
 * regionConformanceSuite('my region', { create: (length) => new MyRegion(length) });
 * ```
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FerriteError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Region } from '../region.js';

/** How the suite makes the regions it tests. */
export interface RegionFactory {
  /**
   * A fresh, writable, zero-filled region of `length` bytes. The suite asks for multiples
   * of 4096 (so that page-granular implementations can grow by doubling).
   */
  create(length: number): Region;
  /**
   * Optional: simulates a restart. Releases `region` (closing it) and returns a new region
   * over the same media, which must hold at least everything that was persisted.
   */
  reopen?(region: Region): Region;
  /** Optional: called once after all tests (remove files, ...). */
  cleanup?(): void;
}

/** Length of the regions the suite creates: 16 pages of 4 KiB. */
const LENGTH = 16 * 4096;

/** A tiny deterministic generator (mulberry32): tests replay exactly. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectCode(fn: () => unknown, codes: readonly ErrorCode[], what: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FerriteError, `${what}: expected a FerriteError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `${what}: expected code ${codes.join(' or ')}, got ${err.code}`);
    return true;
  }, what);
}

/**
 * Registers the conformance tests for the Region implementation that `factory` makes,
 * under a `describe` named after `name`.
 */
export function regionConformanceSuite(name: string, factory: RegionFactory): void {
  describe(`Region conformance: ${name}`, () => {
    const open: Region[] = [];
    function make(length = LENGTH): Region {
      const region = factory.create(length);
      open.push(region);
      return region;
    }
    function reopen(region: Region): Region {
      assert.ok(factory.reopen, 'reopen is defined');
      const again = factory.reopen(region);
      open.push(again);
      return again;
    }
    after(() => {
      for (const region of open) region.close();
      factory.cleanup?.();
    });

    it('exposes zero-filled bytes of the asked length', () => {
      const region = make();
      assert.ok(region.bytes instanceof Uint8Array);
      assert.equal(region.bytes.length, LENGTH);
      assert.equal(region.length, LENGTH);
      assert.ok(region.bytes.every((b) => b === 0), 'a fresh region reads as zeros');
    });

    it('reports a sane granularity, isPmem and writable', () => {
      const region = make();
      assert.ok(region.granularity === 'cache-line' || region.granularity === 'page' || region.granularity === 'file');
      assert.equal(typeof region.isPmem, 'boolean');
      assert.equal(region.isPmem, region.granularity === 'cache-line', 'cache-line flushes exactly when pmem');
      assert.equal(region.writable, true, 'factory regions are writable');
    });

    it('makes stores visible through bytes and through another view of its buffer', () => {
      const region = make();
      const rnd = generator(1);
      const expected = new Uint8Array(LENGTH);
      for (let i = 0; i < 500; i++) {
        const at = Math.floor(rnd() * LENGTH);
        const value = Math.floor(rnd() * 256);
        region.bytes[at] = value;
        expected[at] = value;
      }
      assert.deepEqual(region.bytes, expected);
      const bytes = region.bytes;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      view.setUint32(LENGTH - 4, 0xdeadbeef, true);
      assert.equal(region.bytes[LENGTH - 1], 0xde);
      assert.equal(region.bytes[LENGTH - 4], 0xef);
    });

    it('accepts every in-range flush, flushRanges, drain and persist', () => {
      const region = make();
      region.bytes.fill(7);
      const ranges: Array<[number, number]> = [
        [0, 0], [LENGTH, 0], [0, 1], [LENGTH - 1, 1], [63, 2], [4095, 2], [0, LENGTH], [100, 1000],
      ];
      for (const [offset, length] of ranges) {
        region.flush(offset, length);
        region.persist(offset, length);
      }
      region.drain();
      region.flushRanges(new Float64Array(ranges.flat()));
      region.flushRanges(ranges.flat());
      region.flushRanges(new Float64Array([0, 64, LENGTH, 100]), 1); // only the first pair counts
      region.flushRanges(new Float64Array(0));
      region.flushRanges([], 0);
      region.drain();
      if (region.persistRanges) {
        region.persistRanges(new Float64Array(ranges.flat()));
        region.persistRanges(ranges.flat(), 3);
        region.persistRanges([], 0);
      }
      assert.ok(region.bytes.every((b) => b === 7), 'flushing changes no byte');
    });

    it('rejects bad ranges with EINVAL or ERANGE, never a fault', () => {
      const region = make();
      const bad: Array<[unknown, unknown, ErrorCode]> = [
        [-1, 1, 'EINVAL'], [1.5, 1, 'EINVAL'], [Number.NaN, 1, 'EINVAL'], [0, -1, 'EINVAL'],
        [0, Number.POSITIVE_INFINITY, 'EINVAL'], ['0', 1, 'EINVAL'], [0, 0.5, 'EINVAL'],
        [LENGTH, 1, 'ERANGE'], [0, LENGTH + 1, 'ERANGE'], [LENGTH + 1, 0, 'ERANGE'],
        [Number.MAX_SAFE_INTEGER, 1, 'ERANGE'], [1, Number.MAX_SAFE_INTEGER, 'ERANGE'],
      ];
      for (const [offset, length, code] of bad) {
        const what = `(${String(offset)}, ${String(length)})`;
        expectCode(() => region.flush(offset as number, length as number), [code], `flush${what}`);
        expectCode(() => region.persist(offset as number, length as number), [code], `persist${what}`);
        expectCode(() => region.flushRanges([0, 8, offset as number, length as number]), [code], `flushRanges${what}`);
        if (typeof offset === 'number') {
          expectCode(() => region.flushRanges(new Float64Array([offset, length as number])), [code],
            `flushRanges(Float64Array)${what}`);
        }
        if (region.persistRanges) {
          expectCode(() => region.persistRanges!([0, 8, offset as number, length as number]), [code], `persistRanges${what}`);
          if (typeof offset === 'number') {
            // The commit path's shape (a Float64Array and a count), which a native region may
            // read by a faster way: the same checks, before anything is flushed.
            expectCode(() => region.persistRanges!(new Float64Array([0, 8, offset, length as number]), 2), [code],
              `persistRanges(Float64Array, 2)${what}`);
          }
        }
      }
      expectCode(() => region.flushRanges(new Float64Array([0, 8]), 2), ['EINVAL', 'ERANGE'], 'count beyond the pairs');
      expectCode(() => region.flushRanges(new Float64Array([0, 8]), -1), ['EINVAL', 'ERANGE'], 'negative count');
      if (region.persistRanges) {
        expectCode(() => region.persistRanges!(new Float64Array([0, 8]), 2), ['EINVAL', 'ERANGE'], 'persistRanges: count beyond the pairs');
        expectCode(() => region.persistRanges!(new Float64Array([0, 8]), -1), ['EINVAL', 'ERANGE'], 'persistRanges: negative count');
        expectCode(() => region.persistRanges!(new Float64Array([0, 8, 8, 8]), 1.5), ['EINVAL', 'ERANGE'], 'persistRanges: fractional count');
      }
      // The region still works after all of that.
      region.bytes[0] = 1;
      region.persist(0, LENGTH);
      assert.equal(region.bytes[0], 1);
    });

    // Registered only for factories that can reopen (nothing to skip otherwise).
    // On a 'file' region (write + fdatasync) a flush is a write() and a drain does nothing, so
    // only persist and persistRanges make data durable: the flush-then-drain ways are left out.
    if (factory.reopen) it('keeps persisted data across close and reopen', () => {
      let region = make();
      const syncsOnly = region.granularity === 'file';
      const rnd = generator(2);
      const expected = new Uint8Array(LENGTH);
      const pairs: number[] = [];
      for (let i = 0; i < 64; i++) {
        const offset = Math.floor(rnd() * (LENGTH - 200));
        const length = 1 + Math.floor(rnd() * 199);
        for (let j = 0; j < length; j++) {
          const value = 1 + Math.floor(rnd() * 255);
          region.bytes[offset + j] = value;
          expected[offset + j] = value;
        }
        // Three ways to make it durable.
        if (i % 3 === 0) region.persist(offset, length);
        else if (i % 3 === 1 && !syncsOnly) {
          region.flush(offset, length);
          region.drain();
        } else pairs.push(offset, length);
      }
      if (syncsOnly) {
        // The batched barrier of a file: persistRanges (else one persist per range).
        if (region.persistRanges) region.persistRanges(new Float64Array(pairs));
        else for (let i = 0; i < pairs.length; i += 2) region.persist(pairs[i]!, pairs[i + 1]!);
      } else {
        // The batched ways: persistRanges for the first half where the region has it.
        const half = region.persistRanges ? Math.floor(pairs.length / 4) : 0;
        if (half > 0) region.persistRanges!(pairs, half);
        region.flushRanges(new Float64Array(pairs.slice(half * 2)));
        region.drain();
      }
      region = reopen(region);
      assert.equal(region.length, LENGTH);
      assert.deepEqual(region.bytes, expected);
    });

    it('close is idempotent, detaches bytes and refuses further use with ECLOSED', () => {
      const region = make();
      const old = region.bytes;
      region.bytes[0] = 5;
      region.close();
      region.close();
      assert.equal(old.length, 0, 'the old array is detached');
      assert.equal(old[0], undefined, 'a detached array reads undefined, never faults');
      assert.equal(region.bytes.length, 0, 'bytes is detached');
      expectCode(() => region.flush(0, 1), ['ECLOSED'], 'flush after close');
      expectCode(() => region.persist(0, 1), ['ECLOSED'], 'persist after close');
      expectCode(() => region.drain(), ['ECLOSED'], 'drain after close');
      expectCode(() => region.flushRanges([0, 1]), ['ECLOSED'], 'flushRanges after close');
      if (region.persistRanges) expectCode(() => region.persistRanges!([0, 1]), ['ECLOSED'], 'persistRanges after close');
      if (region.grow) {
        const grow = region.grow.bind(region);
        expectCode(() => grow(2 * LENGTH), ['ECLOSED'], 'grow after close');
      }
    });

    it('grow keeps contents, zero-fills the new bytes and detaches the old array', () => {
      let region = make();
      if (region.grow === undefined) return; // growing is optional
      const rnd = generator(3);
      const expected = new Uint8Array(2 * LENGTH);
      for (let i = 0; i < LENGTH; i += 97) {
        const value = 1 + Math.floor(rnd() * 255);
        region.bytes[i] = value;
        expected[i] = value;
      }
      region.persist(0, LENGTH);
      const old = region.bytes;
      region.grow(2 * LENGTH);
      assert.equal(old.length, 0, 'the old array is detached');
      assert.equal(region.length, 2 * LENGTH);
      assert.equal(region.bytes.length, 2 * LENGTH);
      assert.deepEqual(region.bytes.subarray(0, LENGTH), expected.subarray(0, LENGTH));
      assert.ok(region.bytes.subarray(LENGTH).every((b) => b === 0), 'new bytes read as zero');
      region.bytes[2 * LENGTH - 1] = 9;
      expected[2 * LENGTH - 1] = 9;
      region.persist(2 * LENGTH - 1, 1);
      expectCode(() => region.flush(2 * LENGTH, 1), ['ERANGE'], 'flush past the grown end');
      const grow = region.grow.bind(region);
      expectCode(() => grow(LENGTH), ['EINVAL'], 'shrinking');
      if (factory.reopen) {
        region = reopen(region);
        assert.equal(region.length, 2 * LENGTH);
        assert.deepEqual(region.bytes, expected);
      }
    });
  });
}
