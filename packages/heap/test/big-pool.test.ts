/**
 * Pools at the size limits: the largest pool a mapping may hold (2^45 bytes, on a sparse
 * file, with Node 24: Node 20 cannot make an ArrayBuffer above 4 GiB), and on Node 20 the
 * growth that would pass 4 GiB (a PoolFullError naming the limit; an older build aborted).
 * Each runs in a child process; the files are removed after.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_MAPPING_LENGTH } from '@ferrite/native';
import { node20, node24, REPO_ROOT, runWithNode } from '../../native/test/support/node24.js';

const CHILD = fileURLToPath(new URL('./helpers/big-pool-child.ts', import.meta.url));
const n24 = node24();
// The 4 GiB limit is Node 20's: its test runs there, whichever Node runs the suite.
const n20 = bufferConstants.MAX_LENGTH <= 2 ** 32 ? { bin: process.execPath } : node20();

function parse(child: { signal: NodeJS.Signals | null; status: number | null; stdout: string; stderr: string }): Record<string, unknown> {
  assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

describe('pool size limits', () => {
  it(`a pool of MAX_MAPPING_LENGTH (${MAX_MAPPING_LENGTH} bytes) opens read-only under Node 24 and checks clean; writable it is refused (ENOSPC), one chunk more is ERANGE`, {
    skip: 'skip' in n24 ? n24.skip : false,
  }, () => {
    if ('skip' in n24) return;
    const dir = mkdtempSync(join('/dev/shm', 'ferrite-max-'));
    try {
      const seen = parse(runWithNode(n24.bin, CHILD, ['max', dir]));
      assert.equal(seen.size, MAX_MAPPING_LENGTH);
      assert.equal(seen.mapped, MAX_MAPPING_LENGTH);
      assert.equal(seen.checkOk, true, JSON.stringify(seen.problems));
      assert.ok((seen.freeChunks as number) > 2 ** 31 - 16, String(seen.freeChunks));
      assert.equal(seen.allocations, 0);
      assert.equal(seen.writable, 'ENOSPC');
      assert.equal(seen.untouched, true);
      assert.equal(seen.over, 'ERANGE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on a runtime with 4 GiB ArrayBuffers (Node 20), growth past 4 GiB is a PoolFullError naming the limit; the pool is unchanged and usable', {
    skip: 'skip' in n20 ? n20.skip : false,
  }, () => {
    if ('skip' in n20) return;
    const dir = mkdtempSync(join(tmpdir(), 'ferrite-limit-'));
    try {
      const child = spawnSync(n20.bin, ['--conditions=ferrite-source', '--import', 'tsx', CHILD, 'limit', dir], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 300_000,
      });
      const seen = parse(child);
      assert.equal(seen.grow, 'PoolFullError:ENOSPC');
      assert.match(String(seen.growMessage), /past 4294967296 bytes .*Node 20\.[0-9.]+.*Node 22 and later/);
      assert.equal(seen.size, 2 ** 32 - (1 << 20));
      assert.equal(seen.unchanged, true);
      assert.equal(seen.checkOk, true);
      assert.equal(seen.usable, 'ok');
      assert.equal(seen.checkAfterOk, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
