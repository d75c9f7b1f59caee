/**
 * What a `ferrite` subcommand is: its name, its help text, its options, and `run`, which
 * returns the exit code (see `ExitCode`).
 */
import type { OptionSpec, ParsedArgs } from './args.js';
import type { Io } from './io.js';

/**
 * The exit codes, one scheme for every command (stable; scripts branch on them):
 *
 *   0  the command did what was asked and found nothing wrong
 *   1  the file is a ferrite pool this build reads, and it is damaged: a header copy, the
 *      pool's metadata, its store or a collection (whichever command found it)
 *   2  the command could not examine the file: a usage error, a file that is missing,
 *      unreadable, locked by a writer, not a regular file, not a ferrite pool (no magic number
 *      in either header copy, whatever the file's size: inspect.ts `refuseNonPool`), of a
 *      format this build does not read; or an internal error (a bug in ferrite)
 */
export const ExitCode = {
  /** The command succeeded and the pool is consistent. */
  OK: 0,
  /** The pool is damaged (any command that found it). */
  INCONSISTENT: 1,
  /** Usage error, or the file could not be examined (missing, locked, not a ferrite pool). */
  ERROR: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Error codes that mean "the file could not be examined" (exit 2). Any other FerriteError met
 * while opening or reading a pool (ECORRUPT, ERANGE...) is damage (exit 1).
 */
export const CANNOT_EXAMINE: ReadonlySet<string> = new Set([
  // ENOSPC: a writable open (--repair) of a sparse pool file whose holes the file system has
  // no room to allocate.
  'ENOENT', 'EACCES', 'EBUSY', 'ENODEV', 'EBADMAGIC', 'EVERSION', 'EIO', 'ENOMEM', 'ENOSPC',
]);

/** The exit code for an error with `code` met while opening or reading a pool. */
export function exitCodeFor(code: string): ExitCode {
  return CANNOT_EXAMINE.has(code) ? ExitCode.ERROR : ExitCode.INCONSISTENT;
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The synopsis after `ferrite `, e.g. `check FILE [--repair] [--json]`. */
  readonly synopsis: string;
  /** Paragraphs of help text after the synopsis. */
  readonly description: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly positionals: { readonly min: number; readonly max: number; readonly names: string };
  /**
   * True for commands that examine an existing pool: their errors map to exit codes by
   * `exitCodeFor`. A command that makes a file (`create`) exits 2 on any error.
   */
  readonly examinesPool: boolean;
  run(args: ParsedArgs, io: Io): ExitCode;
}
