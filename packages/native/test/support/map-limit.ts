/**
 * Brings the calling process to the kernel's limit on mappings (vm.max_map_count) without
 * changing that machine-wide setting: one copy-on-write mapping of a sparse file, cut into
 * one kernel mapping per page by `protect` ('r' on every other page: each call splits it),
 * until the kernel refuses (ENOMEM). No memory is used (the pages are never touched) and one
 * descriptor. `release()` closes it, giving every one of them back.
 *
 * For child processes only: a process at the limit can die in the runtime itself (V8 cannot
 * map a new page for its heap), so the caller does as little as possible between `fill` and
 * `release` and runs a full GC first (`--expose-gc`).
 */
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFerriteError } from '@ferrite/core';
import { map, pageSize } from '../../src/index.js';

export interface MapLimit {
  /** Splits made (each one a kernel mapping more). */
  readonly splits: number;
  /** vm.max_map_count. */
  readonly limit: number;
  /** True when the kernel refused a split: the process is at its limit. */
  readonly reached: boolean;
  /** Closes the filler: the process is far from the limit again. */
  release(): void;
}

/** Fills the process's mappings up to vm.max_map_count (see the file comment). */
export function fillToMapLimit(dir: string): MapLimit {
  const page = pageSize();
  const path = join(dir, 'map-limit-filler');
  writeFileSync(path, '');
  const limit = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8'));
  // Two pages per split: room for more splits than the limit allows.
  truncateSync(path, 2 * (limit + 64) * page);
  const filler = map(path, { protection: 'r', copyOnWrite: true, lock: 'none' });
  let splits = 0;
  let reached = false;
  for (let at = page; at + page < filler.length; at += 2 * page) {
    try {
      filler.protect(at, page, 'r');
    } catch (err) {
      if (isFerriteError(err, 'ENOMEM')) {
        reached = true;
        break;
      }
      filler.close();
      throw err;
    }
    splits++;
  }
  return { splits, limit, reached, release: () => filler.close() };
}
