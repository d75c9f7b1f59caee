import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { SimulatedCrash, SimulatedRegion, type WordSource } from '@ferrite/core/testing';

const LINE = 64;

function u64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getBigUint64(offset, true);
}
function setU64(bytes: Uint8Array, offset: number, value: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setBigUint64(offset, value, true);
}

test('a new region is zero, durable, and has nothing in flight', () => {
  const r = new SimulatedRegion(4096);
  assert.equal(r.length, 4096);
  assert.equal(r.bytes.length, 4096);
  assert.equal(r.granularity, 'cache-line');
  assert.equal(r.isPmem, true);
  assert.equal(r.writable, true);
  assert.deepEqual(r.unpersisted(), []);
  assert.deepEqual(r.media(), new Uint8Array(4096));
  assert.deepEqual(r.events, { flushes: 0, drains: 0 });
});

test('an unflushed store can be lost or kept: both are observed over seeds', () => {
  const r = new SimulatedRegion(256);
  setU64(r.bytes, 64, 0x1122334455667788n);
  const seen = new Set<bigint>();
  for (let seed = 0; seed < 32; seed++) seen.add(u64(r.crashImage(seed), 64));
  assert.deepEqual([...seen].sort(), [0n, 0x1122334455667788n]);
  assert.deepEqual(r.unpersisted(), [{ offset: 64, length: 64 }]);
});

test('a flushed but undrained line can be lost', () => {
  const r = new SimulatedRegion(256);
  r.bytes[0] = 7;
  r.flush(0, 1);
  assert.equal(r.media()[0], 0, 'flush alone does not reach the media');
  const seen = new Set<number>();
  for (let seed = 0; seed < 32; seed++) seen.add(r.crashImage(seed)[0]!);
  assert.deepEqual([...seen].sort(), [0, 7]);
  assert.deepEqual(r.unpersisted(), [{ offset: 0, length: 64 }]);
});

test('a drained line is never lost, whatever the seed and mode', () => {
  const r = new SimulatedRegion(512);
  r.bytes.fill(9, 64, 128);
  r.persist(64, 64);
  assert.deepEqual(r.unpersisted(), []);
  r.bytes[300] = 1; // something else in flight, so images do vary
  for (let seed = 0; seed < 64; seed++) {
    const image = r.crashImage(seed);
    assert.ok(image.subarray(64, 128).every((b) => b === 9));
  }
  for (const image of r.crashImages({ maxLines: 4 })) assert.ok(image.subarray(64, 128).every((b) => b === 9));
});

test('lines tear only at 8-byte words: every word of an image equals one of its candidates', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ off: fc.nat(1023), val: fc.integer({ min: 1, max: 255 }) }), { maxLength: 40 }),
      fc.array(fc.record({ off: fc.nat(1023), len: fc.nat(200) }), { maxLength: 6 }),
      fc.boolean(),
      fc.array(fc.record({ off: fc.nat(1023), val: fc.integer({ min: 1, max: 255 }) }), { maxLength: 40 }),
      fc.nat(),
      (writes1, flushes, drainBetween, writes2, seed) => {
        const r = new SimulatedRegion(1024);
        for (const w of writes1) r.bytes[w.off] = w.val;
        for (const f of flushes) r.flush(f.off, Math.min(f.len, 1024 - f.off));
        if (drainBetween) r.drain();
        const media = r.media();
        // The pending copy of a line is what B held at its last flush; reconstruct it.
        const pendingSnapshot = r.bytes.slice();
        for (const w of writes2) r.bytes[w.off] = w.val;
        const image = r.crashImage({ seed, mode: 'words' });
        for (let off = 0; off < 1024; off += 8) {
          const w = u64(image, off);
          const ok = w === u64(media, off) || w === u64(r.bytes, off) || w === u64(pendingSnapshot, off);
          assert.ok(ok, `word at ${off} is not one of its candidates`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('a torn line is observed: words of one line come from different candidates', () => {
  const r = new SimulatedRegion(128);
  r.bytes.fill(0xff, 0, 64);
  let torn = false;
  for (let seed = 0; seed < 64 && !torn; seed++) {
    const line = r.crashImage({ seed, mode: 'words' }).subarray(0, 64);
    torn = line.some((b) => b === 0) && line.some((b) => b === 0xff);
  }
  assert.ok(torn);
});

test('a pending line whose live bytes changed again offers three candidates', () => {
  const r = new SimulatedRegion(64);
  setU64(r.bytes, 0, 1n);
  r.flush(0, 8);
  setU64(r.bytes, 0, 2n);
  const seen = new Set<bigint>();
  for (let seed = 0; seed < 64; seed++) seen.add(u64(r.crashImage(seed), 0));
  assert.deepEqual([...seen].sort(), [0n, 1n, 2n]);
  r.drain();
  assert.equal(u64(r.media(), 0), 1n, 'drain writes the flushed copy, not the later store');
  const imgs = [...r.crashImages({ maxLines: 1 })].map((i) => u64(i, 0));
  assert.deepEqual(imgs, [1n, 2n]);
});

test('identical seeds give identical images', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2048, maxLength: 2048 }), fc.integer(), (data, seed) => {
      const r = new SimulatedRegion(2048);
      r.bytes.set(data);
      r.flush(100, 900);
      r.bytes[5] ^= 0xff;
      assert.deepEqual(r.crashImage(seed), r.crashImage(seed));
      assert.deepEqual(r.crashImage({ seed, mode: 'lines' }), r.crashImage({ seed, mode: 'lines' }));
    }),
    { numRuns: 50 },
  );
});

test('seed modes: media and live images are the extremes', () => {
  const r = new SimulatedRegion(256);
  r.bytes.fill(3);
  r.persist(0, 64);
  r.bytes.fill(4, 128, 192);
  assert.deepEqual(r.crashImage({ seed: 5, mode: 'media' }), r.media());
  assert.deepEqual(r.crashImage({ seed: 5, mode: 'live' }), r.bytes);
  assert.deepEqual(r.crashImage(0), r.media(), 'seed 0 selects the media mode');
  assert.deepEqual(r.crashImage(1), r.bytes, 'seed 1 selects the live mode');
});

test('a word chooser decides every in-flight word', () => {
  const r = new SimulatedRegion(256);
  r.bytes.fill(1, 0, 16);
  r.flush(0, 16);
  r.bytes.fill(2, 128, 136);
  const calls: Array<[number, boolean]> = [];
  const image = r.crashImage((offset, hasPending): WordSource => {
    calls.push([offset, hasPending]);
    return offset === 8 ? 'pending' : offset === 128 ? 'live' : 'media';
  });
  assert.deepEqual(calls.map((c) => c[0]), [0, 8, 16, 24, 32, 40, 48, 56, 128, 136, 144, 152, 160, 168, 176, 184]);
  assert.ok(calls.slice(0, 8).every((c) => c[1]));
  assert.ok(calls.slice(8).every((c) => !c[1]));
  assert.deepEqual([...image.subarray(0, 16)], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.ok(image.subarray(128, 136).every((b) => b === 2));
  assert.throws(
    () => r.crashImage((offset) => (offset === 128 ? 'pending' : 'media')),
    (e: unknown) => isFerriteError(e, 'EINVAL'),
  );
});

test('exhaustive mode enumerates 2^k images for k in-flight lines', () => {
  for (let k = 0; k <= 6; k++) {
    const r = new SimulatedRegion(64 * 16);
    for (let i = 0; i < k; i++) r.bytes[(2 * i + 1) * LINE + 3] = i + 1;
    const images = [...r.crashImages({ maxLines: 6 })];
    assert.equal(images.length, 2 ** k);
    const distinct = new Set(images.map((img) => Buffer.from(img).toString('hex')));
    assert.equal(distinct.size, 2 ** k);
    assert.deepEqual(images[0], r.media(), 'the first image is the media');
  }
  const r = new SimulatedRegion(64 * 8);
  for (let i = 0; i < 3; i++) r.bytes[i * LINE] = 1;
  assert.throws(() => [...r.crashImages({ maxLines: 2 })], (e: unknown) => isFerriteError(e, 'ERANGE'));
});

test('a durable line holding NaN bit patterns is not in flight', () => {
  const r = new SimulatedRegion(4096);
  r.bytes.fill(0xff, 0, 128); // 0xffff_ffff_ffff_ffff is a NaN as a float64
  r.persist(0, 128);
  assert.deepEqual(r.unpersisted(), []);
  r.bytes[200] = 1;
  assert.deepEqual(r.unpersisted(), [{ offset: 192, length: 64 }]);
});

test('a store of the word 0x8000000000000000 over zero is in flight (float -0 equals +0)', () => {
  // Found by the reference-model test (seed 928355220): the line scan compared words as
  // float64, where -0 === +0, so this store looked clean and no image could lose it.
  const r = new SimulatedRegion(64);
  r.bytes[7] = 0x80;
  assert.deepEqual(r.unpersisted(), [{ offset: 0, length: 64 }]);
  const seen = new Set<number>();
  for (let seed = 0; seed < 32; seed++) seen.add(r.crashImage(seed)[7]!);
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 0x80], 'the store can be lost or kept');
});

test('unpersisted merges adjacent in-flight lines into runs', () => {
  const r = new SimulatedRegion(1000);
  r.bytes[0] = 1;
  r.bytes[70] = 1;
  r.flush(128, 64); // pending, unchanged: still in flight until drained
  r.bytes[512] = 1;
  r.bytes[999] = 1;
  assert.deepEqual(r.unpersisted(), [
    { offset: 0, length: 192 },
    { offset: 512, length: 64 },
    { offset: 960, length: 40 },
  ]);
  r.flushRanges([0, 1, 64, 64, 512, 1, 990, 10]);
  r.drain();
  assert.deepEqual(r.unpersisted(), []);
  assert.deepEqual(r.media(), r.bytes);
});

test('events are counted per flush, per range and per drain', () => {
  const r = new SimulatedRegion(1024);
  r.flush(0, 8);
  r.flushRanges([0, 8, 64, 8, 128, 8]);
  r.flushRanges([0, 8, 64, 8, 128, 8], 1);
  r.drain();
  r.persist(0, 8);
  assert.deepEqual(r.events, { flushes: 6, drains: 2 });
  r.resetEvents();
  assert.deepEqual(r.events, { flushes: 0, drains: 0 });
});

test('crashAfter throws before the event takes effect, then refuses until cleared', () => {
  const r = new SimulatedRegion(256);
  r.bytes[0] = 1;
  r.flush(0, 1);
  r.crashAfter(2);
  r.bytes[64] = 2;
  r.flush(64, 1); // event 1 of the countdown: happens
  assert.throws(
    () => r.drain(),
    (e: unknown) => e instanceof SimulatedCrash && e.event === 'drain' && e.count === 3,
  );
  assert.equal(r.media()[0], 0, 'the crashing drain had no effect');
  assert.ok(r.crashed instanceof SimulatedCrash);
  assert.throws(() => r.flush(0, 1), SimulatedCrash);
  assert.throws(() => r.drain(), SimulatedCrash);
  assert.deepEqual(r.events, { flushes: 2, drains: 0 });
  r.clearCrash();
  assert.equal(r.crashed, undefined);
  r.drain();
  assert.equal(r.media()[0], 1);
  assert.equal(r.media()[64], 2);
});

test('stores made after the crash never reach a crash image (the machine stopped)', () => {
  const r = new SimulatedRegion(4096);
  r.bytes.fill(7, 0, 128); // in flight at the crash: may be lost or kept
  r.crashAfter(1, { on: 'drain' });
  assert.throws(() => r.drain(), SimulatedCrash);
  // Code under test catches the crash and goes on storing (an abort path, say).
  r.bytes.fill(9, 0, 256);
  for (let seed = 0; seed < 64; seed++) {
    const image = r.crashImage(seed);
    for (let i = 0; i < 256; i++) {
      assert.notEqual(image[i], 9, `seed ${seed}: byte ${i} holds a store made after the crash`);
    }
    assert.ok(image.subarray(0, 128).every((b) => b === 0 || b === 7));
  }
  assert.ok(r.unpersisted().every((run) => run.offset + run.length <= 128), 'in flight: only what was stored before the crash');
  // A cleared crash resumes on the array the code writes: its later stores count again.
  r.clearCrash();
  assert.equal(r.bytes[0], 9);
  r.persist(0, 256);
  assert.ok(r.media().subarray(0, 256).every((b) => b === 9));
  assert.throws(() => {
    r.crashAfter(1);
    r.flush(0, 1);
  }, SimulatedCrash);
  assert.throws(() => r.grow(8192), SimulatedCrash, 'a crashed region does not grow');
  r.close();
  assert.equal(r.bytes.length, 0, 'close after a crash still detaches the array code holds');
  assert.ok(r.crashImage(1).subarray(0, 256).every((b) => b === 9));
});

test('crashAfter counts only the chosen kind', () => {
  const r = new SimulatedRegion(256);
  r.crashAfter(2, { on: 'drain' });
  r.persist(0, 8);
  r.flush(0, 8);
  r.flush(0, 8);
  assert.throws(() => r.persist(0, 8), (e: unknown) => e instanceof SimulatedCrash && e.event === 'drain');
  r.clearCrash();
  r.crashAfter(1, { on: 'flush' });
  r.bytes[0] = 5;
  assert.throws(() => r.persist(0, 8), (e: unknown) => e instanceof SimulatedCrash && e.event === 'flush');
  r.clearCrash();
  r.crashAfter(2, { on: 'any' });
  r.bytes[0] = 6;
  // persist = flush (event 1) then drain (event 2): the flush happened, the drain did not.
  assert.throws(() => r.persist(0, 8), (e: unknown) => e instanceof SimulatedCrash && e.event === 'drain');
  assert.equal(r.media()[0], 0);
  assert.equal(r.unpersisted().length, 1);
  assert.throws(() => r.crashAfter(0), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

test('a crash inside flushRanges keeps the ranges before it', () => {
  const r = new SimulatedRegion(256);
  r.bytes.fill(1);
  r.crashAfter(2);
  assert.throws(() => r.flushRanges([0, 64, 64, 64, 128, 64]), SimulatedCrash);
  r.clearCrash();
  r.drain();
  const m = r.media();
  assert.ok(m.subarray(0, 64).every((b) => b === 1));
  assert.ok(m.subarray(64).every((b) => b === 0));
});

test('fromImage gives a region whose live bytes and media equal the image', () => {
  const image = new Uint8Array(512).map((_, i) => i & 0xff);
  const r = SimulatedRegion.fromImage(image);
  image[0] = 99; // a copy, not a view
  assert.equal(r.bytes[0], 0);
  assert.deepEqual(r.media(), r.bytes);
  assert.deepEqual(r.unpersisted(), []);
  assert.equal(SimulatedRegion.fromImage(image, { granularity: 'page' }).granularity, 'page');
  const crashed = new SimulatedRegion(128);
  crashed.bytes[3] = 4;
  const again = crashed.crashRegion({ seed: 0, mode: 'live' });
  assert.equal(again.bytes[3], 4);
  assert.deepEqual(again.unpersisted(), []);
});

test('grow keeps contents, media and pending lines; new bytes are durable zeros', () => {
  const r = new SimulatedRegion(128);
  const old = r.bytes;
  r.bytes[0] = 1;
  r.flush(0, 1);
  r.bytes[64] = 2;
  r.grow(4096);
  assert.equal(old.length, 0, 'the old array is detached');
  assert.equal(r.length, 4096);
  assert.equal(r.bytes.length, 4096);
  assert.equal(r.bytes[0], 1);
  assert.equal(r.bytes[64], 2);
  assert.ok(r.bytes.subarray(128).every((b) => b === 0));
  assert.deepEqual(r.unpersisted(), [{ offset: 0, length: 128 }]);
  r.drain();
  assert.equal(r.media()[0], 1);
  assert.equal(r.media()[64], 0);
  assert.throws(() => r.grow(64), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

test('shrink: one drain event; the tail is gone from live, pending and media; a crash before it leaves the region whole', () => {
  for (const granularity of ['cache-line', 'page', 'file'] as const) {
    const r = new SimulatedRegion(4096, { granularity });
    r.bytes.fill(7, 0, 4096);
    r.persist(0, 4096);
    r.bytes[10] = 1; // flushed, not drained: stays pending
    r.flush(0, 64);
    r.bytes[3000] = 2; // pending in the tail: gone with it
    r.flush(3000, 1);
    const old = r.bytes;
    const before = r.events;
    r.shrink(1024);
    assert.equal(r.events.drains, before.drains + 1, `${granularity}: one drain event`);
    assert.equal(old.length, 0, 'the old array is detached');
    assert.equal(r.length, 1024);
    assert.equal(r.bytes[10], 1);
    assert.equal(r.media().length, 1024);
    assert.equal(r.crashImage({ seed: 1, mode: 'media' }).length, 1024);
    assert.equal(r.crashImage({ seed: 1, mode: 'live' })[10], 1);
    assert.ok(r.unpersisted().every((run) => run.offset + run.length <= 1024), 'nothing in flight past the end');
    r.drain();
    r.shrink(1024); // equal: no event
    assert.equal(r.events.drains, before.drains + 2);
    r.grow(2048);
    assert.ok(r.bytes.subarray(1024).every((b) => b === 0), 'grown again: zeros');
    assert.throws(() => r.shrink(4096), (e: unknown) => isFerriteError(e, 'EINVAL'));
    assert.throws(() => r.shrink(100), (e: unknown) => isFerriteError(e, 'EINVAL'), 'a multiple of 8');
  }
  // A crash at the shrink's event: the region keeps its length and contents.
  const c = new SimulatedRegion(2048);
  c.bytes.fill(5);
  c.persist(0, 2048);
  c.crashAfter(1);
  assert.throws(() => c.shrink(1024), SimulatedCrash);
  assert.equal(c.crashImage({ seed: 0, mode: 'media' }).length, 2048);
  assert.throws(() => c.shrink(1024), SimulatedCrash, 'a crashed region does not shrink');
});

test('close detaches bytes, refuses flushes, and still yields crash images', () => {
  const r = new SimulatedRegion(128);
  const b = r.bytes;
  b[0] = 1;
  r.close();
  r.close();
  assert.equal(b.length, 0);
  assert.throws(() => r.flush(0, 1), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  assert.throws(() => r.drain(), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  assert.deepEqual(r.unpersisted(), [{ offset: 0, length: 64 }]);
  assert.equal(r.crashImage({ seed: 0, mode: 'live' })[0], 1);
});

test('dispose releases memory safely: reused memory is detached, never aliased', () => {
  const big = new SimulatedRegion(1 << 20);
  const old = big.bytes;
  big.bytes.fill(0xaa);
  big.flush(0, 64);
  big.dispose();
  big.dispose();
  assert.equal(old.length, 0, 'a pooled array is detached before reuse');
  assert.throws(() => big.flush(0, 1), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  assert.throws(() => big.crashImage(0), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  assert.throws(() => big.media(), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  assert.throws(() => big.unpersisted(), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  // Regions and images made next may reuse that memory: they hold exactly what they should.
  const image = new Uint8Array(1 << 20).fill(0x55);
  const again = SimulatedRegion.fromImage(image);
  assert.ok(again.bytes.every((b) => b === 0x55));
  assert.ok(again.media().every((b) => b === 0x55));
  assert.ok(new SimulatedRegion(1 << 20).bytes.every((b) => b === 0), 'new regions are zero');
  again.dispose();
  const small = new SimulatedRegion(256);
  const view = small.bytes;
  view[0] = 3;
  small.dispose();
  assert.equal(view[0], 3, 'a small array is not reused, so a kept view still reads its contents');
});

test('failFlushes makes the next n flushes fail with EIO and no effect', () => {
  const r = new SimulatedRegion(256);
  r.bytes[0] = 1;
  r.failFlushes(2);
  assert.throws(() => r.persist(0, 1), (e: unknown) => isFerriteError(e, 'EIO'));
  assert.throws(() => r.flushRanges([0, 1]), (e: unknown) => isFerriteError(e, 'EIO'));
  assert.deepEqual(r.events, { flushes: 0, drains: 0 });
  r.drain();
  assert.equal(r.media()[0], 0);
  r.persist(0, 1);
  assert.equal(r.media()[0], 1);
  const mine = new Error('custom');
  r.failFlushes(1, mine);
  assert.throws(() => r.flush(0, 1), (e: unknown) => e === mine);
  r.flush(0, 1);
});

test('bad ranges are errors with codes and have no effect', () => {
  const r = new SimulatedRegion(128);
  assert.throws(() => r.flush(120, 16), (e: unknown) => isFerriteError(e, 'ERANGE'));
  assert.throws(() => r.flush(-1, 1), (e: unknown) => isFerriteError(e, 'EINVAL'));
  assert.throws(() => r.flushRanges([0, 8, 200, 8]), (e: unknown) => isFerriteError(e, 'ERANGE'));
  assert.throws(() => r.flushRanges([0, 8], 2), (e: unknown) => isFerriteError(e, 'EINVAL'));
  assert.deepEqual(r.events, { flushes: 0, drains: 0 });
  assert.throws(() => new SimulatedRegion(12), (e: unknown) => isFerriteError(e, 'EINVAL'));
  assert.throws(() => new SimulatedRegion(64, { granularity: 'x' as 'page' }), (e: unknown) => isFerriteError(e, 'EINVAL'));
});

test("page granularity: flush writes the covering pages to the media at once", () => {
  const r = new SimulatedRegion(3 * 4096, { granularity: 'page' });
  assert.equal(r.isPmem, false);
  r.bytes[10] = 1;
  r.bytes[4095] = 2;
  r.bytes[4096] = 3;
  r.flush(100, 1);
  const m = r.media();
  assert.equal(m[10], 1);
  assert.equal(m[4095], 2);
  assert.equal(m[4096], 0, 'the next page was not covered');
  assert.deepEqual(r.unpersisted(), [{ offset: 4096, length: 64 }]);
  r.drain();
  assert.deepEqual(r.events, { flushes: 1, drains: 1 });
});

// The shared Region conformance suite runs on SimulatedRegion (both granularities) in
// region-conformance-simulated.test.ts.
