/**
 * The persistent inode cache: what the file system said about a directory tree, kept in a
 * store so that a new process knows the tree without listing it again.
 *
 * Layout (see store-api.ts): inodes by number; directory entries keyed by [parentIno, name];
 * for every directory whose listing is cached, a record with its mtime and ctime; one scan
 * record with the root and the progress.
 *
 * Scan and revalidation are one algorithm (`sync`): walk the cached directories from the
 * root, depth first with an explicit stack; lstat each directory; if its mtime and ctime are
 * the ones recorded with its listing, its entries have not changed (POSIX updates a
 * directory's mtime whenever an entry is created, removed or renamed in it) and it is not
 * read; otherwise read it, lstat its entries and replace its listing. Listings are applied
 * in batched transactions together with the scan record, so a killed scan loses at most the
 * batch in flight and the next run resumes: directories already listed cost one lstat each.
 *
 * What the cache guarantees after a scan or revalidation that reported no unreadable
 * directory: the namespace (every name, its inode number and type) is the file system's as
 * of the pass; attributes (size, times, mode...) are as of the last time the entry's
 * directory was read. A file changed in place (written, chmod'ed, or a hard link to it
 * removed elsewhere, which changes its nlink and ctime) does not change its directory, so
 * `revalidate` sees it only with `deep` (which reads every directory).
 *
 * "Racy" listings: file times come from a coarse kernel clock (one tick, up to 10 ms), so a
 * directory changed right after our lstat can keep the mtime we recorded. Like git's racy
 * index check, a listing whose directory mtime or ctime is within RACY_WINDOW_MS of the time
 * it was read is not trusted and is read again by the next pass.
 */
import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { attrsOf, diffAttrs, typeOfMode, type EntryType, type InodeAttrs } from './fs-types.js';
import { CacheError, errnoCode, invariant } from './invariant.js';
import type { CacheStore, DirRecord, DirentRecord, InodeRecord, ScanRecord } from './store-api.js';

/** Default number of entries per transaction of a scan (an explicit bound on a batch's size). */
export const DEFAULT_BATCH_ENTRIES = 2048;
/** Largest batch: bounds the undo log and the DRAM held by a batch in flight. */
export const MAX_BATCH_ENTRIES = 1 << 20;
/** A listing read within this many ms of its directory's last change is read again. */
export const RACY_WINDOW_MS = 100;
/** Most mismatches `verify` keeps as messages (it counts them all). */
export const MAX_REPORTED_MISMATCHES = 100;

/** The file-system calls the cache makes; tests swap them to inject errors. */
export interface FsOps {
  /** lstat; undefined when the path does not exist; throws other errors. */
  lstat(path: string): Stats | undefined;
  /** Names in a directory (any order); throws on error. */
  readdir(path: string): string[];
}

/** The real file system. */
export const realFs: FsOps = {
  lstat: (path) => lstatSync(path, { throwIfNoEntry: false }),
  readdir: (path) => readdirSync(path),
};

export interface SyncProgress {
  readonly dirsVisited: number;
  readonly dirsListed: number;
  readonly entriesListed: number;
  readonly batches: number;
  /** Directory being read (absolute). */
  readonly path: string;
}

export interface SyncOptions {
  /** Entries per transaction (default DEFAULT_BATCH_ENTRIES); a larger directory is one transaction. */
  batchEntries?: number;
  /** Read every directory, not only changed ones (sees files changed in place). */
  deep?: boolean;
  /** Called after every committed batch, and every 256 directories visited. */
  onProgress?: (p: SyncProgress) => void;
  /** Called after every committed batch (the kill-and-resume test uses it). */
  onCommit?: (batch: number) => void;
  fs?: FsOps;
}

export interface SyncResult {
  /** Directories lstat'ed (every cached directory reachable from the root). */
  dirsVisited: number;
  /** Directories read (new, changed, racy, or all with `deep`). */
  dirsListed: number;
  entriesListed: number;
  /** Entries added, removed, and changed (same inode, new attributes or type). */
  added: number;
  removed: number;
  updated: number;
  batches: number;
  /** Entries that could not be read (the rest of the cache is complete). */
  unreadable: { path: string; code: string }[];
  /** Directories that vanished or were replaced while the pass ran (the next pass sees them). */
  raced: number;
}

/** A resolved path: the entry's inode number, type and cached attributes. */
export interface CachedEntry {
  readonly path: string;
  readonly ino: number;
  readonly type: EntryType;
  readonly attrs: InodeAttrs;
}

export interface ListedEntry extends CachedEntry {
  readonly name: string;
}

export interface VerifyReport {
  dirs: number;
  entries: number;
  /** Total mismatches (between cache and file system, or inside the cache). */
  mismatchCount: number;
  /** The first MAX_REPORTED_MISMATCHES mismatches, one line each. */
  mismatches: string[];
}

interface Listing {
  ino: number;
  path: string;
  dir: InodeAttrs;
  listedAtMs: number;
  entries: { name: string; ino: number; type: EntryType; attrs: InodeAttrs; dev: number }[];
  /** The directory changed and cannot be read any more: forget its cached listing. */
  drop?: true;
}

/** An unlink still to do: the entry `name` of `parent`, whose record was `d`. */
interface Unlink {
  parent: number;
  name: string;
  d: DirentRecord;
  /** The name now names another inode: only the old inode loses a reference. */
  keepDirent: boolean;
}

const SCAN_KEY = 'scan';

/**
 * The inode cache over a `CacheStore`. Synchronous, like the store and the fs calls it makes:
 * a scan of 100,000 entries is a second or two of work, and a boot wants it done.
 */
export class InodeCache {
  /** The root and its inode: fixed when the scan record is created, so kept in DRAM for lookups. */
  private rootRef: { root: string; rootIno: number } | undefined;

  constructor(readonly store: CacheStore) {}

  /** The scan record, or undefined when the store holds no scan. */
  get scanRecord(): ScanRecord | undefined {
    return this.store.meta.get(SCAN_KEY);
  }

  /** Numbers of cached inodes, directory entries and listed directories. */
  counts(): { inodes: number; dirents: number; dirs: number } {
    return { inodes: this.store.inodes.count(), dirents: this.store.dirents.count(), dirs: this.store.dirs.count() };
  }

  /**
   * Scans the tree at `root` into the cache, or resumes a scan of it that was interrupted,
   * or — when the cache already holds a complete scan of it — revalidates it. Each batch of
   * listings is one transaction with the scan record: durable when the transaction returns.
   * @throws CacheError ENOENT/ENOTDIR when `root` is not a directory, EBUSY when the store
   *   caches another tree, ENOCACHE when the cached root was replaced (rescan into a new pool).
   */
  scan(root: string, options: SyncOptions = {}): SyncResult {
    const fs = options.fs ?? realFs;
    const abs = realRoot(root);
    const st = lstatOrThrow(fs, abs);
    if (!st.isDirectory()) throw new CacheError('ENOTDIR', `${root}: not a directory`);
    const existing = this.scanRecord;
    if (existing === undefined) {
      const now = Date.now();
      this.store.transaction(() => {
        this.store.meta.set(SCAN_KEY, {
          root: abs, rootIno: st.ino, dev: st.dev, state: 'running', startedAtMs: now, updatedAtMs: now,
          completedAtMs: 0, dirsListed: 0, entriesListed: 0, batches: 0, lastDir: '', unreadable: 0,
        });
        this.store.inodes.set(st.ino, { ...attrsOf(st), refs: 1 });
      });
    } else if (existing.root !== abs) {
      throw new CacheError('EBUSY', `this pool caches ${existing.root} (scan ${existing.state}); use another --pool for ${abs}`);
    }
    return this.sync(options);
  }

  /**
   * Brings the cache up to date with the tree: lstats every cached directory and reads
   * again those whose mtime or ctime changed (all of them with `deep`). Resumes an
   * interrupted scan too. Batched transactions as in `scan`.
   * @throws CacheError ENOCACHE when the store holds no scan or the root is gone or replaced.
   */
  revalidate(options: SyncOptions = {}): SyncResult {
    if (this.scanRecord === undefined) throw new CacheError('ENOCACHE', 'the pool holds no scan yet: run `scan DIR` first');
    return this.sync(options);
  }

  private sync(options: SyncOptions): SyncResult {
    const fs = options.fs ?? realFs;
    const batchEntries = options.batchEntries ?? DEFAULT_BATCH_ENTRIES;
    if (!Number.isSafeInteger(batchEntries) || batchEntries < 1 || batchEntries > MAX_BATCH_ENTRIES) {
      throw new CacheError('EUSAGE', `batch size must be an integer in [1, ${MAX_BATCH_ENTRIES}], got ${batchEntries}`, 2);
    }
    const scan = this.scanRecord;
    invariant(scan !== undefined, 'sync runs on a store with a scan record');
    const rootSt = fs.lstat(scan.root);
    if (rootSt === undefined || !rootSt.isDirectory() || rootSt.ino !== scan.rootIno) {
      throw new CacheError('ENOCACHE', `the cached root ${scan.root} is gone or was replaced: scan it into a new pool`);
    }
    const result: SyncResult = { dirsVisited: 0, dirsListed: 0, entriesListed: 0, added: 0, removed: 0, updated: 0, batches: 0, unreadable: [], raced: 0 };
    let pending: Listing[] = [];
    let pendingEntries = 0;
    let lastPath = scan.root;
    const progress = (): void => options.onProgress?.({
      dirsVisited: result.dirsVisited, dirsListed: result.dirsListed, entriesListed: result.entriesListed, batches: result.batches, path: lastPath,
    });
    const flush = (): void => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      pendingEntries = 0;
      this.store.transaction(() => {
        this.applyBatch(batch, scan.dev, result);
        const rec = this.scanRecord;
        invariant(rec !== undefined, 'scan record present');
        this.store.meta.set(SCAN_KEY, {
          ...rec, updatedAtMs: Date.now(), dirsListed: rec.dirsListed + batch.filter((l) => !l.drop).length,
          entriesListed: rec.entriesListed + batch.reduce((n, l) => n + l.entries.length, 0),
          batches: rec.batches + 1, lastDir: batch[batch.length - 1].path,
        });
      });
      result.batches++;
      options.onCommit?.(result.batches);
      progress();
    };

    // Depth first, in name order: push children in reverse so they pop in order.
    const stack: { ino: number; path: string }[] = [{ ino: scan.rootIno, path: scan.root }];
    while (stack.length > 0) {
      const { ino, path } = stack.pop() as { ino: number; path: string };
      lastPath = path;
      result.dirsVisited++;
      if (result.dirsVisited % 256 === 0) progress();
      const listedAtMs = Date.now();
      let st: Stats | undefined;
      try {
        st = fs.lstat(path);
      } catch (err) {
        result.unreadable.push({ path, code: errnoCode(err) ?? 'EIO' });
        continue;
      }
      if (st === undefined || !st.isDirectory() || st.ino !== ino) {
        result.raced++; // changed under us: its parent's mtime changed too, so the next pass fixes it
        continue;
      }
      const rec = this.store.dirs.get(ino);
      if (rec !== undefined && !options.deep && rec.mtimeMs === st.mtimeMs && rec.ctimeMs === st.ctimeMs && !isRacy(rec)) {
        for (let i = rec.subdirNames.length - 1; i >= 0; i--) {
          stack.push({ ino: rec.subdirInos[i], path: join(path, rec.subdirNames[i]) });
        }
        continue;
      }
      const listing = readListing(fs, path, ino, st, listedAtMs, result);
      if (listing === undefined) {
        // Unreadable now. A listing cached from before may be stale (the directory changed),
        // and the cache must not serve it as complete: drop it, with the batch.
        if (rec !== undefined) {
          pending.push({ ino, path, dir: attrsOf(st), listedAtMs, entries: [], drop: true });
          pendingEntries += rec.entries + 1;
          if (pendingEntries >= batchEntries) flush();
        }
        continue;
      }
      result.dirsListed++;
      result.entriesListed += listing.entries.length;
      for (let i = listing.entries.length - 1; i >= 0; i--) {
        const e = listing.entries[i];
        // Stay on the root's file system (like find -xdev): a mount point is an entry, not a subtree.
        if (e.type === 'dir' && e.dev === scan.dev) stack.push({ ino: e.ino, path: join(path, e.name) });
      }
      pending.push(listing);
      pendingEntries += listing.entries.length + 1;
      if (pendingEntries >= batchEntries) flush();
    }
    flush();
    const rec = this.scanRecord;
    invariant(rec !== undefined, 'scan record present');
    // A pass that found nothing to change writes nothing (a hot start stays read-only).
    if (rec.state !== 'complete' || result.batches > 0 || rec.unreadable !== result.unreadable.length) {
      this.store.transaction(() => {
        this.store.meta.set(SCAN_KEY, { ...rec, state: 'complete', updatedAtMs: Date.now(), completedAtMs: Date.now(), unreadable: result.unreadable.length });
      });
    }
    return result;
  }

  /**
   * Replaces the cached listings of a batch of directories (inside the batch's transaction).
   * Two phases: first every listing's new entries are linked, then the names that went are
   * unlinked. An inode moved from one directory to another within the batch therefore never
   * drops to zero references, so a moved directory keeps its cached listing (which the pass
   * may already have trusted).
   */
  private applyBatch(batch: Listing[], dev: number, result: SyncResult): void {
    const { dirents, inodes, dirs } = this.store;
    const unlinks: Unlink[] = [];
    for (const l of batch) {
      if (l.drop) {
        for (const [name, d] of [...dirents.children(l.ino)]) {
          unlinks.push({ parent: l.ino, name, d, keepDirent: false });
          result.removed++;
        }
        dirs.delete(l.ino);
        continue;
      }
      const cached = new Map<string, DirentRecord>();
      for (const [name, d] of dirents.children(l.ino)) cached.set(name, d);
      const live = new Set<string>();
      for (const e of l.entries) live.add(e.name);
      for (const [name, d] of cached) {
        if (!live.has(name)) {
          unlinks.push({ parent: l.ino, name, d, keepDirent: false });
          result.removed++;
        }
      }
      const subdirNames: string[] = [];
      const subdirInos: number[] = [];
      for (const e of l.entries) {
        const c = cached.get(e.name);
        if (c !== undefined && c.ino === e.ino && c.type === e.type) {
          const rec = inodes.get(e.ino);
          if (rec !== undefined && typeOfMode(rec.mode) === e.type) {
            if (diffAttrs(rec, e.attrs).length > 0) {
              inodes.set(e.ino, { ...e.attrs, refs: rec.refs });
              result.updated++;
            }
          } else {
            // The entry was stale (its inode number was reused by another type): link afresh.
            this.link(l.ino, e.name, e);
            result.updated++;
          }
        } else {
          // The old inode of a replaced name loses a reference in phase two; the name stays.
          if (c !== undefined) unlinks.push({ parent: l.ino, name: e.name, d: c, keepDirent: true });
          this.link(l.ino, e.name, e);
          if (c !== undefined) result.updated++;
          else result.added++;
        }
        if (e.type === 'dir' && e.dev === dev) {
          subdirNames.push(e.name);
          subdirInos.push(e.ino);
        }
      }
      // The directory's own attributes, as lstat'ed before reading it.
      const own = inodes.get(l.ino);
      invariant(own !== undefined, `listed directory ${l.path} is cached (its parent links it first)`);
      if (diffAttrs(own, l.dir).length > 0) inodes.set(l.ino, { ...l.dir, refs: own.refs });
      dirs.set(l.ino, {
        mtimeMs: l.dir.mtimeMs, ctimeMs: l.dir.ctimeMs, listedAtMs: l.listedAtMs, entries: l.entries.length, subdirNames, subdirInos,
      });
    }
    for (const u of unlinks) this.unlink(u);
  }

  /** Adds the entry `name` of `parent` naming inode `e.ino`. */
  private link(parent: number, name: string, e: { ino: number; type: EntryType; attrs: InodeAttrs }): void {
    const { dirents, inodes } = this.store;
    dirents.set([parent, name], { ino: e.ino, type: e.type });
    const rec = inodes.get(e.ino);
    if (rec !== undefined && typeOfMode(rec.mode) === e.type) {
      // Another name of a cached inode: a hard link, a directory moved to a parent read
      // before its old one, or an inode number reused by a new file of the same type (then
      // the old name's unlink, still to come, takes the count back down).
      inodes.set(e.ino, { ...e.attrs, refs: rec.refs + 1 });
      return;
    }
    if (rec !== undefined && typeOfMode(rec.mode) === 'dir') {
      // The number was a directory's and is reused by a non-directory: its listing is stale.
      this.dropListing(e.ino);
    }
    // A stale record of another type is replaced; the stale name's unlink will not count down
    // (it checks the type), so the count starts at 1.
    inodes.set(e.ino, { ...e.attrs, refs: 1 });
  }

  /** Removes an entry; an inode that no cached entry names any more goes, with its listing. */
  private unlink(first: Unlink): void {
    const { dirents, inodes } = this.store;
    const work: Unlink[] = [first];
    while (work.length > 0) {
      const { parent, name, d, keepDirent } = work.pop() as Unlink;
      if (!keepDirent) dirents.delete([parent, name]);
      const rec = inodes.get(d.ino);
      if (rec === undefined || typeOfMode(rec.mode) !== d.type) continue; // stale: the number is another inode's now
      if (rec.refs > 1) {
        inodes.set(d.ino, { ...rec, refs: rec.refs - 1 });
        continue;
      }
      inodes.delete(d.ino);
      if (d.type === 'dir') {
        for (const [childName, child] of [...dirents.children(d.ino)]) work.push({ parent: d.ino, name: childName, d: child, keepDirent: false });
        this.store.dirs.delete(d.ino);
      }
    }
  }

  /** Forgets the listing of directory `ino` (its entries are unlinked). */
  private dropListing(ino: number): void {
    const children = [...this.store.dirents.children(ino)];
    for (const [name, d] of children) this.unlink({ parent: ino, name, d, keepDirent: false });
    this.store.dirs.delete(ino);
  }

  /**
   * Resolves `path` (absolute, or relative to the working directory) inside the cached tree,
   * without touching the file system. Symbolic links are entries, never followed.
   * @throws CacheError EOUTSIDE outside the tree, ENOENT when the cache has no such entry (or
   *   its directory was never listed), ENOTDIR when a middle component is not a directory.
   */
  resolve(path: string): CachedEntry {
    if (this.rootRef === undefined) {
      const rec = this.scanRecord;
      if (rec === undefined) throw new CacheError('ENOCACHE', 'the pool holds no scan yet: run `scan DIR` first');
      this.rootRef = { root: rec.root, rootIno: rec.rootIno };
    }
    const scan = this.rootRef;
    let abs = isAbsolute(path) ? normalize(path) : resolve(path);
    while (abs.length > 1 && abs.endsWith(sep)) abs = abs.slice(0, -1); // 'dir/' is 'dir'
    // The root is a real, normalized path; so is `abs`: a prefix test is `path.relative`'s answer.
    const prefix = scan.root.endsWith(sep) ? scan.root : `${scan.root}${sep}`;
    let rel: string;
    if (abs === scan.root) rel = '';
    else if (abs.startsWith(prefix)) rel = abs.slice(prefix.length);
    else throw new CacheError('EOUTSIDE', `${path}: outside the cached tree ${scan.root}`);
    const names = rel === '' ? [] : rel.split(sep);
    let ino = scan.rootIno;
    let type: EntryType = 'dir';
    // Built only for messages: joining at every step would cost more than the lookups.
    const walkedTo = (i: number): string => join(scan.root, ...names.slice(0, i));
    for (let i = 0; i < names.length; i++) {
      if (type !== 'dir') {
        throw new CacheError('ENOTDIR', `${path}: ${walkedTo(i)} is ${type === 'symlink' ? 'a symbolic link (the cache does not follow links)' : 'not a directory'}`);
      }
      const d = this.store.dirents.get([ino, names[i]]);
      if (d === undefined) {
        if (this.store.dirs.has(ino)) throw new CacheError('ENOENT', `${path}: no such entry in the cache (as of its last scan)`);
        throw new CacheError('ENOENT', `${path}: not cached: ${walkedTo(i)} has not been listed (scan interrupted, or the directory was unreadable)`);
      }
      ino = d.ino;
      type = d.type;
    }
    const rec = this.store.inodes.get(ino);
    invariant(rec !== undefined, `inode ${ino} named by ${abs} is cached`);
    return { path: abs, ino, type, attrs: stripRefs(rec) };
  }

  /**
   * The cached entries of directory `path`, in name order.
   * @throws CacheError as `resolve`, ENOTDIR for a non-directory, ENOENT when not listed.
   */
  list(path: string): ListedEntry[] {
    const dir = this.resolve(path);
    if (dir.type !== 'dir') throw new CacheError('ENOTDIR', `${path}: not a directory`);
    if (!this.store.dirs.has(dir.ino)) {
      throw new CacheError('ENOENT', `${path}: not cached: this directory has not been listed (scan interrupted, unreadable, or another file system)`);
    }
    const out: ListedEntry[] = [];
    for (const [name, d] of this.store.dirents.children(dir.ino)) {
      const rec = this.store.inodes.get(d.ino);
      invariant(rec !== undefined, `inode ${d.ino} named by ${name} is cached`);
      out.push({ name, path: join(dir.path, name), ino: d.ino, type: d.type, attrs: stripRefs(rec) });
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  /**
   * Checks everything the cache holds against the file system and against itself: every
   * listed directory's names equal the live ones; every cached entry's inode number, type and
   * attributes equal a fresh lstat's; reference counts equal the entries naming each inode;
   * no inode or listing is unreachable. Read-only. Meaningful while the tree is not changing.
   */
  verify(fs: FsOps = realFs): VerifyReport {
    const scan = this.scanRecord;
    if (scan === undefined) throw new CacheError('ENOCACHE', 'the pool holds no scan yet: run `scan DIR` first');
    const report: VerifyReport = { dirs: 0, entries: 0, mismatchCount: 0, mismatches: [] };
    const bad = (msg: string): void => {
      report.mismatchCount++;
      if (report.mismatches.length < MAX_REPORTED_MISMATCHES) report.mismatches.push(msg);
    };
    const { dirents, inodes, dirs } = this.store;
    const refsSeen = new Map<number, number>([[scan.rootIno, 1]]);
    const listedSeen = new Set<number>();
    const compare = (path: string, ino: number, type: EntryType): void => {
      let st: Stats | undefined;
      try {
        st = fs.lstat(path);
      } catch (err) {
        bad(`${path}: lstat failed (${errnoCode(err) ?? 'EIO'})`);
        return;
      }
      if (st === undefined) return bad(`${path}: cached but gone`);
      if (st.ino !== ino) return bad(`${path}: cached inode ${ino}, live ${st.ino}`);
      if (typeOfMode(st.mode) !== type) return bad(`${path}: cached type ${type}, live ${typeOfMode(st.mode)}`);
      const rec = inodes.get(ino);
      if (rec === undefined) return bad(`${path}: inode ${ino} not cached`);
      const diff = diffAttrs(rec, attrsOf(st));
      if (diff.length > 0) bad(`${path}: ${diff.map((k) => `${k} cached ${rec[k]} live ${st[k]}`).join(', ')}`);
    };
    compare(scan.root, scan.rootIno, 'dir');
    const stack: { ino: number; path: string }[] = [{ ino: scan.rootIno, path: scan.root }];
    while (stack.length > 0) {
      const { ino, path } = stack.pop() as { ino: number; path: string };
      const rec = dirs.get(ino);
      if (rec === undefined) continue; // not listed yet: only its own entry was checked
      if (listedSeen.has(ino)) {
        bad(`${path}: directory ${ino} reached twice`);
        continue;
      }
      listedSeen.add(ino);
      report.dirs++;
      const cached = [...dirents.children(ino)];
      const cachedNames = new Set(cached.map(([n]) => n));
      let liveNames: string[];
      try {
        liveNames = fs.readdir(path);
      } catch (err) {
        bad(`${path}: cannot read (${errnoCode(err) ?? 'EIO'})`);
        liveNames = [...cachedNames];
      }
      const liveSet = new Set(liveNames);
      for (const n of liveNames) if (!cachedNames.has(n)) bad(`${join(path, n)}: on disk, not in the cache`);
      if (cached.length !== rec.entries) bad(`${path}: listing record says ${rec.entries} entries, cache has ${cached.length}`);
      for (const [name, d] of cached) {
        const childPath = join(path, name);
        report.entries++;
        refsSeen.set(d.ino, (refsSeen.get(d.ino) ?? 0) + 1);
        if (!liveSet.has(name)) {
          bad(`${childPath}: in the cache, not on disk`);
          continue;
        }
        compare(childPath, d.ino, d.type);
        if (d.type === 'dir') stack.push({ ino: d.ino, path: childPath });
      }
      for (let i = 0; i < rec.subdirNames.length; i++) {
        const d = dirents.get([ino, rec.subdirNames[i]]);
        if (d === undefined || d.type !== 'dir' || d.ino !== rec.subdirInos[i]) bad(`${path}: listing record names subdirectory ${rec.subdirNames[i]}, the entries do not`);
      }
    }
    for (const [ino, rec] of inodes.entries()) {
      const seen = refsSeen.get(ino) ?? 0;
      if (seen === 0) bad(`inode ${ino}: cached, but no cached entry names it`);
      else if (seen !== rec.refs) bad(`inode ${ino}: reference count ${rec.refs}, named by ${seen} entries`);
    }
    for (const [ino] of dirs.entries()) if (!listedSeen.has(ino)) bad(`directory ${ino}: listing cached but unreachable`);
    if (dirents.count() !== report.entries) bad(`${dirents.count() - report.entries} directory entries are unreachable`);
    return report;
  }
}

function stripRefs(rec: InodeRecord): InodeAttrs {
  return { mode: rec.mode, size: rec.size, nlink: rec.nlink, uid: rec.uid, gid: rec.gid, mtimeMs: rec.mtimeMs, ctimeMs: rec.ctimeMs };
}

function isRacy(rec: DirRecord): boolean {
  return Math.max(rec.mtimeMs, rec.ctimeMs) >= rec.listedAtMs - RACY_WINDOW_MS;
}

/** The real absolute path of a root directory argument. */
function realRoot(root: string): string {
  try {
    return realpathSync(resolve(root));
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw new CacheError('ENOENT', `${root}: no such directory`);
    if (code === 'ENOTDIR') throw new CacheError('ENOTDIR', `${root}: not a directory`);
    if (code === 'EACCES') throw new CacheError('EACCES', `${root}: permission denied`);
    throw err;
  }
}

function lstatOrThrow(fs: FsOps, path: string): Stats {
  let st: Stats | undefined;
  try {
    st = fs.lstat(path);
  } catch (err) {
    throw new CacheError('EACCES', `${path}: cannot lstat (${errnoCode(err) ?? 'EIO'})`);
  }
  if (st === undefined) throw new CacheError('ENOENT', `${path}: no such directory`);
  return st;
}

/** Reads one directory: names, then an lstat of each. Undefined (and recorded) when unreadable. */
function readListing(fs: FsOps, path: string, ino: number, st: Stats, listedAtMs: number, result: SyncResult): Listing | undefined {
  let names: string[];
  try {
    names = fs.readdir(path);
  } catch (err) {
    result.unreadable.push({ path, code: errnoCode(err) ?? 'EIO' });
    return undefined;
  }
  names.sort();
  const entries: Listing['entries'] = [];
  for (const name of names) {
    const childPath = join(path, name);
    let cst: Stats | undefined;
    try {
      cst = fs.lstat(childPath);
    } catch (err) {
      // A listing is all or nothing: without this entry the directory is not cached.
      result.unreadable.push({ path: childPath, code: errnoCode(err) ?? 'EIO' });
      return undefined;
    }
    if (cst === undefined) continue; // removed since readdir; the directory's mtime moved, so the next pass reads it again
    entries.push({ name, ino: cst.ino, type: typeOfMode(cst.mode), attrs: attrsOf(cst), dev: cst.dev });
  }
  return { ino, path, dir: attrsOf(st), listedAtMs, entries };
}
