/**
 * A store holding a bit of everything, for the backup and compaction tests: every kind of
 * collection (one empty), keys of every kind, values of many kinds (typed arrays, Maps, Sets,
 * errors, -0, holes, bigints, dates, records of a few shapes), a value large enough for a
 * block of its own, and a dropped collection (so the registry order is not the creation
 * order).
 */
import type { Store } from '../../src/index.js';

export const VALUES: readonly unknown[] = [
  new Float64Array([1.5, -2, NaN, Infinity, -0]),
  Uint8Array.from([0, 1, 255]),
  Buffer.from('a node buffer'),
  new Set<unknown>([1, 'a', { b: 2 }]),
  new Map<unknown, unknown>([[{ k: 1 }, 'v'], [[1, 2], new Set([3])]]),
  'x\ud800'.repeat(10),
  /a+b/giu,
  new TypeError('bad type', { cause: { code: 7 } }),
  -0,
  [NaN, Infinity, -Infinity],
  2n ** 100n + 7n,
  Object.assign(Object.create(null) as object, { a: 1 }),
  [1, , 3], // eslint-disable-line no-sparse-arrays
  [undefined, { u: undefined }],
  undefined,
  new Date(1_700_000_000_123),
  { name: 'record', size: 12, tags: ['a', 'b'] },
  { name: 'other', mtime: 5, ino: 7 },
];

/** Fills `store` (empty) with the fixture; returns nothing: compare stores with assertSameStore. */
export function fillFixture(store: Store, scale = 1): void {
  const inodes = store.map<number, { ino: number; size: number; name: string }>('inodes');
  const mixed = store.map('mixed keys');
  const dirents = store.sortedMap<[number, string], number>('dirents');
  const journal = store.queue('journal');
  store.queue('temporary').push(1, 2, 3);
  store.map('empty map');
  store.sortedMap('empty sorted');
  store.queue('empty queue');
  store.transaction(() => {
    for (let i = 0; i < 300 * scale; i++) inodes.set(i, { ino: i, size: i * 7, name: `file-${i}` });
    for (let i = 0; i < 200 * scale; i++) dirents.set([i % 17, `name-${i}`], i);
  });
  store.transaction(() => {
    mixed.set('a string', 1);
    mixed.set(-0, 'minus zero key');
    mixed.set(42.5, VALUES[0]);
    mixed.set(Uint8Array.from([9, 8, 7]), 'bytes key');
    mixed.set([1, 'two', Uint8Array.from([3])], 'composite key');
    mixed.set('big', 'x'.repeat(40_000));
    VALUES.forEach((v, i) => mixed.set(`value ${i}`, v));
    journal.push(...VALUES);
  });
  store.drop('temporary');
  store.queue('after drop').push('last');
}
