/**
 * A transactionAsync nested in a store.transaction that writes nothing: its promise says the
 * state it read is durable, so it resolves only once every earlier commit is (found in review:
 * it resolved at once, before an earlier transactionAsync's log sync; a crash then lost the
 * balance the nested call had read).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../src/index.js';

test('a transactionAsync nested in a read-only transaction resolves after the earlier deferred commits are durable', async () => {
  // An ordinary file (not /dev/shm): durability waits for a log sync off the main thread.
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-nested-deferred-'));
  try {
    const store = Store.open(join(dir, 'p.pool'), { create: true, size: 4 << 20, forcePmem: false });
    const m = store.map<string, number>('m');
    const settled: string[] = [];
    const t1 = store.transactionAsync(() => {
      m.set('balance', 100);
      return 'T1';
    });
    void t1.then(() => settled.push('T1'));
    let nested: Promise<number | undefined> | undefined;
    store.transaction(() => {
      nested = store.transactionAsync(() => m.get('balance'));
    });
    assert.ok(nested !== undefined);
    const v = await nested;
    settled.push('nested');
    assert.equal(v, 100);
    assert.deepEqual(settled, ['T1', 'nested'], 'the read resolved only once the write it saw was durable');
    assert.equal(await t1, 'T1');
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
