// Each class of damage, one deterministic case each, through the commands: what `check`
// reports (kind and offset), the exit code, that read-only commands leave the file as it was,
// and what `--repair` can and cannot fix. The fuzz test (packages/heap/test/fuzz-damage)
// covers thousands of random cases; these pin down the behaviour a user sees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyDamage, type Damage } from './support/damage.js';
import { makeStorePool } from './support/pools.js';
import { run } from './support/run.js';

let dir = '';
let base: Uint8Array;
let donor: Uint8Array;
let heapOffset = 0;
const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

before(() => {
  dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-damage-'));
  makeStorePool(join(dir, 'base.pool'), 256 * 1024);
  makeStorePool(join(dir, 'donor.pool'), 320 * 1024);
  base = new Uint8Array(readFileSync(join(dir, 'base.pool')));
  donor = new Uint8Array(readFileSync(join(dir, 'donor.pool')));
  heapOffset = (JSON.parse(run('info', join(dir, 'base.pool'), '--json').stdout) as { header: { heapOffset: number } }).header.heapOffset;
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Checked {
  code: number;
  kinds: string[];
  offsets: number[];
  text: string;
  stderr: string;
}

let n = 0;
function damaged(d: Damage): string {
  const p = join(dir, `case-${n++}.pool`);
  writeFileSync(p, applyDamage(base, d, [base, donor]));
  return p;
}

/** Runs check --json, and info and dump, asserting none of them writes or reports a bug. */
function check(path: string): Checked {
  const d = digest(path);
  const r = run('check', path, '--json');
  const info = run('info', path);
  const dump = run('dump', path);
  assert.equal(digest(path), d, 'read-only commands never write');
  for (const x of [r, info, dump]) assert.doesNotMatch(x.stdout + x.stderr, /internal error/);
  assert.ok([0, 1, 2].includes(info.code) && [0, 1, 2].includes(dump.code));
  if (r.code === 2) return { code: 2, kinds: [], offsets: [], text: '', stderr: r.stderr };
  const j = JSON.parse(r.stdout) as { problems: { kind: string; offset: number; message: string }[] };
  return {
    code: r.code,
    kinds: j.problems.map((p) => p.kind),
    offsets: j.problems.map((p) => p.offset),
    text: j.problems.map((p) => p.message).join('\n'),
    stderr: r.stderr,
  };
}

test('bit flip in header copy A: reported at offset 0, repaired from copy B', () => {
  const p = damaged({ kind: 'bitflip', flips: [[0, 0]] });
  const c = check(p);
  assert.equal(c.code, 1);
  assert.deepEqual(c.kinds, ['header']);
  assert.deepEqual(c.offsets, [0]);
  assert.match(c.text, /header copy A: bad magic/);
  assert.equal(run('check', p, '--repair').code, 0);
  assert.deepEqual(readFileSync(p).subarray(0, 512), Buffer.from(base.subarray(0, 512)));
});

test('bit flip in a chunk header: reported at the chunk, not repairable, file left alone', () => {
  const p = damaged({ kind: 'bitflip', flips: [[heapOffset + 4, 3]] });
  const c = check(p);
  assert.equal(c.code, 1);
  assert.ok(c.kinds.includes('chunk-header'), c.text);
  assert.ok(c.offsets.includes(heapOffset));
  const d = digest(p);
  const r = run('check', p, '--repair');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /repaired: nothing/);
  assert.equal(digest(p), d, 'a repair that cannot help does not open the file for writing');
});

test('zeroed range over the heap: the root and the blocks in it are reported', () => {
  const c = check(damaged({ kind: 'zero', offset: heapOffset, length: 2 * 16384 }));
  assert.equal(c.code, 1);
  assert.ok(c.kinds.includes('root'), c.text);
});

test('both header copies zeroed: not a pool, exit 2 (EBADMAGIC)', () => {
  const c = check(damaged({ kind: 'zero', offset: 0, length: 512 }));
  assert.equal(c.code, 2);
  assert.match(c.stderr, /EBADMAGIC/);
});

test('truncation: shorter than a header, shorter than the header says, empty', () => {
  const tiny = check(damaged({ kind: 'truncate', length: 100 }));
  assert.equal(tiny.code, 1);
  assert.match(tiny.text, /shorter than a pool header/);
  const half = check(damaged({ kind: 'truncate', length: 128 * 1024 + 5 }));
  assert.equal(half.code, 1);
  assert.match(half.text, /shorter than the 262144 bytes its header says/);
  // Nothing of a pool is left, not even its magic number: a file that is not a pool, as an
  // empty text file is (2, EBADMAGIC; it was 1, unlike a longer file without the magic).
  const empty = check(damaged({ kind: 'truncate', length: 0 }));
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /EBADMAGIC/);
});

test('extension: a file longer than its header says is harmless (as after a crash during growth)', () => {
  const p = damaged({ kind: 'extend', by: 65536, fill: 'ones', seed: 1 });
  const c = check(p);
  assert.equal(c.code, 0, c.text);
  const info = JSON.parse(run('info', p, '--json').stdout) as { fileSize: number; header: { size: number } };
  assert.equal(info.fileSize, 256 * 1024 + 65536);
  assert.equal(info.header.size, 256 * 1024);
});

test('swapped pages: heap pages exchanged are reported; header page moved away is EBADMAGIC', () => {
  const heapSwap = check(damaged({ kind: 'swap', a: heapOffset / 4096, b: heapOffset / 4096 + 4 }));
  assert.equal(heapSwap.code, 1);
  assert.ok(heapSwap.kinds.length > 0);
  assert.equal(check(damaged({ kind: 'swap', a: 0, b: 5 })).code, 2);
});

test('a valid header over garbage: typed damage, never a crash', () => {
  for (const fill of ['random', 'ones', 'small-words'] as const) {
    for (const keep of [512, 4096]) {
      const c = check(damaged({ kind: 'garbage', keep, fill, seed: 7 }));
      assert.equal(c.code, 1, `${fill} ${keep}: ${c.text}`);
      assert.ok(c.kinds.length > 0);
    }
  }
});

test("a header from another pool: its size disagrees with the file", () => {
  const c = check(damaged({ kind: 'foreign-header', donor: 1, span: 512 }));
  assert.equal(c.code, 1);
  assert.match(c.text, /shorter than the 327680 bytes its header says/);
});

test('a plausible offset written over the root record: reported as a root problem', () => {
  const c = check(damaged({ kind: 'words', writes: [[512, 999_992]] }));
  assert.equal(c.code, 1);
  assert.ok(c.kinds.includes('root'), c.text);
});

// Found in review: zeroing the 8-byte root pointer (or the root block) made a store of many
// entries look empty: `check` reported only leaks, `check --repair` freed every entry and
// `compact` renamed an empty pool over the file. A missing or blank root with other blocks
// allocated is now ECORRUPT: a store problem that no command repairs or compacts away.
test('a zeroed root pointer or root block: reported as store damage; check --repair and compact leave the file alone', () => {
  const rootBlock = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(512, true));
  assert.ok(rootBlock > heapOffset, 'the base pool has a root block');
  for (const d of [{ kind: 'zero', offset: 512, length: 8 }, { kind: 'zero', offset: rootBlock, length: 64 }] as const) {
    const p = damaged(d);
    const c = check(p);
    assert.equal(c.code, 1, JSON.stringify(d));
    assert.ok(c.kinds.includes('store'), c.text);
    assert.ok(!c.kinds.every((k) => k === 'leak'), c.text);
    assert.match(c.text, /root is (missing|blank), but its heap holds \d+ bytes of blocks/);
    const digestBefore = digest(p);
    const repair = run('check', p, '--repair');
    assert.equal(repair.code, 1, repair.stdout + repair.stderr);
    assert.doesNotMatch(repair.stdout, /freed/);
    assert.equal(digest(p), digestBefore, 'the repair freed nothing');
    const compact = run('compact', p);
    assert.notEqual(compact.code, 0, compact.stdout);
    assert.match(compact.stderr, /ECORRUPT/);
    assert.equal(digest(p), digestBefore, 'the compaction replaced nothing');
  }
});
