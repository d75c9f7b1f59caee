/**
 * Model-based crash test on the msync model: a flush writes whole 4 KiB pages at once, and
 * any dirty page may reach the file early. A protocol correct under the line model must be
 * correct here too.
 */
import { test } from 'node:test';
import { DEFAULT_SHAPE } from './programs.js';
import { runCrashSuite } from './suite.js';

test('crash states on the msync (page) model match the model', () => {
  runCrashSuite({
    label: 'msync page model',
    states: 14_000,
    fixedSeed: 0x5eed_0003,
    shape: { ...DEFAULT_SHAPE, bigWeight: 1 },
    runner: {
      poolSize: 128 << 10,
      maxSize: 256 << 10,
      imagesPerPoint: 4,
      maxPointsPerProgram: 60,
      recoveryCrashEvery: 7,
      fillEvery: 41,
      granularity: 'page',
    },
  });
});
