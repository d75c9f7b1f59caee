import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OffsetSet } from '../src/collections/offset-set.js';

test('OffsetSet behaves as a Set of offsets, across growth and many clears', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ k: fc.constant('add' as const), v: fc.oneof(fc.nat(5000).map((x) => x * 64), fc.nat(2 ** 45 / 8).map((x) => x * 8)) }),
          fc.record({ k: fc.constant('clear' as const) }),
        ),
        { maxLength: 3000 },
      ),
      (ops) => {
        const set = new OffsetSet();
        const model = new Set<number>();
        for (const op of ops) {
          if (op.k === 'add') {
            set.add(op.v);
            model.add(op.v);
          } else {
            set.clear();
            model.clear();
          }
          assert.equal(set.size, model.size);
        }
        for (const v of model) assert.equal(set.has(v), true);
        for (const op of ops) if (op.k === 'add' && !model.has(op.v)) assert.equal(set.has(op.v), false);
        assert.equal(set.has(-8), false);
      },
    ),
    { numRuns: 60 },
  );
});

test('OffsetSet: 100,000 offsets, then a clear empties it at once', () => {
  const set = new OffsetSet();
  for (let i = 0; i < 100_000; i++) set.add(1024 + i * 64);
  assert.equal(set.size, 100_000);
  for (let i = 0; i < 100_000; i += 997) assert.equal(set.has(1024 + i * 64), true);
  assert.equal(set.has(1024 + 100_000 * 64), false);
  set.clear();
  assert.equal(set.size, 0);
  assert.equal(set.has(1024), false);
  set.add(1024);
  assert.equal(set.has(1024), true);
});
