/**
 * `store.check()` on a pool file whose bytes were overwritten: it reports, it never throws and
 * never runs on forever. A property overwrites random ranges of a closed pool file (its data
 * pages, chunk headers, root record and undo log; random bytes, small words, words naming
 * other blocks), opens it again and checks it: the open either succeeds or fails with a
 * FerriteError of a stable code, and an open store's check() returns a report. Directed cases
 * keep what the property found (review finding: check() threw on damaged pools).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { ERROR_CODES, FerriteError, isFerriteError } from '@ferrite/core';
import { Prng } from '@ferrite/core/testing';
import { Store, defaultPoolPath } from '../src/index.js';

const paths: string[] = [];
let serial = 0;
function tempPool(tag: string): string {
  const p = defaultPoolPath(`ferrite-check-damage-${process.pid}-${tag}-${serial++}`);
  rmSync(p, { force: true });
  rmSync(`${p}.wal`, { force: true });
  paths.push(p);
  return p;
}
after(() => {
  for (const p of paths) {
    rmSync(p, { force: true });
    rmSync(`${p}.wal`, { force: true });
  }
});

/** Asserts that `err` is a FerriteError with one of the stable codes. */
function assertTyped(err: unknown, what: string): void {
  assert.ok(err instanceof FerriteError, `${what} threw ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  assert.ok((ERROR_CODES as readonly string[]).includes(err.code), `${what}: code ${err.code} is not an ErrorCode`);
}

/** Opens `bytes` as a pool file and checks it; asserts the contract of both. Returns the report (undefined when it did not open). */
function openAndCheck(bytes: Uint8Array, tag: string, readOnly = false): ReturnType<Store['check']> | undefined {
  const path = tempPool(tag);
  writeFileSync(path, bytes);
  try {
    let store: Store;
    try {
      store = Store.open(path, { readOnly });
    } catch (err) {
      assertTyped(err, 'Store.open of a damaged pool');
      return undefined;
    }
    try {
      // The documented contract: a report, problems listed (not thrown).
      const report = store.check();
      assert.equal(report.ok, report.problems.length === 0);
      for (const p of report.problems) {
        assert.equal(typeof p.kind, 'string');
        assert.equal(typeof p.message, 'string');
        assert.ok(Number.isSafeInteger(p.offset));
      }
      return report;
    } finally {
      try {
        store.close();
      } catch (err) {
        assertTyped(err, 'close of a damaged pool');
      }
    }
  } finally {
    rmSync(path, { force: true });
    rmSync(`${path}.wal`, { force: true });
  }
}

interface Base {
  readonly bytes: Uint8Array;
  readonly heapOffset: number;
  readonly root: number;
  /** Every allocated block (offset, size), and their bytes in all. */
  readonly blocks: readonly (readonly [number, number])[];
  readonly allocatedBytes: number;
  /** Queue "q0": its header, head segment (as the pool holds them). */
  readonly queueHeader: number;
  readonly queueHead: number;
}

/** A closed pool with two of each kind of collection, a few hundred entries each. */
function makeBase(): Base {
  const path = tempPool('base');
  const store = Store.open(path, { create: true, size: 2 << 20 });
  store.transaction(() => {
    for (let c = 0; c < 2; c++) {
      const m = store.map<number, unknown>(`m${c}`);
      const sm = store.sortedMap<string, unknown>(`sm${c}`);
      const q = store.queue<unknown>(`q${c}`);
      for (let i = 0; i < 200; i++) {
        m.set(i, { i, s: 'x'.repeat(i % 50), a: [i, i * 2], big: i % 50 === 0 ? 'z'.repeat(20_000) : null });
        sm.set(`k${i}`, i % 3 === 0 ? 'y'.repeat(200) : i);
        q.push(i % 2 === 1 ? { n: i } : [i, 'q'], `v${i}`, i, ...(i % 100 === 0 ? ['w'.repeat(6000)] : []));
      }
    }
  });
  const pool = store.pool;
  const blocks = [...pool.allocations()].map((a) => [a.offset, a.size] as const);
  const queueHeader = headerOf(store, 'q0');
  const base = {
    heapOffset: pool.heapOffset,
    root: pool.rootOffset(),
    blocks,
    allocatedBytes: blocks.reduce((n, [, size]) => n + size, 0),
    queueHeader,
    queueHead: pool.readU64(queueHeader),
  };
  store.close();
  const bytes = new Uint8Array(readFileSync(path));
  rmSync(path, { force: true });
  return { ...base, bytes };
}

/** The header block of collection `name` (its first owned block). */
function headerOf(store: Store, name: string): number {
  const owned = (store.queue(name) as unknown as { ownedBlocks(): Iterable<number> }).ownedBlocks();
  for (const b of owned) return b;
  throw new Error(`no header for ${name}`);
}

const base = makeBase();
const SOAK = process.env.FERRITE_SOAK === '1';
const RUNS = SOAK ? 20_000 : 1000;

/** One overwrite: where (`target`), how long, and what is written. */
interface Damage {
  readonly target: 'block' | 'allocated-byte' | 'chunk-header' | 'metadata' | 'anywhere';
  readonly pick: number;
  readonly at: number;
  readonly length: number;
  readonly pattern: 'random' | 'small-words' | 'ones' | 'edge-u32' | 'pointer';
  readonly seed: number;
}

// Unbiased: fast-check's bias towards small numbers would pick the first blocks (the store
// root) and the first bytes of each range nearly every time.
const damage: fc.Arbitrary<Damage> = fc.noBias(fc.record({
  target: fc.constantFrom('block', 'block', 'allocated-byte', 'allocated-byte', 'chunk-header', 'metadata', 'anywhere'),
  pick: fc.nat(),
  // A fraction in [0, 1); not fc.double, which returns 0 and other special values often.
  at: fc.integer({ min: 0, max: 2 ** 30 - 1 }).map((n) => n / 2 ** 30),
  length: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 2048 })),
  pattern: fc.constantFrom('random', 'small-words', 'ones', 'edge-u32', 'pointer'),
  seed: fc.integer(),
}));

const EDGE_U32 = [0x7fff_ffff, 0x8000_0000, 0xffff_fff0, 0xffff_fff8, 0xffff_fffc, 0xffff_ffff];

function applyDamage(bytes: Uint8Array, d: Damage): void {
  const { heapOffset, blocks } = base;
  const chunks = Math.floor((bytes.length - heapOffset) / 16384);
  let off: number;
  if (d.target === 'block') {
    const [b, size] = blocks[d.pick % blocks.length]!;
    off = b + Math.floor(d.at * size);
  } else if (d.target === 'allocated-byte') {
    // Any allocated byte alike: big blocks (queue segments, tree nodes, hash tables) get hit
    // as often as their size says.
    let rest = Math.floor(d.at * base.allocatedBytes);
    let i = 0;
    while (rest >= blocks[i]![1]) rest -= blocks[i++]![1];
    off = blocks[i]![0] + rest;
  } else if (d.target === 'chunk-header') {
    off = heapOffset + 16384 * (d.pick % chunks) + Math.floor(d.at * 64);
  } else if (d.target === 'metadata') {
    // The root record, the reader words, the undo log: the header copies stay whole, so the
    // pool still opens often enough to reach check().
    off = 512 + Math.floor(d.at * (heapOffset - 512));
  } else {
    off = heapOffset + Math.floor(d.at * (bytes.length - heapOffset));
  }
  const prng = new Prng(d.seed);
  const rnd = (): number => prng.nextU32() / 2 ** 32;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (d.pattern === 'edge-u32') {
    // Aligned u32 words at the edges of 32-bit arithmetic (lengths and counts that overflow
    // `| 0`, `& ~7` and the like).
    for (let w = off - (off % 4); w < off + d.length && w + 4 <= bytes.length; w += 4) {
      view.setUint32(w, EDGE_U32[Math.floor(rnd() * EDGE_U32.length)]!, true);
    }
    return;
  }
  if (d.pattern === 'pointer') {
    // A word naming another block (or a place inside it): cycles and shared blocks.
    const w = off - (off % 8);
    const [b] = blocks[Math.floor(rnd() * blocks.length)]!;
    const v = rnd() < 0.8 ? b : b + 8 * Math.floor(rnd() * 8);
    if (w + 8 <= bytes.length) view.setBigUint64(w, BigInt(v), true);
    return;
  }
  for (let j = 0; j < d.length && off + j < bytes.length; j++) {
    // 'small-words': little-endian words of small values (plausible counts and lengths);
    // 'ones': an 0xff fill (every u64 word out of range, every u32 at its largest).
    const b = d.pattern === 'ones' ? 0xff : d.pattern === 'random' || (off + j) % 8 < 2 ? Math.floor(rnd() * 256) : 0;
    bytes[off + j] = b;
  }
}

test('check() of a pool file with overwritten bytes reports (never throws, never loops); open fails only typed', () => {
  let opened = 0;
  let damaged = 0;
  fc.assert(
    fc.property(fc.array(damage, { minLength: 1, maxLength: 5 }), fc.boolean(), (damages, readOnly) => {
      const bytes = base.bytes.slice();
      for (const d of damages) applyDamage(bytes, d);
      // A reader's check() runs in a read section (live-reader.ts): the same contract.
      const report = openAndCheck(bytes, 'prop', readOnly);
      if (report !== undefined) opened++;
      if (report !== undefined && !report.ok) damaged++;
    }),
    { numRuns: RUNS, seed: SOAK ? undefined : 0x2d2 },
  );
  // The property reached check() and found damage in most runs (else it proves little).
  console.log(`check-damage: ${opened} of ${RUNS} damaged pools opened, ${damaged} checks found damage`);
  // (Damage in the undo log's area nearly always fails the open, with ECORRUPT.)
  assert.ok(opened > RUNS / 3, `only ${opened} damaged pools opened`);
  assert.ok(damaged > RUNS / 4, `only ${damaged} checks found the damage`);
});

test('check() reports a damaged value-structures slot of the store root (kind store) instead of throwing ECORRUPT', () => {
  const bytes = base.bytes.slice();
  // The root's value-structures slot (+16): a word past 2^53.
  bytes.fill(0xff, base.root + 16, base.root + 24);
  const report = openAndCheck(bytes, 'structures-slot');
  assert.ok(report !== undefined, 'the pool opens (the slot is read when values are decoded)');
  assert.equal(report.ok, false);
  const p = report.problems.find((x) => x.kind === 'store');
  assert.ok(p !== undefined, JSON.stringify(report.problems.slice(0, 5)));
  assert.equal(p.offset, base.root + 16);
  assert.match(p.message, /value structures slot is damaged/);
});

test('a queue entry whose length word is 2^31 or more is ECORRUPT for peek and iteration, a problem for check()', () => {
  const bytes = base.bytes.slice();
  const view = new DataView(bytes.buffer);
  // The head segment's first entry (head position 0): its u32 length. `(n + 7) & ~7` made it
  // negative, so the entry "ended" where it began and walks over it never moved on.
  assert.equal(view.getBigUint64(base.queueHeader + 8, true), 0n, 'the head position is 0');
  view.setUint32(base.queueHead + 24, 0xffff_fff8, true);
  const path = tempPool('queue-length');
  writeFileSync(path, bytes);
  const store = Store.open(path);
  try {
    const q = store.queue('q0');
    assert.throws(() => q.peek(), (e: unknown) => isFerriteError(e, 'ECORRUPT'));
    assert.throws(() => [...q], (e: unknown) => isFerriteError(e, 'ECORRUPT'));
    const report = store.check();
    assert.ok(report.problems.some((p) => p.kind === 'collection' && p.message.includes('"q0"') && /overruns its segment/.test(p.message)), JSON.stringify(report.problems.slice(0, 5)));
  } finally {
    store.close();
  }
});

test('a queue whose segment count is damaged and whose chain has a cycle is reported, its walks bounded by the pool', () => {
  const bytes = base.bytes.slice();
  const view = new DataView(bytes.buffer);
  // Segment count 2^40, and the tail segment's next link back to the head: before, ownedBlocks()
  // and validate() walked the cycle up to the count.
  const tail = Number(view.getBigUint64(base.queueHeader + 16, true));
  view.setBigUint64(base.queueHeader + 32, 2n ** 40n, true);
  view.setBigUint64(tail, BigInt(base.queueHead), true);
  const report = openAndCheck(bytes, 'queue-cycle');
  assert.ok(report !== undefined);
  assert.ok(report.problems.some((p) => p.kind === 'collection' && p.message.includes('"q0"')), JSON.stringify(report.problems.slice(0, 5)));
});
