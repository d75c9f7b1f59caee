/**
 * Readers interleaved with a writer on the simulated region (the heap's commit-seq.ts and
 * live-reader.ts): a reader store is opened over the very bytes a writer store changes, and
 * at every flush and drain event of every step of a generated program (single writes,
 * multi-collection transactions, aborts, drops, reopens, values that grow the pool, shrinks
 * that give a free tail back):
 *
 * - when the commit sequence is even there, the bytes readers see are exactly the last
 *   committed state: the reader, reading through every read path (`observe`), sees the
 *   model's state before the step — so no store of the writer escapes the odd window;
 * - when it is odd (the writer is changing what readers see), a reader that ignored it could
 *   read any mix of the words as they were before the step and as they are now (its loads
 *   spread over the writer's stores): a reader over such a torn image, with the sequence made
 *   to look stable, reads through every path too, and must end — with a value or an Error,
 *   which a real section would turn into a retry — never hang or die;
 * - after the step, with the sequence even again, the reader sees the model's new state.
 *
 * On persistent memory (the writer stores in place) and on a simulated disk with a shared view
 * of the pool file (the writer copies each durable commit into it: at the redo log's write and
 * sync events the view must still show the state before).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Prng, SimulatedDisk, SimulatedFileTarget, SimulatedRegion } from '@ferrite/core/testing';
import type { Region } from '@ferrite/core';
import { Pool, regionReaderSource, SEQ_WORD } from '@ferrite/heap';
import type { ReaderSource } from '@ferrite/heap';
import { Store } from '@ferrite/tx';
import { budget, suiteSeed } from './budget.js';
import { FILE_CHECKPOINT_BYTES, observe, openStore, runStep, touchCollections } from './driver.js';
import { applyStep, emptyModel, snapshotOf, type Snapshot, type Step } from './model.js';
import { describeProgram, programArb } from './programs.js';

const POOL = 64 * 1024;
const MAX = 1 << 20;

interface Setup {
  /** Where events happen (the region, or the disk's). */
  events: SimulatedRegion;
  /** What readers map: the region, or a shared view of the pool file of its own. */
  shared: Region;
  /** The reader's source over `shared`. */
  source: ReaderSource;
  writer: Store;
  reopen(): Store;
  dispose(): void;
}

function pmemSetup(): Setup {
  const region = new SimulatedRegion(POOL);
  const writer = openStore(region, { create: true, size: POOL, maxSize: MAX });
  touchCollections(writer);
  return {
    events: region,
    shared: region,
    source: regionReaderSource(region, () => true),
    writer,
    reopen: () => openStore(region, { maxSize: MAX }),
    dispose: () => region.dispose(),
  };
}

function fileSetup(): Setup {
  const disk = new SimulatedDisk({ pool: MAX, wal: 512 * 1024 });
  const target = new SimulatedFileTarget(disk, { shared: true });
  const writer = Store.open(target, { create: true, size: POOL, maxSize: MAX, checkpointBytes: FILE_CHECKPOINT_BYTES });
  touchCollections(writer);
  // The reader's own view of the pool file's page cache (a mapping of its own): it follows
  // the file when it grows.
  const shared = new SimulatedFileTarget(disk, { readOnly: true, shared: true }).shared;
  assert.ok(shared !== undefined);
  const source: ReaderSource = {
    ...regionReaderSource(shared, () => true),
    follow: (size: number) => {
      shared.refresh();
      assert.ok(shared.length >= size, `the pool file holds ${shared.length} bytes, its header ${size}`);
    },
  };
  let current = target;
  return {
    events: disk.region,
    shared,
    source,
    writer,
    reopen: () => {
      current = new SimulatedFileTarget(disk, { shared: true });
      return Store.open(current, { maxSize: MAX, checkpointBytes: FILE_CHECKPOINT_BYTES });
    },
    dispose: () => disk.region.dispose(),
  };
}

function seqOf(shared: Region): number {
  const b = shared.bytes;
  return new Int32Array(b.buffer, b.byteOffset + SEQ_WORD, 1)[0]!;
}

/** A reader store over `source` (its writer "alive": the test's own). */
function readerOver(source: ReaderSource): Store {
  return Store.fromPool(Pool.openLive(source, undefined, undefined, undefined));
}

/**
 * Reads a torn image (every word that differs between `before` and `now` taken from one of
 * them at random) with the sequence made to look stable; returns 'value' or 'error'. A thrown
 * non-Error, a hang or a crash fails the test.
 */
function readTorn(before: Uint8Array, now: Uint8Array, prng: Prng): 'value' | 'error' {
  const image = now.slice();
  const words = Math.floor(Math.min(before.length, now.length) / 8);
  for (let w = 0; w < words; w++) {
    const o = w * 8;
    let differs = false;
    for (let i = o; i < o + 8; i++) if (before[i] !== now[i]) differs = true;
    if (differs && prng.below(2) === 0) image.set(before.subarray(o, o + 8), o);
  }
  new Int32Array(image.buffer, SEQ_WORD, 1)[0] = 0; // even, and nothing will change it
  const region = SimulatedRegion.fromImage(image);
  try {
    const store = readerOver(regionReaderSource(region, () => true));
    try {
      store.read(() => observe(store));
      return 'value';
    } finally {
      store.close();
    }
  } catch (err) {
    assert.ok(err instanceof Error, `a torn read threw a non-Error: ${String(err)}`);
    return 'error';
  } finally {
    region.dispose();
  }
}

interface Tally {
  events: number;
  even: number;
  torn: number;
  tornErrors: number;
  /** Shrink steps that cut the pool (its region or file got shorter). */
  cuts: number;
}

function checkProgram(program: readonly Step[], kind: 'pmem' | 'file', seed: number, tally: Tally): void {
  const s = kind === 'pmem' ? pmemSetup() : fileSetup();
  const prng = new Prng(seed);
  let writer = s.writer;
  const reader = readerOver(s.source);
  let model = emptyModel();
  let committed: Snapshot = snapshotOf(model);
  let before = s.shared.bytes.slice();
  let stepIndex = -1;
  try {
    s.events.onEvent = () => {
      tally.events++;
      if ((seqOf(s.shared) & 1) === 0) {
        tally.even++;
        const seen = reader.read(() => observe(reader));
        assert.deepStrictEqual(seen, committed, `step ${stepIndex}: at an event with the sequence even, a reader saw another state than the last committed one`);
      } else if (prng.below(3) === 0) {
        tally.torn++;
        if (readTorn(before, s.shared.bytes, prng) === 'error') tally.tornErrors++;
      }
    };
    for (stepIndex = 0; stepIndex < program.length; stepIndex++) {
      const step = program[stepIndex]!;
      before = s.shared.bytes.slice();
      let full = false;
      if (step.kind === 'reopen') {
        // The writer closes and opens again (a new session: recovery under an odd sequence).
        writer.close();
        writer = s.reopen();
      } else if (step.kind === 'shrink') {
        const r = writer.shrink();
        if (r.fileAfter < r.fileBefore) tally.cuts++;
      } else {
        full = runStep(writer, step, () => s.events).full;
      }
      if (!full) model = applyStep(model, step);
      committed = snapshotOf(model);
      assert.equal(seqOf(s.shared) & 1, 0, `step ${stepIndex}: the sequence is even between steps`);
      assert.deepStrictEqual(reader.read(() => observe(reader)), committed, `step ${stepIndex}: the reader sees the step's committed state`);
    }
  } finally {
    s.events.onEvent = undefined;
    reader.close();
    writer.close();
    s.dispose();
  }
}

for (const kind of ['pmem', 'file'] as const) {
  test(`readers interleaved at every event of a writer's programs see only committed states, and torn reads end (${kind})`, () => {
    const tally: Tally = { events: 0, even: 0, torn: 0, tornErrors: 0, cuts: 0 };
    const seed = suiteSeed(kind === 'pmem' ? 0x5ead_0001 : 0x5ead_0002);
    fc.assert(
      fc.property(programArb({ maxSteps: 8, maxOps: 5, bigValue: 3000, bigWeight: 1, reopen: true, shrink: true }), fc.integer(), (program, s) => {
        try {
          checkProgram(program, kind, s, tally);
        } catch (err) {
          throw new Error(`program=${describeProgram(program)} seed=${s}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
      }),
      { numRuns: budget(40), seed },
    );
    console.log(`# readers (${kind}): ${tally.events} events (${tally.even} with the sequence even), ${tally.torn} torn reads (${tally.tornErrors} ended in an error), ${tally.cuts} shrinks that cut the pool`);
    assert.ok(tally.torn > 0, 'torn reads were tried');
    assert.ok(tally.cuts > 0, 'some shrink gave a tail back while a reader read');
  });
}
