/**
 * The record reader's reuse of the last string decoded per field index (issue 21): a field
 * whose bytes equal that string's units is answered with it. The answer must stay exactly
 * msgpackr's, whatever came before: the same string again, another of the same length (a
 * common prefix, one unit changed, non-ASCII bytes), shorter, longer, the empty string, other
 * structures sharing field indices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { MISS, RecordReader, type Structures } from '../src/codec/record-reader.js';
import { MAX_SHARED_STRUCTURES } from '../src/codec/values.js';

function packer(): Packr & { structures: Structures } {
  const p = new Packr({ useRecords: true, maxSharedStructures: MAX_SHARED_STRUCTURES, copyBuffers: true, structures: [], saveStructures: () => true });
  return p as Packr & { structures: Structures };
}

/** Strings close to each other: same lengths, shared prefixes, one unit apart, non-ASCII. */
const nearString = fc.oneof(
  fc.constantFrom('', 'a', 'b', 'abcdefghijklmnopqrst', 'abcdefghijklmnopqrsu', 'bbcdefghijklmnopqrst', 'abcdefghijklmnopqrs', 'abcdefghijklmnopqrstu', 'é', 'ab', 'éa', 'x'.repeat(31), 'x'.repeat(30) + 'y'),
  fc.string({ unit: fc.constantFrom('a', 'b', 'é', '\u007f', '\u0080'), maxLength: 31 }),
);
const fieldName = fc.constantFrom('name', 'kind', 'n', 's');
const record = fc.dictionary(fieldName, fc.oneof(nearString, fc.integer({ min: -5, max: 300 })), { minKeys: 1, maxKeys: 4 });

test('reused strings: every fast answer is msgpackr\'s, across any sequence of records', () => {
  let reused = 0;
  let fastAnswers = 0;
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 30 }), (values) => {
      const packr = packer();
      const reader = new RecordReader(MAX_SHARED_STRUCTURES);
      // Packed first: every structure is known before the first read, so reads can repeat.
      const encoded = values.map((v) => Uint8Array.prototype.slice.call(packr.pack(v)));
      for (let round = 0; round < 2; round++) {
        for (const bytes of encoded) {
          const fast = reader.read(bytes, 0, bytes.length, packr.structures);
          if (fast === MISS) continue;
          fastAnswers++;
          assert.deepStrictEqual(fast, packr.unpack(bytes));
          assert.deepStrictEqual(Object.keys(fast as object), Object.keys(packr.unpack(bytes) as object));
        }
      }
      reused += reader.stringsReused;
    }),
    { numRuns: 400 },
  );
  assert.ok(fastAnswers > 1000, `fast answers: ${fastAnswers}`);
  assert.ok(reused > 500, `strings reused: ${reused}`);
});

test('reused strings: the same field read again reuses its string; other bytes of its length do not', () => {
  const packr = packer();
  const reader = new RecordReader(MAX_SHARED_STRUCTURES);
  const read = (v: unknown): unknown => {
    const bytes = Uint8Array.prototype.slice.call(packr.pack(v));
    return reader.read(bytes, 0, bytes.length, packr.structures);
  };
  packr.pack({ name: 'x', n: 1 }); // the structure exists before the reads below
  assert.deepStrictEqual(read({ name: 'abcdefghijklmnopqrst', n: 1 }), { name: 'abcdefghijklmnopqrst', n: 1 });
  assert.equal(reader.stringsReused, 0);
  assert.deepStrictEqual(read({ name: 'abcdefghijklmnopqrst', n: 2 }), { name: 'abcdefghijklmnopqrst', n: 2 });
  assert.equal(reader.stringsReused, 1);
  // Same length, last unit changed; then the first: decoded, not reused.
  assert.deepStrictEqual(read({ name: 'abcdefghijklmnopqrsu', n: 3 }), { name: 'abcdefghijklmnopqrsu', n: 3 });
  assert.deepStrictEqual(read({ name: 'bbcdefghijklmnopqrsu', n: 3 }), { name: 'bbcdefghijklmnopqrsu', n: 3 });
  assert.equal(reader.stringsReused, 1);
  // Non-ASCII bytes of the same length as the last string: left to msgpackr.
  assert.equal(read({ name: 'éécdefghijklmnopqr', n: 4 }), MISS);
  assert.equal(reader.stringsReused, 1);
  // The miss left the last string as it was.
  assert.deepStrictEqual(read({ name: 'bbcdefghijklmnopqrsu', n: 5 }), { name: 'bbcdefghijklmnopqrsu', n: 5 });
  assert.equal(reader.stringsReused, 2);
  // The empty string: equal to an empty last string too.
  assert.deepStrictEqual(read({ name: '', n: 7 }), { name: '', n: 7 });
  assert.equal(reader.stringsReused, 2);
  assert.deepStrictEqual(read({ name: '', n: 8 }), { name: '', n: 8 });
  assert.equal(reader.stringsReused, 3);
  // After a reset the reader still answers as msgpackr.
  reader.reset();
  assert.deepStrictEqual(read({ name: '', n: 9 }), { name: '', n: 9 });
});

test('reused strings: a field whose strings keep changing is left alone for a while, then tried again', () => {
  const packr = packer();
  const reader = new RecordReader(MAX_SHARED_STRUCTURES);
  const read = (v: unknown): unknown => {
    const bytes = Uint8Array.prototype.slice.call(packr.pack(v));
    return reader.read(bytes, 0, bytes.length, packr.structures);
  };
  packr.pack({ name: 'x', n: 1 });
  // Four misses in a row (each string differs from the one before).
  for (let i = 0; i < 4; i++) assert.deepStrictEqual(read({ name: `id-${i}`, n: i }), { name: `id-${i}`, n: i });
  assert.equal(reader.stringsReused, 0);
  // The next 64 reads of that field decode, even the same string again (and store nothing).
  for (let i = 0; i < 64; i++) assert.deepStrictEqual(read({ name: 'same', n: i }), { name: 'same', n: i });
  assert.equal(reader.stringsReused, 0);
  // Then the field is tried again: one miss stores the string, the next read reuses it.
  assert.deepStrictEqual(read({ name: 'same', n: 1 }), { name: 'same', n: 1 });
  assert.deepStrictEqual(read({ name: 'same', n: 2 }), { name: 'same', n: 2 });
  assert.equal(reader.stringsReused, 1);
  // Other field indices kept their own state: `n` is a number, never a string here.
  assert.deepStrictEqual(read({ name: 'same', n: 'str' }), { name: 'same', n: 'str' });
  assert.deepStrictEqual(read({ name: 'same', n: 'str' }), { name: 'same', n: 'str' });
  assert.equal(reader.stringsReused, 4);
});
