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
}

export const DEFAULT_SHAPE: ProgramShape = { maxSteps: 6, maxOps: 4, bigValue: 2000, bigWeight: 1, reopen: true };

const mapKey = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
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
  if (SORTED_NAMES.length > 0) {
    options.push(
      { weight: 3, arbitrary: fc.record({ c: fc.constant('sorted' as const), name: fc.constantFrom(...SORTED_NAMES), op: fc.constant('set' as const), key: sortedKey, value }) },
      { weight: 2, arbitrary: fc.record({ c: fc.constant('sorted' as const), name: fc.constantFrom(...SORTED_NAMES), op: fc.constant('delete' as const), key: sortedKey }) },
    );
  }
  return fc.oneof(...options);
}

export function stepArb(shape: ProgramShape): fc.Arbitrary<Step> {
  const op = opArb(shape);
  const options: { weight: number; arbitrary: fc.Arbitrary<Step> }[] = [
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('tx' as const), ops: fc.array(op, { minLength: 1, maxLength: shape.maxOps }), abort: fc.constant(false) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tx' as const), ops: fc.array(op, { minLength: 1, maxLength: shape.maxOps }), abort: fc.constant(true) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('single' as const), op }) },
  ];
  if (shape.reopen) options.push({ weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) });
  return fc.oneof(...options);
}

export function programArb(shape: ProgramShape = DEFAULT_SHAPE): fc.Arbitrary<Step[]> {
  return fc.array(stepArb(shape), { minLength: 1, maxLength: shape.maxSteps });
}

/** A one-line description of a program for failure messages (JSON, long strings abbreviated). */
export function describeProgram(program: readonly Step[]): string {
  return JSON.stringify(program, (_k, v: unknown) =>
    typeof v === 'string' && v.length > 24 ? `<${v[0] ?? ''}×${v.length}>` : v,
  );
}
