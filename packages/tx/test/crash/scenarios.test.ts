/**
 * Fixed programs checked at every crash point with every image mode: the shapes most likely
 * to break (value structures created in a transaction that aborts, queue segments filled and
 * emptied, a hash map growing past its first table, deletes that free blocks, reopen between
 * transactions, a delete and an insert of the same size in one transaction). Random programs
 * find these too, but only by chance.
 */
import { test } from 'node:test';
import type { Op, Step, Value } from './model.js';
import { checkProgram, type RunnerOptions } from './runner.js';
import { report } from './budget.js';

const EXHAUSTIVE: RunnerOptions = {
  poolSize: 128 << 10,
  maxSize: 256 << 10,
  imagesPerPoint: 4,
  maxPointsPerProgram: 100_000,
  recoveryCrashEvery: 3,
  fillEvery: 0,
  granularity: 'cache-line',
};

const push = (name: string, value: Value): Op => ({ c: 'queue', name, op: 'push', value });
const shift = (name: string): Op => ({ c: 'queue', name, op: 'shift' });
const mset = (key: string, value: Value): Op => ({ c: 'map', name: 'm0', op: 'set', key, value });
const mdel = (key: string): Op => ({ c: 'map', name: 'm0', op: 'delete', key });

const SCENARIOS: { name: string; program: Step[] }[] = [
  {
    name: 'a new record structure in an aborted transaction, then the same shape committed',
    program: [
      { kind: 'tx', ops: [{ c: 'map', name: 'm0', op: 'set', key: 'a', value: { shape: 1, other: 'x' } }], abort: true },
      { kind: 'single', op: { c: 'map', name: 'm0', op: 'set', key: 'b', value: { shape: 2, other: 'y' } } },
    ],
  },
  {
    name: 'queue pushes across segments, then shifts that free them, across collections',
    program: [
      { kind: 'tx', ops: Array.from({ length: 12 }, (_, i) => push('q0', 'v'.repeat(40 + i))), abort: false },
      { kind: 'tx', ops: [shift('q0'), shift('q0'), shift('q0'), { c: 'map', name: 'm1', op: 'set', key: 'c', value: 3 }], abort: false },
      { kind: 'tx', ops: Array.from({ length: 9 }, () => shift('q0')), abort: false },
    ],
  },
  {
    name: 'a hash map growing past its first table, then deletes',
    program: [
      { kind: 'tx', ops: ['a', 'b', 'c', 'd', 'e', 'f'].map((key, i) => ({ c: 'map' as const, name: 'm0', op: 'set' as const, key, value: i })), abort: false },
      { kind: 'single', op: { c: 'map', name: 'm0', op: 'delete', key: 'c' } },
      { kind: 'tx', ops: [{ c: 'map', name: 'm0', op: 'set', key: 'a', value: 'x'.repeat(300) }, { c: 'map', name: 'm0', op: 'delete', key: 'b' }], abort: false },
    ],
  },
  {
    // One key keeps one home slot: its inline entry is filled, emptied and refilled by
    // consecutive sealed transactions, and moves out to the chain and back.
    name: 'a hash map slot filled, emptied, outgrown and refilled by consecutive transactions',
    program: [
      { kind: 'single', op: mset('a', 1) },
      { kind: 'single', op: mdel('a') },
      { kind: 'single', op: mset('a', { again: 2 }) },
      { kind: 'single', op: mset('a', 'x'.repeat(60)) },
      { kind: 'single', op: mdel('a') },
      { kind: 'single', op: mset('a', 3) },
      { kind: 'tx', ops: [mdel('a'), mset('a', 4), mset('b', 5)], abort: false },
    ],
  },
  {
    name: 'sorted map inserts in and out of order, an aborted delete, reopen, range deletes',
    program: [
      { kind: 'tx', ops: [5, 1, 3, 'x', 7, -2].map((key) => ({ c: 'sorted' as const, name: 's0', op: 'set' as const, key, value: key })), abort: false },
      { kind: 'tx', ops: [{ c: 'sorted', name: 's0', op: 'delete', key: 3 }], abort: true },
      { kind: 'reopen' },
      { kind: 'tx', ops: [1, 5, 'x'].map((key) => ({ c: 'sorted' as const, name: 's0', op: 'delete' as const, key })), abort: false },
    ],
  },
  {
    // A block freed in a transaction must not be handed out again before that transaction
    // commits: the delete and the insert below are the same size class.
    name: 'delete and insert in one transaction (freed blocks must not be reused before commit)',
    program: [
      { kind: 'tx', ops: [{ c: 'map', name: 'm0', op: 'set', key: 'a', value: 'x'.repeat(50) }, { c: 'map', name: 'm0', op: 'set', key: 'b', value: 'y'.repeat(50) }], abort: false },
      { kind: 'tx', ops: [{ c: 'map', name: 'm0', op: 'delete', key: 'a' }, { c: 'map', name: 'm0', op: 'set', key: 'c', value: 'z'.repeat(50) }], abort: false },
      { kind: 'tx', ops: [{ c: 'sorted', name: 's0', op: 'set', key: 1, value: 'p'.repeat(50) }], abort: false },
      { kind: 'tx', ops: [{ c: 'sorted', name: 's0', op: 'delete', key: 1 }, { c: 'map', name: 'm1', op: 'set', key: 'd', value: 'q'.repeat(50) }], abort: false },
    ],
  },
  {
    // The map keeps a DRAM mirror of its header across writes (set, delete) and relies on the
    // store to drop it after an abort: every later write here depends on the count and table
    // words being those of the pool, not of the rolled-back transaction.
    name: 'map writes after an aborted transaction that resized it, updated, relocated and deleted',
    program: [
      { kind: 'tx', ops: Array.from({ length: 14 }, (_, i) => mset(`k${i}`, i)), abort: false },
      {
        kind: 'tx',
        ops: [...Array.from({ length: 6 }, (_, i) => mset(`n${i}`, i)), mset('k1', 100), mset('k2', 'r'.repeat(90)), mdel('k3')],
        abort: true,
      },
      { kind: 'single', op: mset('k14', 14) },
      { kind: 'single', op: mdel('k4') },
      { kind: 'single', op: mset('k5', 'u'.repeat(70)) },
      { kind: 'single', op: mset('k6', 6.5) },
      { kind: 'tx', ops: Array.from({ length: 5 }, (_, i) => mset(`p${i}`, i)), abort: false },
      { kind: 'single', op: mdel('p0') },
    ],
  },
];

for (const [i, s] of SCENARIOS.entries()) {
  test(`every crash point: ${s.name}`, () => {
    const states = checkProgram(s.program, 0x5ce0 + i, EXHAUSTIVE);
    report(`scenario ${i}`, 'states', states);
  });
}
