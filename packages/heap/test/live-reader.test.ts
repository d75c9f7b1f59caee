/**
 * The live reader's sections and the writer's commit sequence (live-reader.ts, commit-seq.ts),
 * driven by hand on a simulated region shared by a writer pool and a reader pool: retries when
 * a commit overtakes a read, errors of a committed state passed on, pause requests and their
 * honouring by the writer, EBUSY past readTimeout, and the recovered copy read while the writer
 * is dead, left when a new writer opens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError } from '@ferrite/core';
import { SimulatedRegion, isSimulatedCrash } from '@ferrite/core/testing';
import { Pool, regionReaderSource } from '../src/index.js';
import type { ReadOp } from '../src/index.js';
import { EPOCH_WORD, PAUSE_WORD, SEQ_WORD } from '../src/layout.js';

const SIZE = 256 * 1024;

function words(region: SimulatedRegion): Int32Array {
  return new Int32Array(region.bytes.buffer, region.bytes.byteOffset, 256);
}

function setup(alive = true): { region: SimulatedRegion; writer: Pool; reader: Pool; root: number; state: { alive: boolean } } {
  const region = new SimulatedRegion(SIZE);
  const writer = Pool.create(region, { size: SIZE });
  const root = writer.root(64);
  const state = { alive };
  const reader = Pool.openLive(regionReaderSource(region, () => state.alive), undefined, undefined, 100);
  return { region, writer, reader, root, state };
}

function put(pool: Pool, at: number, value: number): void {
  pool.transaction((tx) => {
    tx.addRange(at, 8);
    pool.writeU64(at, value);
  });
}

test('the sequence is odd exactly while a transaction runs, and a writable open bumps the epoch', () => {
  const { region, writer, root } = setup();
  const w = words(region);
  const before = w[SEQ_WORD / 4]!;
  assert.equal(before & 1, 0);
  let inside = -1;
  writer.transaction((tx) => {
    inside = w[SEQ_WORD / 4]!;
    tx.addRange(root, 8);
    writer.writeU64(root, 1);
  });
  assert.equal(inside & 1, 1, 'odd inside');
  assert.equal(w[SEQ_WORD / 4], before + 2, 'even again, two further');
  // A rolled-back transaction moves it too (the bytes did change, then back).
  assert.throws(() => writer.transaction(() => { throw new Error('abort'); }), /abort/);
  assert.equal(w[SEQ_WORD / 4], before + 4);
  const epoch = w[EPOCH_WORD / 4]!;
  writer.close();
  Pool.open(region).close();
  assert.equal(w[EPOCH_WORD / 4], epoch + 1, 'a writable open bumps the epoch');
  assert.equal(w[SEQ_WORD / 4]! & 1, 0);
});

test('a section overtaken by commits runs again, putting back what the attempt advanced, until one validates', () => {
  const { writer, reader, root } = setup();
  const reader$ = reader.reader!;
  let runs = 0;
  let retries = 0;
  let invalidations = 0;
  reader$.onInvalidate = (all) => {
    if (all) invalidations++;
  };
  const op: ReadOp<number> = {
    run: () => {
      runs++;
      const v = reader.readU64(root);
      if (runs <= 2) put(writer, root, 100 + runs); // a commit lands inside the section
      return v;
    },
    retry: () => {
      retries++;
    },
  };
  assert.equal(reader$.section(op), 102, 'the value of the state the third attempt read');
  assert.equal(runs, 3);
  assert.equal(retries, 2);
  assert.equal(invalidations, 2, 'each failed attempt drops every cache');
  assert.equal(reader$.stats.retries, 2);
});

test('an error from a state that stayed committed is the caller\'s; one from a state being changed is retried', () => {
  const { writer, reader, root } = setup();
  const r = reader.reader!;
  assert.throws(() => r.section({ run: () => { throw new RangeError('mine'); } }), /mine/);
  let n = 0;
  const v = r.section({
    run: () => {
      n++;
      if (n === 1) {
        put(writer, root, 7);
        throw new RangeError('garbage read while the writer stored');
      }
      return reader.readU64(root);
    },
  });
  assert.equal(v, 7);
  assert.equal(n, 2);
});

test('nested sections: a commit during the outer read ends the attempt at the next inner one', () => {
  const { writer, reader, root } = setup();
  const r = reader.reader!;
  let outer = 0;
  let innerAfterCommit = 0;
  const got = r.section({
    run: () => {
      outer++;
      const a = r.section({ run: () => reader.readU64(root) });
      if (outer === 1) put(writer, root, 5);
      const b = r.section({ run: () => reader.readU64(root) });
      if (outer === 1) innerAfterCommit++; // not reached: the inner section saw the change
      return [a, b];
    },
  });
  assert.deepEqual(got, [5, 5]);
  assert.equal(outer, 2);
  assert.equal(innerAfterCommit, 0);
});

test('a starved reader asks the writer to pause, clears the request once it read, and the writer honours it', () => {
  const { region, writer, reader, root } = setup();
  const r = reader.reader!;
  const w = words(region);
  let n = 0;
  let requested = 0;
  r.section({
    run: () => {
      n++;
      if (w[PAUSE_WORD / 4] !== 0) requested++;
      // Past PAUSE_AFTER (6) overtaken attempts, by a writer of ANOTHER thread: its commits are
      // the sequence moving by two (this thread's writer committing in every attempt is a
      // function that writes, which a section refuses after three: the test below).
      if (n <= 8) Atomics.add(w, SEQ_WORD / 4, 2);
      return reader.readU64(root);
    },
  });
  assert.ok(requested > 0, 'the request is up while the starved attempts run');
  assert.equal(w[PAUSE_WORD / 4], 0, 'cleared after the read validated');
  assert.ok(r.stats.pauses > 0);
  // The writer honours a request: set one by hand, 30 ms from now, and commit.
  const before = writer.stats().readerPauses.count;
  w[PAUSE_WORD / 4] = ((Date.now() + 30) % 0x7fffffff) + 1;
  put(writer, root, 1);
  assert.equal(writer.stats().readerPauses.count, before + 1, 'the writer waited before its change');
  assert.ok(writer.stats().readerPauses.ms >= 0);
  // A request whose deadline passed (its reader was killed, say) costs nothing.
  w[PAUSE_WORD / 4] = ((Date.now() - 1000) % 0x7fffffff) + 1;
  const c = writer.stats().readerPauses.count;
  put(writer, root, 2);
  assert.equal(writer.stats().readerPauses.count, c, 'no wait for a request whose deadline passed');
  assert.equal(w[PAUSE_WORD / 4], 0, 'and the writer cleared it');
  // Found in review: a request left by a dead reader looks ~12 days ahead once ~12 days passed
  // (the clock word wraps at 2^31 ms), and the writer waited a second before every change.
  // No reader asks for more than a second: a deadline further away is cleared, not honoured.
  for (const ahead of [5_000, 12.5 * 24 * 3600 * 1000]) {
    w[PAUSE_WORD / 4] = ((Date.now() + ahead) % 0x7fffffff) + 1;
    const k = writer.stats().readerPauses.count;
    put(writer, root, 3);
    assert.equal(writer.stats().readerPauses.count, k, `no wait for a deadline ${ahead} ms away`);
    assert.equal(w[PAUSE_WORD / 4], 0, 'cleared');
  }
});

test('a live writer inside one change past readTimeout: EBUSY', () => {
  const { region, reader } = setup();
  const w = words(region);
  Atomics.or(w, SEQ_WORD / 4, 1); // as inside a transaction that never ends
  assert.throws(() => reader.reader!.section({ run: () => 1 }), (e: unknown) => isFerriteError(e, 'EBUSY') && /readTimeout/.test((e as Error).message));
  assert.ok(reader.reader!.stats.waits > 0);
});

test('a writer dead inside a transaction: the reader reads a recovered copy, then the pool again once a new writer opened', () => {
  const { region, writer, reader: first, root } = setup();
  first.close();
  put(writer, root, 11);
  // The writer dies in the middle of its next transaction: sequence odd, the undo log pending,
  // its half-done stores in the pool's memory.
  region.crashAfter(2);
  assert.throws(() => {
    writer.transaction((tx) => {
      tx.addRange(root, 8);
      writer.writeU64(root, 99);
      tx.alloc(100); // flushes: the crash strikes inside the transaction
    });
  }, (e: unknown) => isSimulatedCrash(e));
  region.clearCrash();
  assert.equal(words(region)[SEQ_WORD / 4]! & 1, 1, 'the dead writer left the sequence odd');
  const reader = Pool.openLive(regionReaderSource(region, () => false), undefined, undefined, 1000);
  const r = reader.reader!;
  assert.equal(r.section({ run: () => reader.readU64(root) }), 11, 'the committed value, from a recovered copy');
  assert.equal(reader.recovered, true);
  assert.equal(r.stats.snapshots, 1);
  // A new writer opens: recovery in place under a new epoch; the reader reads the pool again.
  const next = Pool.open(region);
  assert.equal(next.readU64(root), 11);
  put(next, root, 12);
  assert.equal(r.section({ run: () => reader.readU64(root) }), 12, 'back on the pool, after the new writer\'s commit');
  assert.equal(reader.recovered, false);
  next.close();
  reader.close();
});

test('a reader of a pool that grew reads the new bytes (the region object grows under it)', () => {
  const region = new SimulatedRegion(64 * 1024);
  const writer = Pool.create(region, { size: 64 * 1024, maxSize: 1 << 20 });
  const reader = Pool.openLive(regionReaderSource(region, () => true), undefined, undefined, 1000);
  const blocks: number[] = [];
  writer.transaction((tx) => {
    for (let i = 0; i < 40; i++) blocks.push(tx.alloc(4000));
  });
  const last = blocks[blocks.length - 1]!;
  put(writer, last, 4242);
  assert.ok(writer.size > 64 * 1024, 'the pool grew');
  assert.equal(reader.reader!.section({ run: () => reader.readU64(last) }), 4242);
  assert.equal(reader.reader!.section({ run: () => reader.size }), writer.size);
  assert.equal(reader.reader!.section({ run: () => reader.check().ok }), true);
  reader.close();
  writer.close();
});

/** Two words at `root` written in one transaction (a reader must see them agree). */
function put2(pool: Pool, root: number, a: number, b: number): void {
  pool.transaction((tx) => {
    tx.addRange(root, 16);
    pool.writeU64(root, a);
    pool.writeU64(root + 8, b);
  });
}

// Found in review: a writer that died with the sequence odd and nothing to recover left readers
// reading the shared bytes under the snapshot marker, which no commit ever invalidated: a new
// writer's commits during a section were accepted, torn.
test('a dead writer left the sequence odd with nothing to recover: a new writer committing during a section makes it run again', () => {
  const region = new SimulatedRegion(SIZE);
  const writer = Pool.create(region, { size: SIZE });
  const root = writer.root(64);
  put2(writer, root, 50, 50);
  Atomics.or(words(region), SEQ_WORD / 4, 1); // died inside a change that wrote nothing
  const state = { alive: false };
  const reader = Pool.openLive(regionReaderSource(region, () => state.alive), undefined, undefined, 1000);
  const r = reader.reader!;
  let next: Pool | undefined;
  const seen = r.section({
    run: () => {
      const a = reader.readU64(root);
      if (next === undefined) {
        next = Pool.open(region);
        state.alive = true;
        put2(next, root, 10, 90);
        put2(next, root, 0, 0);
      }
      return { a, b: reader.readU64(root + 8) };
    },
  });
  assert.ok(seen.a + seen.b === 100 || seen.a + seen.b === 0, `a committed state: ${JSON.stringify(seen)}`);
  assert.ok(r.stats.retries > 0, 'the overtaken attempt ran again');
  reader.close();
  next?.close();
});

// Found in review: the snapshot marker was -2, a value the 32-bit sequence itself reaches after
// 2^31 transactions; a section noting it was never checked.
test('a sequence at any 32-bit value, -2 included, is checked like any other', () => {
  const { region, writer, reader, root } = setup();
  Atomics.store(words(region), SEQ_WORD / 4, -6);
  put2(writer, root, 50, 50);
  put2(writer, root, 50, 50);
  assert.equal(Atomics.load(words(region), SEQ_WORD / 4), -2);
  const r = reader.reader!;
  let n = 0;
  const seen = r.section({
    run: () => {
      const a = reader.readU64(root);
      if (n++ === 0) {
        put2(writer, root, 10, 90);
        put2(writer, root, 0, 0);
      }
      return { a, b: reader.readU64(root + 8) };
    },
  });
  assert.deepEqual(seen, { a: 0, b: 0 });
  assert.ok(r.stats.retries > 0);
});

test("a section whose function commits through this thread's writer in every attempt ends with ETXSTATE after three; one that does so in some attempts runs again", () => {
  const { writer, reader, root } = setup();
  const r = reader.reader!;
  let n = 0;
  assert.throws(() => r.section({
    run: () => {
      n++;
      put(writer, root, 100 + n);
      return reader.readU64(root);
    },
  }), (e: unknown) => isFerriteError(e, 'ETXSTATE'));
  assert.equal(n, 3);
  assert.equal(reader.readU64(root), 103, 'the writes were made');
  let m = 0;
  const got = r.section({
    run: () => {
      m++;
      if (m <= 2) put(writer, root, 200 + m); // two attempts in a row, then none
      return reader.readU64(root);
    },
  });
  assert.equal(m, 3);
  assert.equal(got, 202);
});

// Found in a test run: a read-only open maps the pool, reads its header and maps it again at the
// size the header says; a writer that grew the pool once more between the two looks made the
// open fail with ECORRUPT. It follows again now (a few rounds, then EBUSY).
test('an open that the writer grows twice meanwhile follows both growths', () => {
  // Images of one pool at three sizes: each header names a size the previous mapping lacks.
  const region = new SimulatedRegion(SIZE);
  const writer = Pool.create(region, { size: SIZE, maxSize: 8 * SIZE });
  const root = writer.root(64);
  put(writer, root, 1);
  const grow = (): Uint8Array => {
    writer.transaction((tx) => void tx.alloc(SIZE)); // past what is free: the pool grows
    return region.bytes.slice();
  };
  const first = grow();
  const second = grow();
  put(writer, root, 2);
  const last = region.bytes.slice();
  writer.close();
  const sizes = [SIZE, first.length, second.length];
  assert.ok(sizes[0]! < sizes[1]! && sizes[1]! < sizes[2]!, `the pool grew twice: ${sizes.join(' < ')}`);
  // The open maps SIZE bytes of `first`, whose header says first.length; by the time it maps
  // that much, the writer grew again (`second`'s header), then committed (`last`).
  const images = [first.subarray(0, SIZE), second.subarray(0, first.length), last];
  let current = SimulatedRegion.fromImage(images[0]!.slice());
  let follows = 0;
  const shared = new Proxy({} as SimulatedRegion, {
    get: (_t, p) => {
      const v = (current as unknown as Record<PropertyKey, unknown>)[p];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(current) : v;
    },
  });
  const source = { ...regionReaderSource(shared, () => false), follow: (size: number) => {
    follows++;
    current = SimulatedRegion.fromImage(images[follows]!.slice());
    assert.ok(current.length >= size, `mapped ${current.length} for ${size}`);
  } };
  const reader = Pool.openLive(source, undefined, undefined, 1000);
  try {
    assert.equal(follows, 2, 'both growths were followed');
    assert.equal(reader.reader!.section({ run: () => reader.readU64(root) }), 2);
  } finally {
    reader.close();
  }
});
