/**
 * PMap's write path through the Store: operation objects reused across writes (no closure
 * per write), values encoded into the codec's scratch, and the DRAM mirror of the map's header
 * kept across successful writes and dropped by the store after an abort (the map registers no
 * abort hook of its own under a Store). Random programs against a Map model, with commits,
 * aborts, caught nested errors that doom the transaction, and rejected writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError } from '@ferrite/core';
import { openSimulated } from './store-harness.js';
import type { Pool } from '@ferrite/heap';
import { PMap } from '../src/collections/hash-map.js';
import { allocStructuresSlot, makeContext } from './support/collections-context.js';
import { FakePool } from './support/collections-fake-pool.js';

type Cmd =
  | { k: 'set'; key: number; size: number }
  | { k: 'del'; key: number }
  | { k: 'tx'; ops: Cmd[]; end: 'commit' | 'throw' | 'doom' }
  | { k: 'tooBig'; key: number }
  | { k: 'badValue'; key: number };

const KEYS = 48; // enough to take the map through two resizes and their migrations
const leaf: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('set' as const), key: fc.nat(KEYS - 1), size: fc.nat(120) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('del' as const), key: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tooBig' as const), key: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('badValue' as const), key: fc.nat(KEYS - 1) }) },
);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: leaf },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('tx' as const),
      ops: fc.array(leaf, { minLength: 1, maxLength: 25 }),
      end: fc.constantFrom('commit' as const, 'throw' as const, 'doom' as const),
    }),
  },
);

const valueOf = (key: number, size: number): { key: number; pad: string } => ({ key, pad: 'v'.repeat(size) });
const MAX_VALUE = 256;

/** Runs one leaf on the map and the model; rejected writes change neither. */
function apply(m: PMap<string, unknown>, model: Map<string, unknown>, c: Cmd): void {
  const key = `key-${'key' in c ? c.key : 0}`;
  if (c.k === 'set') {
    m.set(key, valueOf(c.key, c.size));
    model.set(key, valueOf(c.key, c.size));
  } else if (c.k === 'del') {
    assert.equal(m.delete(key), model.delete(key));
  } else if (c.k === 'tooBig') {
    assert.throws(() => m.set(key, 'x'.repeat(MAX_VALUE * 2)), (e: unknown) => isFerriteError(e, 'ETOOBIG'));
  } else if (c.k === 'badValue') {
    // A value that cannot be stored exactly (a function): EVALUE, before anything is written.
    assert.throws(() => m.set(key, { n: 1, f: () => 2 }), (e: unknown) => isFerriteError(e, 'EVALUE'));
  }
}

function checkAgainst(m: PMap<string, unknown>, model: Map<string, unknown>): void {
  assert.equal(m.size, model.size);
  for (let k = 0; k < KEYS; k++) {
    const key = `key-${k}`;
    assert.deepEqual(m.get(key), model.get(key), key);
    assert.equal(m.has(key), model.has(key), key);
  }
  assert.deepEqual(m.validate(), []);
}

test('map writes through the store match a model across commits, aborts and rejected writes', () => {
  fc.assert(
    fc.property(fc.array(cmd, { minLength: 1, maxLength: 40 }), (cmds) => {
      const h = openSimulated({ size: 1 << 20, maxValueSize: MAX_VALUE });
      const m = h.store.map<string, unknown>('m');
      const model = new Map<string, unknown>();
      for (const c of cmds) {
        if (c.k !== 'tx') {
          apply(m, model, c);
        } else {
          const draft = new Map(model);
          const boom = new Error('boom');
          const run = (): void => {
            h.store.transaction(() => {
              for (const op of c.ops) apply(m, draft, op);
              // Reads inside the transaction see its writes (the mirror kept by each write).
              checkAgainst(m, draft);
              if (c.end === 'doom') {
                try {
                  h.store.transaction(() => {
                    m.set('key-0', 'doomed');
                    throw boom;
                  });
                } catch {
                  // caught, but the whole transaction is rolled back at its end
                }
              }
              if (c.end === 'throw') throw boom;
            });
          };
          if (c.end === 'commit') {
            run();
            model.clear();
            for (const [k, v] of draft) model.set(k, v);
          } else if (c.end === 'throw') {
            assert.throws(run, (e: unknown) => e === boom);
          } else {
            assert.throws(run, (e: unknown) => isFerriteError(e, 'ETXSTATE'));
          }
        }
        checkAgainst(m, model);
      }
      assert.ok(h.store.check().ok);
      const reopened = h.reopen();
      checkAgainst(reopened.map<string, unknown>('m'), model);
      reopened.close();
    }),
    { numRuns: 60 },
  );
});

test('values encoded in scratch: long values, a value minting a structure, and an empty string', () => {
  const h = openSimulated({ size: 1 << 20 });
  const m = h.store.map<string, unknown>('m');
  const long = { a: 'x'.repeat(5000), b: [1, 2, 3] };
  m.set('long', long); // over the copy loop's length: copied with a view
  m.set('shape', { brandNew: 1, fields: 'y' }); // mints a structure, persisted in the same transaction
  m.set('empty', '');
  m.set('shape2', { brandNew: 2, fields: 'z' }); // reuses it
  assert.deepEqual(m.get('long'), long);
  assert.deepEqual(m.get('shape'), { brandNew: 1, fields: 'y' });
  assert.equal(m.get('empty'), '');
  assert.deepEqual(m.get('shape2'), { brandNew: 2, fields: 'z' });
  const s = h.reopen();
  const r = s.map<string, unknown>('m');
  assert.deepEqual(r.get('long'), long);
  assert.deepEqual(r.get('shape'), { brandNew: 1, fields: 'y' });
  assert.deepEqual(r.get('shape2'), { brandNew: 2, fields: 'z' });
  assert.ok(s.check().ok);
  s.close();
});

test('regression (model seed 607851844): a set, then an aborted transaction with one set, over a context with abort hooks', () => {
  // The map keeps its header mirror after a write; under a context that does not invalidate
  // collections after an abort, its own hook (registered once per transaction serial) must.
  const pool = new FakePool({ size: 1 << 20 });
  const slot = allocStructuresSlot(pool);
  const ctx = makeContext(pool, slot);
  const header = (pool as unknown as Pool).transaction((tx) => PMap.create(ctx, tx));
  const map = new PMap<string, number>(ctx, header);
  map.set('k0', 0);
  const boom = new Error('boom');
  assert.throws(() => (pool as unknown as Pool).transaction(() => {
    map.set('k1', 1);
    throw boom;
  }), (e: unknown) => e === boom);
  assert.equal(map.size, 1);
  assert.equal(map.has('k1'), false);
  map.set('k2', 2);
  assert.equal(map.size, 2);
  assert.deepEqual(map.validate(), []);
});

test('regression (crash scenario, format 2): a slot emptied and refilled in one transaction is restored by its rollback', () => {
  // An inline entry deleted, then the same key (same home slot) set again in the SAME
  // transaction: the slot's payload is live in the state a rollback restores, so the refill
  // must log it (declaring it no-snapshot lost the old value when the transaction rolled back).
  const check = (name: string, map: PMap<string, unknown> | ReturnType<ReturnType<typeof openSimulated>['store']['map']>, transaction: (fn: () => void) => void): void => {
    map.set('a', { v: 'original' });
    map.set('b', 'y'.repeat(50)); // into a chain, whatever its slot holds
    const boom = new Error('boom');
    assert.throws(() => transaction(() => {
      assert.equal(map.delete('a'), true);
      map.set('a', { v: 'replaced' });
      map.set('a', 'grown out of its slot'.repeat(3)); // the slot empties again: relocated
      map.set('a', 1); // a new block, the slot stays empty
      assert.equal(map.delete('a'), true);
      map.set('a', { v: 'third' }); // back into the slot
      throw boom;
    }), (e: unknown) => e === boom, name);
    assert.deepEqual(map.get('a'), { v: 'original' }, name);
    assert.equal(map.get('b'), 'y'.repeat(50), name);
    assert.equal(map.size, 2, name);
  };
  const h = openSimulated({ size: 1 << 20 });
  check('store', h.store.map<string, unknown>('m'), (fn) => h.store.transaction(fn));
  const s = h.reopen();
  assert.deepEqual(s.map<string, unknown>('m').get('a'), { v: 'original' });
  assert.ok(s.check().ok);
  s.close();
  const pool = new FakePool({ size: 1 << 20 });
  const ctx = makeContext(pool, allocStructuresSlot(pool));
  const header = (pool as unknown as Pool).transaction((tx) => PMap.create(ctx, tx));
  const map = new PMap<string, unknown>(ctx, header);
  check('fake pool', map, (fn) => (pool as unknown as Pool).transaction(fn));
  assert.deepEqual(map.validate(), []);
});
