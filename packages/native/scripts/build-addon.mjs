#!/usr/bin/env node
// Builds the C++ addon with node-gyp at install time.
// Node's headers: the machine's own when it has them (npm's `nodedir` setting, or the
// headers installed next to node under <prefix>/include/node), so no download is needed;
// otherwise node-gyp's default (which downloads them).
// `--dir DIR` builds a copy of the sources in DIR instead (the release's prebuilt binary is
// built that way, so the package's own build/ is never removed under a running test).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dirArg = process.argv.indexOf('--dir');
const pkgDir = dirArg > 0 ? process.argv[dirArg + 1] : join(here, '..');
const require = createRequire(import.meta.url);

function nodeDir() {
  const fromEnv = process.env.npm_config_nodedir;
  if (fromEnv && existsSync(join(fromEnv, 'include', 'node', 'node.h'))) return fromEnv;
  const prefix = join(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node.h'))) return prefix;
  if (existsSync('/usr/include/node/node.h')) return '/usr';
  return undefined;
}

const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const args = [gyp, 'rebuild', '--release'];
const dir = nodeDir();
if (dir) args.push(`--nodedir=${dir}`);
const res = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
if (res.status !== 0) {
  console.error('@ferrite/native: building the addon failed; g++, make and python3 are required.');
  process.exit(res.status ?? 1);
}
