/**
 * Crash tests of the sealed commit (2 drains) beside the classic one (3 drains), on both
 * persistency models ('cache-line': clwb + sfence; 'page': msync), crashed at every flush and
 * drain with torn 8-byte words, recovery crashed too (depth 2). Every recovered pool must hold
 * exactly the state before or after each transaction, never losing one whose call returned:
 * with `done` transactions returned, the state is history[done] or history[done + 1].
 *
 * The sequences are the ones the protocol must get right: a sealed transaction, then the next
 * one crashed inside its first drain while the first one's generation word is still undurable
 * (its record and seal decide); a sealed transaction followed by an abort, by a transaction
 * too big to seal, by one that reuses a block the sealed one freed (its fresh-block stores
 * would break the seal before the next drain) or that appends over bytes the sealed one wrote
 * (addRangeNoSnapshot).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, isFerriteError } from '@ferrite/core';
import { forEveryCrashPoint, SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { H_CRC, H_VERSION, HEADER_A, HEADER_B, LOG_ENTRIES, LOG_GENERATION, RECORD_HEADER, RECORD_MARK } from '../src/layout.js';
import { assertMatches, initRoot, matches, runProgram, runTx } from './helpers/program.js';
import type { Model, TxProgram } from './helpers/program.js';

const LAYOUT = 'sealed-test';
const SIZE = 65536;
type Granularity = 'cache-line' | 'page';

let totalStates = 0;

function openPool(region: SimulatedRegion, sealed: boolean, maxSize: number): Pool {
  const pool = Pool.create(region, { layout: LAYOUT, size: SIZE, maxSize });
  pool.sealedCommits = sealed;
  return pool;
}

/**
 * Crashes `program` (after `prefix`, uncrashed) at every flush and drain point; returns the
 * drains each transaction of the reference run took.
 */
function crashEveryPoint(
  program: TxProgram[],
  opts: { sealed: boolean; granularity: Granularity; prefix?: TxProgram[]; maxSize?: number; seeds?: number },
): number[] {
  const prefix = opts.prefix ?? [];
  const maxSize = opts.maxSize ?? 4 * SIZE;
  const ref = openPool(new SimulatedRegion(SIZE, { granularity: opts.granularity }), opts.sealed, maxSize);
  let start = initRoot(ref);
  for (const p of prefix) start = runTx(ref, start, p);
  const drains: number[] = [];
  const history = runProgram(ref, start, program, () => drains.push(ref.stats().lastTx.drains));
  forEveryCrashPoint({
    setup() {
      const region = new SimulatedRegion(SIZE, { granularity: opts.granularity });
      const pool = openPool(region, opts.sealed, maxSize);
      let model = initRoot(pool);
      for (const p of prefix) model = runTx(pool, model, p);
      return { region, state: { pool, model, done: 0 } };
    },
    run(_region, state: { pool: Pool; model: Model; done: number }) {
      runProgram(state.pool, state.model, program, (k) => {
        state.done = k;
      });
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT, maxSize });
    },
    check(pool, ctx) {
      const report = pool.check();
      assert.ok(report.ok, `check(): ${JSON.stringify(report.problems.slice(0, 3))}`);
      const k = ctx.state.done;
      const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((m) => m !== undefined) : [history[program.length]!];
      if (candidates.find((m) => matches(pool, m!)) === undefined) assertMatches(pool, candidates[0]!);
      // The recovered pool goes on working: one more transaction, then the model still holds.
      const last = candidates.find((m) => matches(pool, m!))!;
      runTx(pool, last, { ops: [{ k: 'root', v: 0xabc }], abort: false });
      totalStates++;
    },
    recoveryCrashDepth: 2,
    seeds: opts.seeds ?? 6,
    on: 'any',
  });
  return drains;
}

const ROOT = (v: number): TxProgram => ({ ops: [{ k: 'root', v }], abort: false });
const ALLOC_STORE: TxProgram = { ops: [{ k: 'alloc', size: 40 }, { k: 'write', i: 0, pos: 0, v: 0x51, raw: true }], abort: false };
const ALLOC40: TxProgram = { ops: [{ k: 'alloc', size: 40 }], abort: false };
const FREE: TxProgram = { ops: [{ k: 'free', i: 0 }], abort: false };
const BIG = 20000;
/** Snapshots a 20000-byte block: more than a parity area holds, so classic, with log overflow. */
const FILL_BIG: TxProgram = { ops: [{ k: 'fill', i: 0, byte: 0x77 }], abort: false };

const SEALED_DRAINS = 2;
const CLASSIC_DRAINS = 3;

for (const granularity of ['cache-line', 'page'] as const) {
  for (const sealed of [true, false]) {
    const mode = `${sealed ? 'sealed' : 'classic'}, ${granularity}`;
    const d = sealed ? SEALED_DRAINS : CLASSIC_DRAINS;

    test(`${mode}: a single 8-byte transaction`, () => {
      assert.deepEqual(crashEveryPoint([ROOT(7)], { sealed, granularity }), [d]);
    });

    test(`${mode}: alloc + store`, () => {
      assert.deepEqual(crashEveryPoint([ALLOC_STORE], { sealed, granularity }), [d]);
    });

    test(`${mode}: a free`, () => {
      assert.deepEqual(crashEveryPoint([FREE], { sealed, granularity, prefix: [ALLOC40] }), [d]);
    });

    test(`${mode}: two back-to-back transactions (the second crashed while the first's G is pending)`, () => {
      // Every distinct image (up to 64 a point): the telling ones pair the first transaction's
      // undurable G with the second's half-written entries in the other area.
      assert.deepEqual(crashEveryPoint([ROOT(1), ROOT(2)], { sealed, granularity, seeds: 64 }), [d, d]);
      assert.deepEqual(crashEveryPoint([ALLOC_STORE, ALLOC_STORE], { sealed, granularity, seeds: 64 }), [d, d]);
    });

    test(`${mode}: a transaction followed by an abort`, () => {
      const abort: TxProgram = { ops: [{ k: 'root', v: 9 }, { k: 'alloc', size: 64 }], abort: true };
      crashEveryPoint([ROOT(3), abort, ROOT(4)], { sealed, granularity });
    });

    test(`${mode}: a small transaction then a big one (log overflow: always classic)`, () => {
      const drains = crashEveryPoint([ROOT(5), FILL_BIG], {
        sealed,
        granularity,
        prefix: [{ ops: [{ k: 'alloc', size: BIG }], abort: false }],
        seeds: 4,
      });
      assert.deepEqual(drains.slice(0, 1), [d]);
      assert.ok(drains[1]! >= CLASSIC_DRAINS, `the big transaction is classic: ${drains[1]} drains`);
    });

    test(`${mode}: a block freed by one transaction is reused by the next (fresh stores before its first drain)`, () => {
      // tx 1 writes the block (snapshot), then frees it; tx 2 allocates the same size, gets the
      // same block back and stores into it before any drain of its own. With tx 1 sealed and
      // its G undurable, those stores would change bytes tx 1's seal covers.
      const writeFree: TxProgram = { ops: [{ k: 'write', i: 0, pos: 0, v: 0x1111 }, { k: 'free', i: 0 }], abort: false };
      const reuse: TxProgram = { ops: [{ k: 'alloc', size: 40 }, { k: 'write', i: 0, pos: 0, v: 0x2222, raw: true }], abort: false };
      // Every distinct image (up to 64 a point): the losing ones mix G's old word with the new store.
      crashEveryPoint([writeFree, reuse], { sealed, granularity, prefix: [ALLOC40], seeds: 64 });
    });
  }
}

/**
 * addRangeNoSnapshot over bytes the previous sealed transaction wrote: tx 1 writes slot 1 and
 * leaves the length at 1 (slot 1 is unused capacity after it); tx 2 appends into slot 1
 * without a snapshot, storing before its first drain. Slots at or past the length are free to
 * hold anything, so the check compares the length and the used slots only.
 */
function noSnapshotScenario(granularity: Granularity, sealed: boolean): number {
  interface St {
    pool: Pool;
    root: number;
    done: number;
  }
  const states: { len: number; slots: number[] }[] = [
    { len: 1, slots: [0x10] },
    { len: 1, slots: [0x11] },
    { len: 2, slots: [0x11, 0x22] },
  ];
  const txs: ((pool: Pool, root: number) => void)[] = [
    (pool, root) =>
      pool.transaction((tx) => {
        tx.addRanges([root + 8, 16]);
        pool.writeU64(root + 8, 0x11);
        pool.writeU64(root + 16, 0x99); // past the length: unused after this transaction
      }),
    (pool, root) =>
      pool.transaction((tx) => {
        tx.addRangeNoSnapshot(root + 16, 8);
        pool.writeU64(root + 16, 0x22);
        tx.addRange(root, 8);
        pool.writeU64(root, 2);
      }),
  ];
  return forEveryCrashPoint({
    setup() {
      const region = new SimulatedRegion(SIZE, { granularity });
      const pool = openPool(region, sealed, SIZE);
      const root = pool.root(64);
      pool.transaction((tx) => {
        tx.addRanges([root, 16]);
        pool.writeU64(root, 1);
        pool.writeU64(root + 8, 0x10);
      });
      return { region, state: { pool, root, done: 0 } as St };
    },
    run(_region, st: St) {
      for (const t of txs) {
        t(st.pool, st.root);
        st.done++;
      }
    },
    recover(region) {
      return Pool.open(region, { layout: LAYOUT });
    },
    check(pool, ctx) {
      assert.ok(pool.check().ok);
      const root = pool.rootOffset();
      const got = { len: pool.readU64(root), slots: [] as number[] };
      for (let i = 0; i < got.len && i < 6; i++) got.slots.push(pool.readU64(root + 8 + 8 * i));
      const k = ctx.state.done;
      const ok = ctx.crashed ? [states[k], states[k + 1]] : [states[txs.length]];
      assert.ok(ok.some((s) => s !== undefined && JSON.stringify(s) === JSON.stringify(got)), `after ${k} returned: ${JSON.stringify(got)}`);
      totalStates++;
    },
    recoveryCrashDepth: 2,
    // Every distinct image (up to 64 a point): the losing ones mix G's old word with the store.
    seeds: 64,
  });
}

for (const granularity of ['cache-line', 'page'] as const) {
  for (const sealed of [true, false]) {
    test(`${sealed ? 'sealed' : 'classic'}, ${granularity}: addRangeNoSnapshot over bytes the previous transaction wrote`, () => {
      assert.ok(noSnapshotScenario(granularity, sealed) > 0);
    });
  }
}

/** A pool whose last transaction (root word OLD -> NEW) is sealed and its G undurable. */
function sealedImage(): { image: Uint8Array; root: number } {
  const region = new SimulatedRegion(SIZE);
  const pool = openPool(region, true, SIZE);
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, OLD);
  });
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, NEW);
  });
  assert.equal(pool.stats().lastTx.drains, 2);
  // The media: everything drained, the generation word's new value only flushed.
  return { image: region.crashImage({ seed: 0, mode: 'media' }), root };
}
const OLD = 0x0123456789;
const NEW = 0x0987654321;

test('a sealed transaction whose G never became durable is kept; read-only opens need no recovery', () => {
  const { image, root } = sealedImage();
  const ro = Pool.open(SimulatedRegion.fromImage(image), { layout: LAYOUT, readOnly: true });
  assert.equal(ro.readU64(root), NEW);
  assert.equal(ro.recovered, false);
  assert.equal(ro.recoveredInMemory, false);
  assert.ok(ro.check().ok, JSON.stringify(ro.check().problems));
  ro.close();
  const region = SimulatedRegion.fromImage(image);
  const rw = Pool.open(region, { layout: LAYOUT });
  assert.equal(rw.readU64(root), NEW);
  assert.equal(rw.recovered, false);
  assert.ok(rw.check().ok);
  rw.close();
  // Open moved G past the record: the next open finds nothing to judge, and writes nothing.
  const again = SimulatedRegion.fromImage(region.crashImage({ seed: 0, mode: 'media' }));
  const p = Pool.open(again, { layout: LAYOUT });
  assert.equal(p.readU64(root), NEW);
  assert.equal(again.events.flushes + again.events.drains, 0);
});

test('seal damage: a flipped word in a sealed range, or in the record, rolls the transaction back', () => {
  const { image, root } = sealedImage();
  const damaged = image.slice();
  new DataView(damaged.buffer).setUint32(root + 4, 0x5a, true); // a word of the sealed data range
  const pool = Pool.open(SimulatedRegion.fromImage(damaged), { layout: LAYOUT });
  assert.equal(pool.recovered, true);
  assert.equal(pool.readU64(root), OLD, 'rolled back: the seal no longer matches');
  assert.ok(pool.check().ok);
  // Read-only: the same verdict, in a private copy.
  const ro = Pool.open(SimulatedRegion.fromImage(damaged), { layout: LAYOUT, readOnly: true });
  assert.equal(ro.recoveredInMemory, true);
  assert.equal(ro.readU64(root), OLD);
  // Any word of the record itself (gen, count and mark, seal): never kept as sealed. (The
  // transaction's only range is named by its entry, so the record lists none.)
  const rec = findRecord(image);
  assert.equal(new DataView(image.buffer, image.byteOffset).getUint32(rec + 8, true), 0, 'no unlogged range');
  for (let w = rec; w < rec + RECORD_HEADER; w += 8) {
    const img = image.slice();
    img[w + 1]! ^= 0x40;
    const p = Pool.open(SimulatedRegion.fromImage(img), { layout: LAYOUT });
    assert.equal(p.readU64(root), OLD, `record word at +${w - rec} damaged: rolled back`);
    assert.ok(p.check().ok);
  }
});

test('seal damage in a fresh block (a range only the record names) rolls the transaction back', () => {
  const region = new SimulatedRegion(SIZE);
  const pool = openPool(region, true, SIZE);
  const root = pool.root(64);
  let block = 0;
  pool.transaction((tx) => {
    block = tx.alloc(100);
    pool.writeU64(block + 48, NEW);
    tx.addRange(root, 8);
    pool.writeU64(root, block);
  });
  assert.equal(pool.stats().lastTx.drains, 2);
  const image = region.crashImage({ seed: 0, mode: 'media' });
  const kept = Pool.open(SimulatedRegion.fromImage(image), { layout: LAYOUT });
  assert.equal(kept.readU64(root), block);
  assert.equal(kept.readU64(block + 48), NEW);
  assert.equal(kept.recovered, false);
  for (const at of [block, block + 48, block + 96]) {
    const damaged = image.slice();
    damaged[at + 2]! ^= 0x10;
    const p = Pool.open(SimulatedRegion.fromImage(damaged), { layout: LAYOUT });
    assert.equal(p.recovered, true, `word ${at - block} of the block`);
    assert.equal(p.readU64(root), 0, 'rolled back: the block is not allocated and the root word is old');
    assert.ok(p.check().ok);
    assert.ok(![...p.allocations()].some((a) => a.offset === block));
  }
});

/** Offset of the commit record of the generation the image's G names (a test helper). */
function findRecord(image: Uint8Array): number {
  const view = new DataView(image.buffer, image.byteOffset);
  for (let p = LOG_ENTRIES; p + RECORD_HEADER <= 16384; p += 8) {
    if (view.getUint32(p + 12, true) === RECORD_MARK) {
      if (view.getUint32(p, true) === view.getUint32(LOG_GENERATION, true)) return p;
    }
  }
  throw new Error('no record');
}

test('a format-1 pool is refused with EVERSION', () => {
  const image = sealedImage().image;
  const view = new DataView(image.buffer, image.byteOffset);
  for (const base of [HEADER_A, HEADER_B]) {
    view.setUint32(base + H_VERSION, 1, true);
    view.setUint32(base + H_CRC, crc32c(image, base, H_CRC), true);
  }
  assert.throws(() => Pool.open(SimulatedRegion.fromImage(image), { layout: LAYOUT }), (err: unknown) => isFerriteError(err, 'EVERSION'));
});

test('sealed crash states total', () => {
  console.log(`sealed/classic crash states checked: ${totalStates}`);
  assert.ok(totalStates > 1000);
});
