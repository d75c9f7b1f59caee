#!/usr/bin/env node
// The `ferrite` command's launcher. A built package (`pnpm build`) runs dist/cli.js in this
// process. A source checkout without a build (or FERRITE_CLI_SOURCE=1, which the tests set so
// they never run a stale build) runs src/cli.ts through tsx with the `ferrite-source` export
// condition, so workspace packages resolve to their TypeScript sources. The exit code is the
// command's: 0 consistent, 1 inconsistencies found, 2 usage or open error.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/cli.js', import.meta.url);
const source = new URL('../src/cli.ts', import.meta.url);
const args = process.argv.slice(2);

let built;
if (process.env.FERRITE_CLI_SOURCE !== '1' && existsSync(fileURLToPath(dist))) {
  try {
    built = await import(dist.href);
  } catch (err) {
    // A partial build (this package built, a dependency not): run the sources if we can.
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !existsSync(fileURLToPath(source))) throw err;
  }
}
if (built !== undefined) {
  process.exitCode = built.main(args);
} else if (existsSync(fileURLToPath(source))) {
  let tsx;
  try {
    // Resolved from this file, not from the caller's working directory.
    tsx = import.meta.resolve('tsx');
  } catch {
    process.stderr.write('ferrite: no build found (dist/cli.js) and tsx is not installed; run `pnpm build`\n');
    process.exit(2);
  }
  const res = spawnSync(
    process.execPath,
    ['--conditions=ferrite-source', '--import', tsx, fileURLToPath(source), ...args],
    { stdio: 'inherit' },
  );
  if (res.signal) process.kill(process.pid, res.signal);
  process.exitCode = res.status ?? 2;
} else {
  process.stderr.write('ferrite: dist/cli.js is missing; run `pnpm build` in packages/cli\n');
  process.exitCode = 2;
}
