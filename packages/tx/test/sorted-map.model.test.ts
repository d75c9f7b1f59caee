import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { PSortedMap } from '../src/collections/sorted-map.js';
import { keyArb, runModel } from './support/collections-model.js';
import { compareKeys, type Key } from '../src/codec/keys.js';
import { fakeSetup as fakeSetupOf, realSetup } from './support/collections-real-setup.js';

const REAL_RUNS = process.env.FERRITE_SOAK === '1' ? 200 : 15;
const RUNS = process.env.FERRITE_SOAK === '1' ? 500 : 60;

const fakeSetup = fakeSetupOf((ctx, tx) => PSortedMap.create(ctx, tx), (ctx, h) => new PSortedMap<Key, unknown>(ctx, h));

test('PSortedMap behaves like its model on the real heap (SimulatedRegion, growth from 256 KiB, reopen)', () => {
  runModel(realSetup((ctx, tx) => PSortedMap.create(ctx, tx), (ctx, h) => new PSortedMap<Key, unknown>(ctx, h)), REAL_RUNS, compareKeys);
});

test('PSortedMap behaves like a sorted Map (fake pool, aborts, reopen, growth)', () => {
  runModel(fakeSetup, RUNS, compareKeys);
});

test('PSortedMap range() matches a filtered sorted model', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(keyArb, { maxLength: 300, selector: (k) => JSON.stringify(k) }),
      fc.record({
        gt: fc.option(keyArb, { nil: undefined }), gte: fc.option(keyArb, { nil: undefined }),
        lt: fc.option(keyArb, { nil: undefined }), lte: fc.option(keyArb, { nil: undefined }),
        reverse: fc.boolean(), limit: fc.option(fc.nat(50), { nil: undefined }),
      }),
      (keys, opts) => {
        const real = fakeSetup();
        const map = real.map as unknown as PSortedMap<Key, number>;
        keys.forEach((k, i) => map.set(k, i));
        const o = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as typeof opts;
        // Both bounds of a side: refused (EINVAL), rather than one silently winning.
        if ((o.gt !== undefined && o.gte !== undefined) || (o.lt !== undefined && o.lte !== undefined)) {
          assert.throws(() => map.range(o), (e: unknown) => isFerriteError(e, 'EINVAL') && / not both$/.test(e.message));
          return;
        }
        let want = keys.map((k, i) => [k, i] as [Key, number]).sort((a, b) => compareKeys(a[0], b[0]));
        if (o.gt !== undefined) want = want.filter(([k]) => compareKeys(k, o.gt!) > 0);
        else if (o.gte !== undefined) want = want.filter(([k]) => compareKeys(k, o.gte!) >= 0);
        if (o.lt !== undefined) want = want.filter(([k]) => compareKeys(k, o.lt!) < 0);
        else if (o.lte !== undefined) want = want.filter(([k]) => compareKeys(k, o.lte!) <= 0);
        if (o.reverse) want.reverse();
        if (o.limit !== undefined) want = want.slice(0, o.limit);
        assert.deepEqual([...map.range(o)], want);
      },
    ),
    { numRuns: process.env.FERRITE_SOAK === '1' ? 500 : 80 },
  );
});

test('PSortedMap composite keys: range({ gte: [2], lt: [3] }) selects every [2, *]', () => {
  const real = fakeSetup();
  const map = real.map as unknown as PSortedMap<[number, string], number>;
  const names = ['', 'a', 'b\u0000c', 'zz', '\u00ff', 'x'.repeat(30)];
  for (let p = 1; p <= 3; p++) for (const [i, n] of names.entries()) map.set([p, n], p * 100 + i);
  const got = [...map.range({ gte: [2] as unknown as [number, string], lt: [3] as unknown as [number, string] })];
  assert.equal(got.length, names.length);
  assert.ok(got.every(([k]) => k[0] === 2));
  assert.deepEqual(map.first(), [[1, ''], 100]);
  assert.deepEqual(map.last()?.[0], [3, '\u00ff']);
});

test('PSortedMap: many inserts and deletes keep the tree valid (splits, merges, root collapse)', () => {
  const real = fakeSetup();
  const map = real.map as unknown as PSortedMap<number, string>;
  const N = 5000;
  for (let i = 0; i < N; i++) map.set((i * 7919) % N, `v${i}`.repeat(1 + (i % 5)));
  assert.deepEqual(map.validate(), []);
  assert.equal(map.size, N);
  for (let i = 0; i < N; i++) if (i % 10 !== 3) map.delete(i);
  assert.deepEqual(map.validate(), []);
  assert.equal(map.size, N / 10);
  assert.deepEqual([...map.keys()], Array.from({ length: N / 10 }, (_, j) => j * 10 + 3));
  for (let i = 0; i < N; i++) map.delete(i);
  assert.deepEqual(map.validate(), []);
  assert.equal(map.size, 0);
  assert.equal(map.first(), undefined);
});

test('PSortedMap with long keys (deep tree): random inserts and deletes keep it valid and equal to the model', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { minLength: 500, maxLength: 3000 }), (ops) => {
      const real = fakeSetup();
      const map = real.map as unknown as PSortedMap<string, number>;
      const model = new Map<string, number>();
      const keyOf = (i: number): string => `${String(i).padStart(6, '0')}-${'k'.repeat(150)}`;
      // Seed the tree so it starts several levels deep.
      for (let i = 0; i < 3000; i += 2) {
        map.set(keyOf(i), i);
        model.set(keyOf(i), i);
      }
      for (const [ins, i] of ops) {
        if (ins) {
          map.set(keyOf(i), -i - 1); // not -0: msgpack has no negative zero
          model.set(keyOf(i), -i - 1);
        } else {
          assert.equal(map.delete(keyOf(i)), model.delete(keyOf(i)));
        }
      }
      assert.deepEqual(map.validate(), []);
      assert.deepEqual([...map.entries()], [...model].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
      // Then delete everything in random-ish order: internal nodes empty out, the root collapses.
      const keys = [...model.keys()].sort((a, b) => (a.split('').reverse().join('') < b.split('').reverse().join('') ? -1 : 1));
      for (const k of keys) assert.equal(map.delete(k), true);
      assert.deepEqual(map.validate(), []);
      assert.equal(map.size, 0);
    }),
    // Heavy runs: report the first failure unshrunk rather than shrink for minutes.
    { numRuns: process.env.FERRITE_SOAK === '1' ? 40 : 3, endOnFailure: true },
  );
});
