import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { Pool, Transaction } from '@ferrite/heap';
import type { Structures } from '../src/codec/record-reader.js';
import { NOT_LEARNED, RecordWriter, UNFIT } from '../src/codec/record-writer.js';
import { MAX_SHARED_STRUCTURES, PoolValueCodec } from '../src/codec/values.js';
import { FakePool, type FakeTransaction } from './store-fake-pool.js';

/** A Packr configured as the value codec's (records, 32 shared structures kept in memory). */
function packer(): Packr & { structures: Structures } {
  const p = new Packr({ useRecords: true, maxSharedStructures: MAX_SHARED_STRUCTURES, moreTypes: true, structures: [], saveStructures: () => true });
  return p as Packr & { structures: Structures };
}

const identifier = fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,7}$/);
/** Scalars the writer writes itself, and neighbours it must leave to msgpackr. */
const scalar = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.constantFrom(0, -0, 0x3f, 0x40, 0xff, 0x100, 0xffff, 0x10000, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, NaN, Infinity),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 33 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
);
const fieldValue = fc.oneof({ weight: 8, arbitrary: scalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
/** A few shapes, so that records repeat (a shape is learned on its first msgpackr encode). */
const shapes = fc.array(fc.uniqueArray(fc.oneof(identifier, fc.constantFrom('1', '20', 'a b', 'constructor', 'hasOwnProperty')), { maxLength: 6 }), { minLength: 1, maxLength: 3 });

/** Encodes as the codec does: the writer when it can, else msgpackr, learning from msgpackr. */
function encode(packr: Packr & { structures: Structures }, writer: RecordWriter, v: unknown): { bytes: Uint8Array; fast: boolean } {
  const n = writer.write(v, packr.structures);
  if (n >= 0) return { bytes: writer.bytes.slice(0, n), fast: true };
  const bytes = packr.pack(v);
  writer.learn(v, bytes, 0, bytes.length, packr.structures);
  return { bytes, fast: false };
}

test('the writer writes exactly msgpackr\'s bytes, or leaves the value to msgpackr', () => {
  let hits = 0;
  fc.assert(
    fc.property(shapes, fc.array(fc.tuple(fc.nat(), fc.array(fieldValue, { minLength: 6, maxLength: 6 })), { minLength: 1, maxLength: 12 }), (keySets, rows) => {
      const packr = packer();
      const writer = new RecordWriter(MAX_SHARED_STRUCTURES);
      for (const [which, fields] of rows) {
        const keys = keySets[which % keySets.length]!;
        const v: Record<string, unknown> = {};
        keys.forEach((k, i) => (v[k] = fields[i]));
        const got = encode(packr, writer, v);
        if (!got.fast) continue;
        hits++;
        // Packing again changes no msgpackr state: the structure exists.
        assert.deepEqual(got.bytes, Uint8Array.from(packr.pack(v)), JSON.stringify(v));
      }
    }),
    { numRuns: 1000 },
  );
  assert.ok(hits > 1000, `the writer was used (${hits} times)`);
});

test('only plain objects whose own keys are a learned structure, in order, are written', () => {
  const packr = packer();
  const writer = new RecordWriter(MAX_SHARED_STRUCTURES);
  encode(packr, writer, { a: 1, b: 2 });
  assert.ok(writer.write({ a: 3, b: 4 }, packr.structures) > 0);
  assert.equal(writer.write({ b: 4, a: 3 }, packr.structures), NOT_LEARNED, 'another key order is another structure');
  assert.equal(writer.write({ a: 3 }, packr.structures), NOT_LEARNED);
  assert.equal(writer.write({ a: 3, b: 4, c: 5 }, packr.structures), NOT_LEARNED);
  assert.equal(writer.write(Object.assign(Object.create(null) as object, { a: 1, b: 2 }), packr.structures), NOT_LEARNED);
  class Shaped { a = 1; b = 2; }
  assert.equal(writer.write(new Shaped(), packr.structures), NOT_LEARNED);
  assert.equal(writer.write([1, 2], packr.structures), NOT_LEARNED);
  // Inherited enumerable keys are skipped as msgpackr skips them: same bytes either way.
  const child = Object.create({ inherited: 1 }) as Record<string, unknown>;
  child.a = 1;
  child.b = 2;
  assert.equal(writer.write(child, packr.structures), NOT_LEARNED, 'not a plain object');
  Object.defineProperty(Object.prototype, 'polluted', { value: 1, enumerable: true, configurable: true });
  try {
    const n = writer.write({ a: 7, b: 8 }, packr.structures);
    assert.ok(n > 0);
    assert.deepEqual(writer.bytes.slice(0, n), Uint8Array.from(packr.pack({ a: 7, b: 8 })));
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted;
  }
});

test('a replaced or reset structure list is not written under its old ids', () => {
  const packr = packer();
  const writer = new RecordWriter(MAX_SHARED_STRUCTURES);
  encode(packr, writer, { a: 1 });
  assert.ok(writer.write({ a: 2 }, packr.structures) > 0);
  const other = Object.assign([['b']], { sharedLength: 1 });
  assert.equal(writer.write({ a: 2 }, other), NOT_LEARNED);
  writer.reset();
  assert.equal(writer.write({ a: 2 }, packr.structures), NOT_LEARNED);
});

test('a field that is not a scalar: UNFIT with every field read once, in order', () => {
  const packr = packer();
  const writer = new RecordWriter(MAX_SHARED_STRUCTURES);
  encode(packr, writer, { a: 1, b: 2, c: 3 });
  const reads: string[] = [];
  const v = {
    get a() { reads.push('a'); return 1; },
    get b() { reads.push('b'); return [2]; },
    get c() { reads.push('c'); return 3; },
  };
  assert.equal(writer.write(v, packr.structures), UNFIT);
  assert.deepEqual(reads, ['a', 'b', 'c']);
  assert.deepEqual([...writer.fields.keys], ['a', 'b', 'c']);
  assert.deepEqual(writer.fields.values.slice(0, writer.fields.length), [1, [2], 3]);
  // A getter that deletes a later key: the structure's keys, the deleted one read as undefined.
  const w = { a: 1, get b(): number { delete (w as Partial<typeof w>).c; return 2; }, c: 3 };
  assert.equal(writer.write(w, packr.structures), UNFIT);
  assert.deepEqual(writer.fields.values.slice(0, writer.fields.length), [1, 2, undefined]);
});

test('through the codec: getters run once, whichever path encodes the value', () => {
  const pool = new FakePool();
  const codec = new PoolValueCodec(pool as unknown as Pool, pool.root(64));
  const encodeIn = (v: unknown): Uint8Array => pool.transaction((tx: FakeTransaction) => codec.encode(v, tx as unknown as Transaction).slice());
  encodeIn({ name: 'x', size: 1 });
  encodeIn({ name: 'y', size: 2 }); // learned by now
  for (const [name, expected] of [['short', 'short'], ['a name longer than thirty-one bytes', 'a name longer than thirty-one bytes'], ['ünïcode', 'ünïcode']] as const) {
    let calls = 0;
    const v = { get name() { calls++; return name; }, size: 3 };
    const e = encodeIn(v);
    assert.equal(calls, 1, name);
    assert.deepEqual(codec.decode(e, 0, e.length), { name: expected, size: 3 });
  }
});

test('through the codec: a structure dropped by an abort is not written under its id', () => {
  const pool = new FakePool();
  const codec = new PoolValueCodec(pool as unknown as Pool, pool.root(64));
  const inTx = <T>(fn: (tx: Transaction) => T): T => pool.transaction((tx: FakeTransaction) => fn(tx as unknown as Transaction));
  assert.throws(() =>
    inTx((tx) => {
      codec.encode({ a: 1 }, tx); // mints [a] as id 0
      codec.encode({ a: 2 }, tx); // learned
      codec.encode({ a: 3 }, tx); // written by the writer
      throw new Error('abort');
    }),
  );
  const e = inTx((tx) => {
    codec.encode({ b: 1 }, tx); // id 0 is now [b]
    return codec.encode({ a: 4 }, tx).slice();
  });
  assert.notEqual(e[0], 0x40, '{a} is not written as id 0');
  assert.deepEqual(codec.decode(e, 0, e.length), { a: 4 });
});
