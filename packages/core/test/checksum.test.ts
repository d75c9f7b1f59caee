import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '@ferrite/core';

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
