/**
 * The fuzzer's probe for damaged pool images (run by fuzz-worker.ts in a child process).
 *
 * Phase 1, the file path as users meet it: the image is written to a scratch file and the
 * command's own read-only code runs on it: `info`, then `checkFile` (header scan,
 * read-only open, heap check, reachability, every collection validated and every entry
 * decoded), then `dump`; when a repairable problem was found, `check --repair`, whose result
 * must dump exactly what the read-only dump showed before it.
 * Phase 2, a writable open of an in-memory copy: recovery runs on the damaged log, then one
 * write transaction and a check. Either phase may end in a FerriteError (typed: fine); any
 * other exception is a bug, reported with its stack.
 *
 * A clean check is split in two: the dump equals the undamaged base's (the damage hit unused
 * bytes, or was repaired by the format, e.g. a header copy) or it differs (damage the format
 * cannot see: value bytes carry no checksum).
 */
import { writeFileSync, rmSync } from 'node:fs';
import { isFerriteError } from '@ferrite/core';
import { MemoryRegion } from '../memory-region.js';
import { Pool } from '@ferrite/heap';
import { Store } from '@ferrite/tx';
import { checkFile, repairFile, REPAIRABLE_KINDS } from '../../../src/deep-check.js';
import { decodeHeaders } from '../../../src/inspect.js';
import { main } from '../../../src/cli.js';
import type { ProbeOutcome } from '../fuzz-worker.js';

function dumpOf(path: string): { code: number; text: string; stderr: string } {
  return command(['dump', path]);
}

/** Runs a command in-process on the damaged file, capturing its output. */
function command(argv: string[]): { code: number; text: string; stderr: string } {
  let text = '';
  let stderr = '';
  const code = main(argv, {
    stdout: { write: (s: string) => (text += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
  });
  return { code, text, stderr };
}

/** Dumps of the undamaged bases, by image length and header uuid (computed once per worker). */
const baseDumps = new Map<string, string>();

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}

function writablePhase(image: Uint8Array): string | undefined {
  const layout = decodeHeaders(image, image.length).header?.layout ?? '';
  let pool: Pool;
  try {
    pool = Pool.open(new MemoryRegion(image.slice()), { layout });
  } catch (err) {
    if (isFerriteError(err)) return undefined;
    return `writable open: ${describe(err)}`;
  }
  try {
    let cleanAtOpen = false;
    try {
      cleanAtOpen = pool.check().ok;
    } catch (err) {
      if (!isFerriteError(err)) return `check at open: ${describe(err)}`;
    }
    let store: Store | undefined;
    try {
      store = Store.fromPool(pool);
      const m = store.map<string, unknown>('inodes');
      m.set('/fuzz/probe', { ok: true });
      m.get('/etc/file5');
      store.queue<unknown>('journal').push(1);
    } catch (err) {
      if (!isFerriteError(err)) return `writable phase: ${describe(err)}`;
    }
    try {
      const after = pool.check();
      if (cleanAtOpen && !after.ok) {
        const p = after.problems[0];
        return `a pool that checked clean is damaged after store writes: ${p.kind} at ${p.offset}: ${p.message}`;
      }
    } catch (err) {
      if (!isFerriteError(err)) return `check after writes: ${describe(err)}`;
    }
    return allocatorStaysClean(pool);
  } finally {
    try {
      pool.close();
    } catch {
      // A pool broken by damage may refuse to close inside a failed transaction; nothing to free.
    }
  }
}

/**
 * A pool that checks clean must stay clean under ordinary use: allocations of every size class
 * and a large extent, frees, and a rolled-back transaction. If damage the check cannot see
 * made the allocator hand out space it should not, check() finds it afterwards (overlap,
 * accounting, bitmap): a heap bug, since the pool was accepted as sound.
 */
function allocatorStaysClean(pool: Pool): string | undefined {
  let before;
  try {
    before = pool.check();
  } catch (err) {
    return isFerriteError(err) ? undefined : `check: ${describe(err)}`;
  }
  if (!before.ok) return undefined;
  const sizes = [16, 100, 700, 3000, 20_000];
  try {
    const kept = pool.transaction((tx) => sizes.map((n) => tx.alloc(n, { zero: true })));
    pool.transaction((tx) => {
      tx.free(kept[1]);
      tx.alloc(48);
    });
    try {
      pool.transaction((tx) => {
        tx.alloc(200);
        tx.free(kept[0]);
        tx.abort();
      });
    } catch (err) {
      if (!isFerriteError(err, 'ETXSTATE')) throw err;
    }
  } catch (err) {
    // A full pool (ENOSPC) or a pool that turned out damaged (ECORRUPT) is a fine answer.
    return isFerriteError(err) ? undefined : `allocations on a clean pool: ${describe(err)}`;
  }
  const after = pool.check();
  if (!after.ok) {
    const p = after.problems[0];
    return `a pool that checked clean is damaged after ordinary allocations: ${p.kind} at ${p.offset}: ${p.message}`;
  }
  return undefined;
}

export function probe(image: Uint8Array, scratch: string, _index: number): ProbeOutcome {
  let outcome: ProbeOutcome;
  try {
    writeFileSync(scratch, image, { mode: 0o600 });
    try {
      // info first: it reads the header, the usage and the collections its own way (stats
      // reads the same through the same functions).
      const info = command(['info', scratch, '--json']);
      const infoBug = (info.stderr + info.text).split('\n').find((l) => /internal error/.test(l));
      if (infoBug !== undefined) return { outcome: 'bug', error: `info: ${infoBug.trim()}` };
      const result = checkFile(scratch);
      // The command survives a bug in a lower layer by reporting it as kind 'internal'; for
      // the fuzzer that is still a bug.
      const internal = result.problems.find((p) => p.kind === 'internal');
      if (internal !== undefined) return { outcome: 'bug', error: `read-only phase: ${internal.message}` };
      if (!result.ok) {
        const first = result.problems[0];
        outcome = { outcome: 'reported', problems: result.problems.length, first: `${first.kind}: ${first.message}` };
        const repairBug = repairKeepsData(scratch, result.problems.map((p) => p.kind));
        if (repairBug !== undefined) return { outcome: 'bug', error: repairBug };
      } else {
        const dump = dumpOf(scratch);
        if (dump.stderr.includes('internal error')) return { outcome: 'bug', error: `dump: ${dump.stderr}` };
        const header = decodeHeaders(image, image.length).header;
        const key = `${header?.uuid}`;
        const base = baseDumps.get(key);
        outcome =
          dump.code !== 0
            ? { outcome: 'reported', problems: 0, first: `dump failed with exit code ${dump.code}` }
            : base === undefined || base === dump.text
              ? { outcome: 'clean' }
              : { outcome: 'silent' };
      }
    } catch (err) {
      if (!isFerriteError(err)) return { outcome: 'bug', error: `read-only phase: ${describe(err)}` };
      outcome = { outcome: 'typed', code: err.code, message: err.message };
    }
  } finally {
    rmSync(scratch, { force: true });
  }
  const bug = writablePhase(image);
  if (bug !== undefined) return { outcome: 'bug', error: bug };
  return outcome;
}

/**
 * `check --repair` fixes only what it can fix without losing committed data: whatever the
 * damage, the dump after the repair equals the read-only dump before it (which already shows
 * a pending transaction rolled back, in memory). Runs when a repairable problem was reported.
 */
function repairKeepsData(path: string, kinds: readonly string[]): string | undefined {
  if (!kinds.some((k) => REPAIRABLE_KINDS.has(k))) return undefined;
  const before = dumpOf(path);
  try {
    repairFile(path);
  } catch (err) {
    return isFerriteError(err) ? undefined : `repair: ${describe(err)}`;
  }
  const after = dumpOf(path);
  if (after.stderr.includes('internal error')) return `dump after repair: ${after.stderr}`;
  if (before.code === 0 && after.text !== before.text) {
    return `check --repair changed committed data (dump exit ${after.code}, ${after.text.length} bytes, was ${before.text.length})`;
  }
  return undefined;
}

/** Records the dump of an undamaged base image (called by the worker before the cases). */
export function learnBase(image: Uint8Array, scratch: string): void {
  writeFileSync(scratch, image, { mode: 0o600 });
  try {
    const header = decodeHeaders(image, image.length).header;
    baseDumps.set(`${header?.uuid}`, dumpOf(scratch).text);
  } finally {
    rmSync(scratch, { force: true });
  }
}
