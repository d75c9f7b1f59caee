/**
 * Command-line parsing on top of `node:util` parseArgs: each command declares its options
 * and how many positionals it takes; anything else is a `UsageError` (exit code 2) with a
 * message that names the problem and points at `--help`.
 */
import { parseArgs } from 'node:util';

/** A mistake in the command line: the command prints it with a hint and exits with 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose `--help` the hint points at, when known. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder shown in help, e.g. `SIZE`. */
  readonly valueName?: string;
  readonly description: string;
}

export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
};

/**
 * Parses `argv` (the words after the command name) against `options`.
 * @throws UsageError for an unknown option, a missing option value, or a wrong number of
 *   positionals (`help` skips the positional count so `--help` always works).
 */
export function parseCommandArgs(
  command: string,
  argv: readonly string[],
  options: Readonly<Record<string, OptionSpec>>,
  positionals: { readonly min: number; readonly max: number; readonly names: string },
): ParsedArgs {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = Object.create(null);
  for (const [name, spec] of Object.entries({ ...COMMON_OPTIONS, ...options })) {
    config[name] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs throws TypeErrors with codes ERR_PARSE_ARGS_*; their messages are clear but
    // long, so keep only the first sentence.
    const message = err instanceof Error ? err.message.split('. ')[0] : String(err);
    throw new UsageError(message, command);
  }
  const values: Record<string, string | boolean | undefined> = Object.create(null);
  for (const [k, v] of Object.entries(parsed.values)) values[k] = Array.isArray(v) ? v[v.length - 1] : v;
  if (values.help !== true) {
    const n = parsed.positionals.length;
    if (n < positionals.min) throw new UsageError(`missing argument: expected ${positionals.names}`, command);
    if (n > positionals.max) {
      throw new UsageError(`unexpected argument '${parsed.positionals[positionals.max]}'`, command);
    }
  }
  return { positionals: parsed.positionals, values };
}

/** Largest pool size the command accepts (the heap has its own, possibly lower, limit). */
export const MAX_SIZE = 2 ** 44; // 16 TiB

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  kb: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mb: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gb: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tb: 2 ** 40,
  tib: 2 ** 40,
};

/**
 * Parses a size such as `65536`, `64K`, `64KiB`, `8M`, `1.5G` (units are binary: K = 1024).
 * @throws UsageError when it is not a positive whole number of bytes up to MAX_SIZE.
 */
export function parseSize(option: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m === null ? undefined : SIZE_UNITS[m[2].toLowerCase()];
  if (m === null || unit === undefined) {
    throw new UsageError(`--${option}: '${text}' is not a size (examples: 65536, 256K, 64M, 1G)`);
  }
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > MAX_SIZE) {
    throw new UsageError(`--${option}: '${text}' must be a whole number of bytes between 1 and ${MAX_SIZE}`);
  }
  return bytes;
}

/** Parses an octal file mode such as `0600` or `644`. */
export function parseMode(option: string, text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new UsageError(`--${option}: '${text}' is not an octal file mode such as 0600`);
  return parseInt(text, 8);
}
