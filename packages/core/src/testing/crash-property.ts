/**
 * Crash-testing harness: run an operation on a `SimulatedRegion`, crash it at a flush or
 * drain, build a crash image, recover from it (optionally crashing recovery too), and check
 * what recovery made of it. `forEveryCrashPoint` enumerates every crash point; the
 * fast-check helpers (`crashProperty`, `crashPointArbitrary`) sample them and shrink
 * failures to the earliest crash point.
 */
import fc from 'fast-check';
import { FerriteError } from '../errors.js';
import { recycleArray } from './buffer-pool.js';
import { Prng } from './prng.js';
import { SimulatedCrash, type CrashOn } from './simulated-crash.js';
import { SimulatedRegion, type CrashMode, type EventCounts } from './simulated-region.js';

/**
 * Modes of the first images `forEveryCrashPoint` makes per crash point, most telling first:
 * all-media (nothing unpersisted survived: catches missing persists), word-mixed (catches
 * ordering and tearing bugs), line-mixed, all-live (everything survived).
 */
export const IMAGE_ORDER: readonly CrashMode[] = ['media', 'words', 'lines', 'live'];

/** Deepest chain of crashed recoveries the harness builds (recovery of a crashed recovery...). */
export const MAX_RECOVERY_CRASH_DEPTH = 3;

/**
 * Where the run is crashed: before the `crashAt`-th event (1-based) of kind `on`, counted
 * from the start of `run`. A `crashAt` beyond the run's events means the run completes and
 * the crash comes after it (the image then shows what the run left undurable). `seed`
 * chooses the crash image (see `CrashChoice` and `crashModeOfSeed`).
 */
export interface CrashPoint {
  crashAt: number;
  on: CrashOn;
  seed: number;
  /** Overrides the image mode the seed selects (`crashModeOfSeed`). */
  mode?: CrashMode;
  /**
   * A single-tear image instead (`forEverySingleTear`): every flushed, undrained word
   * reached the media except the 8-byte word at this offset (on a 'file' region: every
   * dirty sector reached the disk except the sector at this offset). `seed` and `mode` are
   * unused.
   */
  tornWord?: number;
}

/**
 * A crash of a recovery: before its `crashAt`-th event (flushes and drains both count; if
 * recovery has fewer, it completes and the crash comes after it), with image seed `seed`.
 */
export interface RecoveryCrash {
  crashAt: number;
  seed: number;
}

/** A full, replayable crash scenario: the run's crash, then a chain of crashed recoveries. */
export interface CrashPlan extends CrashPoint {
  recovery: readonly RecoveryCrash[];
}

/** What `check` is told about the state it checks. */
export interface CrashContext<S> {
  /** True when the crash struck during `run`; false when `run` completed first. */
  crashed: boolean;
  /** The crash that struck `run`, if any (its event kind and ordinal). */
  crash: SimulatedCrash | undefined;
  /** The plan that led here: pass it to `runCrashPlan` to replay this state. */
  plan: CrashPlan;
  /** The seed of the run's crash image (`plan.seed`). */
  seed: number;
  /**
   * The state `setup` made, as `run` left it. Shared by the checks of one crashed run:
   * `forEveryCrashPoint` runs once per crash point and checks every image of it.
   */
  state: S;
  /** How many recoveries were crashed before the one whose result is checked. */
  depth: number;
  /**
   * The region the checked recovery ran on. The harness disposes it when `check` returns,
   * so do not keep it (or arrays over its bytes) beyond the call.
   */
  region: SimulatedRegion;
}

/**
 * An operation to crash-test. Every function must be deterministic given the region's
 * contents, so that a failing plan replays.
 */
export interface CrashScenario<S, R> {
  /**
   * A fresh region (and whatever else the run needs, e.g. an open pool). Events made here
   * are not crash points: counting starts when `run` starts.
   */
  setup(): { region: SimulatedRegion; state: S };
  /** The operation(s) under test. It may throw `SimulatedCrash`; other errors fail the test. */
  run(region: SimulatedRegion, state: S): void;
  /**
   * What the program does when it starts again on the crash image `region` (e.g. open the
   * pool and read what the check needs). `depth` counts the recoveries crashed before this
   * one. A throw other than a simulated crash fails the test: return errors as values if
   * some are acceptable.
   */
  recover(region: SimulatedRegion, depth: number): R;
  /** Asserts that `result` is acceptable (throw, e.g. with node:assert, when it is not). */
  check(result: R, ctx: CrashContext<S>): void;
  /** Also crash recovery, to this depth (0 to 3; default 0). */
  recoveryCrashDepth?: number;
}

/** A check (or recovery) failed; `plan` replays it with `runCrashPlan`. */
export class CrashCheckFailure extends Error {
  readonly plan: CrashPlan;
  constructor(plan: CrashPlan, what: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${what} for crash plan ${JSON.stringify(plan)}: ${reason}`, { cause });
    this.name = 'CrashCheckFailure';
    this.plan = plan;
  }
}

/** Event counts of one uncrashed run, plus their sum. */
export interface RunEvents extends EventCounts {
  readonly total: number;
}

/** Runs `setup` then `run` once without crashing and counts the events `run` made. */
export function countEvents<S>(
  setup: () => { region: SimulatedRegion; state: S },
  run: (region: SimulatedRegion, state: S) => void,
): RunEvents {
  const { region, state } = setup();
  region.clearCrash();
  region.resetEvents();
  run(region, state);
  const { flushes, drains } = region.events;
  return { flushes, drains, total: flushes + drains };
}

/** Number of events of kind `on` in `events`. */
export function eventsOf(events: EventCounts, on: CrashOn): number {
  return on === 'flush' ? events.flushes : on === 'drain' ? events.drains : events.flushes + events.drains;
}

/**
 * An arbitrary crash point of a run with `total` events (a number: all kinds, `on` =
 * options.on ?? 'any'; or counts per kind: each kind drawn with its own range). `crashAt`
 * ranges over 1..n+1, the last meaning "after the run completed"; it shrinks towards 1.
 */
export function crashPointArbitrary(total: number | EventCounts, options: { on?: CrashOn } = {}): fc.Arbitrary<CrashPoint> {
  const seed = fc.nat({ max: 0xffffffff });
  if (typeof total === 'number') {
    checkCount('crashPointArbitrary', total);
    const on = options.on ?? 'any';
    return fc.record({ crashAt: fc.integer({ min: 1, max: total + 1 }), on: fc.constant(on), seed });
  }
  const kinds: CrashOn[] = options.on !== undefined ? [options.on] : ['any', 'flush', 'drain'];
  return fc.oneof(
    ...kinds.map((on) => fc.record({ crashAt: fc.integer({ min: 1, max: eventsOf(total, on) + 1 }), on: fc.constant(on), seed })),
  );
}

/** Input of the property `crashProperty` builds: recovery crash points are scaled at run time. */
export interface CrashPlanInput extends CrashPoint {
  /** Per crashed recovery: `at` picks its crash point as 1 + at % (recovery events + 1). */
  recovery: ReadonlyArray<{ at: number; seed: number }>;
}

/**
 * A fast-check property that crashes `scenario` at sampled points and checks every result;
 * run it with `fc.assert(crashProperty(s), { numRuns })`. The run's events are counted
 * once, when the property is made. A failure throws `CrashCheckFailure`, whose message
 * holds the replayable `CrashPlan`; fast-check shrinks towards earlier crash points and
 * shallower recovery chains.
 */
export function crashProperty<S, R>(
  scenario: CrashScenario<S, R>,
  options: { on?: CrashOn } = {},
): fc.IPropertyWithHooks<[CrashPlanInput]> {
  const depth = checkDepth(scenario.recoveryCrashDepth);
  const counts = countEvents(() => scenario.setup(), (r, s) => scenario.run(r, s));
  const point = crashPointArbitrary(options.on === undefined ? counts.total : counts, options);
  const recovery = fc.array(fc.record({ at: fc.nat({ max: 0xffff }), seed: fc.nat({ max: 0xffffffff }) }), { maxLength: depth });
  const input: fc.Arbitrary<CrashPlanInput> = fc
    .tuple(point, recovery)
    .map(([p, rec]) => ({ crashAt: p.crashAt, on: p.on, seed: p.seed, recovery: rec }));
  return fc.property(input, (plan) => {
    const run = executeRun(scenario, plan);
    const chain: RecoveryCrash[] = [];
    let image = run.image;
    try {
      for (const level of plan.recovery) {
        const events = recoveryEvents(scenario, run, image, chain);
        const rc = { crashAt: 1 + (level.at % (events + 1)), seed: level.seed };
        chain.push(rc);
        const next = crashRecovery(scenario, run, image, chain);
        if (image !== run.image) recycleArray(image, true);
        image = next;
      }
      checkFinal(scenario, run, image, chain);
    } finally {
      if (image !== run.image) recycleArray(image, true);
      recycleArray(run.image, true);
    }
  });
}

/** Options of `forEveryCrashPoint`. */
export interface EveryCrashPointOptions {
  /**
   * Crash images per crash point (default 8). When a point admits at most that many
   * distinct images (`crashImageCount`), exactly those are checked ('enumerate' mode).
   * Otherwise image j uses seed `firstSeed + j` and the mode `IMAGE_ORDER[j]` for j < 4
   * (all-media, word-mixed, line-mixed, all-live: a budget of 2 already mixes words), then
   * alternately 'words' and 'lines'.
   */
  seeds?: number;
  /** First image seed (default 0). */
  firstSeed?: number;
  /** Which events are crash points (default 'any': every flush and every drain). */
  on?: CrashOn;
  /**
   * With `recoveryCrashDepth` > 0: 'sampled' (default) crashes each recovery at one point
   * drawn from the image seed; 'all' crashes it at every one of its points (costly beyond
   * depth 1).
   */
  recoveryPoints?: 'sampled' | 'all';
}

/**
 * Checks `scenario` at every crash point of its run (1..n+1, the last being "after
 * completion"), with up to `seeds` crash images each (all of them when there are no more), and, when `recoveryCrashDepth` > 0, with
 * recovery crashed at every depth up to it. Deterministic. Returns the number of states
 * checked (one per `check` call); throws `CrashCheckFailure` at the first failure.
 */
export function forEveryCrashPoint<S, R>(scenario: CrashScenario<S, R> & EveryCrashPointOptions): number {
  const depth = checkDepth(scenario.recoveryCrashDepth);
  const seeds = scenario.seeds ?? 8;
  const firstSeed = scenario.firstSeed ?? 0;
  const on = scenario.on ?? 'any';
  const mode = scenario.recoveryPoints ?? 'sampled';
  checkCount('forEveryCrashPoint seeds', seeds);
  if (!Number.isSafeInteger(firstSeed)) throw new FerriteError('EINVAL', 'forEveryCrashPoint: firstSeed must be an integer');
  const counts = countEvents(() => scenario.setup(), (r, s) => scenario.run(r, s));
  const points = eventsOf(counts, on) + 1;
  let states = 0;
  for (let crashAt = 1; crashAt <= points; crashAt++) {
    // The run is deterministic, so one crashed run serves every image of this point.
    const crashed = crashRun(scenario, crashAt, on);
    // When no more distinct images exist than the budget, check exactly those: complete
    // for this point, and cheaper (one image when nothing is in flight).
    const distinct = seeds === 0 ? 0 : crashed.region.crashImageCount(seeds);
    const exhaustive = distinct <= seeds;
    const images = exhaustive ? distinct : seeds;
    for (let k = 0; k < images; k++) {
      const seed = exhaustive ? k : firstSeed + k;
      const imageMode: CrashMode = exhaustive ? 'enumerate' : (IMAGE_ORDER[k] ?? (k % 2 === 0 ? 'words' : 'lines'));
      const run = imageOf(crashed, seed, imageMode);
      try {
        states += explore(scenario, run, run.image, [], depth, mode, new Prng(seed ^ (crashAt * 0x9e3779b1)));
      } finally {
        recycleArray(run.image, true);
      }
    }
  }
  return states;
}

/**
 * Checks `scenario` on single-tear images: at every crash point (as `forEveryCrashPoint`,
 * on every flush and drain), for every flushed, undrained 8-byte word whose flushed contents
 * differ from the media, the image where every flushed word reached the media except that
 * one (on a 'file' region: for every sector that differs from the disk, the image where
 * every other such sector reached the disk). A commit record made durable together with data it vouches for is then durable while
 * one word of that data is not: recovery must notice (a seal that misses a changed byte does
 * not). Random word-mixed images rarely make exactly these. Recovery is not crashed here
 * (`forEveryCrashPoint` does that); a failure's plan (with `tornWord`) replays with
 * `runCrashPlan`. Returns the number of images checked.
 */
export function forEverySingleTear<S, R>(scenario: CrashScenario<S, R>): number {
  const counts = countEvents(() => scenario.setup(), (r, s) => scenario.run(r, s));
  const points = eventsOf(counts, 'any') + 1;
  let images = 0;
  for (let crashAt = 1; crashAt <= points; crashAt++) {
    const crashed = crashRun(scenario, crashAt, 'any');
    for (const w of tearableWords(crashed.region)) {
      const run = tornImageOf(crashed, w);
      try {
        checkFinal(scenario, run, run.image, []);
      } finally {
        recycleArray(run.image, true);
      }
      images++;
    }
  }
  return images;
}

/**
 * Replays one plan (as printed by a `CrashCheckFailure`): runs, crashes, recovers through
 * the plan's chain of crashed recoveries, and checks. Throws `CrashCheckFailure` on failure.
 */
export function runCrashPlan<S, R>(scenario: CrashScenario<S, R>, plan: CrashPlan): void {
  checkDepth(plan.recovery.length);
  const run = executeRun(scenario, plan);
  let image = run.image;
  const chain: RecoveryCrash[] = [];
  for (const rc of plan.recovery) {
    chain.push(rc);
    image = crashRecovery(scenario, run, image, chain);
  }
  checkFinal(scenario, run, image, chain);
}

/** Disposes a region the harness made, whatever the code under test did to it. */
function disposeQuietly(region: SimulatedRegion): void {
  region.clearCrash();
  region.dispose();
}

/** What one crashed (or completed) run left: the image recovery starts from. */
interface RunResult<S> {
  point: CrashPoint;
  image: Uint8Array;
  crash: SimulatedCrash | undefined;
  state: S;
  region: SimulatedRegion;
}

/** A run of the scenario crashed at one point (or completed), before any image is taken. */
interface CrashedRun<S> {
  crashAt: number;
  on: CrashOn;
  crash: SimulatedCrash | undefined;
  state: S;
  region: SimulatedRegion;
}

function crashRun<S, R>(scenario: CrashScenario<S, R>, crashAt: number, on: CrashOn): CrashedRun<S> {
  const { region, state } = scenario.setup();
  region.clearCrash();
  region.resetEvents();
  region.crashAfter(crashAt, { on });
  try {
    scenario.run(region, state);
  } catch (err) {
    // The crash counts even when the code under test wrapped or replaced the SimulatedCrash.
    if (region.crashed === undefined) {
      throw new CrashCheckFailure({ crashAt, on, seed: 0, recovery: [] }, 'run threw without a crash', err);
    }
  }
  return { crashAt, on, crash: region.crashed, state, region };
}

/** One crash image of a crashed run. Images of one run differ only in seed and mode. */
function imageOf<S>(crashed: CrashedRun<S>, seed: number, mode: CrashMode | undefined): RunResult<S> {
  const point: CrashPoint = { crashAt: crashed.crashAt, on: crashed.on, seed };
  if (mode !== undefined) point.mode = mode;
  const image = crashed.region.crashImage(mode === undefined ? seed : { seed, mode });
  return { point, image, crash: crashed.crash, state: crashed.state, region: crashed.region };
}

/**
 * The single-tear image of a crashed run: every flushed word durable but the one at `w`
 * (on a 'file' region: every dirty sector on the disk but the one at `w`).
 */
function tornImageOf<S>(crashed: CrashedRun<S>, w: number): RunResult<S> {
  const point: CrashPoint = { crashAt: crashed.crashAt, on: crashed.on, seed: 0, tornWord: w };
  const image =
    crashed.region.granularity === 'file'
      ? crashed.region.crashImage((o) => (o !== w ? 'live' : 'media'))
      : crashed.region.crashImage((o, hasPending) => (hasPending && o !== w ? 'pending' : 'media'));
  return { point, image, crash: crashed.crash, state: crashed.state, region: crashed.region };
}

/**
 * Offsets of the flushed, undrained words whose flushed contents differ from the media; on
 * a 'file' region, of the sectors whose live bytes differ from the media (any dirty page may
 * reach the disk, written through `flush` or not).
 */
function tearableWords(region: SimulatedRegion): number[] {
  const media = region.media();
  if (region.granularity === 'file') {
    const live = region.crashImage({ seed: 0, mode: 'live' });
    const sectors: number[] = [];
    region.crashImage((o) => {
      sectors.push(o);
      return 'media';
    });
    const size = region.sectorSize;
    return sectors.filter((o) => {
      for (let i = o; i < Math.min(o + size, media.length); i++) if (live[i] !== media[i]) return true;
      return false;
    });
  }
  const words: number[] = [];
  const all = region.crashImage((w, hasPending) => {
    if (hasPending) words.push(w);
    return hasPending ? 'pending' : 'media';
  });
  return words.filter((w) => {
    for (let i = w; i < w + 8; i++) if (all[i] !== media[i]) return true;
    return false;
  });
}

function executeRun<S, R>(scenario: CrashScenario<S, R>, point: CrashPoint): RunResult<S> {
  const crashed = crashRun(scenario, point.crashAt, point.on);
  return point.tornWord === undefined ? imageOf(crashed, point.seed, point.mode) : tornImageOf(crashed, point.tornWord);
}

function planOf<S>(run: RunResult<S>, chain: readonly RecoveryCrash[]): CrashPlan {
  return { ...run.point, recovery: chain.map((rc) => ({ ...rc })) };
}

/** Events an undisturbed recovery of `image` makes. */
function recoveryEvents<S, R>(scenario: CrashScenario<S, R>, run: RunResult<S>, image: Uint8Array, chain: readonly RecoveryCrash[]): number {
  const region = SimulatedRegion.fromImage(image, run.region.options);
  try {
    scenario.recover(region, chain.length);
  } catch (err) {
    throw new CrashCheckFailure(planOf(run, chain), `recovery at depth ${chain.length} threw`, err);
  } finally {
    disposeQuietly(region);
  }
  const { flushes, drains } = region.events;
  return flushes + drains;
}

/** Recovers `image` with the last crash of `chain` armed; returns the image that crash leaves. */
function crashRecovery<S, R>(scenario: CrashScenario<S, R>, run: RunResult<S>, image: Uint8Array, chain: readonly RecoveryCrash[]): Uint8Array {
  const rc = chain[chain.length - 1]!;
  const region = SimulatedRegion.fromImage(image, run.region.options);
  region.crashAfter(rc.crashAt, { on: 'any' });
  try {
    scenario.recover(region, chain.length - 1);
  } catch (err) {
    if (region.crashed === undefined) {
      disposeQuietly(region);
      throw new CrashCheckFailure(planOf(run, chain), `recovery at depth ${chain.length - 1} threw without a crash`, err);
    }
  }
  const next = region.crashImage(rc.seed);
  disposeQuietly(region);
  return next;
}

/** Recovers `image` undisturbed and checks the result; returns the events recovery made. */
function checkFinal<S, R>(scenario: CrashScenario<S, R>, run: RunResult<S>, image: Uint8Array, chain: readonly RecoveryCrash[]): number {
  const plan = planOf(run, chain);
  const region = SimulatedRegion.fromImage(image, run.region.options);
  let result: R;
  try {
    result = scenario.recover(region, chain.length);
  } catch (err) {
    disposeQuietly(region);
    throw new CrashCheckFailure(plan, `recovery at depth ${chain.length} threw`, err);
  }
  // Counted before check, which may write (and flush) on its own.
  const { flushes, drains } = region.events;
  const ctx: CrashContext<S> = {
    crashed: run.crash !== undefined,
    crash: run.crash,
    plan,
    seed: run.point.seed,
    state: run.state,
    depth: chain.length,
    region,
  };
  try {
    scenario.check(result, ctx);
  } catch (err) {
    throw new CrashCheckFailure(plan, 'check failed', err);
  } finally {
    disposeQuietly(region);
  }
  return flushes + drains;
}

/** Checks `image` undisturbed, then (while depth allows) with its recovery crashed. */
function explore<S, R>(
  scenario: CrashScenario<S, R>,
  run: RunResult<S>,
  image: Uint8Array,
  chain: RecoveryCrash[],
  depth: number,
  mode: 'sampled' | 'all',
  prng: Prng,
): number {
  // The undisturbed recovery checked here also tells how many crash points recovery has.
  const events = checkFinal(scenario, run, image, chain);
  let states = 1;
  if (chain.length === depth) return states;
  const crashAts: number[] = [];
  if (mode === 'all') for (let k = 1; k <= events + 1; k++) crashAts.push(k);
  else crashAts.push(1 + prng.below(events + 1));
  for (const crashAt of crashAts) {
    chain.push({ crashAt, seed: prng.nextU32() });
    const next = crashRecovery(scenario, run, image, chain);
    try {
      states += explore(scenario, run, next, chain, depth, mode, prng);
    } finally {
      recycleArray(next, true);
    }
    chain.pop();
  }
  return states;
}

function checkDepth(depth: number | undefined): number {
  const d = depth ?? 0;
  if (!Number.isSafeInteger(d) || d < 0 || d > MAX_RECOVERY_CRASH_DEPTH) {
    throw new FerriteError('EINVAL', `recoveryCrashDepth must be an integer in 0..${MAX_RECOVERY_CRASH_DEPTH}, got ${String(depth)}`);
  }
  return d;
}

function checkCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new FerriteError('EINVAL', `${what}: expected a non-negative integer, got ${String(n)}`);
}
