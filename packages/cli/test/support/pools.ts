/**
 * Pool files with real content for the command's tests and the fuzzer's base images: a store
 * with a hash map, a sorted map and a queue (values of many types, a `__proto__` key among
 * them), and variants: a pending (uncommitted) transaction, a leaked block, a damaged header
 * copy.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Store, openPoolFile } from '@ferrite/tx';

export const LAYOUT = 'cli-test';

/** Fills a store with a known content; `scale` multiplies the number of entries. */
export function fillStore(store: Store, scale = 1): void {
  const inodes = store.map<string, unknown>('inodes');
  const tree = store.sortedMap<[number, string], number>('dirents');
  const journal = store.queue<unknown>('journal');
  store.transaction(() => {
    for (let i = 0; i < 20 * scale; i++) inodes.set(`/etc/file${i}`, { ino: i, size: i * 512, name: `file${i}` });
    inodes.set('hostile', JSON.parse('{"__proto__":{"polluted":true},"ok":1}'));
    inodes.set('big', 12345678901234567890n);
    inodes.set('bytes', new Uint8Array([1, 2, 3]));
    inodes.set('large', 'x'.repeat(6000));
  });
  store.transaction(() => {
    for (let i = 0; i < 15 * scale; i++) tree.set([i % 4, `name${i}`], i);
  });
  for (let i = 0; i < 5 * scale; i++) journal.push({ op: 'create', seq: i });
  store.transaction(() => {
    inodes.delete('/etc/file3');
    journal.shift();
  });
}

/** Creates a store pool at `path` with `fillStore` content. */
export function makeStorePool(path: string, size = 256 * 1024, scale = 1): void {
  const pool = openPoolFile(path, { create: true, layout: LAYOUT, size, forcePmem: true });
  const store = Store.fromPool(pool);
  try {
    fillStore(store, scale);
  } finally {
    store.close();
  }
}

/**
 * Writes to `out` an image of `path` taken in the middle of a transaction: its undo log is
 * valid and some of its changes are in place, as after a crash. `path` itself ends committed
 * with the transaction rolled back (aborted), so the two files differ only by the pending tx.
 */
export function makePendingImage(path: string, out: string): void {
  const store = Store.open(path, { layout: LAYOUT });
  try {
    const inodes = store.map<string, unknown>('inodes');
    copyMidTransaction(store, path, out, () => {
      inodes.set('/etc/file0', { ino: 0, size: -1, name: 'uncommitted' });
      inodes.set('/new/uncommitted', 1);
      inodes.delete('/etc/file1');
    });
  } finally {
    store.close();
  }
}

const ABORT = 'abort on purpose';

/**
 * Runs `body` in a transaction of `store` (whose pool file is `path`), copies the file to `out`
 * at the end of it, then aborts it. The mapping is shared, so the copy holds exactly what a
 * crash at that instant would leave: a log still to roll back.
 */
function copyMidTransaction(store: Store, path: string, out: string, body: () => void): void {
  try {
    store.transaction(() => {
      body();
      writeFileSync(out, readFileSync(path));
      throw new Error(ABORT);
    });
  } catch (err) {
    if (!(err instanceof Error) || err.message !== ABORT) throw err;
  }
}

/** Allocates `count` blocks that nothing references (a leak), committed. Returns their offsets. */
export function leakBlocks(path: string, count = 2): number[] {
  const pool = openPoolFile(path, { layout: LAYOUT, forcePmem: true });
  try {
    return pool.transaction((tx) => Array.from({ length: count }, (_, i) => tx.alloc(40 + i * 100)));
  } finally {
    pool.close();
  }
}

/** Flips one byte of `path` at `offset`. */
export function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] ^= 0x5a;
  writeFileSync(path, bytes);
}

export function copyPool(from: string, to: string): void {
  copyFileSync(from, to);
}

/**
 * Writes to `out` an image of a 512 KiB store caught in a transaction large enough that its
 * undo log spilled into overflow segments (LOG chunks in the heap): rewrites 300 map entries
 * and deletes 150 sorted-map entries. `path` is left committed without that transaction.
 */
export function makeBigPendingImage(path: string, out: string): void {
  const pool = openPoolFile(path, { create: true, layout: LAYOUT, size: 512 * 1024, forcePmem: true });
  const store = Store.fromPool(pool);
  try {
    const m = store.map<string, unknown>('inodes');
    const t = store.sortedMap<number, unknown>('tree');
    store.transaction(() => {
      for (let i = 0; i < 300; i++) {
        m.set(`k${i}`, { v: i, pad: 'y'.repeat(40) });
        t.set(i, 'z'.repeat(30));
      }
    });
    copyMidTransaction(store, path, out, () => {
      for (let i = 0; i < 300; i++) {
        m.set(`k${i}`, { v: -i, pad: 'q'.repeat(40) });
        if (i % 2 === 1) t.delete(i);
      }
      if (pool.stats().logOverflow === 0) throw new Error('the undo log did not overflow: make the transaction larger');
    });
  } finally {
    store.close();
  }
}

/**
 * The fuzzer's undamaged base images, written into `dir`: a full store (256 KiB), a store
 * caught mid-transaction (192 KiB), a store with three leaked blocks (320 KiB) and an empty
 * store (64 KiB), and a 512 KiB store caught in a transaction whose undo log overflowed into
 * the heap. Different sizes, so a header moved between them disagrees with the file.
 */
export function makeFuzzBases(dir: string, createEmpty: (path: string, size: number) => void): string[] {
  const full = `${dir}/full.pool`;
  makeStorePool(full, 256 * 1024);
  const pendingSrc = `${dir}/pending-src.pool`;
  makeStorePool(pendingSrc, 192 * 1024);
  const pending = `${dir}/pending.pool`;
  makePendingImage(pendingSrc, pending);
  const leaky = `${dir}/leaky.pool`;
  makeStorePool(leaky, 320 * 1024);
  leakBlocks(leaky, 3);
  const empty = `${dir}/empty.pool`;
  createEmpty(empty, 64 * 1024);
  const bigPending = `${dir}/big-pending.pool`;
  makeBigPendingImage(`${dir}/big-src.pool`, bigPending);
  return [full, pending, leaky, empty, bigPending];
}
