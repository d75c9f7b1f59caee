/**
 * Misuse of the heap's public API, found in review: each case ended in a process death, a
 * committed transaction lost, part of an aborted one committed, a damaged allocator, or a raw
 * error. Each must be a typed refusal now, with the pool sound (check() clean) afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';

const SIZE = 256 * 1024;
const code = (c: ErrorCode) => (e: unknown): boolean => isFerriteError(e, c);

function fresh(): { region: SimulatedRegion; pool: Pool; root: number } {
  const region = new SimulatedRegion(SIZE);
  const pool = Pool.create(region, { size: SIZE });
  const root = pool.root(64);
  return { region, pool, root };
}

test('writeU64 on a read-only pool is EROFS (it stored into the read-only mapping: SIGSEGV on a pool file); readU64/writeU64 after close are ECLOSED', () => {
  const { region, pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 5);
  });
  pool.close();
  const ro = Pool.open(region, { readOnly: true });
  const before = region.bytes.slice();
  assert.throws(() => ro.writeU64(root, 9), code('EROFS'));
  assert.deepEqual(region.bytes, before, 'nothing written');
  assert.equal(ro.readU64(root), 5);
  ro.close();
  assert.throws(() => ro.readU64(root), code('ECLOSED'));
  assert.throws(() => ro.writeU64(root, 1), code('ECLOSED'));
  const w = Pool.open(region, {});
  w.close();
  assert.throws(() => w.writeU64(root, 1), code('ECLOSED'));
  assert.equal(Pool.open(region, {}).readU64(root), 5, 'the closed pool was not written');
});

test('a store outside a transaction right after a sealed commit never makes recovery roll that commit back', () => {
  const { region, pool, root } = fresh();
  pool.transaction((tx) => {
    tx.addRange(root, 16);
    pool.writeU64(root, 1);
    pool.writeU64(root + 8, 2);
  });
  pool.writeU64(root + 8, 3); // outside any transaction, not flushed
  // Any dirty line may reach the media: the store's line alone, or everything.
  for (const mode of ['live', 'media'] as const) {
    const image = region.crashImage((word) => (word >= root && word < root + 16 ? 'live' : mode));
    const after = Pool.open(SimulatedRegion.fromImage(image), {});
    assert.equal(after.readU64(root), 1, `the committed transaction survives (${mode})`);
    assert.ok([2, 3].includes(after.readU64(root + 8)), `its word holds the commit's or the store's value (${mode})`);
    assert.ok(after.check().ok);
    after.close();
  }
});

test('an onAbort hook that throws still leaves the transaction rolled back and doomed', () => {
  const { region, pool, root } = fresh();
  let after = '';
  assert.throws(() => pool.transaction((tx) => {
    tx.onAbort(() => {
      throw new Error('cache invalidation failed');
    });
    tx.addRange(root, 8);
    pool.writeU64(root, 1);
    assert.throws(() => tx.abort('stop'), /cache invalidation failed/);
    try {
      tx.addRange(root + 8, 8);
      pool.writeU64(root + 8, 2);
      after = 'wrote';
    } catch (err) {
      after = (err as { code?: string }).code ?? String(err);
    }
    return 'fn finished';
  }), code('ETXSTATE'));
  assert.equal(after, 'ETXSTATE', 'later work in the transaction is refused');
  assert.deepEqual([pool.readU64(root), pool.readU64(root + 8)], [0, 0]);
  assert.ok(pool.check().ok);
  const crashed = Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' })), {});
  assert.deepEqual([crashed.readU64(root), crashed.readU64(root + 8)], [0, 0]);
});

test('an afterDrain hook that calls the transaction is refused (ETXSTATE); the allocator stays sound', () => {
  for (const call of ['alloc', 'free', 'addRange', 'nested'] as const) {
    const { region, pool, root } = fresh();
    const victim = pool.transaction((tx) => tx.alloc(64));
    let seen: unknown;
    const run = (): void => {
      pool.transaction((tx) => {
        tx.logRanges([root, 8]);
        tx.afterDrain({ afterDrain() {
          try {
            if (call === 'alloc') tx.alloc(64);
            else if (call === 'free') tx.free(victim);
            else if (call === 'addRange') tx.addRange(root + 8, 8);
            else pool.transaction((t) => t.alloc(8));
          } catch (err) {
            seen = err;
            throw err;
          }
        } });
      });
    };
    assert.throws(run, code('ETXSTATE'), call);
    assert.ok(isFerriteError(seen, 'ETXSTATE'), `${call}: ${String(seen)}`);
    // The pool may refuse more work until reopened; what it holds is sound.
    pool.close();
    const again = Pool.open(SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'live' })), {});
    assert.ok(again.check().ok, call);
    const blocks = [...again.allocations()].map((b) => b.offset);
    assert.ok(blocks.includes(victim), `${call}: the committed block is still allocated`);
    const next = again.transaction((tx) => tx.alloc(64));
    assert.ok(!blocks.includes(next), `${call}: a new block is not an allocated one`);
  }
});

test('wrong arguments of the transaction and openLive are EINVAL, and the pool stays usable', () => {
  const { pool, root } = fresh();
  for (const [what, fn] of [
    ['addRanges(null)', (tx: Parameters<Parameters<Pool['transaction']>[0]>[0]) => tx.addRanges(null as unknown as number[])],
    ['logRanges(undefined)', (tx: Parameters<Parameters<Pool['transaction']>[0]>[0]) => tx.logRanges(undefined as unknown as number[])],
    ['afterDrain(null)', (tx: Parameters<Parameters<Pool['transaction']>[0]>[0]) => tx.afterDrain(null as never)],
    ['onCommit(5)', (tx: Parameters<Parameters<Pool['transaction']>[0]>[0]) => tx.onCommit(5 as never)],
    ['onAbort("x")', (tx: Parameters<Parameters<Pool['transaction']>[0]>[0]) => tx.onAbort('x' as never)],
  ] as const) {
    pool.transaction((tx) => {
      assert.throws(() => fn(tx), code('EINVAL'), what);
    });
  }
  pool.transaction((tx) => {
    tx.addRange(root, 8); // drained: no drain owed
    assert.throws(() => tx.afterDrain({ afterDrain() {} }), code('ETXSTATE'));
  });
  assert.throws(() => Pool.openLive(null as never, undefined, undefined, undefined), code('EINVAL'));
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 42);
  });
  assert.equal(pool.readU64(root), 42);
  assert.ok(pool.check().ok);
});
