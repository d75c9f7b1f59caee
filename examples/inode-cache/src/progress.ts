/**
 * A small progress display. On a TTY it redraws one line (`\r`) with a bar when the total is
 * known, or counters when it is not; elsewhere (a pipe, a log, CI) it prints a plain line at
 * most every `intervalMs` — or nothing, with `quiet` — so logs stay readable.
 */
import type { WriteStream } from 'node:tty';

export interface ProgressOptions {
  /** Where to draw (default process.stderr, so stdout stays clean for results). */
  stream?: NodeJS.WritableStream & Partial<Pick<WriteStream, 'isTTY' | 'columns'>>;
  /** Print nothing at all. */
  quiet?: boolean;
  /** Least time between two non-TTY lines (default 1000 ms). */
  intervalMs?: number;
  /** Bar width in characters on a TTY (default 30). */
  width?: number;
}

export class Progress {
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private readonly intervalMs: number;
  private readonly width: number;
  private lastDraw = 0;
  private drawn = false;
  private readonly started = Date.now();

  constructor(private readonly label: string, private readonly total: number | undefined, options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.quiet = options.quiet ?? false;
    this.intervalMs = options.intervalMs ?? 1000;
    this.width = options.width ?? 30;
  }

  /** Reports `done` units (of `total`, if known) and a short detail (e.g. the current directory). */
  update(done: number, detail = ''): void {
    if (this.quiet) return;
    const now = Date.now();
    const minGap = this.tty ? 50 : this.intervalMs;
    if (now - this.lastDraw < minGap) return;
    this.lastDraw = now;
    this.draw(done, detail, false);
  }

  /** Draws the final state and ends the line. */
  done(done: number, detail = ''): void {
    if (this.quiet) return;
    this.draw(done, detail, true);
  }

  private draw(done: number, detail: string, final: boolean): void {
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    let text: string;
    if (this.total !== undefined && this.total > 0) {
      const frac = Math.min(1, done / this.total);
      const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
      const bar = this.tty ? `[${'#'.repeat(Math.round(frac * this.width)).padEnd(this.width, '.')}] ` : '';
      text = `${this.label} ${bar}${pct} ${done}/${this.total} (${rate}/s)`;
    } else {
      text = `${this.label} ${done} (${rate}/s)`;
    }
    if (this.tty) {
      const cols = this.stream.columns ?? 80;
      const line = detail ? `${text} ${detail}` : text;
      this.stream.write(`\r${line.length >= cols ? line.slice(0, cols - 1) : line.padEnd(cols - 1)}${final ? '\n' : ''}`);
    } else {
      this.stream.write(`${text}${final ? ' done' : ''}\n`);
    }
    this.drawn = true;
  }
}
