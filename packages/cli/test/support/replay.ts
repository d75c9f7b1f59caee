/**
 * Replays fuzz cases in this process, with full stacks:
 *
 *   node --conditions=ferrite-source --import tsx packages/cli/test/support/replay.ts \
 *     '[[BASE, DAMAGE], ...]'
 *
 * where BASE indexes the bases of makeFuzzBases (0 full, 1 pending, 2 leaky, 3 empty) and
 * DAMAGE is the JSON a fuzz finding prints. Deterministic: the same damage gives the same image
 * (the base images differ by their random uuids only).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createPool } from '../../src/commands/create.js';
import { applyDamage, type Damage } from './damage.js';
import { makeFuzzBases, LAYOUT } from './pools.js';
import { learnBase, probe } from './probes/pool-probe.js';

const dir = mkdtempSync('/dev/shm/ferrite-replay-');
try {
  const paths = makeFuzzBases(dir, (p, size) => createPool(p, { size, layout: LAYOUT, mode: 0o600 }));
  const images = paths.map((p) => new Uint8Array(readFileSync(p)));
  images.forEach((img, i) => learnBase(img, join(dir, `base-${i}.pool`)));
  const cases = JSON.parse(process.argv[2] ?? '[]') as [number, Damage][];
  for (const [base, damage] of cases) {
    const result = probe(applyDamage(images[base], damage, images), join(dir, 'case.pool'), 0);
    console.log(JSON.stringify(damage), '→', result.outcome, 'error' in result ? `\n${result.error}` : '');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
