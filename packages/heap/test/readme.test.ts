import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnFile, openOnFile } from './helpers/native-pool.js';

test('the README example runs', () => {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferrite-readme-'));
  try {
    const path = join(dir, 'app.pool');
    const pool = createOnFile(path, { layout: 'app', size: 1 << 20, maxSize: 64 << 20, forcePmem: true });
    const root = pool.root(64);
    pool.transaction((tx) => {
      const node = tx.alloc(32);
      pool.writeU64(node, 42);
      tx.addRange(root, 8);
      pool.writeU64(root, node);
    });
    pool.close();
    const again = openOnFile(path, { layout: 'app', forcePmem: true });
    assert.equal(again.readU64(again.readU64(again.rootOffset())), 42);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
