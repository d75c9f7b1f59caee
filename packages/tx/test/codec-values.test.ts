import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import type { Pool, Transaction } from '@ferrite/heap';
import { PoolValueCodec } from '../src/codec/values.js';
import { FakePool, type FakeTransaction } from './store-fake-pool.js';
import { assertSame } from './support/same-value.js';

// The fake implements the parts of the heap contract the codec uses.
function setup(maxValueSize?: number): { pool: FakePool; codec: PoolValueCodec; slot: number } {
  const pool = new FakePool();
  const slot = pool.root(64);
  const codec = new PoolValueCodec(pool as unknown as Pool, slot, maxValueSize);
  return { pool, codec, slot };
}
function encodeIn(pool: FakePool, codec: PoolValueCodec, v: unknown): Uint8Array {
  return pool.transaction((tx: FakeTransaction) => codec.encode(v, tx as unknown as Transaction).slice());
}

test('values round-trip through msgpackr with records, exactly (-0 and `__proto__` keys included)', () => {
  const { pool, codec } = setup();
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const e = encodeIn(pool, codec, v);
      assertSame(codec.decode(e, 0, e.length), v);
    }),
    { numRuns: 1000 },
  );
});

test('structures persist in the pool: a new codec over the same slot decodes old values', () => {
  const { pool, codec, slot } = setup();
  const values = [{ ino: 1, size: 2048, name: 'passwd' }, { a: 1, b: [1, 2] }, { ino: 2, size: 1, name: 'x' }];
  const encoded = values.map((v) => encodeIn(pool, codec, v));
  assert.ok(pool.readU64(slot) !== 0, 'structures block written');
  assert.ok(codec.structureCount() >= 2);
  const reopened = new PoolValueCodec(pool as unknown as Pool, slot);
  encoded.forEach((e, i) => assert.deepEqual(reopened.decode(e, 0, e.length), values[i]));
  // Records make repeated shapes compact: the second object of a shape is smaller than its JSON.
  assert.ok(encoded[2]!.length < JSON.stringify(values[2]).length / 2);
  // Exactly one structures block is live (old ones are freed inside the transaction).
  const owned = [...codec.ownedBlocks()];
  assert.equal(owned.length, 1);
  assert.ok(pool.blocks.has(owned[0]!));
});

test('an aborted transaction forgets the structure it minted, memory and pool alike', () => {
  const { pool, codec, slot } = setup();
  encodeIn(pool, codec, { keep: 1 });
  const before = pool.readU64(slot);
  assert.throws(() =>
    pool.transaction((tx: FakeTransaction) => {
      codec.encode({ fresh: 1, shape: 2 }, tx as unknown as Transaction);
      throw new Error('boom');
    }),
  );
  assert.equal(pool.readU64(slot), before);
  assert.equal(codec.structureCount(), 1);
  // The shape is minted again (and persisted) by a later transaction, and decodes after reopen.
  const e = encodeIn(pool, codec, { fresh: 1, shape: 2 });
  assert.equal(codec.structureCount(), 2);
  const reopened = new PoolValueCodec(pool as unknown as Pool, slot);
  assert.deepEqual(reopened.decode(e, 0, e.length), { fresh: 1, shape: 2 });
  assert.deepEqual(codec.decode(e, 0, e.length), { fresh: 1, shape: 2 });
});

test('ETOOBIG over maxValueSize writes nothing, not even a structure', () => {
  const { pool, codec, slot } = setup(128);
  const before = pool.readU64(slot);
  const blocks = pool.blocks.size;
  assert.throws(
    () => encodeIn(pool, codec, { big: 'x'.repeat(200) }),
    (e: unknown) => isFerriteError(e, 'ETOOBIG'),
  );
  assert.equal(pool.readU64(slot), before);
  assert.equal(pool.blocks.size, blocks);
  // Caught inside a transaction that then commits: still nothing persisted for that shape.
  pool.transaction((tx: FakeTransaction) => {
    assert.throws(() => codec.encode({ other: 'y'.repeat(200) }, tx as unknown as Transaction), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  });
  assert.equal(pool.readU64(slot), before);
  const e = encodeIn(pool, codec, { big: 'ok' });
  assert.deepEqual(codec.decode(e, 0, e.length), { big: 'ok' });
  assert.throws(() => new PoolValueCodec(pool as unknown as Pool, 0, 1 << 30), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

test('__proto__ keys stay data and never change a prototype', () => {
  const { pool, codec } = setup();
  const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1, "nested": [{"__proto__": 2, "\\u0000x": 3}]}') as Record<string, unknown>;
  for (let i = 0; i < 3; i++) {
    const e = encodeIn(pool, codec, hostile);
    const d = codec.decode(e, 0, e.length) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(d), Object.prototype);
    assert.equal((d as { polluted?: unknown }).polluted, undefined);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    // The key survives as an own data property with its own name, at every depth.
    assert.ok(Object.prototype.hasOwnProperty.call(d, '__proto__'));
    assert.deepEqual(Object.getOwnPropertyDescriptor(d, '__proto__')?.value, { polluted: true });
    assert.equal(d.a, 1);
    const inner = (d.nested as Record<string, unknown>[])[0]!;
    assert.equal(Object.getOwnPropertyDescriptor(inner, '__proto__')?.value, 2);
    assert.equal(inner['\u0000x'], 3, 'keys that look like escapes round-trip too');
    assert.equal(Object.getPrototypeOf(inner), Object.prototype);
  }
});

test('a string value "__proto__" and plain values are not escaped', () => {
  const { pool, codec } = setup();
  for (const v of ['__proto__', { k: '__proto__' }, ['__proto__'], { __proto_: 1 }]) {
    const e = encodeIn(pool, codec, v);
    assert.deepEqual(codec.decode(e, 0, e.length), v);
  }
});

test('decoded binary values are copies, not views into the pool', () => {
  const { pool, codec } = setup();
  const e = encodeIn(pool, codec, { data: new Uint8Array([1, 2, 3]) });
  const buf = new Uint8Array(e.length);
  buf.set(e);
  const d = codec.decode(buf, 0, buf.length) as { data: Uint8Array };
  d.data[0] = 99;
  const again = codec.decode(buf, 0, buf.length) as { data: Uint8Array };
  assert.equal(again.data[0], 1);
});

test('more shapes than the shared-structure limit still round-trip', () => {
  const { pool, codec, slot } = setup();
  const values = Array.from({ length: 60 }, (_, i) => ({ [`k${i}`]: i, common: 'v' }));
  const encoded = values.map((v) => encodeIn(pool, codec, v));
  const reopened = new PoolValueCodec(pool as unknown as Pool, slot);
  encoded.forEach((e, i) => assert.deepEqual(reopened.decode(e, 0, e.length), values[i]));
});

// Found in review: msgpackr checks the end it is given only once a value is complete, and was
// handed the whole pool: a count read from bytes that are not a value (a reader's overtaken
// attempt) made it decode on past the value's end, through the rest of the pool (an 8 MiB pool
// took 4 s and 700 MB; a 64 MiB one killed the process). It gets only the value's bytes now.
test("a value's decode never reads past its end: an array count larger than its bytes is ECORRUPT", () => {
  // A pool that must not be read: a decode that reached past the value's end into a record
  // reference would load the structures from it.
  const codec = new PoolValueCodec({} as Pool, 0);
  const bytes = new Uint8Array(4096);
  // [start, end): an array32 header announcing 3 elements, and no element; right after end,
  // bytes that belong to something else (a record reference first).
  bytes.set([0xdd, 0, 0, 0, 3], 100);
  bytes.set([0x40, 0x02, 0x03], 105);
  assert.throws(() => codec.decode(bytes, 100, 105), (err: unknown) => {
    assert.ok(isFerriteError(err, 'ECORRUPT'), String(err));
    assert.match(err.message, /Unexpected end/, 'stopped at the end of the value, nothing past it read');
    return true;
  });
  bytes.set([0x01], 105);
  // The same bytes with the elements inside the value decode as usual.
  assert.deepEqual(codec.decode(bytes, 100, 108), [1, 2, 3]);
});

// Found in review: a deep value read from deep in the caller's own stack ran msgpackr out of
// stack, and the RangeError was reported as damage (ECORRUPT) of a sound value.
test('a deep value read from deep in the call stack is ERANGE (not damage), and reads fine from a shallow one', () => {
  const { pool, codec } = setup();
  let v: unknown = 1;
  for (let i = 0; i < 1000; i++) v = [v];
  const copy = encodeIn(pool, codec, v);
  const under = (frames: number, f: () => unknown): unknown => (frames === 0 ? f() : under(frames - 1, f));
  let seen: unknown;
  for (let frames = 1000; frames < 100_000; frames += 1000) {
    try {
      under(frames, () => codec.decode(copy, 0, copy.length));
    } catch (err) {
      if (err instanceof RangeError) break; // our own recursion ran out first: nothing to learn
      seen = err;
      break;
    }
  }
  assert.ok(seen !== undefined, 'a decode ran out of stack at some depth');
  assert.ok(isFerriteError(seen, 'ERANGE'), `ERANGE, got ${String(seen)}`);
  assert.deepEqual(codec.decode(copy, 0, copy.length), v);
});
