/**
 * Crash tests of PQueue on the simulated region: every operation (push into a segment with
 * room, push that opens a segment, shift within a segment, shift that frees a segment, shift
 * that empties the queue, clear, a multi-operation transaction) is crashed at every flush and
 * drain (several crash images each: torn words, lost lines), and recovery is crashed too.
 * After recovery the queue must equal the model before or after the interrupted transaction,
 * and every allocated block must be reachable (nothing leaked, nothing dangling).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion, forEveryCrashPoint, forEverySingleTear, crashProperty } from '@ferrite/core/testing';
import { Store } from '../src/store.js';

const REGION = 1 << 20;
const SOAK = process.env.FERRITE_SOAK === '1';

interface State { store: Store; before: unknown[]; after: unknown[] }
interface Recovered { items: unknown[]; ok: boolean; problems: string }

function scenario(
  initial: unknown[],
  op: (store: Store) => void,
  expectedAfter: (before: unknown[]) => unknown[],
  shiftsBefore = 0,
) {
  const before = initial.slice(shiftsBefore);
  return {
    setup(): { region: SimulatedRegion; state: State } {
      const region = new SimulatedRegion(REGION);
      const store = Store.open(region, { create: true, size: REGION });
      const q = store.queue('q');
      // Pushed one per transaction so segment boundaries fall where the values put them.
      for (const v of initial) q.push(v);
      for (let i = 0; i < shiftsBefore; i++) q.shift();
      return { region, state: { store, before, after: expectedAfter(before) } };
    },
    run(_region: SimulatedRegion, state: State): void {
      op(state.store);
    },
    recover(region: SimulatedRegion): Recovered {
      const store = Store.open(region, {});
      try {
        const items = [...store.queue('q')];
        const report = store.check();
        return { items, ok: report.ok, problems: JSON.stringify(report.problems.slice(0, 3)) };
      } finally {
        store.close();
      }
    },
    check(result: Recovered, ctx: { crashed: boolean; state: State }): void {
      assert.ok(result.ok, result.problems);
      const got = brief(result.items);
      if (!ctx.crashed) assert.equal(got, brief(ctx.state.after));
      else if (got !== brief(ctx.state.before)) assert.equal(got, brief(ctx.state.after), `neither before (${brief(ctx.state.before)}) nor after`);
    },
    recoveryCrashDepth: 1,
    seeds: SOAK ? 16 : 4,
  };
}

/** A short, exact rendering of queue contents for assertion messages (long runs abbreviated). */
function brief(items: unknown[]): string {
  return JSON.stringify(items).replace(/(.)\1{9,}/g, (run, c: string) => `${c}×${run.length}`);
}

const small = (i: number) => ({ i, s: 'v'.repeat(i % 7) });
/** Fills most of a 4 KiB segment, so the next push needs a new one. */
const bulky = (i: number) => ({ i, s: 'b'.repeat(1500) });

test('push into a segment with room', () => {
  const n = forEveryCrashPoint(scenario([small(1), small(2)], (s) => s.queue('q').push(small(3)), (b) => [...b, small(3)]));
  assert.ok(n > 0);
});

test('push that opens a new segment (and a first push into an empty queue)', () => {
  forEveryCrashPoint(scenario([bulky(1), bulky(2)], (s) => s.queue('q').push(bulky(3)), (b) => [...b, bulky(3)]));
  forEveryCrashPoint(scenario([], (s) => s.queue('q').push(small(1)), () => [small(1)]));
});

test('push of a value with a new record shape (writes the structures block too)', () => {
  forEveryCrashPoint(scenario([small(1)], (s) => s.queue('q').push({ fresh: 1, shape: [2] }), (b) => [...b, { fresh: 1, shape: [2] }]));
});

test('shift within a segment, shift that frees a segment, shift that empties the queue', () => {
  forEveryCrashPoint(scenario([small(1), small(2)], (s) => { s.queue('q').shift(); }, (b) => b.slice(1)));
  forEveryCrashPoint(scenario([bulky(1), bulky(2), bulky(3)], (s) => s.transaction(() => { s.queue('q').shift(); s.queue('q').shift(); }), (b) => b.slice(2)));
  forEveryCrashPoint(scenario([small(1)], (s) => { s.queue('q').shift(); }, () => []));
});

test('clear, and a multi-operation transaction', () => {
  forEveryCrashPoint(scenario([bulky(1), bulky(2), bulky(3)], (s) => s.queue('q').clear(), () => []));
  forEveryCrashPoint(scenario(
    [bulky(1), small(2)],
    (s) => s.transaction(() => {
      const q = s.queue('q');
      q.push(bulky(3), small(4));
      q.shift();
      q.push(small(5));
    }),
    (b) => [...b.slice(1), bulky(3), small(4), small(5)],
  ));
});

// Single-tear images (forEverySingleTear): a push's entry bytes are declared no-snapshot and
// sealed with the commit, so a torn word of them must make recovery roll the push back.
test('push: every single torn word of a flushed line is caught by the seal', () => {
  const cases = [
    scenario([small(1), small(2)], (s) => s.queue('q').push(small(3)), (b) => [...b, small(3)]),
    scenario([bulky(1), bulky(2)], (s) => s.queue('q').push(bulky(3)), (b) => [...b, bulky(3)]),
    scenario([small(1), small(2)], (s) => s.transaction(() => { s.queue('q').shift(); s.queue('q').push(small(3), small(4)); }), (b) => [...b.slice(1), small(3), small(4)]),
  ];
  for (const sc of cases) assert.ok(forEverySingleTear(sc) > 0);
});

test('sampled crash points of random push/shift transactions (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }).map(small), fc.integer({ min: 0, max: 5 }).map(bulky)), { maxLength: 6 }),
      fc.array(fc.oneof(fc.constant('shift' as const), fc.integer({ min: 0, max: 50 }).map(small), fc.integer().map(bulky)), { minLength: 1, maxLength: 6 }),
      (initial, ops) => {
        const expected = [...initial];
        for (const o of ops) if (o === 'shift') expected.shift(); else expected.push(o);
        const sc = scenario(initial, (s) => s.transaction(() => {
          const q = s.queue('q');
          for (const o of ops) if (o === 'shift') q.shift(); else q.push(o);
        }), () => expected);
        fc.assert(crashProperty(sc), { numRuns: 5 });
      },
    ),
    { numRuns: SOAK ? 200 : 15 },
  );
});

test('pushes append without snapshotting the entry bytes, except over space a shift of the same transaction emptied', () => {
  // A shift empties the queue (its segment's `used` goes back to 0), then pushes in the same
  // transaction write over the shifted entries' bytes: a rollback must bring those back.
  forEveryCrashPoint(scenario(
    [small(11), small(12)],
    (s) => s.transaction(() => {
      const q = s.queue('q');
      q.shift();
      q.shift();
      q.push(small(13));
      q.push(small(14));
    }),
    () => [small(13), small(14)],
  ));
  // Emptied by an earlier, committed transaction: pushing at position 0 needs no snapshot.
  forEveryCrashPoint(scenario([small(21)], (s) => { s.queue('q').push(small(22), small(23)); }, () => [small(22), small(23)], 1));
});

test('a push logs the header and used word but not the entry bytes', () => {
  const region = new SimulatedRegion(REGION);
  const store = Store.open(region, { create: true, size: REGION });
  const q = store.queue('q');
  q.push(small(1));
  const big = { i: 2, s: 'x'.repeat(900) }; // the same record shape: no structures write
  q.push(big);
  const withBig = store.stats().pool.lastTx;
  q.push(small(3));
  const withSmall = store.stats().pool.lastTx;
  // The 900-byte entry is flushed once (at commit), never copied into the log: the flush
  // count grows by its ~15 lines, not twice that.
  assert.ok(withBig.flushes - withSmall.flushes <= 16, `900-byte push flushed ${withBig.flushes} lines vs ${withSmall.flushes}`);
  assert.equal(withBig.drains, 3);
  assert.deepEqual([...q], [small(1), big, small(3)]);
  store.close();
});
