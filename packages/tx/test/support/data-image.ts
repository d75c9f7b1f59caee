/**
 * A pool image for "nothing was written" comparisons: a copy with the reader words zeroed
 * (the heap's READER_WORDS: the commit sequence moves with every transaction, a refused or
 * rolled-back one too, and carries no data).
 */
import { READER_WORDS, READER_WORDS_SIZE } from '@ferrite/heap';

export function dataImage(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  if (copy.length >= READER_WORDS + READER_WORDS_SIZE) copy.fill(0, READER_WORDS, READER_WORDS + READER_WORDS_SIZE);
  return copy;
}
