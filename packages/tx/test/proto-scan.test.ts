/** The `__proto__` pre-check of value encoding: a JS scan for short bytes, native beyond. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mayHoldProtoKey } from '../src/codec/proto-keys.js';

const PROTO = Buffer.from('__proto__');

test('mayHoldProtoKey finds "__proto__" anywhere, in short and long byte runs, and nothing else', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 1200 }),
      fc.boolean(),
      fc.nat(),
      (noise, insert, where) => {
        let bytes: Uint8Array = noise;
        if (insert) {
          const at = where % (noise.length + 1);
          bytes = new Uint8Array(noise.length + PROTO.length);
          bytes.set(noise.subarray(0, at), 0);
          bytes.set(PROTO, at);
          bytes.set(noise.subarray(at), at + PROTO.length);
        }
        // A view at an odd offset of a larger buffer, as msgpackr hands out.
        const host = new Uint8Array(bytes.length + 3);
        host.set(bytes, 3);
        const view = host.subarray(3);
        assert.equal(mayHoldProtoKey(view), Buffer.from(bytes).indexOf(PROTO) !== -1);
      },
    ),
    { numRuns: 400, seed: 11 },
  );
  assert.equal(mayHoldProtoKey(Buffer.from('x__proto_')), false);
  assert.equal(mayHoldProtoKey(Buffer.from('___proto__')), true);
  assert.equal(mayHoldProtoKey(Buffer.from('_'.repeat(600) + '__proto__')), true);
  assert.equal(mayHoldProtoKey(new Uint8Array(0)), false);
});
