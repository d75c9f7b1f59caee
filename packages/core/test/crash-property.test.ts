import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import {
  CrashCheckFailure,
  SimulatedCrash,
  SimulatedRegion,
  countEvents,
  crashPointArbitrary,
  crashProperty,
  forEveryCrashPoint,
  forEverySingleTear,
  runCrashPlan,
  type CrashScenario,
} from '@ferrite/core/testing';

// A tiny undo log in a two-line region. Line 0 holds a pair of 8-byte values that must
// change together; line 1 holds the log: the old pair at 64 and 72, a valid flag at 80.
const V0 = 0;
const V1 = 8;
const LOG_OLD0 = 64;
const LOG_OLD1 = 72;
const LOG_VALID = 80;
const OLD = [0x1111n, 0x2222n] as const;
const NEW = [0x3333n, 0x4444n] as const;

function view(r: SimulatedRegion): DataView {
  return new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length);
}
function get(r: SimulatedRegion, off: number): bigint {
  return view(r).getBigUint64(off, true);
}
function put(r: SimulatedRegion, off: number, v: bigint): void {
  view(r).setBigUint64(off, v, true);
}

function setupPair(): { region: SimulatedRegion; state: null } {
  const region = new SimulatedRegion(128);
  put(region, V0, OLD[0]);
  put(region, V1, OLD[1]);
  region.persist(0, 128);
  return { region, state: null };
}

/** Recovery: roll back a valid log entry (idempotent: the flag is cleared last). */
function recoverPair(r: SimulatedRegion): [bigint, bigint] {
  if (get(r, LOG_VALID) === 1n) {
    put(r, V0, get(r, LOG_OLD0));
    put(r, V1, get(r, LOG_OLD1));
    r.persist(0, 16);
    put(r, LOG_VALID, 0n);
    r.persist(LOG_VALID, 8);
  }
  return [get(r, V0), get(r, V1)];
}

/**
 * The states forEveryCrashPoint should check: per crash point, every distinct image when
 * there are at most `seeds`, else `seeds` images; each with `depth` crashed recoveries.
 */
function expectedStates<S, R>(scenario: CrashScenario<S, R>, seeds: number, depth: number): number {
  const points = countEvents(scenario.setup, scenario.run).total + 1;
  let images = 0;
  for (let crashAt = 1; crashAt <= points; crashAt++) {
    const { region, state } = scenario.setup();
    region.resetEvents();
    region.crashAfter(crashAt);
    try {
      scenario.run(region, state);
    } catch (e) {
      if (!(e instanceof SimulatedCrash)) throw e;
    }
    images += Math.min(region.crashImageCount(seeds), seeds);
  }
  return images * (depth + 1);
}

function checkPair(result: [bigint, bigint], ctx: { crashed: boolean }): void {
  const isOld = result[0] === OLD[0] && result[1] === OLD[1];
  const isNew = result[0] === NEW[0] && result[1] === NEW[1];
  assert.ok(isOld || isNew, `pair is neither old nor new: ${result.map((v) => v.toString(16)).join(',')}`);
  if (!ctx.crashed) assert.ok(isNew, 'a completed update must be durable');
}

/** WRONG: data first, then the log, with one persist for both. */
const wrong: CrashScenario<null, [bigint, bigint]> = {
  setup: setupPair,
  run(r) {
    put(r, V0, NEW[0]);
    put(r, V1, NEW[1]);
    put(r, LOG_OLD0, OLD[0]);
    put(r, LOG_OLD1, OLD[1]);
    put(r, LOG_VALID, 1n);
    r.persist(0, 128);
    put(r, LOG_VALID, 0n);
    r.persist(LOG_VALID, 8);
  },
  recover: recoverPair,
  check: checkPair,
};

/** NAIVE: log entry and its valid flag written together, so the flag can land without the payload. */
const naive: CrashScenario<null, [bigint, bigint]> = {
  setup: setupPair,
  run(r) {
    put(r, LOG_OLD0, OLD[0]);
    put(r, LOG_OLD1, OLD[1]);
    put(r, LOG_VALID, 1n);
    r.persist(64, 64);
    put(r, V0, NEW[0]);
    put(r, V1, NEW[1]);
    r.persist(0, 16);
    put(r, LOG_VALID, 0n);
    r.persist(LOG_VALID, 8);
  },
  recover: recoverPair,
  check: checkPair,
};

/** RIGHT: payload durable, then the flag durable, then the data, then the flag cleared. */
const right: CrashScenario<null, [bigint, bigint]> = {
  setup: setupPair,
  run(r) {
    put(r, LOG_OLD0, OLD[0]);
    put(r, LOG_OLD1, OLD[1]);
    r.persist(LOG_OLD0, 16);
    put(r, LOG_VALID, 1n);
    r.persist(LOG_VALID, 8);
    put(r, V0, NEW[0]);
    put(r, V1, NEW[1]);
    r.persist(0, 16);
    put(r, LOG_VALID, 0n);
    r.persist(LOG_VALID, 8);
  },
  recover: recoverPair,
  check: checkPair,
};

test('forEveryCrashPoint catches data written before its undo log', () => {
  assert.throws(() => forEveryCrashPoint(wrong), (e: unknown) => e instanceof CrashCheckFailure && /neither old nor new/.test(e.message));
});

test('forEveryCrashPoint catches a log entry whose valid flag can land without its payload', () => {
  assert.throws(() => forEveryCrashPoint(naive), CrashCheckFailure);
});

test('the right undo protocol passes every crash point, with recovery crashed to depth 2', () => {
  const events = countEvents(right.setup, right.run);
  assert.deepEqual(events, { flushes: 4, drains: 4, total: 8 });
  const states = forEveryCrashPoint({ ...right, recoveryCrashDepth: 2 });
  // 9 crash points (8 events + after completion), up to 8 images each, each recovered
  // undisturbed, with one crashed recovery, and with two.
  assert.equal(states, expectedStates(right, 8, 2));
  assert.ok(states < 9 * 8 * 3, 'points with few distinct images are enumerated, not sampled');
  const all = forEveryCrashPoint({ ...right, recoveryCrashDepth: 1, recoveryPoints: 'all', seeds: 2 });
  assert.ok(all > 9 * 2 * 2, `exhaustive recovery points checked ${all} states`);
});

test('crashProperty catches the wrong protocols within a small run and passes the right one', () => {
  // fast-check reports the property's error as the `cause` of its own.
  const caught = (e: unknown): boolean => e instanceof Error && e.cause instanceof CrashCheckFailure;
  assert.throws(() => fc.assert(crashProperty(wrong), { numRuns: 300, seed: 1 }), caught);
  assert.throws(() => fc.assert(crashProperty(naive), { numRuns: 300, seed: 1 }), caught);
  const soak = process.env.FERRITE_SOAK === '1' ? 20 : 1;
  fc.assert(crashProperty({ ...right, recoveryCrashDepth: 2 }), { numRuns: 300 * soak });
  fc.assert(crashProperty(right, { on: 'drain' }), { numRuns: 50 });
});

test('crashing recovery catches a recovery that is not restartable', () => {
  // Clears the flag before restoring the data: correct unless recovery itself crashes.
  const hasty: CrashScenario<null, [bigint, bigint]> = {
    ...right,
    recover(r) {
      if (get(r, LOG_VALID) === 1n) {
        put(r, LOG_VALID, 0n);
        r.persist(LOG_VALID, 8);
        put(r, V0, get(r, LOG_OLD0));
        put(r, V1, get(r, LOG_OLD1));
        r.persist(0, 16);
      }
      return [get(r, V0), get(r, V1)];
    },
  };
  assert.ok(forEveryCrashPoint(hasty) > 0, 'without crashing recovery it passes');
  assert.throws(
    () => forEveryCrashPoint({ ...hasty, recoveryCrashDepth: 1, recoveryPoints: 'all' }),
    (e: unknown) => e instanceof CrashCheckFailure && e.plan.recovery.length === 1,
  );
  const soak = process.env.FERRITE_SOAK === '1' ? 20 : 1;
  assert.throws(
    () => fc.assert(crashProperty({ ...hasty, recoveryCrashDepth: 1 }), { numRuns: 500 * soak, seed: 7 }),
    (e: unknown) => e instanceof Error && e.cause instanceof CrashCheckFailure,
  );
});

test('single 8-byte value: data-before-log and a one-persist log entry are caught, the ordered log passes', () => {
  // Data at 0; log: old value at 64, valid flag at 72. Old value 0x1111, new 0x3333.
  const setup = (): { region: SimulatedRegion; state: null } => {
    const region = new SimulatedRegion(128);
    put(region, 0, 0x1111n);
    region.persist(0, 8);
    return { region, state: null };
  };
  const recover = (r: SimulatedRegion): bigint => {
    if (get(r, 72) === 1n) {
      put(r, 0, get(r, 64));
      r.persist(0, 8);
      put(r, 72, 0n);
      r.persist(72, 8);
    }
    return get(r, 0);
  };
  const check = (v: bigint, ctx: { crashed: boolean }): void => {
    assert.ok(v === 0x1111n || v === 0x3333n, `value ${v.toString(16)} is neither old nor new`);
    if (!ctx.crashed) assert.equal(v, 0x3333n);
  };
  const base = { setup, recover, check };
  const wrongOne: CrashScenario<null, bigint> = {
    ...base,
    run(r) {
      put(r, 0, 0x3333n);
      put(r, 64, 0x1111n);
      put(r, 72, 1n);
      r.persist(0, 128);
      put(r, 72, 0n);
      r.persist(72, 8);
    },
  };
  // The log entry and its flag in one persist: the flag can land without the old value.
  const onePersistLog: CrashScenario<null, bigint> = {
    ...base,
    run(r) {
      put(r, 64, 0x1111n);
      put(r, 72, 1n);
      r.persist(64, 16);
      put(r, 0, 0x3333n);
      r.persist(0, 8);
      put(r, 72, 0n);
      r.persist(72, 8);
    },
  };
  const ordered: CrashScenario<null, bigint> = {
    ...base,
    run(r) {
      put(r, 64, 0x1111n);
      r.persist(64, 8);
      put(r, 72, 1n);
      r.persist(72, 8);
      put(r, 0, 0x3333n);
      r.persist(0, 8);
      put(r, 72, 0n);
      r.persist(72, 8);
    },
  };
  assert.throws(() => forEveryCrashPoint(wrongOne), CrashCheckFailure);
  // Two words in flight have 4 images: all are checked, so the torn one is always found.
  assert.throws(() => forEveryCrashPoint(onePersistLog), CrashCheckFailure);
  assert.equal(forEveryCrashPoint({ ...ordered, recoveryCrashDepth: 2 }), expectedStates(ordered, 8, 2));
});

test('a point with few distinct images is checked exhaustively', () => {
  // Three words of one line stored, never persisted: 2^3 images after the run completes.
  const seen = new Set<string>();
  const threeWords: CrashScenario<null, string> = {
    setup: () => ({ region: new SimulatedRegion(64), state: null }),
    run(r) {
      put(r, 0, 1n);
      put(r, 8, 2n);
      put(r, 16, 3n);
    },
    recover: (r) => [0, 8, 16].map((o) => get(r, o).toString()).join(','),
    check(result) {
      seen.add(result);
    },
  };
  assert.equal(forEveryCrashPoint(threeWords), 8);
  assert.equal(seen.size, 8, 'every combination of old and new words was recovered');
  const r = new SimulatedRegion(64);
  put(r, 0, 1n);
  put(r, 8, 2n);
  put(r, 16, 3n);
  assert.equal(r.crashImageCount(100), 8);
  assert.equal(r.crashImageCount(5), 6, 'capped at limit + 1');
  assert.throws(() => r.crashImage({ seed: 8, mode: 'enumerate' }), (e: unknown) => isFerriteError(e, 'ERANGE'));
  r.flush(0, 8);
  put(r, 0, 4n); // word 0 now has three candidates: 0, 1 (pending), 4 (live)
  assert.equal(r.crashImageCount(100), 12);
});

test('a failure carries a plan that replays it', () => {
  let failure: CrashCheckFailure | undefined;
  try {
    forEveryCrashPoint(wrong);
  } catch (e) {
    if (e instanceof CrashCheckFailure) failure = e;
  }
  assert.ok(failure !== undefined);
  assert.throws(() => runCrashPlan(wrong, failure!.plan), CrashCheckFailure);
  runCrashPlan(right, failure!.plan); // the same crash is harmless under the right protocol
});

test('the check is told whether the run crashed, and where', () => {
  const seen: Array<{ crashed: boolean; event: string | undefined; count: number | undefined; depth: number }> = [];
  forEveryCrashPoint({
    ...right,
    seeds: 1,
    check(result, ctx) {
      checkPair(result, ctx);
      seen.push({ crashed: ctx.crashed, event: ctx.crash?.event, count: ctx.crash?.count, depth: ctx.depth });
      assert.equal(ctx.seed, ctx.plan.seed);
      // The first image of every point is the all-media one (index 0 when enumerated).
      assert.ok(ctx.plan.mode === 'media' || (ctx.plan.mode === 'enumerate' && ctx.plan.seed === 0));
      assert.ok(ctx.region instanceof SimulatedRegion);
    },
  });
  assert.equal(seen.length, 9);
  assert.deepEqual(
    seen.map((s) => s.event),
    ['flush', 'drain', 'flush', 'drain', 'flush', 'drain', 'flush', 'drain', undefined],
  );
  assert.deepEqual(seen.map((s) => s.count), [1, 2, 3, 4, 5, 6, 7, 8, undefined]);
  assert.ok(seen.slice(0, 8).every((s) => s.crashed));
  assert.equal(seen[8]!.crashed, false);
});

test('forEveryCrashPoint runs each crash point once and images it with every seed', () => {
  let setups = 0;
  const counted: CrashScenario<null, [bigint, bigint]> = {
    ...right,
    setup() {
      setups++;
      return setupPair();
    },
  };
  const states = forEveryCrashPoint({ ...counted, seeds: 5 });
  assert.equal(setups, 1 + 9, 'one counting run, then one run per crash point');
  assert.equal(states, expectedStates(right, 5, 0));
});

test('a run that swallows the crash still counts as crashed; other errors fail', () => {
  const swallowing: CrashScenario<null, [bigint, bigint]> = {
    ...right,
    run(r, s) {
      try {
        right.run(r, s);
      } catch (e) {
        if (!(e instanceof SimulatedCrash)) throw e;
      }
    },
  };
  assert.equal(forEveryCrashPoint({ ...swallowing, seeds: 2 }), expectedStates(right, 2, 0));
  const throwing: CrashScenario<null, [bigint, bigint]> = {
    ...right,
    run() {
      throw new Error('bug');
    },
  };
  assert.throws(() => forEveryCrashPoint(throwing), (e: unknown) => e instanceof Error && /bug/.test(e.message));
});

test('crashPointArbitrary stays within 1..n+1 for the chosen kinds', () => {
  fc.assert(
    fc.property(crashPointArbitrary(5), (p) => p.crashAt >= 1 && p.crashAt <= 6 && p.on === 'any'),
  );
  fc.assert(
    fc.property(crashPointArbitrary({ flushes: 3, drains: 1 }), (p) => {
      const n = p.on === 'flush' ? 3 : p.on === 'drain' ? 1 : 4;
      return p.crashAt >= 1 && p.crashAt <= n + 1;
    }),
  );
  assert.throws(() => crashPointArbitrary(-1), (e: unknown) => isFerriteError(e, 'EINVAL'));
  assert.throws(() => forEveryCrashPoint({ ...right, recoveryCrashDepth: 9 }), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

// A sealed commit: the new pair and a record (a checksum of the pair) flushed together under
// one drain; recovery keeps the pair when the record matches it and restores OLD otherwise.
// A record that does not cover V1 lets a torn V1 through: only an image with the record and
// V0 durable but V1 not shows it, which is exactly a single-tear image.
const RECORD = 64;
function sealedScenario(covers: 'both' | 'first'): CrashScenario<null, [bigint, bigint]> {
  const sealOf = (a: bigint, b: bigint): bigint => (covers === 'both' ? a * 3n + b * 7n + 1n : a * 3n + 1n);
  return {
    setup: setupPair,
    run: (r) => {
      put(r, V0, NEW[0]);
      put(r, V1, NEW[1]);
      put(r, RECORD, sealOf(NEW[0], NEW[1]));
      r.flush(0, 16);
      r.flush(RECORD, 8);
      r.drain();
    },
    recover: (r) => {
      if (get(r, RECORD) !== sealOf(get(r, V0), get(r, V1))) {
        put(r, V0, OLD[0]);
        put(r, V1, OLD[1]);
        r.persist(0, 16);
      }
      return [get(r, V0), get(r, V1)];
    },
    check: (pair, ctx) => {
      const isOld = pair[0] === OLD[0] && pair[1] === OLD[1];
      const isNew = pair[0] === NEW[0] && pair[1] === NEW[1];
      assert.ok(ctx.crashed ? isOld || isNew : isNew, `pair ${pair.join(', ')}`);
    },
  };
}

test('forEverySingleTear catches a commit record that misses a changed word; its plan replays', () => {
  let failure: unknown;
  try {
    forEverySingleTear(sealedScenario('first'));
  } catch (err) {
    failure = err;
  }
  assert.ok(failure instanceof CrashCheckFailure, String(failure));
  assert.equal(failure.plan.tornWord, V1, 'the torn word is the one the record misses');
  assert.throws(() => runCrashPlan(sealedScenario('first'), failure.plan), CrashCheckFailure);
  // The same plan passes when the record covers both words.
  runCrashPlan(sealedScenario('both'), failure.plan);
});

test('forEverySingleTear checks one image per flushed word that differs from the media', () => {
  // Crash before the pair's flush: nothing pending. Before the record's flush: V0 and V1
  // (2 images). Before the drain: V0, V1 and RECORD (3 images). After completion: nothing.
  assert.equal(forEverySingleTear(sealedScenario('both')), 5);
});
