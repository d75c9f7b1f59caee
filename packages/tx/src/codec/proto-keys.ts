/**
 * Values with escaped `__proto__` keys, as ferrite wrote them before value-walk.ts (extension
 * type 0x50): still decoded, never written any more (an object with a `__proto__` key is now
 * ferrite's extension, tag 2, see tagged.ts).
 *
 * The escape was: a key starting with U+0000 got one more U+0000 in front, and `__proto__`
 * became `\u0000__proto__`, in every plain object and array of the value; unescaping strips
 * exactly one U+0000 and defines each key as an own data property (`Object.defineProperty`),
 * which never touches a prototype.
 */
import { addExtension } from 'msgpackr';
import { CorruptionError } from '@ferrite/core';

/** msgpackr extension type of a value with escaped `__proto__` keys (read only). */
export const PROTO_KEYED_EXTENSION = 0x50;
/** Deepest nesting the unescape walks. */
export const MAX_ESCAPE_DEPTH = 1000;

const ESCAPE = '\u0000';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function unescape(value: unknown, depth: number): unknown {
  if (depth > MAX_ESCAPE_DEPTH) throw new CorruptionError('ECORRUPT', `escaped value nests deeper than ${MAX_ESCAPE_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v) => unescape(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    // defineProperty, never assignment: `out['__proto__'] = v` would set the prototype.
    Object.defineProperty(out, key.startsWith(ESCAPE) ? key.slice(1) : key, {
      value: unescape(value[key], depth + 1),
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return out;
}

// Read only: no class, so msgpackr never writes this extension.
addExtension({ type: PROTO_KEYED_EXTENSION, read: (data: unknown) => unescape(data, 0) });
