/**
 * Crash tests of a pool on an ORDINARY FILE (the file persistency model of the simulator: the
 * page cache may write any dirty page back at any moment, a sector at a time; only an fdatasync
 * is a barrier): the heap's random programs, and big transactions that grow the pool and the
 * undo log, run on a SimulatedFileTarget (the pool file and its redo log on one simulated
 * disk), crashed at every write and every sync, recovery crashed too (depth 2). Every
 * recovered pool must pass check() and hold exactly the state after the last transaction that
 * returned, or after the one the crash struck (whole).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crashProperty, forEveryCrashPoint, SimulatedDisk, SimulatedFileTarget, SimulatedRegion as SimulatedRegionClass } from '@ferrite/core/testing';
import type { SimulatedRegion } from '@ferrite/core/testing';
import { Pool } from '../src/index.js';
import { assertMatches, fillAndEmpty, initRoot, matches, programArb, runProgram, runTx } from './helpers/program.js';
import type { Model, TxProgram } from './helpers/program.js';
import { assertBigMatches, assertCheckClean, BigModel, bigMatches, bigProgramArb, runBigTx } from './helpers/big-program.js';
import type { BigTx } from './helpers/big-program.js';

const SOAK = process.env.FERRITE_SOAK === '1';
const LAYOUT = 'file-crash';
const WAL_EXTENT = 16 << 20;

interface Opts {
  size: number;
  maxSize: number;
  /** Commits copy into a shared view of the pool file (a MAP_SHARED mapping) instead of writes. */
  shared: boolean;
  /** Redo log bytes per checkpoint (small: checkpoints happen inside the programs). */
  checkpointBytes: number;
}

function openTarget(disk: SimulatedDisk, shared: boolean): SimulatedFileTarget {
  return new SimulatedFileTarget(disk, { shared });
}

let states = 0;

function programScenario(program: TxProgram[], opts: Opts) {
  // Reference run (no crash): the model after every transaction.
  const refDisk = new SimulatedDisk({ pool: opts.maxSize, wal: WAL_EXTENT });
  const refPool = Pool.create(openTarget(refDisk, opts.shared), { layout: LAYOUT, size: opts.size, maxSize: opts.maxSize });
  const start = initRoot(refPool);
  const history = runProgram(refPool, start, program);
  refPool.close();
  let fills = 0;
  return {
    setup(): { region: SimulatedRegion; state: { pool: Pool; model: Model; done: number } } {
      const disk = new SimulatedDisk({ pool: opts.maxSize, wal: WAL_EXTENT });
      const pool = Pool.create(openTarget(disk, opts.shared), { layout: LAYOUT, size: opts.size, maxSize: opts.maxSize });
      const model = initRoot(pool);
      return { region: disk.region, state: { pool, model, done: 0 } };
    },
    run(_region: SimulatedRegion, state: { pool: Pool; model: Model; done: number }): void {
      runProgram(state.pool, state.model, program, (k) => {
        state.done = k;
      });
    },
    recover(region: SimulatedRegion): Pool {
      return Pool.open(SimulatedFileTarget.fromRegion(region, { shared: opts.shared }), { layout: LAYOUT, checkpointBytes: opts.checkpointBytes });
    },
    check(pool: Pool, ctx: { state: { done: number }; crashed: boolean }): void {
      assertCheckClean(pool, 'recovered pool');
      const k = ctx.state.done;
      const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((m) => m !== undefined) : [history[program.length]!];
      const match = candidates.find((m) => matches(pool, m!));
      if (match === undefined) assertMatches(pool, candidates[0]!);
      if (fills++ % (SOAK ? 1 : 9) === 0) fillAndEmpty(pool, match!);
      states++;
    },
    recoveryCrashDepth: 2,
  };
}

test('file model: every write and sync of random transaction programs (commits written range by range)', () => {
  fc.assert(
    fc.property(programArb(5, 5), fc.boolean(), (program, grow) => {
      const size = 64 * 1024;
      const scenario = programScenario(program, { size, maxSize: grow ? 4 * size : size, shared: false, checkpointBytes: 64 * 1024 });
      forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 3, on: 'any' });
    }),
    { numRuns: SOAK ? 80 : 8, seed: 0xf11e, endOnFailure: true },
  );
  assert.ok(states > 0);
  console.log(`file-model crash states checked so far: ${states}`);
});

test('file model: the same with commits copied into a shared view of the pool file, and frequent checkpoints', () => {
  const before = states;
  fc.assert(
    fc.property(programArb(6, 4), (program) => {
      const size = 64 * 1024;
      const scenario = programScenario(program, { size, maxSize: 4 * size, shared: true, checkpointBytes: 64 * 1024 });
      forEveryCrashPoint({ ...scenario, seeds: SOAK ? 8 : 3, on: 'any' });
    }),
    { numRuns: SOAK ? 60 : 6, seed: 0x5ade, endOnFailure: true },
  );
  assert.ok(states > before);
});

test('file model: checkpoints in the middle of a program (every crash point around them)', () => {
  // Small transactions fill 64 KiB of log (a checkpoint), then one whose record is far larger
  // than the first records of the old epoch, so it overwrites several of them: until the new
  // epoch's header is durable, a crash image may hold the old header with the old first
  // record whole and a later one torn — replaying that prefix would put old bytes back.
  const program: TxProgram[] = [{ ops: [{ k: 'alloc', size: 3000 }, { k: 'alloc', size: 60000 }], abort: false }];
  // Small transactions up to the first checkpoint (found by running them), then the big one.
  {
    const d = new SimulatedDisk({ pool: 1 << 20, wal: WAL_EXTENT });
    Pool.create(new SimulatedFileTarget(d), { layout: LAYOUT, size: 256 * 1024, maxSize: 1 << 20 }).close();
    const probe = Pool.open(new SimulatedFileTarget(d), { layout: LAYOUT, checkpointBytes: 64 * 1024 });
    let m = runTx(probe, initRoot(probe), program[0]!);
    for (let t = 0; probe.stats().durability.checkpoints === 0; t++) {
      assert.ok(t < 200, 'small transactions reach a checkpoint');
      const p: TxProgram = { ops: [{ k: 'fill', i: 0, byte: (t % 250) + 1 }, { k: 'write', i: 1, pos: t, v: t }], abort: false };
      m = runTx(probe, m, p);
      program.push(p);
    }
    probe.close();
  }
  program.push({ ops: [{ k: 'fill', i: 1, byte: 0x77 }, { k: 'fill', i: 0, byte: 0x99 }], abort: false });
  program.push({ ops: [{ k: 'fill', i: 1, byte: 0x78 }], abort: false });
  const opts = { size: 256 * 1024, maxSize: 1 << 20, shared: false, checkpointBytes: 64 * 1024 };
  const scenario = programScenario(program, opts);
  // The program checkpoints (the log starts over at least once).
  const disk = new SimulatedDisk({ pool: 1 << 20, wal: WAL_EXTENT });
  Pool.create(new SimulatedFileTarget(disk), { layout: LAYOUT, size: opts.size, maxSize: opts.maxSize }).close();
  const reopened = Pool.open(new SimulatedFileTarget(disk), { layout: LAYOUT, checkpointBytes: opts.checkpointBytes });
  runProgram(reopened, initRoot(reopened), program);
  assert.ok(reopened.stats().durability.checkpoints >= 1, 'the program checkpoints');
  reopened.close();
  const n = forEveryCrashPoint({
    ...scenario,
    setup: () => {
      const d = new SimulatedDisk({ pool: opts.maxSize, wal: WAL_EXTENT });
      Pool.create(new SimulatedFileTarget(d), { layout: LAYOUT, size: opts.size, maxSize: opts.maxSize }).close();
      const p = Pool.open(new SimulatedFileTarget(d), { layout: LAYOUT, checkpointBytes: opts.checkpointBytes });
      return { region: d.region, state: { pool: p, model: initRoot(p), done: 0 } };
    },
    seeds: SOAK ? 8 : 4,
    on: 'any',
  });
  assert.ok(n > 100);
});

test('file model: big transactions that grow the pool and the undo log (sampled crash points)', () => {
  fc.assert(
    fc.property(bigProgramArb(3, 800), fc.nat(), (program: BigTx[], salt) => {
      const size = 64 * 1024;
      const maxSize = 48 << 20;
      const ref = Pool.create(new SimulatedFileTarget(new SimulatedDisk({ pool: maxSize, wal: 64 << 20 })), { layout: LAYOUT, size, maxSize });
      const root = ref.root(64);
      const extra = new Set([root]);
      const history: BigModel[] = [new BigModel()];
      const m = new BigModel();
      for (const p of program) {
        runBigTx(ref, m, p);
        history.push(m.clone());
      }
      ref.close();
      const scenario = {
        setup(): { region: SimulatedRegion; state: { pool: Pool; model: BigModel; done: number } } {
          const disk = new SimulatedDisk({ pool: maxSize, wal: 64 << 20 });
          const pool = Pool.create(new SimulatedFileTarget(disk), { layout: LAYOUT, size, maxSize });
          assert.equal(pool.root(64), root);
          return { region: disk.region, state: { pool, model: new BigModel(), done: 0 } };
        },
        run(_r: SimulatedRegion, state: { pool: Pool; model: BigModel; done: number }): void {
          for (const p of program) {
            runBigTx(state.pool, state.model, p);
            state.done++;
          }
        },
        recover: (region: SimulatedRegion): Pool => Pool.open(SimulatedFileTarget.fromRegion(region), { layout: LAYOUT }),
        check(pool: Pool, ctx: { state: { done: number }; crashed: boolean }): void {
          assertCheckClean(pool, 'recovered pool');
          const k = ctx.state.done;
          const candidates = ctx.crashed ? [history[k]!, history[k + 1]].filter((x) => x !== undefined) : [history[program.length]!];
          if (candidates.find((c) => bigMatches(pool, c!, extra)) === undefined) assertBigMatches(pool, candidates[0]!, extra);
          states++;
        },
        recoveryCrashDepth: 2,
      };
      fc.assert(crashProperty(scenario), { numRuns: SOAK ? 40 : 6, seed: salt, endOnFailure: true });
    }),
    { numRuns: SOAK ? 30 : 3, seed: 0xb16f, endOnFailure: true },
  );
});

test('file model: deferred transactions (group commit) are durable whole, in order, a prefix of the groups', () => {
  // Groups of deferred transactions, each made durable by one commit (what the end of an
  // event-loop turn does): a crash leaves the state after some prefix of the groups, never
  // part of one, and never less than the groups whose commit returned.
  const groups: TxProgram[][] = [];
  for (let g = 0; g < 4; g++) {
    groups.push(Array.from({ length: 3 }, (_, i) => ({ ops: [{ k: 'alloc' as const, size: 40 + i * 300 }, { k: 'root' as const, v: g * 10 + i }], abort: false })));
  }
  const size = 64 * 1024;
  const refPool = Pool.create(new SimulatedFileTarget(new SimulatedDisk({ pool: 1 << 20, wal: WAL_EXTENT })), { layout: LAYOUT, size, maxSize: 1 << 20 });
  let model = initRoot(refPool);
  const boundaries: Model[] = [model];
  for (const g of groups) {
    for (const p of g) model = runTx(refPool, model, p);
    boundaries.push(model);
  }
  refPool.close();
  interface S { pool: Pool; model: Model; durableGroups: number }
  const n = forEveryCrashPoint({
    setup() {
      const disk = new SimulatedDisk({ pool: 1 << 20, wal: WAL_EXTENT });
      const pool = Pool.create(new SimulatedFileTarget(disk), { layout: LAYOUT, size, maxSize: 1 << 20 });
      return { region: disk.region, state: { pool, model: initRoot(pool), durableGroups: 0 } as S };
    },
    run(_r: SimulatedRegion, s: S) {
      for (const g of groups) {
        for (const p of g) s.model = runTx(s.pool, s.model, p, true);
        s.pool.makeDurable();
        s.durableGroups++;
      }
    },
    recover: (region: SimulatedRegion) => Pool.open(SimulatedFileTarget.fromRegion(region), { layout: LAYOUT }),
    check(pool: Pool, ctx: { state: S }) {
      assertCheckClean(pool, 'recovered');
      const at = boundaries.findIndex((m) => matches(pool, m));
      assert.ok(at >= 0, 'the pool holds the state after a whole number of groups');
      assert.ok(at >= ctx.state.durableGroups, `every group whose commit returned is there (${at} < ${ctx.state.durableGroups})`);
      states++;
    },
    recoveryCrashDepth: 1,
    seeds: 3,
    on: 'any',
  });
  assert.ok(n > 0);
  console.log(`file-model crash states checked: ${states}`);
});

test("file model: a checkpoint syncs the new epoch's header before a record overwrites the old epoch's", () => {
  // The image that would corrupt a pool whose checkpoint did not sync the header: the crash
  // strikes a big record written over the old epoch's first records (before its sync); the
  // image keeps the OLD header and the old first record, and tears a later old record with
  // new bytes. Replaying that shortened old epoch would put the first record's bytes back over
  // what later records (all checkpointed into the pool file) wrote.
  const disk = new SimulatedDisk({ pool: 1 << 20, wal: WAL_EXTENT });
  Pool.create(new SimulatedFileTarget(disk), { layout: LAYOUT, size: 256 * 1024, maxSize: 1 << 20 }).close();
  const pool = Pool.open(new SimulatedFileTarget(disk), { layout: LAYOUT, checkpointBytes: 64 * 1024 });
  const root = pool.root(64);
  const block = pool.transaction((tx) => tx.alloc(3000));
  const big = pool.transaction((tx) => tx.alloc(60000)); // a 60 KB record: a checkpoint follows
  const start = pool.stats().durability.checkpoints;
  let t = 0;
  for (; pool.stats().durability.checkpoints === start; t++) {
    assert.ok(t < 200);
    pool.transaction((tx) => {
      tx.addRange(block, 3000);
      pool.bytes.fill((t % 250) + 1, block, block + 3000);
    });
  }
  const lastFill = ((t - 1) % 250) + 1;
  const walMedia = disk.media('wal');
  const oldFirstLength = new DataView(walMedia.buffer, walMedia.byteOffset).getUint32(4096 + 24, true);
  assert.ok(oldFirstLength > 3000 && oldFirstLength < 8000, `the old epoch opens with a small record (${oldFirstLength})`);
  disk.region.crashAfter(1, { on: 'drain' }); // the log sync of the next commit
  assert.throws(() =>
    pool.transaction((tx) => {
      tx.addRange(big, 60000);
      pool.bytes.fill(0xee, big, big + 60000);
      tx.addRange(root, 8);
      pool.writeU64(root, 5);
    }),
  );
  const wal = disk.extentOf('wal');
  const image = disk.region.crashImage((at) => {
    const rel = at - wal.offset;
    if (rel < 0 || rel >= wal.length) return 'live';
    if (rel < 512) return 'media'; // the header: the old epoch's, if the checkpoint did not sync it
    if (rel >= 4096 && rel < 4096 + oldFirstLength) return 'media'; // the old first record, whole
    return 'live'; // the big record's bytes over the later old records
  });
  const recovered = Pool.open(SimulatedFileTarget.fromRegion(SimulatedRegionOf(image, disk)), { layout: LAYOUT });
  assertCheckClean(recovered, 'recovered');
  for (let i = 0; i < 3000; i += 499) assert.equal(recovered.bytes[block + i], lastFill, `block byte ${i}: the last committed fill, not the first`);
  assert.equal(recovered.readU64(root), 0, 'the crashed transaction is absent');
});

/** A region holding `image` with the disk region's model (file granularity, its page and sector sizes). */
function SimulatedRegionOf(image: Uint8Array, disk: SimulatedDisk): SimulatedRegion {
  return SimulatedRegionClass.fromImage(image, disk.region.options);
}
