/**
 * The kinds of persistency events a `SimulatedRegion` counts and can crash at. On a 'file'
 * region (a simulated disk) a 'flush' is a write() and a 'drain' a sync.
 */
export type CrashEvent = 'flush' | 'drain';

/** Which events a crash countdown counts: one kind, or both. */
export type CrashOn = CrashEvent | 'any';

/**
 * Thrown by a `SimulatedRegion` in place of a flush or drain to simulate a crash (power
 * loss) just before that event would have taken effect.
 *
 * It is deliberately not a `FerriteError`: code under test must not mistake it for an
 * error it is meant to handle. Code that catches everything should let it through (or the
 * harness will still notice, because the region stays crashed and `crashed` says so).
 */
export class SimulatedCrash extends Error {
  /** The event that was about to happen when the crash struck. */
  readonly event: CrashEvent;
  /**
   * The ordinal of that event among all events (flushes + drains) counted since the region
   * was created or `resetEvents()` was last called, 1-based, counting the crashing event.
   */
  readonly count: number;

  constructor(event: CrashEvent, count: number, message?: string) {
    super(message ?? `simulated crash before ${event} (event #${count})`);
    this.name = 'SimulatedCrash';
    this.event = event;
    this.count = count;
  }
}

/** True when `err` is a `SimulatedCrash`. */
export function isSimulatedCrash(err: unknown): err is SimulatedCrash {
  return err instanceof SimulatedCrash;
}
