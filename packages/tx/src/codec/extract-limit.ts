/**
 * msgpackr decodes strings with msgpackr-extract, a native addon, when it is installed (it is
 * an optional dependency of msgpackr): it takes positions in the ArrayBuffer as 32-bit
 * integers, so bytes at or past 2^32 in their buffer do not decode ("Unexpected end of
 * buffer", or "start and end must be within the ArrayBuffer"). In a pool larger than 4 GiB
 * values lie there; msgpackr gets a copy of them instead (a copy per read, for those values
 * only).
 */

/** The first byte position in an ArrayBuffer that msgpackr-extract cannot address. */
export const EXTRACT_LIMIT = 2 ** 32;

/** True when bytes[start, end) reach past what msgpackr-extract can address. */
export function pastExtractLimit(bytes: Uint8Array, end: number): boolean {
  return bytes.byteOffset + end > EXTRACT_LIMIT;
}
