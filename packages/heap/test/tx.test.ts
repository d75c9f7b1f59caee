import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError } from '@ferrite/core';
import type { ErrorCode } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool, TransactionAbortedError } from '../src/index.js';
import type { Transaction } from '../src/index.js';

const KB = 1024;

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isFerriteError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

function fresh(size = 64 * KB, maxSize?: number): { region: SimulatedRegion; pool: Pool; root: number } {
  const region = new SimulatedRegion(size);
  const pool = Pool.create(region, { layout: 'tx', size, maxSize });
  const root = pool.root(256);
  return { region, pool, root };
}

test('an 8-byte snapshot-and-set transaction needs 2 drains (sealed commit; PMDK: 3)', () => {
  const { region, pool, root } = fresh();
  const before = region.events;
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 1);
  });
  const st = pool.stats();
  assert.equal(st.lastTx.drains, 2, `drains: ${st.lastTx.drains}`);
  assert.equal(st.lastTx.drains, region.events.drains - before.drains, 'stats count every drain');
  // The entry, the data, the commit record (32 bytes right after the 32-byte entry: the same
  // line) and the generation word.
  assert.equal(st.lastTx.flushes, 4, 'entry 1, data 1, record 1, generation 1');
});

test('alloc + addRanges + commit uses exactly 2 drains (sealed commit)', () => {
  const { pool, root } = fresh();
  pool.transaction((tx) => {
    const b = tx.alloc(64);
    tx.addRanges([root, 8, root + 64, 16]);
    pool.writeU64(root, b);
    pool.writeU64(b, 9);
  });
  assert.equal(pool.stats().lastTx.drains, 2);
});

test('a transaction that logs nothing writes nothing', () => {
  const { region, pool } = fresh();
  const before = region.events;
  assert.equal(pool.transaction(() => 'value'), 'value');
  assert.equal(region.events.flushes, before.flushes);
  assert.equal(region.events.drains, before.drains);
});

test('ranges are merged: a range added twice is logged once, overlaps log only the new part', () => {
  const { pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 16);
    const entries = pool.log.entries;
    tx.addRange(root, 16);
    tx.addRange(root + 4, 8);
    assert.equal(pool.log.entries, entries, 'nothing new to log');
    tx.addRange(root + 8, 24);
    assert.equal(pool.log.entries, entries + 1, 'only [16, 32) is new');
    const fresh = tx.alloc(100);
    const e2 = pool.log.entries;
    const d2 = pool.mem.drains;
    tx.addRange(fresh, 100);
    assert.equal(pool.log.entries, e2, 'a fresh block needs no snapshot');
    assert.equal(pool.mem.drains, d2 + 1, 'but the pending allocator snapshots are drained');
  });
});

test('a throw rolls back ranges, allocations and frees; the error is rethrown', () => {
  const { region, pool, root } = fresh(256 * KB);
  const kept = pool.transaction((tx) => tx.alloc(32));
  const image = region.bytes.slice();
  const allocsBefore = [...pool.allocations()];
  const err = new Error('boom');
  assert.throws(
    () =>
      pool.transaction((tx) => {
        tx.addRange(root, 64);
        pool.bytes.fill(0xaa, root, root + 64);
        tx.alloc(5000);
        tx.alloc(16);
        tx.free(kept);
        throw err;
      }),
    (e) => e === err,
  );
  assert.deepEqual([...pool.allocations()], allocsBefore);
  assert.deepEqual(pool.bytes.subarray(root, root + 64), image.subarray(root, root + 64));
  assert.ok(pool.check().ok);
  assert.equal(pool.usableSize(kept), 32);
});

test('abort(): rolls back, throws TransactionAbortedError with the reason; hooks run', () => {
  const { pool, root } = fresh();
  const calls: string[] = [];
  let thrown: unknown;
  try {
    pool.transaction((tx) => {
      tx.onCommit(() => calls.push('commit'));
      tx.onAbort(() => calls.push('abort'));
      tx.addRange(root, 8);
      pool.writeU64(root, 5);
      tx.abort('why');
    });
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof TransactionAbortedError);
  assert.equal(thrown.code, 'ETXSTATE');
  assert.equal(thrown.reason, 'why');
  assert.equal(pool.readU64(root), 0);
  assert.deepEqual(calls, ['abort']);
  pool.transaction((tx) => tx.onCommit(() => calls.push('commit')));
  assert.deepEqual(calls, ['abort', 'commit']);
});

test('nested transactions flatten; an inner throw aborts the whole, even if caught', () => {
  const { pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 1);
    pool.transaction((inner) => {
      assert.equal(inner, tx);
      inner.addRange(root + 8, 8);
      pool.writeU64(root + 8, 2);
    });
  });
  assert.equal(pool.readU64(root + 8), 2);
  const boom = new Error('inner');
  assert.throws(
    () =>
      pool.transaction((tx) => {
        tx.addRange(root, 8);
        pool.writeU64(root, 10);
        try {
          pool.transaction(() => {
            throw boom;
          });
        } catch {
          // swallowed: the transaction is rolled back anyway
        }
        throwsCode(() => tx.addRange(root, 8), 'ETXSTATE');
        assert.equal(pool.currentTransaction, undefined);
      }),
    (e) => e === boom,
  );
  assert.equal(pool.readU64(root), 1);
  assert.equal(pool.currentTransaction, undefined);
});

test('transaction misuse: ETXSTATE after the end, async functions, EINVAL/ERANGE arguments', () => {
  const { pool, root } = fresh();
  let saved: Transaction | undefined;
  pool.transaction((tx) => {
    saved = tx;
  });
  throwsCode(() => saved!.addRange(root, 8), 'ETXSTATE');
  throwsCode(() => pool.transaction(async () => 1), 'ETXSTATE');
  pool.transaction((tx) => {
    throwsCode(() => tx.addRange(-1, 8), 'EINVAL');
    throwsCode(() => tx.addRange(1.5, 8), 'EINVAL');
    throwsCode(() => tx.addRange(0, 8), 'ERANGE');
    throwsCode(() => tx.addRange(pool.size - 4, 8), 'ERANGE');
    throwsCode(() => tx.addRanges([root]), 'EINVAL');
    throwsCode(() => tx.alloc(0), 'EINVAL');
    throwsCode(() => tx.alloc(2 ** 50), 'ERANGE');
    throwsCode(() => tx.free(root + 1), 'EINVAL');
    throwsCode(() => tx.free(root), 'EINVAL');
    const b = tx.alloc(16);
    tx.free(b);
    throwsCode(() => tx.free(b), 'EINVAL');
  });
  assert.ok(pool.check().ok);
});

test('ENOSPC: the transaction is rolled back and the pool is exactly as before', () => {
  const { region, pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 3);
  });
  const image = region.bytes.slice();
  throwsCode(
    () =>
      pool.transaction((tx) => {
        tx.addRange(root, 8);
        pool.writeU64(root, 4);
        for (let i = 0; i < 10000; i++) tx.alloc(512);
      }),
    'ENOSPC',
  );
  // The root record; the reader words after it (544..560) move with every transaction.
  assert.deepEqual(region.bytes.subarray(512, 544), image.subarray(512, 544), 'root record as before');
  assert.deepEqual(region.bytes.subarray(560, 576), image.subarray(560, 576), 'log header as before');
  assert.deepEqual(region.bytes.subarray(pool.heapOffset), image.subarray(pool.heapOffset), 'heap bytes as before');
  assert.equal(pool.readU64(root), 3);
  assert.ok(pool.check().ok);
  // Freed space is reusable after commit, not before.
  const blocks = pool.transaction((tx) => Array.from({ length: 20 }, () => tx.alloc(1024)));
  pool.transaction((tx) => {
    for (const b of blocks) tx.free(b);
    const again = tx.alloc(1024);
    assert.ok(!blocks.includes(again), 'a block freed in this transaction is not reused by it');
  });
  assert.ok(pool.check().ok);
});

test('a transaction may touch megabytes: 4 MiB through overflow log segments, commit and abort', () => {
  const size = 16 * 1024 * KB;
  const { region, pool, root } = fresh(size);
  const block = pool.transaction((tx) => {
    const b = tx.alloc(4 * 1024 * KB);
    pool.bytes.fill(1, b, b + 4 * 1024 * KB);
    tx.addRange(root, 8);
    pool.writeU64(root, b);
    return b;
  });
  const n = 4 * 1024 * KB;
  assert.throws(() =>
    pool.transaction((tx) => {
      tx.addRange(block, n);
      pool.bytes.fill(2, block, block + n);
      throw new Error('undo it');
    }),
  );
  assert.ok(pool.bytes.subarray(block, block + n).every((x) => x === 1));
  assert.ok(pool.check().ok);
  pool.transaction((tx) => {
    tx.addRange(block, n);
    pool.bytes.fill(3, block, block + n);
  });
  assert.ok(pool.stats().logOverflow >= n, 'the log kept its overflow segments');
  const again = Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' })), { layout: 'tx' });
  assert.ok(again.bytes.subarray(block, block + n).every((x) => x === 3));
  assert.ok(again.check().ok);
});

test('recovery at open rolls back an interrupted transaction; read-only open recovers in memory', () => {
  const { region, pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 11);
  });
  // Crash at the commit's drain of the alloc's snapshots, before its commit record is written
  // (a crash at the next drain with every line live would leave the sealed transaction whole).
  region.crashAfter(2, { on: 'drain' });
  assert.throws(() =>
    pool.transaction((tx) => {
      tx.addRange(root, 8);
      pool.writeU64(root, 12);
      tx.alloc(3000);
    }),
  );
  const img = region.crashImage({ seed: 0, mode: 'live' });
  const roRegion = SimulatedRegion.fromImage(img);
  const ro = Pool.open(roRegion, { layout: 'tx', readOnly: true });
  assert.equal(ro.recovered, true);
  assert.equal(ro.recoveredInMemory, true);
  assert.equal(ro.readU64(root), 11);
  assert.ok(ro.check().ok);
  assert.deepEqual(roRegion.bytes, img, 'the read-only region is untouched');
  const rw = Pool.open(SimulatedRegion.fromImage(img), { layout: 'tx' });
  assert.equal(rw.recovered, true);
  assert.equal(rw.recoveredInMemory, false);
  assert.equal(rw.readU64(root), 11);
  assert.ok(rw.check().ok);
});

test('readU64 rejects values above 2^53; writeU64 rejects non-safe values', () => {
  const { pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.view.setUint32(root + 4, 0xffffffff, true);
  });
  throwsCode(() => pool.readU64(root), 'ECORRUPT');
  throwsCode(() => pool.writeU64(root, 2 ** 53), 'EINVAL');
  throwsCode(() => pool.writeU64(root, -1), 'EINVAL');
});

test('an onCommit hook that throws does not break the pool: the commit is durable, the next transaction runs', () => {
  const { region, pool, root } = fresh();
  const boom = new Error('hook failed');
  const ran: number[] = [];
  assert.throws(
    () =>
      pool.transaction((tx) => {
        tx.addRange(root, 8);
        pool.writeU64(root, 3);
        tx.onCommit(() => {
          ran.push(1);
          throw boom;
        });
        tx.onCommit(() => ran.push(2));
      }),
    (err: unknown) => err === boom,
  );
  assert.deepEqual(ran, [1, 2], 'every hook ran');
  // Durable: what a crash now keeps has the commit.
  const after = Pool.open(region.crashRegion({ seed: 1, mode: 'media' }), { layout: 'tx' });
  assert.equal(after.readU64(root), 3);
  after.close();
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 4);
    // A hook may start the next transaction: the commit it follows is over.
    tx.onCommit(() => pool.transaction((t2) => {
      t2.addRange(root + 8, 8);
      pool.writeU64(root + 8, 5);
    }));
  });
  assert.equal(pool.readU64(root), 4);
  assert.equal(pool.readU64(root + 8), 5);
  assert.ok(pool.check().ok);
});

test('a tx kept past its function: ETXSTATE outside a transaction; inside a later one it is that one (serial tells)', () => {
  const { pool, root } = fresh();
  let kept: Transaction | undefined;
  let firstSerial = 0;
  pool.transaction((tx) => {
    kept = tx;
    firstSerial = tx.serial;
  });
  assert.ok(kept !== undefined);
  const stale = kept;
  throwsCode(() => stale.addRange(root, 8), 'ETXSTATE');
  pool.transaction((tx) => {
    assert.equal(stale, tx, 'the one transaction object of the pool');
    assert.ok(tx.serial > firstSerial);
  });
});
