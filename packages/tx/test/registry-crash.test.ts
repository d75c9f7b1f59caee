/**
 * Crash tests of the store's registry on the simulated region: creating a collection (also
 * when the registry block must grow), dropping one, and a transaction that creates one
 * collection, writes to another and drops a third — atomic across collections. Recovery must
 * show the registry and the collections either wholly before or wholly after, with every
 * allocated block reachable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedRegion, forEveryCrashPoint } from '@ferrite/core/testing';
import { Store } from '../src/store.js';

const REGION = 1 << 20;
const SOAK = process.env.FERRITE_SOAK === '1';

type Snapshot = Record<string, { kind: string; items: unknown[] }>;

function snapshot(store: Store): Snapshot {
  const out: Snapshot = {};
  for (const c of store.collections()) {
    const items = c.kind === 'queue' ? [...store.queue(c.name)] : [...store.map(c.name).entries()].sort();
    out[c.name] = { kind: c.kind, items };
  }
  return out;
}

interface State { store: Store; before: Snapshot; after: Snapshot }
interface Recovered { snap: Snapshot; ok: boolean; problems: string }

function scenario(prepare: (s: Store) => void, op: (s: Store) => void) {
  return {
    setup(): { region: SimulatedRegion; state: State } {
      const region = new SimulatedRegion(REGION);
      const store = Store.open(region, { create: true, size: REGION });
      prepare(store);
      const before = snapshot(store);
      // The expected after-state: run the op on a copy of the pool.
      const copy = Store.open(SimulatedRegion.fromImage(region.bytes.slice()), {});
      op(copy);
      const after = snapshot(copy);
      copy.close();
      return { region, state: { store, before, after } };
    },
    run(_r: SimulatedRegion, state: State): void {
      op(state.store);
    },
    recover(region: SimulatedRegion): Recovered {
      const store = Store.open(region, {});
      try {
        const report = store.check();
        return { snap: snapshot(store), ok: report.ok, problems: JSON.stringify(report.problems.slice(0, 3)) };
      } finally {
        store.close();
      }
    },
    check(result: Recovered, ctx: { crashed: boolean; state: State }): void {
      assert.ok(result.ok, result.problems);
      if (!ctx.crashed) assert.deepEqual(result.snap, ctx.state.after);
      else if (JSON.stringify(result.snap) !== JSON.stringify(ctx.state.before)) assert.deepEqual(result.snap, ctx.state.after);
    },
    recoveryCrashDepth: 1,
    seeds: SOAK ? 16 : 3,
  };
}

test('creating a collection', () => {
  forEveryCrashPoint(scenario((s) => { s.queue('a').push(1); }, (s) => { s.queue('b'); }));
});

test('creating the collection that makes the registry block grow', () => {
  forEveryCrashPoint(scenario(
    (s) => { for (let i = 0; i < 8; i++) s.queue(`q${i}`); },
    (s) => s.transaction(() => { s.map('ninth').set('k', 'v'); }),
  ));
});

test('dropping a collection', () => {
  forEveryCrashPoint(scenario(
    (s) => { s.queue('a').push(1, 2); s.map('b').set('x', 1); s.queue('c').push(3); },
    (s) => { s.drop('a'); },
  ));
});

test('one transaction across collections: create, write, drop', () => {
  forEveryCrashPoint(scenario(
    (s) => { s.queue('keep').push(1); s.map('m').set('x', 1); s.queue('gone').push(9); },
    (s) => s.transaction(() => {
      s.queue('new').push('n');
      s.map('m').set('y', 2);
      s.queue('keep').shift();
      s.drop('gone');
    }),
  ));
});

test('creating a map with expectedSize (a table of many segments at once) and filling it, in one transaction', () => {
  // 300 entries: 512 buckets, 8 segments of 64 slots, each allocated and zeroed by the create.
  forEveryCrashPoint(scenario(
    (s) => { s.map('m').set('x', 1); },
    (s) => s.transaction(() => {
      const big = s.map<number, number>('big', { expectedSize: 300 });
      for (let i = 0; i < 40; i++) big.set(i, i * i);
      s.map('m').set('y', 2);
    }),
  ));
});
