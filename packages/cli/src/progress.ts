import type { OutStream } from './io.js';

/**
 * A one-line progress indicator on stderr, drawn only when stderr is a terminal so that
 * scripts and logs never see carriage returns. Redraws at most every `intervalMs`.
 */
export class Progress {
  private last = 0;
  private drawn = false;

  constructor(
    private readonly out: OutStream,
    private readonly label: string,
    private readonly enabled: boolean = out.isTTY === true,
    private readonly intervalMs = 100,
  ) {}

  /** Names the step now running (for steps that report no counts). */
  stage(text: string): void {
    if (!this.enabled) return;
    this.out.write(`\r${this.label}: ${text}\u001b[K`);
    this.drawn = true;
  }

  /** Reports that `done` of `total` units are finished. */
  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < this.intervalMs && done < total) return;
    this.last = now;
    const pct = total > 0 ? Math.min(100, Math.floor((100 * done) / total)) : 100;
    this.out.write(`\r${this.label}: ${pct}% (${done}/${total})\u001b[K`);
    this.drawn = true;
  }

  /** Erases the line (the result follows on stdout). */
  finish(): void {
    if (this.enabled && this.drawn) this.out.write('\r\u001b[K');
    this.drawn = false;
  }
}
