// Model-based test of SimulatedRegion: random sequences of stores, flushes, drains, persists
// and grows, run against a naive reference of the persistency model (a map of pending line
// copies and a media array), comparing media, in-flight lines and crash images after each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion } from '@ferrite/core/testing';
import type { Granularity } from '@ferrite/core';

const LINE = 64;
const PAGE = 4096;
const SOAK = process.env.FERRITE_SOAK === '1';

type Op =
  | { k: 'store'; at: number; bytes: number[] }
  | { k: 'flush'; at: number; len: number }
  | { k: 'ranges'; pairs: Array<[number, number]> }
  | { k: 'drain' }
  | { k: 'persist'; at: number; len: number }
  | { k: 'grow'; by: number };

/** The reference: the model of DESIGN.md written as plainly as possible. */
class Reference {
  live: Uint8Array;
  media: Uint8Array;
  pending = new Map<number, Uint8Array>();
  constructor(length: number, readonly granularity: Granularity) {
    this.live = new Uint8Array(length);
    this.media = new Uint8Array(length);
  }
  flush(at: number, len: number): void {
    if (len === 0) return;
    if (this.granularity === 'page') {
      const start = Math.floor(at / PAGE) * PAGE;
      const end = Math.min(this.live.length, Math.ceil((at + len) / PAGE) * PAGE);
      this.media.set(this.live.subarray(start, end), start);
      return;
    }
    for (let line = Math.floor(at / LINE); line * LINE < at + len; line++) {
      this.pending.set(line, this.live.slice(line * LINE, Math.min(this.live.length, (line + 1) * LINE)));
    }
  }
  drain(): void {
    for (const [line, copy] of this.pending) this.media.set(copy, line * LINE);
    this.pending.clear();
  }
  grow(length: number): void {
    const live = new Uint8Array(length);
    live.set(this.live);
    const media = new Uint8Array(length);
    media.set(this.media);
    this.live = live;
    this.media = media;
  }
  inflight(): number[] {
    const lines: number[] = [];
    for (let line = 0; line * LINE < this.live.length; line++) {
      const start = line * LINE;
      const end = Math.min(this.live.length, start + LINE);
      let differs = this.pending.has(line);
      for (let i = start; i < end && !differs; i++) differs = this.live[i] !== this.media[i];
      if (differs) lines.push(line);
    }
    return lines;
  }
}

function opArb(maxLength: number): fc.Arbitrary<Op> {
  const at = fc.nat(maxLength - 1);
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ k: fc.constant('store' as const), at, bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 80 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('flush' as const), at, len: fc.nat(300) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('ranges' as const), pairs: fc.array(fc.tuple(at, fc.nat(200)), { maxLength: 4 }) }) },
    { weight: 2, arbitrary: fc.constant({ k: 'drain' as const }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('persist' as const), at, len: fc.nat(300) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('grow' as const), by: fc.integer({ min: 0, max: 64 }) }) },
  );
}

function clampLen(at: number, len: number, length: number): [number, number] {
  const a = Math.min(at, length);
  return [a, Math.min(len, length - a)];
}

function u32(bytes: Uint8Array, off: number): number {
  return bytes[off]! | (bytes[off + 1]! << 8) | (bytes[off + 2]! << 16) | (bytes[off + 3]! << 24);
}

function sameWord(a: Uint8Array, b: Uint8Array, off: number): boolean {
  return u32(a, off) === u32(b, off) && u32(a, off + 4) === u32(b, off + 4);
}

function compare(r: SimulatedRegion, ref: Reference, seed: number): void {
  assert.deepEqual(r.bytes, ref.live);
  assert.deepEqual(r.media(), ref.media);
  const lines = ref.inflight();
  const runs: Array<{ offset: number; length: number }> = [];
  for (const line of lines) {
    const offset = line * LINE;
    const length = Math.min(LINE, ref.live.length - offset);
    const last = runs[runs.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else runs.push({ offset, length });
  }
  assert.deepEqual(r.unpersisted(), runs);
  assert.deepEqual(r.crashImage({ seed, mode: 'media' }), ref.media);
  assert.deepEqual(r.crashImage({ seed, mode: 'live' }), ref.live);
  const inflight = new Set(lines);
  const images: Uint8Array[] = [r.crashImage({ seed, mode: 'words' }), r.crashImage({ seed, mode: 'lines' })];
  // Few distinct images: enumerate them all; they must be distinct and valid too.
  const count = r.crashImageCount(16);
  if (count <= 16) {
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const image = r.crashImage({ seed: i, mode: 'enumerate' });
      seen.add(Buffer.from(image).toString('base64'));
      images.push(image);
    }
    assert.equal(seen.size, count, 'enumerated images are distinct');
    assert.deepEqual(images[2], ref.media, 'image 0 is the media');
  }
  for (const image of images) {
    for (let off = 0; off < image.length; off += 8) {
      const line = Math.floor(off / LINE);
      if (!inflight.has(line)) {
        assert.ok(sameWord(image, ref.media, off), `clean word ${off} equals the media`);
        continue;
      }
      const p = ref.pending.get(line);
      const ok =
        sameWord(image, ref.media, off) ||
        sameWord(image, ref.live, off) ||
        (p !== undefined && u32(image, off) === u32(p, off - line * LINE) && u32(image, off + 4) === u32(p, off - line * LINE + 4));
      assert.ok(ok, `word ${off} is one of its candidates`);
    }
  }
}

function runOps(granularity: Granularity, length0: number, ops: Op[], seed: number): void {
  const r = new SimulatedRegion(length0, { granularity });
  const ref = new Reference(length0, granularity);
  for (const op of ops) {
    const length = ref.live.length;
    switch (op.k) {
      case 'store': {
        const at = op.at % length;
        const bytes = op.bytes.slice(0, length - at);
        r.bytes.set(bytes, at);
        ref.live.set(bytes, at);
        break;
      }
      case 'flush': {
        const [at, len] = clampLen(op.at, op.len, length);
        r.flush(at, len);
        ref.flush(at, len);
        break;
      }
      case 'ranges': {
        const flat: number[] = [];
        for (const [a, l] of op.pairs) flat.push(...clampLen(a, l, length));
        r.flushRanges(flat);
        for (let i = 0; i < flat.length; i += 2) ref.flush(flat[i]!, flat[i + 1]!);
        break;
      }
      case 'drain':
        r.drain();
        ref.drain();
        break;
      case 'persist': {
        const [at, len] = clampLen(op.at, op.len, length);
        r.persist(at, len);
        ref.flush(at, len);
        ref.drain();
        break;
      }
      case 'grow':
        r.grow(length + op.by * 8);
        ref.grow(length + op.by * 8);
        break;
    }
    compare(r, ref, seed);
  }
  // Give the memory back, so that later runs work on recycled arrays (large ones only).
  r.dispose();
}

for (const granularity of ['cache-line', 'page'] as const) {
  test(`SimulatedRegion (${granularity}) agrees with a reference model over random operations`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 320 }).map((n) => n * 8), // 8..2560 bytes, often not whole lines
        fc.array(opArb(2560), { maxLength: 40 }),
        fc.nat(),
        (length0, ops, seed) => runOps(granularity, length0, ops, seed),
      ),
      { numRuns: SOAK ? 2000 : 150 },
    );
  });
}

test('regression: a store that makes a word read as float -0 is in flight (seed 928355220)', () => {
  runOps('cache-line', 8, [{ k: 'store', at: 1007, bytes: [128, 0] }], 0);
});

test('SimulatedRegion agrees with the reference on recycled memory (regions of 64 KiB and more)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(65536, 65536 + 8, 131072),
      fc.array(opArb(131072), { maxLength: 12 }),
      fc.nat(),
      fc.constantFrom<Granularity>('cache-line', 'page'),
      (length0, ops, seed, granularity) => runOps(granularity, length0, ops, seed),
    ),
    { numRuns: SOAK ? 300 : 25 },
  );
});
