// The crash harness (forEveryCrashPoint, crashProperty, forEverySingleTear, runCrashPlan)
// on a SimulatedDisk, unchanged: a toy redo log (write the record, sync the log, apply to
// the data file, checkpoint = sync the data then rewrite the log's header) must survive every
// crash point, with recovery crashed too; and each deliberately broken variant must be
// caught, each by what the file model claims:
// - apply before the log's sync: dirty data pages reach the disk without their record;
// - checkpoint header before the data's sync: a sync of the log leaves the data file's pages
//   dirty (syncs are per file), so committed transactions are lost;
// - records without a checksum: a record torn between its sectors replays garbage; caught
//   with 512-byte sectors, not when a page cannot tear (sector = page);
// - a recovery that checkpoints before its replay is durable: caught only when recovery
//   itself is crashed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '@ferrite/core';
import {
  CrashCheckFailure,
  SimulatedDisk,
  SimulatedIoQueue,
  countEvents,
  crashProperty,
  forEveryCrashPoint,
  forEverySingleTear,
  runCrashPlan,
  type CrashScenario,
  type SimulatedDiskOptions,
  type SimulatedFile,
  type SimulatedRegion,
} from '@ferrite/core/testing';

// Data file: four u64 accounts in different sectors and pages of two 4 KiB pages.
const ACCOUNTS = [0, 1000, 4100, 7000] as const;
const DATA_LENGTH = 8192;
// Log file: one page. Sector 0 is the header (the checkpointed sequence number at 0); records
// of two sectors follow: seq, count and CRC in the first, the entries at the end of the second.
const LOG_LENGTH = 4096;
const RECORDS_AT = 512;
const RECORD = 1024;
const ENTRIES_AT = RECORD - ACCOUNTS.length * 16;
/** Transactions of the run, with a checkpoint after the second. */
const TXS = 3;
const CHECKPOINT_AFTER = 2;

/** The accounts after `k` transactions: transaction j sets account i to j * 0x01010101 + i. */
function model(k: number): bigint[] {
  return ACCOUNTS.map((_, i) => (k === 0 ? 0n : BigInt(k * 0x01010101 + i)));
}

interface Variant {
  applyBeforeSync?: boolean;
  checkpointHeaderFirst?: boolean;
  noChecksum?: boolean;
  hastyRecovery?: boolean;
  disk?: SimulatedDiskOptions;
}

interface State {
  disk: SimulatedDisk;
  log: SimulatedFile;
  data: SimulatedFile;
  queue: SimulatedIoQueue;
  seq: number;
  tail: number;
  /** Transactions whose log sync returned: durable, whatever happens next. */
  committed: number;
  /** Failures the submitted programs reported (a crash, in a crashed run). */
  failures: unknown[];
}

const u64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};

function encodeRecord(seq: number, values: readonly bigint[], v: Variant): Uint8Array {
  const rec = new Uint8Array(RECORD);
  const view = new DataView(rec.buffer);
  view.setBigUint64(0, BigInt(seq), true);
  view.setUint32(8, values.length, true);
  for (const [i, value] of values.entries()) {
    view.setUint32(ENTRIES_AT + i * 16, ACCOUNTS[i]!, true);
    view.setBigUint64(ENTRIES_AT + i * 16 + 8, value, true);
  }
  if (!v.noChecksum) view.setUint32(12, recordCrc(rec), true);
  return rec;
}

function recordCrc(rec: Uint8Array): number {
  return crc32c(rec.subarray(ENTRIES_AT), 0, RECORD - ENTRIES_AT, crc32c(rec, 0, 12)) >>> 0;
}

function scenario(v: Variant = {}): CrashScenario<State, bigint[]> {
  return {
    setup() {
      const disk = new SimulatedDisk({ data: DATA_LENGTH, log: LOG_LENGTH }, v.disk);
      const data = disk.file('data');
      const log = disk.file('log');
      data.grow(DATA_LENGTH);
      log.grow(LOG_LENGTH);
      const state: State = { disk, log, data, queue: new SimulatedIoQueue(), seq: 0, tail: RECORDS_AT, committed: 0, failures: [] };
      return { region: disk.region, state };
    },
    run(_region, s) {
      for (let k = 1; k <= TXS; k++) {
        const values = model(k);
        const seq = ++s.seq;
        const record = { op: 'write' as const, file: s.log, offset: s.tail, data: encodeRecord(seq, values, v) };
        const apply = values.map((value, i) => ({ op: 'write' as const, file: s.data, offset: ACCOUNTS[i]!, data: u64(value) }));
        if (v.applyBeforeSync) {
          s.queue.runNow([record, ...apply, { op: 'sync', file: s.log }]);
        } else {
          // The commit point: the record durable. Then the application, queued; the next
          // runNow runs it first (the queue's order).
          s.queue.runNow([record, { op: 'sync', file: s.log }]);
          s.queue.submit(apply).catch((err: unknown) => s.failures.push(err));
        }
        s.committed = seq;
        s.tail += RECORD;
        if (k === CHECKPOINT_AFTER) {
          const header = { op: 'write' as const, file: s.log, offset: 0, data: u64(BigInt(seq)) };
          const syncData = { op: 'sync' as const, file: s.data };
          const syncLog = { op: 'sync' as const, file: s.log };
          s.queue.runNow(v.checkpointHeaderFirst ? [header, syncLog, syncData] : [syncData, header, syncLog]);
          s.tail = RECORDS_AT;
        }
      }
      s.queue.waitIdle();
    },
    recover(region: SimulatedRegion) {
      const disk = SimulatedDisk.fromRegion(region);
      const log = disk.file('log');
      const data = disk.file('data');
      const word = new Uint8Array(8);
      log.read(0, word);
      const checkpointed = Number(new DataView(word.buffer).getBigUint64(0, true));
      const replay = (): number => {
        let last = checkpointed;
        for (let at = RECORDS_AT; at + RECORD <= log.length; at += RECORD) {
          const rec = new Uint8Array(RECORD);
          log.read(at, rec);
          const view = new DataView(rec.buffer);
          if (Number(view.getBigUint64(0, true)) !== last + 1) break;
          if (!v.noChecksum && view.getUint32(12, true) !== recordCrc(rec)) break;
          const count = view.getUint32(8, true);
          for (let i = 0; i < Math.min(count, ACCOUNTS.length); i++) {
            data.write(view.getUint32(ENTRIES_AT + i * 16, true), rec.subarray(ENTRIES_AT + i * 16 + 8, ENTRIES_AT + i * 16 + 16));
          }
          last++;
        }
        return last;
      };
      const last = replay();
      if (last > checkpointed) {
        // Checkpoint what was replayed: the data durable, then the header (restartable).
        if (!v.hastyRecovery) data.sync();
        log.write(0, u64(BigInt(last)));
        log.sync();
        if (v.hastyRecovery) data.sync();
      }
      return ACCOUNTS.map((at) => {
        data.read(at, word);
        return new DataView(word.buffer).getBigUint64(0, true);
      });
    },
    check(accounts, { crashed, state }) {
      const k = [state.committed, state.committed + 1].find((n) => n <= TXS && String(model(n)) === String(accounts));
      assert.ok(k !== undefined, `accounts [${accounts.join(', ')}] are no state from ${state.committed} transactions on`);
      if (!crashed) assert.equal(k, TXS, 'a completed run is entirely durable');
      if (!crashed) assert.deepEqual(state.failures, []);
    },
  };
}

/** The CrashCheckFailure `fn` throws (fails the test when it throws none). */
function failureOf(fn: () => unknown): CrashCheckFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof CrashCheckFailure) return err;
    throw err;
  }
  assert.fail('the harness found nothing');
}

test('the redo log survives every crash point on a disk, with recovery crashed to depth 2', () => {
  const right = scenario();
  const events = countEvents(right.setup, right.run);
  // 3 commits (write + sync), 3 applications (4 writes), a checkpoint (2 syncs + a write).
  assert.deepEqual(events, { flushes: 3 + 12 + 1, drains: 3 + 2, total: 21 });
  const states = forEveryCrashPoint({ ...right, recoveryCrashDepth: 2, seeds: 12 });
  assert.ok(states > 22 * 3, `${states} states`);
  // Every sync point, with recovery crashed at each of its own points.
  assert.ok(forEveryCrashPoint({ ...right, on: 'drain', recoveryCrashDepth: 1, recoveryPoints: 'all', seeds: 16 }) > 6 * 16);
  assert.ok(forEverySingleTear(right) > 20, 'single tears of the dirty sectors were checked');
  fc.assert(crashProperty({ ...right, recoveryCrashDepth: 2 }), { numRuns: 300 });
  // The same on small pages and sectors (more pages, each file several pages).
  const small = scenario({ disk: { pageSize: 1024, sectorSize: 128 } });
  assert.ok(forEveryCrashPoint({ ...small, recoveryCrashDepth: 1, seeds: 8 }) > 22);
});

test('broken: applying before the log is synced is caught (dirty data pages reach the disk alone)', () => {
  const failure = failureOf(() => forEveryCrashPoint(scenario({ applyBeforeSync: true })));
  assert.match(failure.message, /are no state/);
  assert.throws(() => runCrashPlan(scenario({ applyBeforeSync: true }), failure.plan), CrashCheckFailure, 'the plan replays');
  assert.throws(() => fc.assert(crashProperty(scenario({ applyBeforeSync: true })), { numRuns: 300, seed: 1 }));
});

test("broken: a checkpoint header before the data's sync is caught (the log's sync leaves the data dirty)", () => {
  const failure = failureOf(() => forEveryCrashPoint(scenario({ checkpointHeaderFirst: true })));
  assert.match(failure.message, /are no state/);
  assert.throws(() => runCrashPlan(scenario({ checkpointHeaderFirst: true }), failure.plan), CrashCheckFailure);
});

test('broken: records without a checksum are caught by torn sectors, and only by them', () => {
  const failure = failureOf(() => forEveryCrashPoint({ ...scenario({ noChecksum: true }), seeds: 16 }));
  assert.throws(() => runCrashPlan(scenario({ noChecksum: true }), failure.plan), CrashCheckFailure);
  const tear = failureOf(() => forEverySingleTear(scenario({ noChecksum: true })));
  assert.ok(tear.plan.tornWord !== undefined && tear.plan.tornWord % 512 === 0, 'a torn sector');
  // Where a page cannot tear (one sector per page), a record is whole or absent: it passes.
  const untearable = scenario({ noChecksum: true, disk: { pageSize: 4096, sectorSize: 4096 } });
  assert.ok(forEveryCrashPoint({ ...untearable, recoveryCrashDepth: 1, seeds: 16 }) > 22);
  // There a single tear leaves a whole page behind (a page is one sector): harmless too.
  assert.ok(forEverySingleTear(untearable) > 0);
});

test('broken: a recovery that checkpoints before its replay is durable is caught when recovery crashes', () => {
  const hasty = scenario({ hastyRecovery: true });
  assert.ok(forEveryCrashPoint(hasty) > 22, 'uncrashed recoveries pass');
  const failure = failureOf(() => forEveryCrashPoint({ ...hasty, recoveryCrashDepth: 1, recoveryPoints: 'all' }));
  assert.equal(failure.plan.recovery.length, 1, 'found by a crashed recovery');
  assert.throws(() => runCrashPlan(hasty, failure.plan), CrashCheckFailure);
});
