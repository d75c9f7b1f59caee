/**
 * A pool on a file whose durable writes fail: nothing is reported durable that is not, no
 * promise rejects with nobody to handle it, and close() says when commits were lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FerriteError, isFerriteError } from '@ferrite/core';
import { Pool } from '../src/index.js';
import { memFiles, memTarget } from './helpers/mem-files.js';
import type { MemFiles } from './helpers/mem-files.js';

const MB = 1024 * 1024;
const CHILD = fileURLToPath(new URL('./helpers/staged-failure-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function fresh(): { files: MemFiles; pool: Pool; root: number } {
  const files = memFiles();
  const pool = Pool.create(memTarget(files), { layout: 'file', size: 1 * MB, maxSize: 64 * MB });
  return { files, pool, root: pool.root(64) };
}

function u64(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
}

/** The log's syncs fail from now on (EIO, as fdatasync on a failing disk). */
function failSyncs(files: MemFiles): void {
  files.wal.sync = () => {
    throw new FerriteError('EIO', 'fdatasync failed (simulated)');
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a group whose log sync failed while in flight is not applied or reported durable by a later commit()', async () => {
  const { files, pool, root } = fresh();
  const d = pool.transactionDeferred((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 7);
  }).durable;
  const outcome = d.then(() => 'durable', (e: unknown) => (isFerriteError(e) ? e.code : String(e)));
  await turn(); // the group is captured and submitted; the queue has not run it yet
  failSyncs(files);
  assert.throws(() => pool.transaction((tx) => {
    tx.addRange(root + 8, 8);
    pool.writeU64(root + 8, 1);
  }), (e: unknown) => isFerriteError(e, 'EIO'));
  assert.equal(await outcome, 'EIO', 'the deferred transaction was not durable');
  assert.equal(u64(files.pool.data, root), 0, 'the failed group was not copied into the pool file');
  pool.close(); // failed before: nothing more is lost here, so it just closes
});

test('close() racing a group in flight whose sync fails: the waiter rejects and close() throws EIO', async () => {
  const { files, pool, root } = fresh();
  const d = pool.transactionDeferred((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 7);
  }).durable;
  const outcome = d.then(() => 'durable', (e: unknown) => (isFerriteError(e) ? e.code : String(e)));
  await turn();
  failSyncs(files);
  assert.throws(() => pool.close(), (e: unknown) => isFerriteError(e, 'EIO') && /lost/.test((e as Error).message));
  assert.equal(await outcome, 'EIO');
  assert.equal(u64(files.pool.data, root), 0, 'the failed group was not copied into the pool file');
  assert.ok(pool.isClosed);
});

test('close() whose own commit of pending deferred writes fails throws EIO (they are lost) and closes', async () => {
  const { files, pool, root } = fresh();
  const d = pool.transactionDeferred((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 7);
  }).durable;
  const outcome = d.then(() => 'durable', (e: unknown) => (isFerriteError(e) ? e.code : String(e)));
  failSyncs(files);
  assert.throws(() => pool.close(), (e: unknown) => isFerriteError(e, 'EIO'));
  assert.ok(pool.isClosed);
  assert.equal(await outcome, 'EIO');
  assert.equal(u64(files.pool.data, root), 0, 'nothing of the failed commit was copied into the pool file');
});

test('close() after a clean run still returns normally', async () => {
  const { files, pool, root } = fresh();
  await pool.transactionDeferred((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, 5);
  }).durable;
  pool.close();
  const again = Pool.open(memTarget(files), { layout: 'file' });
  assert.equal(again.readU64(root), 5);
  again.close();
});

test('a deferred transaction whose capture fails inside the call: the caller gets the error, no orphan promise rejects (child process)', () => {
  const child = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', CHILD, 'capture-fail'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(child.status, 0, `the child died: ${child.stderr}`);
  const seen = JSON.parse(child.stdout.trim().split('\n').pop()!) as { seen: string; closed: string };
  assert.equal(seen.seen, 'EIO');
});

test('a transaction with more than 64 MiB of changes whose log cannot grow at capture: EIO (not a PoolFullError: it was not rolled back), the pool unusable', () => {
  const files = memFiles();
  const grow = files.wal.grow.bind(files.wal);
  let limit = Infinity;
  files.wal.grow = (n: number): void => {
    if (n > limit) throw new FerriteError('ENOSPC', `no room for ${n} bytes of log (simulated)`);
    grow(n);
  };
  const pool = Pool.create(memTarget(files), { layout: 'file', size: 96 * MB, maxSize: 96 * MB });
  // Room for the 64 MiB reserve() asks for at most, not for the whole record.
  limit = 68 * MB;
  let block = 0;
  assert.throws(() => pool.transaction((tx) => {
    block = tx.alloc(70 * MB);
    pool.bytes.fill(9, block, block + 70 * MB);
  }), (e: unknown) => isFerriteError(e, 'EIO') && /64 MiB/.test((e as Error).message));
  assert.throws(() => pool.transaction(() => 0), (e: unknown) => isFerriteError(e, 'EIO'));
  pool.close(); // failed before: nothing more is lost here
  limit = Infinity;
  const again = Pool.open(memTarget(files), { layout: 'file' });
  assert.equal(again.bytes[block], 0, 'nothing of the transaction is durable');
  again.close();
});
