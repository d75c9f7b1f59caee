/**
 * map(): creation, reopening, offsets and lengths, and every error code it can raise.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileIdentity, flockHolders, flockHoldersOf, map, pageSize } from '../src/index.js';
import type { Mapping } from '../src/index.js';
import { fixtureCommand, runFixture, runShell, scratchDir, shmBase, throwsCode } from './helpers.js';

const PAGE = pageSize();
const scratch = scratchDir(shmBase);
after(() => scratch.remove());
let counter = 0;
function fresh(name = 'p'): string {
  return join(scratch.dir, `${name}${counter++}.pool`);
}

describe('map: create and reopen', () => {
  it('creates a zero-filled file of create.size with mode 0o600 and reopens it with its data', () => {
    const path = fresh();
    const m = map(path, { create: { size: 16 * PAGE } });
    assert.equal(m.length, 16 * PAGE);
    assert.equal(statSync(path).size, 16 * PAGE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(m.bytes.every((b) => b === 0));
    assert.equal(m.writable, true);
    assert.equal(m.protection, 'rw');
    assert.equal(m.path, path);
    m.bytes.set([1, 2, 3], 100);
    m.persist(100, 3);
    m.close();
    assert.deepEqual([...readFileSync(path).subarray(100, 103)], [1, 2, 3]);
    const again = map(path);
    assert.equal(again.length, 16 * PAGE);
    assert.deepEqual([...again.bytes.subarray(100, 103)], [1, 2, 3]);
    again.close();
  });

  it('keeps the size of an existing non-empty file even when create asks for another', () => {
    const path = fresh();
    map(path, { create: { size: 4 * PAGE } }).close();
    const m = map(path, { create: { size: 8 * PAGE } });
    assert.equal(m.length, 4 * PAGE);
    m.close();
  });

  it('sizes an existing empty file (an interrupted creation) to create.size', () => {
    const path = fresh();
    writeFileSync(path, '');
    const m = map(path, { create: { size: 2 * PAGE } });
    assert.equal(m.length, 2 * PAGE);
    m.close();
  });

  it('applies create.mode', () => {
    const path = fresh();
    map(path, { create: { size: PAGE, mode: 0o640 } }).close();
    assert.equal(statSync(path).mode & 0o777, 0o640 & ~process.umask());
  });

  it('maps from a page-aligned offset, to the end of the file by default', () => {
    const path = fresh();
    const whole = map(path, { create: { size: 4 * PAGE } });
    for (let i = 0; i < whole.length; i++) whole.bytes[i] = Math.floor(i / PAGE) + 1;
    whole.persist(0, whole.length);
    whole.close();
    const tail = map(path, { offset: 2 * PAGE });
    assert.equal(tail.length, 2 * PAGE);
    assert.equal(tail.offset, 2 * PAGE);
    assert.equal(tail.bytes[0], 3);
    assert.equal(tail.bytes[PAGE], 4);
    tail.close();
    const middle = map(path, { offset: PAGE, length: PAGE });
    assert.equal(middle.length, PAGE);
    assert.ok(middle.bytes.every((b) => b === 2));
    middle.close();
  });

  it('maps a file whose size is not a multiple of the page size, exposing exactly its bytes', () => {
    const path = fresh();
    writeFileSync(path, Buffer.alloc(PAGE + 10, 9));
    const m = map(path);
    assert.equal(m.length, PAGE + 10);
    assert.equal(m.bytes[PAGE + 9], 9);
    m.bytes[PAGE + 9] = 8;
    m.persist(PAGE + 5, 5);
    m.close();
    assert.equal(readFileSync(path)[PAGE + 9], 8);
  });

  it('follows a symlink when opening an existing file without create', () => {
    const path = fresh();
    map(path, { create: { size: PAGE } }).close();
    const link = fresh('link');
    symlinkSync(path, link);
    const m = map(link);
    assert.equal(m.length, PAGE);
    m.close();
  });

  it('honours FERRITE_FORCE_PMEM=1 unless forcePmem is given', () => {
    const path = fresh();
    map(path, { create: { size: PAGE } }).close();
    const saved = process.env.FERRITE_FORCE_PMEM;
    try {
      process.env.FERRITE_FORCE_PMEM = '1';
      let m: Mapping = map(path);
      assert.equal(m.isPmem, true);
      assert.equal(m.granularity, 'cache-line');
      m.close();
      m = map(path, { forcePmem: false });
      assert.equal(m.isPmem, false);
      assert.equal(m.granularity, 'page');
      m.close();
      process.env.FERRITE_FORCE_PMEM = '';
      m = map(path);
      assert.equal(m.isPmem, false);
      assert.equal(m.isDax, false, 'tmpfs is not DAX');
      m.close();
    } finally {
      if (saved === undefined) delete process.env.FERRITE_FORCE_PMEM;
      else process.env.FERRITE_FORCE_PMEM = saved;
    }
  });
});

describe('map: error codes', () => {
  it('EINVAL: unaligned offset or length, zero length, bad options; the message names the argument', () => {
    const path = fresh();
    map(path, { create: { size: 4 * PAGE } }).close();
    throwsCode(() => map(path, { offset: 100 }), 'EINVAL', path, 'offset');
    throwsCode(() => map(path, { length: PAGE + 1 }), 'EINVAL', path, 'length');
    throwsCode(() => map(path, { length: 0 }), 'EINVAL', path, 'length');
    throwsCode(() => map(path, { offset: -PAGE }), 'EINVAL', path, 'offset');
    throwsCode(() => map(path, { offset: 1.5 }), 'EINVAL', path, 'offset');
    throwsCode(() => map(path, { protection: 'x' as 'r' }), 'EINVAL', path, 'protection');
    throwsCode(() => map(path, { forcePmem: 1 as unknown as boolean }), 'EINVAL', path, 'forcePmem');
    throwsCode(() => map(path, { create: { size: 0 } }), 'EINVAL', path, 'create.size');
    throwsCode(() => map(path, { create: { size: PAGE, mode: 0o70000 } }), 'EINVAL', path, 'create.mode');
    throwsCode(() => map(path, { create: { size: PAGE }, protection: 'r' }), 'EINVAL', path, 'create');
    throwsCode(() => map(path, { copyOnWrite: true, create: { size: PAGE } }), 'EINVAL', path, 'copyOnWrite');
    throwsCode(() => map(path, null as unknown as object), 'EINVAL', path);
    throwsCode(() => map('', {}), 'EINVAL', 'path');
    throwsCode(() => map(7 as unknown as string), 'EINVAL', 'path');
  });

  it('EINVAL: a zero-length file', () => {
    const path = fresh();
    writeFileSync(path, '');
    throwsCode(() => map(path), 'EINVAL', path, 'zero-length');
  });

  it('EINVAL: creation through a symlink is refused, even a dangling one', () => {
    const target = fresh();
    const link = fresh('link');
    symlinkSync(target, link);
    throwsCode(() => map(link, { create: { size: PAGE } }), 'EINVAL', link, 'symbolic link');
    assert.throws(() => statSync(target), /ENOENT/, 'nothing was created behind the link');
    map(target, { create: { size: PAGE } }).close();
    throwsCode(() => map(link, { create: { size: PAGE } }), 'EINVAL', link, 'symbolic link');
  });

  it('EEXIST: exclusive creation of an existing file', () => {
    const path = fresh();
    map(path, { create: { size: PAGE, exclusive: true } }).close();
    throwsCode(() => map(path, { create: { size: PAGE, exclusive: true } }), 'EEXIST', path);
  });

  it('ENOENT: a missing file, or a missing directory on create', () => {
    throwsCode(() => map(fresh('missing')), 'ENOENT', 'missing');
    const inMissingDir = join(scratch.dir, 'no-such-dir', 'x.pool');
    throwsCode(() => map(inMissingDir, { create: { size: PAGE } }), 'ENOENT', inMissingDir);
  });

  it('ENODEV: a directory, a FIFO, /dev/null', () => {
    const dir = join(scratch.dir, `dir${counter++}`);
    mkdirSync(dir);
    throwsCode(() => map(dir), 'ENODEV', dir);
    throwsCode(() => map(dir, { protection: 'r' }), 'ENODEV', dir);
    const fifo = fresh('fifo');
    execFileSync('mkfifo', [fifo]);
    throwsCode(() => map(fifo), 'ENODEV', fifo);
    throwsCode(() => map(fifo, { protection: 'r' }), 'ENODEV', fifo);
    throwsCode(() => map('/dev/null'), 'ENODEV', '/dev/null');
    throwsCode(() => map('/dev/null', { length: PAGE }), 'ENODEV', '/dev/null');
  });

  it('ERANGE: an offset or length past the end of the file', () => {
    const path = fresh();
    map(path, { create: { size: 2 * PAGE } }).close();
    throwsCode(() => map(path, { offset: 2 * PAGE }), 'ERANGE', path, 'offset');
    throwsCode(() => map(path, { length: 3 * PAGE }), 'ERANGE', path);
    throwsCode(() => map(path, { offset: PAGE, length: 2 * PAGE }), 'ERANGE', path);
    map(path).close(); // a failed map released its lock at once
  });

  it('EBUSY: a second writable map in this process, with our pid; shared read-only maps coexist', () => {
    const path = fresh();
    const writer = map(path, { create: { size: PAGE } });
    throwsCode(() => map(path), 'EBUSY', path, `pid ${process.pid}`);
    throwsCode(() => map(path, { protection: 'r' }), 'EBUSY', path);
    throwsCode(() => map(path, { protection: 'r', copyOnWrite: true }), 'EBUSY', path);
    writer.close();
    const r1 = map(path, { protection: 'r' });
    const r2 = map(path, { protection: 'r', copyOnWrite: true });
    throwsCode(() => map(path), 'EBUSY', path);
    r1.close();
    r2.close();
    map(path).close();
  });

  it('EACCES: a file the user may not write (as user nobody when run as root)', () => {
    const path = fresh();
    map(path, { create: { size: PAGE, mode: 0o600 } }).close();
    const rw = runFixture('try-map.ts', [path, 'rw', 'nobody']);
    assert.equal(rw.status, 0, rw.stderr);
    const outcome = JSON.parse(rw.stdout) as { ok: boolean; code?: string; message?: string };
    assert.equal(outcome.ok, false);
    assert.equal(outcome.code, 'EACCES');
    assert.ok(outcome.message?.includes(path));
  });

  it('ENOMEM: a mapping larger than the address space allowed (ulimit -v)', () => {
    const path = fresh('huge');
    writeFileSync(path, '');
    truncateSync(path, 256 * 2 ** 30); // sparse: 256 GiB of holes, nothing allocated
    // 100 GB of address space: enough for node (WebAssembly reserves ~10 GB per memory),
    // too little for the mappings (each as long as the runtime allows: 4 GiB on Node 20).
    const res = runShell(`ulimit -v 100000000 && exec ${fixtureCommand('enomem.ts', [path])}`);
    assert.equal(res.status, 0, res.stderr);
    const outcome = JSON.parse(res.stdout) as { ok: boolean; code?: string; message?: string };
    assert.equal(outcome.ok, false);
    assert.equal(outcome.code, 'ENOMEM');
    assert.ok(outcome.message?.includes('mmap'));
  });
});

describe('flockHolders', () => {
  it('lists the holders of a lock; kind "exclusive" only those of an exclusive one (a writer), not a shared one', () => {
    const path = fresh('locks');
    map(path, { create: { size: PAGE } }).close();
    const id = fileIdentity(path);
    assert.deepEqual(flockHolders(path), []);
    assert.deepEqual(flockHoldersOf(id, 'exclusive'), []);
    const shared = map(path, { protection: 'r', lock: 'shared' });
    try {
      assert.deepEqual(flockHolders(path), [process.pid]);
      assert.deepEqual(flockHoldersOf(id), [process.pid]);
      assert.deepEqual(flockHoldersOf(id, 'exclusive'), [], 'a shared lock is no writer');
    } finally {
      shared.close();
    }
    const writer = map(path, { protection: 'rw' });
    try {
      assert.deepEqual(flockHoldersOf(id, 'exclusive'), [process.pid]);
      assert.deepEqual(flockHoldersOf(id, 'any'), [process.pid]);
    } finally {
      writer.close();
    }
    assert.deepEqual(flockHolders(path), []);
  });
});

// Found in review: after another program cut the file, persist of stores past the new end
// returned success (msync of pages the kernel dropped writes nothing), and on persistent memory
// the persist whose own flush met the lost page returned success too. The README promises a
// refusal: EIO from the first persist on, every form of it.
describe('a file cut under the mapping: persist refuses (EIO) from the first call', () => {
  for (const forcePmem of [false, true]) {
    it(`forcePmem ${String(forcePmem)}: persist, flush + drain, flushRanges, persistRanges`, () => {
      const { dir, remove } = scratchDir(shmBase);
      try {
        const page = pageSize();
        const calls: [string, (m: Mapping) => void][] = [
          ['persist', (m) => m.persist(4 * page, page)],
          ['flush', (m) => { m.flush(4 * page, page); m.drain(); }],
          ['flushRanges', (m) => { m.flushRanges([4 * page, page]); m.drain(); }],
          ['persistRanges', (m) => m.persistRanges(new Float64Array([4 * page, page]), 1)],
        ];
        for (const [name, call] of calls) {
          const path = join(dir, `${name}-${String(forcePmem)}`);
          const m = map(path, { create: { size: 8 * page }, forcePmem });
          try {
            m.bytes.fill(0xab, 4 * page, 5 * page);
            m.persist(0, page); // the untouched head still persists
            truncateSync(path, page); // another program cuts the file
            throwsCode(() => call(m), 'EIO');
            throwsCode(() => call(m), 'EIO');
          } finally {
            m.close();
          }
        }
      } finally {
        remove();
      }
    });
  }
});
