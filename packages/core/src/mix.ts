/**
 * murmur3's 32-bit finaliser: makes every output bit depend on every input bit. Used where a
 * cheap per-byte or per-word hash needs avalanche at the end (hash-map bucket hashes, the
 * heap's commit seal). The on-pool hash of map keys depends on it: never change it.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
