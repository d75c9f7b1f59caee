/**
 * Faults that are not crashes: a flush that fails with EIO (msync failing), and a pool that
 * fills up in the middle of a transaction over several collections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PoolFullError, isFerriteError } from '@ferrite/core';
import { SimulatedRegion } from '@ferrite/core/testing';
import type { Store } from '@ferrite/tx';
import { applyStep, emptyModel, sameSnapshot, snapshotOf, type Model, type Step } from './model.js';
import { assertClean, observe, openStore, runStep } from './driver.js';
import { DEFAULT_SHAPE, describeProgram, opArb, programArb } from './programs.js';
import { templateImage, withReplayableRandom } from './runner.js';
import { FlakyRegion } from './flaky-region.js';
import { budget, suiteSeed } from './budget.js';

const POOL = 256 << 10;

/** Runs `program` on `store`, returning the store and the model of what it committed. */
function runPrefix(store: Store, program: readonly Step[], reopen: () => FlakyRegion): { store: Store; model: Model } {
  let model = emptyModel();
  for (const step of program) {
    const r = runStep(store, step, reopen);
    store = r.store;
    if (!r.full) model = applyStep(model, step);
  }
  return { store, model };
}

test('a flush failing with EIO makes the transaction throw, and the store stays consistent', () => {
  const shape = { ...DEFAULT_SHAPE, reopen: false, bigWeight: 0 };
  const seed = suiteSeed(0xe10_0001);
  let failures = 0;
  let images = 0;
  let refusals = 0;
  fc.assert(
    fc.property(programArb({ ...shape, maxSteps: 4 }), fc.array(opArb(shape), { minLength: 1, maxLength: 4 }), (prefix, ops) => {
      const tx: Step = { kind: 'tx', ops, abort: false };
      const where = `prefix=${describeProgram(prefix)} tx=${describeProgram([tx])}`;
      const template = templateImage(POOL, POOL);
      // Count the flush calls the transaction makes when nothing fails. Every run below sees
      // the same Math.random sequence (map hash seeds), so it makes the same flush calls.
      const RANDOM_SEED = 0xe10;
      const dry = new FlakyRegion(SimulatedRegion.fromImage(template, { granularity: 'page' }));
      const noReopen = (): FlakyRegion => assert.fail('no reopen steps here');
      const { pre, full, calls } = withReplayableRandom(RANDOM_SEED, () => {
        const store = openStore(dry, { maxSize: POOL });
        const pre = runPrefix(store, prefix, noReopen);
        const callsBefore = dry.flushCalls;
        const full = runStep(pre.store, tx, noReopen).full;
        const calls = dry.flushCalls - callsBefore;
        pre.store.close();
        return { pre, full, calls };
      });
      const before = snapshotOf(pre.model);
      const after = full ? before : snapshotOf(applyStep(pre.model, tx));

      for (let k = 1; k <= calls; k++) {
        const flaky = new FlakyRegion(SimulatedRegion.fromImage(template, { granularity: 'page' }));
        const { s, threw } = withReplayableRandom(RANDOM_SEED, () => {
          const s = runPrefix(openStore(flaky, { maxSize: POOL }), prefix, noReopen).store;
          flaky.failAt = flaky.flushCalls + k;
          let threw: unknown;
          try {
            runStep(s, tx, noReopen);
          } catch (err) {
            threw = err;
          }
          return { s, threw };
        });
        assert.ok(threw !== undefined, `${where}: flush call ${k} of ${calls} failed but the transaction returned`);
        assert.ok(isFerriteError(threw, 'EIO'), `${where}: flush ${k} failed; expected EIO, got ${String(threw)}`);
        failures++;
        // The same store may refuse to go on (the heap marks the pool broken: a failed flush
        // leaves it unknown what reached the media), but it must not build on the failed
        // transaction: a write that succeeds must show the store as before it, plus the write.
        let wrote = false;
        try {
          s.map<string, unknown>('m1').set('after-eio', 1);
          wrote = true;
        } catch (err) {
          assert.ok(isFerriteError(err), `${where}: a write after EIO threw a non-FerriteError: ${String(err)}`);
          refusals++;
        }
        if (wrote) {
          const expected = snapshotOf(applyStep(pre.model, { kind: 'single', op: { c: 'map', name: 'm1', op: 'set', key: 'after-eio', value: 1 } }));
          assert.deepStrictEqual(observe(s), expected, `${where}: after EIO at flush ${k}, the store built on the transaction that threw`);
          assertClean(s, `${where}: after EIO at flush ${k}`);
        }
        // Whatever reached the file, reopening gives a consistent store: entirely before or after.
        for (let seedImage = 0; seedImage < 4; seedImage++) {
          const image = flaky.inner.crashImage(seedImage);
          const reopened = openStore(SimulatedRegion.fromImage(image, { granularity: 'page' }), { maxSize: POOL });
          // (A write after EIO that succeeded is durable too: compare without it.)
          reopened.map<string, unknown>('m1').delete('after-eio');
          const gotNow = observe(reopened);
          assert.ok(
            sameSnapshot(gotNow, before) || sameSnapshot(gotNow, after),
            `${where}: EIO at flush ${k}, image ${seedImage}: neither before nor after the failed transaction`,
          );
          assertClean(reopened, `${where}: reopened after EIO at flush ${k}`);
          reopened.close();
          images++;
        }
        try {
          s.close();
        } catch (err) {
          if (!isFerriteError(err)) throw err;
        }
      }
    }),
    { seed, numRuns: budget(25) },
  );
  assert.ok(failures > 0, 'no flush was ever failed');
  console.log(`# EIO faults: ${failures} failed flushes (${refusals} left the store refusing writes), ${images} reopened images checked`);
});

/**
 * Fills `store` with 1000-byte values in the queue `junk` until ENOSPC; returns how many
 * fitted. A queue, because shifting never allocates (a hash map delete may: see
 * regressions.test.ts), so the tests can make room again.
 */
function fill(store: Store): number {
  const junk = store.queue<string>('junk');
  let n = 0;
  for (;;) {
    try {
      junk.push('j'.repeat(1000));
      n++;
    } catch (err) {
      if (err instanceof PoolFullError) return n;
      throw err;
    }
    assert.ok(n < 10_000, 'the pool never filled up');
  }
}

test('the pool filling up in a multi-collection transaction rolls it all back', () => {
  const region = SimulatedRegion.fromImage(templateImage(POOL, POOL));
  let store = openStore(region, { maxSize: POOL });
  const m0 = store.map<string, unknown>('m0');
  m0.set('kept', { ino: 1 });
  store.queue<unknown>('q0').push('first');
  const fitted = fill(store);
  assert.ok(fitted >= 1, 'not one value fitted in the pool');
  // Room for the small writes: free the junk values again (the big one still cannot fit).
  for (let i = 0; i < fitted; i++) store.queue<string>('junk').shift();
  const before = observe(store);
  let threw: unknown;
  try {
    store.transaction(() => {
      store.map<string, unknown>('m0').set('a', 'small');
      store.queue<unknown>('q0').push({ op: 'create' });
      store.sortedMap<number, unknown>('s0').set(7, [1, 2, 3]);
      store.map<string, unknown>('m1').set('big', 'B'.repeat(POOL));
    });
  } catch (err) {
    threw = err;
  }
  assert.ok(threw instanceof PoolFullError, `expected PoolFullError, got ${String(threw)}`);
  assert.equal((threw as PoolFullError).code, 'ENOSPC');
  assert.deepStrictEqual(observe(store), before, 'a transaction that hit ENOSPC left changes behind');
  assertClean(store, 'after ENOSPC');
  // Still usable: the same transaction without the big value commits.
  store.transaction(() => {
    store.map<string, unknown>('m0').set('a', 'small');
    store.queue<unknown>('q0').push({ op: 'create' });
    store.sortedMap<number, unknown>('s0').set(7, [1, 2, 3]);
  });
  assert.equal(store.map<string, unknown>('m0').get('a'), 'small');
  assert.deepStrictEqual(store.queue<unknown>('q0').peek(), 'first');
  assert.equal(store.queue<unknown>('q0').length, 2);
  const committed = observe(store);
  assertClean(store, 'after the retry');
  store.close();
  store = openStore(SimulatedRegion.fromImage(region.media()), { maxSize: POOL });
  assert.deepStrictEqual(observe(store), committed, 'reopening changed the store');
  assert.equal(store.queue<string>('junk').length, 0);
  assertClean(store, 'after reopening');
  store.close();
});

test('random transactions on a full pool either commit or change nothing (ENOSPC)', () => {
  const shape = { ...DEFAULT_SHAPE, reopen: false, bigValue: 6000, bigWeight: 4 };
  let full = 0;
  let committed = 0;
  fc.assert(
    fc.property(fc.array(opArb(shape), { minLength: 1, maxLength: 6 }), fc.nat(6), (ops, freed) => {
      const store = openStore(SimulatedRegion.fromImage(templateImage(POOL, POOL)), { maxSize: POOL });
      const n = fill(store);
      const junk = store.queue<string>('junk');
      for (let i = 0; i < Math.min(freed, n); i++) junk.shift();
      const before = observe(store);
      const model = emptyModel();
      const r = runStep(store, { kind: 'tx', ops, abort: false }, () => assert.fail('no reopen'));
      const got = observe(store);
      if (r.full) {
        full++;
        assert.deepStrictEqual(got, before, 'ENOSPC left changes behind');
      } else {
        committed++;
        assert.deepStrictEqual(got, snapshotOf(applyStep(model, { kind: 'tx', ops, abort: false })), 'a committed transaction is not what the model says');
      }
      assertClean(store, r.full ? 'after ENOSPC' : 'after a commit on a nearly full pool');
      store.close();
    }),
    { seed: suiteSeed(0xe10_0002), numRuns: budget(60) },
  );
  assert.ok(full > 0, 'no transaction hit ENOSPC');
  console.log(`# ENOSPC: ${full} transactions rolled back, ${committed} committed on a nearly full pool`);
});
