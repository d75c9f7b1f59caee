/**
 * Strings that begin with U+FEFF (a byte order mark) come back with it: keys, collection names
 * and the pool's layout name. Found in review: the UTF-8 decoders dropped a leading BOM, so a
 * map iterated '\uFEFFid' as 'id' (a key that then named another entry, and a compaction lost
 * one of the two), a store holding 'users' and '\uFEFFusers' did not open again (ECORRUPT), and
 * a layout name with a BOM never matched itself (ELAYOUT).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedRegion } from '@ferrite/core/testing';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Store } from '../src/index.js';
import { BOM_VALUES } from './support/bom-values-child.js';

test('keys that begin with U+FEFF come back with it: iteration, ranges, nested, after a reopen', () => {
  const region = new SimulatedRegion(4 << 20);
  let store = Store.open(region, { create: true, size: 4 << 20 });
  try {
    const check = (s: Store): void => {
      const m = s.map<string, string>('m');
      assert.deepEqual([...m.keys()].sort(), ['id', '\uFEFFid']);
      for (const k of [...m.keys()]) assert.equal(m.get(k), k === 'id' ? 'plain' : 'bom');
      const sm = s.sortedMap<[string, number], string>('s');
      assert.deepEqual([...sm.keys()], [['id', 1], ['\uFEFFid', 1]]);
      assert.equal(sm.has(['\uFEFFid', 1]), true);
      assert.deepEqual([...sm.range({ gte: ['\uFEFF'] })].map(([k]) => k), [['\uFEFFid', 1]]);
    };
    store.map<string, string>('m').set('\uFEFFid', 'bom');
    store.map<string, string>('m').set('id', 'plain');
    store.sortedMap<[string, number], string>('s').set(['\uFEFFid', 1], 'x');
    store.sortedMap<[string, number], string>('s').set(['id', 1], 'y');
    check(store);
    store.close();
    store = Store.open(region, {});
    check(store);
  } finally {
    store.close();
  }
});

test('collection names and the layout name that begin with U+FEFF: kept, and told apart from the same name without', () => {
  const region = new SimulatedRegion(4 << 20);
  let store = Store.open(region, { create: true, size: 4 << 20, layout: '\uFEFFapp' });
  try {
    store.map<string, string>('users').set('a', 'plain');
    store.map<string, string>('\uFEFFusers').set('a', 'bom');
    store.close();
    store = Store.open(region, { layout: '\uFEFFapp' });
    assert.deepEqual(store.collections().map((c) => c.name).sort(), ['users', '\uFEFFusers']);
    assert.equal(store.map<string, string>('users').get('a'), 'plain');
    assert.equal(store.map<string, string>('\uFEFFusers').get('a'), 'bom');
  } finally {
    store.close();
  }
});

// Found in review: msgpackr decodes strings over 64 bytes with a TextDecoder that drops a leading
// BOM when its native addon (msgpackr-extract, an optional dependency) is not installed: such
// strings, and object keys, read back without it. They are stored as UTF-16 units now.
test('values holding strings that begin with U+FEFF come back with it, with and without msgpackr-extract', () => {
  const child = fileURLToPath(new URL('./support/bom-values-child.ts', import.meta.url));
  const plain = (v: unknown): unknown => (v instanceof Map ? { map: [...v] } : v);
  for (const disabled of [true, false]) {
    const env = { ...process.env };
    if (disabled) env.MSGPACKR_NATIVE_ACCELERATION_DISABLED = 'true';
    else delete env.MSGPACKR_NATIVE_ACCELERATION_DISABLED;
    const r = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', child, 'run'], { encoding: 'utf8', env, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { native: boolean; now: unknown[]; reopened: unknown[] };
    if (disabled) assert.equal(out.native, false, 'the child decodes without msgpackr-extract');
    assert.deepEqual(out.now, BOM_VALUES.map(plain), `native ${out.native}`);
    assert.deepEqual(out.reopened, BOM_VALUES.map(plain), `native ${out.native}, reopened`);
  }
});
