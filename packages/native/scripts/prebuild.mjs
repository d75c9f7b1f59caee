#!/usr/bin/env node
// Makes the prebuilt binary that a release ships: builds the addon from source (Node-API, so
// one binary serves every Node version from 20 on) in a scratch copy of the sources, and
// copies it, stripped of debug symbols, to prebuilds/<platform>-<arch>/ under the name
// node-gyp-build looks for (`<name>.node.napi.<libc>.node`, prebuildify's convention).
// Run by `pnpm release:pack`. Prints the path of the binary.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.platform !== 'linux') {
  console.error(`prebuild: releases are built on Linux (this is ${process.platform})`);
  process.exit(1);
}
const libc = existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
// A scratch copy: node-gyp rebuild starts by deleting build/, which tests running meanwhile
// load the addon from.
const scratch = mkdtempSync(join(tmpdir(), 'ferrite-prebuild-'));
try {
  cpSync(join(pkgDir, 'addon'), join(scratch, 'addon'), { recursive: true });
  copyFileSync(join(pkgDir, 'binding.gyp'), join(scratch, 'binding.gyp'));
  copyFileSync(join(pkgDir, 'package.json'), join(scratch, 'package.json'));
  // binding.gyp resolves node-addon-api from the build directory.
  symlinkSync(join(pkgDir, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  const build = spawnSync(process.execPath, [join(pkgDir, 'scripts', 'build-addon.mjs'), '--dir', scratch], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const name = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).name.replace(/\//g, '+');
  const dir = join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`);
  rmSync(join(pkgDir, 'prebuilds'), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${name}.node.napi.${libc}.node`);
  copyFileSync(join(scratch, 'build', 'Release', 'ferrite_native.node'), out);
  // Debug symbols are most of the file; strip them where binutils is installed.
  const strip = spawnSync('strip', ['--strip-debug', out], { stdio: 'ignore' });
  if (strip.error) console.error('prebuild: strip not found; the binary keeps its debug symbols');
  console.log(out);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
