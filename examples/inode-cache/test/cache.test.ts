import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InodeCache, realFs, RACY_WINDOW_MS, type FsOps } from '../src/inode-cache.js';
import { MemoryStore } from '../src/memory-store.js';
import { CacheError } from '../src/invariant.js';
import { walkTree } from '../src/walk.js';
import { makeTree, sleep } from './helpers.js';

/** Every path the cold walk sees resolves in the cache to the same inode and attributes. */
function assertAgrees(cache: InodeCache, root: string): void {
  const report = cache.verify();
  assert.deepEqual(report.mismatches, [], 'verify finds no mismatch');
  assert.equal(report.mismatchCount, 0);
  const walked = walkTree(root);
  assert.equal(report.entries, walked.entries, 'cache holds exactly the walked entries');
  for (const [rel, w] of walked.byPath) {
    const e = cache.resolve(join(root, rel));
    assert.equal(e.ino, w.ino, rel);
    const { ino: _ino, ...attrs } = w;
    assert.deepEqual(e.attrs, attrs, rel);
  }
}

test('scan fills the cache in batches and it agrees with the file system', () => {
  const t = makeTree(400, 1);
  try {
    const store = new MemoryStore();
    const cache = new InodeCache(store);
    const r = cache.scan(t.root, { batchEntries: 50 });
    assert.equal(r.entriesListed, 400);
    assert.ok(r.batches > 2, `batched: ${r.batches} transactions`);
    assert.equal(store.commits, r.batches + 2, 'one transaction per batch, plus the scan record at start and end');
    assert.equal(r.unreadable.length, 0);
    assert.equal(cache.scanRecord?.state, 'complete');
    assertAgrees(cache, t.root);
    // ls agrees with readdir, in name order.
    const top = cache.list(t.root).map((e) => e.name);
    assert.deepEqual(top, readdirSync(t.root).sort());
  } finally {
    t.cleanup();
  }
});

test('revalidate reads only changed directories and agrees after namespace changes', () => {
  const t = makeTree(500, 2);
  try {
    const cache = new InodeCache(new MemoryStore());
    cache.scan(t.root);
    const dirsTotal = cache.counts().dirs;
    // Nothing changed (and the racy window is over): every directory is checked, none read.
    sleep(RACY_WINDOW_MS + 20);
    const store = cache.store as MemoryStore;
    const commits = store.commits;
    const idle = cache.revalidate();
    assert.equal(idle.dirsVisited, dirsTotal);
    assert.equal(idle.dirsListed, 0);
    assert.equal(store.commits, commits, 'a pass that finds nothing changed writes nothing');

    const dirs = t.plan.entries.filter((e) => e.type === 'dir').map((e) => e.path);
    const files = t.plan.entries.filter((e) => e.type === 'file').map((e) => e.path);
    assert.ok(dirs.length >= 4 && files.length >= 10);
    writeFileSync(join(t.root, dirs[0], 'new-file.txt'), 'hello');                 // create
    rmSync(join(t.root, files[0]));                                                 // delete (maybe a hard link target)
    renameSync(join(t.root, files[1]), join(t.root, files[1] + '.renamed'));        // rename in place
    mkdirSync(join(t.root, 'fresh', 'deeper'), { recursive: true });                // new subtree
    writeFileSync(join(t.root, 'fresh', 'deeper', 'leaf'), 'x');
    symlinkSync('fresh/deeper/leaf', join(t.root, 'fresh-link'));
    linkSync(join(t.root, files[2]), join(t.root, 'fresh', 'hard'));                // new hard link
    // Move a directory across parents (the root is its new parent), delete another subtree.
    const moved = dirs.find((d) => d.includes('/')) ?? dirs[1];
    renameSync(join(t.root, moved), join(t.root, 'moved-here'));
    const gone = dirs.find((d) => !d.startsWith(moved) && d !== moved && !moved.startsWith(d));
    if (gone !== undefined) rmSync(join(t.root, gone), { recursive: true });
    // Replace a file by a directory of the same name.
    const f3 = files.find((f) => !f.startsWith(moved) && (gone === undefined || !f.startsWith(gone)) && f !== files[0] && f !== files[1]);
    assert.ok(f3 !== undefined);
    rmSync(join(t.root, f3));
    mkdirSync(join(t.root, f3));
    chmodSync(join(t.root, dirs[dirs.length - 1].startsWith(moved) ? 'fresh' : dirs[dirs.length - 1]), 0o700); // ctime only

    const r = cache.revalidate();
    assert.ok(r.dirsListed > 0 && r.dirsListed < r.dirsVisited, `read ${r.dirsListed} of ${r.dirsVisited} directories`);
    assert.ok(r.added > 0 && r.removed > 0);
    assertAgrees(cache, t.root);
  } finally {
    t.cleanup();
  }
});

test('a file changed in place is seen by a deep revalidation', () => {
  const t = makeTree(200, 3);
  try {
    const cache = new InodeCache(new MemoryStore());
    cache.scan(t.root);
    const file = t.plan.entries.find((e) => e.type === 'file');
    assert.ok(file);
    appendFileSync(join(t.root, file.path), 'more bytes');
    sleep(RACY_WINDOW_MS + 20);
    // Its directory did not change: the shallow pass trusts the old attributes...
    cache.revalidate();
    assert.notEqual(cache.resolve(join(t.root, file.path)).attrs.size, lstatSync(join(t.root, file.path)).size);
    // ...the deep pass reads every directory.
    const deep = cache.revalidate({ deep: true });
    assert.equal(deep.updated >= 1, true);
    assertAgrees(cache, t.root);
  } finally {
    t.cleanup();
  }
});

test('a failed batch rolls back and the next pass completes the cache', () => {
  const t = makeTree(300, 4);
  try {
    const store = new MemoryStore();
    const cache = new InodeCache(store);
    // The store fails in the middle of a batch, like a full pool would: that batch rolls back.
    const inodes = store.inodes;
    const realSet = inodes.set.bind(inodes);
    let calls = 0;
    inodes.set = (k, v) => {
      if (++calls === 150) throw new Error('injected failure');
      realSet(k, v);
    };
    assert.throws(() => cache.scan(t.root, { batchEntries: 20 }), /injected failure/);
    inodes.set = realSet;
    assert.ok(store.commits > 2, 'some batches committed before the failure');
    assert.equal(cache.scanRecord?.state, 'running');
    // What is cached so far is true.
    assert.equal(cache.verify().mismatchCount, 0);
    const r = cache.scan(t.root, { batchEntries: 20 });
    assert.ok(r.dirsVisited > r.dirsListed, 'already-listed directories are not read again');
    assert.equal(cache.scanRecord?.state, 'complete');
    assertAgrees(cache, t.root);
  } finally {
    t.cleanup();
  }
});

test('an unreadable directory is reported, skipped, and retried; the rest is cached', () => {
  const t = makeTree(300, 5);
  try {
    const cache = new InodeCache(new MemoryStore());
    const dir = t.plan.entries.find((e) => e.type === 'dir' && t.plan.entries.some((c) => c.path.startsWith(`${e.path}/`)));
    assert.ok(dir, 'a directory with entries');
    const locked = join(t.root, dir.path);
    const denying: FsOps = {
      lstat: realFs.lstat,
      readdir: (p) => {
        if (p === locked) throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
        return realFs.readdir(p);
      },
    };
    const r = cache.scan(t.root, { fs: denying });
    assert.deepEqual(r.unreadable, [{ path: locked, code: 'EACCES' }]);
    assert.equal(cache.verify().mismatchCount, 0, 'what is cached is true');
    assert.throws(() => cache.list(locked), (e: unknown) => e instanceof CacheError && e.code === 'ENOENT' && /not been listed/.test(e.message));
    assert.equal(cache.resolve(locked).type, 'dir', 'the directory itself is cached');
    const again = cache.revalidate();
    assert.equal(again.unreadable.length, 0);
    assertAgrees(cache, t.root);
    // Listed, then unreadable when it has to be read again: its old listing is dropped, not
    // served as current; the rest stays; the next readable pass brings it back.
    const before = cache.list(locked).length;
    const entriesBefore = cache.counts().dirents;
    assert.ok(before > 0);
    const deep = cache.revalidate({ deep: true, fs: denying });
    assert.deepEqual(deep.unreadable, [{ path: locked, code: 'EACCES' }]);
    assert.throws(() => cache.list(locked), (e: unknown) => e instanceof CacheError && /not been listed/.test(e.message));
    assert.ok(cache.counts().dirents <= entriesBefore - before, 'its entries (and their subtrees) are gone');
    assert.equal(cache.verify().mismatchCount, 0, 'no dangling entries or inodes after the drop');
    cache.revalidate();
    assertAgrees(cache, t.root);
  } finally {
    t.cleanup();
  }
});

test('lookups: outside the tree, missing entries, through a symlink', () => {
  const t = makeTree(100, 6);
  try {
    const cache = new InodeCache(new MemoryStore());
    cache.scan(t.root);
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof CacheError, String(e));
        return e.code;
      }
      return 'none';
    };
    assert.equal(code(() => cache.resolve(join(t.root, '..'))), 'EOUTSIDE');
    assert.equal(code(() => cache.resolve(`${t.root}-sibling/x`)), 'EOUTSIDE', 'a name that only starts like the root');
    assert.equal(cache.resolve(`${t.root}/`).ino, cache.resolve(t.root).ino, 'a trailing slash names the same directory');
    assert.equal(cache.resolve(`${t.root}//./`).ino, cache.resolve(t.root).ino);
    const relative = cache.resolve(join(t.root, 'x', '..')); // '..' is resolved lexically
    assert.equal(relative.ino, cache.resolve(t.root).ino);
    assert.equal(code(() => cache.resolve('/')), 'EOUTSIDE');
    assert.equal(code(() => cache.resolve(join(t.root, 'no-such-thing'))), 'ENOENT');
    const link = t.plan.entries.find((e) => e.type === 'symlink');
    if (link) assert.equal(code(() => cache.resolve(join(t.root, link.path, 'x'))), 'ENOTDIR');
    const file = t.plan.entries.find((e) => e.type === 'file');
    assert.ok(file);
    assert.equal(code(() => cache.list(join(t.root, file.path))), 'ENOTDIR');
    assert.equal(code(() => cache.scan(t.base)), 'EBUSY');
    assert.equal(code(() => new InodeCache(new MemoryStore()).scan(join(t.root, 'no-such-dir'))), 'ENOENT');
    assert.equal(code(() => new InodeCache(new MemoryStore()).scan(join(t.root, file.path))), 'ENOTDIR');
    assert.equal(cache.verify().mismatchCount, 0, 'failed calls changed nothing');
  } finally {
    t.cleanup();
  }
});
