import { isFerriteError } from '@ferrite/core';
import { backupPoolFile, type BackupInfo, type BackupProgress } from '@ferrite/tx';
import { ExitCode, type Command } from '../command.js';
import { formatBytes, renderFields } from '../format.js';
import { Progress } from '../progress.js';
import { damagedHeaderCopies, refuseNonPool, scanHeaders, type HeaderScan } from '../inspect.js';
import type { Io } from '../io.js';

/**
 * Errors about the destination or the arguments, not about the pool: exit 2 ("could not do
 * what was asked") rather than 1 ("the pool is damaged"), whatever `exitCodeFor` says.
 */
export const DESTINATION_CODES: ReadonlySet<string> = new Set(['EEXIST', 'EINVAL', 'ENOSPC', 'EACCES', 'ENOENT', 'EROFS', 'EIO']);

/** A progress line fed by a backup's or a compaction's reports: bytes copied, then entries rebuilt. */
export function progressReporter(progress: Progress): (p: BackupProgress) => void {
  let phase = '';
  return (p) => {
    if (p.phase !== phase) {
      phase = p.phase;
      progress.stage(p.phase === 'copy' ? 'copying' : 'rebuilding collections');
    }
    progress.update(p.done, p.total);
  };
}

/** Runs `fn`; a FerriteError about the destination prints and exits 2 (see DESTINATION_CODES). */
export function destinationErrors(command: string, io: { stderr: { write(text: string): unknown } }, fn: () => ExitCode): ExitCode {
  try {
    return fn();
  } catch (err) {
    if (isFerriteError(err) && DESTINATION_CODES.has(err.code)) {
      io.stderr.write(`ferrite ${command}: ${err.message} (${err.code})\n`);
      return ExitCode.ERROR;
    }
    throw err;
  }
}

function human(src: string, info: BackupInfo): string {
  return renderFields([
    ['backup', info.path],
    ['of', src],
    ['size', `${info.bytes} (${formatBytes(info.bytes)})`],
    ['compact', info.compact ? 'yes (live data only)' : 'no (a copy of the pool)'],
    ['uuid', `${info.uuid} (the source's: ${info.sourceUuid})`],
    ['collections', info.collections],
    ['entries', info.entries],
  ]);
}

export const backupCommand: Command = {
  name: 'backup',
  summary: 'copy a pool into a new file, whole or compacted',
  synopsis: 'backup SRC DEST [--compact] [--json]',
  description: `Copies the pool SRC into the new file DEST (which must not exist). SRC is opened
read-only with a shared lock, so no writer can change it meanwhile (EBUSY while one holds it:
back up a pool in use from its application, with store.backup()). A pool a crash left with a
redo log or an interrupted transaction is copied as its next open would find it; SRC itself
is never written. With --compact the copy holds only the live data: every collection is
rebuilt into a fresh pool (same names, kinds and order; the layout, maxSize and undo log
capacity kept), and the file ends after its last used chunk.

DEST is written under a hidden temporary name in its directory, synced, and only then given
its name: a backup that fails or is killed leaves no file at DEST (the next backup to DEST
removes a temporary a kill left). The copy gets a uuid of its own. Restore by opening the
copy (Store.open), or by renaming it over the pool while no process has the pool open.

Exit code 0 when the copy is made, 1 when SRC is damaged, 2 otherwise (usage, SRC missing,
locked or not a pool, DEST existing, no room for it). Progress is shown on stderr when it is
a terminal.`,
  options: {
    compact: { type: 'boolean', description: 'copy only the live data, every collection rebuilt densely' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  positionals: { min: 2, max: 2, names: 'SRC DEST' },
  examinesPool: true,
  run(args, io) {
    const [src, dest] = args.positionals as [string, string];
    return destinationErrors('backup', io, () => {
      refuseNonPoolFile(src);
      const progress = new Progress(io.stderr, `backing up ${src}`);
      let info: BackupInfo;
      try {
        info = backupPoolFile(src, dest, { compact: args.values.compact === true, onProgress: progressReporter(progress) });
      } finally {
        progress.finish();
      }
      io.stdout.write(args.values.json === true ? JSON.stringify({ source: src, ...info }) + '\n' : human(src, info));
      return headerCopiesSound('backup', src, io) ? ExitCode.OK : ExitCode.INCONSISTENT;
    });
  },
};

/**
 * EBADMAGIC (exit 2) for a file that is not a pool, whatever its size, before the pool is
 * opened: the same code and message as the other commands (`refuseNonPool`; the heap's open
 * calls a short file ECORRUPT, exit 1). A file that cannot be scanned is left to the command's
 * own open to report, as before.
 */
export function refuseNonPoolFile(path: string): void {
  let scan: HeaderScan;
  try {
    scan = scanHeaders(path);
  } catch {
    return;
  }
  refuseNonPool(scan);
}

/**
 * False (with a line on stderr) when a header copy of `path` is damaged: the command did its
 * work, and exits 1 as every command that examines that file does (README: one file, one code;
 * found in review: backup and compact exited 0). A file that cannot be scanned says nothing
 * here: the command itself reported on it.
 */
export function headerCopiesSound(cmd: string, path: string, io: Io): boolean {
  let damaged: string | undefined;
  try {
    damaged = damagedHeaderCopies(scanHeaders(path));
  } catch {
    return true;
  }
  if (damaged === undefined) return true;
  io.stderr.write(`ferrite ${cmd}: ${path}: ${damaged}\n`);
  return false;
}
