/**
 * `__proto__` keys stay data.
 *
 * msgpackr guards against prototype pollution by renaming a decoded `__proto__` key to
 * `__proto_`: safe, but the value read back is not the value written. ferrite keeps the key:
 * a value that has an own `__proto__` key anywhere is encoded inside a msgpackr extension
 * (type 0x50) whose payload has that key escaped, and decoding defines the key back as an own
 * data property (`Object.defineProperty`), which never touches a prototype.
 *
 * Escape: a key starting with U+0000 gets one more U+0000 in front, and `__proto__` becomes
 * `\u0000__proto__`; so the mapping is injective and unescaping strips exactly one U+0000.
 * Only values whose msgpack bytes contain the text `__proto__` (a cheap native search), or
 * whose encode minted a record structure with that key, are walked at all.
 */
import { addExtension } from 'msgpackr';
import { CorruptionError, FerriteError } from '@ferrite/core';

/** msgpackr extension type of a value with escaped `__proto__` keys. */
export const PROTO_KEYED_EXTENSION = 0x50;
/** Deepest nesting the escape walks (values are also bounded by maxValueSize). */
export const MAX_ESCAPE_DEPTH = 1000;

const PROTO = '__proto__';
const ESCAPE = '\u0000';
const PROTO_BYTES = Buffer.from(PROTO, 'utf8');

/** The wrapper msgpackr sees for a value that needs its keys escaped. */
export class ProtoKeyed {
  constructor(readonly value: unknown) {}
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Below this many bytes a JS scan beats making a Buffer view and calling into native code. */
const SHORT_SCAN = 512;

/** True when bytes[start, end) may hold a `__proto__` key (false means it certainly does not). */
export function mayHoldProtoKey(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  const n = end - start;
  if (n >= SHORT_SCAN) {
    return Buffer.from(bytes.buffer, bytes.byteOffset + start, n).indexOf(PROTO_BYTES) !== -1;
  }
  // Every write encodes a value, most of them short: scan for the 9 bytes in place.
  const last = end - PROTO_BYTES.length;
  outer: for (let i = start; i <= last; i++) {
    if (bytes[i] !== 0x5f) continue; // '_'
    for (let j = 1; j < PROTO_BYTES.length; j++) if (bytes[i + j] !== PROTO_BYTES[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * True when a msgpackr structure list (arrays of keys) names `__proto__`. Such a structure is
 * never persisted: the encode that minted it starts over with the value escaped, so the shared
 * structures in a pool never hold a raw `__proto__` key and old values need no check.
 */
export function structuresHoldProtoKey(structures: readonly unknown[]): boolean {
  for (const s of structures) if (Array.isArray(s) && s.includes(PROTO)) return true;
  return false;
}

/** True when `value` has an own `__proto__` key in any plain object it contains. */
export function hasProtoKey(value: unknown, depth = 0): boolean {
  if (depth > MAX_ESCAPE_DEPTH) throw new FerriteError('EINVAL', `value nests deeper than ${MAX_ESCAPE_DEPTH} levels`);
  if (Array.isArray(value)) return value.some((v) => hasProtoKey(v, depth + 1));
  if (!isPlainObject(value)) return false;
  if (Object.prototype.hasOwnProperty.call(value, PROTO)) return true;
  for (const key of Object.keys(value)) if (hasProtoKey(value[key], depth + 1)) return true;
  return false;
}

function defineData(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function escape(value: unknown, depth: number): unknown {
  if (depth > MAX_ESCAPE_DEPTH) throw new FerriteError('EINVAL', `value nests deeper than ${MAX_ESCAPE_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v) => escape(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const escaped = key === PROTO || key.startsWith(ESCAPE) ? ESCAPE + key : key;
    defineData(out, escaped, escape(value[key], depth + 1));
  }
  return out;
}

function unescape(value: unknown, depth: number): unknown {
  if (depth > MAX_ESCAPE_DEPTH) throw new CorruptionError('ECORRUPT', `escaped value nests deeper than ${MAX_ESCAPE_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v) => unescape(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    // defineProperty, never assignment: `out['__proto__'] = v` would set the prototype.
    defineData(out, key.startsWith(ESCAPE) ? key.slice(1) : key, unescape(value[key], depth + 1));
  }
  return out;
}

addExtension({
  Class: ProtoKeyed,
  type: PROTO_KEYED_EXTENSION,
  write: (instance: ProtoKeyed) => escape(instance.value, 0),
  read: (data: unknown) => unescape(data, 0),
});
