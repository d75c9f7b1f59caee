/**
 * store.backup(): the copy equals the store (every collection compared), checks clean, opens as
 * a writer, has a uuid of its own and the source's permissions; taken while a writer never
 * stops, it is one committed state (the bank's transfers replayed up to its last one, exactly);
 * it follows a pool that grows during the copy; it never holds a deferred transaction its
 * source could still lose; `compact` gives a smaller file with the same data; refusals leave
 * no file. backupPoolFile(): the offline copy of a pool no writer holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import { SimulatedDisk, SimulatedFileTarget, SimulatedRegion } from '@ferrite/core/testing';
import { Prng } from '@ferrite/core/testing';
import { Store, backupPoolFile } from '../src/index.js';
import type { BackupProgress } from '../src/index.js';
import { ACCOUNTS, INITIAL_BALANCE, JOURNAL_KEEP, checkBank, setUpBank, transfer, transferAsync, type Transfer } from './crash/bank.js';
import { diskDir } from './crash/kill-loop.js';
import { fillFixture } from './support/backup-fixture.js';
import { assertSameStore } from './support/same-store.js';

function code(c: ErrorCode) {
  return (e: unknown) => isFerriteError(e, c);
}

/** A fresh directory on tmpfs or on the disk, removed at the end of `fn`. */
async function inDir(medium: 'tmpfs' | 'disk', fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = mkdtempSync(join(medium === 'tmpfs' ? '/dev/shm' : diskDir(), 'ferrite-backup-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The bank after replaying `transfers` (in order) from the initial balances. */
function replay(transfers: readonly Transfer[]): number[] {
  const balances = new Array<number>(ACCOUNTS).fill(INITIAL_BALANCE);
  for (const t of transfers) {
    balances[t.from]! -= t.amount;
    balances[t.to]! += t.amount;
  }
  return balances;
}

/** The copy holds exactly the state after transfer `seq` of `done`: balances and journal. */
function assertBankAt(copy: Store, done: readonly Transfer[]): number {
  const seq = copy.map<string, number>('meta').get('seq')!;
  assert.ok(seq >= 0 && seq <= done.length, `the copy's seq ${seq} is one the writer committed (of ${done.length})`);
  checkBank(copy, new Map(done.slice(0, seq).map((t) => [t.seq, t])), seq, 0);
  const accounts = copy.map<number, number>('accounts');
  assert.deepEqual(Array.from({ length: ACCOUNTS }, (_, a) => accounts.get(a)), replay(done.slice(0, seq)), 'balances are those after its last transfer');
  const journal = [...copy.queue<Transfer>('journal')];
  assert.deepEqual(journal, done.slice(Math.max(0, seq - JOURNAL_KEEP), seq), 'the journal holds the last transfers');
  return seq;
}

for (const medium of ['disk', 'tmpfs'] as const) {
  test(`a backup of a store (${medium}) equals it, checks clean, gets its own uuid and the source's mode, and opens as a writer`, async () => {
    await inDir(medium, async (dir) => {
      const src = join(dir, 'app.pool');
      const store = Store.open(src, { create: true, size: 1 << 20, maxSize: 64 << 20, layout: 'app' });
      chmodSync(src, 0o640);
      try {
        fillFixture(store, 2);
        const seen: BackupProgress[] = [];
        const info = await store.backup(join(dir, 'copy.pool'), { onProgress: (p) => seen.push(p) });
        assert.equal(info.path, join(dir, 'copy.pool'));
        assert.equal(info.compact, false);
        assert.equal(info.bytes, statSync(info.path).size);
        assert.equal(info.bytes, store.stats().pool.size);
        assert.equal(info.sourceUuid, store.stats().pool === undefined ? '' : info.sourceUuid);
        assert.notEqual(info.uuid, info.sourceUuid);
        assert.equal(info.collections, store.collections().length);
        assert.equal(info.entries, store.collections().reduce((n, c) => n + c.size, 0));
        assert.equal(info.rounds, 1, 'nothing was written during the copy');
        assert.ok(seen.length >= 2 && seen.every((p) => p.phase === 'copy' && p.done <= p.total));
        assert.equal(seen[seen.length - 1]!.done, seen[seen.length - 1]!.total);
        assert.equal(statSync(info.path).mode & 0o777, 0o640, 'the source\'s permissions');
        assert.deepEqual(readdirSync(dir).sort(), ['app.pool', 'app.pool.wal', 'copy.pool'].filter((n) => existsSync(join(dir, n))).sort(), 'no temporary left');
        const copy = Store.open(info.path);
        try {
          assert.equal(copy.layout, 'app');
          assert.equal(copy.stats().pool.maxSize, 64 << 20);
          assert.ok(copy.check().ok, JSON.stringify(copy.check().problems.slice(0, 3)));
          assertSameStore(copy, store);
          // A writer: it takes writes, and the source does not see them.
          copy.map('mixed keys').set('only in the copy', 1);
          assert.equal(store.map('mixed keys').has('only in the copy'), false);
        } finally {
          copy.close();
        }
      } finally {
        store.close();
      }
    });
  });
}

test('compact: the same data in a smaller file; layout, maxSize and undo log capacity kept; the copy takes writes and grows', async () => {
  await inDir('disk', async (dir) => {
    const store = Store.open(join(dir, 'app.pool'), { create: true, size: 1 << 20, maxSize: 256 << 20, layout: 'kept' });
    try {
      fillFixture(store, 3);
      const big = store.map<number, string>('bulk');
      store.transaction(() => {
        for (let i = 0; i < 20_000; i++) big.set(i, `value number ${i} `.repeat(3));
      });
      store.transaction(() => {
        for (let i = 0; i < 20_000; i++) if (i % 10 !== 0) big.delete(i);
      });
      const seen: BackupProgress[] = [];
      const info = await store.backup(join(dir, 'small.pool'), { compact: true, onProgress: (p) => seen.push(p) });
      assert.equal(info.compact, true);
      assert.ok(seen.some((p) => p.phase === 'compact'));
      const last = seen[seen.length - 1]!;
      assert.deepEqual([last.phase, last.done], ['compact', last.total]);
      const before = statSync(join(dir, 'app.pool')).size;
      assert.equal(info.bytes, statSync(info.path).size);
      assert.ok(info.bytes < before / 3, `compacted ${info.bytes} bytes from ${before}`);
      const copy = Store.open(info.path);
      try {
        assert.ok(copy.check().ok, JSON.stringify(copy.check().problems.slice(0, 3)));
        assertSameStore(copy, store);
        const cs = copy.stats().pool;
        assert.equal(copy.layout, 'kept');
        assert.equal(cs.maxSize, 256 << 20);
        assert.equal(cs.size, info.bytes, 'the file ends where the pool does');
        assert.equal((copy as unknown as { pool: { heapOffset: number } }).pool.heapOffset, (store as unknown as { pool: { heapOffset: number } }).pool.heapOffset);
        assert.notEqual(info.uuid, info.sourceUuid);
        // It grows again as it fills.
        copy.transaction(() => {
          for (let i = 0; i < 5000; i++) copy.map<number, string>('bulk').set(100_000 + i, 'y'.repeat(200));
        });
        assert.ok(copy.stats().pool.size > info.bytes);
        assert.ok(copy.check().ok);
      } finally {
        copy.close();
      }
    } finally {
      store.close();
    }
  });
});

for (const [medium, compact] of [['disk', false], ['tmpfs', false], ['disk', true]] as const) {
  test(`a backup${compact ? ' (compact)' : ''} taken while a writer never stops (${medium}) is one committed state: the bank replayed up to its last transfer`, async () => {
    await inDir(medium, async (dir) => {
      const store = Store.open(join(dir, 'bank.pool'), { create: true, size: 2 << 20, maxSize: 64 << 20 });
      try {
        setUpBank(store);
        // Filler so the copy takes many steps, and values that make some transfers allocate.
        const filler = store.map<number, string>('filler');
        store.transaction(() => {
          for (let i = 0; i < 3000; i++) filler.set(i, 'f'.repeat(2000));
        });
        const prng = new Prng(7);
        const rand = (): number => prng.nextU32() / 4294967296;
        const done: Transfer[] = [];
        let stop = false;
        let turns = 0;
        const writer = (async () => {
          // Several transfers per event-loop turn, every turn, until the backup settled.
          for (; !stop; turns++) {
            for (let k = 0; k < 5; k++) done.push(transfer(store, rand));
            if (turns % 3 === 0) filler.set(turns % 3000, 'g'.repeat(1000 + (turns % 2000)));
            await turn();
          }
        })();
        const info = await store.backup(join(dir, 'copy.pool'), { compact });
        // The writer goes on a little after the backup: the copy is not simply the last state.
        const turnsAtEnd = turns;
        while (turns < turnsAtEnd + 3) await turn();
        stop = true;
        await writer;
        assert.ok(turns > 3, `the writer ran during the backup (${turns} turns)`);
        if (!compact) assert.ok(info.rounds >= 2, `the copy went round again for what was written (${info.rounds})`);
        const copy = Store.open(info.path, { readOnly: true });
        try {
          assert.ok(copy.check().ok, JSON.stringify(copy.check().problems.slice(0, 3)));
          const seq = assertBankAt(copy, done);
          assert.ok(seq > 0 && seq < done.length, `a state in the middle of the writing (${seq} of ${done.length})`);
          assert.equal(copy.map('filler').size, 3000);
        } finally {
          copy.close();
        }
      } finally {
        store.close();
      }
    });
  });
}

for (const medium of ['disk', 'tmpfs'] as const) {
test(`the pool grows during the backup (${medium}): the copy follows it, header included`, async () => {
  await inDir(medium, async (dir) => {
    const store = Store.open(join(dir, 'g.pool'), { create: true, size: 1 << 20, maxSize: 256 << 20 });
    try {
      const m = store.map<number, Uint8Array>('grow');
      let n = 0;
      store.transaction(() => {
        for (; n < 4000; n++) m.set(n, new Uint8Array(3000).fill(n & 0xff));
      });
      const sizeAtStart = store.stats().pool.size;
      let stop = false;
      const writer = (async () => {
        // 1.8 MB of new values a turn (the copy takes 4 MiB a turn) until the pool has about
        // tripled, then the same values written again (no growth), until the backup settled.
        while (!stop) {
          // Small transactions: the undo log never grows (its link word is in the header's page).
          for (let t = 0; t < 30; t++) {
            store.transaction(() => {
              for (let k = 0; k < 20; k++, n++) m.set(n < 16_000 ? n : n % 16_000, new Uint8Array(3000).fill((n < 16_000 ? n : n % 16_000) & 0xff));
            });
          }
          await turn();
        }
      })();
      // The pool's size when the copy started and when it ended (its first and last reports).
      const sizes: number[] = [];
      const info = await store.backup(join(dir, 'copy.pool'), { onProgress: () => sizes.push(store.stats().pool.size) });
      stop = true;
      await writer;
      assert.ok(sizes[sizes.length - 1]! > sizes[0]!, `the pool grew during the copy (${sizes.join(', ')})`);
      assert.equal(info.bytes, sizes[sizes.length - 1], 'the copy is as long as the pool at its last step');
      const copy = Store.open(info.path, { readOnly: true });
      try {
        assert.ok(info.bytes > sizeAtStart, `the copy grew with it (${info.bytes} > ${sizeAtStart})`);
        assert.ok(copy.check().ok, JSON.stringify(copy.check().problems.slice(0, 3)));
        const cm = copy.map<number, Uint8Array>('grow');
        const size = cm.size;
        assert.ok(size >= 4000 && size % 20 === 0, `whole transactions only (${size})`);
        for (let i = 0; i < size; i += 97) assert.ok(cm.get(i)!.every((b) => b === (i & 0xff)), `value ${i}`);
        assert.equal(cm.get(size), undefined);
      } finally {
        copy.close();
      }
    } finally {
      store.close();
    }
  });
});
}

test('deferred commits: the copy never holds a transaction its source could still lose (simulated disk, crashed after the backup)', async () => {
  await inDir('tmpfs', async (dir) => {
    // The source on a simulated disk whose I/O queue runs nothing by itself: deferred groups
    // become durable only when something waits for them.
    const disk = new SimulatedDisk({ pool: 32 << 20, wal: 32 << 20 });
    const store = Store.open(new SimulatedFileTarget(disk), { create: true, size: 4 << 20, maxSize: 32 << 20 });
    setUpBank(store);
    store.transaction(() => {
      for (let i = 0; i < 12; i++) store.map('filler').set(i, 'x'.repeat(250_000));
    });
    const prng = new Prng(11);
    const rand = (): number => prng.nextU32() / 4294967296;
    const done: Transfer[] = [];
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        for (let k = 0; k < 4; k++) void transferAsync(store, rand).then((t) => done.push(t), () => undefined);
        await turn();
      }
    })();
    const info = await store.backup(join(dir, 'copy.pool'));
    stop = true;
    await writer;
    // The machine dies now: only what is durable on the disk survives.
    const image = disk.region.crashImage({ seed: 0, mode: 'media' });
    const survivor = Store.open(SimulatedFileTarget.fromRegion(SimulatedRegion.fromImage(image, disk.region.options)));
    const copy = Store.open(info.path, { readOnly: true });
    try {
      const kept = survivor.map<string, number>('meta').get('seq')!;
      const copied = copy.map<string, number>('meta').get('seq')!;
      assert.ok(copied > 0, 'the copy holds transfers');
      assert.ok(copied <= kept, `the copy holds transfer ${copied}, the source kept only ${kept} through the crash`);
      checkBank(copy, new Map(), 0, Infinity);
      assert.ok(copy.check().ok);
    } finally {
      copy.close();
      survivor.close();
    }
  });
});

test('refusals leave no file: EINVAL, EEXIST, EBUSY (a backup running), ECLOSED (closed mid-way); the store stays usable', async () => {
  await inDir('tmpfs', async (dir) => {
    const store = Store.open(join(dir, 's.pool'), { create: true, size: 8 << 20 });
    store.transaction(() => {
      for (let i = 0; i < 24; i++) store.map<number, string>('m').set(i, 'x'.repeat(250_000));
    });
    const dest = join(dir, 'b.pool');
    await assert.rejects(store.backup(''), code('EINVAL'));
    await assert.rejects(store.backup(dest, { compact: 'yes' } as never), code('EINVAL'));
    await assert.rejects(store.backup(dest, { onProgres: () => {} } as never), code('EINVAL'));
    await assert.rejects(store.backup(dest, { onProgress: 5 } as never), code('EINVAL'));
    await assert.rejects(store.backup(join(dir, 's.pool')), code('EEXIST'));
    await assert.rejects(store.backup(join(dir, 'missing-dir', 'b.pool')), code('ENOENT'));
    const first = store.backup(dest);
    await assert.rejects(store.backup(join(dir, 'c.pool')), code('EBUSY'));
    assert.throws(() => store.shrink(), code('EBUSY'));
    await first;
    // Closed while the copy runs (a big pool, many steps): rejected, nothing at the path.
    const late = store.backup(join(dir, 'd.pool'));
    await turn();
    await turn();
    store.close();
    await assert.rejects(late, code('ECLOSED'));
    assert.deepEqual(readdirSync(dir).sort(), ['b.pool', 's.pool'], 'no file and no temporary left');
    await assert.rejects(store.backup(join(dir, 'e.pool')), code('ECLOSED'));
  });
});

test('backupPoolFile: the offline copy of a closed pool (plain and compact); EBUSY while a writer holds it, and for a read-only store of the file', async () => {
  await inDir('disk', async (dir) => {
    const src = join(dir, 'app.pool');
    const store = Store.open(src, { create: true, size: 1 << 20, maxSize: 32 << 20 });
    fillFixture(store);
    assert.throws(() => backupPoolFile(src, join(dir, 'x.pool')), code('EBUSY'));
    // A read-only store beside the writer follows it: the copy is the writer's to take.
    const reader = Store.open(src, { readOnly: true });
    await assert.rejects(reader.backup(join(dir, 'r.pool')), code('EBUSY'));
    reader.close();
    assert.equal(existsSync(join(dir, 'x.pool')) || existsSync(join(dir, 'r.pool')), false);
    store.close();
    // Even with no writer now: one could open while the copy runs (backupPoolFile keeps them out).
    const alone = Store.open(src, { readOnly: true });
    await assert.rejects(alone.backup(join(dir, 'r.pool')), code('EBUSY'));
    alone.close();
    assert.equal(existsSync(join(dir, 'r.pool')), false);
    const plain = backupPoolFile(src, join(dir, 'plain.pool'));
    const compact = backupPoolFile(src, join(dir, 'compact.pool'), { compact: true });
    assert.equal(plain.maxPauseMs, 0);
    assert.ok(compact.bytes < plain.bytes);
    const ref = Store.open(src, { readOnly: true });
    try {
      for (const p of [plain.path, compact.path]) {
        const c = Store.open(p, { readOnly: true });
        try {
          assert.ok(c.check().ok);
          assertSameStore(c, ref, p);
        } finally {
          c.close();
        }
      }
    } finally {
      ref.close();
    }
    assert.throws(() => backupPoolFile(src, join(dir, 'plain.pool')), code('EEXIST'));
    assert.throws(() => backupPoolFile(join(dir, 'none.pool'), join(dir, 'y.pool')), code('ENOENT'));
    assert.equal(existsSync(join(dir, 'y.pool')), false);
  });
});
