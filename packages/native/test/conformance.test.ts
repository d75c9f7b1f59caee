/**
 * The shared Region conformance suite, run on the native mapping: on tmpfs with cache-line
 * flushes forced (the pmem path) and on an ordinary file on disk (the msync path).
 */
import { join } from 'node:path';
import type { Region } from '@ferrite/core';
// Until the testing index exports it (`export * from './region-conformance.js'`), the suite is
// imported by path.
import { regionConformanceSuite } from '../../core/src/testing/region-conformance.js';
import { map, Mapping } from '../src/index.js';
import { diskBase, scratchDir, shmBase } from './helpers.js';

function factory(base: string, forcePmem: boolean) {
  const scratch = scratchDir(base);
  let next = 0;
  return {
    create(length: number): Region {
      return map(join(scratch.dir, `r${next++}.pool`), { create: { size: length, exclusive: true }, forcePmem });
    },
    reopen(region: Region): Region {
      if (!(region instanceof Mapping)) throw new Error('not a native mapping');
      region.close();
      return map(region.path, { forcePmem });
    },
    cleanup(): void {
      scratch.remove();
    },
  };
}

regionConformanceSuite('native mapping on tmpfs, forcePmem (clwb + sfence)', factory(shmBase, true));
regionConformanceSuite('native mapping on disk (msync)', factory(diskBase, false));
