/**
 * The program as a user runs it: real ferrite pools, child processes, exit codes, messages,
 * and a scan killed with SIGKILL then resumed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { defaultPoolDir } from '@ferrite/native';
import { childCommand } from '../src/boot.js';
import { FerriteCacheStore } from '../src/ferrite-store.js';
import { makeTree, type TempTree } from './helpers.js';
import { runMain } from './run-main.js';

const NOBODY = 65534;
let pools = 0;

/** A fresh pool path on the default medium (tmpfs where there is one: a pool on disk msyncs every commit). */
function testPool(): string {
  return join(defaultPoolDir(), `inode-cache-test-${process.pid}-${++pools}.pool`);
}
const isRoot = process.getuid?.() === 0;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; as uid `nobody` when asked and we are root (root reads everything). */
function cli(args: string[], options: { asNobody?: boolean } = {}): Run {
  const [cmd, argv] = childCommand(args);
  const env = { ...process.env };
  delete env.INODE_CACHE_BACKEND;
  const res = spawnSync(cmd, argv, {
    encoding: 'utf8', env,
    ...(options.asNobody && isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

async function withTreeAsync(entries: number, seed: number, fn: (t: TempTree, pool: string) => Promise<void>): Promise<void> {
  const t = makeTree(entries, seed);
  const pool = testPool();
  try {
    await fn(t, pool);
  } finally {
    t.cleanup();
    rmSync(pool, { force: true });
  }
}

async function assertVerifies(pool: string, entries?: number): Promise<void> {
  const v = await runMain(['verify', '--pool', pool]);
  assert.equal(v.status, 0, `verify: ${v.stdout}${v.stderr}`);
  assert.match(v.stdout, /the cache agrees with the file system/);
  if (entries !== undefined) assert.match(v.stdout, new RegExp(`verified ${entries.toLocaleString('en-US')} entries`));
}

test('usage errors exit 2 with a message', async () => {
  const cases: [string[], RegExp][] = [
    [[], /usage: inode-cache/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['scan'], /usage: inode-cache scan DIR/],
    [['scan', 'a', 'b'], /usage: inode-cache scan DIR/],
    [['scan', '.', '--bogus'], /Unknown option '--bogus'/],
    [['scan', '.', '--batch', 'ten'], /--batch must be an integer/],
    [['boot', '--runs', '0'], /--runs must be an integer in \[1, 50\]/],
    [['boot', '--sizes', '1000,x'], /--sizes must be an integer/],
    [['boot', '--entries', '10', '--sizes', '10'], /not both/],
    [['boot', '--plot', 'chart.png'], /ending in \.svg/],
  ];
  for (const [args, message] of cases) {
    const r = await runMain(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout + r.stderr, message, args.join(' '));
  }
  // The same through a real process: the exit status and a message, not a stack.
  const real = cli(['scan', '.', '--bogus']);
  assert.equal(real.status, 2);
  assert.match(real.stderr, /^inode-cache: scan: Unknown option '--bogus'/);
  const help = await runMain(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /revalidate/);
});

test('scan, stat, ls agree with the file system; bad paths fail clearly and leave the cache intact', async () => {
  await withTreeAsync(300, 11, async (t, pool) => {
    const scan = cli(['scan', t.root, '--pool', pool, '--batch', '64']);
    assert.equal(scan.status, 0, scan.stderr);
    assert.match(scan.stdout, /scanned .*: 300 entries/);
    await assertVerifies(pool, 300);
    const file = t.plan.entries.find((e) => e.type === 'file');
    const dir = t.plan.entries.find((e) => e.type === 'dir');
    assert.ok(file && dir);
    const stat = await runMain(['stat', join(t.root, file.path), '--pool', pool, '--verify']);
    assert.equal(stat.status, 0, stat.stderr);
    assert.match(stat.stdout, /type file/);
    assert.match(stat.stdout, /the entry agrees/);
    const ls = await runMain(['ls', join(t.root, dir.path), '--pool', pool, '--verify']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /verified: all \d+ entries agree/);

    const failures: [string[], RegExp][] = [
      [['stat', '/etc/passwd', '--pool', pool], /outside the cached tree/],
      [['ls', join(t.root, '..'), '--pool', pool], /outside the cached tree/],
      [['stat', join(t.root, 'no-such-entry'), '--pool', pool], /no such entry in the cache/],
      [['ls', join(t.root, file.path), '--pool', pool], /not a directory/],
      [['scan', join(t.base, 'missing-dir'), '--pool', pool], /no such directory/],
      [['scan', t.base, '--pool', pool], /this pool caches .*use another --pool/],
      [['stat', t.root, '--pool', join(t.base, 'no-pool-here')], /no cache pool at .*run `scan DIR` first/],
    ];
    for (const [args, message] of failures) {
      const r = await runMain(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'a message, not a stack trace');
    }
    await assertVerifies(pool, 300);

    // Another holder of the pool (here this process): a clear EBUSY, nothing touched.
    const holder = FerriteCacheStore.open(pool, { create: false });
    try {
      const busy = await runMain(['scan', t.root, '--pool', pool]);
      assert.equal(busy.status, 1);
      assert.match(busy.stderr, /^inode-cache: pool: .*lock.*\(EBUSY\)\n$/);
    } finally {
      holder.close();
    }
    await assertVerifies(pool, 300);

    // A change on disk: stat --verify and ls --verify say so, revalidate fixes it.
    writeFileSync(join(t.root, dir.path, 'added-later'), 'x');
    renameSync(join(t.root, file.path), join(t.root, file.path + '.moved'));
    const stale = await runMain(['ls', join(t.root, dir.path), '--pool', pool, '--verify']);
    assert.equal(stale.status, 1);
    assert.match(stale.stdout, /added-later: on disk, not in the cache/);
    const r = await runMain(['revalidate', '--pool', pool]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 added|2 added/);
    await assertVerifies(pool, 301);
  });
});

test('an unreadable directory: clear message, exit 1, the rest cached, fixed by revalidate', async () => {
  await withTreeAsync(200, 12, async (t, pool) => {
    chmodSync(t.base, 0o777); // the pool goes here; the scan may run as nobody
    const dir = t.plan.entries.find((e) => e.type === 'dir');
    assert.ok(dir);
    const locked = join(t.root, dir.path);
    chmodSync(locked, 0o000);
    try {
      const scan = cli(['scan', t.root, '--pool', pool], { asNobody: true });
      assert.equal(scan.status, 1, scan.stdout + scan.stderr);
      assert.match(scan.stderr, new RegExp(`cannot read ${locked.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: permission denied`));
      assert.match(scan.stderr, /everything else is cached/);
      const ls = await runMain(['ls', locked, '--pool', pool]);
      assert.equal(ls.status, 1);
      assert.match(ls.stderr, /has not been listed/);
      await assertVerifies(pool); // (as root verify can read the locked directory: it is not listed, so only its own entry is checked)
    } finally {
      chmodSync(locked, 0o755);
    }
    const again = await runMain(['revalidate', '--pool', pool]);
    assert.equal(again.status, 0, again.stderr);
    await assertVerifies(pool, 200);
  });
});

test('--drop-caches without root fails with a clear message before doing anything', { skip: !isRoot && process.platform !== 'linux' ? 'Linux only' : false }, () => {
  // As root the test drops root (runs as nobody); otherwise it already is unprivileged.
  const r = cli(['boot', '--drop-caches', '--entries', '100'], { asNobody: true });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /--drop-caches needs root/);
  assert.doesNotMatch(r.stdout, /generated/);
});

test('a scan killed with SIGKILL resumes; the cache is true at every step', async () => {
  const t = makeTree(800, 13);
  const pool = testPool();
  try {
    // Kill it three times, after more and more commits, then let it finish.
    for (const afterCommits of [1, 3, 6]) {
      const [cmd, argv] = childCommand(['scan', t.root, '--pool', pool, '--batch', '16', '--commits', '--quiet']);
      const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      let seen = 0;
      for await (const line of createInterface({ input: child.stdout })) {
        if (line.startsWith('committed ') && ++seen === afterCommits) child.kill('SIGKILL');
      }
      const signal = await exited;
      assert.equal(signal, 'SIGKILL', 'the scan was killed part way');
      const info = await runMain(['info', '--pool', pool]);
      assert.equal(info.status, 0, info.stderr);
      assert.match(info.stdout, /scan {8}running/);
      await assertVerifies(pool);
    }
    const resume = await runMain(['scan', t.root, '--pool', pool, '--quiet']);
    assert.equal(resume.status, 0, resume.stderr);
    assert.match(resume.stdout, /resumed and finished/);
    await assertVerifies(pool, 800);
  } finally {
    t.cleanup();
    rmSync(pool, { force: true });
  }
});

test('boot runs end to end on a small tree: crash demo, table, plot', () => {
  const t = makeTree(1, 14); // only for a scratch directory
  try {
    const svg = join(t.base, 'boot.svg');
    const r = cli(['boot', '--sizes', '300', '--runs', '1', '--crash', '--quiet', '--plot', svg, '--tree-dir', t.base]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /killed the scan with SIGKILL/);
    assert.match(r.stdout, /verified: all 300 entries agree with the tree/);
    assert.match(r.stdout, /answers agree/);
    assert.match(r.stdout, /entries\s+kernel caches\s+cold median\s+hot median\s+speedup\s+pool size \(used\)\s+lookups\/s/);
    assert.match(r.stdout, /\n\s+300\s+warm\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+×/);
    const doc = readFileSync(svg, 'utf8');
    assert.match(doc, /^<svg /);
    assert.equal(doc.match(/<polyline /g)?.length, 2);
    assert.equal(doc.match(/<circle /g)?.length, 2, 'one point per series');
    rmSync(svg);
  } finally {
    t.cleanup();
  }
});

test('boot --in-process measures in this process and agrees with itself', async () => {
  const t = makeTree(1, 15); // a scratch directory for the generated tree
  try {
    const r = await runMain(['boot', '--entries', '200', '--runs', '2', '--in-process', '--quiet', '--seed', '7', '--lookups', '50', '--tree-dir', t.base]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /in this process \(pool closed and reopened each run\)/);
    assert.equal(r.stdout.match(/answers agree/g)?.length, 2);
    assert.match(r.stdout, /\n\s+200\s+warm\s+/);
    assert.match(r.stdout, /durability by cache-line flush|durability by msync/);
  } finally {
    t.cleanup();
  }
});
