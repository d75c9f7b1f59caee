/**
 * Exact equality of stored values, stricter than `assert.deepStrictEqual` where a store must be:
 * prototypes are identical (Buffer is not Uint8Array, a null prototype is not Object's), holes
 * are not `undefined`, -0 is not 0, binary values compare their bytes (DataView and ArrayBuffer
 * too), Maps and Sets compare in insertion order, errors compare every own property with its
 * enumerability, dates their time (NaN for an invalid one), regular expressions source and flags.
 */
import assert from 'node:assert/strict';

const hasOwn = Object.prototype.hasOwnProperty;

function bytesOf(v: ArrayBufferView | ArrayBufferLike): Uint8Array {
  return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function show(v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : String(v);
  } catch {
    return typeof v;
  }
}

/** The first difference between `actual` and `expected`, or undefined when they are the same value. */
export function difference(actual: unknown, expected: unknown, path = 'value'): string | undefined {
  if (typeof actual !== typeof expected) return `${path}: ${typeof actual} instead of ${typeof expected}`;
  if (typeof expected !== 'object' || expected === null || actual === null) {
    return Object.is(actual, expected) ? undefined : `${path}: ${show(actual)} instead of ${show(expected)}`;
  }
  const a = actual as object;
  const e = expected as object;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(e)) return `${path}: another prototype (${a.constructor?.name} instead of ${e.constructor?.name})`;
  if (ArrayBuffer.isView(e) || e instanceof ArrayBuffer) {
    if (!sameBytes(bytesOf(a as ArrayBufferView), bytesOf(e as ArrayBufferView))) return `${path}: other bytes`;
    if (ArrayBuffer.isView(e) && !(e instanceof DataView) && (a as Uint8Array).length !== (e as Uint8Array).length) return `${path}: other length`;
    return undefined;
  }
  if (e instanceof Date) return Object.is((a as Date).getTime(), e.getTime()) ? undefined : `${path}: date ${(a as Date).getTime()} instead of ${e.getTime()}`;
  if (e instanceof RegExp) {
    const r = a as RegExp;
    return r.source === e.source && r.flags === e.flags ? undefined : `${path}: /${r.source}/${r.flags} instead of /${e.source}/${e.flags}`;
  }
  if (e instanceof Map || e instanceof Set) {
    const ae = [...(a as Map<unknown, unknown>).entries()];
    const ee = [...(e as Map<unknown, unknown>).entries()];
    if (ae.length !== ee.length) return `${path}: size ${ae.length} instead of ${ee.length}`;
    for (let i = 0; i < ee.length; i++) {
      const d = difference(ae[i]![0], ee[i]![0], `${path}{key #${i}}`) ?? difference(ae[i]![1], ee[i]![1], `${path}{value #${i}}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (e instanceof Number || e instanceof String || e instanceof Boolean || (typeof BigInt === 'function' && e instanceof BigInt)) {
    return difference((a as { valueOf(): unknown }).valueOf(), (e as { valueOf(): unknown }).valueOf(), `${path}.valueOf()`);
  }
  if (Array.isArray(e)) {
    const arr = a as unknown[];
    if (arr.length !== e.length) return `${path}: length ${arr.length} instead of ${e.length}`;
    for (let i = 0; i < e.length; i++) {
      if (hasOwn.call(arr, i) !== hasOwn.call(e, i)) return `${path}[${i}]: ${hasOwn.call(e, i) ? 'a hole' : 'an element'} instead of ${hasOwn.call(e, i) ? 'an element' : 'a hole'}`;
      const d = difference(arr[i], e[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  // Objects and errors: every own string-keyed property (errors: the non-enumerable ones too), in order.
  const isError = e instanceof Error;
  const keysOf = (o: object): string[] => (isError ? Object.getOwnPropertyNames(o) : Object.keys(o));
  const ak = keysOf(a);
  const ek = keysOf(e);
  if (ak.join('\u0001') !== ek.join('\u0001')) return `${path}: keys ${JSON.stringify(ak)} instead of ${JSON.stringify(ek)}`;
  for (const k of ek) {
    if (isError && Object.prototype.propertyIsEnumerable.call(a, k) !== Object.prototype.propertyIsEnumerable.call(e, k)) {
      return `${path}.${k}: other enumerability`;
    }
    const d = difference((a as Record<string, unknown>)[k], (e as Record<string, unknown>)[k], `${path}[${JSON.stringify(k)}]`);
    if (d !== undefined) return d;
  }
  return undefined;
}

/** Asserts that `actual` is exactly `expected` (see the file comment). */
export function assertSame(actual: unknown, expected: unknown, message = ''): void {
  const d = difference(actual, expected);
  if (d !== undefined) assert.fail(`${message}${message === '' ? '' : ': '}${d}`);
}
