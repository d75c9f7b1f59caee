/**
 * Cost of crash images on a 1 MiB simulated region (NVM lines, and the file model's pages
 * and sectors): the crash harness makes one per checked state, tens of thousands per CI
 * run. Medium: DRAM only (the simulator).
 * Prints `name: median X µs (n samples)`.
 */
import { SimulatedRegion } from '@ferrite/core/testing';

const MIB = 1 << 20;
const SAMPLES = 300;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function measure(name: string, fn: (i: number) => unknown): void {
  for (let i = 0; i < 20; i++) fn(i); // warm-up: let the JIT settle
  const times: number[] = [];
  let sink = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = process.hrtime.bigint();
    const out = fn(i);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (out instanceof Uint8Array) sink ^= out[0]!;
  }
  console.log(`${name}: median ${median(times).toFixed(1)} µs (${SAMPLES} samples)`);
  if (sink === 0x1234) console.log('');
}

/** A 1 MiB region with `dirty` in-flight lines spread over it, half of them flushed. */
function regionWith(dirty: number): SimulatedRegion {
  const r = new SimulatedRegion(MIB);
  const lines = MIB / 64;
  const step = Math.floor(lines / dirty);
  for (let i = 0; i < dirty; i++) {
    const off = i * step * 64;
    r.bytes.fill(i & 0xff | 1, off, off + 64);
    if (i % 2 === 0) r.flush(off, 64);
  }
  return r;
}

for (const dirty of [4, 1000]) {
  const r = regionWith(dirty);
  measure(`crash image 1 MiB, ${dirty} dirty lines, mode words`, (i) => r.crashImage({ seed: i, mode: 'words' }));
  measure(`crash image 1 MiB, ${dirty} dirty lines, mode lines`, (i) => r.crashImage({ seed: i, mode: 'lines' }));
  measure(`crash image 1 MiB, ${dirty} dirty lines, mode media (copy only)`, (i) => r.crashImage({ seed: i, mode: 'media' }));
  measure(`unpersisted 1 MiB, ${dirty} dirty lines (scan only)`, () => r.unpersisted());
  measure(`crash region 1 MiB, ${dirty} dirty lines, mode words`, (i) => r.crashRegion({ seed: i, mode: 'words' }));
}

// The file model ('file' granularity, a disk): dirty 4 KiB pages, images per page or torn
// per 512-byte sector; counting the images scans every dirty sector.
function diskWith(dirty: number): SimulatedRegion {
  const r = new SimulatedRegion(MIB, { granularity: 'file' });
  const pages = MIB / 4096;
  const step = Math.floor(pages / dirty);
  for (let i = 0; i < dirty; i++) r.bytes.fill(i & 0xff | 1, i * step * 4096, i * step * 4096 + 1000);
  return r;
}

for (const dirty of [4, 200]) {
  const r = diskWith(dirty);
  measure(`file model: crash image 1 MiB, ${dirty} dirty pages, mode sectors`, (i) => r.crashImage({ seed: i, mode: 'sectors' }));
  measure(`file model: crash image 1 MiB, ${dirty} dirty pages, mode pages`, (i) => r.crashImage({ seed: i, mode: 'pages' }));
  measure(`file model: crashImageCount 1 MiB, ${dirty} dirty pages`, () => r.crashImageCount(64));
  measure(`file model: fdatasync of 1 MiB (persist of the whole region)`, () => r.persist(0, MIB));
}

// The harness end to end: one checked state of a small protocol (setup, run to the crash,
// image, recovery region, check), on a 4 KiB and a 1 MiB region.
import { forEveryCrashPoint } from '@ferrite/core/testing';

for (const size of [4096, 256 * 1024, MIB]) {
  const scenario = {
    setup() {
      const region = new SimulatedRegion(size);
      return { region, state: null };
    },
    run(region: SimulatedRegion) {
      for (let i = 0; i < 4; i++) {
        region.bytes[i * 64] = i + 1;
        region.persist(i * 64, 8);
      }
    },
    recover(region: SimulatedRegion) {
      return region.bytes[0]!;
    },
    check() {},
  };
  // CPU time rather than wall time: the sweep is memory-bound and CI machines are shared.
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const c0 = process.cpuUsage();
    const states = forEveryCrashPoint(scenario);
    const c = process.cpuUsage(c0);
    times.push((c.user + c.system) / states);
  }
  const label = size >= MIB ? `${size / MIB} MiB` : `${size / 1024} KiB`;
  console.log(`forEveryCrashPoint CPU per checked state, ${label} region: median ${median(times).toFixed(1)} µs (30 samples)`);
}
