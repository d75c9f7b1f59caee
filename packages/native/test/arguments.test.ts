/**
 * Argument checking under fuzz: any JavaScript value passed to any method either works or
 * throws a FerriteError with a documented code; the process never faults.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { FerriteError } from '@ferrite/core';
import { map, pageSize } from '../src/index.js';
import type { Mapping } from '../src/index.js';
import { scratchDir, shmBase } from './helpers.js';

const PAGE = pageSize();
const scratch = scratchDir(shmBase);
after(() => scratch.remove());
const CODES = new Set(['EINVAL', 'ERANGE', 'EACCES', 'ECLOSED', 'ENOMEM', 'ENOSPC']);

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof FerriteError, `a FerriteError, got ${String(err)}`);
    assert.ok(CODES.has(err.code), `documented code, got ${err.code}: ${err.message}`);
    return err.code;
  }
}

/** String(x), or the object tag when x's own toString is broken (fc.anything() makes such objects). */
function printable(x: unknown): string {
  try {
    return String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}

// Values near the interesting edges, plus anything at all.
const edgy = fc.oneof(
  fc.constantFrom(0, 1, -1, 63, 64, 65, PAGE - 1, PAGE, PAGE + 1, 4 * PAGE, 4 * PAGE + 1, 2 ** 32, 2 ** 46, 2 ** 53,
    Number.MAX_SAFE_INTEGER, -0, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.integer({ min: -10, max: 5 * PAGE }),
  fc.double(),
  fc.anything(),
);

it('flush, persist, drain, flushRanges, protect and grow survive arbitrary arguments', () => {
  let n = 0;
  const mappings: Mapping[] = [];
  const make = (forcePmem: boolean): Mapping => {
    const m = map(join(scratch.dir, `f${n++}.pool`), { create: { size: 4 * PAGE }, forcePmem });
    mappings.push(m);
    return m;
  };
  const targets = [make(true), make(false)];
  fc.assert(
    fc.property(
      fc.constantFrom(0, 1),
      fc.constantFrom('flush', 'persist', 'drain', 'flushRanges', 'flushRangesF64', 'protect', 'grow'),
      edgy,
      edgy,
      edgy,
      (which, method, a, b, c) => {
        const m = targets[which];
        const before = m.length;
        const args = [a, b, c] as unknown[];
        const call = m as unknown as Record<string, (...xs: unknown[]) => unknown>;
        let result: string;
        if (method === 'flushRangesF64') {
          const values = args.map((x) => (typeof x === 'number' ? x : 0));
          result = outcome(() => m.flushRanges(new Float64Array(values), typeof c === 'number' ? 1 : undefined));
        } else if (method === 'flushRanges') {
          result = outcome(() => m.flushRanges(args as number[], typeof c === 'number' && c < 3 ? c : undefined));
        } else if (method === 'grow') {
          // Bounded so that the test grows by at most a few pages at a time.
          const size = typeof a === 'number' && a <= 8 * PAGE ? a : a === undefined ? 0 : printable(a);
          result = outcome(() => call.grow?.call(m, size));
        } else {
          result = outcome(() => call[method].call(m, a, b, c));
        }
        if (method === 'protect' && result === 'ok') m.protect(0, m.length, 'rw'); // keep it writable
        if (method !== 'grow') assert.equal(m.length, before);
        // The mapping still works whatever happened.
        m.bytes[m.length - 1] = 1;
        m.persist(0, m.length);
      },
    ),
    // The example: a seed (541020282) that broke this test's own String() of an object whose
    // toString is not a function, not the addon.
    { numRuns: 1500, examples: [[0, 'grow', { toString: {} }, 0, 0]] },
  );
  for (const m of mappings) m.close();
});
