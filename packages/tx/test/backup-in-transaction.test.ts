/**
 * store.backup() called inside a running transaction, or from code run while a value is being
 * encoded (a getter), is refused with ETXSTATE as shrink() and close() are: the promise
 * rejects, nothing appears at the path (nor a hidden temporary beside it), and the transaction
 * or the write carries on unaffected. Before (review finding), it was accepted and copied the
 * state some turns later: the transaction's writes whole or not at all, whichever way it
 * ended, and any write made in between.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerriteError } from '@ferrite/core';
import { Store } from '../src/index.js';

/** A fresh directory (tmpfs when there is one), removed at the end of `fn`. */
async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  let root: string;
  try {
    root = mkdtempSync(join('/dev/shm', 'ferrite-backup-tx-'));
  } catch {
    root = mkdtempSync(join(tmpdir(), 'ferrite-backup-tx-'));
  }
  try {
    await fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Settles `p` and returns what it rejected with (fails when it resolved). */
async function rejectionOf(p: Promise<unknown> | undefined): Promise<unknown> {
  assert.ok(p !== undefined, 'backup was called');
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('the backup resolved');
}

/** What a backup may have left in `dir`: anything but the stores' own files (pool, redo log). */
function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((name) => !/^(src|other)\.pool(\.wal)?$/.test(name));
}

function assertETXSTATE(err: unknown): void {
  assert.ok(isFerriteError(err, 'ETXSTATE'), `rejected with ${String(err)}`);
}

test('store.backup() inside store.transaction(fn) rejects with ETXSTATE; nothing at path; the transaction commits as if it was not called', async () => {
  await inDir(async (dir) => {
    const store = Store.open(join(dir, 'src.pool'), { create: true, size: 4 << 20 });
    try {
      const m = store.map<string, number>('m');
      m.set('before', 0);
      const dest = join(dir, 'copy.pool');
      let p: Promise<unknown> | undefined;
      const r = store.transaction(() => {
        m.set('a', 1);
        p = store.backup(dest);
        m.set('b', 2);
        return 'done';
      });
      assert.equal(r, 'done');
      assertETXSTATE(await rejectionOf(p));
      await turns(4);
      assert.deepEqual(leftovers(dir), [], 'no copy, no hidden temporary');
      assert.deepEqual([...m.entries()].sort(), [['a', 1], ['b', 2], ['before', 0]]);
      // Not counted as a running backup: the next one, outside, works.
      const info = await store.backup(dest);
      assert.equal(info.entries, 3);
      const copy = Store.open(dest, { readOnly: true });
      assert.deepEqual([...copy.map<string, number>('m').entries()].sort(), [['a', 1], ['b', 2], ['before', 0]]);
      copy.close();
    } finally {
      store.close();
    }
  });
});

test('store.backup() inside a transaction that then rolls back: ETXSTATE, nothing at path, the rollback as usual', async () => {
  await inDir(async (dir) => {
    const store = Store.open(join(dir, 'src.pool'), { create: true, size: 4 << 20 });
    try {
      const m = store.map<string, number>('m');
      m.set('before', 0);
      let p: Promise<unknown> | undefined;
      assert.throws(() => store.transaction(() => {
        m.set('a', 1);
        p = store.backup(join(dir, 'copy.pool'));
        throw new Error('roll back');
      }), /roll back/);
      assertETXSTATE(await rejectionOf(p));
      await turns(4);
      assert.deepEqual(leftovers(dir), []);
      assert.deepEqual([...m.entries()], [['before', 0]]);
      assert.ok(store.check().ok);
    } finally {
      store.close();
    }
  });
});

test('store.backup() inside transactionAsync(fn) and a nested transaction: ETXSTATE; both commit', async () => {
  await inDir(async (dir) => {
    const store = Store.open(join(dir, 'src.pool'), { create: true, size: 4 << 20 });
    try {
      const m = store.map<string, number>('m');
      let p1: Promise<unknown> | undefined;
      let p2: Promise<unknown> | undefined;
      const done = store.transactionAsync(() => {
        m.set('a', 1);
        p1 = store.backup(join(dir, 'one.pool'));
        store.transaction(() => {
          p2 = store.backup(join(dir, 'two.pool'), { compact: true });
          m.set('b', 2);
        });
      });
      assertETXSTATE(await rejectionOf(p1));
      assertETXSTATE(await rejectionOf(p2));
      await done;
      await turns(4);
      assert.deepEqual(leftovers(dir), []);
      assert.deepEqual([...m.entries()].sort(), [['a', 1], ['b', 2]]);
    } finally {
      store.close();
    }
  });
});

test('store.backup() from a getter run while a value is encoded: ETXSTATE, nothing at path; the write stores what the getter returned', async () => {
  await inDir(async (dir) => {
    const store = Store.open(join(dir, 'src.pool'), { create: true, size: 4 << 20 });
    const other = Store.open(join(dir, 'other.pool'), { create: true, size: 4 << 20 });
    try {
      const m = store.map<string, unknown>('m');
      let p1: Promise<unknown> | undefined;
      let p2: Promise<unknown> | undefined;
      // A lone write (its own transaction) and, from the same getter, a backup of another
      // store of the thread: both refused (they share the encoder, see encoding-guard.ts).
      m.set('g', {
        get x() {
          p1 = store.backup(join(dir, 'one.pool'));
          p2 = other.backup(join(dir, 'two.pool'));
          return 1;
        },
      });
      assertETXSTATE(await rejectionOf(p1));
      assertETXSTATE(await rejectionOf(p2));
      await turns(4);
      assert.deepEqual(leftovers(dir), []);
      assert.deepEqual(m.get('g'), { x: 1 });
    } finally {
      other.close();
      store.close();
    }
  });
});
