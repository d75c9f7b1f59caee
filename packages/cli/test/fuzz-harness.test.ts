import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFuzz } from './support/fuzz-driver.js';

test('the fuzz harness reports hangs, crashes, untyped errors and OOM against the right case, and goes on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-harness-'));
  try {
    const image = join(dir, 'base.img');
    writeFileSync(image, new Uint8Array(16 * 1024));
    const summary = await runFuzz(
      {
        images: [image],
        probe: fileURLToPath(new URL('./support/probes/misbehaving.ts', import.meta.url)),
        seed: 1,
        cases: 12,
        batchSize: 6,
        caseTimeoutMs: 1500,
        maxOldSpaceMb: 64,
        maxRssBytes: 2 ** 40,
      },
      [16 * 1024],
    );
    const byIndex = new Map(summary.findings.map((f) => [f.index, f.what]));
    assert.deepEqual([...byIndex.keys()].sort((a, b) => a - b), [3, 5, 7, 9]);
    assert.equal(byIndex.get(3), 'hang');
    assert.equal(byIndex.get(5), 'crash');
    assert.equal(byIndex.get(7), 'bug');
    assert.equal(byIndex.get(9), 'crash');
    assert.equal(summary.clean + summary.typed + summary.reported, 12 - 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
