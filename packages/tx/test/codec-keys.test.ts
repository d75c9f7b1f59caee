import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { OrderedKeyCodec, compareBytes, compareKeys, type Key } from '../src/codec/keys.js';

const codec = new OrderedKeyCodec(4096);

function enc(k: Key): Uint8Array {
  return codec.encodeCopy(k);
}
function cmpEnc(a: Key, b: Key): number {
  const x = enc(a);
  const y = enc(b);
  return Math.sign(compareBytes(x, 0, x.length, y, 0, y.length));
}

// Well-formed strings only (lone surrogates are rejected by design), including NUL and astral chars.
const str = fc.oneof(
  fc.string({ unit: 'grapheme-composite', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('\0', 'a', 'b', '\u00ff', '\uffff', '\u{10000}', '\u{10ffff}'), maxLength: 6 }),
);
const num = fc.oneof(
  fc.double({ noNaN: true }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0, -0, 1, -1, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, -Number.MIN_VALUE),
);
const bytes = fc.oneof(fc.uint8Array({ maxLength: 10 }), fc.uint8Array({ maxLength: 6, max: 1 }).map((b) => b.map((x) => (x ? 0xff : 0))));
const { key } = fc.letrec<{ key: Key }>((tie) => ({
  key: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    num,
    str,
    fc.oneof(bytes, fc.constantFrom(new Uint8Array([0]), new Uint8Array([0, 0xff]), new Uint8Array([0, 0]))),
    fc.array(tie('key'), { maxLength: 4 }),
  ),
}));

function normalise(k: Key): Key {
  if (typeof k === 'number') return k === 0 ? 0 : k;
  if (Array.isArray(k)) return k.map(normalise);
  return k;
}

test('encoded byte order equals compareKeys order', () => {
  fc.assert(
    fc.property(key, key, (a, b) => {
      assert.equal(cmpEnc(a, b), Math.sign(compareKeys(a, b)));
    }),
    { numRuns: 3000 },
  );
});

test('decode(encode(k)) round-trips (with -0 read back as 0)', () => {
  fc.assert(
    fc.property(key, (k) => {
      const e = enc(k);
      assert.deepEqual(codec.decode(e, 0, e.length), normalise(k));
    }),
    { numRuns: 3000 },
  );
});

test('decode works on a range inside a larger buffer', () => {
  const e = enc(['a', 1, new Uint8Array([0, 1])]);
  const big = new Uint8Array(e.length + 10);
  big.set(e, 5);
  assert.deepEqual(codec.decode(big, 5, 5 + e.length), ['a', 1, new Uint8Array([0, 1])]);
});

test('numbers order numerically, integers and floats mixed, -0 == 0', () => {
  const ns = [-Infinity, -1e300, -2.5, -2, -1, -Number.MIN_VALUE, 0, Number.MIN_VALUE, 0.5, 1, 1.5, 2, 1e300, Infinity];
  for (let i = 0; i + 1 < ns.length; i++) assert.equal(cmpEnc(ns[i]!, ns[i + 1]!), -1, `${ns[i]} < ${ns[i + 1]}`);
  assert.deepEqual(enc(-0), enc(0));
});

test('type order: numbers < strings < bytes < arrays', () => {
  assert.equal(cmpEnc(1e300, ''), -1);
  assert.equal(cmpEnc('\u{10ffff}', new Uint8Array()), -1);
  assert.equal(cmpEnc(new Uint8Array([255, 255]), []), -1);
});

test('prefix arrays sort first, so [2] .. [3] brackets every [2, *]', () => {
  const inside: Key[] = [[2], [2, 0], [2, -1e9], [2, 'zzz'], [2, new Uint8Array([255])], [2, [9, 9]], [2, 'a', 'b']];
  for (const k of inside) {
    assert.ok(cmpEnc([2], k) <= 0, `[2] <= ${JSON.stringify(k)}`);
    assert.equal(cmpEnc(k, [3]), -1);
  }
  assert.equal(cmpEnc([1, 'zzz'], [2]), -1);
  assert.equal(cmpEnc(['a'], ['a', 1]), -1);
  assert.equal(cmpEnc(['a', 1], ['a\0']), -1);
  assert.equal(cmpEnc(['a'], ['a\0']), -1);
});

test('strings order by code point (astral characters after U+FFFF)', () => {
  assert.equal(cmpEnc('\uffff', '\u{10000}'), -1);
  assert.equal(Math.sign(compareKeys('\uffff', '\u{10000}')), -1);
});

test('unsupported keys are EINVAL', () => {
  for (const bad of [NaN, null, undefined, true, {}, 10n, '\ud800', 'a\udc00b', [1, NaN], new Uint16Array(2)]) {
    assert.throws(() => codec.encode(bad), (e: unknown) => isFerriteError(e, 'EINVAL'), String(bad));
  }
  let deep: unknown = 1;
  for (let i = 0; i < 20; i++) deep = [deep];
  assert.throws(() => codec.encode(deep), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

test('keys over maxKeySize are ETOOBIG, at the limit they fit', () => {
  const small = new OrderedKeyCodec(64);
  assert.equal(small.encode('x'.repeat(63)).length, 64);
  assert.throws(() => small.encode('x'.repeat(64)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.throws(() => small.encode('é'.repeat(40)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.throws(() => small.encode(new Uint8Array(64)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.throws(() => small.encode([new Uint8Array(40)]), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.throws(() => small.encode(Array.from({ length: 8 }, () => 1)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  // The size check holds for any string, exactly: encoding either fits or throws ETOOBIG.
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.boolean(), (s, nested) => {
      const k: Key = nested ? [s] : s;
      const full = codec.encodeCopy(k);
      if (full.length <= 64) assert.deepEqual(small.encode(k), full);
      else assert.throws(() => small.encode(k), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
    }),
  );
  assert.throws(() => new OrderedKeyCodec(8192), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

test('corrupt encodings are ECORRUPT, never a crash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20 }), (b) => {
      try {
        codec.decode(b, 0, b.length);
      } catch (e) {
        assert.ok(isFerriteError(e, 'ECORRUPT'), String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

// Found in review: the codec read `bytes.length` from the user's object, so an own `length`
// shadowing the built-in getter changed the key (a 10-byte key stored as 2 bytes) or threw a
// raw RangeError (a 2,000-byte key whose `length` said 10).
test('a Uint8Array key with an own length (or byteLength, buffer) property is the key of its real bytes', () => {
  const lying = (n: number, props: Record<string, unknown>): Uint8Array => {
    const k = new Uint8Array(n).map((_, i) => i + 1);
    for (const [name, value] of Object.entries(props)) Object.defineProperty(k, name, { value });
    return k;
  };
  for (const nested of [false, true]) {
    for (const props of [{ length: 2 }, { length: 0 }, { byteLength: 0, buffer: new ArrayBuffer(0) }, { length: 1e9 }]) {
      const k = lying(10, props);
      const real = new Uint8Array(10).map((_, i) => i + 1);
      const a = nested ? [1, k] : k;
      const b = nested ? [1, real] : real;
      assert.deepEqual(enc(a), enc(b), JSON.stringify({ nested, props }));
      assert.equal(compareKeys(a, b), 0);
      assert.ok(compareKeys(a, nested ? [1, real.subarray(0, 2)] : real.subarray(0, 2)) > 0);
    }
  }
  const small = new OrderedKeyCodec(64);
  assert.throws(() => small.encode(lying(2000, { length: 10 })), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  // A Buffer is a Uint8Array; a typed array of another kind dressed as one is not a key.
  assert.deepEqual(enc(Buffer.from([1, 2, 3])), enc(new Uint8Array([1, 2, 3])));
  const dressed = Object.setPrototypeOf(new Int8Array([1, -1]), Uint8Array.prototype) as Uint8Array;
  assert.throws(() => codec.encode(dressed), (e: unknown) => isFerriteError(e, 'EINVAL'));
});
