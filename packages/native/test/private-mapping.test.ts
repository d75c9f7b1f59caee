/**
 * The writer's private mapping (`{ protection: 'rw', copyOnWrite: true }`): its stores never
 * reach the file, what a FileHandle writes shows in the pages it has not stored into, grow
 * keeps its pages (moved, and in place), discard gives pages back to the file, the writer's
 * lock, the fault guard.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IoOp } from '@ferrite/core';
import { createIoQueue, map, openFile, pageSize } from '../src/index.js';
import type { FileHandle, Mapping } from '../src/index.js';
import { poolDirs, runFixture, throwsCode } from './helpers.js';

const PAGE = pageSize();
const { shm: shmDir, disk: diskDir, fresh } = poolDirs('p');

/** A file of `pages` pages, page i filled with i + 1, and its writer's private mapping. */
function writer(pages: number, dir = shmDir): { file: FileHandle; m: Mapping; path: string } {
  const path = fresh(dir);
  const file = openFile(path, { create: true });
  file.grow(pages * PAGE);
  for (let i = 0; i < pages; i++) file.write(i * PAGE, new Uint8Array(PAGE).fill(i + 1));
  const m = map(path, { protection: 'rw', copyOnWrite: true });
  return { file, m, path };
}

/** [start, end) of the mapping of `path` in /proc/self/maps. */
function rangeOf(path: string): string | undefined {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith(path))?.split(' ')[0];
}

/** Private_Dirty (kB) of the mappings of `path` (/proc/self/smaps). */
function privateDirtyKb(path: string): number {
  let total = 0;
  let inside = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.endsWith(path);
    else if (inside && line.startsWith('Private_Dirty:')) total += Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  return total;
}

describe('a private writable mapping', () => {
  for (const [name, dir] of [['tmpfs', shmDir], ['disk', diskDir]] as const) {
    it(`stores stay in the mapping; flush, persist and drain do nothing; the file never changes (${name})`, () => {
      const { file, m, path } = writer(4, dir);
      assert.equal(m.writable, true);
      assert.equal(m.copyOnWrite, true);
      assert.equal(m.protection, 'rw');
      m.bytes.fill(0xee, 0, 2 * PAGE + 10);
      m.persist(0, m.length);
      m.flush(0, 10);
      m.flushRanges([0, 10, PAGE, 10]);
      m.persistRanges(new Float64Array([0, 4 * PAGE]));
      m.drain();
      throwsCode(() => m.persist(0, 5 * PAGE), 'ERANGE', 'outside'); // arguments still checked
      assert.equal(m.bytes[0], 0xee);
      const disk = new Uint8Array(readFileSync(path));
      for (let i = 0; i < 4; i++) assert.ok(disk.subarray(i * PAGE, (i + 1) * PAGE).every((b) => b === i + 1), `page ${i} unchanged`);
      m.close();
      file.close();
      assert.ok(new Uint8Array(readFileSync(path)).every((b) => b !== 0xee));
    });
  }

  it('shows what a FileHandle writes in the pages it has not stored into, not in those it has', () => {
    const { file, m } = writer(4);
    m.bytes[PAGE] = 0xee; // page 1 becomes private
    file.write(PAGE + 100, new Uint8Array([42]));
    file.write(3 * PAGE + 100, new Uint8Array([43]));
    assert.equal(m.bytes[3 * PAGE + 100], 43, 'page 3 shares the page cache');
    assert.equal(m.bytes[PAGE + 100], 2, 'page 1 is private: it keeps the bytes it had');
    assert.equal(m.bytes[PAGE], 0xee);
    m.close();
    file.close();
  });

  it('takes the writer\'s exclusive lock: another writer or reader is EBUSY, until it is closed', () => {
    const { file, m, path } = writer(1);
    throwsCode(() => map(path), 'EBUSY', path);
    throwsCode(() => map(path, { protection: 'r' }), 'EBUSY', path);
    throwsCode(() => map(path, { protection: 'r', copyOnWrite: true }), 'EBUSY', path);
    throwsCode(() => map(path, { protection: 'rw', copyOnWrite: true }), 'EBUSY', path);
    m.close();
    const shared = map(path);
    shared.close();
    file.close();
  });

  it('is refused with create (a new pool is made through its FileHandle)', () => {
    const path = fresh();
    throwsCode(() => map(path, { protection: 'rw', copyOnWrite: true, create: { size: PAGE } }), 'EINVAL', 'copyOnWrite');
  });
});

describe('grow of a private mapping', () => {
  it('keeps every page stored into, shows the file in the new pages, detaches the old array', () => {
    const { file, m, path } = writer(2);
    m.bytes.fill(0xee, 0, 10);
    m.bytes[PAGE + 5] = 0xee;
    const old = m.bytes;
    throwsCode(() => m.grow?.(4 * PAGE), 'ERANGE', 'grow the file first');
    assert.equal(old.length, 2 * PAGE, 'a refused grow leaves the mapping as it was');
    assert.equal(m.bytes, old);
    file.grow(8 * PAGE);
    file.write(6 * PAGE, new Uint8Array([66]));
    const before = rangeOf(path);
    m.grow?.(8 * PAGE);
    assert.equal(old.length, 0, 'the old array is detached');
    assert.equal(m.length, 8 * PAGE);
    assert.notEqual(rangeOf(path), before, 'moved (the pages above it were taken)');
    assert.ok(m.bytes.subarray(0, 10).every((b) => b === 0xee), 'private page 0 kept');
    assert.equal(m.bytes[PAGE + 5], 0xee, 'private page 1 kept');
    assert.equal(m.bytes[PAGE + 6], 2, 'the rest of page 1 too');
    assert.equal(m.bytes[6 * PAGE], 66, 'a new page shows the file');
    assert.equal(m.bytes[7 * PAGE], 0);
    m.bytes[7 * PAGE] = 0xee; // the new pages are writable, privately
    file.write(7 * PAGE + 1, new Uint8Array([77]));
    assert.equal(m.bytes[7 * PAGE + 1], 0, 'page 7 is private now');
    assert.ok(new Uint8Array(readFileSync(path)).every((b) => b !== 0xee), 'no private store reached the file');
    m.grow?.(8 * PAGE); // equal: nothing
    throwsCode(() => m.grow?.(4 * PAGE), 'EINVAL', 'newLength');
    throwsCode(() => m.grow?.(8 * PAGE + 1), 'EINVAL', 'newLength');
    m.close();
    file.close();
  });

  it('grows many times with its pages kept each time', () => {
    const path = fresh();
    const file = openFile(path, { create: true });
    file.grow(64 * PAGE);
    const m = map(path, { protection: 'rw', copyOnWrite: true, length: PAGE });
    for (let n = 1; n <= 64; n++) {
      if (n > 1) m.grow?.(n * PAGE);
      m.bytes[(n - 1) * PAGE] = n;
    }
    for (let n = 1; n <= 64; n++) assert.equal(m.bytes[(n - 1) * PAGE], n);
    assert.ok(new Uint8Array(readFileSync(path)).every((b) => b === 0));
    m.close();
    file.close();
  });

  it('at an offset: the view grows from its offset', () => {
    const { file, m: whole, path } = writer(6);
    whole.close();
    const m = map(path, { protection: 'rw', copyOnWrite: true, offset: 2 * PAGE, length: PAGE });
    assert.equal(m.bytes[0], 3);
    m.bytes[0] = 0xee;
    throwsCode(() => m.grow?.(5 * PAGE), 'ERANGE', 'offset + newLength');
    m.grow?.(4 * PAGE);
    assert.equal(m.bytes[0], 0xee);
    assert.equal(m.bytes[3 * PAGE], 6);
    m.close();
    file.close();
  });

  it('grows in place when the pages above it are free, keeping its pages (--expose-gc child)', () => {
    const child = runFixture('private-map.ts', ['in-place', shmDir], ['--expose-gc']);
    assert.equal(child.signal, null, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as Record<string, unknown>;
    assert.equal(seen.inPlace, true, `grown where it was: ${JSON.stringify(seen.attempts)}`);
    assert.equal(seen.oldDetached, true);
    assert.equal(seen.kept, 7);
    assert.equal(seen.newPageShowsFile, 100);
    assert.equal(seen.length, 112 * PAGE);
    assert.equal(seen.fileUnchanged, true);
  });

  it('split by protect, it refuses (EINVAL) and stays as it was; read-only private mappings cannot grow (EACCES)', () => {
    const { file, m, path } = writer(4);
    file.grow(8 * PAGE);
    m.bytes[0] = 0xee;
    m.protect(PAGE, PAGE, 'r');
    throwsCode(() => m.grow?.(8 * PAGE), 'EINVAL', 'protect');
    assert.equal(m.length, 4 * PAGE);
    assert.equal(m.bytes[0], 0xee);
    m.protect(PAGE, PAGE, 'rw');
    m.grow?.(8 * PAGE);
    assert.equal(m.bytes[0], 0xee);
    m.close();
    const r = map(path, { protection: 'r', copyOnWrite: true });
    assert.equal(r.grow, undefined);
    r.close();
    file.close();
  });
});

describe('discard', () => {
  it('drops a private page: it shows the file again, and its memory goes back', () => {
    const { file, m, path } = writer(64);
    m.bytes.fill(0xee);
    assert.ok(privateDirtyKb(path) >= (64 * PAGE) / 1024, 'every page is private');
    file.write(5 * PAGE, new Uint8Array([55]));
    assert.equal(m.bytes[5 * PAGE], 0xee);
    m.discard(4 * PAGE, 2 * PAGE);
    assert.equal(m.bytes[5 * PAGE], 55, 'page 5 shows what was written to the file');
    assert.equal(m.bytes[4 * PAGE], 5, 'page 4 shows the file');
    assert.equal(m.bytes[6 * PAGE], 0xee, 'the next page is still private');
    m.discard(0, m.length);
    assert.ok(privateDirtyKb(path) <= 8, `the private memory went back (${privateDirtyKb(path)} kB left)`);
    assert.equal(m.bytes[63 * PAGE], 64);
    m.discard(0, 0);
    m.close();
    file.close();
  });

  it('reaches the end of a mapping whose length is not a whole number of pages', () => {
    const path = fresh();
    const file = openFile(path, { create: true });
    file.grow(2 * PAGE + 100);
    file.write(2 * PAGE, new Uint8Array(100).fill(9));
    const m = map(path, { protection: 'rw', copyOnWrite: true });
    assert.equal(m.length, 2 * PAGE + 100);
    m.bytes.fill(0xee);
    throwsCode(() => m.discard(PAGE, PAGE + 50), 'EINVAL', 'page-aligned');
    m.discard(PAGE, PAGE + 100);
    assert.equal(m.bytes[2 * PAGE + 99], 9);
    assert.equal(m.bytes[0], 0xee);
    m.close();
    file.close();
  });

  it('is refused on shared and read-only mappings (EACCES), unaligned (EINVAL), outside (ERANGE), closed (ECLOSED)', () => {
    const { file, m, path } = writer(4);
    throwsCode(() => m.discard(1, PAGE), 'EINVAL', 'page-aligned');
    throwsCode(() => m.discard(0, 5 * PAGE), 'ERANGE', 'outside');
    throwsCode(() => m.discard(-PAGE, PAGE), 'EINVAL', 'offset');
    m.close();
    throwsCode(() => m.discard(0, PAGE), 'ECLOSED', path);
    const shared = map(path);
    throwsCode(() => shared.discard(0, PAGE), 'EACCES', 'private');
    shared.close();
    const ro = map(path, { protection: 'r' });
    throwsCode(() => ro.discard(0, PAGE), 'EACCES', 'private');
    ro.close();
    const cow = map(path, { protection: 'r', copyOnWrite: true }); // private too: allowed
    cow.bytes[0] = 0xee;
    cow.discard(0, PAGE);
    assert.equal(cow.bytes[0], 1);
    cow.close();
    file.close();
  });
});

describe('the fault guard', () => {
  it('covers private mappings: a read past a file truncated by another program reads zeros, grow and persist refuse (EIO)', () => {
    const child = runFixture('private-map.ts', ['truncated', shmDir]);
    assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as Record<string, unknown>;
    assert.equal(seen.read, 0);
    assert.equal(seen.faults, 1);
    assert.equal(seen.firstPageKept, 1);
    assert.match(String(seen.persist), /^EIO: .*truncated by another program/);
    assert.match(String(seen.grow), /^EIO: .*truncated by another program/);
  });
});

describe('a mapping whose bytes a queued program writes from', () => {
  it('cannot be closed, grown or have those pages discarded (EBUSY) until the program finished', async () => {
    const { file, m, path } = writer(8);
    file.grow(16 * PAGE);
    const slow = openFile(fresh(diskDir), { create: true });
    slow.grow(16 << 20);
    const queue = createIoQueue();
    m.bytes.fill(0xab, PAGE, 2 * PAGE); // private page 1
    const target = openFile(fresh(), { create: true });
    target.grow(PAGE);
    const slowProgram = queue.submit([{ op: 'write', file: slow, offset: 0, data: new Uint8Array(16 << 20).fill(1) }, { op: 'sync', file: slow }]);
    const program = queue.submit([{ op: 'write', file: target, offset: 0, data: m.bytes.subarray(PAGE, 2 * PAGE) }]);
    throwsCode(() => m.close(), 'EBUSY', 'submitted I/O programs');
    throwsCode(() => m.grow?.(16 * PAGE), 'EBUSY', 'submitted I/O programs');
    throwsCode(() => m.discard(0, 2 * PAGE), 'EBUSY', 'submitted I/O programs');
    m.discard(2 * PAGE, PAGE); // pages no program reads
    m.discard(0, PAGE);
    assert.equal(m.closed, false);
    await Promise.all([slowProgram, program]);
    assert.ok(new Uint8Array(readFileSync(target.path)).every((b) => b === 0xab), 'the program wrote the mapped bytes');
    m.grow?.(16 * PAGE);
    m.discard(PAGE, PAGE);
    m.close();
    assert.ok(new Uint8Array(readFileSync(path)).every((b) => b !== 0xab));
    for (const f of [file, slow, target]) f.close();
  });

  it('the writer\'s loop: store privately, apply the changed ranges to the pool file from the mapping, discard, read the same bytes back', async () => {
    const { file, m, path } = writer(32, diskDir);
    const queue = createIoQueue();
    const model = new Uint8Array(readFileSync(path));
    for (let round = 0; round < 20; round++) {
      const ops: IoOp[] = [];
      const touched = new Set<number>();
      for (let k = 0; k < 5; k++) {
        const offset = ((round * 7919 + k * 104729) % (32 * PAGE - 300));
        m.bytes.fill(round + 10, offset, offset + 300);
        model.fill(round + 10, offset, offset + 300);
        ops.push({ op: 'write', file, offset, data: m.bytes.subarray(offset, offset + 300) });
        touched.add(Math.floor(offset / PAGE));
        touched.add(Math.floor((offset + 299) / PAGE));
      }
      ops.push({ op: 'sync', file });
      await queue.submit(ops);
      for (const page of touched) m.discard(page * PAGE, PAGE);
      assert.deepEqual(m.bytes, model, `round ${round}: the mapping reads the file's bytes`);
    }
    assert.deepEqual(new Uint8Array(readFileSync(path)), model);
    assert.ok(privateDirtyKb(path) <= 8, 'no private page left');
    m.close();
    file.close();
  });
});
