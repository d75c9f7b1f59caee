/**
 * Model-based crash test of LARGE transactions (issue 16's blind spot): bulk transactions of
 * up to 400 writes with values up to 20 KB on a pool that starts at 128 KiB and may grow to
 * 16 MiB, so one transaction links new undo-log segments and grows the pool in the middle of
 * its allocations. Crashed at sampled flush/drain points with torn words, recovery crashed too.
 */
import { test } from 'node:test';
import { DEFAULT_SHAPE } from './programs.js';
import { runCrashSuite } from './suite.js';

test('crash states of big transactions that grow the log and the pool match the model', () => {
  runCrashSuite({
    label: 'big transactions with growth',
    states: 3_000,
    fixedSeed: 0x5eed_0016,
    shape: { ...DEFAULT_SHAPE, maxSteps: 4, bigValue: 20_000, bigWeight: 2, bulkMax: 400, bulkValue: 3000 },
    runner: {
      poolSize: 128 << 10,
      maxSize: 16 << 20,
      imagesPerPoint: 3,
      maxPointsPerProgram: 40,
      recoveryCrashEvery: 5,
      fillEvery: 97,
      granularity: 'cache-line',
    },
  });
});
