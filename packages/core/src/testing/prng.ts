/**
 * A small, fast, seeded pseudo-random generator (sfc32 seeded through splitmix32).
 *
 * Crash images must replay exactly from a seed, so the simulator never uses Math.random.
 * sfc32 passes PractRand for far more output than a crash image draws, and costs a few
 * integer operations per 32-bit draw.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is reduced to an unsigned 32-bit integer; equal seeds give equal sequences. */
  constructor(seed: number) {
    let s = seed >>> 0;
    // splitmix32 spreads nearby seeds (0, 1, 2, ...) over unrelated initial states.
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // sfc32 needs a few rounds before its output is well mixed.
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** The next unsigned 32-bit value. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A value in [0, n) for 1 <= n <= 2^32 (modulo bias is irrelevant for n <= 3). */
  below(n: number): number {
    return this.nextU32() % n;
  }
}
