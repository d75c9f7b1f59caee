import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { openHarness, type Harness } from './store-harness.js';

type V = { n: number; s: string } | string | number;

interface Model { items: V[] }
interface Real { h: Harness }

const value: fc.Arbitrary<V> = fc.oneof(
  fc.record({ n: fc.integer(), s: fc.string({ maxLength: 8 }) }, { noNullPrototype: true }),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  // Occasionally large values: a segment of their own.
  fc.integer({ min: 3000, max: 9000 }).map((n) => 'x'.repeat(n)),
);

function q(r: Real) {
  return r.h.store.queue<V>('q');
}

function check(m: Model, r: Real): void {
  assert.equal(q(r).length, m.items.length);
  assert.deepEqual([...q(r)], m.items);
}

class Push implements fc.Command<Model, Real> {
  constructor(readonly values: V[]) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    assert.equal(q(r).push(...this.values), m.items.length + this.values.length);
    m.items.push(...this.values);
    check(m, r);
  }
  toString(): string { return `push(${this.values.length})`; }
}
class Shift implements fc.Command<Model, Real> {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    assert.deepEqual(q(r).peek(), m.items[0]);
    assert.deepEqual(q(r).shift(), m.items.shift());
    check(m, r);
  }
  toString(): string { return 'shift'; }
}
class Clear implements fc.Command<Model, Real> {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    q(r).clear();
    m.items = [];
    check(m, r);
  }
  toString(): string { return 'clear'; }
}
/** A transaction doing several operations, then throwing: nothing must change. */
class Aborted implements fc.Command<Model, Real> {
  constructor(readonly pushes: V[], readonly shifts: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const boom = new Error('abort');
    assert.throws(() => r.h.store.transaction(() => {
      q(r).push(...this.pushes);
      for (let i = 0; i < this.shifts; i++) q(r).shift();
      throw boom;
    }), (e: unknown) => e === boom);
    check(m, r);
  }
  toString(): string { return `aborted(push ${this.pushes.length}, shift ${this.shifts})`; }
}
/** A committed transaction mixing pushes and shifts. */
class Mixed implements fc.Command<Model, Real> {
  constructor(readonly pushes: V[], readonly shifts: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const got = r.h.store.transaction(() => {
      q(r).push(...this.pushes);
      const out: (V | undefined)[] = [];
      for (let i = 0; i < this.shifts; i++) out.push(q(r).shift());
      return out;
    });
    m.items.push(...this.pushes);
    const expected = m.items.splice(0, this.shifts);
    while (expected.length < this.shifts) expected.push(undefined as unknown as V);
    assert.deepEqual(got, expected);
    check(m, r);
  }
  toString(): string { return `tx(push ${this.pushes.length}, shift ${this.shifts})`; }
}
class Reopen implements fc.Command<Model, Real> {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    r.h.reopen();
    check(m, r);
  }
  toString(): string { return 'reopen'; }
}

const commands = [
  fc.array(value, { minLength: 1, maxLength: 5 }).map((v) => new Push(v)),
  fc.constant(new Shift()),
  fc.constant(new Shift()),
  fc.constant(new Clear()),
  fc.tuple(fc.array(value, { maxLength: 4 }), fc.nat(4)).map(([p, s]) => new Aborted(p, s)),
  fc.tuple(fc.array(value, { maxLength: 4 }), fc.nat(4)).map(([p, s]) => new Mixed(p, s)),
  fc.constant(new Reopen()),
  // Bulk: ~30 KB per push, so a few of them outgrow the 128 KiB starting pool.
  fc.integer({ min: 0, max: 99 }).map((i) => new Push(Array.from({ length: 6 }, (_, k) => `${i}.${k}:`.padEnd(5000, 'z')))),
];

test('PQueue behaves like an array (push, shift, peek, clear, aborts, reopen, growth)', () => {
  // A small pool that may grow: runs with large values make it grow mid-sequence.
  const size = 128 << 10;
  let grew = 0;
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 60 }), (cmds) => {
      const h = openHarness({ size, maxSize: 8 << 20 });
      try {
        fc.modelRun(() => ({ model: { items: [] }, real: { h } }), cmds);
        const report = h.store.check();
        assert.ok(report.ok, JSON.stringify(report.problems.slice(0, 5)));
        if (h.store.stats().pool.size > size) grew++;
      } finally {
        h.store.close();
      }
    }),
    { numRuns: process.env.FERRITE_SOAK ? 1000 : 60 },
  );
  // Growth is sampled here (bulk pushes make it likely); the next test makes it certain.
  if (process.env.FERRITE_VERBOSE) console.log(`# ${grew} runs grew the pool`);
});

test('pushes that outgrow the pool grow it; reopen sees every value', () => {
  const size = 128 << 10;
  const h = openHarness({ size, maxSize: 4 << 20 });
  const queue = h.store.queue<string>('q');
  const values = Array.from({ length: 60 }, (_, i) => `${i}:`.padEnd(5000, 'g'));
  for (const v of values.slice(0, 30)) queue.push(v);
  h.store.transaction(() => queue.push(...values.slice(30)));
  assert.ok(h.store.stats().pool.size > size, 'the pool grew');
  h.reopen({ maxSize: 4 << 20 });
  assert.deepEqual([...h.store.queue<string>('q')], values);
  assert.ok(h.store.check().ok);
  h.store.close();
});

test('many small pushes span segments and shift back in order', () => {
  const h = openHarness({ size: 1 << 20 });
  const queue = h.store.queue<number>('q');
  for (let i = 0; i < 2000; i++) queue.push(i);
  assert.equal(queue.length, 2000);
  for (let i = 0; i < 1500; i++) assert.equal(queue.shift(), i);
  h.reopen();
  const again = h.store.queue<number>('q');
  assert.deepEqual([...again], Array.from({ length: 500 }, (_, i) => 1500 + i));
  assert.ok(h.store.check().ok);
  h.store.close();
});

test('iteration carries on across a push and a shift (a value pushed meanwhile is reached)', () => {
  const h = openHarness({});
  const queue = h.store.queue<number>('q');
  queue.push(1, 2, 3);
  const got: number[] = [];
  for (const v of queue) {
    got.push(v);
    if (v === 1) queue.push(4);
    if (v === 2) assert.equal(queue.shift(), 1);
  }
  assert.deepEqual(got, [1, 2, 3, 4]);
  h.store.close();
});

test('a value over maxValueSize is ETOOBIG and leaves the queue unchanged', () => {
  const h = openHarness({ maxValueSize: 1024 });
  const queue = h.store.queue<string>('q');
  queue.push('a');
  assert.throws(() => queue.push('b', 'x'.repeat(2000)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.deepEqual([...queue], ['a']);
  assert.equal(queue.shift(), 'a');
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.peek(), undefined);
  h.store.close();
});

test('validate() finds a damaged queue, and store.check() reports it', () => {
  const h = openHarness({});
  const queue = h.store.queue<number>('q');
  queue.push(1, 2, 3);
  assert.deepEqual(queue.validate(), []);
  assert.ok(h.store.check().ok);
  // Damage the length word (header offset from the registry via check's report of owned blocks).
  const pool = (h.store as unknown as { pool: { writeU64(o: number, v: number): void; readU64(o: number): number } }).pool;
  const header = [...queue.ownedBlocks()][0]!;
  pool.writeU64(header + 24, 7);
  assert.match(queue.validate().join('; '), /3 entries, length says 7/);
  const report = h.store.check();
  assert.equal(report.ok, false);
  assert.ok(report.problems.some((p) => p.kind === 'collection' && p.message.includes('length says 7')));
  h.store.close();
});

test('a value near maxValueSize gets a segment of its own and round-trips', () => {
  const h = openHarness({ size: 4 << 20 });
  const queue = h.store.queue<Uint8Array | number>('q');
  const big = new Uint8Array((1 << 20) - 16).map((_, i) => i & 0xff);
  queue.push(1, big, 2);
  assert.equal(queue.length, 3);
  h.reopen();
  const q = h.store.queue<Uint8Array | number>('q');
  assert.equal(q.shift(), 1);
  assert.deepEqual(q.shift(), big);
  assert.equal(q.shift(), 2);
  assert.throws(() => q.push(new Uint8Array(1 << 20)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  assert.ok(h.store.check().ok);
  h.store.close();
});
