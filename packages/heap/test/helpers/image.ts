/**
 * Pool images for comparisons: a copy of the bytes with the reader words (layout.ts,
 * READER_WORDS) zeroed. Those words carry no data — the commit sequence moves with every
 * transaction, a refused or rolled-back one too — so "the pool is unchanged" means every
 * other byte is.
 */
import { READER_WORDS, READER_WORDS_SIZE } from '../../src/layout.js';

export function dataImage(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  if (copy.length >= READER_WORDS + READER_WORDS_SIZE) copy.fill(0, READER_WORDS, READER_WORDS + READER_WORDS_SIZE);
  return copy;
}
