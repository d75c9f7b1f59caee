/**
 * `ferrite check`: the deep check of a pool file, and its repair.
 *
 * The check reads only (see inspect.ts): both header copies, the undo log (a pending
 * transaction), the heap's metadata (`pool.check()`), reachability of every block from the
 * store's root (`store.check()`), each collection's own invariants (`validate()`), and finally
 * every key and value, decoded. Each problem carries the pool offset it is about.
 *
 * The repair changes only what it can change without losing committed data:
 * - a damaged or stale header copy is rewritten from the valid one (the heap does this at a
 *   writable open);
 * - a pending transaction is rolled back (the heap's recovery at a writable open): its
 *   changes were never committed;
 * - leaked blocks (allocated, unreachable from the root) are freed, in one transaction, and
 *   only when the reachability walk was complete (no other problem at all), so a block that
 *   merely looks unreachable because a damaged collection could not be walked is never freed.
 * Anything else is reported as not repairable, and a pool with nothing to repair is not
 * opened for writing at all.
 */
import { isFerriteError } from '@ferrite/core';
import type { Pool } from '@ferrite/heap';
import type { Store } from '@ferrite/tx';
import { CANNOT_EXAMINE } from './command.js';
import { LOG_HEADER } from './heap-internals.js';
import { errorReport, openPool, readConsistently, scanHeaders, type ErrorReport, type HeaderScan, type OpenedPool } from './inspect.js';
import type { Progress } from './progress.js';

export interface Problem {
  readonly offset: number;
  readonly kind: string;
  readonly message: string;
  /**
   * `check --repair` can fix it: its kind is one of REPAIRABLE_KINDS and the pool opens. A pool
   * that does not open (both header copies damaged, say: no valid copy to rewrite them from)
   * does not open for the repair either, so nothing in it is repairable.
   */
  readonly repairable: boolean;
}

type Found = Omit<Problem, 'repairable'>;

export interface CheckResult {
  readonly file: string;
  readonly ok: boolean;
  readonly problems: readonly Problem[];
  /** An interrupted transaction waits for rollback. */
  readonly recoveryPending: boolean;
  /**
   * Committed transactions in the redo log not yet copied into the pool file (a crash after
   * their commit on an ordinary file): durable and checked; not a problem.
   */
  readonly redoRecordsPending?: number;
  /** Allocated and reachable block counts (store pools), when the check got that far. */
  readonly allocated?: number;
  readonly reachable?: number;
  /** Keys and values decoded. */
  readonly entries: number;
  /** What `--repair` did, in order. */
  readonly repaired?: readonly string[];
}

/** Errors that mean "cannot check this file at all" (exit 2), not "the pool is damaged": the scheme of every command. */
function isOpenError(err: unknown): boolean {
  return isFerriteError(err) && CANNOT_EXAMINE.has(err.code);
}

class Problems {
  readonly list: Found[] = [];
  private readonly seen = new Set<string>();
  /** Most problems kept: a wrecked pool must not produce an unbounded report. */
  static readonly LIMIT = 1000;

  /**
   * Problems found where their offset is not known (0) may be found again where it is: the
   * store's check locates a damaged collection at its header, the read of every entry finds the
   * same damage without an offset. Each problem is listed once, at its offset when one is known
   * (found in review: a damaged collection was listed twice).
   */
  private readonly unlocated = new Map<string, number>();
  private readonly located = new Set<string>();

  add(offset: number, kind: string, message: string): void {
    const key = `${offset}:${kind}:${message}`;
    const what = `${kind}:${message}`;
    if (this.seen.has(key)) return;
    if (offset === 0 && this.located.has(what)) return;
    const earlier = offset !== 0 ? this.unlocated.get(what) : undefined;
    if (earlier !== undefined) {
      // Known already without its offset: that entry gets it.
      this.unlocated.delete(what);
      this.list[earlier] = { offset, kind, message };
    } else {
      if (this.list.length >= Problems.LIMIT) return;
      if (offset === 0) this.unlocated.set(what, this.list.length);
      this.list.push({ offset, kind, message });
    }
    this.seen.add(key);
    if (offset !== 0) this.located.add(what);
  }

  /**
   * Records an error met while reading (its message after `prefix`); one that is not a
   * FerriteError gets kind 'internal'.
   */
  addError(offset: number, kind: string, err: unknown, prefix = ''): void {
    const r: ErrorReport = errorReport(err);
    this.add(offset, r.code === 'INTERNAL' ? 'internal' : kind, `${prefix}${r.message} (${r.code})`);
  }

  /**
   * The problems as reported. `opened`: the pool opened (read-only, or for the repair). Found
   * in review: with both header copies damaged they were marked repairable, and the report
   * sent the user to a --repair that could do nothing.
   */
  report(opened: boolean): Problem[] {
    // Leaks are freed only when every other problem is one the open repairs (see
    // `reclaimLeaks`): beside any other, a leak was marked yes that --repair then kept.
    const leaksFreed = this.list.every((p) => REPAIRABLE_KINDS.has(p.kind));
    return this.list.map((p) => ({
      ...p,
      repairable: opened && REPAIRABLE_KINDS.has(p.kind) && (p.kind !== 'leak' || leaksFreed),
    }));
  }
}

function headerProblems(scan: HeaderScan, problems: Problems): void {
  for (const c of scan.copies) {
    if (!c.ok) problems.add(c.offset, 'header', `header copy ${c.name}: ${c.reason ?? 'damaged'}`);
  }
}

/** Checks pool structure and reachability; returns allocated/reachable counts when known. */
function structureCheck(opened: OpenedPool, problems: Problems): { allocated?: number; reachable?: number } {
  if (opened.store !== undefined) {
    const r = opened.store.check();
    for (const p of r.problems) problems.add(p.offset, p.kind, p.message);
    return { allocated: r.allocated, reachable: r.reachable };
  }
  const r = opened.pool.check();
  for (const p of r.problems) problems.add(p.offset, p.kind, p.message);
  return { allocated: r.allocatedBlocks };
}

/** Decodes every key and value of every collection; returns the number of entries read. */
function readEverything(store: Store, problems: Problems, progress: Progress | undefined): number {
  let infos;
  try {
    infos = store.collections();
  } catch (err) {
    problems.addError(0, 'registry', err);
    return 0;
  }
  const total = infos.reduce((n, c) => n + c.size, 0);
  progress?.stage('reading every entry');
  let done = 0;
  for (const info of infos) {
    // A damaged collection may claim a size, or link entries, without end: stop at the size.
    const limit = info.size + 1;
    let seen = 0;
    try {
      const collection =
        info.kind === 'map' ? store.map(info.name) : info.kind === 'sortedMap' ? store.sortedMap(info.name) : store.queue(info.name);
      if ('validate' in collection) {
        for (const message of collection.validate()) problems.add(0, 'collection', `collection "${info.name}": ${message}`);
      }
      for (const entry of collection) {
        void entry;
        seen += 1;
        done += 1;
        if (seen > limit) {
          problems.add(0, 'collection', `collection "${info.name}": iteration goes past its size ${info.size}`);
          break;
        }
        progress?.update(done, total);
      }
      if (seen < info.size) {
        problems.add(0, 'collection', `collection "${info.name}": ${seen} entries iterated, its size says ${info.size}`);
      }
    } catch (err) {
      problems.addError(0, 'collection', err, `collection "${info.name}": `);
    }
  }
  progress?.finish();
  return done;
}

/**
 * The read-only deep check. Never writes the file. With `heapOnly` the store layer (its
 * collections and the reachability of blocks from its root) is not checked: for pools made
 * with @ferrite/heap directly.
 * @throws FerriteError when the file cannot be checked at all (missing, locked, not a pool).
 */
export function checkFile(path: string, progress?: Progress, options: { heapOnly?: boolean } = {}): CheckResult {
  return readConsistently((freeze) => checkFileOnce(path, progress, options.heapOnly, freeze));
}

function checkFileOnce(path: string, progress: Progress | undefined, heapOnly: boolean | undefined, freeze: boolean): { result: CheckResult; changed: boolean } {
  const problems = new Problems();
  progress?.stage('reading the header copies');
  const scan = scanHeaders(path);
  headerProblems(scan, problems);
  let opened: OpenedPool;
  try {
    progress?.stage('opening read-only (log, allocator index)');
    opened = openPool(path, { readOnly: true, scan, heapOnly, freeze });
  } catch (err) {
    if (isOpenError(err) && !(isFerriteError(err, 'EBADMAGIC') && scan.copies.some((c) => !c.badMagic))) throw err;
    problems.addError(0, 'open', err);
    progress?.finish();
    return { result: { file: path, ok: false, problems: problems.report(false), recoveryPending: false, entries: 0 }, changed: false };
  }
  try {
    const result = checkOpened(path, opened, problems, progress);
    return { result, changed: opened.changed() };
  } finally {
    opened.close();
  }
}

function checkOpened(path: string, opened: OpenedPool, problems: Problems, progress: Progress | undefined): CheckResult {
  // After a writable open the transaction has been rolled back already: nothing is pending.
  const pending = opened.recoveryPending && opened.pool.readOnly;
  if (pending) {
    problems.add(LOG_HEADER, 'log-pending', 'an interrupted transaction is pending: the next writable open (or check --repair) rolls it back');
  }
  const storeError = opened.storeError;
  if (storeError !== undefined) {
    problems.add(0, storeError.code === 'INTERNAL' ? 'internal' : 'store', `${storeError.message} (${storeError.code})`);
  }
  let counts: { allocated?: number; reachable?: number } = {};
  try {
    progress?.stage('checking heap metadata and reachability');
    counts = structureCheck(opened, problems);
  } catch (err) {
    problems.addError(0, 'check', err);
  }
  const entries = opened.store === undefined ? 0 : readEverything(opened.store, problems, progress);
  progress?.finish();
  return {
    file: path,
    ok: problems.list.length === 0,
    problems: problems.report(true),
    recoveryPending: pending,
    ...(opened.redoRecordsPending > 0 ? { redoRecordsPending: opened.redoRecordsPending } : {}),
    ...counts,
    entries,
  };
}

/** Kinds of problem `--repair` can fix (see the module comment for the conditions). */
export const REPAIRABLE_KINDS: ReadonlySet<string> = new Set(['header', 'log-pending', 'leak']);

/**
 * Checks, and when problems were found, repairs what can be repaired, then checks again.
 * The result is the second check's, with `repaired` listing what was done.
 */
export function repairFile(path: string, progress?: Progress, options: { heapOnly?: boolean } = {}): CheckResult {
  const before = checkFile(path, progress, options);
  // Nothing to do, or nothing this repair can fix (a pool that does not open included): do not
  // open for writing at all.
  if (before.ok || !before.problems.some((p) => p.repairable)) return { ...before, repaired: [] };
  const scan = scanHeaders(path);
  if (scan.header === undefined) {
    // Both header copies are gone: nothing tells what the pool was; refuse to guess.
    return { ...before, repaired: [] };
  }
  const repaired: string[] = [];
  const wasStore = !before.problems.some((p) => p.kind === 'store' || p.kind === 'open' || p.kind === 'internal');
  let opened: OpenedPool;
  try {
    opened = openPool(path, { readOnly: false, scan, storeExpected: wasStore, heapOnly: options.heapOnly });
  } catch (err) {
    if (isOpenError(err)) throw err;
    return { ...before, repaired };
  }
  try {
    for (const c of scan.copies) {
      if (!c.ok) repaired.push(`rewrote header copy ${c.name} from copy ${scan.header.copy}`);
    }
    if (before.problems.some((p) => p.kind === 'header' && p.message.includes('stale')) && repaired.length === 0) {
      repaired.push('rewrote the stale header copy');
    }
    if (opened.recoveryPending) repaired.push('rolled back the interrupted transaction');
    reclaimLeaks(opened, repaired);
    const after = checkOpened(path, opened, new Problems(), progress);
    return { ...after, repaired };
  } finally {
    opened.close();
  }
}

/** Frees leaked blocks, only when leaks are the only problem left (see the module comment). */
function reclaimLeaks(opened: OpenedPool, repaired: string[]): void {
  const store = opened.store;
  if (store === undefined) return;
  const report = store.check();
  if (report.ok || !report.problems.every((p) => p.kind === 'leak')) return;
  const leaks = report.problems.map((p) => p.offset);
  const pool: Pool = opened.pool;
  pool.transaction((tx) => {
    for (const offset of leaks) tx.free(offset);
  });
  repaired.push(`freed ${leaks.length} leaked block${leaks.length === 1 ? '' : 's'} (${leaks.join(', ')})`);
}
