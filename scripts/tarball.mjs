// Checks one release tarball for what a user's install needs; throws an Error naming every
// fault. Used by release-pack.mjs on every pack and by the release test.
//
// - package.json: no `workspace:` range, no `ferrite-source` condition (src/ is not shipped),
//   a license, repository and engines; every file that main/module/types/exports/bin name is
//   in the tarball;
// - files: LICENSE and README.md; nothing from src/ or test/, no source maps;
// - built code: no import of a Node builtin without `node:` (a bundler that strips the prefix
//   turns `node:test` into "test", which is no builtin);
// - @ferrite/native: a prebuilt binary for linux-x64 (glibc).
import { execFileSync } from 'node:child_process';
import { isBuiltin } from 'node:module';

/** Builtins that exist only with the `node:` prefix. */
const PREFIX_ONLY = new Set(['test', 'test/reporters', 'sqlite', 'sea']);

function tar(args) {
  return execFileSync('tar', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Every path a package.json field or export condition names. */
function namedFiles(value, out = []) {
  if (typeof value === 'string') out.push(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) namedFiles(v, out);
  return out;
}

/** Import specifiers in a built file that name a builtin without `node:`. */
export function strippedBuiltins(code) {
  const found = new Set();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;
  for (const m of code.matchAll(re)) {
    const spec = m[1];
    if (spec.startsWith('node:')) continue;
    if (isBuiltin(spec) || PREFIX_ONLY.has(spec)) found.add(spec);
  }
  return [...found];
}

/** Throws when `tgz` lacks something an install needs; returns its manifest and file list. */
export function checkTarball(tgz) {
  const files = tar(['-tzf', tgz]).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  const manifest = JSON.parse(tar(['-xzOf', tgz, 'package/package.json']));
  const faults = [];
  const text = JSON.stringify(manifest);
  if (text.includes('workspace:')) faults.push('a dependency range is still workspace:');
  if (JSON.stringify([manifest.exports, manifest.imports, manifest.main, manifest.types]).includes('ferrite-source')) {
    faults.push('the exports name the ferrite-source condition');
  }
  for (const field of ['license', 'repository', 'engines']) if (!manifest[field]) faults.push(`no "${field}" field`);
  for (const f of ['LICENSE', 'README.md', 'package.json']) if (!files.includes(f)) faults.push(`${f} is missing`);
  for (const f of files) {
    if (/^(src|test|bench)\//.test(f)) faults.push(`${f} is shipped (not run by users)`);
    if (f.endsWith('.map')) faults.push(`${f} is shipped (a source map of sources not shipped)`);
  }
  const named = namedFiles([manifest.main, manifest.module, manifest.types, manifest.exports, manifest.bin]);
  for (const p of named) {
    const rel = p.replace(/^\.\//, '');
    if (!files.includes(rel)) faults.push(`${p} is named in package.json but not in the tarball`);
  }
  for (const f of files.filter((x) => /\.(c|m)?js$/.test(x))) {
    const stripped = strippedBuiltins(tar(['-xzOf', tgz, `package/${f}`]));
    if (stripped.length) faults.push(`${f} imports builtins without node: (${stripped.join(', ')})`);
  }
  if (manifest.name === '@ferrite/native' && !files.some((f) => /^prebuilds\/linux-x64\/[^/]+\.napi\.glibc\.node$/.test(f))) {
    faults.push('no prebuilt linux-x64 glibc binary in prebuilds/');
  }
  if (faults.length) throw new Error(`${tgz}:\n  ${faults.join('\n  ')}`);
  return { manifest, files };
}
