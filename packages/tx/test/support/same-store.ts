/**
 * Two stores hold the same data: the same collections (names, kinds, in registry order), each
 * hash map the same entries (looked up both ways), each sorted map the same entries in the
 * same order, each queue the same values in the same order — compared with `assertSame`
 * (prototypes, -0, holes, bytes...). Used by the backup and compaction tests.
 */
import assert from 'node:assert/strict';
import type { Key, Store } from '../../src/index.js';
import { assertSame } from './same-value.js';

/** A comparable text of a key (keys are numbers, strings, bytes or arrays of those). */
function keyText(k: Key): string {
  if (k instanceof Uint8Array) return `b:${Buffer.from(k).toString('hex')}`;
  if (Array.isArray(k)) return `[${(k as readonly Key[]).map(keyText).join(',')}]`;
  if (typeof k === 'number') return Object.is(k, -0) ? 'n:-0' : `n:${k}`;
  return `s:${JSON.stringify(k)}`;
}

export function assertSameStore(actual: Store, expected: Store, label = 'store'): void {
  const ca = actual.collections();
  const ce = expected.collections();
  assert.deepEqual(ca.map((c) => [c.name, c.kind]), ce.map((c) => [c.name, c.kind]), `${label}: the same collections in the same order`);
  for (const c of ce) {
    const where = `${label}: ${c.kind} "${c.name}"`;
    if (c.kind === 'map') {
      const a = actual.map(c.name);
      const e = expected.map(c.name);
      assert.equal(a.size, e.size, `${where}: size`);
      const seen = new Set<string>();
      for (const [k, v] of e) {
        seen.add(keyText(k));
        assert.ok(a.has(k), `${where}: key ${keyText(k)} missing`);
        assertSame(a.get(k), v, `${where}: key ${keyText(k)}`);
      }
      let n = 0;
      for (const [k] of a) {
        n++;
        assert.ok(seen.has(keyText(k)), `${where}: extra key ${keyText(k)}`);
      }
      assert.equal(n, e.size, `${where}: iteration count`);
    } else if (c.kind === 'sortedMap') {
      const a = [...actual.sortedMap(c.name)];
      const e = [...expected.sortedMap(c.name)];
      assert.equal(a.length, e.length, `${where}: size`);
      for (let i = 0; i < e.length; i++) {
        assert.equal(keyText(a[i]![0]), keyText(e[i]![0]), `${where}: key #${i}`);
        assertSame(a[i]![1], e[i]![1], `${where}: value #${i}`);
      }
    } else {
      const a = [...actual.queue(c.name)];
      const e = [...expected.queue(c.name)];
      assert.equal(a.length, e.length, `${where}: length`);
      for (let i = 0; i < e.length; i++) assertSame(a[i], e[i], `${where}: value #${i}`);
    }
  }
}
