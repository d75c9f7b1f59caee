/**
 * Model-based crash test on the cache-line model (clwb + sfence): random programs over maps,
 * sorted maps and queues, crashed at flushes and drains, recovered from images with torn
 * 8-byte words, recovery itself crashed to depth 2, every state compared with the model.
 */
import { test } from 'node:test';
import { DEFAULT_SHAPE } from './programs.js';
import { runCrashSuite } from './suite.js';

test('crash states on the cache-line model match the model', () => {
  runCrashSuite({
    label: 'cache-line model',
    states: 22_000,
    fixedSeed: 0x5eed_0001,
    shape: { ...DEFAULT_SHAPE, bigWeight: 0 },
    runner: {
      poolSize: 256 << 10,
      maxSize: 256 << 10,
      imagesPerPoint: 4,
      maxPointsPerProgram: 60,
      recoveryCrashEvery: 7,
      fillEvery: 41,
      granularity: 'cache-line',
    },
  });
});
