import { FerriteError } from './errors.js';

/**
 * Validates that [offset, offset + length) is a range of whole, non-negative safe integers
 * inside a region of `regionLength` bytes. Every Region implementation calls it before it
 * touches memory, so a bad range is an ERANGE/EINVAL error, never a fault.
 */
export function checkRange(what: string, offset: number, length: number, regionLength: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new FerriteError('EINVAL', `${what}: offset must be a non-negative integer, got ${String(offset)}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new FerriteError('EINVAL', `${what}: length must be a non-negative integer, got ${String(length)}`);
  }
  if (offset + length > regionLength) {
    throw new FerriteError(
      'ERANGE',
      `${what}: range [${offset}, ${offset + length}) is outside the region of ${regionLength} bytes`,
    );
  }
}
