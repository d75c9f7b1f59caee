/**
 * Who holds the lock on a pool file: read on the EBUSY path only, to put the holder's pid
 * into the error message. Linux lists every lock in /proc/locks as
 * `id: FLOCK  ADVISORY  WRITE pid major:minor:inode start end` (major and minor in hex).
 */
import { readFileSync, statSync } from 'node:fs';

/** The pids holding a flock on `path`, or [] when they cannot be found. Never throws. */
export function flockHolders(path: string): number[] {
  try {
    const st = statSync(path, { bigint: true });
    // glibc's encoding of st_dev.
    const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
    const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
    const text = readFileSync('/proc/locks', 'utf8');
    const pids: number[] = [];
    for (const line of text.split('\n')) {
      const fields = line.trim().split(/\s+/);
      // Waiters are listed as `id: -> FLOCK ...`; only holders count.
      if (fields.length < 6 || fields[1] !== 'FLOCK') continue;
      const id = fields[5].split(':');
      if (id.length !== 3) continue;
      if (BigInt('0x' + id[0]) !== major || BigInt('0x' + id[1]) !== minor) continue;
      if (BigInt(id[2]) !== st.ino) continue;
      const pid = Number(fields[4]);
      if (Number.isSafeInteger(pid) && pid > 0 && !pids.includes(pid)) pids.push(pid);
    }
    return pids;
  } catch {
    return [];
  }
}
