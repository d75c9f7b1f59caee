/**
 * Invariants and user-facing errors of the inode-cache demo.
 *
 * `invariant` mirrors `@ferrite/core`'s: a failure is a bug in this program, never a user
 * error. It is local because this example depends only on `@ferrite/tx` and `@ferrite/native`
 * (its package.json is fixed by the workspace lockfile).
 */

/** Asserts an invariant of this program's own code; a failure is a bug, so a plain Error. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`inode-cache invariant violated: ${message}`);
}

/**
 * An error the user can cause (a missing directory, a path outside the cached tree, an
 * unreadable entry). The CLI prints `message` without a stack and exits with `exitCode`:
 * 2 for usage errors (bad flags or arguments), 1 for everything else.
 */
export class CacheError extends Error {
  readonly code: CacheErrorCode;
  readonly exitCode: 1 | 2;
  constructor(code: CacheErrorCode, message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'CacheError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/**
 * Stable codes, named after the closest errno or ferrite code:
 * - EUSAGE: bad command line (exit 2).
 * - ENOENT: a path does not exist on the file system, or is not in the cache.
 * - ENOTDIR: a directory was expected.
 * - EACCES: the file system refused access to an entry.
 * - EOUTSIDE: a path is outside the cached tree.
 * - ENOCACHE: the pool holds no scan yet.
 * - EBUSY: a scan of another tree is in progress in this pool.
 * - EPERM: an operation needs root (`--drop-caches`).
 */
export type CacheErrorCode = 'EUSAGE' | 'ENOENT' | 'ENOTDIR' | 'EACCES' | 'EOUTSIDE' | 'ENOCACHE' | 'EBUSY' | 'EPERM';

/** A usage error: exit code 2. */
export function usageError(message: string): CacheError {
  return new CacheError('EUSAGE', message, 2);
}

/** The errno code of a Node.js system error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
