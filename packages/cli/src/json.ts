/**
 * Turns values decoded from a pool into JSON that round-trips without loss and without
 * surprises: JSON has no bigint, bytes, Map, Set, Date or undefined, so those become tagged
 * objects (`{"$bigint":"12"}`, `{"$bytes":"<base64>"}`, `{"$map":[[k,v],...]}`,
 * `{"$set":[...]}`, `{"$date":"<ISO>"}`, `{"$undefined":true}`); likewise the other kinds a
 * store holds: `{"$Float64Array":"<base64>"}` (any typed array but Uint8Array, `DataView`,
 * `ArrayBuffer`: its bytes), `{"$regexp":"/a+/g"}`, `{"$error":{"name",...own properties}}`,
 * `{"$boxed":v}`, `{"$number":"-0"}` (and NaN, Infinity), `{"$hole":true}` for a hole in an
 * array and `{"$holes":n}` for a run of n > 1 holes (a sparse array of 16M holes, 2.4 KB in a
 * pool, took 4.5 GB as one object per hole: found in review). Keys named `__proto__` stay ordinary data: the output objects are created without a
 * prototype and the keys are defined, never assigned, so nothing a pool holds can reach
 * Object.prototype.
 *
 * A key of the data that begins with `$` is printed with one more `$` in front (`$bigint` as
 * `$$bigint`, `$` as `$$`), so an object key made of one `$` and a name is always a tag: the
 * plain object `{ $bigint: '12' }` prints as `{"$$bigint":"12"}`, never as the bigint 12n
 * (they printed alike: found in review). Reading back, a key that begins with `$$` loses one `$`.
 */

import { FerriteError } from '@ferrite/core';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Deepest nesting converted: every value a store holds (it nests at most 1,000 levels); deeper
 * values, which only other callers can pass, print as `{"$truncated":true}` (no unbounded
 * recursion). It was 64, and `dump` cut stored values silently (found in review).
 */
export const MAX_JSON_DEPTH = 1001;

function record(): { [key: string]: JsonValue } {
  return Object.create(null) as { [key: string]: JsonValue };
}

function tagged(tag: string, value: JsonValue): { [key: string]: JsonValue } {
  const out = record();
  Object.defineProperty(out, tag, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** A key of the data as printed: one more `$` in front of one that begins with `$` (see the module comment). */
function escapeKey(key: string): string {
  return key.startsWith('$') ? `$${key}` : key;
}

/** The objects on the path being converted (a cycle is refused, never followed forever). */
const path = new Set<object>();

/**
 * Converts `value` to a JSON value (see the module comment for the tags). EVALUE for a value
 * that contains itself (values read from a pool never do; a caller's may).
 */
export function toJsonValue(value: unknown, depth = 0): JsonValue {
  if (depth === 0) path.clear();
  if (value === null || typeof value !== 'object') return convert(value, depth);
  if (path.has(value)) throw new FerriteError('EVALUE', 'toJsonValue: the value contains itself (a cycle)');
  path.add(value);
  try {
    return convert(value, depth);
  } finally {
    path.delete(value);
  }
}

function convert(value: unknown, depth: number): JsonValue {
  if (value === null) return null;
  if (depth >= MAX_JSON_DEPTH) return tagged('$truncated', true);
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      if (Object.is(value, -0)) return tagged('$number', '-0');
      return Number.isFinite(value) ? value : tagged('$number', String(value));
    case 'bigint':
      return tagged('$bigint', value.toString());
    case 'undefined':
      return tagged('$undefined', true);
    case 'symbol':
    case 'function':
      return tagged('$unsupported', typeof value);
    default:
      break;
  }
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (let i = 0; i < value.length; ) {
      if (i in value) {
        out.push(toJsonValue(value[i], depth + 1));
        i++;
        continue;
      }
      let j = i + 1;
      while (j < value.length && !(j in value)) j++;
      out.push(j - i === 1 ? tagged('$hole', true) : tagged('$holes', j - i));
      i = j;
    }
    return out;
  }
  if (value instanceof Uint8Array && (value.constructor === Uint8Array || value.constructor === Buffer)) {
    return tagged('$bytes', Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
  }
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
    return tagged(`$${value.constructor.name}`, bytes);
  }
  if (value instanceof ArrayBuffer) return tagged('$ArrayBuffer', Buffer.from(value).toString('base64'));
  if (value instanceof RegExp) return tagged('$regexp', String(value));
  if (value instanceof Error) {
    const out = record();
    Object.defineProperty(out, 'name', { value: value.name, enumerable: true, writable: true, configurable: true });
    for (const key of Object.getOwnPropertyNames(value)) {
      const v = (value as unknown as Record<string, unknown>)[key];
      Object.defineProperty(out, escapeKey(key), { value: toJsonValue(v, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return tagged('$error', out);
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
    return tagged('$boxed', toJsonValue(value.valueOf(), depth + 1));
  }
  if (value instanceof Date) return tagged('$date', Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString());
  if (value instanceof Map) {
    return tagged('$map', [...value.entries()].map(([k, v]) => [toJsonValue(k, depth + 1), toJsonValue(v, depth + 1)]));
  }
  if (value instanceof Set) return tagged('$set', [...value].map((v) => toJsonValue(v, depth + 1)));
  const out = record();
  for (const key of Object.keys(value as object)) {
    const v = (value as Record<string, unknown>)[key];
    Object.defineProperty(out, escapeKey(key), { value: toJsonValue(v, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** `JSON.stringify(toJsonValue(value))`: one line, no trailing newline. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(toJsonValue(value));
}
