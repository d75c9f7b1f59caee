/**
 * A probe that misbehaves on purpose, to prove the fuzz harness notices: case 3 loops
 * forever, case 5 kills its process with SIGSEGV, case 7 throws an untyped error, case 9
 * allocates past the heap limit; every other case is "typed" or "clean" by image length.
 */
import type { ProbeOutcome } from '../fuzz-worker.js';

export function probe(image: Uint8Array, _scratch: string, index: number): ProbeOutcome {
  if (index === 3) for (;;);
  if (index === 5) process.kill(process.pid, 'SIGSEGV');
  if (index === 7) throw new TypeError('boom');
  if (index === 9) {
    const hog: number[][] = [];
    for (;;) hog.push(new Array<number>(1 << 20).fill(1));
  }
  return image.length % 2 === 0 ? { outcome: 'clean' } : { outcome: 'typed', code: 'ECORRUPT', message: 'odd' };
}
