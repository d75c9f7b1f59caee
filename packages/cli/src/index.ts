/**
 * @ferrite/cli: the `ferrite` command (create, info, check [--repair], dump, stats) and the
 * functions behind it, for tools that want the reports as objects. See README.md.
 */
export { main, VERSION } from './cli.js';
export type { Io, OutStream } from './io.js';
export { ExitCode } from './command.js';
export { inspectPool, scanHeaders } from './inspect.js';
export type {
  PoolReport,
  HeaderScan,
  HeaderReport,
  HeaderCopyReport,
  UsageReport,
  SizeClassReport,
  CollectionReport,
  ErrorReport,
} from './inspect.js';
export { checkFile, repairFile, REPAIRABLE_KINDS } from './deep-check.js';
export type { CheckResult, Problem } from './deep-check.js';
export { createPool } from './commands/create.js';
export type { Created } from './commands/create.js';
export { toJsonValue, stringifyJson } from './json.js';
export type { JsonValue } from './json.js';
