/**
 * Errors with stable codes.
 *
 * Every error ferrite throws on purpose is a `FerriteError` whose `code` is one of
 * `ErrorCode`. Codes never change meaning between versions; messages may be improved.
 * Callers branch on `err.code`, never on the message.
 */
export type ErrorCode =
  /** An argument has the wrong type, value or alignment, or an unknown option was given. */
  | 'EINVAL'
  /** A value cannot be stored exactly (a function, a symbol, a class instance, a cycle...); nothing was written. */
  | 'EVALUE'
  /** The file cannot be memory-mapped (a directory, pipe, character device). */
  | 'ENODEV'
  /** The file does not exist (and creation was not asked for). */
  | 'ENOENT'
  /** Permission denied by the file system, or a write to a read-only store. */
  | 'EACCES'
  /** The pool is held by another writer (exclusive lock). */
  | 'EBUSY'
  /** The operating system could not provide memory or a mapping. */
  | 'ENOMEM'
  /** An offset or length lies outside the region, or a value exceeds an explicit bound. */
  | 'ERANGE'
  /** The pool is full and may not grow further. */
  | 'ENOSPC'
  /** The file exists where creation with exclusivity was asked for. */
  | 'EEXIST'
  /** An I/O error while making data durable (for example msync failing). */
  | 'EIO'
  /** The pool's header or metadata is damaged beyond what ferrite repairs by itself. */
  | 'ECORRUPT'
  /** The pool's magic number is not ferrite's: not a ferrite pool. */
  | 'EBADMAGIC'
  /** The pool's format version is not one this build reads. */
  | 'EVERSION'
  /** The pool was created with a different layout name than the one asked for. */
  | 'ELAYOUT'
  /** A key or value is larger than its explicit limit. */
  | 'ETOOBIG'
  /** A collection exists under that name with another kind. */
  | 'EKIND'
  /** The pool, store or collection was closed. */
  | 'ECLOSED'
  /** The operation needs a transaction, or is not allowed in the current transaction state. */
  | 'ETXSTATE'
  /** The store was opened read-only. */
  | 'EROFS';

/**
 * Every `ErrorCode`, at run time (tests check that the documentation lists each one, and that
 * nothing raises another). The `satisfies` clause and the type test below keep it complete.
 */
export const ERROR_CODES = [
  'EINVAL', 'EVALUE', 'ENODEV', 'ENOENT', 'EACCES', 'EBUSY', 'ENOMEM', 'ERANGE', 'ENOSPC', 'EEXIST', 'EIO',
  'ECORRUPT', 'EBADMAGIC', 'EVERSION', 'ELAYOUT', 'ETOOBIG', 'EKIND', 'ECLOSED', 'ETXSTATE', 'EROFS',
] as const satisfies readonly ErrorCode[];
/** Compiles only while ERROR_CODES names every ErrorCode. */
type MissingCode = Exclude<ErrorCode, (typeof ERROR_CODES)[number]>;
const everyCodeListed: [MissingCode] extends [never] ? true : MissingCode = true;
void everyCodeListed;

/**
 * Marks every FerriteError, whichever copy of this module made it: a program can load two
 * (the ESM and the CommonJS build of @ferrite/core, or a bundle beside node_modules), and
 * `instanceof` then fails across them. `isFerriteError` checks the mark.
 */
const FERRITE_ERROR: unique symbol = Symbol.for('ferrite.error') as never;

export class FerriteError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'FerriteError';
  }
}
Object.defineProperty(FerriteError.prototype, FERRITE_ERROR, { value: true });

/** The pool is full (code ENOSPC); the transaction that hit it was rolled back. */
export class PoolFullError extends FerriteError {
  constructor(message: string) {
    super('ENOSPC', message);
    this.name = 'PoolFullError';
  }
}

/** Damage found in persistent data (codes ECORRUPT, EBADMAGIC, EVERSION). */
export class CorruptionError extends FerriteError {
  constructor(code: 'ECORRUPT' | 'EBADMAGIC' | 'EVERSION', message: string) {
    super(code, message);
    this.name = 'CorruptionError';
  }
}

/** A key or value over its limit (code ETOOBIG); nothing was written. */
export class TooBigError extends FerriteError {
  constructor(message: string) {
    super('ETOOBIG', message);
    this.name = 'TooBigError';
  }
}

/**
 * True when `err` is a FerriteError, optionally with the given code — also one made by another
 * copy of @ferrite/core loaded in the same program (where `instanceof FerriteError` is false).
 */
export function isFerriteError(err: unknown, code?: ErrorCode): err is FerriteError {
  if (!(err instanceof FerriteError) && !(typeof err === 'object' && err !== null && (err as { [FERRITE_ERROR]?: unknown })[FERRITE_ERROR] === true)) return false;
  return code === undefined || (err as FerriteError).code === code;
}

/**
 * Asserts an invariant of ferrite's own code (TigerBeetle style): a failure here is a bug
 * in ferrite, never a user error, so it is a plain Error, not a FerriteError.
 */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`ferrite invariant violated: ${message}`);
}
