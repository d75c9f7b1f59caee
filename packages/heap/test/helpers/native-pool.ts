/**
 * Pools on native mappings for the heap's own tests: the heap takes a Region, and these make
 * one from a path with @ferrite/native (a dev dependency of the heap; users open pool files
 * through @ferrite/tx's openPoolFile, which also handles the redo log of ordinary files).
 */
import { map } from '@ferrite/native';
import { Pool } from '../../src/index.js';
import type { PoolCreateOptions, PoolOpenOptions } from '../../src/index.js';

/** Creates `path` (exclusive) and a pool on its mapping; the pool closes the mapping. */
export function createOnFile(path: string, options: PoolCreateOptions & { forcePmem?: boolean; mode?: number }): Pool {
  const { forcePmem, mode, ...rest } = options;
  const mapping = map(path, {
    create: { size: rest.size, mode: mode ?? 0o600, exclusive: true },
    ...(forcePmem !== undefined ? { forcePmem } : {}),
  });
  try {
    return Pool.create(mapping, { ...rest, ownRegion: true });
  } catch (err) {
    mapping.close();
    throw err;
  }
}

/** Opens the pool in `path` on its mapping (read-only when asked); the pool closes the mapping. */
export function openOnFile(path: string, options: PoolOpenOptions & { forcePmem?: boolean } = {}): Pool {
  const { forcePmem, ...rest } = options;
  const mapping = map(path, { protection: rest.readOnly === true ? 'r' : 'rw', ...(forcePmem !== undefined ? { forcePmem } : {}) });
  try {
    return Pool.open(mapping, { ...rest, ownRegion: true });
  } catch (err) {
    mapping.close();
    throw err;
  }
}
