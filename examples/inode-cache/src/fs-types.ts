/**
 * What the cache keeps of an lstat result, and the entry kinds, shared by the cold walk and
 * the cache so that both answer lookups with the same record.
 */
import type { Stats } from 'node:fs';

/** The kind of a directory entry, as `d_type` would say it. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

/** The attributes of an inode the cache keeps (from lstat; times in ms since the epoch). */
export interface InodeAttrs {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** The attribute names, in the order `diffAttrs` reports them. */
export const ATTR_NAMES: readonly (keyof InodeAttrs)[] = ['mode', 'size', 'nlink', 'uid', 'gid', 'mtimeMs', 'ctimeMs'];

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** The entry type of a mode word. */
export function typeOfMode(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'dir';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
}

/** The cached attributes of an lstat result. */
export function attrsOf(st: Stats): InodeAttrs {
  return { mode: st.mode, size: st.size, nlink: st.nlink, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

/** Names of the attributes that differ between `a` and `b` (empty when equal). */
export function diffAttrs(a: InodeAttrs, b: InodeAttrs): (keyof InodeAttrs)[] {
  const out: (keyof InodeAttrs)[] = [];
  for (const k of ATTR_NAMES) if (a[k] !== b[k]) out.push(k);
  return out;
}

/** `ls -l`-style mode string, e.g. `drwxr-xr-x`. */
export function modeString(mode: number): string {
  const t = typeOfMode(mode);
  const c = t === 'dir' ? 'd' : t === 'symlink' ? 'l' : t === 'file' ? '-' : '?';
  const rwx = 'rwxrwxrwx';
  let s = c;
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-';
  return s;
}
