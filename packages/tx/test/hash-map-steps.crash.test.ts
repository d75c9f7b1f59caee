/**
 * Crash tests of the migration steps bigger than 4 old buckets (hash-map.ts, `stepSizeOf`):
 * a table of more than 1024 old buckets migrates in steps of oldCap/256 buckets, up to 32.
 * The simulated pool holds only small maps, so most cases make a map take big steps early
 * (its `stepsPerMigration`: 1 makes every step as big as allowed, MIGRATE_STEP_MAX inside a
 * segment). Every crash point of each op, torn words and crashed recoveries included, must
 * recover to the state before or after it (support/collections-crash.ts).
 *
 * The shapes: big steps entering a new segment in each half, finishing an old segment (freed)
 * and the migration (old directory freed), a step stopped before the op's own bucket (a cursor
 * that is not a multiple of the step size), a big step from a cursor 4-bucket steps left and
 * 4-bucket steps from a cursor big steps left (the steps of an older ferrite of format 3 on
 * the same pool), big steps inside one big transaction with kept stores, and the default
 * 8-bucket steps of a 2048-bucket table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CRASH_POOL_SIZE, aborted, runCrashCase, runSingleTearCase, type CrashCase, type Maps } from './support/collections-crash.js';
import { allocStructuresSlot, makeContext } from './support/collections-context.js';
import { Pool } from '@ferrite/heap';
import { SimulatedRegion } from '@ferrite/core/testing';
import { PMap } from '../src/collections/hash-map.js';
import { hashBytes } from '../src/collections/pool-words.js';

interface MapInternals {
  ctx: { keys: { encode(key: unknown): Uint8Array } };
  seed: number;
  header: number;
  stepsPerMigration: number;
  bigStepsAfter: number;
  find(k: Uint8Array, h: number): number;
}

const internals = (m: Maps): MapInternals => m.map as unknown as MapInternals;

/** Every step as big as allowed (1), or 4-bucket steps only (what an older ferrite takes). */
const BIG = 1;
const SMALL = 2 ** 40;
function stepsOf(m: Maps, perMigration: number): void {
  internals(m).stepsPerMigration = perMigration;
  // Big steps from a transaction's first write (a lone write takes 4-bucket steps otherwise).
  internals(m).bigStepsAfter = 0;
}

/** The migration's state from the pool's header (committed): old table size and cursor. */
function migration(m: Maps): { oldCap: number; cursor: number } {
  const h = internals(m).header;
  if (m.pool.readU64(h + 40) === 0) return { oldCap: 0, cursor: 0 };
  return { oldCap: 2 ** (m.pool.readU64(h + 32) - 1), cursor: m.pool.readU64(h + 48) };
}

/** The first absent key `${prefix}${j}` whose old bucket (hash mod oldCap) satisfies `want`. */
function absentKey(m: Maps, prefix: string, want: (oldBucket: number) => boolean): string {
  const x = internals(m);
  const { oldCap } = migration(m);
  assert.ok(oldCap > 0, 'migrating');
  for (let j = 0; j < 100_000; j++) {
    const key = `${prefix}${j}`;
    const k = x.ctx.keys.encode(key).slice();
    const h = hashBytes(k, 0, k.length, x.seed);
    if (x.find(k, h) === 0 && want(h & (oldCap - 1))) return key;
  }
  throw new Error(`no absent key ${prefix}* with the wanted bucket`);
}

const fill = (m: Maps, n: number, from = 0): void => {
  m.pool.transaction(() => {
    for (let i = from; i < from + n; i++) m.map.set(`k${i}`, { i, s: 'abcdefghijklmnopqrst' });
  });
};

/** 129 entries: the table of 128 buckets (two 64-bucket segments) starts doubling to 256. */
const doubling128 = (m: Maps): void => {
  fill(m, 129);
  assert.deepEqual(migration(m), { oldCap: 128, cursor: 0 });
};

/** The largest step (MIGRATE_STEP_MAX in hash-map.ts): half a 64-bucket segment. */
const MAX_STEP = 32;

/** One step as big as allowed, by a key outside it: the cursor moves to the next multiple of MAX_STEP. */
function bigStep(m: Maps, prefix: string): void {
  stepsOf(m, BIG);
  const { oldCap, cursor } = migration(m);
  const end = cursor - (cursor % MAX_STEP) + MAX_STEP;
  m.map.set(absentKey(m, prefix, (b) => b < cursor || b >= end), prefix);
  assert.deepEqual(migration(m), end === oldCap ? { oldCap: 0, cursor: 0 } : { oldCap, cursor: end });
}

const cases: CrashCase[] = [
  {
    name: 'PMap big step entering a new segment in each half',
    prefill: doubling128,
    op: (m) => bigStep(m, 'a'),
  },
  {
    name: 'PMap big step finishing old segment 0 (freed)',
    prefill: (m) => {
      doubling128(m);
      bigStep(m, 'a');
    },
    op: (m) => bigStep(m, 'b'),
  },
  {
    name: 'PMap final big step: old segment 1 and the old directory freed',
    prefill: (m) => {
      doubling128(m);
      for (const p of ['a', 'b', 'c']) bigStep(m, p);
      assert.equal(migration(m).cursor, 96);
    },
    op: (m) => {
      bigStep(m, 'd');
      assert.deepEqual(migration(m), { oldCap: 0, cursor: 0 });
    },
  },
  {
    // The op's own old bucket is in [12, 32): the step stops at the multiple of 4 below it.
    name: 'PMap big step stopped before the op\'s own bucket',
    prefill: doubling128,
    op: (m) => {
      stepsOf(m, BIG);
      m.map.set(absentKey(m, 'c', (b) => b >= 12 && b < MAX_STEP), 'own bucket in the step');
      const { cursor } = migration(m);
      assert.ok(cursor >= 12 && cursor < MAX_STEP && cursor % 4 === 0, `cursor ${cursor} stopped before the op's bucket`);
    },
  },
  {
    // Then the next big step starts from a cursor that is not a multiple of its size.
    name: 'PMap big step from a cursor that is not a multiple of the step size',
    prefill: (m) => {
      doubling128(m);
      stepsOf(m, BIG);
      m.map.set(absentKey(m, 'c', (b) => b >= 12 && b < MAX_STEP), 'own bucket in the step');
      assert.ok(migration(m).cursor % MAX_STEP !== 0);
    },
    op: (m) => bigStep(m, 'd'),
  },
  {
    // An older ferrite (4-bucket steps) took the first steps: cursor 8.
    name: 'PMap big step after 4-bucket steps (a pool an older ferrite migrated part way)',
    prefill: (m) => {
      doubling128(m);
      stepsOf(m, SMALL);
      for (let i = 0; migration(m).cursor < 8; i++) {
        assert.ok(i < 10, 'steps are taken');
        m.map.set(absentKey(m, `s${i}-`, (b) => b >= 8), i);
      }
      assert.equal(migration(m).cursor, 8);
    },
    op: (m) => bigStep(m, 'e'),
  },
  {
    // The other way round: big steps to 64, then an older ferrite's 4-bucket step, which must
    // enter the next segment of each half itself (the cursor is at a segment's start).
    name: 'PMap 4-bucket step after big steps (an older ferrite goes on)',
    prefill: (m) => {
      doubling128(m);
      bigStep(m, 'a');
      bigStep(m, 'b');
    },
    op: (m) => {
      stepsOf(m, SMALL);
      m.map.set(absentKey(m, 'f', (b) => b < 64 || b >= 68), 'small step');
      assert.equal(migration(m).cursor, 68);
    },
  },
  {
    name: 'PMap big steps in one transaction across two doublings and their migrations (kept stores)',
    prefill: (m) => fill(m, 120),
    op: (m) => {
      stepsOf(m, BIG);
      m.pool.transaction(() => {
        for (let i = 120; i < 270; i++) m.map.set(`k${i}`, { i, s: 'grow' });
        for (let i = 0; i < 270; i += 9) m.map.set(`k${i}`, 'v'.repeat(45)); // some outgrow their slot
        for (let i = 1; i < 270; i += 13) assert.equal(m.map.delete(`k${i}`), true);
        for (let i = 270; i < 290; i++) m.map.set(`k${i}`, i);
        assert.deepEqual(m.map.get('k5'), { i: 5, s: 'abcdefghijklmnopqrst' });
      });
    },
  },
  {
    name: 'PMap big steps in a transaction rolled back, then taken again',
    prefill: doubling128,
    op: (m) => {
      stepsOf(m, BIG);
      aborted(m.pool, () => {
        for (let i = 129; i < 160; i++) m.map.set(`k${i}`, i);
      });
      m.pool.transaction(() => {
        for (let i = 129; i < 140; i++) m.map.set(`k${i}`, i);
      });
    },
  },
  {
    // Default sizes: past 1024 old buckets a step moves oldCap/256, here 8 buckets (in a
    // transaction that wrote enough already: bigStepsAfter 0 stands for its earlier writes).
    name: 'PMap 8-bucket step of a 2048-bucket table (default step size)',
    prefill: (m) => {
      fill(m, 2049);
      assert.deepEqual(migration(m), { oldCap: 2048, cursor: 0 });
    },
    op: (m) => {
      internals(m).bigStepsAfter = 0;
      m.map.set(absentKey(m, 'g', (b) => b >= 8), 'step');
      assert.equal(migration(m).cursor, 8);
    },
  },
];

for (const c of cases) {
  test(`${c.name}: every crash point recovers to before or after`, () => {
    assert.ok(runCrashCase(c) > 0);
  });
}

// A sealed commit of a big step writes 32 new slots per half next to snapshotted words: a torn
// word of any of them must fail the seal.
for (const name of ['PMap big step entering a new segment in each half', 'PMap big step finishing old segment 0 (freed)', 'PMap big step stopped before the op\'s own bucket']) {
  const c = cases.find((x) => x.name === name)!;
  test(`${name}: every single torn word of a flushed line is caught by the seal`, () => {
    assert.ok(runSingleTearCase(c) > 0);
  });
}

// With the defaults, a lone insert takes a 4-bucket step even in a big table (its latency, and
// an event-loop turn of many lone writes, stay as short as before), and a transaction's writes
// take oldCap/256-bucket steps once it has inserted more than BIG_STEPS_AFTER (64) entries.
test('PMap steps by default: 4 buckets for a lone insert, oldCap/256 after the 64th insert of a transaction', () => {
  const region = new SimulatedRegion(CRASH_POOL_SIZE);
  const pool = Pool.create(region, { layout: 'steps', size: CRASH_POOL_SIZE });
  const slot = allocStructuresSlot(pool);
  const ctx = makeContext(pool, slot);
  const header = pool.transaction((tx) => PMap.create(ctx, tx));
  const m = { pool, map: new PMap(ctx, header) } as unknown as Maps;
  fill(m, 2049);
  assert.deepEqual(migration(m), { oldCap: 2048, cursor: 0 });
  // Keys whose old bucket lies past every step taken here, so that no step stops short.
  const far = (prefix: string): string => absentKey(m, prefix, (b) => b >= 1024);
  m.map.set(far('lone'), 'lone');
  assert.equal(migration(m).cursor, 4, 'a lone insert moved 4 buckets');
  const keys = Array.from({ length: 65 }, (_, i) => far(`t${i}-`));
  m.pool.transaction(() => {
    for (let i = 0; i < 64; i++) m.map.set(keys[i]!, i);
  });
  assert.equal(migration(m).cursor, 4 + 64 * 4, 'the first 64 inserts of a transaction took 4-bucket steps');
  const more = Array.from({ length: 65 }, (_, i) => far(`u${i}-`));
  m.pool.transaction(() => {
    for (let i = 0; i < 65; i++) m.map.set(more[i]!, i);
  });
  // 4 + 256 + 64 * 4 = 516, then the 65th insert's 8-bucket step ends at the next multiple of 8.
  assert.equal(migration(m).cursor, 520, 'the 65th insert took an 8-bucket step');
  assert.deepEqual(m.map.validate(), []);
  assert.ok(pool.check().ok);
});
