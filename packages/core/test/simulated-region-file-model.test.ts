// Model-based test of the 'file' granularity of SimulatedRegion: random stores, writes
// (flush), flushRanges, drains, syncs (persist, persistRanges), grows and crashes, run
// against a naive reference of the file model, with page and sector sizes drawn too. After
// every step: the live bytes, the media, the dirty pages, the event counts, and crash images
// of every mode. Every image must be a per-sector mix of media and live exactly as specified
// (clean pages from the media, each sector of a dirty page wholly old or new; whole pages in
// 'pages' mode); when few, the enumerated images must be exactly the set of all such mixes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { SimulatedCrash, SimulatedRegion, type CrashMode, type WordSource } from '@ferrite/core/testing';

const SOAK = process.env.FERRITE_SOAK === '1';

type Op =
  | { k: 'store'; at: number; bytes: number[] }
  | { k: 'flush'; at: number; len: number }
  | { k: 'ranges'; pairs: Array<[number, number]> }
  | { k: 'drain' }
  | { k: 'persist'; at: number; len: number }
  | { k: 'persistRanges'; pairs: Array<[number, number]> }
  | { k: 'grow'; by: number }
  | { k: 'crash'; after: number };

/**
 * The file model as plainly as possible: the page cache (live) and the disk (media); a sync
 * copies the covering pages; a crash freezes what the page cache held at that instant.
 */
class Reference {
  /** What code under test sees in `bytes` (it keeps writing after a crash). */
  user: Uint8Array;
  /** The page cache as of the crash (equal to `user` until one). */
  live: Uint8Array;
  media: Uint8Array;
  flushes = 0;
  drains = 0;
  countdown = 0;
  crashed = false;
  constructor(length: number, readonly pageSize: number, readonly sectorSize: number) {
    this.user = new Uint8Array(length);
    this.live = this.user;
    this.media = new Uint8Array(length);
  }
  get length(): number {
    return this.media.length;
  }
  /** Counts an event; false when the crash strikes before it (or struck already). */
  event(kind: 'flush' | 'drain'): boolean {
    if (this.crashed) return false;
    if (this.countdown > 0 && --this.countdown === 0) {
      this.crashed = true;
      this.live = this.user.slice();
      return false;
    }
    if (kind === 'flush') this.flushes++;
    else this.drains++;
    return true;
  }
  sync(at: number, len: number): void {
    if (len === 0) return;
    const start = Math.floor(at / this.pageSize) * this.pageSize;
    const end = Math.min(this.length, Math.ceil((at + len) / this.pageSize) * this.pageSize);
    for (let i = start; i < end; i++) this.media[i] = this.live[i]!;
  }
  grow(length: number): void {
    const grown = (a: Uint8Array): Uint8Array => {
      const b = new Uint8Array(length);
      b.set(a);
      return b;
    };
    this.user = grown(this.user);
    this.live = this.user;
    this.media = grown(this.media);
  }
  differs(start: number, end: number): boolean {
    for (let i = start; i < Math.min(end, this.length); i++) if (this.live[i] !== this.media[i]) return true;
    return false;
  }
  dirtyPages(): number[] {
    const pages: number[] = [];
    for (let p = 0; p * this.pageSize < this.length; p++) if (this.differs(p * this.pageSize, (p + 1) * this.pageSize)) pages.push(p);
    return pages;
  }
  /** Every sector of every dirty page, ascending (what a chooser is called with). */
  sectorsOfDirtyPages(): number[] {
    const out: number[] = [];
    for (const p of this.dirtyPages()) {
      for (let s = p * this.pageSize; s < Math.min(this.length, (p + 1) * this.pageSize); s += this.sectorSize) out.push(s);
    }
    return out;
  }
  dirtySectors(): number[] {
    return this.sectorsOfDirtyPages().filter((s) => this.differs(s, s + this.sectorSize));
  }
  /** The image in which exactly the sectors of `newSectors` hold the live bytes. */
  mix(newSectors: readonly number[]): Uint8Array {
    const out = this.media.slice();
    for (const s of newSectors) out.set(this.live.subarray(s, Math.min(this.length, s + this.sectorSize)), s);
    return out;
  }
}

function opArb(maxLength: number): fc.Arbitrary<Op> {
  const at = fc.nat(maxLength - 1);
  const pairs = fc.array(fc.tuple(at, fc.nat(600)), { maxLength: 4 });
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('store' as const), at, bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 80 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('flush' as const), at, len: fc.nat(600) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('ranges' as const), pairs }) },
    { weight: 1, arbitrary: fc.constant({ k: 'drain' as const }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('persist' as const), at, len: fc.nat(600) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('persistRanges' as const), pairs }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('grow' as const), by: fc.integer({ min: 0, max: 64 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('crash' as const), after: fc.integer({ min: 1, max: 6 }) }) },
  );
}

function clampLen(at: number, len: number, length: number): [number, number] {
  const a = Math.min(at, length);
  return [a, Math.min(len, length - a)];
}

const key = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** Asserts that `image` is a per-sector mix of media and live (whole pages when `pages`). */
function assertMix(image: Uint8Array, ref: Reference, what: string, pages = false): void {
  assert.equal(image.length, ref.length, `${what}: length`);
  const dirty = new Set(ref.dirtyPages());
  for (let p = 0; p * ref.pageSize < ref.length; p++) {
    const pStart = p * ref.pageSize;
    const pEnd = Math.min(ref.length, pStart + ref.pageSize);
    const sources: Array<'old' | 'new'> = [];
    for (let s = pStart; s < pEnd; s += ref.sectorSize) {
      const sEnd = Math.min(pEnd, s + ref.sectorSize);
      const got = image.subarray(s, sEnd);
      const isOld = Buffer.from(got).equals(ref.media.subarray(s, sEnd));
      const isNew = Buffer.from(got).equals(ref.live.subarray(s, sEnd));
      assert.ok(isOld || isNew, `${what}: sector ${s} is neither its old nor its new contents`);
      if (!dirty.has(p)) assert.ok(isOld, `${what}: clean page ${p} equals the media`);
      if (isOld !== isNew) sources.push(isOld ? 'old' : 'new');
    }
    if (pages) assert.ok(new Set(sources).size <= 1, `${what}: page ${p} is torn in a whole-page image`);
  }
}

function compare(r: SimulatedRegion, ref: Reference, seed: number): void {
  assert.deepEqual(r.bytes, ref.user, 'the bytes code under test holds');
  assert.deepEqual(r.media(), ref.media, 'media');
  assert.deepEqual(r.events, { flushes: ref.flushes, drains: ref.drains }, 'events');
  const runs: Array<{ offset: number; length: number }> = [];
  for (const p of ref.dirtyPages()) {
    const offset = p * ref.pageSize;
    const length = Math.min(ref.pageSize, ref.length - offset);
    const last = runs[runs.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else runs.push({ offset, length });
  }
  assert.deepEqual(r.unpersisted(), runs, 'dirty pages');
  assert.deepEqual(r.crashImage({ seed, mode: 'media' }), ref.media);
  assert.deepEqual(r.crashImage({ seed, mode: 'live' }), ref.live);
  for (const mode of ['sectors', 'pages', 'words', 'lines'] as const satisfies readonly CrashMode[]) {
    assertMix(r.crashImage({ seed, mode }), ref, `mode ${mode}`, mode === 'pages' || mode === 'lines');
  }
  // The harness's names are aliases of the file model's.
  assert.deepEqual(r.crashImage({ seed, mode: 'words' }), r.crashImage({ seed, mode: 'sectors' }));
  assert.deepEqual(r.crashImage({ seed, mode: 'lines' }), r.crashImage({ seed, mode: 'pages' }));
  for (let s = seed; s < seed + 4; s++) assertMix(r.crashImage(s), ref, `bare seed ${s}`);
  // Counting and enumeration: exactly the 2^k mixes of the k differing sectors.
  const differing = ref.dirtySectors();
  const count = r.crashImageCount(64);
  assert.equal(count, differing.length <= 6 ? 2 ** differing.length : 65, 'crashImageCount');
  if (count <= 64) {
    const expected = new Set<string>();
    for (let mask = 0; mask < count; mask++) expected.add(key(ref.mix(differing.filter((_, i) => (mask >> i) & 1))));
    const got = new Set<string>();
    for (let i = 0; i < count; i++) got.add(key(r.crashImage({ seed: i, mode: 'enumerate' })));
    assert.deepEqual(got, expected, 'the enumerated images are exactly every per-sector mix');
    assert.deepEqual(r.crashImage({ seed: 0, mode: 'enumerate' }), ref.media, 'index 0 is the media');
    assert.throws(() => r.crashImage({ seed: count, mode: 'enumerate' }), (e: unknown) => isFerriteError(e, 'ERANGE'));
  }
  // A chooser is asked about every sector of every dirty page, in order, and obeyed.
  const asked: number[] = [];
  const picks = new Set<number>();
  const image = r.crashImage((offset, hasPending): WordSource => {
    assert.equal(hasPending, false);
    asked.push(offset);
    const pick = ((offset * 2654435761 + seed) >>> 7) % 2 === 1;
    if (pick) picks.add(offset);
    return pick ? 'live' : 'media';
  });
  assert.deepEqual(asked, ref.sectorsOfDirtyPages(), 'the chooser is asked per sector of each dirty page');
  assert.deepEqual(image, ref.mix([...picks]), 'the chooser decides each sector');
  // Whole-page enumeration: every combination of the dirty pages, old or new.
  const dirty = ref.dirtyPages();
  if (dirty.length <= 5) {
    const expected = new Set<string>();
    for (let mask = 0; mask < 2 ** dirty.length; mask++) {
      const sectors = ref.sectorsOfDirtyPages().filter((s) => (mask >> dirty.indexOf(Math.floor(s / ref.pageSize))) & 1);
      expected.add(key(ref.mix(sectors)));
    }
    const got = [...r.crashImages({ maxLines: 5 })].map(key);
    assert.equal(got.length, 2 ** dirty.length);
    assert.deepEqual(new Set(got), expected, 'crashImages gives every whole-page combination');
  } else {
    assert.throws(() => [...r.crashImages({ maxLines: 5 })], (e: unknown) => isFerriteError(e, 'ERANGE'));
  }
}

/** Runs one event-making call on the region and the reference, expecting the crash when due. */
function eventCall(ref: Reference, kinds: Array<'flush' | 'drain'>, call: () => void, effect: (done: number) => void): void {
  let done = 0;
  let crashed = false;
  for (const kind of kinds) {
    if (!ref.event(kind)) {
      crashed = true;
      break;
    }
    done++;
  }
  if (crashed) {
    assert.throws(call, SimulatedCrash, 'the crash strikes here');
  } else {
    call();
  }
  effect(done);
}

function runOps(length0: number, pageSize: number, sectorSize: number, ops: Op[], seed: number): void {
  const r = new SimulatedRegion(length0, { granularity: 'file', pageSize, sectorSize });
  const ref = new Reference(length0, pageSize, sectorSize);
  for (const op of ops) {
    const length = ref.length;
    switch (op.k) {
      case 'store': {
        const at = op.at % length;
        const bytes = op.bytes.slice(0, length - at);
        r.bytes.set(bytes, at);
        ref.user.set(bytes, at);
        break;
      }
      case 'flush': {
        const [at, len] = clampLen(op.at, op.len, length);
        eventCall(ref, ['flush'], () => r.flush(at, len), () => {});
        break;
      }
      case 'ranges': {
        const flat: number[] = [];
        for (const [a, l] of op.pairs) flat.push(...clampLen(a, l, length));
        eventCall(ref, op.pairs.map(() => 'flush' as const), () => r.flushRanges(flat), () => {});
        break;
      }
      case 'drain':
        eventCall(ref, ['drain'], () => r.drain(), () => {});
        break;
      case 'persist': {
        const [at, len] = clampLen(op.at, op.len, length);
        eventCall(ref, ['drain'], () => r.persist(at, len), (done) => {
          if (done === 1) ref.sync(at, len);
        });
        break;
      }
      case 'persistRanges': {
        const flat: number[] = [];
        for (const [a, l] of op.pairs) flat.push(...clampLen(a, l, length));
        eventCall(ref, ['drain'], () => r.persistRanges(flat), (done) => {
          if (done === 1) for (let i = 0; i < flat.length; i += 2) ref.sync(flat[i]!, flat[i + 1]!);
        });
        break;
      }
      case 'grow':
        if (ref.crashed) {
          assert.throws(() => r.grow(length + op.by * 8), SimulatedCrash, 'a crashed region does not grow');
        } else {
          r.grow(length + op.by * 8);
          ref.grow(length + op.by * 8);
        }
        break;
      case 'crash':
        if (!ref.crashed) {
          r.crashAfter(op.after);
          ref.countdown = op.after;
        }
        break;
    }
    compare(r, ref, seed);
  }
  r.dispose();
}

test("'file' SimulatedRegion agrees with a reference of the file model over random operations", () => {
  const sizes = fc.constantFrom<[number, number]>([64, 8], [64, 16], [512, 64], [512, 512], [1024, 128], [4096, 512]);
  fc.assert(
    fc.property(
      sizes,
      fc.integer({ min: 1, max: 400 }).map((n) => n * 8), // 8..3200 bytes, often not whole pages
      fc.array(opArb(3200), { maxLength: 30 }),
      fc.nat(),
      ([pageSize, sectorSize], length0, ops, seed) => runOps(length0, pageSize, sectorSize, ops, seed),
    ),
    { numRuns: SOAK ? 2000 : 150 },
  );
});

test("'file' SimulatedRegion agrees with the reference on recycled memory (regions of 64 KiB and more)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(65536, 65536 + 8, 131072),
      fc.array(opArb(131072), { maxLength: 10 }),
      fc.nat(),
      (length0, ops, seed) => runOps(length0, 4096, 512, ops, seed),
    ),
    { numRuns: SOAK ? 300 : 20 },
  );
});
