// One exit code scheme across commands (issue 17, item 6): for the same file, info, check,
// dump and stats agree — 0 nothing wrong, 1 a damaged ferrite pool, 2 the file could not be
// examined. Before, `dump` exited 2 and `info`/`check` 1 on the same damaged pool, and `stats`
// exited 0 on a pool whose store could not be read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openPoolFile } from '@ferrite/tx';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@ferrite/core';
import { HEADER_A, HEADER_B, H_CRC, H_LAYOUT, H_VERSION } from '../../heap/src/layout.js';
import { LAYOUT, makeStorePool } from './support/pools.js';
import { run } from './support/run.js';

let dir = '';
let base = '';

before(() => {
  dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-exit-'));
  base = join(dir, 'base.pool');
  makeStorePool(base, 256 * 1024);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const COMMANDS = ['info', 'check', 'dump', 'stats'] as const;

/** The exit code of each command on `path` (and that none reports a bug). */
function codes(path: string): Record<(typeof COMMANDS)[number], number> {
  const out = {} as Record<(typeof COMMANDS)[number], number>;
  for (const c of COMMANDS) {
    const r = run(c, path);
    assert.doesNotMatch(r.stdout + r.stderr, /internal error/, `${c}: ${r.stderr}`);
    out[c] = r.code;
  }
  return out;
}

function variant(name: string, change: (bytes: Uint8Array, view: DataView) => void): string {
  const bytes = new Uint8Array(readFileSync(base));
  change(bytes, new DataView(bytes.buffer));
  const p = join(dir, `${name}.pool`);
  writeFileSync(p, bytes);
  return p;
}

function all(code: number): Record<(typeof COMMANDS)[number], number> {
  return { info: code, check: code, dump: code, stats: code };
}

test('a consistent pool: every command exits 0', () => {
  assert.deepEqual(codes(base), all(0));
});

test('a file that cannot be examined: every command exits 2 (missing, not a pool, unknown format, a directory)', () => {
  assert.deepEqual(codes(join(dir, 'missing.pool')), all(2));
  const junk = join(dir, 'junk.pool');
  writeFileSync(junk, new Uint8Array(64 * 1024).fill(0x5a));
  assert.deepEqual(codes(junk), all(2));
  const future = variant('future', (bytes, view) => {
    for (const at of [HEADER_A, HEADER_B]) {
      view.setUint32(at + H_VERSION, 99, true);
      view.setUint32(at + H_CRC, crc32c(bytes, at, H_CRC), true);
    }
  });
  assert.deepEqual(codes(future), all(2));
  assert.deepEqual(codes(dir), all(2));
});

// Found in review: a text file shorter than a pool header (6 bytes, an empty file) made every
// command exit 1 ("damaged", ECORRUPT from the heap's "shorter than a pool header") while a
// longer one exited 2 (EBADMAGIC). A file without ferrite's magic number is not a pool,
// whatever its size; one that has it and is cut short is a damaged pool.
test('a file that is not a pool: every command exits 2 (EBADMAGIC) whatever its size, and nothing is written', () => {
  const text = 'not a pool\n';
  for (const size of [0, 1, 6, 100, 300, 4095, 5000, 1 << 20]) {
    const p = join(dir, `text-${size}.txt`);
    writeFileSync(p, text.repeat(Math.ceil(size / text.length)).slice(0, size));
    const bytes = readFileSync(p);
    for (const argv of [['info', p], ['stats', p], ['check', p], ['check', p, '--repair'], ['dump', p], ['backup', p, `${p}.bak`], ['backup', p, `${p}.bak`, '--compact'], ['compact', p]]) {
      const r = run(...argv);
      assert.equal(r.code, 2, `${size} bytes: ${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /not a ferrite pool.*\(EBADMAGIC\)/, `${size} bytes: ${argv.join(' ')}`);
    }
    assert.deepEqual(readFileSync(p), bytes, `${size} bytes: the file is unchanged`);
    assert.equal(existsSync(`${p}.bak`), false);
  }
  // The boundary: a pool cut short after its magic number is a damaged pool (1), short as it is.
  for (const size of [8, 100, 300]) {
    const p = join(dir, `cut-${size}.pool`);
    writeFileSync(p, readFileSync(base).subarray(0, size));
    assert.deepEqual(codes(p), all(1), `${size} bytes of a pool`);
  }
});

test('both header copies damaged: every command exits 1 (dump exited 2)', () => {
  const p = variant('headers', (bytes) => {
    bytes[HEADER_A + H_LAYOUT] ^= 0xff;
    bytes[HEADER_B + H_LAYOUT] ^= 0xff;
  });
  assert.deepEqual(codes(p), all(1));
});

// Found in review: one damaged header copy (the pool opens from the other) made info and check
// exit 1 but dump and stats 0.
test('one header copy damaged: every command exits 1 (dump, stats, backup and compact exited 0), and dump still prints the data', () => {
  for (const at of [HEADER_A, HEADER_B]) {
    const p = variant(`one-header-${at}`, (bytes) => {
      bytes[at + H_LAYOUT] ^= 0xff;
    });
    assert.deepEqual(codes(p), all(1), `copy at ${at}`);
    const dump = run('dump', p);
    assert.ok(dump.stdout.length > 0, 'the entries are dumped');
    assert.match(dump.stderr, /header copy [AB] is damaged/);
    // backup and compact do their work, and say so with the same code (they exited 0).
    const backup = run('backup', p, `${p}.bak`);
    assert.equal(backup.code, 1, backup.stderr);
    assert.match(backup.stderr, /header copy [AB] is damaged/);
    assert.equal(run('check', `${p}.bak`).code !== 2, true);
    const compact = run('compact', p);
    assert.equal(compact.code, 1, compact.stderr);
    assert.equal(run('check', p).code, 0, 'the compacted pool has sound copies again');
  }
});

test('a pool whose store cannot be read: every command exits 1 (dump exited 2, stats 0)', () => {
  const pool = openPoolFile(base, { layout: LAYOUT, readOnly: true });
  const root = pool.rootOffset();
  pool.close();
  const p = variant('store', (bytes) => {
    bytes[root] ^= 0xff; // the store's magic number in the pool's root object
  });
  assert.deepEqual(codes(p), all(1));
});

test('a usage error exits 2 for every command', () => {
  for (const c of COMMANDS) {
    assert.equal(run(c).code, 2, `${c} without FILE`);
    assert.equal(run(c, base, '--no-such-option').code, 2, `${c} with an unknown option`);
    assert.equal(run(c, base, 'extra', 'words').code, 2, `${c} with extra arguments`);
  }
});

test('create: every failure exits 2 (bad arguments, an existing file, a layout the heap refuses)', () => {
  const fresh = join(dir, 'created.pool');
  const cases: string[][] = [
    ['create', base, '--size', '64K', '--layout', 'x'], // EEXIST
    ['create', fresh, '--size', '1K', '--layout', 'x'], // too small for a pool
    ['create', fresh, '--size', '0', '--layout', 'x'],
    ['create', fresh, '--size', '1e3', '--layout', 'x'],
    ['create', fresh, '--size', '64K', '--layout', 'y'.repeat(65)], // over 64 bytes
    ['create', fresh, '--size', '64K', '--layout', 'x', '--mode', '999'],
    ['create', fresh, '--size', '64K', '--layout'], // a flag without its value
  ];
  for (const argv of cases) {
    const r = run(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
  assert.equal(existsSync(fresh), false, 'no file was left behind');
  assert.equal(run('create', fresh, '--size', '64K', '--layout', 'x').code, 0);
});
