/**
 * The cold start: what a process with no cache must do to know a tree — list every directory
 * and lstat every entry — building the same answers the cache gives, in a JS Map.
 *
 * Iterative with an explicit stack (a deep tree cannot overflow the call stack), does not
 * follow symbolic links, and stays on the root's file system (like `find -xdev`).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { attrsOf, typeOfMode, type InodeAttrs } from './fs-types.js';
import { CacheError, errnoCode } from './invariant.js';

/** One entry as the cold walk knows it. */
export interface WalkedEntry extends InodeAttrs {
  ino: number;
}

export interface WalkResult {
  /** Every entry below the root by relative path ('/'-separated), the root itself as ''. */
  readonly byPath: Map<string, WalkedEntry>;
  readonly entries: number;
  readonly dirs: number;
  /** Paths that could not be listed or lstat'ed, with the errno code. */
  readonly errors: { path: string; code: string }[];
}

/** Lists and lstats everything under `root`; the root must be a directory. */
export function walkTree(root: string): WalkResult {
  const byPath = new Map<string, WalkedEntry>();
  const errors: { path: string; code: string }[] = [];
  const rootSt = lstatSync(root, { throwIfNoEntry: false });
  if (rootSt === undefined) throw new CacheError('ENOENT', `${root}: no such directory`);
  if (!rootSt.isDirectory()) throw new CacheError('ENOTDIR', `${root}: not a directory`);
  byPath.set('', { ino: rootSt.ino, ...attrsOf(rootSt) });
  const dev = rootSt.dev;
  const stack: string[] = [''];
  let dirs = 1;
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    const abs = rel === '' ? root : join(root, rel);
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      errors.push({ path: rel, code: errnoCode(err) ?? 'EIO' });
      continue;
    }
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      let st;
      try {
        st = lstatSync(join(abs, name), { throwIfNoEntry: false });
      } catch (err) {
        errors.push({ path: childRel, code: errnoCode(err) ?? 'EIO' });
        continue;
      }
      if (st === undefined) continue; // removed while we walked
      byPath.set(childRel, { ino: st.ino, ...attrsOf(st) });
      if (typeOfMode(st.mode) === 'dir' && st.dev === dev) {
        stack.push(childRel);
        dirs++;
      }
    }
  }
  return { byPath, entries: byPath.size - 1, dirs, errors };
}
