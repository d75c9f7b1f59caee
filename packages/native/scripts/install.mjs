#!/usr/bin/env node
// The package's `install` script. An installed package that holds a prebuilt binary for this
// platform (prebuilds/, see README) uses it: nothing is compiled, so no compiler, make or
// python is needed. Where none matches, or it does not load (an older glibc, say), the addon
// is built from source with node-gyp (a dependency of this package): that needs g++, make and
// python3. A checkout of the repository (addon/ beside src/) always builds from source, so a
// changed addon.cc is never shadowed by an older binary. `npm_config_build_from_source=true`
// (npm's `--build-from-source`) or FERRITE_BUILD_FROM_SOURCE=1 forces the source build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function forced() {
  const v = process.env.npm_config_build_from_source;
  return v === 'true' || v === '@ferrite/native' || process.env.FERRITE_BUILD_FROM_SOURCE === '1';
}

/** The prebuilt binary that loads in this Node, or undefined (with the reason on stderr). */
function loadablePrebuild() {
  let file;
  try {
    // Only prebuilds/: a build/ directory left by an earlier source build is not a release binary.
    process.env.PREBUILDS_ONLY = '1';
    file = require('node-gyp-build').path(pkgDir);
  } catch {
    process.stderr.write(`@ferrite/native: no prebuilt binary for ${process.platform}-${process.arch}; building from source\n`);
    return undefined;
  } finally {
    delete process.env.PREBUILDS_ONLY;
  }
  try {
    require(file);
    return file;
  } catch (err) {
    process.stderr.write(`@ferrite/native: the prebuilt binary does not load here (${err.message.split('\n')[0]}); building from source\n`);
    return undefined;
  }
}

const checkout = existsSync(join(pkgDir, 'src', 'binding.ts'));
const prebuilt = checkout || forced() ? undefined : loadablePrebuild();
if (prebuilt === undefined) {
  const res = spawnSync(process.execPath, [join(pkgDir, 'scripts', 'build-addon.mjs')], { cwd: pkgDir, stdio: 'inherit' });
  process.exit(res.status ?? 1);
}
