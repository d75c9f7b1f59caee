#!/usr/bin/env node
// Runs every test file of the workspace with node:test, TypeScript loaded by tsx, and
// workspace packages resolved to their sources (the "ferrite-source" export condition).
// Usage: node scripts/test.mjs [filter...]   (a filter is a substring of the file path)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}
const args = [
  '--conditions=ferrite-source',
  '--import', 'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  ...selected,
];
// The heap's expensive invariant checks (packages/heap/src/debug.ts) run in every test.
const env = { ...process.env, FERRITE_DEBUG_CHECKS: process.env.FERRITE_DEBUG_CHECKS ?? '1' };
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
process.exit(res.status ?? 1);
