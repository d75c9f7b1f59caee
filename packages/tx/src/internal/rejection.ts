/**
 * Errors raised before anything was written (an unsupported key, a bad name): a transaction
 * that catches one may carry on. Other errors out of a write (a heap failure mid-operation)
 * doom the running transaction, since the operation may be half done.
 */
import { FerriteError, TooBigError } from '@ferrite/core';

const rejections = new WeakSet<FerriteError>();

/** Marks `err` as raised before any write, and returns it (for `throw rejection(...)`). */
export function rejection(err: FerriteError): FerriteError {
  rejections.add(err);
  return err;
}

/** True for errors that left the pool untouched: TooBigError, and errors marked by `rejection`. */
export function leftPoolUntouched(err: unknown): boolean {
  return err instanceof TooBigError || (err instanceof FerriteError && rejections.has(err));
}
