/**
 * Where a backup or a compaction writes: a file built where nobody opens it, and given its
 * name only once it is whole and durable. It is @ferrite/native's atomic create with
 * `publishLater`: a hidden, locked temporary next to the path (`.<name>.ferrite-create-<hex>`),
 * sized with every block allocated up front (a full file system is ENOSPC here, never a fault
 * later), then at `publish` fsync'd, linked at its path without replacing anything, and the
 * directory fsync'd. A failure (`discard`) removes the temporary; a killed process leaves it,
 * and the next create of the same path (the next backup to it) removes it (its lock is free).
 * So a failed or killed backup leaves no file at the destination path, ever.
 */
import { closeSync, fsyncSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerriteError, invariant } from '@ferrite/core';
import type { Region } from '@ferrite/core';
import { createIoQueue, map, openFile } from '@ferrite/native';
import type { FileHandle, Mapping, NativeIoQueue } from '@ferrite/native';

/** Options of `Destination.create`. */
export interface DestinationOptions {
  /** File mode of the new file (before the umask). */
  readonly mode: number;
  /**
   * Cache-line flushes instead of msync: for a pool built inside the file (a compaction),
   * whose many commits need no device sync each. `publish` makes the file durable either way.
   */
  readonly pmem: boolean;
}

export class Destination {
  private published = false;
  private closed = false;
  /** A second descriptor on the hidden file and a queue whose thread syncs it (`writeBackLater`). */
  private syncer: { readonly handle: FileHandle; readonly queue: NativeIoQueue } | undefined = undefined;
  private syncing = false;
  private syncFailure: unknown = undefined;

  private constructor(
    /** The path the file gets at `publish`. */
    readonly path: string,
    private readonly mapping: Mapping,
  ) {}

  /**
   * A new hidden file of `size` bytes (allocated, zero) for `path`.
   * @throws EEXIST when `path` exists; ENOSPC when the file system has no room for `size`
   *   bytes; EACCES, ENOENT (no directory) and the file system's other errors; nothing is left.
   */
  static create(path: string, size: number, options: DestinationOptions): Destination {
    const mapping = map(path, {
      create: { size, mode: options.mode, exclusive: true, publishLater: true },
      forcePmem: options.pmem,
    });
    return new Destination(path, mapping);
  }

  /** The file's bytes (re-read after `grow` and `shrink`, which replace the array). */
  get bytes(): Uint8Array {
    return this.mapping.bytes;
  }

  get length(): number {
    return this.mapping.length;
  }

  /** The mapping as a Region (a pool is built on it for a compaction). */
  get region(): Region {
    return this.mapping;
  }

  /** Grows the file (allocated first: ENOSPC leaves it as it was). */
  grow(newLength: number): void {
    invariant(this.mapping.grow !== undefined, 'a destination is writable');
    this.mapping.grow(newLength);
  }

  /**
   * Starts an fdatasync of the file on a thread of its own, unless one is running already: the
   * copy goes on meanwhile, and the kernel writes what was copied so far to the disk, so that
   * little is left for the fsync of `publish`, which runs on the calling thread (the event
   * loop). A failure is kept and thrown by `publish`.
   */
  writeBackLater(): void {
    if (this.syncing || this.syncFailure !== undefined || this.closed) return;
    if (this.syncer === undefined) {
      const hidden = this.mapping.hiddenPath;
      if (hidden === undefined) return;
      this.syncer = { handle: openFile(hidden, { readOnly: true }), queue: createIoQueue() };
    }
    this.syncing = true;
    this.syncer.queue.submit([{ op: 'sync', file: this.syncer.handle }]).then(
      () => {
        this.syncing = false;
      },
      (err: unknown) => {
        this.syncing = false;
        this.syncFailure = err;
      },
    );
  }

  /** Waits for a background sync and closes its descriptor; throws what it failed with. */
  private stopSyncing(): void {
    const s = this.syncer;
    if (s === undefined) return;
    this.syncer = undefined;
    try {
      s.queue.waitIdle();
    } catch (err) {
      this.syncFailure ??= err;
    }
    s.handle.close();
  }

  /**
   * fsync, then the file gets its name (never replacing a file: EEXIST when one appeared
   * there meanwhile, and the file stays hidden), then the directory's fsync. Unmaps it.
   * @throws the failure of a background sync (EIO...), the file then unpublished
   */
  publish(): void {
    invariant(!this.closed && !this.published, 'a destination is published once');
    this.stopSyncing();
    if (this.syncFailure !== undefined) throw this.syncFailure;
    this.mapping.publish();
    this.published = true;
    this.close();
  }

  /**
   * For an in-place compaction: publishes under this destination's path (a temporary name
   * next to `finalPath`), then renames it over `finalPath` and fsyncs the directory. A crash
   * between the two leaves the complete temporary file, which the next compaction removes.
   */
  publishOver(finalPath: string): void {
    invariant(!this.closed && !this.published, 'a destination is published once');
    this.stopSyncing();
    if (this.syncFailure !== undefined) throw this.syncFailure;
    this.mapping.publish();
    this.published = true;
    try {
      // Still mapped, so still locked (the lock follows the file through the rename): no
      // writer opens the new pool until its name is durable. One that committed to it before
      // the directory's fsync could lose those commits to a power loss that brings the old
      // pool back under the name.
      try {
        renameSync(this.path, finalPath);
      } catch (err) {
        throw fileSystemError(`rename of ${this.path} over ${finalPath}`, err);
      }
      syncDirectory(finalPath);
    } finally {
      this.close();
    }
  }

  /** Removes the file (unpublished) and unmaps it; idempotent. */
  discard(): void {
    if (this.closed) return;
    this.close();
  }

  private close(): void {
    this.closed = true;
    try {
      this.stopSyncing();
    } finally {
      this.mapping.close();
    }
  }
}

/** A file system call's error as a FerriteError (its code where ferrite has one, else EIO). */
function fileSystemError(what: string, err: unknown): FerriteError {
  const code = (err as NodeJS.ErrnoException).code;
  const mapped = code === 'ENOENT' || code === 'EACCES' || code === 'ENOSPC' || code === 'EEXIST' ? code : code === 'EPERM' || code === 'EROFS' ? 'EACCES' : 'EIO';
  return new FerriteError(mapped, `${what} failed: ${(err as Error).message}`, { cause: err });
}

/** fsync of the directory holding `path` (a rename in it is durable after this). */
export function syncDirectory(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } catch (err) {
    // Some file systems refuse fsync on a directory (EINVAL): nothing more can be done there.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') {
      throw new FerriteError('EIO', `fsync of the directory of ${path} failed: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    closeSync(fd);
  }
}
