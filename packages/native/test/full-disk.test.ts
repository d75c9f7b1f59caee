/**
 * A full file system, a sparse file, a file changed under a mapping, a mapping above the
 * runtime's largest ArrayBuffer: each used to kill the process (SIGBUS, SIGABRT). Each runs
 * in a child process on a small file system this test mounts (tmpfs with size=, a
 * loop-mounted ext4), so that a signal is an exit status to assert on, not the end of the run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { pageSize } from '../src/index.js';
import { fileURLToPath } from 'node:url';
import { fixtureCommand, runFixture, runShell } from './helpers.js';
import { node20, node24, runWithNode } from './support/node24.js';
import { smallFs } from './support/small-fs.js';

const PAGE = pageSize();
const tmpfs = smallFs('tmpfs', 8);
const ext4 = smallFs('ext4', 24);
const both = [
  ['tmpfs', tmpfs],
  ['ext4', ext4],
] as const;

interface Disk {
  size: number;
  allocated: number;
}

/** Runs a scenario of fixtures/full-disk.ts in a fresh directory of `dir`; asserts it exited normally. */
function scenario(name: string, dir: string, node?: string): Record<string, unknown> {
  const work = mkdtempSync(join(dir, `${name}-`));
  try {
    const child = runFixture('full-disk.ts', [name, work], [], node);
    assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout) as Record<string, unknown>;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

describe('grow on a full file system', () => {
  for (const [kind, fs] of both) {
    it(`a grow beyond the free space fails with ENOSPC and leaves the file as it was; a retry cannot reach a sparse tail (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, () => {
      if (typeof fs === 'string') return;
      const seen = scenario('grow', fs.dir);
      assert.equal(seen.first, 'ENOSPC');
      assert.match(String(seen.firstMessage), /grow\(.*grow\.pool\).*free/);
      assert.deepEqual(seen.afterFirst, seen.before, 'size and allocation unchanged');
      assert.equal(seen.second, 'ENOSPC', 'the same grow again fails the same way');
      assert.deepEqual(seen.afterSecond, seen.before);
      assert.equal(seen.length, 16 * PAGE, 'the mapping kept its length');
      assert.equal(seen.patternKept, true);
      assert.equal(seen.fits, 'ok', 'a grow that fits works afterwards');
      assert.equal(seen.grown, 20 * PAGE);
      const end = seen.end as Disk;
      assert.equal(end.size, 20 * PAGE);
      assert.ok(end.allocated >= end.size, `every byte allocated: ${JSON.stringify(end)}`);
      assert.equal(seen.reread, true, 'what was persisted is in the file');
    });
  }

  it('a grow whose ftruncate fails after its blocks were reserved (ulimit -f) gives them back', {
    skip: typeof tmpfs === 'string' ? tmpfs : false,
  }, () => {
    if (typeof tmpfs === 'string') return;
    const work = mkdtempSync(join(tmpfs.dir, 'limit-'));
    try {
      // bash counts `ulimit -f` in KiB: 64 pages.
      const res = runShell(`exec bash -c 'ulimit -f ${(64 * PAGE) / 1024} && exec ${fixtureCommand('full-disk.ts', ['limit', work]).replace(/'/g, `'\\''`)}'`);
      assert.equal(res.signal, null, res.stderr);
      assert.equal(res.status, 0, res.stderr);
      const seen = JSON.parse(res.stdout) as Record<string, unknown>;
      assert.equal(seen.grow, 'ERANGE', 'EFBIG: the file may not be that long');
      assert.deepEqual(seen.after, seen.before, 'the blocks reserved past the end were released');
      assert.equal(seen.length, 32 * PAGE);
      assert.equal(seen.fits, 'ok');
      assert.deepEqual(seen.end, { size: 48 * PAGE, allocated: 48 * PAGE });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('sparse files', () => {
  for (const [kind, fs] of both) {
    it(`a writable map of a sparse file larger than the free space is refused with ENOSPC, untouched (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, () => {
      if (typeof fs === 'string') return;
      const seen = scenario('sparse-open', fs.dir);
      assert.equal(seen.rw, 'ENOSPC');
      assert.match(String(seen.rwMessage), /sparse/);
      assert.deepEqual(seen.after, seen.before, 'size and allocation unchanged');
      assert.equal(seen.readOnlyZero, true, 'a read-only map still reads it (holes read as zeros)');
      assert.equal(seen.smallAllocated, true, 'a sparse file that fits is allocated at open');
    });

    it(`a grow into a sparse tail the file already has allocates it first, or fails with ENOSPC (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, () => {
      if (typeof fs === 'string') return;
      const seen = scenario('grow-tail', fs.dir);
      assert.equal(seen.intoTail, 'ENOSPC');
      assert.equal((seen.afterTail as Disk).size, (seen.before as Disk).size, 'the size is unchanged');
      assert.equal(seen.small, 'ok');
      assert.equal(seen.smallAllocated, true);
      assert.equal(seen.length, 64 * PAGE);
    });
  }
});

describe('the fault guard: a store or load the file system cannot serve', () => {
  for (const [kind, fs] of both) {
    it(`a store into a page another tool punched out, on a full file system, is kept in memory and the next persist throws ENOSPC (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, () => {
      if (typeof fs === 'string') return;
      const seen = scenario('punched', fs.dir);
      assert.equal(seen.stored, 0xab, 'the store landed (in a private page) and reads back');
      assert.equal(seen.otherPagesKept, true);
      assert.equal(seen.persist, 'ENOSPC');
      assert.match(String(seen.persistMessage), /SIGBUS.*offset 20480|SIGBUS/);
      assert.match(String(seen.persistMessage), /map the file again/);
      assert.equal(seen.drain, 'ENOSPC', 'drain refuses too');
      assert.equal(seen.flushRanges, 'ENOSPC', 'flushRanges refuses too');
      assert.equal(seen.grow, 'ENOSPC', 'grow refuses (it would drop the private page)');
      assert.equal(seen.faults, 1);
      assert.equal(seen.reopenedPage5, 0, 'the file never got the store that faulted');
      assert.equal(seen.reopenedOthers, true);
      assert.equal(seen.reopenedPersist, 'ok', 'with space again, a new mapping works');
    });
  }

  // Found in review: each diverted page split the mapping, and a walk over many holes (check()
  // reading every chunk header of a pool another program punched, on a full tmpfs) passed the
  // kernel's limit on mappings: SIGBUS, the process died.
  it('loads from 512 punched-out pages on a full tmpfs read zeros through a few mappings; the other pages keep their bytes', {
    skip: typeof tmpfs === 'string' ? tmpfs : false,
  }, () => {
    if (typeof tmpfs === 'string') return;
    const seen = scenario('punched-walk', tmpfs.dir);
    assert.equal(seen.holesRead, 0, 'a hole reads as zeros');
    assert.equal(seen.othersKept, true, 'the pages around the holes keep their bytes');
    assert.ok((seen.faults as number) >= 1);
    assert.ok((seen.mappingsAdded as number) < 32, `${String(seen.mappingsAdded)} mappings for 512 holes`);
    assert.equal(seen.persist, 'ENOSPC');
  });

  it('a load from a mapped file that another program truncated reads zeros and the next persist throws EIO', {
    skip: typeof tmpfs === 'string' ? tmpfs : false,
  }, () => {
    if (typeof tmpfs === 'string') return;
    const seen = scenario('truncated', tmpfs.dir);
    assert.equal(seen.read, 0);
    assert.equal(seen.firstPageKept, true);
    assert.equal(seen.persist, 'EIO');
    assert.match(String(seen.persistMessage), /truncated by another program/);
  });
});

describe('a long tail cut away by another program (a heap walk over it)', () => {
  // Found in review: every faulting page became a mapping of its own, and a walk over a tail
  // of more than ~32,000 pages reached vm.max_map_count: the process died with SIGBUS.
  it('reads zeros from every page past the cut with a handful of mappings, and the next persist throws', () => {
    const seen = scenario('truncated-walk', '/dev/shm');
    for (const protection of ['rw', 'r']) {
      assert.equal(seen[`${protection}.sum`], 0, `${protection}: zeros past the cut`);
      assert.equal(seen[`${protection}.firstPageKept`], true, `${protection}: the page before the cut is the file's`);
      assert.ok((seen[`${protection}.faults`] as number) >= 1, `${protection}: the fault is counted`);
      assert.ok((seen[`${protection}.mappings`] as number) < 5000, `${protection}: ${String(seen[`${protection}.mappings`])} mappings`);
    }
    assert.equal(seen.persist, 'EIO');
  });
});

describe('mappings above the runtime\'s largest ArrayBuffer (Node 20: 4 GiB)', () => {
  // Node 20's limit: these run there, whichever Node runs the suite.
  const n20 = bufferConstants.MAX_LENGTH <= 2 ** 32 ? { bin: process.execPath } : node20();

  it('are refused up front with ERANGE naming the limit, never an abort', {
    skip: 'skip' in n20 ? n20.skip : false,
  }, () => {
    if ('skip' in n20) return;
    const seen = scenario('big', '/dev/shm', n20.bin);
    assert.equal(seen.map, 'ERANGE');
    assert.match(String(seen.mapMessage), /Node 20\.[0-9.]+.*4294967296 bytes.*Node 22 and later/);
    assert.equal(seen.create, 'ERANGE');
    assert.equal(seen.createLeftFile, -1, 'nothing was created');
  });

  it('a grow past it is refused with ERANGE before the file changes', {
    skip: 'skip' in n20 ? n20.skip : false,
  }, () => {
    if ('skip' in n20) return;
    const seen = scenario('big-grow', tmpdir(), n20.bin);
    assert.equal(seen.grow, 'ERANGE');
    assert.match(String(seen.growMessage), /Node 22 and later/);
    assert.deepEqual(seen.after, seen.before);
    assert.equal(seen.length, 2 ** 32 - 16 * PAGE);
    assert.equal(seen.lastByte, 0x42);
  });
});

describe('with Node 24 (ArrayBuffers above 4 GiB)', () => {
  const n24 = node24();
  it('a create of 2^40 bytes on a disk with less free space fails at once with ENOSPC, reserving nothing, leaving nothing', {
    skip: 'skip' in n24 ? n24.skip : false,
  }, () => {
    if ('skip' in n24) return;
    const work = mkdtempSync(join(tmpdir(), 'huge-'));
    try {
      const fixture = fileURLToPath(new URL('./fixtures/full-disk.ts', import.meta.url));
      const child = runWithNode(n24.bin, fixture, ['huge-create', work]);
      assert.equal(child.signal, null, child.stderr);
      assert.equal(child.status, 0, child.stderr);
      const seen = JSON.parse(child.stdout) as Record<string, unknown>;
      assert.equal(seen.create, 'ENOSPC');
      assert.match(String(seen.createMessage), /statvfs: 1099511627776 bytes are needed/);
      assert.ok((seen.reservedGiB as number) < 1, `reserved ${String(seen.reservedGiB)} GiB`);
      assert.equal(seen.left, '', 'no file and no temporary');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
