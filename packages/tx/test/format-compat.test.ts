/**
 * Pools written by an earlier ferrite still read back the same. `fixtures/format-1` holds a
 * pool made by the ferrite of commit 1f9e339 (pool header format 2, values encoded before
 * value-walk.ts and ferrite's own value extension), and what that version read back from it;
 * fixtures/format-1/make.ts says how. Today's ferrite must read exactly those values, opened
 * read-only or writable (which upgrades the header, see the heap's header tests), and again
 * after that upgrade.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize } from 'node:v8';
import { Store } from '../src/store.js';
import { difference } from './support/same-value.js';

const FIXTURE = new URL('./fixtures/format-1/', import.meta.url);

type Row = [collection: string, key: string | number, value: unknown];

function rowsOf(store: Store): Row[] {
  const rows: Row[] = [];
  for (const [k, v] of store.map<string, unknown>('m')) rows.push(['m', k, v]);
  for (const [k, v] of store.sortedMap<string, unknown>('s')) rows.push(['s', k, v]);
  let i = 0;
  for (const v of store.queue<unknown>('q')) rows.push(['q', i++, v]);
  return rows;
}

function assertSameRows(actual: Row[], expected: Row[], when: string): void {
  assert.equal(actual.length, expected.length, `${when}: row count`);
  const byKey = new Map(actual.map((r) => [`${r[0]}/${String(r[1])}`, r[2]]));
  for (const [c, k, v] of expected) {
    const id = `${c}/${String(k)}`;
    assert.ok(byKey.has(id), `${when}: ${id} is there`);
    const d = difference(byKey.get(id), v, id);
    assert.equal(d, undefined, `${when}: ${d ?? ''}`);
  }
}

test('a pool written by ferrite 1f9e339 (header format 2) reads back the same values, read-only and writable', () => {
  const expected = deserialize(readFileSync(new URL('expected.v8', FIXTURE))) as Row[];
  assert.ok(expected.length > 100, 'the fixture holds the rows');
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-format-1-'));
  try {
    const path = join(dir, 'values.pool');
    copyFileSync(new URL('values.pool', FIXTURE), path);
    const ro = Store.open(path, { readOnly: true });
    assertSameRows(rowsOf(ro), expected, 'read-only');
    ro.close();
    const rw = Store.open(path);
    assertSameRows(rowsOf(rw), expected, 'writable');
    assert.ok(rw.check().ok, JSON.stringify(rw.check().problems));
    // Old values next to new ones: a write of a new kind, then everything again after a reopen.
    rw.map('m').set('new kind', new Set([-0]));
    rw.close();
    const again = Store.open(path);
    assertSameRows(rowsOf(again).filter((r) => r[1] !== 'new kind'), expected, 'reopened');
    assert.deepEqual(again.map('m').get('new kind'), new Set([0]));
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
