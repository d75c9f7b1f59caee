/**
 * `ferrite backup` and `ferrite compact`: the copies pass `ferrite check` and equal their
 * source; --json; exit codes (0 done, 1 a damaged source, 2 usage, a locked source, an existing
 * destination); the progress line drawn only on a terminal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@ferrite/tx';
import { main } from '../src/cli.js';
import { run } from './support/run.js';
import { copyPool, flipByte, makeStorePool } from './support/pools.js';

let dir = '';
let base = '';

before(() => {
  dir = mkdtempSync(join('/dev/shm', 'ferrite-cli-backup-'));
  base = join(dir, 'base.pool');
  makeStorePool(base, 2 << 20);
  // Something for a compaction to give back.
  const s = Store.open(base);
  s.transaction(() => {
    for (let i = 0; i < 3000; i++) s.map<number, string>('scratch').set(i, 's'.repeat(200));
  });
  s.drop('scratch');
  s.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

function fresh(name: string): string {
  const p = join(dir, name);
  copyPool(base, p);
  return p;
}

/**
 * Every entry of every collection, as `ferrite dump` prints them, the lines sorted: a hash
 * map's order follows its hash seed, which a rebuilt map draws afresh.
 */
function dump(p: string): string[] {
  const r = run('dump', p);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').sort();
}

test('backup: a copy that checks clean and dumps the same, with a uuid of its own; --json', () => {
  const src = fresh('b-src.pool');
  const dest = join(dir, 'b-copy.pool');
  const r = run('backup', src, dest);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^backup: +.*b-copy\.pool$/m);
  assert.match(r.stdout, /^compact: +no/m);
  assert.equal(r.stderr, '', 'no progress line when stderr is not a terminal');
  assert.equal(run('check', dest).code, 0);
  assert.deepEqual(dump(dest), dump(src));
  assert.equal(statSync(dest).size, statSync(src).size);
  const j = run('backup', src, join(dir, 'b-copy2.pool'), '--json');
  assert.equal(j.code, 0, j.stderr);
  const info = JSON.parse(j.stdout) as { source: string; path: string; bytes: number; compact: boolean; uuid: string; sourceUuid: string; entries: number };
  assert.equal(info.source, src);
  assert.equal(info.compact, false);
  assert.notEqual(info.uuid, info.sourceUuid);
  assert.ok(info.entries > 0);
});

test('backup --compact: a smaller copy holding the same data', () => {
  const src = fresh('c-src.pool');
  const dest = join(dir, 'c-copy.pool');
  const r = run('backup', src, dest, '--compact', '--json');
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { bytes: number; compact: boolean };
  assert.equal(info.compact, true);
  assert.ok(info.bytes < statSync(src).size, `${info.bytes} < ${statSync(src).size}`);
  assert.equal(run('check', dest).code, 0);
  assert.deepEqual(dump(dest), dump(src));
});

test('compact: in place, the same data, a smaller file, nothing left beside it; --json', () => {
  const p = fresh('k.pool');
  const before2 = dump(p);
  const size = statSync(p).size;
  const r = run('compact', p, '--json');
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { path: string; bytesBefore: number; bytesAfter: number; uuid: string; uuidBefore: string };
  assert.equal(info.bytesBefore, size);
  assert.equal(info.bytesAfter, statSync(p).size);
  assert.ok(info.bytesAfter < size);
  assert.notEqual(info.uuid, info.uuidBefore);
  assert.equal(run('check', p).code, 0);
  assert.deepEqual(dump(p), before2);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('k.pool')), ['k.pool']);
  const human = run('compact', p);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^compacted: +.*k\.pool$/m);
  assert.match(human.stdout, /^uuid: +\S+ \(was \S+\)$/m);
});

test('exit codes: 2 for usage, a missing or locked source and an existing destination; 1 for a damaged source', () => {
  const src = fresh('e-src.pool');
  assert.equal(run('backup', src).code, 2, 'DEST is required');
  assert.equal(run('compact').code, 2);
  const missing = run('backup', join(dir, 'none.pool'), join(dir, 'x.pool'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /ENOENT/);
  const exists = run('backup', src, src);
  assert.equal(exists.code, 2);
  assert.match(exists.stderr, /EEXIST/);
  const writer = Store.open(src);
  try {
    const locked = run('backup', src, join(dir, 'y.pool'));
    assert.equal(locked.code, 2);
    assert.match(locked.stderr, /EBUSY/);
    assert.equal(run('compact', src).code, 2);
  } finally {
    writer.close();
  }
  assert.equal(existsSync(join(dir, 'y.pool')), false);
  // Both header copies damaged: not a pool this build can read (ECORRUPT): 1.
  const bad = fresh('e-bad.pool');
  flipByte(bad, 20);
  flipByte(bad, 256 + 20);
  const damaged = run('backup', bad, join(dir, 'z.pool'));
  assert.equal(damaged.code, 1, damaged.stderr);
  assert.equal(existsSync(join(dir, 'z.pool')), false);
  assert.equal(run('compact', bad).code, 1);
});

test('on a terminal, a progress line is drawn on stderr and erased at the end', () => {
  const src = fresh('t-src.pool');
  let stderr = '';
  let stdout = '';
  const code = main(['backup', src, join(dir, 't-copy.pool'), '--compact'], {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: true },
  });
  assert.equal(code, 0, stderr);
  assert.match(stderr, /\rbacking up .*t-src\.pool: copying|\rbacking up .*t-src\.pool: rebuilding collections/);
  assert.match(stderr, /\r\u001b\[K$/, 'the line is erased at the end');
  assert.match(stdout, /^backup: /m);
});
