/** The commit point's word: written with one 8-byte store, read back with its check bits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generationWord, MAX_GENERATION, readGeneration, writeGeneration } from '../src/undo-log.js';

test('writeGeneration stores G | check << 48, which readGeneration accepts', () => {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  const words = new BigUint64Array(bytes.buffer);
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: MAX_GENERATION })), (g) => {
      writeGeneration(bytes, 16, g);
      assert.equal(words[2], generationWord(g));
      assert.equal(view.getUint32(16, true), g >>> 0, 'little-endian on the pool');
      assert.equal(readGeneration(view, 16), g);
      assert.equal(words[1], 0n, 'neighbours untouched');
      assert.equal(words[3], 0n, 'neighbours untouched');
    }),
    { numRuns: 500, seed: 7 },
  );
  for (const g of [0, 1, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, MAX_GENERATION]) {
    writeGeneration(bytes, 8, g);
    assert.equal(readGeneration(view, 8), g);
  }
});
