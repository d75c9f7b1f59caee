/**
 * Chunk headers and size classes.
 *
 * Every chunk of the heap starts with one 8-byte header word, but only the headers at the
 * start of a span are meaningful: a walk goes `i += span(i)` and never reads the others.
 *
 * ```
 * low u32:  kind (8 bits) | arg (24 bits)       high u32: check(low), 0 when low is 0
 *   FREE   arg = n - 1   a free span of n chunks (an all-zero word is FREE(1): grown space is free)
 *   RUN    arg = class   one chunk of equal blocks of that size class, with a bitmap
 *   EXTENT arg = n       one allocated block of n chunks; data at chunk start + 64
 *   LOG    arg = n       n chunks owned by the undo log (an overflow segment)
 * ```
 *
 * The check half makes a random or torn word decode as damage, not as a plausible header.
 */
export const KIND_FREE = 0;
export const KIND_RUN = 1;
export const KIND_EXTENT = 2;
export const KIND_LOG = 3;

/** Longest span one header describes (24-bit argument). Longer free spans use several headers. */
export const MAX_SPAN = 0xffffff;

export function headerCheck(low: number): number {
  if (low === 0) return 0;
  return (Math.imul((low ^ 0x5bd1e995) >>> 0, 0x9e3779b1) | 1) >>> 0;
}

export function encodeLow(kind: number, arg: number): number {
  return (kind | (arg << 8)) >>> 0;
}

export interface DecodedHeader {
  kind: number;
  /** Chunks the span covers (1 for a run). */
  span: number;
  /** Size class index for runs. */
  cls: number;
}

/** Decodes a header word; returns undefined for damage (bad check, unknown kind, bad class). */
export function decodeHeader(low: number, high: number, out: DecodedHeader): boolean {
  if (high !== headerCheck(low)) return false;
  const kind = low & 0xff;
  const arg = low >>> 8;
  switch (kind) {
    case KIND_FREE:
      out.kind = kind;
      out.span = arg + 1;
      out.cls = -1;
      return true;
    case KIND_RUN:
      if (arg >= CLASS_SIZES.length) return false;
      out.kind = kind;
      out.span = 1;
      out.cls = arg;
      return true;
    case KIND_EXTENT:
    case KIND_LOG:
      if (arg < 1) return false;
      out.kind = kind;
      out.span = arg;
      out.cls = -1;
      return true;
    default:
      return false;
  }
}

/** Block sizes of runs (bytes); ~1.15-1.33x steps, all multiples of 16. */
export const CLASS_SIZES: readonly number[] = [
  16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792,
  2048, 2560, 3072, 3584, 4096,
];
export const MAX_RUN_BLOCK = 4096;

export interface RunGeometry {
  blockSize: number;
  blocks: number;
  /** Bitmap bytes (a multiple of 8), starting 8 bytes into the chunk. */
  bitmapBytes: number;
  /** Offset of block 0 from the chunk start. */
  dataStart: number;
}

/**
 * Block 0 starts on a cache-line boundary, so every block of a class that is a multiple of 64
 * bytes is line-aligned: a 64-byte hash-map entry then costs one cache miss to read and one line
 * to flush, not two (16-byte alignment split 3 in 4 of them). It costs at most 48 bytes a chunk.
 */
const DATA_ALIGN = 64;

function geometry(blockSize: number, chunkSize: number): RunGeometry {
  let blocks = Math.floor((chunkSize - 16) / blockSize);
  for (;;) {
    const bitmapBytes = Math.ceil(blocks / 64) * 8;
    const dataStart = Math.ceil((8 + bitmapBytes) / DATA_ALIGN) * DATA_ALIGN;
    if (dataStart + blocks * blockSize <= chunkSize) return { blockSize, blocks, bitmapBytes, dataStart };
    blocks--;
  }
}

export function runGeometries(chunkSize: number): RunGeometry[] {
  return CLASS_SIZES.map((s) => geometry(s, chunkSize));
}

/** Class index for every size/16 up to MAX_RUN_BLOCK/16. */
const CLASS_OF_16THS: Uint8Array = (() => {
  const t = new Uint8Array(MAX_RUN_BLOCK / 16 + 1);
  let c = 0;
  for (let i = 0; i < t.length; i++) {
    while (CLASS_SIZES[c]! < i * 16) c++;
    t[i] = c;
  }
  return t;
})();

/** Size class serving `size` bytes (1..MAX_RUN_BLOCK). */
export function classOf(size: number): number {
  return CLASS_OF_16THS[Math.ceil(size / 16)]!;
}
