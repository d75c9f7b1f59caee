import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyDamage, damageArbitrary, damageOf, DAMAGE_KINDS, DAMAGE_PAGE } from './support/damage.js';

const SIZE = 64 * 1024;
const base = new Uint8Array(SIZE).map((_, i) => (Math.imul(i, 2654435761) >>> 24) & 0xff);
const donor = new Uint8Array(2 * SIZE).fill(0xab);

test('every damage class changes the image, deterministically, and never the base', () => {
  const before = base.slice();
  for (const kind of DAMAGE_KINDS) {
    const samples = fc.sample(damageOf(kind, SIZE, 2), { seed: 1, numRuns: 20 });
    let changed = 0;
    for (const d of samples) {
      const a = applyDamage(base, d, [base, donor]);
      const b = applyDamage(base, d, [base, donor]);
      assert.deepEqual(a, b, `${kind} is deterministic`);
      if (a.length !== base.length || !a.every((x, i) => x === base[i])) changed += 1;
    }
    // A swap of identical pages or a header taken from the base itself may change nothing;
    // most draws must change something.
    assert.ok(changed >= samples.length / 2, `${kind} changed ${changed}/${samples.length}`);
  }
  assert.deepEqual(base, before);
});

test('truncation shortens, extension lengthens, swaps exchange whole pages', () => {
  assert.equal(applyDamage(base, { kind: 'truncate', length: 100 }).length, 100);
  const ext = applyDamage(base, { kind: 'extend', by: 10, fill: 'ones', seed: 0 });
  assert.equal(ext.length, SIZE + 10);
  assert.equal(ext[SIZE], 0xff);
  const sw = applyDamage(base, { kind: 'swap', a: 0, b: 2 });
  assert.deepEqual(sw.subarray(0, DAMAGE_PAGE), base.subarray(2 * DAMAGE_PAGE, 3 * DAMAGE_PAGE));
  assert.deepEqual(sw.subarray(2 * DAMAGE_PAGE, 3 * DAMAGE_PAGE), base.subarray(0, DAMAGE_PAGE));
  const g = applyDamage(base, { kind: 'garbage', keep: 256, fill: 'small-words', seed: 3 });
  assert.deepEqual(g.subarray(0, 256), base.subarray(0, 256));
  const view = new DataView(g.buffer);
  for (let at = 256; at < SIZE; at += 8) assert.equal(view.getUint32(at + 4, true), 0);
});

test('damageArbitrary stays JSON (cases travel to a child process as JSON)', () => {
  for (const d of fc.sample(damageArbitrary(SIZE, 2), { seed: 2, numRuns: 200 })) {
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    applyDamage(base, d, [base, donor]);
  }
});
