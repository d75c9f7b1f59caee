/**
 * ferrite's own msgpack extension (type 0x46, 'F'): the value kinds msgpackr has no exact
 * encoding for. value-walk.ts turns each such value into a `Tagged` whose `parts` are
 * `[tag, ...payload]`; msgpackr writes it as `d4 46 00` followed by that array packed normally
 * (so the payload's own values are ordinary msgpack, records included), and `readTagged` turns
 * the decoded array back into the value.
 *
 *   tag 0  negative zero: []                          (msgpackr writes -0 as the integer 0)
 *   tag 1  a string that is not well-formed UTF-16 (a lone surrogate): [code units, u16 LE bytes]
 *          (UTF-8 cannot hold a lone surrogate: msgpackr would write U+FFFD)
 *   tag 2  an object whose keys or prototype msgpackr cannot keep: [flags, key, value, ...]
 *          flags bit 0: null prototype. Keys `__proto__` (msgpackr renames it), `constructor`
 *          and `hasOwnProperty` (they change what msgpackr's writer does), keys with a lone
 *          surrogate (a tag 1 string in the key's place). Keys are defined, never assigned.
 *   tag 3  an array with holes: [length, index, value, ...] for the present elements only
 *   tag 4  an Error of a standard class: [class name, key, enumerable, value, ...] for every
 *          own string-keyed property (message, stack, cause, errors, code, ...)
 *   tag 5  a Node.js Buffer: [bytes] (a plain Uint8Array stays msgpack `bin`)
 *   tag 6  a boxed primitive (new Number(1), new String('s'), Object(1n)): [the primitive]
 *
 * Decoding validates every payload (the bytes come from the pool): a malformed one is
 * ECORRUPT, never a thrown TypeError or a wrong value.
 */
import { addExtension } from 'msgpackr';
import { CorruptionError } from '@ferrite/core';

/** msgpack extension type of a `Tagged` value. */
export const TAGGED_EXTENSION = 0x46;

export const TAG_NEGATIVE_ZERO = 0;
export const TAG_UTF16 = 1;
export const TAG_OBJECT = 2;
export const TAG_SPARSE_ARRAY = 3;
export const TAG_ERROR = 4;
export const TAG_BUFFER = 5;
export const TAG_BOXED = 6;

/** Flag of TAG_OBJECT: the object has a null prototype. */
export const OBJECT_NULL_PROTOTYPE = 1;

/** What msgpackr sees for a value of one of the kinds above. */
export class Tagged {
  constructor(readonly parts: unknown[]) {}
}

/** The one Tagged for -0 (it has no payload). */
export const NEGATIVE_ZERO = new Tagged([TAG_NEGATIVE_ZERO]);

/** The standard error classes an Error value may have (its prototype must be one of theirs). */
export const ERROR_CLASSES: ReadonlyMap<string, ErrorConstructor> = new Map<string, ErrorConstructor>([
  ['Error', Error],
  ['EvalError', EvalError],
  ['RangeError', RangeError],
  ['ReferenceError', ReferenceError],
  ['SyntaxError', SyntaxError],
  ['TypeError', TypeError],
  ['URIError', URIError],
  ['AggregateError', AggregateError as unknown as ErrorConstructor],
]);

/** The string's UTF-16 code units, little-endian, as a Buffer (msgpack `bin`). */
export function utf16Units(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length * 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16LE(s.charCodeAt(i), i * 2);
  return out;
}

function corrupt(what: string): CorruptionError {
  return new CorruptionError('ECORRUPT', `stored value: malformed ferrite extension (${what})`);
}

/** Most code units turned into a string per String.fromCharCode call. */
const CHARS_PER_CALL = 4096;

function readUtf16(bytes: unknown): string {
  if (!(bytes instanceof Uint8Array) || bytes.length % 2 !== 0) throw corrupt('UTF-16 payload');
  const n = bytes.length / 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  const units = new Array<number>(Math.min(n, CHARS_PER_CALL));
  for (let start = 0; start < n; start += CHARS_PER_CALL) {
    const count = Math.min(CHARS_PER_CALL, n - start);
    units.length = count;
    for (let i = 0; i < count; i++) units[i] = view.getUint16((start + i) * 2, true);
    out += String.fromCharCode(...units);
  }
  return out;
}

function defineData(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable, configurable: true });
}

function readObject(parts: unknown[]): object {
  const flags = parts[1];
  if (typeof flags !== 'number' || (flags & ~OBJECT_NULL_PROTOTYPE) !== 0 || parts.length % 2 !== 0) throw corrupt('object header');
  const out: object = (flags & OBJECT_NULL_PROTOTYPE) !== 0 ? Object.create(null) : {};
  for (let i = 2; i < parts.length; i += 2) {
    const key = parts[i];
    if (typeof key !== 'string') throw corrupt('object key');
    // defineProperty, never assignment: `out['__proto__'] = v` would set the prototype.
    defineData(out, key, parts[i + 1], true);
  }
  return out;
}

function readSparseArray(parts: unknown[]): unknown[] {
  const length = parts[1];
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > 0xffffffff || parts.length % 2 !== 0) {
    throw corrupt('sparse array length');
  }
  const out = new Array<unknown>(length);
  let last = -1;
  for (let i = 2; i < parts.length; i += 2) {
    const index = parts[i];
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index <= last || index >= length) throw corrupt('sparse array index');
    out[index] = parts[i + 1];
    last = index;
  }
  return out;
}

function readError(parts: unknown[]): Error {
  const ctor = typeof parts[1] === 'string' ? ERROR_CLASSES.get(parts[1]) : undefined;
  if (ctor === undefined || (parts.length - 2) % 3 !== 0) throw corrupt('error class');
  // A real error object (its internal brand), then exactly the stored own properties.
  const e: Error = ctor === (AggregateError as unknown) ? new AggregateError([]) : new ctor();
  for (const key of Object.getOwnPropertyNames(e)) delete (e as unknown as Record<string, unknown>)[key];
  for (let i = 2; i < parts.length; i += 3) {
    const key = parts[i];
    const enumerable = parts[i + 1];
    if (typeof key !== 'string' || typeof enumerable !== 'boolean') throw corrupt('error property');
    defineData(e, key, parts[i + 2], enumerable);
  }
  return e;
}

function readBoxed(parts: unknown[]): object {
  const v = parts[1];
  if (parts.length !== 2) throw corrupt('boxed primitive');
  switch (typeof v) {
    case 'number': case 'string': case 'boolean': case 'bigint':
      return Object(v) as object;
    default:
      throw corrupt('boxed primitive');
  }
}

/** The value a decoded Tagged payload stands for. */
export function readTagged(data: unknown): unknown {
  if (!Array.isArray(data) || data.length === 0) throw corrupt('payload');
  const parts = data as unknown[];
  switch (parts[0]) {
    case TAG_NEGATIVE_ZERO:
      if (parts.length !== 1) throw corrupt('negative zero');
      return -0;
    case TAG_UTF16:
      if (parts.length !== 2) throw corrupt('UTF-16 string');
      return readUtf16(parts[1]);
    case TAG_OBJECT:
      return readObject(parts);
    case TAG_SPARSE_ARRAY:
      return readSparseArray(parts);
    case TAG_ERROR:
      return readError(parts);
    case TAG_BUFFER:
      if (parts.length !== 2 || !(parts[1] instanceof Uint8Array)) throw corrupt('buffer');
      // Decoded bytes are already a copy (copyBuffers): a Buffer over them, no second copy.
      return Buffer.from(parts[1].buffer, parts[1].byteOffset, parts[1].byteLength);
    case TAG_BOXED:
      return readBoxed(parts);
    default:
      throw corrupt(`unknown tag ${String(parts[0])}`);
  }
}

addExtension({
  Class: Tagged,
  type: TAGGED_EXTENSION,
  write: (t: Tagged) => t.parts,
  read: readTagged,
});
