/**
 * For the crash children: a line to stdout, written completely before the child goes on (the
 * parent kills it at any instant and must never see half a line it then trusts).
 */
import { writeSync } from 'node:fs';

const nap = new Int32Array(new SharedArrayBuffer(4));

/** Writes `line` to stdout completely, waiting out EAGAIN (a full non-blocking pipe). */
export function writeLine(line: string): void {
  const bytes = Buffer.from(line);
  let done = 0;
  for (let attempt = 0; done < bytes.length; attempt++) {
    try {
      done += writeSync(1, bytes, done, bytes.length - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt > 100_000) throw err;
      Atomics.wait(nap, 0, 0, 1); // 1 ms: the parent drains the pipe meanwhile
    }
  }
}
