/**
 * The `ferrite` command: dispatch, help, and the mapping of failures to exit codes (one
 * scheme for every command, see `ExitCode` in command.ts):
 *
 *   0  the command succeeded and the pool is consistent
 *   1  the pool is damaged
 *   2  usage error, or the file could not be examined (missing, locked, not a pool...)
 *
 * Run it as `ferrite <command> ...` (bin/ferrite.mjs), or call `main(argv)` in-process.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isFerriteError } from '@ferrite/core';
import { COMMON_OPTIONS, parseCommandArgs, UsageError, type OptionSpec } from './args.js';
import { ExitCode, exitCodeFor, type Command } from './command.js';
import { OutputClosedError, OutputFailedError, processIo, type Io } from './io.js';
import { COMMANDS } from './commands/index.js';

export const VERSION = '0.1.0';

function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The top-level help: the command list. */
export function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: ferrite <command> [options]',
    '',
    'Inspect, check, repair, back up and compact ferrite pool files.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `ferrite <command> --help` for the options of a command.',
    'Exit codes (every command): 0 consistent, 1 the pool is damaged, 2 usage error or the file',
    'could not be examined (missing, locked, not a ferrite pool, unknown format).',
    '',
  ].join('\n');
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const entries = Object.entries({ ...options, ...COMMON_OPTIONS }).map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : '';
    return [`${short}--${name}${value}`, spec.description] as const;
  });
  const width = Math.max(...entries.map(([left]) => left.length));
  return entries.map(([left, text]) => `  ${left.padEnd(width)}  ${text}`);
}

/** The help of one command. */
export function commandHelp(command: Command): string {
  return [
    `Usage: ferrite ${command.synopsis}`,
    '',
    command.summary,
    '',
    command.description.trimEnd(),
    '',
    'Options:',
    ...optionLines(command.options),
    '',
  ].join('\n');
}

/**
 * Runs the command line `argv` (without the node and script words) and returns the exit code.
 * Never throws: a user's mistake or a file that cannot be examined prints a message on stderr
 * and returns 2, a damaged pool returns 1 (whichever command met the damage), and an
 * unexpected exception (a bug in ferrite) is printed with its stack and returns 2.
 */
export function main(argv: readonly string[], io: Io = processIo()): number {
  // Its own arguments checked too: it never throws (found in review: main(null) did).
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
    processIo().stderr.write('ferrite: main(argv, io?): argv must be an array of strings\n');
    return ExitCode.ERROR;
  }
  if (typeof io !== 'object' || io === null || typeof io.stdout?.write !== 'function' || typeof io.stderr?.write !== 'function') {
    processIo().stderr.write('ferrite: main(argv, io?): io must have stdout.write and stderr.write\n');
    return ExitCode.ERROR;
  }
  try {
    return run(argv, io);
  } catch (err) {
    // Writing a message failed itself (the help to a full device, say): nothing more to say.
    if (err instanceof OutputClosedError) return ExitCode.OK;
    return ExitCode.ERROR;
  }
}

function run(argv: readonly string[], io: Io): number {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : findCommand(topic);
    if (topic !== undefined && command === undefined) {
      io.stderr.write(`ferrite: unknown command '${topic}'\n\n${generalHelp()}`);
      return ExitCode.ERROR;
    }
    // `ferrite` alone is a usage error; `ferrite --help` is not.
    const out = name === undefined ? io.stderr : io.stdout;
    out.write(command === undefined ? generalHelp() : commandHelp(command));
    return name === undefined ? ExitCode.ERROR : ExitCode.OK;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`ferrite ${VERSION}\n`);
    return ExitCode.OK;
  }
  const command = findCommand(name);
  if (command === undefined) {
    io.stderr.write(`ferrite: unknown command '${name}'. Run 'ferrite --help' for the list.\n`);
    return ExitCode.ERROR;
  }
  try {
    const args = parseCommandArgs(command.name, rest, command.options, command.positionals);
    if (args.values.help === true) {
      io.stdout.write(commandHelp(command));
      return ExitCode.OK;
    }
    return command.run(args, io);
  } catch (err) {
    if (err instanceof OutputClosedError) return ExitCode.OK;
    if (err instanceof OutputFailedError) {
      try {
        io.stderr.write(`ferrite ${command.name}: cannot write the output: ${err.message} (${err.code})\n`);
      } catch {
        // stderr failed too: the exit code says it
      }
      return ExitCode.ERROR;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`ferrite ${command.name}: ${err.message}\nRun 'ferrite ${command.name} --help' for usage.\n`);
      return ExitCode.ERROR;
    }
    if (isFerriteError(err)) {
      io.stderr.write(`ferrite ${command.name}: ${err.message} (${err.code})\n`);
      return command.examinesPool ? exitCodeFor(err.code) : ExitCode.ERROR;
    }
    // A bug in ferrite (damage must surface as a FerriteError): say so, with the stack, and
    // exit with 2 rather than die with an uncaught exception's 1, which means "inconsistent".
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr.write(`ferrite ${command.name}: internal error (a bug in ferrite, please report it):\n${detail}\n`);
    return ExitCode.ERROR;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv.slice(2));
