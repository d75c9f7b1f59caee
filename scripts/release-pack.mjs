#!/usr/bin/env node
// `pnpm release:pack` — the tarballs of a release: one per public package (core, native, heap,
// tx, cli), made by `pnpm pack`, which rewrites `workspace:*` dependencies to the packages'
// versions and applies each package's `publishConfig` (the `exports` without the
// workspace-only `ferrite-source` condition). @ferrite/native gets its prebuilt linux-x64
// binary (packages/native/scripts/prebuild.mjs) for the time of the pack, so an install needs
// no compiler.
//
//   node scripts/release-pack.mjs [--out DIR] [--build | --no-build]
//
// --out: where the tarballs go (default release/ at the repository root). The packages are
// built first when any dist/ is missing or older than its sources (--build: always; --no-build:
// never). Every tarball is checked before this returns (checkTarball below); prints one path
// per line. Importable: `packRelease({ out })` returns the paths.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTarball } from './tarball.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The public packages, in dependency order. */
export const PUBLIC_PACKAGES = ['core', 'native', 'heap', 'tx', 'cli'];

/** How to run pnpm 9.15.9: the running one when called from a pnpm script, else through npx. */
function pnpm(args, options) {
  const exec = process.env.npm_execpath;
  const [cmd, pre] = exec && /pnpm/.test(exec) && exec.endsWith('js') ? [process.execPath, [exec]] : ['npx', ['--yes', 'pnpm@9.15.9']];
  const res = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', ...options });
  if (res.status !== 0) {
    throw new Error(`pnpm ${args.join(' ')} failed (${res.status ?? res.signal}):\n${res.stdout ?? ''}${res.stderr ?? ''}`);
  }
  return res.stdout;
}

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** True when some package's dist/ is missing or older than what it is built from. */
export function buildIsStale() {
  return PUBLIC_PACKAGES.some((name) => {
    const dir = join(root, 'packages', name);
    const dist = join(dir, 'dist');
    if (!existsSync(dist)) return true;
    const inputs = Math.max(newestMtime(join(dir, 'src')), newestMtime(join(dir, 'tsup.config.ts')), newestMtime(join(dir, 'package.json')));
    // The oldest output must be newer than the newest input (tsup cleans dist/ first).
    let oldest = Infinity;
    for (const f of readdirSync(dist)) oldest = Math.min(oldest, statSync(join(dist, f)).mtimeMs);
    return oldest < inputs;
  });
}

/** Packs the release into `out`; returns the tarball paths (core, native, heap, tx, cli). */
export function packRelease({ out = join(root, 'release'), build = 'auto' } = {}) {
  out = resolve(out);
  if (build === true || (build === 'auto' && buildIsStale())) pnpm(['-r', '--workspace-concurrency=1', 'build'], { cwd: root });
  mkdirSync(out, { recursive: true });
  const nativeDir = join(root, 'packages', 'native');
  const prebuild = spawnSync(process.execPath, [join(nativeDir, 'scripts', 'prebuild.mjs')], { encoding: 'utf8' });
  if (prebuild.status !== 0) throw new Error(`prebuild failed:\n${prebuild.stderr}`);
  const tarballs = [];
  try {
    for (const name of PUBLIC_PACKAGES) {
      const dir = join(root, 'packages', name);
      const printed = pnpm(['pack', '--pack-destination', out], { cwd: dir }).trim().split('\n');
      const tgz = printed.findLast((l) => l.trim().endsWith('.tgz')).trim();
      tarballs.push(resolve(out, tgz));
    }
  } finally {
    // The workspace itself loads the addon from build/ (a source build); prebuilds/ exists
    // only while packing.
    rmSync(join(nativeDir, 'prebuilds'), { recursive: true, force: true });
  }
  for (const t of tarballs) checkTarball(t);
  return tarballs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const build = args.includes('--build') ? true : args.includes('--no-build') ? false : 'auto';
  try {
    for (const t of packRelease({ out: outAt >= 0 ? args[outAt + 1] : undefined, build })) console.log(t);
  } catch (err) {
    console.error(`release:pack: ${err.message}`);
    process.exit(1);
  }
}
