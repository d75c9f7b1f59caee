/**
 * Model-based crash test with big values: the pool grows (up to a cap) and programs run into
 * ENOSPC, which must change nothing, like an aborted transaction.
 */
import { test } from 'node:test';
import { DEFAULT_SHAPE } from './programs.js';
import { runCrashSuite } from './suite.js';

test('crash states with pool growth and ENOSPC match the model', () => {
  runCrashSuite({
    label: 'growth and ENOSPC',
    states: 14_000,
    fixedSeed: 0x5eed_0002,
    shape: { ...DEFAULT_SHAPE, bigValue: 40000, bigWeight: 3 },
    runner: {
      poolSize: 128 << 10,
      maxSize: 192 << 10,
      imagesPerPoint: 4,
      maxPointsPerProgram: 60,
      recoveryCrashEvery: 7,
      fillEvery: 41,
      granularity: 'cache-line',
    },
  });
});
