/**
 * Small file systems that a test mounts itself, to reach "the file system is full" for real:
 * a tmpfs with `size=`, or an ext4 image on a loop device. Shared by the full-disk tests of
 * @ferrite/native, @ferrite/tx and the CLI.
 *
 * Mounting needs root. Where it is not possible, `smallFs` returns the reason as a string,
 * which a test passes as its `skip` message (never a failure). A mounted file system is
 * unmounted (and its loop device detached, its image and mount point removed) by an `after`
 * hook, and again at process exit should the hook not run; both are idempotent.
 */
import { after } from 'node:test';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallFs {
  readonly kind: 'tmpfs' | 'ext4';
  /** The mount point (a fresh directory). */
  readonly dir: string;
  /** Bytes an unprivileged writer may still allocate (statfs bavail). */
  available(): number;
  /** Writes a filler file until the file system is full; returns its path. */
  fill(name?: string): string;
  unmount(): void;
}

function run(cmd: string, args: string[]): { ok: boolean; why: string } {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (res.error !== undefined) return { ok: false, why: `${cmd}: ${res.error.message}` };
  if (res.status !== 0) return { ok: false, why: `${cmd} ${args.join(' ')}: ${res.stderr.trim() || `status ${String(res.status)}`}` };
  return { ok: true, why: '' };
}

/**
 * Mounts a tmpfs of `mib` MiB, or an ext4 image of `mib` MiB (1 KiB blocks as mkfs.ext4
 * chooses for small images, no reserved blocks), at a fresh directory under os.tmpdir().
 * Returns the reason when it cannot.
 */
export function smallFs(kind: 'tmpfs' | 'ext4', mib: number): SmallFs | string {
  if (process.platform !== 'linux') return `mounting a ${kind} needs Linux`;
  if (process.getuid?.() !== 0) return `mounting a ${kind} needs root (uid ${String(process.getuid?.())})`;
  const work = mkdtempSync(join(tmpdir(), `ferrite-${kind}-`));
  const dir = join(work, 'mnt');
  const image = join(work, 'fs.img');
  let mounted = false;
  const unmount = (): void => {
    if (mounted) {
      // A lazy unmount cannot fail on a busy mount; the loop device of `mount -o loop` is
      // created with autoclear and detaches when the file system is finally released.
      run('umount', [dir]).ok || run('umount', ['-l', dir]);
      mounted = false;
    }
    rmSync(work, { recursive: true, force: true });
  };
  let made = run('mkdir', [dir]);
  if (made.ok && kind === 'tmpfs') {
    made = run('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0777`, 'tmpfs', dir]);
  } else if (made.ok) {
    made = run('truncate', ['-s', `${mib}M`, image]);
    if (made.ok) made = run('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    if (made.ok) made = run('mount', ['-o', 'loop', image, dir]);
  }
  if (!made.ok) {
    unmount();
    return `cannot mount a ${kind}: ${made.why}`;
  }
  mounted = true;
  after(unmount);
  process.on('exit', unmount);
  let fillers = 0;
  return {
    kind,
    dir,
    available: () => {
      const s = statfsSync(dir);
      return s.bavail * s.bsize;
    },
    fill: (name = `filler-${fillers++}`) => {
      const path = join(dir, name);
      const fd = openSync(path, 'a');
      try {
        // Halve the chunk at each ENOSPC down to one byte: the file system ends up full.
        for (let chunk = 1 << 20; chunk >= 1; ) {
          try {
            writeSync(fd, Buffer.alloc(chunk, 0x5a));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            chunk >>= 1;
          }
        }
      } finally {
        closeSync(fd);
      }
      return path;
    },
    unmount,
  };
}
