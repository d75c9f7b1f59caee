/**
 * Replays fuzz findings in this process, with full stacks. Give it the damaged images the
 * fuzz test saved (it prints their paths), or damage descriptions to apply to fresh bases:
 *
 *   node --conditions=ferrite-source --import tsx packages/cli/test/support/replay.ts FILE...
 *   node --conditions=ferrite-source --import tsx packages/cli/test/support/replay.ts \
 *     --damage '[[BASE, DAMAGE], ...]'
 *
 * BASE indexes the bases of makeFuzzBases (0 full, 1 pending, 2 leaky, 3 empty,
 * 4 big-pending). Fresh bases have new uuids and hash seeds, so a damage description
 * reproduces a layout-independent case only; the saved image reproduces every case.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createPool } from '../../src/commands/create.js';
import { applyDamage, type Damage } from './damage.js';
import { makeFuzzBases, LAYOUT } from './pools.js';
import { probe } from './probes/pool-probe.js';

const dir = mkdtempSync('/dev/shm/ferrite-replay-');
try {
  const args = process.argv.slice(2);
  if (args[0] === '--damage') {
    const paths = makeFuzzBases(dir, (p, size) => createPool(p, { size, layout: LAYOUT, mode: 0o600 }));
    const images = paths.map((p) => new Uint8Array(readFileSync(p)));
    for (const [base, damage] of JSON.parse(args[1] ?? '[]') as [number, Damage][]) {
      const result = probe(applyDamage(images[base], damage, images), join(dir, 'case.pool'), 0);
      console.log(JSON.stringify(damage), '→', result.outcome, 'error' in result ? `\n${result.error}` : '');
    }
  } else {
    for (const file of args) {
      const result = probe(new Uint8Array(readFileSync(file)), join(dir, 'case.pool'), 0);
      console.log(file, '→', result.outcome, 'error' in result ? `\n${result.error}` : '');
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
