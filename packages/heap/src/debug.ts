/**
 * Expensive invariant checks, TigerBeetle-style: assertions too costly for production that the
 * test suite turns on. Today one: after every transaction during which the pool or its undo
 * log grew, the deep check (the allocator's DRAM index against the pool's chunk headers and
 * bitmaps, `pool.check()`) must be clean, or the transaction's caller gets an invariant error.
 * Growth is where issue 16's corruption began: a check there catches the next such bug at its
 * first transaction, not thousands of writes later.
 *
 * On when the environment has FERRITE_DEBUG_CHECKS=1 (the repository's test runner sets it),
 * or after `setDebugChecks(true)`. Off by default: check() walks every chunk header.
 */
let enabled = typeof process !== 'undefined' && process.env?.FERRITE_DEBUG_CHECKS === '1';

/** Turns the expensive invariant checks on or off (for tests; see debug.ts). */
export function setDebugChecks(on: boolean): void {
  enabled = on;
}

/** Whether the expensive invariant checks run. */
export function debugChecks(): boolean {
  return enabled;
}
