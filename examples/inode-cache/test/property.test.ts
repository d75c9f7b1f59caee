/**
 * Model-free property: whatever happens to the tree between passes — creations, removals,
 * renames across directories, hard links, replacements of a file by a directory — after a
 * revalidation the cache agrees with the file system entry for entry (`verify` plus a
 * comparison with a fresh walk). Files changed in place need a deep pass, and get one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { defaultPoolDir } from '@ferrite/native';
import { InodeCache } from '../src/inode-cache.js';
import { FerriteCacheStore } from '../src/ferrite-store.js';
import { MemoryStore } from '../src/memory-store.js';
import type { CacheStore } from '../src/store-api.js';
import { walkTree } from '../src/walk.js';
import { makeTree } from './helpers.js';

const KINDS = ['create', 'mkdir', 'rm', 'rename', 'link', 'symlink', 'write', 'chmod', 'replace'] as const;
type Op = { kind: (typeof KINDS)[number]; a: number; b: number };
const opArb: fc.Arbitrary<Op> = fc.record({ kind: fc.constantFrom(...KINDS), a: fc.nat(), b: fc.nat() });
const SOAK = process.env.FERRITE_SOAK === '1';

let counter = 0;

/** Applies one operation to the tree; returns true when it changed a file in place (needs a deep pass). */
function apply(root: string, op: Op): boolean {
  const walked = walkTree(root);
  const all = [...walked.byPath.keys()].filter((p) => p !== '').sort();
  const dirs = ['', ...all.filter((p) => ((walked.byPath.get(p)?.mode ?? 0) & 0o170000) === 0o040000)];
  const files = all.filter((p) => ((walked.byPath.get(p)?.mode ?? 0) & 0o170000) === 0o100000);
  const dir = join(root, dirs[op.a % dirs.length]);
  const other = join(root, dirs[op.b % dirs.length]);
  const name = `n${++counter}`;
  try {
    switch (op.kind) {
      case 'create':
        writeFileSync(join(dir, name), 'x');
        return false;
      case 'mkdir':
        mkdirSync(join(dir, name));
        writeFileSync(join(dir, name, 'inside'), 'y');
        return false;
      case 'rm': {
        if (all.length === 0) return false;
        const target = all[op.a % all.length];
        rmSync(join(root, target), { recursive: true, force: true });
        return dropsHardLink(walked.byPath, target);
      }
      case 'rename':
        if (all.length > 0) renameSync(join(root, all[op.a % all.length]), join(other, name)); // may fail (into itself): ignored
        return false;
      case 'link':
        if (files.length > 0) linkSync(join(root, files[op.a % files.length]), join(other, name));
        return false;
      case 'symlink':
        symlinkSync(`target-${op.b}`, join(dir, name));
        return false;
      case 'write':
        if (files.length > 0) appendFileSync(join(root, files[op.a % files.length]), 'more');
        return files.length > 0;
      case 'chmod':
        if (files.length > 0) chmodSync(join(root, files[op.a % files.length]), 0o600 | (op.b & 0o077));
        return files.length > 0;
      case 'replace':
        if (files.length > 0) {
          const f = join(root, files[op.a % files.length]);
          rmSync(f);
          mkdirSync(f);
          return dropsHardLink(walked.byPath, files[op.a % files.length]);
        }
        return false;
    }
  } catch {
    return false; // an impossible operation (a directory into itself) changes nothing
  }
}

/**
 * True when removing `target` (and what is under it) removes a name of a file that keeps
 * another name: that file's nlink and ctime change, but not the other name's directory, so
 * only a deep pass sees it (as documented: attributes are as of the last read of the
 * entry's directory).
 */
function dropsHardLink(byPath: Map<string, { mode: number; nlink: number }>, target: string): boolean {
  for (const [p, e] of byPath) {
    if ((p === target || p.startsWith(`${target}/`)) && (e.mode & 0o170000) === 0o100000 && e.nlink > 1) return true;
  }
  return false;
}

function assertAgrees(cache: InodeCache, root: string): void {
  const report = cache.verify();
  assert.deepEqual(report.mismatches, []);
  const walked = walkTree(root);
  assert.equal(report.entries, walked.entries);
  for (const [rel, w] of walked.byPath) {
    const e = cache.resolve(join(root, rel));
    assert.equal(e.ino, w.ino, rel);
    assert.equal(e.attrs.size, w.size, rel);
    assert.equal(e.attrs.mode, w.mode, rel);
  }
}

function property(open: () => CacheStore, runs: number): void {
  fc.assert(fc.property(fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }), fc.nat(1000), (rounds, seed) => {
    const t = makeTree(60, seed);
    const store = open();
    try {
      const cache = new InodeCache(store);
      cache.scan(t.root, { batchEntries: 8 });
      assertAgrees(cache, t.root);
      for (const ops of rounds) {
        let inPlace = false;
        for (const op of ops) inPlace = apply(t.root, op) || inPlace;
        cache.revalidate({ deep: inPlace, batchEntries: 8 });
        assertAgrees(cache, t.root);
      }
    } finally {
      store.close();
      t.cleanup();
    }
  }), { numRuns: runs });
}

test('after any changes and a revalidation the cache agrees with the file system (fake store)', () => {
  property(() => new MemoryStore(), SOAK ? 300 : 25);
});

test('the same on a real ferrite pool', () => {
  const pool = join(defaultPoolDir(), `inode-cache-prop-${process.pid}.pool`);
  try {
    property(() => {
      rmSync(pool, { force: true });
      return FerriteCacheStore.open(pool);
    }, SOAK ? 100 : 6);
  } finally {
    rmSync(pool, { force: true });
  }
});
