/**
 * Records for I/O tests: record `i` of `size` bytes has a pattern of its own with no zero byte
 * (so a record that was never written, all zeros, is told from a written one) and no 0xee
 * (the byte the tests store into private mappings, which must never reach a file).
 */
export const PRIVATE_BYTE = 0xee;

export function record(i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let j = 0; j < size; j++) out[j] = 1 + ((i * 7 + j * 13) % 200);
  return out;
}

export interface Prefix {
  /** Records 0 .. complete-1 are whole. */
  complete: number;
  /** Record `complete` is partly written (each byte its pattern's or zero). */
  partial: boolean;
  /** What breaks the prefix property; empty when it holds. */
  violations: string[];
}

/**
 * Checks that `file` holds a prefix of `count` records of `size` bytes: whole records, then
 * at most one partly written record (a program cut short), then zeros.
 */
export function prefixOf(file: Uint8Array, count: number, size: number): Prefix {
  const violations: string[] = [];
  let complete = 0;
  while (complete < count) {
    const want = record(complete, size);
    const got = file.subarray(complete * size, (complete + 1) * size);
    if (got.length !== size || !got.every((b, j) => b === want[j])) break;
    complete++;
  }
  let partial = false;
  for (let i = complete; i < count; i++) {
    const want = record(i, size);
    const got = file.subarray(i * size, (i + 1) * size);
    const zero = got.every((b) => b === 0);
    if (zero) continue;
    if (i === complete && got.every((b, j) => b === 0 || b === want[j])) {
      partial = true;
      continue;
    }
    violations.push(`record ${i} is neither whole, zero, nor the one partly written record`);
  }
  if (file.includes(PRIVATE_BYTE)) violations.push(`the file holds 0x${PRIVATE_BYTE.toString(16)} (a private store)`);
  return { complete, partial, violations };
}
