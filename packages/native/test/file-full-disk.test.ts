/**
 * FileHandles and the I/O queue on a full file system (a tmpfs and a loop ext4 this test
 * mounts; root only, skipped with the reason elsewhere), and a write the kernel cuts short
 * (ulimit -f). A failed grow leaves the file exactly as it was; a write the file system
 * cannot place is ENOSPC; a queued one poisons the queue.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerriteError } from '@ferrite/core';
import { createIoQueue, openFile, pageSize } from '../src/index.js';
import { fixtureCommand, runShell, throwsCode } from './helpers.js';
import { smallFs } from './support/small-fs.js';

const PAGE = pageSize();
const tmpfs = smallFs('tmpfs', 8);
const ext4 = smallFs('ext4', 24);
const both = [
  ['tmpfs', tmpfs],
  ['ext4', ext4],
] as const;

function disk(path: string): { size: number; allocated: number } {
  const st = statSync(path);
  return { size: st.size, allocated: st.blocks * 512 };
}

describe('a full file system', () => {
  for (const [kind, fs] of both) {
    it(`grow fails with ENOSPC and leaves the file exactly as it was; a grow that fits works (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, () => {
      if (typeof fs === 'string') return;
      const work = mkdtempSync(join(fs.dir, 'grow-'));
      try {
        const path = join(work, 'log.wal');
        const f = openFile(path, { create: true });
        f.grow(64 * 1024);
        f.write(0, new Uint8Array(64 * 1024).fill(3));
        const filler = fs.fill(`filler-${kind}-grow`);
        const before = disk(path);
        throwsCode(() => f.grow(4 << 20), 'ENOSPC', path);
        assert.deepEqual(disk(path), before, 'size and allocation unchanged');
        assert.equal(f.length, 64 * 1024);
        throwsCode(() => f.grow(4 << 20), 'ENOSPC', path); // again, the same way
        assert.deepEqual(disk(path), before);
        f.write(100, new Uint8Array([4])); // the allocated bytes stay writable
        f.sync();
        rmSync(filler);
        f.grow(128 * 1024);
        assert.equal(disk(path).size, 128 * 1024);
        assert.ok(disk(path).allocated >= 128 * 1024);
        const back = new Uint8Array(readFileSync(path));
        assert.equal(back[100], 4);
        assert.equal(back[0], 3);
        f.close();
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });

    it(`a write into a hole of a sparse file is ENOSPC, a queued one poisons the queue; nothing lands (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, async () => {
      if (typeof fs === 'string') return;
      const work = mkdtempSync(join(fs.dir, 'hole-'));
      try {
        const path = join(work, 'sparse.pool');
        writeFileSync(path, new Uint8Array(PAGE).fill(1)); // one allocated page...
        execFileSync('truncate', ['-s', String(2 << 20), path]); // ...then a 2 MiB hole
        const f = openFile(path);
        const filler = fs.fill(`filler-${kind}-hole`);
        throwsCode(() => f.write(1 << 20, new Uint8Array(PAGE).fill(2)), 'ENOSPC', 'pwrite');
        const queue = createIoQueue();
        const first = queue.submit([{ op: 'write', file: f, offset: 10, data: new Uint8Array([5]) }]);
        const failing = queue.submit([{ op: 'write', file: f, offset: (1 << 20) + PAGE, data: new Uint8Array(PAGE).fill(6) }]);
        const later = queue.submit([{ op: 'write', file: f, offset: 20, data: new Uint8Array([7]) }]);
        await first;
        await assert.rejects(failing, (err: unknown) => err instanceof FerriteError && err.code === 'ENOSPC');
        await assert.rejects(later, (err: unknown) =>
          err instanceof FerriteError && err.code === 'ENOSPC' && err.message.includes('earlier failure'));
        const back = new Uint8Array(readFileSync(path));
        assert.equal(back.length, 2 << 20, 'the size is unchanged');
        assert.equal(back[10], 5, 'the program before the failure ran');
        assert.equal(back[20], 1, 'the program after it did not');
        assert.ok(back.subarray(PAGE).every((b) => b === 0), 'the hole is still zeros');
        rmSync(filler);
        f.close();
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  }
});

describe('a write the kernel cuts short (ulimit -f)', () => {
  it('the loop goes on after the short write and reports the failure that stops it (ERANGE); a queued one poisons', {
    skip: typeof tmpfs === 'string' ? tmpfs : false,
  }, () => {
    if (typeof tmpfs === 'string') return;
    const work = mkdtempSync(join(tmpfs.dir, 'limit-'));
    try {
      const path = join(work, 'limited.pool');
      const limit = 64 * 1024;
      writeFileSync(path, new Uint8Array(2 * limit)); // longer than the child may write to
      // bash counts `ulimit -f` in KiB.
      const command = fixtureCommand('file-limit.ts', [path, String(limit)]).replace(/'/g, `'\\''`);
      const res = runShell(`exec bash -c 'ulimit -f ${limit / 1024} && exec ${command}'`);
      assert.equal(res.signal, null, res.stderr);
      assert.equal(res.status, 0, res.stderr);
      const seen = JSON.parse(res.stdout) as Record<string, unknown>;
      assert.equal(seen.length, 2 * limit);
      assert.equal(seen.write, 'ERANGE', 'EFBIG at the limit, not a silent short write');
      assert.match(String(seen.writeMessage), /pwrite/);
      assert.equal(seen.program, 'ERANGE');
      assert.equal(seen.after, 'ERANGE', 'the queue is poisoned');
      const back = new Uint8Array(readFileSync(path));
      assert.ok(back.subarray(limit - 4096, limit - 2048).every((b) => b === 7), 'the short write landed');
      assert.ok(back.subarray(limit - 2048, limit).every((b) => b === 9), 'and the queued one\'s short part');
      assert.ok(back.subarray(limit).every((b) => b === 0), 'nothing past the limit');
      assert.equal(back[0], 0, 'nothing after the failure');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/**
 * An ext4 whose device cannot store what it accepted: a loop device over an image on a tmpfs
 * too small for it. Writes land in the page cache; writeback fails, so fdatasync fails.
 * Returns the mount point, or the reason it cannot be made.
 */
function failingDisk(): string | { dir: string } {
  if (process.getuid?.() !== 0) return 'mounting needs root';
  const work = mkdtempSync(join(tmpdir(), 'ferrite-eio-'));
  const back = join(work, 'back');
  const dir = join(work, 'mnt');
  mkdirSync(back);
  mkdirSync(dir);
  const steps: [string, string[]][] = [
    ['mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', back]],
    ['truncate', ['-s', '64M', join(back, 'img')]],
    ['mkfs.ext4', ['-q', '-F', '-m', '0', join(back, 'img')]],
    ['mount', ['-o', 'loop', join(back, 'img'), dir]],
  ];
  const cleanup = (): void => {
    spawnSync('umount', [dir]);
    spawnSync('umount', [back]);
    rmSync(work, { recursive: true, force: true });
  };
  for (const [cmd, args] of steps) {
    const res = spawnSync(cmd, args, { encoding: 'utf8' });
    if (res.status !== 0) {
      cleanup();
      return `${cmd} ${args.join(' ')}: ${res.stderr || String(res.error)}`;
    }
  }
  after(cleanup);
  return { dir };
}

describe('a failed fdatasync', () => {
  const failing = failingDisk();
  it('is sticky: every later sync of the file fails too (a raw fdatasync would report success once the error was consumed), and a queued one poisons the queue', {
    skip: typeof failing === 'string' ? failing : false,
  }, async () => {
    if (typeof failing === 'string') return;
    const f = openFile(join(failing.dir, 'log.wal'), { create: true });
    f.grow(16 << 20);
    f.write(0, new Uint8Array(16 << 20).fill(1)); // into the page cache: accepted
    const queue = createIoQueue();
    let first: unknown;
    await queue.submit([{ op: 'sync', file: f }]).catch((e: unknown) => (first = e));
    // The kernel reports the device's failure as ENOSPC (a loop device over a full file) or EIO.
    assert.ok(first instanceof FerriteError && (first.code === 'ENOSPC' || first.code === 'EIO'), String(first));
    assert.match(first.message, /fdatasync/);
    for (let i = 0; i < 3; i++) throwsCode(() => f.sync(), first.code, 'earlier fdatasync of this file failed');
    await assert.rejects(queue.submit([{ op: 'write', file: f, offset: 0, data: new Uint8Array(1) }]),
      (e: unknown) => e instanceof FerriteError && e.message.includes('earlier failure'));
    assert.equal(f.stats().syncs, 0, 'no sync succeeded');
    f.close();
  });
});
