/**
 * CRC-32C (Castagnoli), the checksum of headers and log entries.
 *
 * Table-driven, slicing by 8 bytes. CRC-32C rather than CRC-32 because it detects more
 * error patterns in short messages, and it is what hardware accelerates: @ferrite/native,
 * when it loads on a CPU with the crc32 instruction, installs it with `accelerateCrc32c` for
 * inputs of ACCELERATE_FROM bytes and more (a redo-log record of a big commit: hundreds of KiB,
 * where this table version runs at ~0.7 GB/s). Below that size a native call costs more than
 * it saves. Either way the result is the same number.
 */
import { invalidArgument } from './arguments.js';

const TABLES: Uint32Array[] = makeTables();

function makeTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    tables.push(cur);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  Uint32Array, Uint32Array, Uint32Array, Uint32Array,
];

/** Inputs from this many bytes go to the accelerated implementation, when one is installed. */
export const ACCELERATE_FROM = 256;

type Crc32cImpl = (bytes: Uint8Array, offset: number, length: number, seed: number) => number;
let accelerated: Crc32cImpl | undefined;

/**
 * Installs `impl`, another implementation of `crc32c` (the native layer's), for inputs of
 * ACCELERATE_FROM bytes or more. It is first checked against this module's own over inputs of
 * several lengths, alignments and seeds: one that disagrees anywhere is not installed (a
 * checksum that changed would make every pool read as damaged). Returns whether it was.
 * @throws EINVAL when `impl` is not a function.
 */
export function accelerateCrc32c(impl: Crc32cImpl): boolean {
  if (typeof impl !== 'function') throw invalidArgument('accelerateCrc32c', 'impl', 'a function', impl);
  const probe = new Uint8Array(ACCELERATE_FROM * 2 + 13);
  for (let i = 0; i < probe.length; i++) probe[i] = (i * 167 + 13) & 0xff;
  const cases: [number, number, number][] = [
    [0, 0, 0], [0, 1, 0], [3, 7, 0x12345678], [1, ACCELERATE_FROM, 0], [5, ACCELERATE_FROM + 3, 0xffffffff],
    [0, probe.length, 0], [13, probe.length - 13, 0x9e3779b9],
  ];
  try {
    for (const [offset, length, seed] of cases) {
      if (impl(probe, offset, length, seed) !== crc32cTable(probe, offset, length, seed)) return false;
    }
  } catch {
    return false;
  }
  accelerated = impl;
  return true;
}

/** True when an accelerated implementation is installed (see `accelerateCrc32c`). */
export function crc32cAccelerated(): boolean {
  return accelerated !== undefined;
}

/**
 * CRC-32C of `bytes[offset, offset + length)`, continuing from `seed` (the value returned by
 * a previous call over the preceding bytes; 0 to start).
 */
export function crc32c(bytes: Uint8Array, offset = 0, length = bytes.length - offset, seed = 0): number {
  if (length >= ACCELERATE_FROM && accelerated !== undefined) return accelerated(bytes, offset, length, seed);
  return crc32cTable(bytes, offset, length, seed);
}

/** The table-driven CRC-32C (see `crc32c`). */
function crc32cTable(bytes: Uint8Array, offset: number, length: number, seed: number): number {
  let crc = ~seed >>> 0;
  let i = offset;
  const end = offset + length;
  while (end - i >= 8) {
    const a = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^ crc;
    crc =
      T7[a & 0xff]! ^ T6[(a >>> 8) & 0xff]! ^ T5[(a >>> 16) & 0xff]! ^ T4[a >>> 24]! ^
      T3[bytes[i + 4]!]! ^ T2[bytes[i + 5]!]! ^ T1[bytes[i + 6]!]! ^ T0[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < end) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
