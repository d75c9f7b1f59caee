import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ACCELERATE_FROM, accelerateCrc32c, crc32c, crc32cAccelerated, FerriteError } from '@ferrite/core';

test('crc32c matches the published check value', () => {
  // The CRC-32C check value: crc of the ASCII string "123456789" is 0xE3069283.
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test('crc32c can be continued over split input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cut) => {
      const k = bytes.length === 0 ? 0 : cut % (bytes.length + 1);
      const whole = crc32c(bytes);
      const split = crc32c(bytes, k, bytes.length - k, crc32c(bytes, 0, k));
      assert.equal(split, whole);
    }),
  );
});

test('crc32c detects every single-bit flip', () => {
  const bytes = new Uint8Array(64).map((_, i) => i * 7);
  const base = crc32c(bytes);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    assert.notEqual(crc32c(bytes), base);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
  }
});

test('accelerateCrc32c refuses an implementation that disagrees, and keeps the table version', () => {
  const bytes = new Uint8Array(4 * ACCELERATE_FROM).map((_, i) => i * 13);
  const before = crc32c(bytes);
  // Off by one bit from some length on: caught by the probe, never installed.
  assert.equal(accelerateCrc32c((b, o, l, s) => (l > 100 ? (crc32c(b.subarray(0, 0)) ^ 1) >>> 0 : 0)), false);
  // One that throws is refused too.
  assert.equal(accelerateCrc32c(() => { throw new Error('no'); }), false);
  assert.equal(crc32c(bytes), before);
  // Not a function: EINVAL, and nothing installed.
  for (const bad of [undefined, null, 42, 'crc', {}]) {
    assert.throws(() => accelerateCrc32c(bad as unknown as Parameters<typeof accelerateCrc32c>[0]), (e: unknown) => e instanceof FerriteError && e.code === 'EINVAL');
  }
  assert.equal(crc32cAccelerated(), false);
});
