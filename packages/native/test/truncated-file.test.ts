/**
 * A file another program cuts short while this process has it mapped or open: what the pool
 * file's writer needs to notice it (found in review: on the redo-log path a writer kept
 * committing into a pool file and a log that had been truncated under it). `checkFile()`
 * refuses a mapping the file no longer backs, `grow` never extends a cut file again with
 * zeros, and the `sync` of a writable FileHandle whose file is shorter than its length fails,
 * for good. Nothing here touches a byte past the cut: no fault can happen.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, truncateSync } from 'node:fs';
import { createIoQueue, map, openFile, pageSize } from '../src/index.js';
import { poolDirs, throwsCode } from './helpers.js';

const PAGE = pageSize();
const dirs = poolDirs('cut');

describe('checkFile(): the file still backs every page of the mapping', () => {
  for (const kind of ['shared', 'private', 'read-only'] as const) {
    for (const where of ['tmpfs', 'disk'] as const) {
      it(`${kind} mapping on ${where}: nothing before the cut, EIO after it (every time), nothing once the file is long again`, () => {
        const path = dirs.fresh(where === 'disk' ? dirs.disk : dirs.shm);
        openFile(path, { create: true }).close();
        const f = openFile(path);
        f.grow(8 * PAGE);
        f.close();
        const m =
          kind === 'shared' ? map(path, { protection: 'rw' })
          : kind === 'private' ? map(path, { protection: 'rw', copyOnWrite: true })
          : map(path, { protection: 'r', lock: 'none' });
        try {
          m.checkFile();
          truncateSync(path, 2 * PAGE);
          throwsCode(() => m.checkFile(), 'EIO', `truncated by another program to ${2 * PAGE} bytes`);
          throwsCode(() => m.checkFile(), 'EIO');
          truncateSync(path, 8 * PAGE); // no page was touched: the mapping shows the file again
          m.checkFile();
        } finally {
          m.close();
        }
        throwsCode(() => m.checkFile(), 'ECLOSED');
      });
    }
  }

  it('a file longer than the mapping is fine', () => {
    const path = dirs.fresh();
    const m = map(path, { create: { size: 4 * PAGE } });
    try {
      truncateSync(path, 16 * PAGE);
      m.checkFile();
    } finally {
      m.close();
    }
  });
});

describe('grow of a mapping whose file was cut: EIO, the file left as it was', () => {
  it('shared: never extends the file again with zeros where its bytes were', () => {
    const path = dirs.fresh(dirs.disk);
    const m = map(path, { create: { size: 8 * PAGE } });
    try {
      truncateSync(path, 2 * PAGE);
      throwsCode(() => m.grow!(16 * PAGE), 'EIO', 'truncated by another program');
      assert.equal(statSync(path).size, 2 * PAGE, 'the file keeps the length it was cut to');
      assert.equal(m.length, 8 * PAGE, 'the mapping is as it was');
    } finally {
      m.close();
    }
  });

  it('private: EIO (not ERANGE "grow the file first")', () => {
    const path = dirs.fresh(dirs.disk);
    map(path, { create: { size: 8 * PAGE } }).close();
    const m = map(path, { protection: 'rw', copyOnWrite: true });
    try {
      truncateSync(path, 2 * PAGE);
      throwsCode(() => m.grow!(16 * PAGE), 'EIO');
      truncateSync(path, 16 * PAGE); // the file long enough again, and no page was touched
      m.grow!(16 * PAGE);
      assert.equal(m.length, 16 * PAGE);
    } finally {
      m.close();
    }
  });
});

describe('FileHandle.sync of a file cut by another program', () => {
  it('a writable handle: EIO, then every later sync too (direct and queued); the file is not extended', async () => {
    const path = dirs.fresh(dirs.disk);
    const f = openFile(path, { create: true });
    try {
      f.grow(4 * PAGE);
      f.write(3 * PAGE, new Uint8Array(16).fill(7));
      f.sync();
      truncateSync(path, PAGE);
      throwsCode(() => f.sync(), 'EIO', 'truncated by another program');
      truncateSync(path, 4 * PAGE); // long again, but what was past the cut is gone
      throwsCode(() => f.sync(), 'EIO');
      const q = createIoQueue();
      await assert.rejects(q.submit([{ op: 'sync', file: f }]), (e: unknown) => (e as { code?: string }).code === 'EIO');
      assert.equal(f.stats().syncs, 1);
    } finally {
      f.close();
    }
  });

  it('a write past the cut, then sync: EIO (the hole before it is what the cut took)', () => {
    const path = dirs.fresh(dirs.disk);
    const f = openFile(path, { create: true });
    try {
      f.grow(8 * PAGE);
      truncateSync(path, PAGE);
      f.write(2 * PAGE, new Uint8Array(100).fill(1)); // pwrite extends the cut file: no error here
      throwsCode(() => f.sync(), 'EIO');
    } finally {
      f.close();
    }
  });

  it('a read-only handle syncs a file whose length another descriptor owns: no error', () => {
    const path = dirs.fresh(dirs.disk);
    const w = openFile(path, { create: true });
    w.grow(4 * PAGE);
    const r = openFile(path, { readOnly: true });
    try {
      truncateSync(path, PAGE);
      r.sync();
    } finally {
      r.close();
      w.close();
    }
  });

  it("the handle's own truncate is no cut: sync goes on", () => {
    const path = dirs.fresh(dirs.disk);
    const f = openFile(path, { create: true });
    try {
      f.grow(4 * PAGE);
      f.truncate(PAGE);
      f.sync();
      f.grow(2 * PAGE);
      f.sync();
    } finally {
      f.close();
    }
  });
});
