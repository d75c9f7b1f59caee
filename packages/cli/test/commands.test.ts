import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, openPoolFile } from '@ferrite/tx';
import { run } from './support/run.js';
import { main } from '../src/cli.js';
import { OutputClosedError } from '../src/io.js';
import { copyPool, flipByte, LAYOUT, leakBlocks, makePendingImage, makeStorePool } from './support/pools.js';

let dir = '';
let base = '';
const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

before(() => {
  dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-cli-'));
  base = join(dir, 'base.pool');
  makeStorePool(base);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function fresh(name: string): string {
  const p = join(dir, name);
  copyPool(base, p);
  return p;
}

test('create makes an empty store, mode 0600, exclusively', () => {
  const p = join(dir, 'created.pool');
  const r = run('create', p, '--size', '128K', '--layout', 'app', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { size: number; layout: string; uuid: string; mode: number };
  assert.equal(out.size, 128 * 1024);
  assert.equal(out.layout, 'app');
  assert.match(out.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.equal(statSync(p).size, 128 * 1024);
  const store = Store.open(p, { layout: 'app', readOnly: true });
  assert.deepEqual(store.collections(), []);
  store.close();
  // Exclusive: a second create fails with EEXIST and leaves the pool alone.
  const before2 = digest(p);
  const again = run('create', p, '--size', '128K', '--layout', 'app');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /EEXIST/);
  assert.equal(digest(p), before2);
  // --mode is honoured.
  const q = join(dir, 'mode.pool');
  assert.equal(run('create', q, '--size', '64K', '--layout', 'app', '--mode', '0640').code, 0);
  assert.equal(statSync(q).mode & 0o777, 0o640);
});

// Found in review: the mode of a created pool was --mode with the process's umask taken off
// (--mode 0666 under umask 022 gave 0644) while create printed "mode: 0666". The mode asked
// for is the file's mode, as `install -m` gives it; the default 0600 too.
test('create: the file mode is --mode exactly (0600 without it), whatever the umask', () => {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const cases: [umask: number, mode: string | undefined, expected: number][] = [
    [0o022, '0666', 0o666],
    [0o022, '0644', 0o644],
    [0o077, '0644', 0o644],
    [0o027, '0660', 0o660],
    [0o177, undefined, 0o600],
    [0o000, undefined, 0o600],
    [0o000, '0640', 0o640],
  ];
  for (const [umask, mode, expected] of cases) {
    const p = join(dir, `umask-${umask.toString(8)}-${mode ?? 'default'}.pool`);
    const argv = ['create', p, '--size', '64K', '--json', ...(mode === undefined ? [] : ['--mode', mode])];
    // A child of its own: the umask is the process's.
    const script = `process.umask(${umask}); const { main } = await import(${JSON.stringify(pathToFileURL(cli).href)}); process.exitCode = main(${JSON.stringify(argv)});`;
    const r = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], { encoding: 'utf8' });
    const what = `umask ${umask.toString(8)}, --mode ${mode ?? '(none)'}`;
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { mode: number }).mode, expected, what);
    assert.equal(statSync(p).mode & 0o7777, expected, what);
  }
  // What the human output says is the file's mode, four digits.
  const q = join(dir, 'mode-zero.pool');
  const r = run('create', q, '--size', '64K', '--mode', '0000');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^mode: +0000$/m);
  assert.equal(statSync(q).mode & 0o7777, 0);
});

test('create without --layout stamps "ferrite"; info reads a pool of any layout', () => {
  const p = join(dir, 'default-layout.pool');
  const r = run('create', p, '--size', '128K', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { layout: string }).layout, 'ferrite');
  Store.open(p, { layout: 'ferrite', readOnly: true }).close();
  const q = join(dir, 'other-layout.pool');
  assert.equal(run('create', q, '--size', '128K', '--layout', 'something-else').code, 0);
  const info = run('info', q, '--json');
  assert.equal(info.code, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { header: { layout: string } }).header.layout, 'something-else');
});

test('create never follows a symlink', () => {
  const target = join(dir, 'victim');
  writeFileSync(target, 'precious');
  const link = join(dir, 'link.pool');
  symlinkSync(target, link);
  const r = run('create', link, '--size', '64K', '--layout', 'app');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\((EEXIST|EINVAL|EACCES)\)/);
  assert.equal(readFileSync(target, 'utf8'), 'precious');
  const dangling = join(dir, 'dangling.pool');
  symlinkSync(join(dir, 'nowhere'), dangling);
  assert.equal(run('create', dangling, '--size', '64K', '--layout', 'app').code, 2);
  assert.equal(existsSync(join(dir, 'nowhere')), false);
});

test('create rejects bad sizes and layouts as usage errors', () => {
  const p = join(dir, 'bad.pool');
  assert.equal(run('create', p, '--layout', 'x').code, 2);
  assert.match(run('create', p, '--size', 'lots', '--layout', 'x').stderr, /not a size/);
  const tooSmall = run('create', p, '--size', '1K', '--layout', 'x');
  assert.equal(tooSmall.code, 2);
  assert.match(tooSmall.stderr, /EINVAL/);
  assert.equal(run('create', p, '--size', '64K', '--layout', 'x'.repeat(65)).code, 2);
  assert.equal(existsSync(p), false);
});

test('info shows header, usage by size class and collections, and never writes', () => {
  const p = fresh('info.pool');
  const d = digest(p);
  const r = run('info', p);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /layout: +"cli-test"/);
  assert.match(r.stdout, /header copy A: +ok/);
  assert.match(r.stdout, /recovery pending: +no/);
  assert.match(r.stdout, /space by size class:/);
  assert.match(r.stdout, /inodes +map +23/);
  assert.match(r.stdout, /dirents +sortedMap +15/);
  assert.match(r.stdout, /journal +queue +4/);
  const j = JSON.parse(run('info', p, '--json').stdout) as {
    header: { layout: string; size: number };
    collections: { name: string; kind: string; size: number }[];
    usage: { usedBytes: number; freeBytes: number; classes: { blockSize: number }[]; extents: number };
  };
  assert.equal(j.header.layout, LAYOUT);
  assert.equal(j.header.size, 256 * 1024);
  assert.deepEqual(j.collections.map((c) => [c.name, c.kind, c.size]), [['inodes', 'map', 23], ['dirents', 'sortedMap', 15], ['journal', 'queue', 4]]);
  assert.ok(j.usage.usedBytes > 0 && j.usage.freeBytes > 0);
  assert.ok(j.usage.classes.length > 0);
  assert.ok(j.usage.extents >= 1, 'the 6000-byte value lives in a large extent');
  assert.equal(digest(p), d);
});

test('a pending transaction: info and check report it without writing; check --repair rolls it back', () => {
  const p = fresh('pending-src.pool');
  const img = join(dir, 'pending.pool');
  makePendingImage(p, img);
  const d = digest(img);
  const info = run('info', img);
  assert.match(info.stdout, /recovery pending: +yes/);
  const check = run('check', img, '--json');
  assert.equal(check.code, 1);
  const res = JSON.parse(check.stdout) as { ok: boolean; recoveryPending: boolean; problems: { kind: string }[] };
  assert.equal(res.recoveryPending, true);
  assert.deepEqual(res.problems.map((x) => x.kind), ['log-pending']);
  // dump shows committed data only (rolled back in memory).
  const dump = run('dump', img, 'inodes');
  assert.equal(dump.code, 0, dump.stderr);
  assert.doesNotMatch(dump.stdout, /uncommitted/);
  assert.match(dump.stdout, /"key":"\/etc\/file1"/);
  assert.equal(digest(img), d, 'read-only commands never write');
  const repair = run('check', img, '--repair');
  assert.equal(repair.code, 0, repair.stdout);
  assert.match(repair.stdout, /repaired: rolled back the interrupted transaction/);
  assert.match(run('info', img).stdout, /recovery pending: +no/);
  assert.equal(run('check', img).code, 0);
  assert.equal(run('dump', img, 'inodes').stdout, run('dump', p, 'inodes').stdout);
});

test('a damaged header copy: check reports its offset, --repair restores it from the other copy', () => {
  const p = fresh('header.pool');
  flipByte(p, 256 + 40); // inside copy B's layout field
  const d = digest(p);
  const check = run('check', p, '--json');
  assert.equal(check.code, 1);
  const res = JSON.parse(check.stdout) as { problems: { offset: number; kind: string }[] };
  assert.ok(res.problems.some((x) => x.kind === 'header' && x.offset === 256), JSON.stringify(res.problems));
  const info = run('info', p);
  assert.equal(info.code, 1);
  assert.match(info.stdout, /header copy B: +DAMAGED \(checksum mismatch\)/);
  assert.equal(digest(p), d);
  const repair = run('check', p, '--repair');
  assert.equal(repair.code, 0, repair.stdout);
  assert.match(repair.stdout, /rewrote header copy B from copy A/);
  assert.equal(run('check', p).code, 0);
});

// Found in review: with both header copies damaged, check marked them "repair yes" and told
// the user to run --repair, which can do nothing without a valid copy to rewrite them from.
test('both header copies damaged: check marks nothing repairable, --repair claims nothing and leaves the file alone', () => {
  const p = fresh('headers-both.pool');
  flipByte(p, 40); // copy A's layout field
  flipByte(p, 256 + 40); // copy B's
  const d = digest(p);
  const check = run('check', p, '--json');
  assert.equal(check.code, 1);
  const res = JSON.parse(check.stdout) as { problems: { kind: string; repairable: boolean }[] };
  assert.deepEqual(res.problems.map((x) => x.kind).sort(), ['header', 'header', 'open']);
  assert.ok(res.problems.every((x) => x.repairable === false), JSON.stringify(res.problems));
  const text = run('check', p);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /0x00000000 +header +no +header copy A/);
  assert.match(text.stdout, /0x00000100 +header +no +header copy B/);
  assert.doesNotMatch(text.stdout, /\byes\b|--repair/);
  for (const args of [[], ['--json']]) {
    const repair = run('check', p, '--repair', ...args);
    assert.equal(repair.code, 1, repair.stdout);
    if (args.length === 0) {
      assert.match(repair.stdout, /^repaired: nothing \(no problem found is repairable\)$/m);
      assert.doesNotMatch(repair.stdout, /rewrote|consistent/);
    } else {
      const j = JSON.parse(repair.stdout) as { ok: boolean; repaired: string[] };
      assert.equal(j.ok, false);
      assert.deepEqual(j.repaired, []);
    }
    assert.equal(digest(p), d, 'the file is left alone');
  }
  // One damaged copy stays repairable (the other is valid), and is marked so.
  const one = fresh('header-one.pool');
  flipByte(one, 40);
  const j = JSON.parse(run('check', one, '--json').stdout) as { problems: { kind: string; repairable: boolean }[] };
  assert.deepEqual(j.problems, [{ offset: 0, kind: 'header', message: 'header copy A: checksum mismatch', repairable: true }]);
});

test('leaked blocks: check finds them, --repair frees them and nothing else', () => {
  const p = fresh('leak.pool');
  const leaks = leakBlocks(p, 2);
  const dumpBefore = run('dump', p).stdout;
  const check = run('check', p, '--json');
  assert.equal(check.code, 1);
  const res = JSON.parse(check.stdout) as { problems: { offset: number; kind: string }[] };
  assert.deepEqual(res.problems.filter((x) => x.kind === 'leak').map((x) => x.offset).sort(), [...leaks].sort());
  const repair = run('check', p, '--repair', '--json');
  assert.equal(repair.code, 0, repair.stdout);
  const fixed = JSON.parse(repair.stdout) as { ok: boolean; repaired: string[] };
  assert.equal(fixed.ok, true);
  assert.match(fixed.repaired.join('\n'), /freed 2 leaked blocks/);
  assert.equal(run('dump', p).stdout, dumpBefore, 'no committed data lost');
});

// Found in review: beside a damaged collection, leaks were marked "yes" that --repair then
// kept (it frees leaks only when the reachability walk was complete).
test('leaks beside a damaged collection: marked not repairable, and --repair frees nothing', () => {
  const p = fresh('leak-and-damage.pool');
  leakBlocks(p, 2);
  const bytes = readFileSync(p);
  // The value record of '/etc/file2' (its name field 'file2', not the key's '/etc/file2'):
  // overwritten, so its collection no longer checks.
  let hits = 0;
  for (let at = bytes.indexOf('file2'); at >= 0; at = bytes.indexOf('file2', at + 1)) {
    if (bytes[at - 1] === 0x2f) continue;
    bytes.fill(0xff, at - 8, at + 8);
    hits++;
  }
  assert.ok(hits > 0, 'the value was found');
  writeFileSync(p, bytes);
  const check = JSON.parse(run('check', p, '--json').stdout) as { problems: { kind: string; message: string; offset: number; repairable: boolean }[] };
  const kinds = new Set(check.problems.map((x) => x.kind));
  assert.ok(kinds.has('leak') && kinds.has('collection'), JSON.stringify(check.problems));
  // Each problem once: the store's check and the read of every entry both find the damaged
  // collection; it was listed twice (at its header's offset, and again at offset 0).
  const said = check.problems.map((x) => `${x.kind}: ${x.message}`);
  assert.equal(new Set(said).size, said.length, JSON.stringify(check.problems));
  assert.ok(check.problems.some((x) => x.kind === 'collection' && x.offset !== 0), 'the collection problem keeps its offset');
  assert.ok(check.problems.filter((x) => x.kind === 'collection').every((x) => x.message.startsWith('collection "inodes": ')), 'each collection problem names its collection');
  assert.deepEqual(check.problems.filter((x) => x.repairable), [], 'nothing marked repairable');
  const d = digest(p);
  const repair = run('check', p, '--repair');
  assert.equal(repair.code, 1);
  assert.doesNotMatch(repair.stdout, /freed \d+ leaked/);
  assert.equal(digest(p), d, 'the file is left alone');
});

test('check --repair on a consistent pool changes nothing', () => {
  const p = fresh('clean.pool');
  const d = digest(p);
  const r = run('check', p, '--repair');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /nothing to repair/);
  assert.equal(digest(p), d);
});

test('dump prints JSON lines of every collection, tagged types and __proto__ as data', () => {
  const p = fresh('dump.pool');
  const r = run('dump', p);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 23 + 15 + 4);
  const byKey = new Map(lines.filter((l) => l.collection === 'inodes').map((l) => [l.key, l.value]));
  assert.deepEqual(byKey.get('big'), { $bigint: '12345678901234567890' });
  assert.deepEqual(byKey.get('bytes'), { $bytes: 'AQID' });
  assert.deepEqual(byKey.get('/etc/file2'), { ino: 2, size: 1024, name: 'file2' });
  const hostile = byKey.get('hostile') as Record<string, unknown>;
  assert.equal(hostile.ok, 1);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const dirents = lines.filter((l) => l.collection === 'dirents');
  assert.deepEqual(dirents[0], { collection: 'dirents', kind: 'sortedMap', key: [0, 'name0'], value: 0 });
  const keys = dirents.map((l) => l.key as [number, string]);
  const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  assert.deepEqual(keys, sorted, 'sorted map in key order');
  const journal = lines.filter((l) => l.collection === 'journal');
  assert.deepEqual(journal[0], { collection: 'journal', kind: 'queue', index: 0, value: { op: 'create', seq: 1 } });
  // One collection only; an unknown one is an error.
  assert.equal(run('dump', p, 'journal').stdout.trimEnd().split('\n').length, 4);
  const missing = run('dump', p, 'nope');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no collection named "nope"/);
});

// Found in review: a stored plain object `{ $bigint: '12' }` dumped exactly as the bigint 12n.
test('dump: a stored object whose keys look like tags is told from the tagged value', () => {
  const p = join(dir, 'tag-like.pool');
  const store = Store.open(p, { create: true, size: 1 << 20 });
  const m = store.map<string, unknown>('m');
  store.transaction(() => {
    m.set('bigint', 12n);
    m.set('object', { $bigint: '12' });
    m.set('holes', [, ,]); // eslint-disable-line no-sparse-arrays
    m.set('array', [{ $holes: 2 }]);
  });
  store.close();
  const r = run('dump', p);
  assert.equal(r.code, 0, r.stderr);
  const values = new Map(r.stdout.trimEnd().split('\n').map((l) => {
    const line = JSON.parse(l) as { key: string; value: unknown };
    return [line.key, JSON.stringify(line.value)] as const;
  }));
  assert.equal(values.get('bigint'), '{"$bigint":"12"}');
  assert.equal(values.get('object'), '{"$$bigint":"12"}');
  assert.equal(values.get('holes'), '[{"$holes":2}]');
  assert.equal(values.get('array'), '[{"$$holes":2}]');
});

test('check draws its progress on stderr only when stderr is a terminal, and erases it', () => {
  const p = fresh('progress.pool');
  let stdout = '';
  let stderr = '';
  const code = main(['check', p], {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: true },
  });
  assert.equal(code, 0);
  assert.match(stderr, /\rchecking .*: reading the header copies/);
  assert.match(stderr, /checking heap metadata and reachability/);
  assert.match(stderr, /reading every entry/);
  assert.ok(stderr.endsWith('\r\u001b[K'), 'the progress line is erased before the result');
  assert.doesNotMatch(stdout, /\r/);
  assert.equal(run('check', p).stderr, '', 'nothing on a stderr that is not a terminal');
});

test('dump stops quietly, exit 0, when its reader goes away (ferrite dump | head)', () => {
  const p = fresh('epipe.pool');
  let writes = 0;
  const code = main(['dump', p], {
    stdout: {
      write: () => {
        writes += 1;
        throw new OutputClosedError();
      },
      isTTY: false,
    },
    stderr: { write: () => assert.fail('nothing on stderr'), isTTY: false },
  });
  assert.equal(code, 0);
  assert.ok(writes >= 1 && writes <= 2);
});

test('--heap: a plain @ferrite/heap pool (its root is not a store) checks clean at the heap level', () => {
  const p = join(dir, 'heap-only.pool');
  const pool = openPoolFile(p, { create: true, layout: 'raw', size: 128 * 1024, forcePmem: true });
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, tx.alloc(5000));
  });
  pool.close();
  const d = digest(p);
  const withStore = run('check', p, '--json');
  assert.equal(withStore.code, 1);
  assert.ok((JSON.parse(withStore.stdout) as { problems: { kind: string }[] }).problems.some((x) => x.kind === 'store'));
  const heap = run('check', p, '--heap');
  assert.equal(heap.code, 0, heap.stdout);
  assert.match(heap.stdout, /consistent, 2 blocks allocated/);
  const info = run('info', p, '--heap', '--json');
  assert.equal(info.code, 0, info.stdout);
  const report = JSON.parse(info.stdout) as { collections?: unknown; usage: { allocations: number; extents: number } };
  assert.equal(report.collections, undefined);
  assert.equal(report.usage.allocations, 2);
  assert.equal(report.usage.extents, 1);
  assert.equal(run('stats', p, '--heap').code, 0);
  assert.equal(run('check', p, '--heap', '--repair').code, 0);
  assert.equal(digest(p), d, 'nothing written');
});

test('stats prints space statistics per size class', () => {
  const p = fresh('stats.pool');
  const r = run('stats', p, '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { layout: string; usage: { poolSize: number; classes: { usedBlocks: number }[] }; collections: { total: number } };
  assert.equal(s.layout, LAYOUT);
  assert.equal(s.usage.poolSize, 256 * 1024);
  assert.equal(s.collections.total, 3);
  assert.ok(s.usage.classes.reduce((n, c) => n + c.usedBlocks, 0) > 0);
  assert.match(run('stats', p).stdout, /class +block size +runs +used +free/);
});

test('open errors exit with 2 and a code: missing file, not a pool, a directory', () => {
  const missing = run('info', join(dir, 'missing.pool'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /ENOENT/);
  const notPool = join(dir, 'text.txt');
  writeFileSync(notPool, 'hello world, not a pool at all '.repeat(100));
  for (const cmd of ['info', 'check', 'dump', 'stats']) {
    const r = run(cmd, notPool);
    assert.equal(r.code, 2, `${cmd}: ${r.stdout}${r.stderr}`);
  }
  assert.match(run('check', notPool).stderr, /EBADMAGIC/);
  assert.equal(run('check', dir).code, 2);
  // Not regular files: a FIFO (opening it must not block) and a character device.
  const fifo = join(dir, 'fifo.pool');
  execFileSync('mkfifo', [fifo]);
  for (const special of [fifo, '/dev/zero']) {
    const r = run('info', special);
    assert.equal(r.code, 2, special);
    assert.match(r.stderr, /not a regular file \(ENODEV\)/);
  }
});

test('a pool held by a writer: the reading commands read its committed state; --repair with nothing to repair leaves it alone', () => {
  const p = fresh('busy.pool');
  const store = Store.open(p, { layout: LAYOUT });
  try {
    store.map('live').set('k', 'committed');
    const info = run('info', p);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /live/);
    const dump = run('dump', p, 'live');
    assert.equal(dump.code, 0, dump.stderr);
    assert.match(dump.stdout, /"key":"k","value":"committed"/);
    assert.equal(run('check', p).code, 0);
    // Nothing to repair: --repair never opens it writable, so the writer's lock is no obstacle.
    assert.equal(run('check', '--repair', p).code, 0);
    // A second writer is refused at once, naming the holder (the CLI's create of it, too).
    assert.throws(() => Store.open(p, { layout: LAYOUT }), (e: Error) => e.message.includes('EBUSY') || /held by pid/.test(e.message));
  } finally {
    store.close();
  }
  assert.equal(run('info', p).code, 0);
});

// Found in review: on an ordinary file, a crash after a commit leaves committed records in the
// redo log that the next writable open copies into the pool file: a normal state, which `info`
// called "a transaction will be rolled back" and `check` reported as a repairable problem
// (exit 1). It is reported as what it is now, and `check` finds nothing wrong.
test('a pool file with committed redo records not yet copied in: info says so, check is clean, dump reads them', async () => {
  const { diskDir } = await import('../../tx/test/crash/kill-loop.js');
  const d = mkdtempSync(join(diskDir(), 'ferrite-cli-redo-'));
  try {
    const live = join(d, 'live.pool');
    const copy = join(d, 'crashed.pool');
    const writer = Store.open(live, { create: true, size: 1 << 20 });
    writer.map<string, string>('m').set('committed', 'yes');
    // The files as a crash now leaves them: the log holds the commits, not yet checkpointed.
    writeFileSync(copy, readFileSync(live));
    writeFileSync(`${copy}.wal`, readFileSync(`${live}.wal`));
    writer.close();
    const info = run('info', copy, '--json');
    assert.equal(info.code, 0, info.stderr);
    const j = JSON.parse(info.stdout) as { recoveryPending: boolean; redoRecordsPending: number };
    assert.equal(j.recoveryPending, false);
    assert.ok(j.redoRecordsPending > 0, info.stdout);
    assert.match(run('info', copy).stdout, /redo log: +\d+ committed transactions? to copy into the pool file at the next writable open/);
    const check = run('check', copy, '--json');
    assert.equal(check.code, 0, check.stdout);
    const c = JSON.parse(check.stdout) as { ok: boolean; problems: unknown[]; redoRecordsPending: number };
    assert.deepEqual([c.ok, c.problems, c.redoRecordsPending > 0], [true, [], true]);
    assert.match(run('dump', copy).stdout, /"key":"committed","value":"yes"/);
    const reopened = Store.open(copy);
    assert.equal(reopened.map<string, string>('m').get('committed'), 'yes');
    reopened.close();
    const after = JSON.parse(run('info', copy, '--json').stdout) as { redoRecordsPending: number };
    assert.equal(after.redoRecordsPending, 0, 'the writable open copied them in');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

// Found in review: main(null) threw a raw TypeError (it "never throws"), and output to a full
// device was reported as an internal error with a stack trace.
test('main checks its own arguments; output that cannot be written is one line on stderr and exit 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const { openSync, closeSync } = await import('node:fs');
  assert.equal(main(null as unknown as string[]), 2);
  assert.equal(main([1 as unknown as string]), 2);
  assert.equal(main(['--version'], null as never), 2);
  const p = fresh('full-output.pool');
  const out = openSync('/dev/full', 'w');
  try {
    const bin = new URL('../bin/ferrite.mjs', import.meta.url).pathname;
    const child = spawnSync(process.execPath, [bin, 'info', p], {
      env: { ...process.env, FERRITE_CLI_SOURCE: '1' },
      stdio: ['ignore', out, 'pipe'],
      encoding: 'utf8',
    });
    assert.equal(child.status, 2, child.stderr);
    assert.match(child.stderr, /^ferrite info: cannot write the output: .*\(ENOSPC\)\n$/);
    assert.doesNotMatch(child.stderr, /internal error/);
  } finally {
    closeSync(out);
  }
});
