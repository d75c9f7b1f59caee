/**
 * The model-based crash programs of every collection on the FILE model: the pool file and its
 * redo log on a simulated disk (page write-back at any moment, torn 512-byte sectors, fdatasync
 * the only barrier), the store committing through the log. Crashed at every write and every
 * sync (sampled), recovery crashed too; programs cross log checkpoints (96 KiB) and pool growth.
 */
import { test } from 'node:test';
import { DEFAULT_SHAPE } from './programs.js';
import { runCrashSuite } from './suite.js';

test('crash states on the file model (redo log, torn sectors) match the model', () => {
  runCrashSuite({
    label: 'file model',
    states: 8_000,
    fixedSeed: 0x5eed_0020,
    shape: { ...DEFAULT_SHAPE, bigWeight: 1 },
    runner: {
      poolSize: 128 << 10,
      maxSize: 512 << 10,
      imagesPerPoint: 4,
      maxPointsPerProgram: 50,
      recoveryCrashEvery: 7,
      fillEvery: 41,
      granularity: 'file',
    },
  });
});

test('crash states of big transactions with growth on the file model match the model', () => {
  runCrashSuite({
    label: 'file model, big transactions',
    states: 1_000,
    fixedSeed: 0x5eed_0021,
    shape: { ...DEFAULT_SHAPE, maxSteps: 4, bigValue: 20_000, bigWeight: 2, bulkMax: 300, bulkValue: 2000 },
    runner: {
      poolSize: 128 << 10,
      maxSize: 4 << 20,
      imagesPerPoint: 3,
      maxPointsPerProgram: 40,
      recoveryCrashEvery: 5,
      fillEvery: 97,
      granularity: 'file',
    },
  });
});
