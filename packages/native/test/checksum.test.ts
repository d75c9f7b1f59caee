/**
 * The checksum with the CPU's crc32 instruction: @ferrite/native installs it into
 * @ferrite/core's `crc32c` at load (for inputs of ACCELERATE_FROM bytes and more). It must give
 * exactly the table version's number for every input, and its native entry point must refuse
 * any argument that would read outside the array, never fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ACCELERATE_FROM, crc32c, crc32cAccelerated, FerriteError } from '@ferrite/core';
import { binding } from '../src/binding.js';
import '../src/index.js';

/** The table version only: pieces below ACCELERATE_FROM, chained by their seeds. */
function tableCrc(bytes: Uint8Array, offset: number, length: number, seed: number): number {
  let crc = seed;
  for (let at = offset; at < offset + length; at += ACCELERATE_FROM - 1) {
    crc = crc32c(bytes, at, Math.min(ACCELERATE_FROM - 1, offset + length - at), crc);
  }
  return crc;
}

test('the crc32 instruction is used where the CPU has it (x86-64 with SSE 4.2: every machine this runs on)', () => {
  assert.equal(crc32cAccelerated(), binding.crc32cHardware());
  if (process.arch === 'x64') assert.equal(binding.crc32cHardware(), true);
});

test('the accelerated crc32c equals the table version for every length, alignment and seed', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 5000 }),
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffffffff }),
      (bytes, a, b, seed) => {
        const offset = bytes.length === 0 ? 0 : a % bytes.length;
        const length = (bytes.length - offset) === 0 ? 0 : b % (bytes.length - offset + 1);
        assert.equal(crc32c(bytes, offset, length, seed), tableCrc(bytes, offset, length, seed));
        if (binding.crc32cHardware()) assert.equal(binding.crc32c(bytes, offset, length, seed), tableCrc(bytes, offset, length, seed));
      },
    ),
    { numRuns: 300 },
  );
  // A large input (a redo-log record's size) and a view into a bigger buffer.
  const big = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
  const view = big.subarray(12345, big.length - 777);
  assert.equal(crc32c(view), tableCrc(view, 0, view.length, 0));
  assert.equal(crc32c(new TextEncoder().encode('123456789'.repeat(64)), 0, 9), 0xe3069283);
});

test('the native crc32c refuses every range outside its array, and every wrong argument, with EINVAL', () => {
  if (!binding.crc32cHardware()) return assert.throws(() => binding.crc32c(new Uint8Array(8), 0, 8, 0), (e: unknown) => e instanceof FerriteError && e.code === 'ENODEV');
  const bytes = new Uint8Array(1000);
  const einval = (fn: () => unknown): void => assert.throws(fn, (e: unknown) => e instanceof FerriteError && e.code === 'EINVAL');
  einval(() => binding.crc32c(bytes, 0, 1001, 0));
  einval(() => binding.crc32c(bytes, 1001, 0, 0));
  einval(() => binding.crc32c(bytes, 500, 501, 0));
  einval(() => binding.crc32c(bytes, -1, 10, 0));
  einval(() => binding.crc32c(bytes, 0, 2 ** 53, 0));
  einval(() => binding.crc32c(bytes, 0, 10, 2 ** 32));
  einval(() => binding.crc32c(bytes, 0.5, 10, 0));
  einval(() => binding.crc32c(new Uint16Array(8) as unknown as Uint8Array, 0, 8, 0));
  einval(() => binding.crc32c('abc' as unknown as Uint8Array, 0, 1, 0));
  einval(() => (binding.crc32c as (...a: unknown[]) => number)(bytes, 0, 10));
  // A detached buffer reads as empty: any non-empty range is refused.
  const detached = new Uint8Array(4096);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  einval(() => binding.crc32c(detached, 0, 4096, 0));
  assert.equal(binding.crc32c(bytes, 1000, 0, 7), 7);
});
