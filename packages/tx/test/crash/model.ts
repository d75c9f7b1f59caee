/**
 * The pure model the crash suite checks the real Store against.
 *
 * A model holds what a store must contain after a set of committed transactions: hash maps
 * (string keys, compared as sets because a hash map's iteration order is unspecified),
 * sorted maps (number and ASCII-string keys, numbers before strings, the key codec's order)
 * and FIFO queues. It is a plain value: `cloneModel` gives the state a transaction starts
 * from, so an aborted or interrupted transaction is modelled by keeping the old clone.
 */
import assert from 'node:assert/strict';

/** Values the programs store: what msgpackr round-trips exactly. */
export type Value = null | number | string | boolean | Value[] | { [k: string]: Value };

export type SortedKey = number | string;

export interface Model {
  maps: Map<string, Map<string, Value>>;
  sorted: Map<string, Map<SortedKey, Value>>;
  queues: Map<string, Value[]>;
}

/** Names of the collections every program uses (fixed, so programs stay short). */
export const MAP_NAMES: readonly string[] = ['m0', 'm1'];
export const SORTED_NAMES: readonly string[] = ['s0'];
export const QUEUE_NAMES: readonly string[] = ['q0', 'q1'];

export type Op =
  | { c: 'map'; name: string; op: 'set'; key: string; value: Value }
  | { c: 'map'; name: string; op: 'delete'; key: string }
  | { c: 'sorted'; name: string; op: 'set'; key: SortedKey; value: Value }
  | { c: 'sorted'; name: string; op: 'delete'; key: SortedKey }
  | { c: 'queue'; name: string; op: 'push'; value: Value }
  | { c: 'queue'; name: string; op: 'shift' }
  /** `store.drop(name)`: the collection and all its blocks go; the next use creates it empty. */
  | { c: 'drop'; name: string };

/**
 * One step of a program. `tx` runs its ops in one `store.transaction` (and throws at the end
 * when `abort`, which must roll everything back); `single` is one write outside a
 * transaction (its own transaction); `reopen` closes the store cleanly and opens it again;
 * `shrink` gives the pool's free tail back (`store.shrink()`), which changes no value.
 */
export type Step =
  | { kind: 'tx'; ops: Op[]; abort: boolean }
  | { kind: 'single'; op: Op }
  | { kind: 'reopen' }
  | { kind: 'shrink' };

export function emptyModel(): Model {
  const m: Model = { maps: new Map(), sorted: new Map(), queues: new Map() };
  for (const n of MAP_NAMES) m.maps.set(n, new Map());
  for (const n of SORTED_NAMES) m.sorted.set(n, new Map());
  for (const n of QUEUE_NAMES) m.queues.set(n, []);
  return m;
}

/** Values are immutable once stored (ops never mutate them), so a shallow copy per collection suffices. */
export function cloneModel(m: Model): Model {
  const c: Model = { maps: new Map(), sorted: new Map(), queues: new Map() };
  for (const [n, v] of m.maps) c.maps.set(n, new Map(v));
  for (const [n, v] of m.sorted) c.sorted.set(n, new Map(v));
  for (const [n, v] of m.queues) c.queues.set(n, v.slice());
  return c;
}

/** Applies one op to the model (in place). Shifting an empty queue is a no-op returning undefined. */
export function applyOp(m: Model, op: Op): void {
  switch (op.c) {
    case 'map': {
      const map = m.maps.get(op.name);
      assert.ok(map, `model: no map ${op.name}`);
      if (op.op === 'set') map.set(op.key, op.value);
      else map.delete(op.key);
      return;
    }
    case 'sorted': {
      const map = m.sorted.get(op.name);
      assert.ok(map, `model: no sorted map ${op.name}`);
      if (op.op === 'set') map.set(op.key, op.value);
      else map.delete(op.key);
      return;
    }
    case 'queue': {
      const q = m.queues.get(op.name);
      assert.ok(q, `model: no queue ${op.name}`);
      if (op.op === 'push') q.push(op.value);
      else q.shift();
      return;
    }
    case 'drop': {
      // Reading a dropped collection through the store creates it again, empty.
      if (m.maps.has(op.name)) m.maps.set(op.name, new Map());
      else if (m.sorted.has(op.name)) m.sorted.set(op.name, new Map());
      else if (m.queues.has(op.name)) m.queues.set(op.name, []);
      else assert.fail(`model: no collection ${op.name}`);
      return;
    }
  }
}

/** The state after `step`, given the state before it (a new model; `before` is untouched). */
export function applyStep(before: Model, step: Step): Model {
  if (step.kind === 'reopen' || step.kind === 'shrink') return before;
  if (step.kind === 'tx' && step.abort) return before;
  const after = cloneModel(before);
  if (step.kind === 'single') applyOp(after, step.op);
  else for (const op of step.ops) applyOp(after, op);
  return after;
}

/** The key codec's order restricted to numbers and ASCII strings: numbers first, numerically. */
export function compareSortedKeys(a: SortedKey, b: SortedKey): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A canonical, comparable form of a model: hash-map entries sorted by key (their order is
 * unspecified), sorted-map entries in key order, queues in FIFO order.
 */
export interface Snapshot {
  maps: Record<string, [string, Value][]>;
  sorted: Record<string, [SortedKey, Value][]>;
  queues: Record<string, Value[]>;
}

export function snapshotOf(m: Model): Snapshot {
  const s: Snapshot = { maps: {}, sorted: {}, queues: {} };
  for (const [n, map] of m.maps) s.maps[n] = [...map.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  for (const [n, map] of m.sorted) s.sorted[n] = [...map.entries()].sort((x, y) => compareSortedKeys(x[0], y[0]));
  for (const [n, q] of m.queues) s.queues[n] = q.slice();
  return s;
}

/** True when two snapshots are deeply equal (used to decide "entirely before or entirely after"). */
export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
