/**
 * fast-check arbitraries for crash-test programs: short sequences of transactions over a few
 * fixed collections. Short on purpose: every program is re-run once per crash point, so its
 * length multiplies the cost of every state checked.
 *
 * The keys come from small sets so that programs overwrite and delete what they wrote
 * (updates and frees are where undo logging and the allocator go wrong), and objects come in
 * a few shapes so that msgpackr record structures get created inside transactions too.
 */
import fc from 'fast-check';
import { MAP_NAMES, QUEUE_NAMES, SORTED_NAMES, type Op, type SortedKey, type Step, type Value } from './model.js';

export interface ProgramShape {
  /** Most steps in a program. */
  maxSteps: number;
  /** Most ops in one transaction. */
  maxOps: number;
  /** Largest "big" string value, in characters (big values make the pool grow). */
  bigValue: number;
  /** Relative weight of big values among values (0 = never). */
  bigWeight: number;
  /** Include `reopen` steps. */
  reopen: boolean;
  /** Include `shrink` steps (`store.shrink()` after deletes gives a free tail back). */
  shrink?: boolean;
  /**
   * Longest run of consecutive keys one bulk transaction writes (default 36), and the longest
   * value it writes to a hash map (default 60 characters). Long runs of big values make one
   * transaction grow the undo log and the pool (issue 16).
   */
  bulkMax?: number;
  bulkValue?: number;
}

export const DEFAULT_SHAPE: ProgramShape = { maxSteps: 6, maxOps: 4, bigValue: 2000, bigWeight: 1, reopen: true };

const MAP_KEYS = ['a', 'b', 'c', 'd', 'e'] as const;
const mapKey = fc.constantFrom(...MAP_KEYS);
const sortedKey: fc.Arbitrary<SortedKey> = fc.oneof(fc.integer({ min: -3, max: 8 }), fc.constantFrom('x', 'y', 'z', 'xa'));

function valueArb(shape: ProgramShape): fc.Arbitrary<Value> {
  const small: fc.Arbitrary<Value> = fc.oneof(
    fc.integer({ min: -1000, max: 1_000_000 }),
    fc.string({ maxLength: 12, unit: 'grapheme-ascii' }),
    fc.constant(null),
    fc.boolean(),
    // fast-check builds records without a prototype; stored values decode as plain objects.
    fc.record({ id: fc.integer({ min: 0, max: 99 }), name: fc.constantFrom('n', 'nm', 'name') }).map((o) => ({ ...o })),
    fc.record({ ino: fc.nat(1000), size: fc.nat(1 << 20), tag: fc.constantFrom('f', 'd') }).map((o) => ({ ...o })),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
  );
  if (shape.bigWeight === 0) return small;
  const big: fc.Arbitrary<Value> = fc
    .tuple(fc.integer({ min: 200, max: shape.bigValue }), fc.constantFrom('p', 'q', 'r'))
    .map(([n, ch]) => ch.repeat(n));
  return fc.oneof({ arbitrary: small, weight: 6 }, { arbitrary: big, weight: shape.bigWeight });
}

export function opArb(shape: ProgramShape): fc.Arbitrary<Op> {
  const value = valueArb(shape);
  const options: { weight: number; arbitrary: fc.Arbitrary<Op> }[] = [
    { weight: 4, arbitrary: fc.record({ c: fc.constant('map' as const), name: fc.constantFrom(...MAP_NAMES), op: fc.constant('set' as const), key: mapKey, value }) },
    { weight: 2, arbitrary: fc.record({ c: fc.constant('map' as const), name: fc.constantFrom(...MAP_NAMES), op: fc.constant('delete' as const), key: mapKey }) },
    { weight: 3, arbitrary: fc.record({ c: fc.constant('queue' as const), name: fc.constantFrom(...QUEUE_NAMES), op: fc.constant('push' as const), value }) },
    { weight: 2, arbitrary: fc.record({ c: fc.constant('queue' as const), name: fc.constantFrom(...QUEUE_NAMES), op: fc.constant('shift' as const) }) },
  ];
  // Rare: dropping a collection frees all its blocks and unregisters it; a later op in the
  // same transaction creates it again.
  options.push({ weight: 1, arbitrary: fc.record({ c: fc.constant('drop' as const), name: fc.constantFrom(...MAP_NAMES, ...SORTED_NAMES, ...QUEUE_NAMES) }) });
  if (SORTED_NAMES.length > 0) {
    options.push(
      { weight: 3, arbitrary: fc.record({ c: fc.constant('sorted' as const), name: fc.constantFrom(...SORTED_NAMES), op: fc.constant('set' as const), key: sortedKey, value }) },
      { weight: 2, arbitrary: fc.record({ c: fc.constant('sorted' as const), name: fc.constantFrom(...SORTED_NAMES), op: fc.constant('delete' as const), key: sortedKey }) },
    );
  }
  return fc.oneof(...options);
}

/**
 * Two steps that make a transaction free and allocate in one go: the first inserts a key,
 * the second deletes it and inserts another (or shifts and pushes a queue), so the allocator
 * may hand the freed block straight back inside the same transaction, which is where
 * deferred frees go wrong. Random ops alone make that pattern in about 1% of programs.
 */
function churnArb(shape: ProgramShape): fc.Arbitrary<Step[]> {
  const value = valueArb(shape);
  const mapChurn = fc
    .tuple(fc.constantFrom(...MAP_NAMES), fc.shuffledSubarray([...MAP_KEYS], { minLength: 2, maxLength: 2 }), value, value, fc.boolean())
    .map(([name, [k1, k2], v1, v2, deleteFirst]): Op[][] => {
      const del: Op = { c: 'map', name, op: 'delete', key: k1! };
      const set: Op = { c: 'map', name, op: 'set', key: k2!, value: v2 };
      return [[{ c: 'map', name, op: 'set', key: k1!, value: v1 }], deleteFirst ? [del, set] : [set, del]];
    });
  const sortedChurn = fc
    .tuple(fc.constantFrom(...SORTED_NAMES), sortedKey, sortedKey, value, value)
    .map(([name, k1, k2, v1, v2]): Op[][] => [
      [{ c: 'sorted', name, op: 'set', key: k1, value: v1 }],
      [{ c: 'sorted', name, op: 'delete', key: k1 }, { c: 'sorted', name, op: 'set', key: k2, value: v2 }],
    ]);
  const queueChurn = fc
    .tuple(fc.constantFrom(...QUEUE_NAMES), value, value, fc.nat(3))
    .map(([name, v1, v2, n]): Op[][] => [
      [{ c: 'queue', name, op: 'push', value: v1 }],
      [...Array.from({ length: n + 1 }, (): Op => ({ c: 'queue', name, op: 'shift' })), { c: 'queue', name, op: 'push', value: v2 }],
    ]);
  const pairs = SORTED_NAMES.length > 0 ? fc.oneof(mapChurn, sortedChurn, queueChurn) : fc.oneof(mapChurn, queueChurn);
  return fc.tuple(pairs, fc.boolean()).map(([[first, second], abort]): Step[] => [
    { kind: 'tx', ops: first!, abort: false },
    { kind: 'tx', ops: second!, abort },
  ]);
}

/**
 * A transaction inserting (or deleting) a run of 10-36 consecutive keys, so that collections
 * outgrow their first shapes: a hash map past its initial 16 buckets (an incremental rehash
 * then runs across later writes), a sorted map past one 4 KiB leaf (splits, then merges when
 * bulk deletes empty leaves). The small random key sets never get there.
 */
function bulkArb(shape: ProgramShape): fc.Arbitrary<Step[]> {
  const run = fc.tuple(fc.nat(24), fc.integer({ min: 10, max: shape.bulkMax ?? 36 }));
  // Mostly inserts: a quarter of the bulk steps delete a run instead.
  const del = fc.nat(3).map((n) => n === 0);
  const mapBulk = fc
    .tuple(fc.constantFrom(...MAP_NAMES), run, fc.integer({ min: 1, max: shape.bulkValue ?? 60 }), del)
    .map(([name, [start, n], len, del]): Op[] =>
      Array.from({ length: n }, (_, i): Op => {
        const key = `k${start + i}`;
        return del ? { c: 'map', name, op: 'delete', key } : { c: 'map', name, op: 'set', key, value: 'b'.repeat(len) };
      }),
    );
  const sortedBulk = fc
    .tuple(fc.constantFrom(...SORTED_NAMES), run, fc.integer({ min: 100, max: 200 }), del)
    .map(([name, [start, n], len, del]): Op[] =>
      Array.from({ length: n }, (_, i): Op => {
        const key = 100 + start + i;
        return del ? { c: 'sorted', name, op: 'delete', key } : { c: 'sorted', name, op: 'set', key, value: 's'.repeat(len) };
      }),
    );
  const ops = SORTED_NAMES.length > 0 ? fc.oneof(mapBulk, sortedBulk) : mapBulk;
  return ops.map((o): Step[] => [{ kind: 'tx', ops: o, abort: false }]);
}

export function stepArb(shape: ProgramShape): fc.Arbitrary<Step[]> {
  const op = opArb(shape);
  const options: { weight: number; arbitrary: fc.Arbitrary<Step[]> }[] = [
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('tx' as const), ops: fc.array(op, { minLength: 1, maxLength: shape.maxOps }), abort: fc.constant(false) }).map((s) => [s]) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tx' as const), ops: fc.array(op, { minLength: 1, maxLength: shape.maxOps }), abort: fc.constant(true) }).map((s) => [s]) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('single' as const), op }).map((s) => [s]) },
    { weight: 2, arbitrary: churnArb(shape) },
    { weight: 2, arbitrary: bulkArb(shape) },
  ];
  if (shape.reopen) options.push({ weight: 1, arbitrary: fc.constant([{ kind: 'reopen' as const }]) });
  if (shape.shrink === true) options.push({ weight: 1, arbitrary: fc.constant([{ kind: 'shrink' as const }]) });
  return fc.oneof(...options);
}

/** A program: up to `maxSteps` step groups (a churn group is two steps). */
export function programArb(shape: ProgramShape = DEFAULT_SHAPE): fc.Arbitrary<Step[]> {
  return fc.array(stepArb(shape), { minLength: 1, maxLength: shape.maxSteps }).map((groups) => groups.flat());
}

/** A one-line description of a program for failure messages (JSON, long strings abbreviated). */
export function describeProgram(program: readonly Step[]): string {
  return JSON.stringify(program, (_k, v: unknown) =>
    typeof v === 'string' && v.length > 24 ? `<${v[0] ?? ''}×${v.length}>` : v,
  );
}
