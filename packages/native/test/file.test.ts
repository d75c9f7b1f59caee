/**
 * FileHandle (openFile) conformance: opening and creating, writes and reads at every boundary
 * against a model, growth, a closed handle, and arguments that must never crash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FerriteError } from '@ferrite/core';
import { map, openFile, pageSize } from '../src/index.js';
import type { FileHandle } from '../src/index.js';
import { poolDirs, throwsCode } from './helpers.js';

const PAGE = pageSize();
const { shm: shmDir, disk: diskDir, fresh } = poolDirs('f');

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return out;
}

describe('openFile', () => {
  it('creates an empty file (mode 0o600 by default) whose name is there on return; opens an existing one', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    assert.equal(f.length, 0);
    assert.equal(f.readOnly, false);
    assert.equal(f.path, path);
    assert.equal(statSync(path).size, 0);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    f.close();
    writeFileSync(path, 'hello');
    const again = openFile(path);
    assert.equal(again.length, 5);
    const b = new Uint8Array(5);
    again.read(0, b);
    assert.equal(Buffer.from(b).toString(), 'hello');
    again.close();
    const withMode = fresh();
    openFile(withMode, { create: { mode: 0o640 } }).close();
    const umask = parseInt(/^Umask:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0', 8);
    assert.equal(statSync(withMode).mode & 0o777, 0o640 & ~umask);
    // create on an existing file opens it unchanged
    const existing = openFile(path, { create: true });
    assert.equal(existing.length, 5);
    existing.close();
  });

  it('EEXIST for an exclusive create of an existing file; ENOENT without create', () => {
    const path = fresh();
    openFile(path, { create: { exclusive: true } }).close();
    throwsCode(() => openFile(path, { create: { exclusive: true } }), 'EEXIST', path);
    throwsCode(() => openFile(join(shmDir, 'missing.wal')), 'ENOENT', 'missing.wal');
    throwsCode(() => openFile(join(shmDir, 'no-dir', 'x.wal'), { create: true }), 'ENOENT', 'no-dir');
  });

  it('creation never goes through a symbolic link (EINVAL; EEXIST when exclusive); open without create follows it', () => {
    const target = fresh();
    openFile(target, { create: true }).close();
    const link = fresh();
    symlinkSync(target, link);
    throwsCode(() => openFile(link, { create: true }), 'EINVAL', 'symbolic link');
    throwsCode(() => openFile(link, { create: { exclusive: true } }), 'EEXIST');
    const dangling = fresh();
    symlinkSync(join(shmDir, 'nowhere'), dangling);
    throwsCode(() => openFile(dangling, { create: true }), 'EINVAL', 'symbolic link');
    const followed = openFile(link);
    assert.equal(followed.length, 0);
    followed.close();
  });

  it('ENODEV for a directory and a FIFO (without waiting for a writer)', () => {
    const dir = join(shmDir, 'a-directory');
    mkdirSync(dir);
    throwsCode(() => openFile(dir), 'ENODEV', dir);
    const fifo = join(shmDir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    throwsCode(() => openFile(fifo), 'ENODEV', 'regular file');
  });

  it('read-only: reads and syncs work, write and grow are EACCES', () => {
    const path = fresh();
    const w = openFile(path, { create: true });
    w.grow(100);
    w.write(10, new Uint8Array([9]));
    w.close();
    const r = openFile(path, { readOnly: true });
    assert.equal(r.readOnly, true);
    const b = new Uint8Array(1);
    r.read(10, b);
    assert.equal(b[0], 9);
    r.sync();
    throwsCode(() => r.write(0, new Uint8Array(1)), 'EACCES', 'read-only');
    throwsCode(() => r.grow(200), 'EACCES', 'read-only');
    r.close();
  });

  it('EINVAL for bad options and paths', () => {
    const path = fresh();
    throwsCode(() => openFile('', {}), 'EINVAL', 'path');
    throwsCode(() => openFile(7 as unknown as string), 'EINVAL', 'path');
    throwsCode(() => openFile('a\0b', { create: true }), 'EINVAL', 'NUL');
    throwsCode(() => openFile(path, null as unknown as object), 'EINVAL', 'options');
    throwsCode(() => openFile(path, { create: 'yes' as unknown as boolean }), 'EINVAL', 'create');
    throwsCode(() => openFile(path, { create: { mode: -1 } }), 'EINVAL', 'create.mode');
    throwsCode(() => openFile(path, { create: { mode: 0o70000 } }), 'EINVAL', 'create.mode');
    throwsCode(() => openFile(path, { create: { exclusive: 1 as unknown as boolean } }), 'EINVAL', 'create.exclusive');
    throwsCode(() => openFile(path, { create: true, readOnly: true }), 'EINVAL', 'readOnly');
    throwsCode(() => openFile(path, { readOnly: 'no' as unknown as boolean }), 'EINVAL', 'readOnly');
  });
});

describe('writes and reads', () => {
  for (const [name, dir] of [['tmpfs', shmDir], ['disk', diskDir]] as const) {
    it(`writes and reads at every boundary match a model of the file (${name})`, () => {
      const path = fresh(dir);
      const f = openFile(path, { create: true });
      const length = 3 * PAGE + 17;
      f.grow(length);
      const model = new Uint8Array(length);
      const src = pattern(2 * PAGE + 5, 3);
      // Every edge: both ends of the file, page boundaries, empty writes, the end exactly.
      const edges = [0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, length - PAGE, length - 1, length];
      for (const offset of edges) {
        for (const n of [0, 1, 7, PAGE, PAGE + 1]) {
          if (offset + n > length) {
            throwsCode(() => f.write(offset, src, 0, n), 'ERANGE', 'outside the file', 'grow it first');
            throwsCode(() => f.read(offset, new Uint8Array(n), 0, n), 'ERANGE', 'outside the file');
            continue;
          }
          const from = (offset * 13 + n) % (src.length - n + 1);
          f.write(offset, src, from, n);
          model.set(src.subarray(from, from + n), offset);
          const back = new Uint8Array(n + 2).fill(0xee);
          f.read(offset, back, 1, n);
          assert.deepEqual(back.subarray(1, n + 1), model.subarray(offset, offset + n));
          assert.equal(back[0], 0xee, 'nothing before dstOffset');
          assert.equal(back[n + 1], 0xee, 'nothing after dstOffset + length');
        }
      }
      // Defaults: the rest of the array from srcOffset.
      f.write(5, src.subarray(0, 10));
      model.set(src.subarray(0, 10), 5);
      f.write(100, src.subarray(0, 10), 4);
      model.set(src.subarray(4, 10), 100);
      const whole = new Uint8Array(length);
      f.read(0, whole);
      assert.deepEqual(whole, model);
      assert.deepEqual(new Uint8Array(readFileSync(path)), model, 'the file holds exactly the model');
      f.sync();
      f.close();
    });
  }

  it('random writes of any size and alignment match the model (property)', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    const length = 5 * PAGE + 3;
    f.grow(length);
    const model = new Uint8Array(length);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ offset: fc.nat(length), size: fc.nat(2 * PAGE + 1), seed: fc.nat(255), from: fc.nat(64) }),
          { maxLength: 20 },
        ),
        (writes) => {
          for (const w of writes) {
            const src = pattern(w.size + 64, w.seed);
            const n = Math.min(w.size, length - w.offset);
            f.write(w.offset, src, w.from, n);
            model.set(src.subarray(w.from, w.from + n), w.offset);
          }
          const all = new Uint8Array(length);
          f.read(0, all);
          assert.deepEqual(all, model);
        },
      ),
      { numRuns: 80 },
    );
    assert.deepEqual(new Uint8Array(readFileSync(path)), model);
    f.close();
  });

  it('ERANGE for array ranges past the array, before anything is written', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    f.grow(64);
    const src = new Uint8Array(8).fill(1);
    throwsCode(() => f.write(0, src, 9), 'ERANGE', 'past the end of the array');
    throwsCode(() => f.write(0, src, 4, 5), 'ERANGE', 'past the end of the array');
    throwsCode(() => f.read(0, new Uint8Array(8), 2, 7), 'ERANGE', 'past the end of the array');
    f.write(0, src, 8); // empty: allowed
    f.write(0, src, 8, 0);
    assert.ok(new Uint8Array(readFileSync(path)).every((b) => b === 0), 'nothing was written');
    f.close();
  });

  it('a Buffer, a subarray and a SharedArrayBuffer view are Uint8Arrays too', () => {
    const f = openFile(fresh(), { create: true });
    f.grow(32);
    f.write(0, Buffer.from('abc'));
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    shared.set([7, 8, 9, 10]);
    f.write(3, shared.subarray(1, 3));
    const out = Buffer.alloc(5);
    f.read(0, out);
    assert.deepEqual([...out], [97, 98, 99, 8, 9]);
    const sharedOut = new Uint8Array(new SharedArrayBuffer(2));
    f.read(3, sharedOut);
    assert.deepEqual([...sharedOut], [8, 9]);
    f.close();
  });

  it('a read that finds the file shorter than its length (another program truncated it) is EIO, not a hang', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    f.grow(4 * PAGE);
    execFileSync('truncate', ['-s', String(PAGE), path]);
    throwsCode(() => f.read(0, new Uint8Array(2 * PAGE)), 'EIO', 'truncated by another program');
    throwsCode(() => f.grow(8 * PAGE), 'EIO', 'truncated by another program');
    f.close();
  });
});

describe('grow', () => {
  for (const [name, dir] of [['tmpfs', shmDir], ['disk', diskDir]] as const) {
    it(`makes the file longer, the new bytes zero and allocated; keeps what was written (${name})`, () => {
      const path = fresh(dir);
      const f = openFile(path, { create: true });
      f.grow(1000);
      f.write(0, pattern(1000, 1));
      f.grow(1000); // equal: nothing
      assert.equal(f.length, 1000);
      f.grow(10 * PAGE + 3);
      assert.equal(f.length, 10 * PAGE + 3);
      const st = statSync(path);
      assert.equal(st.size, 10 * PAGE + 3);
      assert.ok(st.blocks * 512 >= 10 * PAGE, `every byte allocated (${st.blocks * 512} bytes)`);
      const file = new Uint8Array(readFileSync(path));
      assert.deepEqual(file.subarray(0, 1000), pattern(1000, 1));
      assert.ok(file.subarray(1000).every((b) => b === 0));
      throwsCode(() => f.grow(999), 'EINVAL', 'newLength', 'less than');
      throwsCode(() => f.grow(1.5), 'EINVAL', 'newLength');
      throwsCode(() => f.grow(-1), 'EINVAL', 'newLength');
      assert.equal(f.stats().grows, 2);
      f.close();
    });
  }

  it('a grow far beyond the free space fails at once with ENOSPC and leaves the file as it was', () => {
    const path = fresh(diskDir);
    const f = openFile(path, { create: true });
    f.grow(PAGE);
    f.write(0, pattern(PAGE, 2));
    throwsCode(() => f.grow(2 ** 50), 'ENOSPC', 'statvfs');
    assert.equal(f.length, PAGE);
    assert.equal(statSync(path).size, PAGE);
    f.write(0, pattern(PAGE, 3)); // still usable
    f.close();
  });

  it('keeps bytes another writer appended past its length, allocating them', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    f.grow(PAGE);
    writeFileSync(path, Buffer.from(pattern(3 * PAGE, 4)), { flag: 'r+' }); // now 3 pages
    f.grow(2 * PAGE);
    assert.equal(statSync(path).size, 3 * PAGE, 'never cut off');
    const b = new Uint8Array(2 * PAGE);
    f.read(0, b);
    assert.deepEqual(b, pattern(3 * PAGE, 4).subarray(0, 2 * PAGE));
    f.close();
  });
});

describe('a closed handle', () => {
  it('every method throws ECLOSED, close is idempotent, length is 0', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    f.grow(10);
    f.close();
    f.close();
    assert.equal(f.closed, true);
    assert.equal(f.length, 0);
    throwsCode(() => f.write(0, new Uint8Array(1)), 'ECLOSED', path);
    throwsCode(() => f.read(0, new Uint8Array(1)), 'ECLOSED', path);
    throwsCode(() => f.sync(), 'ECLOSED', path);
    throwsCode(() => f.grow(20), 'ECLOSED', path);
    // Its descriptor is gone: no fd of this process names the file any more (descriptors that
    // other code closes while we look are skipped).
    const open = readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
    assert.equal(open, false, 'the descriptor was closed');
  });
});

describe('stats', () => {
  it('counts writes, bytes, reads, syncs and grows', () => {
    const f = openFile(fresh(), { create: true });
    f.grow(100);
    f.write(0, new Uint8Array(10));
    f.write(10, new Uint8Array(5));
    f.write(10, new Uint8Array(0));
    f.read(0, new Uint8Array(7));
    f.sync();
    f.sync();
    assert.deepEqual(f.stats(), { writes: 3, bytesWritten: 15, reads: 1, bytesRead: 7, syncs: 2, grows: 1 });
    f.close();
  });
});

describe('arguments that must never crash', () => {
  const CODES = new Set(['EINVAL', 'ERANGE', 'EACCES', 'ECLOSED']);
  function outcome(fn: () => unknown): string {
    try {
      fn();
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof FerriteError, `a FerriteError, got ${String(err)}`);
      assert.ok(CODES.has(err.code), `a documented code, got ${err.code}: ${err.message}`);
      return err.code;
    }
  }

  it('detached arrays, other typed arrays, DataViews, plain arrays and read-only memory are refused with EINVAL', () => {
    const path = fresh();
    const f = openFile(path, { create: true });
    f.grow(PAGE);
    const detached = new Uint8Array(16);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    throwsCode(() => f.write(0, detached), 'EINVAL', 'detached');
    throwsCode(() => f.read(0, detached), 'EINVAL', 'detached');
    throwsCode(() => f.write(0, new Uint16Array(4) as unknown as Uint8Array), 'EINVAL', 'Uint8Array');
    throwsCode(() => f.write(0, new Uint8ClampedArray(4) as unknown as Uint8Array), 'EINVAL', 'Uint8Array');
    throwsCode(() => f.write(0, new DataView(new ArrayBuffer(4)) as unknown as Uint8Array), 'EINVAL', 'Uint8Array');
    throwsCode(() => f.write(0, [1, 2] as unknown as Uint8Array), 'EINVAL', 'Uint8Array');
    throwsCode(() => f.write(0, new ArrayBuffer(4) as unknown as Uint8Array), 'EINVAL', 'Uint8Array');
    // A read into a read-only mapping: the kernel refuses to store there (EFAULT), no fault.
    const ro = map(path, { protection: 'r' });
    throwsCode(() => f.read(0, ro.bytes, 0, 8), 'EINVAL', 'not writable');
    f.write(0, ro.bytes, 0, 8); // reading from it is fine
    ro.close();
    // An array over a closed mapping is detached.
    const m = map(fresh(), { create: { size: PAGE } });
    const bytes = m.bytes;
    m.close();
    throwsCode(() => f.write(0, bytes), 'EINVAL', 'detached');
    f.close();
  });

  it('write, read, grow and sync survive arbitrary arguments (fuzz)', () => {
    const handles: FileHandle[] = [];
    const make = (readOnly: boolean): FileHandle => {
      const path = fresh();
      const w = openFile(path, { create: true });
      w.grow(4 * PAGE);
      if (!readOnly) {
        handles.push(w);
        return w;
      }
      w.close();
      const r = openFile(path, { readOnly: true });
      handles.push(r);
      return r;
    };
    const targets = [make(false), make(true)];
    const edgy = fc.oneof(
      fc.constantFrom(0, 1, -1, PAGE - 1, PAGE, 4 * PAGE, 4 * PAGE + 1, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER, -0,
        0.5, Number.NaN, Number.POSITIVE_INFINITY, undefined, null),
      fc.integer({ min: -10, max: 5 * PAGE }),
      fc.anything(),
    );
    const arrays = fc.oneof(
      fc.constantFrom(new Uint8Array(0), new Uint8Array(10), Buffer.alloc(PAGE), new Uint16Array(3)),
      fc.uint8Array({ maxLength: 64 }),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.constantFrom('write', 'read', 'grow', 'sync'), edgy, arrays, edgy, edgy,
        (which, method, a, array, c, d) => {
          const f = targets[which];
          const before = f.length;
          const call = f as unknown as Record<string, (...xs: unknown[]) => unknown>;
          if (method === 'grow') {
            // Bounded so the files stay small.
            outcome(() => call.grow.call(f, typeof a === 'number' && a > 8 * PAGE ? -1 : a));
          } else {
            outcome(() => call[method].call(f, a, array, c, d));
          }
          if (method !== 'grow') assert.equal(f.length, before);
          // The handle still works whatever happened.
          const one = new Uint8Array(1);
          f.read(0, one);
          if (!f.readOnly) f.write(0, one);
        }),
      { numRuns: 1500 },
    );
    for (const h of handles) h.close();
  });
});
