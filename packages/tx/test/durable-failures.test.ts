/**
 * Durable writes of a store on a pool file around close(): a checkpoint still running when the
 * store closes must not end the process. Run in a child process: the failure was a process
 * death (an unhandled rejection), which would take the test runner with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isFerriteError } from '@ferrite/core';
import { defaultPoolPath } from '../src/index.js';

const CHILD = fileURLToPath(new URL('./support/close-checkpoint-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test('close() right after a group completion started a checkpoint: the process lives on and the store reopens whole', () => {
  const path = defaultPoolPath(`ferrite-close-ckpt-${process.pid}`);
  try {
    const child = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', CHILD, path], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(child.status, 0, `the child died: ${child.stderr}`);
    const seen = JSON.parse(child.stdout.trim().split('\n').pop()!) as { size: number; ok: boolean; transactions: number };
    assert.equal(seen.size, Math.min(40, seen.transactions));
    assert.equal(seen.ok, true);
  } finally {
    for (const p of [path, path + '.wal']) rmSync(p, { force: true });
  }
});

test('flushed() rejects (EIO) once a synchronous commit failed to become durable', async () => {
  const { memFiles, memTarget } = await import('../../heap/test/helpers/mem-files.js');
  const { Pool } = await import('@ferrite/heap');
  const { DEFAULT_LAYOUT, Store } = await import('../src/index.js');
  const files = memFiles();
  const store = Store.fromPool(Pool.create(memTarget(files), { layout: DEFAULT_LAYOUT, size: 1 << 20, maxSize: 8 << 20 }));
  const m = store.map<string, number>('m');
  m.set('a', 1);
  await store.flushed();
  files.wal.write = () => {
    throw new Error('disk gone');
  };
  assert.throws(() => m.set('b', 2), (e: unknown) => isFerriteError(e, 'EIO') || (e instanceof Error && /disk gone/.test(e.message)));
  await assert.rejects(store.flushed(), (e: unknown) => isFerriteError(e, 'EIO'));
  store.close();
});
