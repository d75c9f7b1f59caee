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

/** The process's own streams. */
export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr };
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
