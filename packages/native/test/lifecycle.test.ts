/**
 * A mapping's life in one process: flushes of every form, protect, grow, copy-on-write,
 * read-only mappings and a reader's remap (it follows a file another process grows or cuts),
 * unmap and use after unmap, and the medium helpers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  cpuFlushInstruction, defaultPoolDir, drain, flush, flushRanges, grow, isTmpfs, map, mediumOf, pageSize, protect,
  sync, unmap,
} from '../src/index.js';
import type { Mapping } from '../src/index.js';
import { poolDirs, throwsCode } from './helpers.js';

const PAGE = pageSize();
const { shm: shmDir, disk: diskDir, fresh } = poolDirs('l');
function inMaps(path: string): boolean {
  return readFileSync('/proc/self/maps', 'utf8').includes(path);
}

describe('flushes', () => {
  for (const forcePmem of [true, false]) {
    it(`sync, flush, drain and flushRanges make data reach the file (forcePmem ${forcePmem})`, () => {
      const path = fresh(forcePmem ? shmDir : diskDir);
      const m = map(path, { create: { size: 8 * PAGE }, forcePmem });
      assert.equal(m.granularity, forcePmem ? 'cache-line' : 'page');
      m.bytes.fill(1, 0, 10);
      sync(m, 0, 10);
      m.bytes.fill(2, PAGE, PAGE + 10);
      flush(m, PAGE, 10);
      drain(m);
      m.bytes.fill(3, 3 * PAGE - 5, 3 * PAGE + 5);
      m.bytes.fill(4, 7 * PAGE, 8 * PAGE);
      flushRanges(m, new Float64Array([3 * PAGE - 5, 10, 7 * PAGE, PAGE, 0, 0]));
      flushRanges(m, [3 * PAGE - 5, 10, 7 * PAGE, PAGE], 2);
      drain(m);
      const file = readFileSync(path);
      assert.ok(file.subarray(0, 10).every((b) => b === 1));
      assert.ok(file.subarray(PAGE, PAGE + 10).every((b) => b === 2));
      assert.ok(file.subarray(3 * PAGE - 5, 3 * PAGE + 5).every((b) => b === 3));
      assert.ok(file.subarray(7 * PAGE).every((b) => b === 4));
      unmap(m);
    });
  }

  it('flushRanges rejects other typed arrays, odd lengths without count, a count past the pairs, and checks every pair first', () => {
    const m = map(fresh(), { create: { size: PAGE } });
    throwsCode(() => m.flushRanges(new Uint32Array([0, 8]) as unknown as ArrayLike<number>), 'EINVAL', 'Float64Array');
    throwsCode(() => m.flushRanges({ length: 2, 0: 0, 1: 8 } as ArrayLike<number>), 'EINVAL', 'Float64Array');
    throwsCode(() => m.flushRanges([0, 8, 16]), 'EINVAL', 'odd');
    m.flushRanges([0, 8, 16], 1);
    throwsCode(() => m.flushRanges(new Float64Array([0, 8]), 2), 'ERANGE', 'count');
    throwsCode(() => m.flushRanges([0, 8, 0, PAGE + 1]), 'ERANGE', 'pair 1');
    throwsCode(() => m.flushRanges([0, 8, 'x' as unknown as number, 1]), 'EINVAL', 'ranges[2]');
    throwsCode(() => m.flushRanges(new Float64Array([0, 8, 0.5, 1])), 'EINVAL', 'pair 1');
    m.close();
  });

  it('a ranges array whose getter unmaps or grows the mapping mid-call cannot make it touch freed memory', () => {
    const m = map(fresh(), { create: { size: PAGE } });
    const unmapping = [0, 64];
    Object.defineProperty(unmapping, 1, { get: () => (m.close(), 64) });
    throwsCode(() => m.flushRanges(unmapping), 'ECLOSED');
    const g = map(fresh(), { create: { size: PAGE } });
    const growing = [0, 64, 0, 0];
    Object.defineProperty(growing, 3, { get: () => (grow(g, 2 * PAGE), 2 * PAGE) });
    // A Proxy is not an array to the addon: refused before any element is read.
    throwsCode(() => g.flushRanges(new Proxy([0, 64], {})), 'EINVAL', 'Float64Array');
    g.flushRanges(growing); // validated against the grown length, after every read
    assert.equal(g.length, 2 * PAGE);
    g.close();
  });

  it('any valid batch of ranges is accepted and leaves the bytes unchanged (property)', () => {
    const m = map(fresh(), { create: { size: 4 * PAGE }, forcePmem: true });
    const d = map(fresh(diskDir), { create: { size: 4 * PAGE } });
    const length = 4 * PAGE;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(length), fc.nat(length)).map(([a, b]) => [Math.min(a, b), Math.abs(a - b)] as const), {
          maxLength: 40,
        }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (pairs, pattern) => {
          for (const target of [m, d]) {
            for (let i = 0; i < length; i += 64) target.bytes.set(pattern, i);
            const flat = new Float64Array(pairs.flat());
            target.flushRanges(flat);
            target.drain();
            for (let i = 0; i < length; i += 64) assert.deepEqual(target.bytes.subarray(i, i + 64), pattern);
          }
        },
      ),
      { numRuns: 60 },
    );
    const file = readFileSync(d.path);
    assert.equal(file.length, length);
    m.close();
    d.close();
  });
});

describe('unmap', () => {
  it('detaches bytes: reads give undefined, typed-array methods and DataView throw TypeError, calls throw ECLOSED', () => {
    const path = fresh();
    const m = map(path, { create: { size: PAGE } });
    const bytes = m.bytes;
    const buffer = bytes.buffer;
    bytes[0] = 1;
    assert.equal(inMaps(path), true);
    unmap(m);
    unmap(m); // idempotent
    assert.equal(m.closed, true);
    assert.equal(inMaps(path), false, 'the file is no longer mapped');
    assert.equal(bytes.length, 0);
    assert.equal(buffer.byteLength, 0);
    assert.equal(bytes[0], undefined);
    bytes[0] = 5; // ignored, not a fault
    assert.equal(bytes[0], undefined);
    assert.throws(() => new DataView(buffer), TypeError);
    assert.throws(() => bytes.set([1]), TypeError);
    assert.throws(() => bytes.fill(1), TypeError);
    assert.equal(m.length, 0);
    assert.equal(m.bytes.length, 0);
    throwsCode(() => m.flush(0, 1), 'ECLOSED', path);
    throwsCode(() => m.persist(0, 1), 'ECLOSED', path);
    throwsCode(() => m.drain(), 'ECLOSED', path);
    throwsCode(() => m.flushRanges([0, 1]), 'ECLOSED', path);
    throwsCode(() => m.protect(0, PAGE, 'r'), 'ECLOSED', path);
    throwsCode(() => grow(m, 2 * PAGE), 'ECLOSED', path);
  });

  it('releases the lock at once and keeps what was stored', () => {
    const path = fresh();
    const m = map(path, { create: { size: PAGE } });
    m.bytes[10] = 42;
    m.close();
    const again = map(path);
    assert.equal(again.bytes[10], 42);
    again.close();
  });
});

describe('protect', () => {
  it('toggles pages between read-only and writable without faults when nothing stores into them', () => {
    const m = map(fresh(), { create: { size: 4 * PAGE } });
    protect(m, PAGE, 2 * PAGE, 'r');
    assert.equal(m.bytes[PAGE], 0, 'reads still work');
    m.bytes[0] = 1; // page 0 stays writable
    m.persist(PAGE, 2 * PAGE); // flushing a read-only page is fine
    protect(m, PAGE, 2 * PAGE, 'rw');
    m.bytes[PAGE] = 2;
    assert.equal(m.bytes[PAGE], 2);
    m.protect(0, 4 * PAGE, 'rw');
    m.close();
  });

  it('EINVAL on unaligned ranges or a bad protection, ERANGE outside, EACCES for rw on a read-only mapping', () => {
    const path = fresh();
    const m = map(path, { create: { size: 4 * PAGE } });
    throwsCode(() => m.protect(1, PAGE, 'r'), 'EINVAL', path, 'page-aligned');
    throwsCode(() => m.protect(0, 100, 'r'), 'EINVAL', path, 'page-aligned');
    throwsCode(() => m.protect(0, PAGE, 'x' as 'r'), 'EINVAL', path, 'protection');
    throwsCode(() => m.protect(0, 5 * PAGE, 'r'), 'ERANGE', path);
    throwsCode(() => m.protect(-PAGE, PAGE, 'r'), 'EINVAL', path);
    m.close();
    const r = map(path, { protection: 'r' });
    assert.equal(r.writable, false);
    throwsCode(() => r.protect(0, PAGE, 'rw'), 'EACCES', path);
    r.protect(0, PAGE, 'r');
    r.close();
  });
});

describe('grow', () => {
  for (const base of ['shm', 'disk'] as const) {
    it(`extends the file durably, remaps, keeps contents and zero-fills (${base})`, () => {
      const path = fresh(base === 'shm' ? shmDir : diskDir);
      const m = map(path, { create: { size: 2 * PAGE }, forcePmem: base === 'shm' });
      m.bytes.fill(9, 0, 2 * PAGE);
      m.persist(0, 2 * PAGE);
      const old = m.bytes;
      grow(m, 6 * PAGE);
      assert.equal(old.length, 0, 'the old array is detached');
      assert.equal(m.length, 6 * PAGE);
      assert.equal(statSync(path).size, 6 * PAGE);
      assert.ok(m.bytes.subarray(0, 2 * PAGE).every((b) => b === 9));
      assert.ok(m.bytes.subarray(2 * PAGE).every((b) => b === 0));
      m.bytes[6 * PAGE - 1] = 1;
      m.persist(6 * PAGE - 1, 1);
      m.grow?.(6 * PAGE); // same length: nothing changes
      assert.equal(m.bytes[6 * PAGE - 1], 1);
      throwsCode(() => grow(m, 4 * PAGE), 'EINVAL', path, 'newLength');
      throwsCode(() => grow(m, 7 * PAGE + 1), 'EINVAL', path, 'newLength');
      throwsCode(() => grow(m, -1), 'EINVAL', path, 'newLength');
      throwsCode(() => grow(m, 2 ** 47), 'ERANGE', path);
      m.close();
      assert.equal(readFileSync(path)[6 * PAGE - 1], 1);
    });
  }

  it('a grown mapping at an offset keeps file offsets', () => {
    const path = fresh();
    const whole = map(path, { create: { size: 2 * PAGE } });
    whole.bytes[PAGE] = 5;
    whole.close();
    const m = map(path, { offset: PAGE });
    grow(m, 3 * PAGE);
    assert.equal(statSync(path).size, 4 * PAGE);
    assert.equal(m.bytes[0], 5);
    m.close();
  });

  it('read-only and copy-on-write mappings cannot grow (EACCES)', () => {
    const path = fresh();
    map(path, { create: { size: PAGE } }).close();
    const r = map(path, { protection: 'r' });
    assert.equal(r.grow, undefined);
    throwsCode(() => grow(r, 2 * PAGE), 'EACCES', path);
    r.close();
  });
});

describe('copy-on-write and read-only mappings', () => {
  it('copyOnWrite: writable in memory, flushes are no-ops, the file never changes', () => {
    const path = fresh();
    const w = map(path, { create: { size: 2 * PAGE } });
    w.bytes.fill(3);
    w.persist(0, w.length);
    w.close();
    const c: Mapping = map(path, { protection: 'r', copyOnWrite: true, forcePmem: true });
    assert.equal(c.writable, true);
    assert.equal(c.copyOnWrite, true);
    assert.equal(c.grow, undefined);
    assert.equal(c.bytes[0], 3);
    c.bytes.fill(8);
    c.persist(0, c.length);
    c.flushRanges([0, 10]);
    c.drain();
    assert.equal(c.bytes[100], 8);
    const reader = map(path, { protection: 'r' }); // shared locks coexist
    assert.equal(reader.bytes[100], 3, 'another mapping does not see private stores');
    reader.close();
    c.close();
    assert.ok(readFileSync(path).every((b) => b === 3));
  });
});

describe('remap of a read-only shared mapping (a reader following its writer)', () => {
  for (const [base, dir] of [['tmpfs', shmDir], ['disk', diskDir]] as const) {
    it(`follows the file as it grows and shrinks; refuses a length past its end (${base})`, () => {
      const path = fresh(dir);
      writeFileSync(path, new Uint8Array(2 * PAGE).fill(1));
      const r = map(path, { protection: 'r', lock: 'none' });
      assert.ok(r.remap !== undefined && r.grow === undefined);
      writeFileSync(path, new Uint8Array(4 * PAGE).fill(2));
      const before = r.bytes;
      r.remap!(4 * PAGE);
      assert.equal(r.length, 4 * PAGE);
      assert.equal(before.length, 0, 'the old array is detached');
      assert.equal(r.bytes[4 * PAGE - 1], 2);
      r.remap!(PAGE);
      assert.equal(r.length, PAGE);
      throwsCode(() => r.remap!(8 * PAGE), 'ERANGE', 'past the end of the file');
      throwsCode(() => r.remap!(PAGE + 1), 'EINVAL');
      assert.equal(r.length, PAGE, 'a refused remap keeps the mapping');
      r.close();
      throwsCode(() => r.remap!(PAGE), 'ECLOSED');
      const w = map(path, { protection: 'rw' });
      assert.equal(w.remap, undefined, "a writer's mapping grows instead");
      w.close();
    });

    it(`a read past an end cut under it faults into a private page, and a remap at the same length drops it (${base})`, () => {
      const path = fresh(dir);
      writeFileSync(path, new Uint8Array(3 * PAGE).fill(5));
      const r = map(path, { protection: 'r', lock: 'none' });
      truncateSync(path, PAGE); // the writer cut the file
      assert.equal(r.bytes[2 * PAGE], 0, 'the fault guard gave the read a zero page');
      assert.equal(r.faults, 1);
      writeFileSync(path, new Uint8Array(3 * PAGE).fill(9)); // and wrote data there again
      assert.equal(r.bytes[2 * PAGE], 0, 'the diverted page is private: stale');
      r.remap!(3 * PAGE);
      assert.equal(r.faults, 0);
      assert.equal(r.bytes[2 * PAGE], 9, 'the fresh mapping reads the file');
      r.close();
    });
  }
});

describe('medium helpers', () => {
  it('mediumOf, isTmpfs, defaultPoolDir, cpuFlushInstruction, pageSize', () => {
    assert.equal(mediumOf('/dev/shm'), 'tmpfs');
    assert.equal(isTmpfs('/dev/shm'), true);
    const f = fresh();
    map(f, { create: { size: PAGE } }).close();
    assert.equal(mediumOf(f), 'tmpfs');
    assert.ok(['file', 'tmpfs', 'dax'].includes(mediumOf(tmpdir())));
    assert.equal(defaultPoolDir(), '/dev/shm');
    assert.ok(['clwb', 'clflushopt', 'clflush'].includes(cpuFlushInstruction()));
    assert.ok(Number.isInteger(PAGE) && PAGE >= 4096 && (PAGE & (PAGE - 1)) === 0);
    throwsCode(() => mediumOf(join(shmDir, 'missing')), 'ENOENT', 'missing');
    throwsCode(() => mediumOf(1 as unknown as string), 'EINVAL', 'path');
  });
});
