/**
 * Compaction's core: every collection of a store written again into an empty one — the same
 * names, kinds and order of creation (the registry's order); hash maps and sorted maps entry
 * by entry (a sorted map in key order), queues front to back. Only live data is written, and
 * each collection is built as a fresh one grows: a hash map's table sized for its entries, a
 * sorted map's leaves filled by appends, queue segments full. Values go through the codecs
 * (decoded from the source, encoded into the destination with its own record structures), so
 * what comes back from the copy is what came back from the source.
 *
 * A generator: it yields after each batch, a committed transaction of the destination, so a
 * caller may give the event loop a turn there (the live backup does; the offline commands
 * run it to the end at once).
 */
import { invariant } from '@ferrite/core';
import type { Key } from '../codec/keys.js';
import type { Store } from '../store.js';
import { MAX_EXPECTED_SIZE } from '../collections/hash-map.js';

/** Entries written per transaction of the destination. */
const BATCH = 512;

/** How far a rebuild is: entries written of those to write. */
export interface RebuildProgress {
  collections: number;
  entries: number;
  total: number;
}

/** Entries of every collection of `src` (what a rebuild writes). */
export function entriesOf(src: Store): number {
  let n = 0;
  for (const c of src.collections()) n += c.size;
  return n;
}

/**
 * Writes every collection of `src` into `dst`, which must hold none yet. Yields after each
 * transaction. `progress` is updated as it goes.
 */
export function* rebuild(src: Store, dst: Store, progress: RebuildProgress): Generator<void, void, void> {
  invariant(dst.collections().length === 0, 'a rebuild writes into an empty store');
  for (const { name, kind, size } of src.collections()) {
    progress.collections++;
    switch (kind) {
      case 'map':
        // Its table made at the size its entries need: no doubling, no old table left behind.
        yield* copyEntries(dst, src.map(name), dst.map(name, { expectedSize: Math.min(size, MAX_EXPECTED_SIZE) }), progress);
        break;
      case 'sortedMap':
        yield* copyEntries(dst, src.sortedMap(name), dst.sortedMap(name), progress);
        break;
      case 'queue': {
        const to = dst.queue(name);
        yield* batches(dst, src.queue(name), (value) => {
          to.push(value);
        }, progress);
        break;
      }
    }
  }
}

function* copyEntries(
  dst: Store,
  from: Iterable<[Key, unknown]>,
  to: { set(key: Key, value: unknown): unknown },
  progress: RebuildProgress,
): Generator<void, void, void> {
  yield* batches(dst, from, ([key, value]) => {
    to.set(key, value);
  }, progress);
}

/** Runs `write` for each item of `items`, BATCH of them per transaction of `dst`. */
function* batches<T>(dst: Store, items: Iterable<T>, write: (item: T) => void, progress: RebuildProgress): Generator<void, void, void> {
  const it = items[Symbol.iterator]();
  let done = false;
  // Each batch takes at least one item or ends the loop: bounded by the source's size.
  while (!done) {
    dst.transaction(() => {
      for (let i = 0; i < BATCH; i++) {
        const next = it.next();
        if (next.done === true) {
          done = true;
          return;
        }
        write(next.value);
        progress.entries++;
      }
    });
    yield;
  }
}
