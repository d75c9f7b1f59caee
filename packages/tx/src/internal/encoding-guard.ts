/**
 * The re-entrancy rule: code that ferrite runs while it encodes a key or a value — a value's
 * getters and `toJSON` (msgpackr calls them), the element accesses of a composite key (a
 * Proxy's traps) — may READ the store, but every WRITE from there is refused.
 *
 * Why refused rather than allowed: msgpackr's pack shares one buffer and one state across
 * calls and is not re-entrant, and a collection's write is half done while its value is being
 * encoded (its arguments taken, its scratch in use). A nested write would pack over the outer
 * value or act on state the outer write is about to use. Refusing it before it touches
 * anything keeps the store unchanged by it, and lets the outer write fail cleanly (when the
 * getter lets the error through) or complete with what the getter returned.
 *
 * The rule holds for every store of the thread (`encodingInThisThread`), not only the one
 * encoding: they share msgpackr's buffer.
 *
 * Reads stay correct because no read path uses a scratch that a write still needs after it
 * has encoded its value: PMap encodes the value before the key, PSortedMap copies the key
 * before encoding the value, and a key encode entered again from inside a key encode uses a
 * scratch of its own (OrderedKeyCodec).
 */
import { FerriteError } from '@ferrite/core';
import { rejection } from './rejection.js';

/**
 * Encodes running in this thread that may run user code, in ANY store: the rule holds across
 * stores, because msgpackr's buffer is shared by every Packr of the thread. Found in review: a
 * composite key's Proxy trap that wrote to a second store packed over the first store's value
 * waiting in that buffer, and the first store committed the other bytes (ECORRUPT on read).
 */
let encodingNow = 0;

/** Marks the start of an encode that may run user code (pair with `leaveEncoding` in a finally). */
export function enterEncoding(): void {
  encodingNow++;
}

export function leaveEncoding(): void {
  encodingNow--;
}

/** True while this thread runs an encode that may run user code, of any store. */
export function encodingInThisThread(): boolean {
  return encodingNow > 0;
}

const refusals = new WeakSet<FerriteError>();

/**
 * The error for `operation` (a write, a transaction, drop, close) attempted during encoding:
 * ETXSTATE, raised before the operation touched anything (so a transaction that catches it
 * may carry on).
 */
export function writeDuringEncoding(operation: string): FerriteError {
  const err = new FerriteError(
    'ETXSTATE',
    `${operation} was refused: a value's getter/toJSON (or a key's element access) tried to write ` +
      'to a store (any store of this thread: they share the encoder) during encoding; only reads are allowed there (write after the outer write returns)',
  );
  refusals.add(err);
  return rejection(err);
}

/** True for an error made by `writeDuringEncoding` (the value codec passes it through unwrapped). */
export function isWriteDuringEncoding(err: unknown): err is FerriteError {
  return err instanceof FerriteError && refusals.has(err);
}
