import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aborted, runCrashCase, type Maps } from './support/collections-crash.js';

const fill = (m: Maps, n: number, from = 0): void => {
  m.pool.transaction(() => {
    for (let i = from; i < from + n; i++) m.map.set(`k${i}`, { i, s: 'abcdefghijklmnopqrst' });
  });
};

const cases: { name: string; prefill: (m: Maps) => void; op: (m: Maps) => void }[] = [
  { name: 'PMap set new', prefill: (m) => fill(m, 5), op: (m) => m.map.set('new', { i: -1, s: 'x' }) },
  { name: 'PMap set update in place', prefill: (m) => fill(m, 5), op: (m) => m.map.set('k3', { i: 33, s: 'short' }) },
  { name: 'PMap set update relocate', prefill: (m) => fill(m, 5), op: (m) => m.map.set('k3', 'y'.repeat(300)) },
  { name: 'PMap delete', prefill: (m) => fill(m, 5), op: (m) => assert.equal(m.map.delete('k2'), true) },
  { name: 'PMap clear', prefill: (m) => fill(m, 40), op: (m) => m.map.clear() },
  // 16 buckets: the 17th insert starts a resize, the next ones each move 4 old buckets,
  // the 21st finishes the migration and frees the old table.
  { name: 'PMap rehash start', prefill: (m) => fill(m, 16), op: (m) => m.map.set('k16', 16) },
  { name: 'PMap rehash step', prefill: (m) => fill(m, 17), op: (m) => m.map.set('k17', 17) },
  { name: 'PMap rehash final step', prefill: (m) => fill(m, 20), op: (m) => m.map.set('k20', 20) },
  // 1024 -> 2048 buckets: the old table has two 512-bucket segments; the 128th step (the
  // 1153rd insert) finishes old segment 0 and frees it.
  {
    name: 'PMap rehash step freeing an old segment',
    prefill: (m) => fill(m, 1152),
    op: (m) => {
      m.map.set('k1152', 1152);
      const header = (m.map as unknown as { header: number }).header;
      assert.equal(m.pool.readU64(header + 48), 512, 'the migration cursor reached the end of old segment 0');
    },
  },
  { name: 'PMap delete during migration', prefill: (m) => fill(m, 18), op: (m) => assert.equal(m.map.delete('k1'), true) },
  { name: 'PMap relocating update during migration', prefill: (m) => fill(m, 18), op: (m) => m.map.set('k5', 'r'.repeat(200)) },
  {
    // Reads between the writes of one transaction: the map's cached segment references are
    // filled, then the resize and each migration step must drop them (recovery starts without).
    name: 'PMap reads between writes across a resize and its migration',
    prefill: (m) => fill(m, 15),
    op: (m) => m.pool.transaction(() => {
      for (let i = 15; i < 22; i++) {
        m.map.set(`k${i}`, i);
        for (let j = 0; j <= i; j++) assert.notEqual(m.map.get(`k${j}`), undefined, `get(k${j}) after inserting k${i}`);
        assert.equal(m.map.has(`k${i + 1}`), false);
      }
    }),
  },
  {
    name: 'PMap aborted transaction',
    prefill: (m) => fill(m, 10),
    op: (m) => aborted(m.pool, () => { m.map.set('a', 1); m.map.delete('k1'); m.map.set('k2', 'z'.repeat(100)); }),
  },
];

for (const c of cases) {
  test(`${c.name}: every crash point recovers to before or after`, () => {
    assert.ok(runCrashCase(c) > 0);
  });
}
