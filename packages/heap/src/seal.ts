/**
 * The seal of a sealed commit: a fast, non-linear 64-bit hash over a commit record's fields and
 * the contents of the ranges it lists (see transaction.ts for how recovery uses it).
 *
 * Why not CRC: table CRC in JS costs ~1.5 ns a byte, too slow for the commit path, and two CRCs
 * with different seeds are not independent (CRC is linear: a change that cancels in one cancels
 * in the other). Why not a cryptographic hash: nothing here is adversarial (the only writer of
 * the pool is the transaction being sealed), and one costs microseconds.
 *
 * Two multiply/rotate lanes with different constants, each over little-endian 32-bit words read
 * through a DataView (any alignment; a 1-3 byte tail is packed into one last word, tagged with
 * its size), each finished by murmur3's fmix32. Per word each lane's step (xor or add, rotate,
 * multiply by an odd constant) is a bijection of the word for a fixed state and a bijection of
 * the state for a fixed word, and each half of the result is a bijection of one lane, so changing any single word (or any bytes inside one) changes both 32-bit halves of
 * the seal with certainty. For changes of several words there is no proof: the bound quoted in
 * the README and transaction.ts (a wrong match with probability about 2^-64 per check) is what
 * a well-mixed 64-bit hash gives against non-adversarial data, not a guarantee.
 *
 * Written as one function over locals: object fields holding 32-bit values that do not fit a
 * small integer cost an allocation per store, which made a first, class-based version 3x slower.
 */
import { fmix32 } from '@ferrite/core';

const C1 = 0xcc9e2d51;
const C3 = 0x85ebca6b;

// One multiply per word and lane (the commit path seals every transaction); the lanes differ
// in how the word enters (xor / add), their rotations and their odd multipliers, and the
// finalizer below does the avalanche.
function lane1(h: number, w: number): number {
  const x = h ^ w;
  return (Math.imul((x << 13) | (x >>> 19), C1) + 0x6b64e654) | 0;
}

function lane2(h: number, w: number): number {
  const x = (h + w) | 0;
  return Math.imul((x << 17) | (x >>> 15), C3) ^ 0x7f4a7c15;
}

/**
 * Seals generation `gen`, a small integer `tag` (the record's range count), the first `count`
 * (offset, length) pairs of `ranges` and the bytes of `view` they cover: `out[0]`, `out[1]`
 * receive the low and high halves. Every offset and length must be a non-negative safe
 * integer and every range must lie inside `view` (callers validate; a DataView read outside
 * throws).
 */
export function seal(view: DataView, gen: number, tag: number, ranges: ArrayLike<number>, count: number, out: Uint32Array): void {
  let h1 = 0x9747b28c | 0;
  let h2 = 0x6a09e667 | 0;
  let words = 0;
  // The record's own fields first: a torn record fails like torn data.
  const genLo = gen >>> 0;
  const genHi = Math.floor(gen / 0x100000000) >>> 0;
  h1 = lane1(lane1(lane1(lane1(h1, genLo), genHi), count), tag);
  h2 = lane2(lane2(lane2(lane2(h2, genLo), genHi), count), tag);
  words += 4;
  for (let i = 0; i < count; i++) {
    const offset = ranges[2 * i]!;
    const length = ranges[2 * i + 1]!;
    const lo = offset >>> 0;
    const hi = Math.floor(offset / 0x100000000) >>> 0;
    h1 = lane1(lane1(lane1(h1, lo), hi), length);
    h2 = lane2(lane2(lane2(h2, lo), hi), length);
    words += 3;
  }
  for (let i = 0; i < count; i++) {
    const offset = ranges[2 * i]!;
    const end = offset + ranges[2 * i + 1]!;
    const whole = end - ((end - offset) & 3);
    if (whole <= 0x7fffffff) {
      // Small-integer positions: the ranges come from a Float64Array, and a DataView read at a
      // double position costs a conversion per word (1.7x slower here).
      for (let p = offset | 0, e = whole | 0; p < e; p += 4) {
        const w = view.getUint32(p, true);
        h1 = lane1(h1, w);
        h2 = lane2(h2, w);
      }
    } else {
      for (let p = offset; p < whole; p += 4) {
        const w = view.getUint32(p, true);
        h1 = lane1(h1, w);
        h2 = lane2(h2, w);
      }
    }
    words += (whole - offset) >>> 2;
    if (whole < end) {
      let w = (end - whole) << 24;
      for (let p = whole, sh = 0; p < end; p++, sh += 8) w |= view.getUint8(p) << sh;
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
      words++;
    }
  }
  out[0] = fmix32(h1 ^ words);
  out[1] = fmix32(h2 ^ Math.imul(words, C1));
}
