/**
 * Space reclaim: compaction of a pool file in place (`compactPoolFile`), `store.shrink()`, and
 * free space reused before the pool grows.
 *
 * - A pool of 100k entries with 90% deleted compacts to at most 1.2x its live data plus a
 *   fixed overhead, "live data" being the bytes in blocks a fresh store holding exactly the
 *   surviving entries uses (`stats().pool.used`).
 * - The compacted pool equals the old one (every collection), checks clean, keeps layout,
 *   maxSize and log capacity, gets a new uuid; a redo log the old pool left is ignored; a
 *   temporary a killed compaction left is removed by the next one; a writer's lock is EBUSY.
 * - A fill–clear–fill cycle does not grow the file; clear + shrink gives the space back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import { Prng } from '@ferrite/core/testing';
import { CHUNK_SIZE } from '@ferrite/heap';
import { Store, compactPoolFile, compactTempPath } from '../src/index.js';
import { diskDir } from './crash/kill-loop.js';
import { fillFixture } from './support/backup-fixture.js';
import { assertSameStore } from './support/same-store.js';

function code(c: ErrorCode) {
  return (e: unknown) => isFerriteError(e, c);
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-compact-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const value = (i: number): { name: string; size: number; mtime: number } => ({ name: `file-${i}.txt`, size: i * 13, mtime: 1_700_000_000 + i });

test('100k entries of each kind, 90% deleted: the compacted file is at most 1.2x the live data plus a fixed overhead', () => {
  withDir((dir) => {
    const path = join(dir, 'big.pool');
    const store = Store.open(path, { create: true, size: 4 << 20, maxSize: 1 << 30 });
    const m = store.map<number, { name: string; size: number; mtime: number }>('files');
    const sm = store.sortedMap<[number, string], number>('dirents');
    const q = store.queue<{ name: string; size: number; mtime: number }>('journal');
    const N = 100_000;
    for (let b = 0; b < N / 1000; b++) {
      store.transaction(() => {
        for (let i = b * 1000; i < (b + 1) * 1000; i++) {
          m.set(i, value(i));
          sm.set([i % 977, `entry-${i}`], i);
          q.push(value(i));
        }
      });
    }
    const prng = new Prng(9);
    const keep: number[] = [];
    for (let b = 0; b < N / 1000; b++) {
      store.transaction(() => {
        for (let i = b * 1000; i < (b + 1) * 1000; i++) {
          if (prng.nextU32() % 10 === 0) keep.push(i);
          else {
            m.delete(i);
            sm.delete([i % 977, `entry-${i}`]);
          }
        }
      });
    }
    store.transaction(() => {
      for (let i = 0; i < N - keep.length; i++) q.shift();
    });
    store.close();
    const before = statSync(path).size;
    // The live data: the bytes in blocks (`stats().pool.used`) of a fresh store holding
    // exactly the surviving entries, written in random order as an application would.
    const fresh = Store.open(join(dir, 'fresh.pool'), { create: true, size: 1 << 20, maxSize: 1 << 30 });
    const order = keep.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = prng.nextU32() % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    fresh.transaction(() => {
      for (const i of order) fresh.map('files').set(i, value(i));
      for (const i of order) fresh.sortedMap('dirents').set([i % 977, `entry-${i}`], i);
      for (let i = N - keep.length; i < N; i++) fresh.queue('journal').push(value(i));
    });
    const heapOffset = (fresh as unknown as { pool: { heapOffset: number } }).pool.heapOffset;
    const live = fresh.stats().pool.used;
    fresh.shrink();
    const freshFile = statSync(join(dir, 'fresh.pool')).size;
    fresh.close();
    const info = compactPoolFile(path);
    const after = statSync(path).size;
    assert.equal(info.bytesBefore, before);
    assert.equal(info.bytesAfter, after);
    assert.equal(info.entries, 3 * keep.length);
    // Fixed overhead: the header and undo log area, and a partly used chunk per block size.
    const fixed = heapOffset + 8 * CHUNK_SIZE;
    const again = Store.open(path, { readOnly: true });
    const used = again.stats().pool.used;
    console.log(`# ${N} entries of each kind, ${keep.length} kept: ${before} bytes -> ${after}; live data ${live} ` +
      `(ratio ${((after - fixed) / live).toFixed(3)} after ${fixed} fixed); the copy's blocks ${used}; a fresh store of the same entries, shrunk: ${freshFile}`);
    assert.ok(after <= 1.2 * live + fixed, `compacted ${after} bytes > 1.2 x ${live} + ${fixed}`);
    assert.ok(after <= freshFile, `no larger than a fresh store holding the same entries (${after} > ${freshFile})`);
    assert.ok(after < before / 4, `compacted ${after} of ${before}`);
    try {
      assert.ok(again.check().ok);
      const files = again.map<number, { name: string; size: number; mtime: number }>('files');
      assert.equal(files.size, keep.length);
      for (const i of keep) assert.deepEqual(files.get(i), value(i));
      const dirents = [...again.sortedMap<[number, string], number>('dirents')];
      assert.deepEqual(dirents.map(([, v]) => v).sort((a, b) => a - b), keep.slice().sort((a, b) => a - b));
      assert.deepEqual([...again.queue('journal')].map((v) => (v as { size: number }).size / 13), keep.map((_, k) => N - keep.length + k));
    } finally {
      again.close();
    }
  });
});

test('a rebuilt hash map gets its table at its final size: filling it never doubles it', () => {
  withDir((dir) => {
    /** Table segments (4 KiB blocks) after creating the map and after 10,000 entries; bytes in blocks then. */
    const usage = (presized: boolean): { segmentsCreated: number; segmentsFilled: number; used: number } => {
      const s = Store.open(join(dir, `m${String(presized)}.pool`), { create: true, size: 1 << 20, maxSize: 1 << 28 });
      const segments = (): number => s.stats().pool.perClass.find((c) => c.size === 4096)!.allocated;
      try {
        const m = presized ? s.map('m', { expectedSize: 10_000 }) : s.map('m');
        const segmentsCreated = segments();
        s.transaction(() => {
          for (let i = 0; i < 10_000; i++) m.set(i, i);
        });
        assert.equal(m.size, 10_000);
        assert.deepEqual(m.validate(), []);
        return { segmentsCreated, segmentsFilled: segments(), used: s.stats().pool.used };
      } finally {
        s.close();
      }
    };
    const plain = usage(false);
    const sized = usage(true);
    // 10,000 entries need 16,384 buckets: 256 segments of 64 slots.
    assert.deepEqual([sized.segmentsCreated, sized.segmentsFilled], [256, 256], 'the presized table is made whole and never replaced');
    assert.ok(plain.segmentsFilled > plain.segmentsCreated, `a map grown from the smallest table doubles as it fills (${JSON.stringify(plain)})`);
    assert.ok(sized.used < plain.used, `nothing of a table it migrated from is left (${sized.used} < ${plain.used})`);
  });
});

test('compactPoolFile: the same data, a new uuid, layout, maxSize and log capacity kept; the file replaced; nothing left beside it', () => {
  withDir((dir) => {
    const path = join(dir, 'app.pool');
    const store = Store.open(path, { create: true, size: 1 << 20, maxSize: 128 << 20, layout: 'app-layout' });
    fillFixture(store, 4);
    store.transaction(() => {
      for (let i = 0; i < 5000; i++) store.map<number, string>('gone').set(i, 'z'.repeat(300));
    });
    store.drop('gone');
    const heapOffset = (store as unknown as { pool: { heapOffset: number } }).pool.heapOffset;
    const uuidBefore = (store as unknown as { pool: { uuid: string } }).pool.uuid;
    store.close();
    copyFileSync(path, join(dir, 'reference.pool'));
    const inode = statSync(path).ino;
    const seen: number[] = [];
    const info = compactPoolFile(path, { onProgress: (p) => seen.push(p.done) });
    assert.ok(seen.length > 0 && seen[seen.length - 1] === info.entries);
    assert.equal(info.uuidBefore, uuidBefore);
    assert.notEqual(info.uuid, uuidBefore);
    assert.notEqual(statSync(path).ino, inode, 'a new file took the name');
    assert.ok(info.bytesAfter < info.bytesBefore);
    assert.deepEqual(readdirSync(dir).sort(), ['app.pool', 'reference.pool']);
    const ref = Store.open(join(dir, 'reference.pool'), { readOnly: true });
    const compacted = Store.open(path);
    try {
      assert.ok(compacted.check().ok, JSON.stringify(compacted.check().problems.slice(0, 3)));
      assertSameStore(compacted, ref);
      assert.equal(compacted.layout, 'app-layout');
      assert.equal(compacted.stats().pool.maxSize, 128 << 20);
      assert.equal((compacted as unknown as { pool: { heapOffset: number } }).pool.heapOffset, heapOffset);
    } finally {
      ref.close();
      compacted.close();
    }
  });
});

test('compactPoolFile of a pool a crash left with a redo log: the log is replayed into the copy, then ignored by it', () => {
  withDir((dir) => {
    const path = join(dir, 'crashed.pool');
    const store = Store.open(path, { create: true, size: 1 << 20 });
    store.map<string, number>('m').set('before', 1);
    store.close();
    // A writer that dies with commits only in its log: copy the pool file and the log as they
    // are while it runs (what a SIGKILL leaves: the log synced, the pool file maybe not).
    const w = Store.open(path);
    w.map<string, number>('m').set('committed in the log', 2);
    copyFileSync(path, join(dir, 'image.pool'));
    copyFileSync(`${path}.wal`, join(dir, 'image.pool.wal'));
    w.close();
    const image = join(dir, 'image.pool');
    const info = compactPoolFile(image);
    assert.equal(info.entries, 2);
    assert.ok(existsSync(`${image}.wal`), 'the old log stays');
    const s = Store.open(image);
    try {
      assert.deepEqual([...s.map<string, number>('m')].sort(), [['before', 1], ['committed in the log', 2]]);
      assert.ok(s.check().ok);
      s.map<string, number>('m').set('after', 3);
    } finally {
      s.close();
    }
    const s2 = Store.open(image, { readOnly: true });
    assert.equal(s2.map<string, number>('m').size, 3, 'the new pool\'s own log replaced the old one');
    s2.close();
  });
});

test('compactPoolFile: EBUSY while a writer holds the pool (nothing changed), ENOENT, EINVAL for a symbolic link, a killed compaction\'s temporary removed', () => {
  withDir((dir) => {
    const path = join(dir, 'p.pool');
    const store = Store.open(path, { create: true, size: 1 << 20 });
    store.map('m').set(1, 1);
    const before = statSync(path);
    assert.throws(() => compactPoolFile(path), code('EBUSY'));
    assert.equal(statSync(path).ino, before.ino);
    assert.equal(existsSync(compactTempPath(path)), false);
    store.close();
    assert.throws(() => compactPoolFile(join(dir, 'none.pool')), code('ENOENT'));
    assert.throws(() => compactPoolFile(''), code('EINVAL'));
    // A symbolic link is refused (a rename would replace the link, not the pool it names).
    symlinkSync(path, join(dir, 'link.pool'));
    assert.throws(() => compactPoolFile(join(dir, 'link.pool')), code('EINVAL'));
    assert.equal(statSync(path).ino, before.ino);
    rmSync(join(dir, 'link.pool'));
    writeFileSync(compactTempPath(path), 'left by a compaction killed after publishing');
    compactPoolFile(path);
    assert.deepEqual(readdirSync(dir), ['p.pool']);
  });
});

test('a fill-clear-fill cycle does not grow the file; shrink gives a free tail back; compaction gives back the rest', () => {
  withDir((dir) => {
    const path = join(dir, 'cycle.pool');
    const store = Store.open(path, { create: true, size: 1 << 20, maxSize: 1 << 30 });
    const m = store.map<number, string>('data');
    const fill = (): void => {
      for (let b = 0; b < 30; b++) {
        store.transaction(() => {
          for (let i = 0; i < 1000; i++) m.set(b * 1000 + i, `v${i}`.padEnd(i % 2 === 0 ? 900 : 120, '.'));
        });
      }
    };
    try {
      fill();
      const full = statSync(path).size;
      assert.ok(full > 20 << 20, `filled to ${full} bytes`);
      m.clear();
      assert.equal(m.size, 0);
      fill();
      assert.equal(statSync(path).size, full, 'the second fill reused the freed space');
      m.clear();
      // The cleared map's new, small table came from a run near the end (the blocks freed by
      // the same transaction were not reusable yet): shrink gives back the tail after it.
      const r = store.shrink();
      assert.equal(r.fileBefore, full);
      assert.equal(statSync(path).size, r.fileAfter);
      assert.ok(r.fileAfter <= full);
      assert.ok(store.check().ok);
    } finally {
      store.close();
    }
    const info = compactPoolFile(path);
    assert.ok(info.bytesAfter < 512 << 10, `compacted to ${info.bytesAfter} bytes`);
    const again = Store.open(path);
    try {
      assert.equal(again.map('data').size, 0);
      const m2 = again.map<number, string>('data');
      again.transaction(() => {
        for (let i = 0; i < 1000; i++) m2.set(i, 'x'.repeat(500));
      });
      assert.ok(again.check().ok);
    } finally {
      again.close();
    }
  });
});

test('store.shrink: refusals (read-only EROFS, in a transaction ETXSTATE, closed ECLOSED); nothing to give back changes nothing', () => {
  withDir((dir) => {
    const path = join(dir, 's.pool');
    const store = Store.open(path, { create: true, size: 1 << 20 });
    assert.throws(() => store.transaction(() => store.shrink()), code('ETXSTATE'));
    const r = store.shrink();
    assert.ok(r.sizeAfter <= r.sizeBefore);
    const again = store.shrink();
    assert.deepEqual(again, { sizeBefore: r.sizeAfter, sizeAfter: r.sizeAfter, fileBefore: r.fileAfter, fileAfter: r.fileAfter });
    store.close();
    assert.throws(() => store.shrink(), code('ECLOSED'));
    const ro = Store.open(path, { readOnly: true });
    assert.throws(() => ro.shrink(), code('EROFS'));
    ro.close();
  });
});

test('store.shrink with deferred commits pending (groupCommit), on a file longer than its header: every commit reaches the file, and readers see them', async () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-compact-'));
  try {
    const path = join(dir, 'g.pool');
    const first = Store.open(path, { create: true, size: 1 << 20, maxSize: 64 << 20 });
    first.map<number, string>('m').set(0, 'zero');
    first.shrink(); // the pool ends at its last chunk in use
    first.close();
    // A file longer than its header says (what a crash after a growth, before its commit, leaves).
    truncateSync(path, statSync(path).size + (2 << 20));
    const store = Store.open(path, { groupCommit: true });
    const reader = Store.open(path, { readOnly: true });
    try {
      const m = store.map<number, string>('m');
      m.set(1, 'one'); // deferred: durable at the end of this turn
      const r = store.shrink();
      assert.ok(r.fileAfter < r.fileBefore, `the tail was cut (${r.fileBefore} -> ${r.fileAfter})`);
      for (let i = 2; i < 50; i++) m.set(i, `v${i}`);
      await store.flushed();
      assert.equal(reader.map<number, string>('m').size, 50, 'a reader sees every commit (they reached the pool file)');
      assert.equal(reader.map<number, string>('m').get(49), 'v49');
    } finally {
      reader.close();
      store.close();
    }
    const again = Store.open(path, { readOnly: true });
    try {
      assert.equal(again.map<number, string>('m').size, 50);
      assert.ok(again.check().ok);
    } finally {
      again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Found in review: a directory at the compaction's temporary name made compactPoolFile throw
// Node's raw EISDIR (it unlinked whatever was there). Only a file a compaction left is removed.
test('a compaction whose temporary name is taken by a directory is EEXIST; the pool and the directory are untouched', () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-compact-'));
  try {
    const path = join(dir, 'app.pool');
    const s = Store.open(path, { create: true, size: 1 << 20 });
    s.map<number, number>('m').set(1, 1);
    s.close();
    const before = readFileSync(path);
    mkdirSync(compactTempPath(path));
    writeFileSync(join(compactTempPath(path), 'mine'), 'x');
    assert.throws(() => compactPoolFile(path), (e: unknown) => isFerriteError(e, 'EEXIST'));
    assert.deepEqual(readFileSync(path), before, 'the pool is unchanged');
    assert.deepEqual(readdirSync(compactTempPath(path)), ['mine']);
    // A file left there by a killed compaction is removed, and the compaction runs.
    rmSync(compactTempPath(path), { recursive: true });
    writeFileSync(compactTempPath(path), 'left by a killed compaction');
    compactPoolFile(path);
    assert.equal(existsSync(compactTempPath(path)), false);
    const again = Store.open(path, {});
    assert.equal(again.map<number, number>('m').get(1), 1);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
