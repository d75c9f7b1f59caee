/**
 * Stores whose pool crosses 4 GiB, with Node 24 (Node 20 cannot make an ArrayBuffer above
 * 4 GiB; see full-disk.test.ts for its refusal): a 6 GiB pool with entries below and above
 * 4 GiB and a word across it, reopened and checked; a 3 GiB pool grown to 6 GiB through
 * 4 GiB. Values past 4 GiB used not to decode (msgpackr-extract's 32-bit positions). The
 * pool files are allocated on the disk (fallocate) and removed after.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { node24, runWithNode } from '../../native/test/support/node24.js';

const CHILD = fileURLToPath(new URL('./support/big-pool-child.ts', import.meta.url));
const n24 = node24();
const GiB = 2 ** 30;

function scenario(name: string): Record<string, unknown> {
  if ('skip' in n24) throw new Error(n24.skip);
  const dir = mkdtempSync(join(tmpdir(), `ferrite-${name}-`));
  try {
    const child = runWithNode(n24.bin, CHILD, [name, dir]);
    assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertWhole(seen: Record<string, unknown>): void {
  assert.equal(seen.entriesRead, true, 'every entry reads back as written');
  assert.equal(seen.checkOk, true, JSON.stringify(seen.problems));
  assert.equal(seen.word, 0x1234_5678_9abc, 'the word across 4 GiB');
  const blocks = seen.blocks as { below: number; above: number };
  assert.ok(blocks.below > 0 && blocks.above > 0, `blocks on both sides of 4 GiB: ${JSON.stringify(blocks)}`);
  assert.equal(seen.poolSize, 6 * GiB);
  assert.equal(seen.fileSize, 6 * GiB);
}

describe('pools above 4 GiB (Node 24)', () => {
  const skip = 'skip' in n24 ? n24.skip : false;

  it('a 6 GiB store: entries on both sides of 4 GiB, reopened, checked', { skip }, () => {
    assertWhole(scenario('six'));
  });

  it('a 3 GiB store grown through 4 GiB to 6 GiB: entries on both sides, reopened, checked', { skip }, () => {
    const seen = scenario('grow');
    assert.ok((seen.sizeAfterFirstGrowth as number) > 4 * GiB, String(seen.sizeAfterFirstGrowth));
    assert.equal(seen.sizeAfterSecondGrowth, 6 * GiB);
    assertWhole(seen);
  });
});
