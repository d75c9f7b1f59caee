/**
 * Checking the arguments of public functions: one step at the start of each entry point, so
 * a wrong argument is an EINVAL `FerriteError` that names the function and the argument, before
 * anything is touched, instead of a TypeError from deep inside (or a silently ignored typo).
 *
 * Options objects are read once: `readOptions` takes a snapshot of the known names (a getter
 * on the options object runs once, and what it throws propagates unchanged) and refuses any
 * other own enumerable name, so `{ lmit: 2 }` is an error, not an ignored option.
 */
import { FerriteError } from './errors.js';

/** A short description of an argument for a message; runs no user code. */
export function describeArgument(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v.length > 40 ? `a string of length ${v.length}` : JSON.stringify(v);
    case 'number':
    case 'boolean':
    case 'undefined':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return `${v}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'an array';
      return 'an object';
  }
}

/** The EINVAL error for argument `name` of `fn`, which must be `what`. */
export function invalidArgument(fn: string, name: string, what: string, got: unknown): FerriteError {
  return new FerriteError('EINVAL', `${fn}: ${name} must be ${what}, got ${describeArgument(got)}`);
}

/**
 * The options argument of `fn`: undefined (every option takes its default) or an object whose
 * own enumerable names are all in `known`. Returns a snapshot holding each known option that
 * was given (read once). EINVAL for another type or an unknown name.
 */
export function readOptions<K extends string>(fn: string, options: unknown, known: readonly K[]): Partial<Record<K, unknown>> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument(fn, 'options', 'an object', options);
  }
  const unknown = Object.keys(options).filter((k) => !(known as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new FerriteError('EINVAL', `${fn}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the options are ${known.join(', ')})`);
  }
  const out: Partial<Record<K, unknown>> = {};
  for (const k of known) {
    const v = (options as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Option `name` of `fn` as a boolean, or `fallback` when absent. EINVAL for any other type. */
export function booleanOption(fn: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalidArgument(fn, `option ${name}`, 'true or false', v);
  return v;
}

/**
 * Option (or argument) `name` of `fn` as an integer in [min, max], or `fallback` when absent.
 * EINVAL for another type, a fraction, NaN, or a number out of range.
 */
export function integerOption(fn: string, name: string, v: unknown, min: number, max: number, fallback: number): number;
export function integerOption(fn: string, name: string, v: unknown, min: number, max: number, fallback?: number): number | undefined;
export function integerOption(fn: string, name: string, v: unknown, min: number, max: number, fallback?: number): number | undefined {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalidArgument(fn, name, `an integer in [${min}, ${max}]`, v);
  }
  return v;
}

/** Option `name` of `fn` as a string, or `fallback` when absent. EINVAL for any other type. */
export function stringOption(fn: string, name: string, v: unknown, fallback: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw invalidArgument(fn, `option ${name}`, 'a string', v);
  return v;
}
