/**
 * Dropping the kernel's page, dentry and inode caches, so that a cold start reads metadata
 * from the device as a process after a reboot would. Root only: `sync`, then write 3 to
 * /proc/sys/vm/drop_caches. A pool on tmpfs stays where it is (tmpfs pages are not cache).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { CacheError, errnoCode } from './invariant.js';

const DROP_CACHES = '/proc/sys/vm/drop_caches';

/**
 * Throws a CacheError EPERM with a clear message unless caches can be dropped here (running
 * as root on Linux). Called before any work, so a bad flag costs nothing.
 */
export function checkCanDropCaches(uid: number | undefined = process.getuid?.()): void {
  if (process.platform !== 'linux') {
    throw new CacheError('EPERM', '--drop-caches works on Linux only (it writes /proc/sys/vm/drop_caches)');
  }
  if (uid !== 0) {
    throw new CacheError('EPERM', `--drop-caches needs root (it writes ${DROP_CACHES}); run as root, e.g. with sudo, or leave the flag out (then the cold runs see the kernel's caches warm, and the table says so)`);
  }
  // Root in a container may still be refused: find out now, not after generating a tree.
  try {
    closeSync(openSync(DROP_CACHES, 'w'));
  } catch (err) {
    throw new CacheError('EPERM', `--drop-caches: cannot open ${DROP_CACHES} for writing (${errnoCode(err) ?? 'error'}); a container may forbid it even to root`);
  }
}

/** Flushes dirty data (`sync`) and drops clean caches. */
export function dropCaches(): void {
  execFileSync('sync');
  let fd: number;
  try {
    fd = openSync(DROP_CACHES, 'w');
  } catch (err) {
    throw new CacheError('EPERM', `cannot open ${DROP_CACHES} (${errnoCode(err) ?? 'error'}): dropping caches needs root on the host (a container may forbid it)`);
  }
  try {
    writeSync(fd, '3\n');
  } finally {
    closeSync(fd);
  }
}
