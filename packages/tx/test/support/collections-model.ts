/**
 * Model-based testing of the map collections with fast-check `commands`: every command is
 * applied to the real collection and to a JavaScript Map model, then the two are compared
 * (size, lookups, the full contents, and the collection's own structural validation).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Key } from '../../src/codec/keys.js';

/** What the model tests need of a map collection (PMap and PSortedMap both fit). */
export interface MapLike {
  get(k: Key): unknown;
  has(k: Key): boolean;
  set(k: Key, v: unknown): unknown;
  delete(k: Key): boolean;
  clear(): void;
  readonly size: number;
  entries(): IterableIterator<[Key, unknown]>;
  validate(): string[];
}

export interface Real {
  map: MapLike;
  /** Runs fn in one transaction of the map's pool. */
  transaction(fn: () => void): void;
  /** Rebuilds context and collection over the same pool bytes (a "restart"). */
  reopen(): void;
}

export type Model = Map<string, { key: Key; value: unknown }>;

export const keyId = (k: Key): string => JSON.stringify(k, (_, v: unknown) => (v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('hex')}` : v));

/** Keys: a small integer/string domain so that sets hit existing keys, plus composite keys. */
export const keyArb: fc.Arbitrary<Key> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 400 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 60 }).map((i) => `k${i}`) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 5 }), fc.string({ maxLength: 4 })).map(([a, b]) => [a, b] as Key) },
);

/** Values of varied sizes (small ones update in place, growing ones relocate) and shapes. */
export const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.record({ ino: fc.integer({ min: 0, max: 1e6 }), name: fc.string({ maxLength: 8 }) }).map((r) => ({ ...r })),
  fc.string({ minLength: 100, maxLength: 600 }),
  fc.constant(null),
);

type Cmd = fc.Command<Model, Real>;

class SetCmd implements Cmd {
  constructor(readonly k: Key, readonly v: unknown) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    r.map.set(this.k, this.v);
    m.set(keyId(this.k), { key: this.k, value: this.v });
    assert.deepEqual(r.map.get(this.k), this.v);
  }
  toString(): string { return `set(${keyId(this.k)})`; }
}

class DeleteCmd implements Cmd {
  constructor(readonly k: Key) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    assert.equal(r.map.delete(this.k), m.delete(keyId(this.k)));
    assert.equal(r.map.has(this.k), false);
  }
  toString(): string { return `delete(${keyId(this.k)})`; }
}

class GetCmd implements Cmd {
  constructor(readonly k: Key) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    assert.deepEqual(r.map.get(this.k), m.get(keyId(this.k))?.value);
    assert.equal(r.map.has(this.k), m.has(keyId(this.k)));
  }
  toString(): string { return `get(${keyId(this.k)})`; }
}

class ClearCmd implements Cmd {
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    r.map.clear();
    m.clear();
  }
  toString(): string { return 'clear()'; }
}

/** A transaction of several writes that throws at the end: nothing of it may remain. */
class AbortCmd implements Cmd {
  constructor(readonly ops: [Key, unknown | undefined][]) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    const marker = new Error('abort on purpose');
    assert.throws(() => r.transaction(() => {
      for (const [k, v] of this.ops) {
        if (v === undefined) r.map.delete(k);
        else r.map.set(k, v);
      }
      throw marker;
    }), (e) => e === marker);
    void m;
  }
  toString(): string { return `abort(${this.ops.length} ops)`; }
}

/** A committed transaction of several writes. */
class BatchCmd implements Cmd {
  constructor(readonly ops: [Key, unknown | undefined][]) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    r.transaction(() => {
      for (const [k, v] of this.ops) {
        if (v === undefined) r.map.delete(k);
        else r.map.set(k, v);
      }
    });
    for (const [k, v] of this.ops) {
      if (v === undefined) m.delete(keyId(k));
      else m.set(keyId(k), { key: k, value: v });
    }
  }
  toString(): string { return `batch(${this.ops.length} ops)`; }
}

class ReopenCmd implements Cmd {
  check(): boolean { return true; }
  run(_m: Model, r: Real): void { r.reopen(); }
  toString(): string { return 'reopen()'; }
}

/** Inserts many fresh keys in one go (drives table doubling / node splits and pool growth). */
class FillCmd implements Cmd {
  constructor(readonly base: number, readonly n: number, readonly big: boolean) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    for (let i = 0; i < this.n; i++) {
      const k = `fill-${this.base}-${i}`;
      const v = this.big ? `${'f'.repeat(300)}${i}` : i;
      r.map.set(k, v);
      m.set(keyId(k), { key: k, value: v });
    }
  }
  toString(): string { return `fill(${this.base}, ${this.n}, ${this.big})`; }
}

/** Deletes every filled key (drives leaf merges and removals, and hash chain unlinks). */
class DrainFillsCmd implements Cmd {
  constructor(readonly keepEvery: number) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): void {
    let n = 0;
    for (const [id, e] of [...m]) {
      if (typeof e.key !== 'string' || !e.key.startsWith('fill-')) continue;
      if (n++ % this.keepEvery === 0) continue;
      assert.equal(r.map.delete(e.key), true);
      m.delete(id);
    }
  }
  toString(): string { return `drainFills(keep 1 in ${this.keepEvery})`; }
}

const opsArb = fc.array(fc.tuple(keyArb, fc.option(valueArb, { nil: undefined })), { minLength: 1, maxLength: 6 });

export const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.tuple(keyArb, valueArb).map(([k, v]) => new SetCmd(k, v)),
  fc.tuple(keyArb, valueArb).map(([k, v]) => new SetCmd(k, v)),
  keyArb.map((k) => new DeleteCmd(k)),
  keyArb.map((k) => new GetCmd(k)),
  fc.constant(new ClearCmd()),
  opsArb.map((ops) => new AbortCmd(ops)),
  opsArb.map((ops) => new BatchCmd(ops)),
  fc.constant(new ReopenCmd()),
  fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 10, max: 120 }), fc.boolean()).map(([b, n, big]) => new FillCmd(b, n, big)),
  fc.integer({ min: 2, max: 1000 }).map((k) => new DrainFillsCmd(k)),
];

/** Compares the whole collection with the model; `ordered` also checks iteration order. */
export function assertSameContents(m: Model, r: Real, order?: (a: Key, b: Key) => number): void {
  assert.deepEqual(r.map.validate(), []);
  assert.equal(r.map.size, m.size);
  const got = [...r.map.entries()];
  assert.equal(got.length, m.size);
  if (order !== undefined) {
    const want = [...m.values()].sort((a, b) => order(a.key, b.key)).map((e) => [e.key, e.value]);
    assert.deepEqual(got, want);
  } else {
    for (const [k, v] of got) {
      const e = m.get(keyId(k));
      assert.ok(e !== undefined, `unexpected key ${keyId(k)}`);
      assert.deepEqual(v, e.value);
    }
  }
}

/** Runs the model test: `setup` builds a fresh collection; contents are compared after every command. */
export function runModel(setup: () => Real, numRuns: number, order?: (a: Key, b: Key) => number): void {
  fc.assert(
    fc.property(fc.commands(commandArbs, { maxCommands: 40 }), (cmds) => {
      const real = setup();
      const model: Model = new Map();
      fc.modelRun(() => ({ model, real }), [...cmds].map((c) => wrapCheck(c, order)));
    }),
    { numRuns },
  );
}

function wrapCheck(c: Cmd, order?: (a: Key, b: Key) => number): Cmd {
  return {
    check: (m) => c.check(m),
    run: (m, r) => {
      c.run(m, r);
      assertSameContents(m, r, order);
    },
    toString: () => c.toString(),
  };
}
