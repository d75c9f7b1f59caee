/**
 * One simulated-crash test: fast-check draws programs and crash-point seeds until the budget
 * of crash states is checked. On failure fast-check prints its seed and path; replay with
 * FERRITE_CRASH_SEED=<seed> FERRITE_CRASH_PATH=<path> node scripts/test.mjs <file>. The
 * runner's message names the program, crash point, image seed and recovery crashes.
 */
import fc from 'fast-check';
import { programArb, type ProgramShape } from './programs.js';
import { checkProgram, counters, type RunnerOptions } from './runner.js';
import { budget, report, suiteSeed } from './budget.js';

export interface CrashSuite {
  label: string;
  /** Crash states to check in a default run (scaled by FERRITE_SOAK). */
  states: number;
  fixedSeed: number;
  shape: ProgramShape;
  runner: RunnerOptions;
}

export function runCrashSuite(suite: CrashSuite): void {
  const target = budget(suite.states);
  const seed = suiteSeed(suite.fixedSeed);
  const start = counters.states;
  console.log(`# ${suite.label}: fast-check seed ${seed}, target ${target} crash states`);
  // Each program yields up to maxPointsPerProgram × imagesPerPoint states; runs past the
  // target return at once, so numRuns only bounds the loop.
  const numRuns = Math.ceil(target / 4) + 10;
  fc.assert(
    fc.property(programArb(suite.shape), fc.integer({ min: 0, max: 0x7fffffff }), (program, pointSeed) => {
      if (counters.states - start >= target) return;
      checkProgram(program, pointSeed, suite.runner, seed);
    }),
    {
      seed,
      numRuns,
      // FERRITE_CRASH_PATH=<path> (with FERRITE_CRASH_SEED) replays one failing run at once.
      ...(process.env['FERRITE_CRASH_PATH'] ? { path: process.env['FERRITE_CRASH_PATH'] } : {}),
      // Shrinking re-runs whole crash sweeps; ask for it with FERRITE_CRASH_SHRINK=1.
      endOnFailure: process.env['FERRITE_CRASH_SHRINK'] !== '1',
    },
  );
  const checked = counters.states - start;
  console.log(
    `# ${suite.label}: ${counters.programs} programs, ${counters.recoveryStates} states from crashed recoveries, ` +
      `${counters.fills} fills to ENOSPC, ${counters.fullSteps} steps hit ENOSPC, ${counters.grown} pools grew`,
  );
  report(suite.label, 'states', checked);
  if (checked < target && !process.env['FERRITE_CRASH_PATH']) throw new Error(`${suite.label}: only ${checked} of ${target} crash states were checked`);
}
