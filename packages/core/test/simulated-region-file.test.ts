// Unit tests of the 'file' granularity of SimulatedRegion (the model-based test against a
// reference is simulated-region-file-model.test.ts): its options, events and barriers, and
// that its random images really tear pages, sector by sector, with every pattern reachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError } from '@ferrite/core';
import { MAX_PAGE_SIZE, SimulatedCrash, SimulatedRegion } from '@ferrite/core/testing';

const isCode = (code: string) => (e: unknown): boolean => isFerriteError(e, code as 'EINVAL');

test("a 'file' region: defaults, options, and sizes refused with EINVAL", () => {
  const r = new SimulatedRegion(8192, { granularity: 'file' });
  assert.equal(r.granularity, 'file');
  assert.equal(r.isPmem, false);
  assert.equal(r.pageSize, 4096);
  assert.equal(r.sectorSize, 512);
  assert.deepEqual(r.options, { granularity: 'file', pageSize: 4096, sectorSize: 512 });
  const small = new SimulatedRegion(256, { granularity: 'file', pageSize: 64, sectorSize: 8 });
  assert.deepEqual(small.options, { granularity: 'file', pageSize: 64, sectorSize: 8 });
  // The NVM granularities keep their models: no page or sector size to choose.
  assert.deepEqual(new SimulatedRegion(64).options, { granularity: 'cache-line' });
  assert.equal(new SimulatedRegion(64).sectorSize, 8);
  for (const bad of [
    { granularity: 'file', pageSize: 3000 },
    { granularity: 'file', pageSize: 0 },
    { granularity: 'file', pageSize: MAX_PAGE_SIZE * 2 },
    { granularity: 'file', sectorSize: 4 },
    { granularity: 'file', sectorSize: 8192 }, // above the 4096-byte page
    { granularity: 'file', sectorSize: 1.5 },
    { granularity: 'page', pageSize: 4096 },
    { granularity: 'cache-line', sectorSize: 512 },
    { granularity: 'disk' },
    { granularity: 'file', sectorsize: 4096 }, // a misspelt option is refused, not ignored
    { granularity: 'cache-line', pagesize: 64 },
  ] as const) {
    assert.throws(() => new SimulatedRegion(4096, bad as never), isCode('EINVAL'), JSON.stringify(bad));
    assert.throws(() => SimulatedRegion.fromImage(new Uint8Array(64), bad as never), isCode('EINVAL'), JSON.stringify(bad));
  }
});

test("'file': a write (flush) reaches the page cache only; a sync makes exactly its pages durable", () => {
  const r = new SimulatedRegion(4 * 4096, { granularity: 'file' });
  r.bytes.fill(1, 100, 200); // page 0
  r.flush(100, 100);
  r.bytes.fill(2, 4096 + 10, 4096 + 20); // page 1, never "written": dirty all the same
  r.bytes.fill(3, 3 * 4096, 3 * 4096 + 8); // page 3
  assert.equal(r.media()[100], 0, 'a write is not durable');
  r.drain();
  assert.equal(r.media()[100], 0, 'a drain is no barrier on a file');
  assert.deepEqual(r.unpersisted(), [{ offset: 0, length: 8192 }, { offset: 3 * 4096, length: 4096 }]);
  r.persist(4096 + 15, 1); // an fdatasync of page 1 only
  assert.deepEqual(r.unpersisted(), [{ offset: 0, length: 4096 }, { offset: 3 * 4096, length: 4096 }]);
  assert.deepEqual(r.media(4096, 4096), r.bytes.slice(4096, 8192));
  assert.equal(r.media()[100], 0, 'page 0 was not synced');
  r.persistRanges([0, 1, 3 * 4096, 8]);
  assert.deepEqual(r.unpersisted(), []);
  assert.deepEqual(r.media(), r.bytes);
  // One write, a drain, a persist and a persistRanges: 1 flush event, 3 drain events.
  assert.deepEqual(r.events, { flushes: 1, drains: 3 });
  r.flushRanges([0, 8, 64, 8]);
  assert.deepEqual(r.events, { flushes: 3, drains: 3 });
  assert.deepEqual(r.media(1, 2), new Uint8Array(2));
  assert.throws(() => r.media(4 * 4096 - 1, 2), isCode('ERANGE'));
});

test("'file': a sync is one 'drain' event and a crash point; a crash before it makes nothing durable", () => {
  const r = new SimulatedRegion(8192, { granularity: 'file' });
  r.bytes.fill(7, 0, 4096);
  r.crashAfter(1, { on: 'drain' });
  r.flush(0, 4096); // a write: not counted by an 'on: drain' countdown
  assert.throws(() => r.persist(0, 4096), (e: unknown) => e instanceof SimulatedCrash && e.event === 'drain' && e.count === 2);
  assert.equal(r.media()[0], 0, 'the crashed sync had no effect');
  // The crash images: page 0 whole, torn, or absent; never anything written after the crash.
  r.bytes.fill(9, 0, 8192);
  for (let seed = 0; seed < 64; seed++) {
    const image = r.crashImage(seed);
    assert.ok(image.every((b) => b === 0 || b === 7), `seed ${seed}`);
  }
  assert.throws(() => r.persistRanges([0, 8]), SimulatedCrash);
  r.clearCrash();
  r.crashAfter(1);
  assert.throws(() => r.persistRanges([0, 8, 4096, 8]), (e: unknown) => e instanceof SimulatedCrash && e.event === 'drain');
});

test("'file': sector images tear pages, every sector pattern is reached; page images never tear", () => {
  // One page of 8 sectors, all of them changed: 256 possible images.
  const r = new SimulatedRegion(4096, { granularity: 'file' });
  r.bytes.fill(0xee);
  const patterns = new Set<number>();
  const perSector = new Array<number>(8).fill(0);
  const pattern = (image: Uint8Array): number => {
    let bits = 0;
    for (let s = 0; s < 8; s++) {
      const sector = image.subarray(s * 512, (s + 1) * 512);
      const isNew = sector.every((b) => b === 0xee);
      assert.ok(isNew || sector.every((b) => b === 0), `sector ${s} is whole`);
      if (isNew) bits |= 1 << s;
    }
    return bits;
  };
  const SEEDS = 2048;
  for (let seed = 0; seed < SEEDS; seed++) {
    const bits = pattern(r.crashImage({ seed, mode: 'sectors' }));
    patterns.add(bits);
    for (let s = 0; s < 8; s++) if (bits & (1 << s)) perSector[s]!++;
  }
  // Sectors are independent and fair: nearly all 256 patterns show up in 2048 images, and
  // each sector is new in about half of them (binomial, sd ~23: far inside these bounds).
  assert.ok(patterns.size >= 240, `${patterns.size} distinct sector patterns`);
  for (const n of perSector) assert.ok(n > SEEDS * 0.4 && n < SEEDS * 0.6, `a sector new in ${n} of ${SEEDS}`);
  const whole = new Set<number>();
  for (let seed = 0; seed < 64; seed++) whole.add(pattern(r.crashImage({ seed, mode: 'pages' })));
  assert.deepEqual([...whole].sort((a, b) => a - b), [0, 255], 'a page image holds pages whole: old or new');
  assert.equal(r.crashImageCount(1000), 256);
  assert.equal(r.crashImageCount(100), 101);
  // A sector that did not change does not count: 7 differing sectors, 128 images.
  r.bytes.fill(0, 1024, 1536);
  assert.equal(r.crashImageCount(1000), 128);
});

test("'file': seeds replay; 'pages' and 'sectors' are refused on the NVM granularities", () => {
  const r = new SimulatedRegion(3 * 4096, { granularity: 'file', pageSize: 1024, sectorSize: 64 });
  for (let i = 0; i < r.length; i += 97) r.bytes[i] = i & 0xff;
  for (const seed of [0, 1, 2, 3, 99, -7, 0xfffffff]) {
    assert.deepEqual(r.crashImage(seed), r.crashImage(seed));
    assert.deepEqual(r.crashImage({ seed, mode: 'sectors' }), r.crashImage({ seed, mode: 'sectors' }));
  }
  assert.notDeepEqual(r.crashImage({ seed: 3, mode: 'sectors' }), r.crashImage({ seed: 7, mode: 'sectors' }));
  const nvm = new SimulatedRegion(64);
  nvm.bytes[0] = 1;
  assert.throws(() => nvm.crashImage({ seed: 0, mode: 'pages' }), isCode('EINVAL'));
  assert.throws(() => nvm.crashImage({ seed: 0, mode: 'sectors' }), isCode('EINVAL'));
  assert.throws(() => r.crashImage(() => 'pending'), isCode('EINVAL'));
  assert.throws(() => r.crashImage({ seed: -1, mode: 'enumerate' }), isCode('EINVAL'));
});

test("'file': crashRegion and fromImage keep the model (granularity, page and sector sizes)", () => {
  const r = new SimulatedRegion(2048, { granularity: 'file', pageSize: 512, sectorSize: 128 });
  r.bytes.fill(5, 0, 600);
  const again = r.crashRegion({ seed: 1, mode: 'live' });
  assert.deepEqual(again.options, r.options);
  assert.deepEqual(again.unpersisted(), []);
  assert.equal(again.bytes[599], 5);
  const reopened = SimulatedRegion.fromImage(r.crashImage(0), r.options);
  assert.equal(reopened.pageSize, 512);
  assert.equal(reopened.sectorSize, 128);
});

test("'file': a region whose length is not whole pages or sectors clips its last ones", () => {
  const r = new SimulatedRegion(4096 + 520, { granularity: 'file' }); // a page, a sector, 8 bytes
  r.bytes.fill(1, 4096, 4096 + 520);
  assert.deepEqual(r.unpersisted(), [{ offset: 4096, length: 520 }]);
  assert.equal(r.crashImageCount(100), 4);
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const image = r.crashImage({ seed: i, mode: 'enumerate' });
    seen.add(`${image[4096]}${image[4096 + 519]}`);
  }
  assert.deepEqual([...seen].sort(), ['00', '01', '10', '11']);
  r.persist(4096 + 519, 1);
  assert.deepEqual(r.unpersisted(), []);
});
