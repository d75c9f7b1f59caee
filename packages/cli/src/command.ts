/**
 * What a `ferrite` subcommand is: its name, its help text, its options, and `run`, which
 * returns the exit code (see `ExitCode`).
 */
import type { OptionSpec, ParsedArgs } from './args.js';
import type { Io } from './io.js';

/** The command's exit codes (stable; scripts branch on them). */
export const ExitCode = {
  /** The command succeeded and the pool is consistent. */
  OK: 0,
  /** Inconsistencies were found (`check`), or a damaged pool was reported. */
  INCONSISTENT: 1,
  /** Usage error, or the pool could not be opened (missing, locked, not a ferrite pool). */
  ERROR: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

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
  run(args: ParsedArgs, io: Io): ExitCode;
}
