/**
 * Who holds the lock on a pool file. Linux lists every lock in /proc/locks as
 * `id: FLOCK  ADVISORY  WRITE pid major:minor:inode start end` (major and minor in hex).
 * Read on the EBUSY path (the holder's pid goes into the error message), and by live readers,
 * which take no lock themselves, to tell a writer inside a change from one that died there.
 */
import { readFileSync, statSync } from 'node:fs';

/** A file's identity as /proc/locks names it. */
export interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** The identity of the file at `path` now (follows symbolic links). @throws as statSync. */
export function fileIdentity(path: string): FileIdentity {
  const st = statSync(path, { bigint: true });
  return { dev: st.dev, ino: st.ino };
}

/**
 * The pids holding a flock on the file `id`, or undefined when /proc/locks cannot be read
 * (not Linux, or hidden): then nobody can tell. Never throws. `kind` 'exclusive' lists only
 * holders of an exclusive lock (`WRITE` in /proc/locks): a pool's writer holds one; a shared
 * lock (`READ`) is an offline reader — a backup, a read-only mapping — which keeps writers out
 * and is no writer itself.
 */
export function flockHoldersOf(id: FileIdentity, kind: 'any' | 'exclusive' = 'any'): number[] | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  // glibc's encoding of st_dev.
  const major = ((id.dev >> 8n) & 0xfffn) | ((id.dev >> 32n) & ~0xfffn);
  const minor = (id.dev & 0xffn) | ((id.dev >> 12n) & ~0xffn);
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // Waiters are listed as `id: -> FLOCK ...`; only holders count.
    if (fields.length < 6 || fields[1] !== 'FLOCK') continue;
    if (kind === 'exclusive' && fields[3] !== 'WRITE') continue;
    const f = fields[5]!.split(':');
    if (f.length !== 3) continue;
    try {
      if (BigInt('0x' + f[0]) !== major || BigInt('0x' + f[1]) !== minor || BigInt(f[2]!) !== id.ino) continue;
    } catch {
      continue; // a line of another shape
    }
    const pid = Number(fields[4]);
    if (Number.isSafeInteger(pid) && pid > 0 && !pids.includes(pid)) pids.push(pid);
  }
  return pids;
}

/** The pids holding a flock on `path`, or [] when they cannot be found. Never throws. */
export function flockHolders(path: string): number[] {
  try {
    return flockHoldersOf(fileIdentity(path)) ?? [];
  } catch {
    return [];
  }
}
