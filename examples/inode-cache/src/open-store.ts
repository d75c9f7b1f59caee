/**
 * Opens the store a command works on: a ferrite pool, or — only when the environment says
 * INODE_CACHE_BACKEND=json, for tests of the program's logic without a pool — the JSON-file
 * fake. The default pool lives in the store's default medium directory.
 */
import { join } from 'node:path';
import { defaultPoolDir } from '@ferrite/native';
import { FerriteCacheStore } from './ferrite-store.js';
import { MemoryStore } from './memory-store.js';
import type { CacheStore } from './store-api.js';

/** The pool used when `--pool` is not given: $INODE_CACHE_POOL, else <defaultPoolDir()>/ferrite-inode-cache.pool. */
export function defaultPool(): string {
  return process.env.INODE_CACHE_POOL ?? join(defaultPoolDir(), 'ferrite-inode-cache.pool');
}

/** Opens (creating when `create`) the cache store at `path`. */
export function openStore(path: string, options: { create?: boolean; readOnly?: boolean } = {}): CacheStore & { recovered: boolean } {
  if (process.env.INODE_CACHE_BACKEND === 'json') {
    return Object.assign(new MemoryStore(path), { recovered: false });
  }
  return FerriteCacheStore.open(path, options);
}
