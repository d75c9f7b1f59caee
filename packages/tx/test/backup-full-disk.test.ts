/**
 * A backup whose destination is on a full (or too small) file system: the backup fails with
 * ENOSPC (a typed error, never a signal: every byte of the destination is allocated before it
 * is mapped), no file is left at the destination, and the source is untouched and usable.
 * The destination's file system is a tmpfs or a loop-mounted ext4 this test mounts (skipped,
 * with the reason, where it cannot mount); each case runs in a child, so a SIGBUS or an abort
 * would be an exit status.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { smallFs } from '../../native/test/support/small-fs.js';

const CHILD = fileURLToPath(new URL('./support/backup-full-disk-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const tmpfs = smallFs('tmpfs', 8);
const ext4 = smallFs('ext4', 24);

function runChild(args: string[]): Record<string, unknown> {
  const child = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', CHILD, ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 300_000,
  });
  assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

describe('a backup to a file system without room for it', () => {
  for (const [kind, fs] of [['tmpfs', tmpfs], ['ext4', ext4]] as const) {
    for (const scenario of ['too-big', 'grows', 'compact', 'compact-offline'] as const) {
      it(`${scenario} (${kind}): ENOSPC, no file at the destination, the source untouched and usable`, {
        skip: typeof fs === 'string' ? fs : false,
      }, () => {
        if (typeof fs === 'string') return;
        const src = mkdtempSync(join('/dev/shm', 'ferrite-backup-src-'));
        const dest = mkdtempSync(join(fs.dir, `${scenario}-`));
        try {
          const seen = runChild([scenario, src, dest]);
          const result = seen.result as { code?: string; message?: string; ok?: boolean };
          assert.equal(result.code, 'ENOSPC', JSON.stringify(seen));
          assert.deepEqual(seen.destFiles, [], 'no file, and no temporary, at the destination');
          assert.equal(seen.sourceIntact, true, 'the source holds what it held, checks clean and takes writes');
          if (scenario === 'grows') {
            assert.match(result.message ?? '', /^grow\(/, 'the destination was made, then could not grow with its source');
            assert.equal(seen.moreKept, true, 'every write the source took during the backup is there');
            assert.ok((seen.grewTo as number) > 4 << 20);
          }
          if (scenario === 'compact-offline') assert.match(result.message ?? '', /^pool full: the pool file cannot grow/, 'the rebuilt pool could not grow');
        } finally {
          rmSync(src, { recursive: true, force: true });
          rmSync(dest, { recursive: true, force: true });
        }
      });
    }
  }
});
