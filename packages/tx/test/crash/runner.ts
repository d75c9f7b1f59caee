/**
 * The crash runner: runs a program on a simulated region, crashes it at chosen flushes and
 * drains, builds crash images with torn 8-byte words, recovers them (crashing recovery too,
 * to depth 2), and checks every recovered store against the model.
 *
 * Cost model: a program of N events is run once to count its events, then once per crash
 * point (each run stops at its crash point), and every crash point yields several images.
 * Programs are short and pools small, so a state costs around a millisecond.
 */
import assert from 'node:assert/strict';
import { Prng, SimulatedDisk, SimulatedRegion, isSimulatedCrash } from '@ferrite/core/testing';
import type { Store } from '@ferrite/tx';
import { applyStep, emptyModel, sameSnapshot, snapshotOf, type Model, type Snapshot, type Step } from './model.js';
import { assertClean, FILE_WAL_EXTENT, fillAndEmpty, observe, openStore, runStep, touchCollections } from './driver.js';
import { describeProgram } from './programs.js';

export interface RunnerOptions {
  /** Size of the pool the programs start with. */
  poolSize: number;
  /** Cap on pool growth (so that filling to ENOSPC terminates). */
  maxSize: number;
  /** Crash images built per crash point (each a different choice of torn words). */
  imagesPerPoint: number;
  /** Most crash points per program (all of them when the program has fewer events). */
  maxPointsPerProgram: number;
  /** One recovered state in `recoveryCrashEvery` is also crashed during recovery, to depth 2. */
  recoveryCrashEvery: number;
  /** One recovered state in `fillEvery` is filled to ENOSPC and emptied again. */
  fillEvery: number;
  /**
   * 'cache-line' (clwb + sfence model), 'page' (msync model), or 'file': a simulated disk
   * holding the pool file and its redo log (an ordinary file: page write-back at any time, torn
   * sectors, fdatasync the only barrier); the store runs on a SimulatedFileTarget over it.
   */
  granularity: 'cache-line' | 'page' | 'file';
}

/** A region whose live bytes and media are `image`, with the options' granularity. */
function regionOf(image: Uint8Array, opts: RunnerOptions): SimulatedRegion {
  return SimulatedRegion.fromImage(image, { granularity: opts.granularity });
}

/** A fresh region for a template pool: a simulated disk of the pool and its log for 'file'. */
function freshRegion(opts: RunnerOptions): SimulatedRegion {
  if (opts.granularity !== 'file') return new SimulatedRegion(opts.poolSize);
  return new SimulatedDisk({ pool: opts.maxSize, wal: FILE_WAL_EXTENT }).region;
}

/** Counts what the runner checked, for the summary line the suite prints. */
export const counters = {
  /** Recovered crash states compared with the model (including crashed recoveries). */
  states: 0,
  /** Of those, states reached by crashing a recovery (depth 1 or 2). */
  recoveryStates: 0,
  /** Recovered stores filled to ENOSPC and emptied. */
  fills: 0,
  /** Programs run. */
  programs: 0,
  /** Program steps that hit ENOSPC (and had to change nothing). */
  fullSteps: 0,
  /** Programs whose pool grew beyond its initial size. */
  grown: 0,
};

/** Flushes plus drains a region has counted. */
export function eventTotal(region: SimulatedRegion): number {
  const e = region.events;
  return e.flushes + e.drains;
}

/**
 * The seed of the `j`-th image of a crash point. The simulator picks the image mode from
 * `seed % 4` (0 media, 1 live, 2 lines, 3 words): images 0 and 2 tear words, image 1 takes
 * whole lines, image 3 is all-media or all-live (alternating by crash point), and further
 * images alternate words and lines.
 */
export function imageSeedFor(seed: number, crashAt: number, j: number): number {
  const mode = j === 3 ? crashAt % 2 : j % 2 === 0 ? 3 : 2;
  const mixed = ((seed ^ Math.imul(crashAt, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 2) >>> 0;
  return mixed * 4 + mode;
}

const templates = new Map<string, Uint8Array>();

/**
 * The media image of a freshly created pool holding every collection the programs use,
 * built once per size: every run starts from a copy, so runs pay nothing for creation.
 */
export function templateImage(poolSize: number, maxSize: number, granularity: RunnerOptions['granularity'] = 'cache-line'): Uint8Array {
  const key = `${poolSize}/${maxSize}/${granularity === 'file' ? 'file' : 'region'}`;
  const cached = templates.get(key);
  if (cached) return cached;
  const region = freshRegion({ poolSize, maxSize, granularity } as RunnerOptions);
  const store = openStore(region, { create: true, size: poolSize, maxSize });
  touchCollections(store);
  store.close();
  const image = region.media();
  templates.set(key, image);
  return image;
}

/** Where a failure happened, printed so that it replays. */
export interface Replay {
  /** The fast-check seed of the suite (its failure report adds the path of the run). */
  suiteSeed: number | undefined;
  /** The seed `checkProgram` was given (it picks crash points and image seeds). */
  pointSeed: number;
  program: string;
  crashPoint: number;
  imageSeed: number;
  recoveryCrashes: number[];
}

function fail(replay: Replay, err: unknown): never {
  const where =
    `crash replay: checkProgram(program, ${replay.pointSeed}, options) failed at ` +
    `crashPoint=${replay.crashPoint} imageSeed=${replay.imageSeed} recoveryCrashes=${JSON.stringify(replay.recoveryCrashes)}\n` +
    (replay.suiteSeed !== undefined
      ? `  or FERRITE_CRASH_SEED=${replay.suiteSeed} FERRITE_CRASH_PATH=<path from fast-check's report> node scripts/test.mjs <this file>\n`
      : '') +
    `  program=${replay.program}\n` +
    `  (failed after ${counters.states} crash states checked by this process)`;
  throw new Error(`${where}\n  ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}

interface Execution {
  /** The region the run used (crashed when the run was cut short). */
  region: SimulatedRegion;
  /** Index of the step that was running when the crash struck; -1 = while opening; steps.length = none (completed). */
  interrupted: number;
}

/**
 * Makes `region` remember its live bytes as they were when the crash struck. Code under test
 * keeps running after a `SimulatedCrash` is thrown (an abort path restores snapshots in DRAM
 * before its next flush throws too), and those later stores would otherwise leak into the
 * crash images as if they had happened before the crash. Returns a function that puts the
 * remembered bytes back (call it once the run has unwound).
 */
function freezeAtCrash(region: SimulatedRegion): () => void {
  let atCrash: Uint8Array | undefined;
  const guard = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A): R => {
    try {
      return fn(...args);
    } catch (err) {
      if (atCrash === undefined && isSimulatedCrash(err)) atCrash = region.bytes.slice();
      throw err;
    }
  };
  region.flush = guard(region.flush.bind(region));
  region.flushRanges = guard(region.flushRanges.bind(region));
  region.drain = guard(region.drain.bind(region));
  region.persist = guard(region.persist.bind(region));
  return () => {
    // A region closed or grown since the crash keeps what it has (its bytes moved on).
    if (atCrash !== undefined && region.bytes.length === atCrash.length) region.bytes.set(atCrash);
  };
}

/**
 * Runs `fn` with Math.random replaced by a generator seeded with `seed`, so that every run of
 * one program makes the same flush and drain events: a program runs once to count them and
 * again for each crash point. Maps take their hash seed from Math.random, and their layout
 * decides how many ranges a commit changes, hence whether it is sealed (2 fences) or classic
 * (3); without this, a crash point counted on one run may not exist on the next.
 */
export function withReplayableRandom<T>(seed: number, fn: () => T): T {
  const saved = Math.random;
  const rng = new Prng(seed);
  Math.random = (): number => rng.nextU32() / 0x100000000;
  try {
    return fn();
  } finally {
    Math.random = saved;
  }
}

/** The Math.random seed of every run of a program (any fixed value works: runs must agree). */
const PROGRAM_RANDOM_SEED = 0x5eed_f00d;

/** Runs `program` from the template on a fresh region, crashing at event `crashAt` (0 = never). */
function execute(program: readonly Step[], opts: RunnerOptions, crashAt: number): Execution {
  return withReplayableRandom(PROGRAM_RANDOM_SEED, () => executeOnce(program, opts, crashAt));
}

function executeOnce(program: readonly Step[], opts: RunnerOptions, crashAt: number): Execution {
  const region = regionOf(templateImage(opts.poolSize, opts.maxSize, opts.granularity), opts);
  if (crashAt > 0) region.crashAfter(crashAt, { on: 'any' });
  let current: SimulatedRegion = region;
  let unfreeze = freezeAtCrash(current);
  let consumed = 0;
  let step = -1;
  try {
    let store: Store = openStore(current, { maxSize: opts.maxSize });
    for (step = 0; step < program.length; step++) {
      store = runStep(store, program[step]!, () => {
        // A clean close leaves everything on the media: reopen a region made of that image,
        // carrying the crash countdown over so that reopening can be crashed too.
        const image = current.media();
        consumed += eventTotal(current);
        const remaining = crashAt > 0 ? crashAt - consumed : 0;
        current.dispose();
        current = regionOf(image, opts);
        unfreeze = freezeAtCrash(current);
        if (remaining > 0) current.crashAfter(remaining, { on: 'any' });
        return current;
      }).store;
    }
    store.close();
    return { region: current, interrupted: program.length };
  } catch (err) {
    if (!current.crashed) throw err;
    unfreeze();
    return { region: current, interrupted: step };
  }
}

/**
 * Runs the whole program once without crashing: counts its events (flushes + drains, from
 * open to close) and records which steps hit ENOSPC (those must change nothing, like aborts).
 */
function dryRun(program: readonly Step[], opts: RunnerOptions): { events: number; full: boolean[]; final: Snapshot } {
  return withReplayableRandom(PROGRAM_RANDOM_SEED, () => dryRunOnce(program, opts));
}

function dryRunOnce(program: readonly Step[], opts: RunnerOptions): { events: number; full: boolean[]; final: Snapshot } {
  let current = regionOf(templateImage(opts.poolSize, opts.maxSize, opts.granularity), opts);
  let total = 0;
  const full: boolean[] = [];
  let store: Store = openStore(current, { maxSize: opts.maxSize });
  for (const step of program) {
    const r = runStep(store, step, () => {
      total += eventTotal(current);
      const old = current;
      current = regionOf(current.media(), opts);
      old.dispose();
      return current;
    });
    store = r.store;
    full.push(r.full);
    if (r.full) assertClean(store, 'after ENOSPC in an uncrashed run');
  }
  // Events end with the last step (the crashed runs do not read back; reading writes nothing).
  total += eventTotal(current);
  const final = observe(store);
  assertClean(store, 'after an uncrashed run');
  store.close();
  const poolLength = opts.granularity === 'file' ? SimulatedDisk.fromRegion(current).file('pool').length : current.length;
  if (poolLength > opts.poolSize) counters.grown++;
  current.dispose();
  counters.fullSteps += full.filter(Boolean).length;
  return { events: total, full, final };
}

/**
 * Opens a store on `region` (a crash image) and returns what it holds, checking that it is
 * clean; then disposes of the region (the simulator recycles its memory).
 */
function recoverAndObserve(region: SimulatedRegion, opts: RunnerOptions, fill: boolean, where: string): Snapshot {
  try {
    const store = openStore(region, { maxSize: opts.maxSize });
    const snap = observe(store);
    assertClean(store, where);
    if (fill) {
      fillAndEmpty(store, where);
      counters.fills++;
    }
    store.close();
    return snap;
  } finally {
    region.dispose();
  }
}

/**
 * Crashes the recovery of `image` at event `ks[0]`, then the recovery of that crash's image
 * at event `ks[1]`, and so on; after each crash an undisturbed recovery must give `expected`,
 * what an undisturbed recovery of `image` gives. Returns the number of states checked.
 */
function crashRecovery(image: Uint8Array, opts: RunnerOptions, ks: number[], imageSeed: number, expected: Snapshot): number {
  let img = image;
  let states = 0;
  for (const [depth, k] of ks.entries()) {
    const region = regionOf(img, opts);
    const unfreeze = freezeAtCrash(region);
    region.crashAfter(k, { on: 'any' });
    try {
      const store = openStore(region, { maxSize: opts.maxSize });
      // Recovery finished before event k: the crash lands after the open (a clean state).
      store.close();
    } catch (err) {
      if (!region.crashed) throw err;
      unfreeze();
    }
    img = region.crashImage(imageSeedFor(imageSeed, k, depth));
    region.dispose();
    const snap = recoverAndObserve(regionOf(img, opts), opts, false, `recovery crashed at ${ks.slice(0, depth + 1).join('→')}`);
    assert.deepStrictEqual(snap, expected, `recovery crashed at ${ks.slice(0, depth + 1).join('→')} recovered differently from an undisturbed one`);
    states++;
  }
  return states;
}

/** Events one open of `image` performs (recovery plus whatever opening writes). */
function openEvents(image: Uint8Array, opts: RunnerOptions): number {
  const region = regionOf(image, opts);
  const store = openStore(region, { maxSize: opts.maxSize });
  const n = eventTotal(region);
  store.close();
  region.dispose();
  return n;
}

/**
 * Checks `program` at up to `maxPointsPerProgram` crash points (chosen from `seed`), each
 * with `imagesPerPoint` images. Returns the number of states checked.
 */
export function checkProgram(
  program: readonly Step[],
  seed: number,
  opts: RunnerOptions,
  suiteSeed?: number,
): number {
  counters.programs++;
  const base: Replay = { suiteSeed, pointSeed: seed, program: describeProgram(program), crashPoint: 0, imageSeed: 0, recoveryCrashes: [] };
  let events = 0;
  let snaps: Snapshot[] = [];
  try {
    const dry = dryRun(program, opts);
    events = dry.events;
    const models: Model[] = [emptyModel()];
    program.forEach((step, i) => {
      const before = models[models.length - 1]!;
      models.push(dry.full[i] ? before : applyStep(before, step));
    });
    snaps = models.map(snapshotOf);
    assert.deepStrictEqual(dry.final, snaps[snaps.length - 1], 'an uncrashed run disagrees with the model');
  } catch (err) {
    fail(base, err);
  }

  const rng = new Prng(seed);
  const points: number[] = [];
  if (events <= opts.maxPointsPerProgram) {
    for (let c = 1; c <= events; c++) points.push(c);
  } else {
    const chosen = new Set<number>();
    while (chosen.size < opts.maxPointsPerProgram) chosen.add(1 + rng.below(events));
    points.push(...[...chosen].sort((a, b) => a - b));
  }

  let states = 0;
  for (const crashAt of points) {
    const run = execute(program, opts, crashAt);
    assert.ok(run.region.crashed, `crash point ${crashAt} of ${events} did not crash`);
    const i = run.interrupted;
    const before = i < 0 ? snaps[0]! : snaps[i]!;
    const after = i < 0 ? snaps[0]! : snaps[Math.min(i + 1, snaps.length - 1)]!;
    for (let j = 0; j < opts.imagesPerPoint; j++) {
      const imageSeed = imageSeedFor(seed, crashAt, j);
      const replayHere: Replay = { ...base, crashPoint: crashAt, imageSeed };
      try {
        const sampleRecovery = opts.recoveryCrashEvery > 0 && (counters.states + 1) % opts.recoveryCrashEvery === 0;
        // The image is kept only when its recovery is to be crashed as well.
        const image = sampleRecovery ? run.region.crashImage(imageSeed) : undefined;
        const region = image !== undefined ? regionOf(image, opts) : run.region.crashRegion(imageSeed);
        counters.states++;
        states++;
        const fill = opts.fillEvery > 0 && counters.states % opts.fillEvery === 0;
        const got = recoverAndObserve(region, opts, fill, `crash at event ${crashAt} (step ${i})`);
        if (!sameSnapshot(got, before) && !sameSnapshot(got, after)) {
          assert.deepStrictEqual(
            got,
            after,
            `step ${i} (${i >= 0 && i < program.length ? program[i]!.kind : 'open'}) was interrupted: ` +
              'the recovered store is neither entirely before nor entirely after it',
          );
        }
        if (image !== undefined) {
          const n = openEvents(image, opts);
          if (n > 0) {
            // Depth 2: crash the recovery, then the recovery of that crash's image.
            const ks = [1 + rng.below(n), 1 + rng.below(n)];
            replayHere.recoveryCrashes = ks;
            const extra = crashRecovery(image, opts, ks, imageSeed, got);
            counters.states += extra;
            counters.recoveryStates += extra;
            states += extra;
          }
        }
      } catch (err) {
        fail(replayHere, err);
      }
    }
    run.region.dispose();
  }
  return states;
}
