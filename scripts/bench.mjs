#!/usr/bin/env node
// Runs every benchmark script of the workspace (packages/*/bench/*.bench.ts, bench/*.bench.ts, examples/*/bench), one after the
// other so they do not disturb each other, and prints their result lines. A benchmark prints
// lines of the form `name: median X µs (n samples)`; the medium it measured on is part of
// the name. Usage: node scripts/bench.mjs [filter...]
import { readdirSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = [];
for (const top of ['packages', 'examples']) {
  for (const pkg of readdirSync(join(root, top))) {
    const dir = join(root, top, pkg, 'bench');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.bench.ts')) files.push(join(dir, f));
  }
}
const rootBench = join(root, 'bench');
if (existsSync(rootBench)) for (const f of readdirSync(rootBench)) if (f.endsWith('.bench.ts')) files.push(join(rootBench, f));
files.sort();
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
console.log(`# ferrite benchmarks — node ${process.version}, ${os.cpus().length} × ${cpu}`);
console.log(`# ${new Date().toISOString()}; medians; the machine is noisy, compare ratios within one run`);
let failed = 0;
for (const file of selected) {
  console.log(`\n## ${relative(root, file)}`);
  const res = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', '--expose-gc', file], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (res.status !== 0) {
    failed++;
    console.log(`(benchmark ${relative(root, file)} failed with status ${res.status ?? res.signal})`);
  }
}
process.exit(failed ? 1 : 0);
