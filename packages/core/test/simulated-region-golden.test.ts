// Replay guard for the NVM granularities ('cache-line' and 'page'): crash images are
// reproduced from their seeds (printed by failing crash tests, kept in regressions), so a
// change of the simulator must not change a single byte of the images an existing seed
// selects. Each test drives a region through a fixed pseudo-random history, takes images in
// every mode (seeded, enumerated, line-enumerated, chooser) and through the harness, and
// compares a CRC-32C over all of them with the value the simulator gave at commit 7e245f8
// (before the 'file' granularity existed). A mismatch means old seeds replay differently:
// fix the simulator, do not update the constant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@ferrite/core';
import { Prng, SimulatedRegion, forEveryCrashPoint, type CrashScenario } from '@ferrite/core/testing';

type NvmGranularity = 'cache-line' | 'page';

/** Accumulates a CRC over a sequence of byte arrays and numbers. */
class Digest {
  crc = 0;
  bytes(b: Uint8Array): void {
    this.crc = crc32c(b, 0, b.length, this.crc);
  }
  num(n: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, n, true);
    this.bytes(b);
  }
}

/** A fixed history of stores, flushes, flushRanges, drains, persists and one grow. */
function history(granularity: NvmGranularity, steps: number, seed: number): SimulatedRegion {
  const prng = new Prng(seed);
  let r = new SimulatedRegion(3 * 4096, { granularity });
  for (let i = 0; i < steps; i++) {
    const length = r.length;
    const pick = prng.below(10);
    if (pick < 5) {
      const at = prng.below(length);
      const n = 1 + prng.below(Math.min(96, length - at));
      for (let k = 0; k < n; k++) r.bytes[at + k] = prng.below(256);
    } else if (pick < 7) {
      const at = prng.below(length);
      r.flush(at, prng.below(length - at + 1));
    } else if (pick === 7) {
      const at = prng.below(length);
      r.flushRanges([at, prng.below(length - at + 1), 0, prng.below(200)]);
    } else if (pick === 8) {
      r.drain();
    } else {
      const at = prng.below(length);
      r.persist(at, prng.below(Math.min(300, length - at + 1)));
    }
    if (i === Math.floor(steps / 2)) r.grow(length + 4096);
  }
  return r;
}

function imagesDigest(granularity: NvmGranularity): number {
  const d = new Digest();
  for (const [steps, seed] of [[30, 1], [60, 2], [8, 3]] as const) {
    const r = history(granularity, steps, seed);
    d.bytes(r.media());
    d.bytes(r.bytes);
    for (const run of r.unpersisted()) {
      d.num(run.offset);
      d.num(run.length);
    }
    for (let seed2 = 0; seed2 < 24; seed2++) d.bytes(r.crashImage(seed2));
    for (const mode of ['media', 'live', 'lines', 'words'] as const) {
      for (const s of [7, 0xfffffff, -5, 123456789]) d.bytes(r.crashImage({ seed: s, mode }));
    }
    const count = r.crashImageCount(64);
    d.num(count);
    for (let i = 0; i < Math.min(count, 64); i++) d.bytes(r.crashImage({ seed: i, mode: 'enumerate' }));
    let k = 0;
    d.bytes(r.crashImage((offset, hasPending) => (hasPending && k++ % 3 === 1 ? 'pending' : offset % 24 === 0 ? 'live' : 'media')));
    try {
      for (const image of r.crashImages({ maxLines: 6 })) d.bytes(image);
    } catch {
      d.num(-1);
    }
    d.bytes(r.crashRegion(5).bytes);
  }
  return d.crc >>> 0;
}

function harnessDigest(granularity: NvmGranularity): number {
  const d = new Digest();
  const scenario: CrashScenario<null, number> = {
    setup: () => ({ region: history(granularity, 12, 9), state: null }),
    run(r) {
      for (let i = 0; i < 6; i++) {
        r.bytes.fill(i + 1, 4096 * (i % 3) + 64 * i, 4096 * (i % 3) + 64 * i + 40);
        if (i % 2 === 0) r.flush(4096 * (i % 3), 4096);
        else r.persist(4096 * (i % 3) + 64 * i, 40);
      }
    },
    recover(r) {
      const crc = crc32c(r.bytes, 0, r.length);
      r.bytes[0] ^= 1; // a recovery that writes and flushes, so it can be crashed
      r.persist(0, 8);
      return crc;
    },
    check(result, ctx) {
      d.num(result);
      d.num(ctx.plan.crashAt);
      d.num(ctx.plan.seed);
      d.num(ctx.depth);
      for (const rc of ctx.plan.recovery) {
        d.num(rc.crashAt);
        d.num(rc.seed);
      }
    },
    recoveryCrashDepth: 2,
  };
  d.num(forEveryCrashPoint({ ...scenario, seeds: 6 }));
  return d.crc >>> 0;
}

// Values computed by this file on commit 7e245f8 (the simulator before the 'file' granularity).
const GOLDEN: Record<NvmGranularity, { images: number; harness: number }> = {
  'cache-line': { images: 2622824992, harness: 1950038791 },
  page: { images: 3423160791, harness: 3075594599 },
};

for (const granularity of ['cache-line', 'page'] as const) {
  test(`${granularity}: existing seeds give the same images as before the file model`, () => {
    assert.equal(imagesDigest(granularity), GOLDEN[granularity].images);
  });
  test(`${granularity}: the harness checks the same states with the same plans as before`, () => {
    assert.equal(harnessDigest(granularity), GOLDEN[granularity].harness);
  });
}
