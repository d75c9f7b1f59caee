/**
 * Errors raised before anything was written (an unsupported key, a bad name, a value that
 * cannot be stored, an error thrown by a value's getter): a transaction that catches one may
 * carry on. Other errors out of a write (a heap failure mid-operation) doom the running
 * transaction, since the operation may be half done.
 */
import { FerriteError, TooBigError } from '@ferrite/core';

const rejections = new WeakSet<object>();

/** Marks `err` as raised before any write, and returns it (for `throw rejection(...)`). */
export function rejection<E extends FerriteError>(err: E): E {
  rejections.add(err);
  return err;
}

/**
 * Marks any thrown value — the user's own error too, from a getter, `toJSON` or a Proxy trap
 * run while a key or value was encoded — as raised before any write, and returns it unchanged.
 * A primitive cannot be marked: thrown inside a transaction it dooms the transaction, whose
 * rollback leaves the store unchanged as well.
 */
export function leftUntouched(err: unknown): unknown {
  if ((typeof err === 'object' && err !== null) || typeof err === 'function') rejections.add(err);
  return err;
}

/** True for errors that left the pool untouched: TooBigError, and errors marked here. */
export function leftPoolUntouched(err: unknown): boolean {
  if (err instanceof TooBigError) return true;
  return ((typeof err === 'object' && err !== null) || typeof err === 'function') && rejections.has(err);
}
