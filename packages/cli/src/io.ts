import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';

/**
 * Where the command writes. `main` takes an `Io` so tests can run commands in-process and
 * capture their output; the real command uses the process streams.
 */
export interface OutStream {
  write(text: string): unknown;
  /** True when the stream is a terminal: progress lines are drawn only on a TTY. */
  readonly isTTY?: boolean;
}

export interface Io {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
}

/**
 * The reader of our output went away (`ferrite dump FILE | head`): stop writing and exit
 * quietly, as a command killed by SIGPIPE would.
 */
export class OutputClosedError extends Error {
  constructor() {
    super('output closed');
    this.name = 'OutputClosedError';
  }
}

/**
 * Output that cannot be written for another reason than a closed pipe (a full device, an I/O
 * error, a closed descriptor): the command ends with one line on stderr and exit 2, not an
 * "internal error" with a stack (found in review: `ferrite info P > /dev/full`).
 */
export class OutputFailedError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'OutputFailedError';
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `text` to descriptor `fd` synchronously. process.stdout would queue writes to
 * a pipe and report a closed pipe later as an unhandled 'error' event, after the command has
 * returned; here EPIPE is an OutputClosedError thrown at the write, and a full non-blocking
 * pipe (EAGAIN) is waited out.
 */
function writeAllSync(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') throw new OutputClosedError();
      if (code !== 'EAGAIN') throw new OutputFailedError(code ?? 'EIO', (err as Error).message);
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** The process's own standard output and error, written synchronously (see writeAllSync). */
export function processIo(): Io {
  return {
    stdout: { write: (text: string) => writeAllSync(1, text), isTTY: isatty(1) },
    stderr: { write: (text: string) => writeAllSync(2, text), isTTY: isatty(2) },
  };
}

/**
 * Buffers small writes into large ones: `dump` writes one line per entry, and a write per
 * line to a pipe costs a system call each.
 */
export class BufferedWriter {
  /** Flush once this many characters are pending (bounded memory whatever the dump size). */
  static readonly LIMIT = 64 * 1024;
  private parts: string[] = [];
  private pending = 0;

  constructor(private readonly out: OutStream) {}

  write(text: string): void {
    this.parts.push(text);
    this.pending += text.length;
    if (this.pending >= BufferedWriter.LIMIT) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    this.out.write(this.parts.join(''));
    this.parts = [];
    this.pending = 0;
  }
}
