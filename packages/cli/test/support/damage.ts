/**
 * Damage generators for pool images: the classes of harm a pool file meets in the wild.
 * A `Damage` is plain JSON (so a batch can be handed to a child process and a failing case
 * printed as its own reproducer); `applyDamage` turns a base image into the damaged one,
 * deterministically. `damageArbitrary` draws damages with fast-check.
 *
 * Classes: bit flips, zeroed ranges, truncation, extension, swapped pages, a valid header
 * over garbage, a header taken from another pool (whose size and layout disagree), plausible
 * offsets written over words, and header fields changed with the checksum recomputed (the
 * header layout comes from the heap's sources: this is a test of that format).
 */
import fc from 'fast-check';
import { crc32c } from '@ferrite/core';
import { HEADER_A, HEADER_B, H_CRC, H_HEAP_OFFSET, H_SIZE, H_VERSION, H_FLAGS, H_LOG_OFFSET, H_CHUNK_SIZE, H_SEQ, H_LAYOUT } from '../../../heap/src/layout.js';

/** Page size used for swaps and for "the header area" (the heap's headers live in page 0..1). */
export const DAMAGE_PAGE = 4096;

export type Fill = 'random' | 'ones' | 'small-words';

export type Damage =
  | { readonly kind: 'bitflip'; readonly flips: readonly (readonly [offset: number, bit: number])[] }
  | { readonly kind: 'zero'; readonly offset: number; readonly length: number }
  | { readonly kind: 'truncate'; readonly length: number }
  | { readonly kind: 'extend'; readonly by: number; readonly fill: Fill; readonly seed: number }
  | { readonly kind: 'swap'; readonly a: number; readonly b: number }
  | { readonly kind: 'garbage'; readonly keep: number; readonly fill: Fill; readonly seed: number }
  | { readonly kind: 'foreign-header'; readonly donor: number; readonly span: number }
  | { readonly kind: 'words'; readonly writes: readonly (readonly [offset: number, value: number])[] }
  /** A header field changed and the copy's checksum recomputed: damage the checksum cannot see. */
  | { readonly kind: 'resealed'; readonly field: number; readonly width: 1 | 4 | 8; readonly value: number; readonly copies: 'A' | 'B' | 'both' }
  | { readonly kind: 'combo'; readonly parts: readonly Damage[] };

export type DamageKind = Damage['kind'];

/** mulberry32: tiny, seeded, deterministic; enough for filling garbage. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * Fills bytes[start, end) with a pattern. `small-words` writes little-endian u64 words whose
 * values lie inside the image (multiples of 8), the garbage most likely to pass a range check
 * and lead a reader somewhere, so it reaches deeper than uniform noise.
 */
export function fill(bytes: Uint8Array, start: number, end: number, pattern: Fill, seed: number, limit: number): void {
  const next = rng(seed);
  if (pattern === 'ones') {
    bytes.fill(0xff, start, end);
    return;
  }
  if (pattern === 'random') {
    for (let i = start; i < end; i++) bytes[i] = next() & 0xff;
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const r = next();
    const value = r % 4 === 0 ? next() % 256 : (next() % Math.max(1, Math.floor(limit / 8))) * 8;
    view.setUint32(i, value >>> 0, true);
    view.setUint32(i + 4, 0, true);
  }
  for (; i < end; i++) bytes[i] = next() & 0xff;
}

/**
 * Returns the damaged copy of `base` (never modifies `base`). `donors` are other valid images
 * for `foreign-header`. Offsets beyond the image are clamped, so any Damage applies to any image.
 */
export function applyDamage(base: Uint8Array, damage: Damage, donors: readonly Uint8Array[] = []): Uint8Array {
  switch (damage.kind) {
    case 'bitflip': {
      const out = base.slice();
      for (const [offset, bit] of damage.flips) {
        if (out.length === 0) break;
        out[offset % out.length] ^= 1 << (bit & 7);
      }
      return out;
    }
    case 'zero': {
      const out = base.slice();
      const start = Math.min(damage.offset, out.length);
      out.fill(0, start, Math.min(out.length, start + damage.length));
      return out;
    }
    case 'truncate':
      return base.slice(0, Math.min(damage.length, base.length));
    case 'extend': {
      const out = new Uint8Array(base.length + damage.by);
      out.set(base);
      if (damage.fill !== 'random' || damage.seed % 2 === 0) {
        // Half of the random-fill extensions stay zero: what ftruncate gives.
        if (damage.fill !== 'random') fill(out, base.length, out.length, damage.fill, damage.seed, out.length);
      } else {
        fill(out, base.length, out.length, 'random', damage.seed, out.length);
      }
      return out;
    }
    case 'swap': {
      const out = base.slice();
      const pages = Math.floor(out.length / DAMAGE_PAGE);
      if (pages < 2) return out;
      const a = (damage.a % pages) * DAMAGE_PAGE;
      const b = (damage.b % pages) * DAMAGE_PAGE;
      const tmp = out.slice(a, a + DAMAGE_PAGE);
      out.copyWithin(a, b, b + DAMAGE_PAGE);
      out.set(tmp, b);
      return out;
    }
    case 'garbage': {
      const out = base.slice();
      fill(out, Math.min(damage.keep, out.length), out.length, damage.fill, damage.seed, out.length);
      return out;
    }
    case 'foreign-header': {
      const out = base.slice();
      if (donors.length === 0) return out;
      // A header from the image itself changes nothing: take the next donor instead.
      let donor = donors[damage.donor % donors.length];
      if (donor === base && donors.length > 1) donor = donors[(damage.donor + 1) % donors.length];
      const span = Math.min(damage.span, donor.length, out.length);
      out.set(donor.subarray(0, span), 0);
      return out;
    }
    case 'words': {
      const out = base.slice();
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      for (const [offset, value] of damage.writes) {
        const at = Math.floor((offset % Math.max(1, out.length - 7)) / 8) * 8;
        if (at + 8 > out.length) continue;
        view.setUint32(at, value >>> 0, true);
        view.setUint32(at + 4, Math.floor(value / 2 ** 32) >>> 0, true);
      }
      return out;
    }
    case 'resealed': {
      const out = base.slice();
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      const copies = damage.copies === 'both' ? [HEADER_A, HEADER_B] : [damage.copies === 'A' ? HEADER_A : HEADER_B];
      for (const at of copies) {
        if (at + H_CRC + 4 > out.length) continue;
        const where = at + damage.field;
        if (damage.width === 1) out[where] = damage.value & 0xff;
        else if (damage.width === 4) view.setUint32(where, damage.value >>> 0, true);
        else {
          view.setUint32(where, damage.value >>> 0, true);
          view.setUint32(where + 4, Math.floor(damage.value / 2 ** 32) >>> 0, true);
        }
        view.setUint32(at + H_CRC, crc32c(out, at, H_CRC), true);
      }
      return out;
    }
    case 'combo': {
      let out = base;
      for (const part of damage.parts) out = applyDamage(out, part, donors);
      return out === base ? base.slice() : out;
    }
  }
}

/** Offsets: half in the first two pages (headers, log, allocator roots), half anywhere. */
function offsetIn(size: number): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 0, max: Math.min(size, 2 * DAMAGE_PAGE) - 1 }), fc.integer({ min: 0, max: size - 1 }));
}

const fillArb: fc.Arbitrary<Fill> = fc.constantFrom<Fill>('random', 'ones', 'small-words');

/** Draws one damage of `kind` for an image of `size` bytes. */
export function damageOf(kind: Exclude<DamageKind, 'combo'>, size: number, donorCount = 1): fc.Arbitrary<Damage> {
  switch (kind) {
    case 'bitflip':
      return fc
        .array(fc.tuple(offsetIn(size), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 })
        .map((flips) => ({ kind, flips }));
    case 'zero':
      return fc
        .record({ offset: offsetIn(size), length: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: size })) })
        .map(({ offset, length }) => ({ kind, offset, length }));
    case 'truncate':
      return fc
        .oneof(
          fc.constantFrom(0, 1, 7, 8, 63, 64, 4095, 4096, 8192, size - 4096, size - 1),
          fc.integer({ min: 0, max: size - 1 }),
        )
        .map((length) => ({ kind, length: Math.max(0, Math.min(length, size - 1)) }));
    case 'extend':
      return fc
        .record({
          by: fc.oneof(fc.constantFrom(1, 8, 4096, size), fc.integer({ min: 1, max: 2 * size })),
          fill: fillArb,
          seed: fc.nat(),
        })
        .map(({ by, fill: f, seed }) => ({ kind, by, fill: f, seed }));
    case 'swap': {
      const pages = Math.max(1, Math.floor(size / DAMAGE_PAGE));
      const page = fc.oneof(fc.integer({ min: 0, max: Math.min(3, pages - 1) }), fc.integer({ min: 0, max: pages - 1 }));
      return fc
        .tuple(page, page)
        .filter(([a, b]) => a !== b || pages === 1)
        .map(([a, b]) => ({ kind, a, b }));
    }
    case 'garbage':
      return fc
        .record({
          keep: fc.constantFrom(64, 128, 256, 512, 1024, DAMAGE_PAGE, 2 * DAMAGE_PAGE),
          fill: fillArb,
          seed: fc.nat(),
        })
        .map(({ keep, fill: f, seed }) => ({ kind, keep, fill: f, seed }));
    case 'foreign-header':
      return fc
        .record({
          donor: fc.integer({ min: 0, max: Math.max(0, donorCount - 1) }),
          span: fc.constantFrom(64, 128, 256, 512, 1024, DAMAGE_PAGE, 2 * DAMAGE_PAGE),
        })
        .map(({ donor, span }) => ({ kind, donor, span }));
    case 'resealed': {
      const u64Fields = [H_SIZE, H_LOG_OFFSET, H_HEAP_OFFSET, H_CHUNK_SIZE, H_SEQ];
      const u64Values = fc.oneof(
        fc.constantFrom(0, 1, 8, 512, 576, 4096, 16384, 32768, size, size - 16384, size + 16384, 2 * size, 2 ** 32, 2 ** 40, 2 ** 53 - 1, 2 ** 53),
        fc.integer({ min: 0, max: 4 * size }),
      );
      const copies = fc.constantFrom<'A' | 'B' | 'both'>('A', 'B', 'both', 'both');
      return fc.oneof(
        fc.record({ field: fc.constantFrom(...u64Fields), value: u64Values, copies }).map(({ field, value, copies: c }) => ({ kind, field, width: 8 as const, value, copies: c })),
        fc.record({ field: fc.constantFrom(H_VERSION, H_FLAGS), value: fc.constantFrom(0, 2, 0xffffffff, 1 << 16), copies }).map(({ field, value, copies: c }) => ({ kind, field, width: 4 as const, value, copies: c })),
        fc.record({ field: fc.integer({ min: H_LAYOUT, max: H_SIZE - 1 }), value: fc.constantFrom(0, 0x41, 0xc3, 0xff, 0x80), copies }).map(({ field, value, copies: c }) => ({ kind, field, width: 1 as const, value, copies: c })),
      );
    }
    case 'words':
      return fc
        .array(
          fc.tuple(
            offsetIn(size),
            fc.oneof(
              fc.constantFrom(0, 1, 8, 0xffffffff, 2 ** 53 - 1, 2 ** 32, size, size - 8, size + 8),
              fc.integer({ min: 0, max: size / 8 }).map((w) => w * 8),
            ),
          ),
          { minLength: 1, maxLength: 6 },
        )
        .map((writes) => ({ kind, writes }));
  }
}

/** Every single damage class (the CLI tests take one case of each). */
export const DAMAGE_KINDS: readonly Exclude<DamageKind, 'combo'>[] = [
  'bitflip',
  'zero',
  'truncate',
  'extend',
  'swap',
  'garbage',
  'foreign-header',
  'words',
  'resealed',
];

/** Any damage, single or a combination of two or three, for an image of `size` bytes. */
export function damageArbitrary(size: number, donorCount = 1): fc.Arbitrary<Damage> {
  const single = fc.oneof(...DAMAGE_KINDS.map((k) => damageOf(k, size, donorCount)));
  return fc.oneof(
    { weight: 5, arbitrary: single },
    { weight: 1, arbitrary: fc.array(single, { minLength: 2, maxLength: 3 }).map((parts): Damage => ({ kind: 'combo', parts })) },
  );
}

/** A short description of a damage for reports. */
export function describeDamage(d: Damage): string {
  return JSON.stringify(d);
}
