/**
 * Which JavaScript values a store holds, and how each reaches msgpackr.
 *
 * Before a value is packed, `ValueWalk.prepare` walks it once and returns what msgpackr is
 * given: a copy made only of plain data, built-in containers and `Tagged` values (tagged.ts).
 * Every value either comes back from the store exactly — same type, same contents, same bytes —
 * or is refused here with EVALUE (naming the kind and where in the value it was met), before
 * anything is written. The rules (docs/api.md has the table for users):
 *
 * - kept as msgpackr writes them: `null`, `undefined`, booleans, numbers (NaN and ±Infinity
 *   included), well-formed strings, bigints (64-bit ones as msgpack integers, larger ones in
 *   msgpackr's bigint extension), plain objects (records), arrays without holes,
 *   `Uint8Array` (msgpack `bin`), `Map`, `Set`, `Date` (invalid ones too), `RegExp`, the other
 *   typed arrays, `DataView`, `ArrayBuffer` (msgpackr's typed extensions, `moreTypes`);
 * - kept through a `Tagged` value: -0, strings with a lone surrogate, objects with a null
 *   prototype or an own `__proto__` / `constructor` / `hasOwnProperty` key or a key with a
 *   lone surrogate, arrays with holes, errors of the standard classes, `Buffer`, boxed
 *   primitives;
 * - stored as what they present: getters (read once), Proxies (through their traps), class
 *   instances with a `toJSON` method (what it returns, as `JSON.stringify` does);
 * - refused (EVALUE): symbols, functions, cycles, other class instances (including subclasses
 *   of built-ins), WeakMap, WeakSet, WeakRef, Promise, SharedArrayBuffer, boxed symbols,
 *   detached or resizable buffers, typed arrays msgpackr has no code for (Float16Array).
 * - not stored, as with `structuredClone` and JSON: symbol-keyed and non-enumerable
 *   properties of objects, and own properties other than the elements of arrays, Maps, Sets,
 *   Dates, RegExps (their `lastIndex` too) and binary values.
 *
 * Why a copy: a getter, a `toJSON` or a Proxy trap must run once per write (the walk reads each
 * property once and msgpackr then only reads the copy), and whatever user code throws there
 * propagates unchanged, before msgpackr starts. Shared references come back as separate equal
 * copies; cycles are refused.
 *
 * Bounds: nesting at most MAX_VALUE_DEPTH; a running lower bound of the encoded size (one byte
 * per value, plus string lengths and binary lengths) refuses with ETOOBIG as soon as it passes
 * maxValueSize, so a huge or exponentially shared value is never walked or copied in full.
 */
import { types } from 'node:util';
import { FerriteError, TooBigError } from '@ferrite/core';
import {
  ERROR_CLASSES, NEGATIVE_ZERO, OBJECT_NULL_PROTOTYPE, TAG_BOXED, TAG_BUFFER, TAG_ERROR, TAG_OBJECT,
  TAG_SPARSE_ARRAY, TAG_UTF16, Tagged, utf16Units,
} from './tagged.js';

/** Deepest nesting of objects and arrays in a value. */
export const MAX_VALUE_DEPTH = 1000;

/**
 * Bound of a value's weighted depth: every level of nesting counts 1, and a level of a kind
 * msgpackr encodes through an extension (a Set, an Error, a boxed primitive, and what ferrite's
 * extension carries: an array with holes, an object with a null prototype or a special key)
 * counts 2, as it takes about twice the stack to encode. So at most 500 such levels. A fixed
 * bound, where the stack used to decide (found in review: 500 to 1,000 levels of them were
 * accepted or not depending on how warm the JIT was, and a value a warm process stored could
 * not be encoded again by a compaction, which runs cold and from a deeper stack).
 */
export const MAX_VALUE_WEIGHT = 1000;

/** A value refused by the walk: EVALUE, with the kind and the path inside the value. */
export class ValueError extends FerriteError {
  constructor(
    /** What was refused, e.g. 'a function', 'a WeakMap'. */
    readonly kind: string,
    /** Where: `value`, `value.a[3]`, `value.m{value #2}`. */
    readonly path: string,
    why: string,
  ) {
    super('EVALUE', `${path} is ${kind}: ${why}; nothing was written`);
    this.name = 'ValueError';
  }
}

/** The typed arrays msgpackr encodes exactly (its `typedArrays` list), by prototype. */
const TYPED_ARRAYS = new Map<object, new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView>(
  [Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map(
    (c) => [c.prototype, c as unknown as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView],
  ),
);
const ERROR_PROTOTYPES = new Map<object, string>([...ERROR_CLASSES].map(([name, c]) => [c.prototype, name]));

// The built-ins' own accessors, called directly: an own property of the user's object (a
// `byteLength` shadowing the prototype's) must not change what is stored.
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
function getter(proto: object, name: string): (this: unknown) => unknown {
  const d = Object.getOwnPropertyDescriptor(proto, name);
  if (d?.get === undefined) throw new Error(`ferrite: no ${name} getter`);
  return d.get;
}
const taBuffer = getter(typedArrayProto, 'buffer') as (this: unknown) => ArrayBufferLike;
const taByteOffset = getter(typedArrayProto, 'byteOffset') as (this: unknown) => number;
const taByteLength = getter(typedArrayProto, 'byteLength') as (this: unknown) => number;
const taLength = getter(typedArrayProto, 'length') as (this: unknown) => number;
const dvBuffer = getter(DataView.prototype, 'buffer') as (this: unknown) => ArrayBufferLike;
const dvByteOffset = getter(DataView.prototype, 'byteOffset') as (this: unknown) => number;
const dvByteLength = getter(DataView.prototype, 'byteLength') as (this: unknown) => number;
const abByteLength = getter(ArrayBuffer.prototype, 'byteLength') as (this: unknown) => number;
const abResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get as ((this: unknown) => boolean) | undefined;
const abDetached = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get as ((this: unknown) => boolean) | undefined;
const abSlice = ArrayBuffer.prototype.slice;
const dateGetTime = Date.prototype.getTime;
const mapEntries = Map.prototype.entries;
const setValues = Set.prototype.values;
const hasOwn = Object.prototype.hasOwnProperty;
/** `String.prototype.isWellFormed` (ES2024; Node 20 has it, the project's TypeScript lib does not). */
const isWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/**
 * True when msgpackr may not give `s` back exactly, so it is stored as its UTF-16 units
 * (TAG_UTF16): a lone surrogate (UTF-8 cannot hold it), or a leading U+FEFF. msgpackr decodes
 * strings over 64 bytes with a TextDecoder that drops a leading byte order mark where its
 * native addon (msgpackr-extract, an optional dependency) is not installed (found in review:
 * '\uFEFF' + 70 characters read back without it, object keys likewise).
 */
function needsUnits(s: string): boolean {
  return s.charCodeAt(0) === 0xfeff || !isWellFormed.call(s);
}
const propertyIsEnumerable = Object.prototype.propertyIsEnumerable;

/** A typed array's element count and buffer by the built-in getters (own properties of `v` shadowing them are not read). */
export function typedArrayLength(v: ArrayBufferView): number {
  return taLength.call(v);
}
export function typedArrayBuffer(v: ArrayBufferView): ArrayBufferLike {
  return taBuffer.call(v);
}

/** True when `buffer` was detached (transferred): its views read as empty. */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (abDetached !== undefined && types.isArrayBuffer(buffer)) return abDetached.call(buffer);
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer); // Node 20 has no `detached`: a view of a detached buffer cannot be made
    return false;
  } catch {
    return true;
  }
}

/** What the step at a depth of a path is (`ValueWalk.kinds`); its key or index is in `keys`. */
const STEP_PROPERTY = 0;
const STEP_INDEX = 1;
const STEP_MAP_KEY = 2;
const STEP_MAP_VALUE = 3;
const STEP_SET_ELEMENT = 4;
const STEP_TO_JSON = 5;
const STEP_PRIMITIVE = 6;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `value.a[3]`, `value.m{value #2}`, `value.x{toJSON()}`: the path to depth `depth`. */
function describePath(kinds: Uint8Array, keys: readonly (string | number)[], depth: number): string {
  let out = 'value';
  for (let i = 0; i < depth; i++) {
    const k = keys[i]!;
    switch (kinds[i]) {
      case STEP_PROPERTY:
        out += IDENTIFIER.test(String(k)) ? `.${String(k)}` : `[${JSON.stringify(k)}]`;
        break;
      case STEP_INDEX: out += `[${String(k)}]`; break;
      case STEP_MAP_KEY: out += `{key #${String(k)}}`; break;
      case STEP_MAP_VALUE: out += `{value #${String(k)}}`; break;
      case STEP_SET_ELEMENT: out += `{element #${String(k)}}`; break;
      case STEP_TO_JSON: out += '{toJSON()}'; break;
      default: out += '{primitive}'; break;
    }
  }
  return out;
}

/** A short name for what `v` is, for error messages (reads no user property but `constructor`). */
function kindOf(v: object, proto: object | null): string {
  if (types.isPromise(v)) return 'a Promise';
  if (types.isWeakMap(v)) return 'a WeakMap';
  if (types.isWeakSet(v)) return 'a WeakSet';
  if (types.isSharedArrayBuffer(v)) return 'a SharedArrayBuffer';
  if (types.isGeneratorObject(v)) return 'a generator';
  if (types.isProxy(v)) return 'a Proxy';
  if (typeof WeakRef === 'function' && v instanceof WeakRef) return 'a WeakRef';
  const ctor: unknown = proto === null ? undefined : (proto as { constructor?: unknown }).constructor;
  const name = typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '' ? ctor.name : 'anonymous class';
  return `an instance of ${name}`;
}

/**
 * The walk. One per codec: it keeps its scratch (the path and ancestor stacks) between values,
 * and is not re-entered (the Store refuses writes while a value is being encoded).
 */
export class ValueWalk {
  /** The path, by depth (valid up to the current depth): what each step is, and its key or index. */
  private readonly kinds = new Uint8Array(MAX_VALUE_DEPTH + 1);
  private readonly keys: (string | number)[] = [];
  /** The objects being walked, by depth (for cycles). */
  private readonly ancestors: object[] = [];
  /** Lower bound of the encoded size so far. */
  private bytes = 0;
  private limit = 0;
  /** Deepest level used by this prepare (the stacks are cleared up to it afterwards). */
  private deepest = 0;
  /** Weighted depth (MAX_VALUE_WEIGHT) of what the last `walk` call returned: 0 for a leaf. */
  private sub = 0;

  /**
   * What msgpackr should pack for `value` (see the file comment). Throws ValueError (EVALUE)
   * for a value that cannot be stored exactly, TooBigError (ETOOBIG) once the value is known to
   * encode to more than `maxValueSize` bytes, and whatever the user's code (a getter, `toJSON`,
   * a Proxy trap) throws, unchanged.
   */
  prepare(value: unknown, maxValueSize: number): unknown {
    this.bytes = 0;
    this.limit = maxValueSize;
    this.deepest = 0;
    try {
      const prepared = this.walk(value, 0);
      if (this.sub > MAX_VALUE_WEIGHT) {
        return this.refuse('nested too deep', 0, `its weighted depth is ${this.sub}, over ${MAX_VALUE_WEIGHT} (a level counts 1, a level of a Set, an Error, a boxed primitive, an array with holes or an object with a null prototype or a special key counts 2)`);
      }
      return prepared;
    } finally {
      // Keep no reference to the user's objects.
      const n = Math.min(this.deepest + 1, this.ancestors.length);
      this.ancestors.fill(undefined as unknown as object, 0, n);
      this.keys.fill(0, 0, Math.min(this.deepest + 1, this.keys.length));
    }
  }

  private grow(n: number): void {
    this.bytes += n;
    if (this.bytes > this.limit) this.tooBig();
  }

  private tooBig(): never {
    throw new TooBigError(`value encoding is more than ${this.limit} bytes (maxValueSize); nothing was written`);
  }

  private refuse(kind: string, depth: number, why: string): never {
    throw new ValueError(kind, describePath(this.kinds, this.keys, depth), why);
  }

  private walk(v: unknown, depth: number): unknown {
    this.sub = 0;
    switch (typeof v) {
      case 'number':
        this.grow(1);
        // -0 is the only number msgpackr changes (it writes the integer 0).
        return v === 0 && 1 / v < 0 ? NEGATIVE_ZERO : v;
      case 'string':
        this.grow(1 + v.length);
        return needsUnits(v) ? new Tagged([TAG_UTF16, utf16Units(v)]) : v;
      case 'boolean':
      case 'undefined':
        this.grow(1);
        return v;
      case 'bigint':
        this.grow(9);
        return v;
      case 'symbol':
        return this.refuse('a symbol', depth, 'symbols have no stored form');
      case 'function':
        return this.refuse('a function', depth, 'functions are not data');
      default:
        if (v === null) {
          this.grow(1);
          return null;
        }
        return this.object(v as object, depth);
    }
  }

  private object(v: object, depth: number): unknown {
    if (depth >= MAX_VALUE_DEPTH) return this.refuse('nested too deep', depth, `values nest at most ${MAX_VALUE_DEPTH} levels`);
    const ancestors = this.ancestors;
    for (let i = 0; i < depth; i++) {
      if (ancestors[i] === v) return this.refuse('a cycle', depth, `it is the object at ${describePath(this.kinds, this.keys, i)}, which contains it`);
    }
    ancestors[depth] = v;
    if (depth > this.deepest) this.deepest = depth;
    this.grow(1);
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) return this.other(v, Object.getPrototypeOf(v) as object | null, depth);
      return this.array(v as unknown[], depth);
    }
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto === Object.prototype) return this.plainObject(v as Record<string, unknown>, depth, false);
    if (proto === null) return this.plainObject(v as Record<string, unknown>, depth, true);
    return this.other(v, proto, depth);
  }

  private plainObject(o: Record<string, unknown>, depth: number, nullProto: boolean): unknown {
    // The copy msgpackr writes as a record. Spread reads every own enumerable property once
    // (getters and Proxy traps run here, once) and, for an object of data properties, copies
    // its hidden class in one step; nested values are replaced below only where they change.
    const copy: Record<string, unknown> = { ...o };
    const keys = Object.keys(copy);
    const kinds = this.kinds;
    const path = this.keys;
    kinds[depth] = STEP_PROPERTY;
    // `pairs` instead of the record when a key or the prototype needs ferrite's extension.
    let pairs: unknown[] | undefined = nullProto ? [TAG_OBJECT, OBJECT_NULL_PROTOTYPE] : undefined;
    let below = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (pairs === undefined && (key === '__proto__' || key === 'constructor' || key === 'hasOwnProperty' || needsUnits(key))) {
        pairs = [TAG_OBJECT, 0];
        for (let j = 0; j < i; j++) pairs.push(keys[j], copy[keys[j]!]);
      }
      // Keys do not count towards the bound: a record's keys live in its shared structure.
      path[depth] = key;
      const x = copy[key];
      if (typeof x === 'number' && pairs === undefined) {
        // The common field, inline: a byte at least, and -0 kept.
        if (++this.bytes > this.limit) this.tooBig();
        if (x === 0 && 1 / x < 0) copy[key] = NEGATIVE_ZERO;
        continue;
      }
      const y = this.walk(x, depth + 1);
      if (this.sub > below) below = this.sub;
      if (pairs !== undefined) pairs.push(needsUnits(key) ? new Tagged([TAG_UTF16, utf16Units(key)]) : key, y);
      else if (y !== x) copy[key] = y;
    }
    this.sub = below + (pairs === undefined ? 1 : 2);
    return pairs === undefined ? copy : new Tagged(pairs);
  }

  private array(a: unknown[], depth: number): unknown {
    const n = a.length;
    // Every element costs at least a byte, and the walk visits holes too: an array longer
    // than what is left of the bound is refused before it is walked (sparse ones included).
    if (n > this.limit - this.bytes) {
      throw new TooBigError(`an array of length ${n} does not fit maxValueSize (${this.limit} bytes); nothing was written`);
    }
    // A copy read once (element getters and Proxy traps run here), holes kept; elements are
    // replaced below only where they change. Not Array.prototype.slice: it makes its result
    // with `a.constructor[Symbol.species]`, so an array with an own `constructor` (an extra
    // property, which is not stored) came back as an ArrayBuffer, a RegExp..., or threw a raw
    // TypeError (found in review). `in` is slice's own test for a hole.
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) if (i in a) out[i] = a[i];
    const path = this.keys;
    this.kinds[depth] = STEP_INDEX;
    let holes = false;
    let numbers = 0;
    let below = 0;
    for (let i = 0; i < n; i++) {
      const x = out[i];
      if (typeof x === 'number') {
        // The common element, inline (its byte counted after the loop), -0 kept.
        numbers++;
        if (x === 0 && 1 / x < 0) out[i] = NEGATIVE_ZERO;
        continue;
      }
      path[depth] = i;
      if (x === undefined && !hasOwn.call(out, i)) {
        holes = true;
        continue;
      }
      const y = this.walk(x, depth + 1);
      if (this.sub > below) below = this.sub;
      if (y !== x) out[i] = y;
    }
    this.grow(numbers);
    this.sub = below + (holes ? 2 : 1);
    if (!holes) return out;
    const sparse: unknown[] = [TAG_SPARSE_ARRAY, n];
    for (let i = 0; i < n; i++) if (hasOwn.call(out, i)) sparse.push(i, out[i]);
    return new Tagged(sparse);
  }

  /** Everything but plain objects and plain arrays. */
  private other(v: object, proto: object | null, depth: number): unknown {
    if (ArrayBuffer.isView(v)) return this.binaryView(v, proto, depth);
    if (types.isArrayBuffer(v) && proto === ArrayBuffer.prototype) {
      if (isDetached(v as ArrayBuffer)) return this.refuse('a detached ArrayBuffer', depth, 'its bytes are gone');
      if (abResizable !== undefined && abResizable.call(v)) {
        return this.refuse('a resizable ArrayBuffer', depth, 'it would come back fixed-length; store buffer.slice() instead');
      }
      this.grow(abByteLength.call(v));
      return abSlice.call(v, 0); // a copy: nothing of the user's object is read while packing
    }
    if (types.isDate(v)) {
      if (proto === Date.prototype) return new Date(dateGetTime.call(v));
      // A subclass, or a Date of another realm (vm): refused as other built-ins' are; the toJSON
      // rule below would store it as a string (or null), silently.
      return this.refuse(kindOf(v, proto), depth, 'subclasses of Date and Dates of another realm are not stored (store new Date(d.getTime()))');
    }
    if (types.isMap(v) && proto === Map.prototype) return this.map(v as Map<unknown, unknown>, depth);
    if (types.isSet(v) && proto === Set.prototype) return this.set(v as Set<unknown>, depth);
    if (types.isRegExp(v) && proto === RegExp.prototype) {
      const copy = new RegExp(v as RegExp); // from its internal source and flags
      this.grow(copy.source.length);
      return copy;
    }
    if (types.isNativeError(v)) {
      const name = proto === null ? undefined : ERROR_PROTOTYPES.get(proto);
      if (name !== undefined) return this.error(v as Error, name, depth);
    }
    if (types.isBoxedPrimitive(v)) return this.boxed(v, proto, depth);
    // A class instance (or a built-in we do not store): its toJSON, as JSON.stringify does.
    const toJSON: unknown = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json: unknown = toJSON.call(v);
      if (json === v) return this.refuse(kindOf(v, proto), depth, 'its toJSON returns the object itself');
      this.kinds[depth] = STEP_TO_JSON;
      return this.walk(json, depth + 1);
    }
    return this.refuse(kindOf(v, proto), depth, 'only plain objects, arrays, and the built-in types listed in the docs are stored (give a class a toJSON method)');
  }

  private binaryView(v: ArrayBufferView, proto: object | null, depth: number): unknown {
    if (types.isDataView(v)) {
      if (proto !== DataView.prototype) return this.refuse(kindOf(v, proto), depth, 'subclasses of DataView are not stored');
      const buffer = dvBuffer.call(v);
      if (isDetached(buffer)) return this.refuse('a DataView of a detached buffer', depth, 'its bytes are gone');
      const length = dvByteLength.call(v);
      this.grow(length);
      return new DataView(buffer, dvByteOffset.call(v), length);
    }
    const buffer = taBuffer.call(v);
    if (isDetached(buffer)) return this.refuse('a typed array of a detached buffer', depth, 'its bytes are gone');
    const offset = taByteOffset.call(v);
    const byteLength = taByteLength.call(v);
    this.grow(byteLength);
    if (proto === Uint8Array.prototype) return Buffer.from(buffer, offset, byteLength); // msgpack bin, as before
    if (proto === Buffer.prototype) return new Tagged([TAG_BUFFER, Buffer.from(buffer, offset, byteLength)]);
    const ctor = proto === null ? undefined : TYPED_ARRAYS.get(proto);
    if (ctor === undefined) return this.refuse(kindOf(v, proto), depth, 'msgpack has no code for this typed array');
    return new ctor(buffer, offset, taLength.call(v));
  }

  private map(m: Map<unknown, unknown>, depth: number): Map<unknown, unknown> {
    const out = new Map<unknown, unknown>();
    const kinds = this.kinds;
    const path = this.keys;
    let i = 0;
    let below = 0;
    for (const [k, x] of mapEntries.call(m) as IterableIterator<[unknown, unknown]>) {
      path[depth] = i++;
      kinds[depth] = STEP_MAP_KEY;
      const key = this.walk(k, depth + 1);
      if (this.sub > below) below = this.sub;
      kinds[depth] = STEP_MAP_VALUE;
      out.set(key, this.walk(x, depth + 1));
      if (this.sub > below) below = this.sub;
    }
    this.sub = below + 1;
    return out;
  }

  private set(s: Set<unknown>, depth: number): Set<unknown> {
    const out = new Set<unknown>();
    this.kinds[depth] = STEP_SET_ELEMENT;
    const path = this.keys;
    let i = 0;
    let below = 0;
    for (const x of setValues.call(s) as IterableIterator<unknown>) {
      path[depth] = i++;
      out.add(this.walk(x, depth + 1));
      if (this.sub > below) below = this.sub;
    }
    this.sub = below + 2;
    return out;
  }

  private error(e: Error, name: string, depth: number): Tagged {
    const parts: unknown[] = [TAG_ERROR, name];
    let below = 0;
    for (const key of Object.getOwnPropertyNames(e)) {
      this.grow(1 + key.length);
      this.kinds[depth] = STEP_PROPERTY;
      this.keys[depth] = key;
      const enumerable = propertyIsEnumerable.call(e, key);
      parts.push(key, enumerable, this.walk((e as unknown as Record<string, unknown>)[key], depth + 1));
      if (this.sub > below) below = this.sub;
    }
    this.sub = below + 2;
    return new Tagged(parts);
  }

  private boxed(v: object, proto: object | null, depth: number): unknown {
    let primitive: unknown;
    if (types.isNumberObject(v) && proto === Number.prototype) primitive = Number.prototype.valueOf.call(v);
    else if (types.isStringObject(v) && proto === String.prototype) primitive = String.prototype.valueOf.call(v);
    else if (types.isBooleanObject(v) && proto === Boolean.prototype) primitive = Boolean.prototype.valueOf.call(v);
    else if (types.isBigIntObject(v) && proto === BigInt.prototype) primitive = BigInt.prototype.valueOf.call(v);
    else if (types.isSymbolObject(v)) return this.refuse('a boxed symbol', depth, 'symbols have no stored form');
    else return this.refuse(kindOf(v, proto), depth, 'subclasses of boxed primitives are not stored');
    this.kinds[depth] = STEP_PRIMITIVE;
    const inner = this.walk(primitive, depth + 1);
    this.sub = 2;
    return new Tagged([TAG_BOXED, inner]);
  }
}
