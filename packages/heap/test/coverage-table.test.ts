// The coverage set's big table (coverage.ts): the pages after the first SMALL ones, in an
// open-addressing table in typed arrays whose lists are recycled, cleared in O(1) by stamps.
// The small property tests of alloc.test.ts stay on a few pages; these reach every path a big
// transaction takes — the table's growth, recycled lists, a huge table dropped at clear, the
// stamp's wrap — at offsets up to 2^52, against a byte model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@ferrite/core/testing';
import { Coverage, PAGE, RangeList } from '../src/coverage.js';

/** The private fields these tests look at (to prove a path was reached). */
interface Internals {
  mask: number;
  stamp: number;
  stamps: Uint32Array;
  lists: unknown[];
}
const internals = (c: Coverage): Internals => c as unknown as Internals;

/** Covered bytes, one array per touched page. */
class Model {
  pages = new Map<number, Uint8Array>();
  private page(p: number): Uint8Array {
    let a = this.pages.get(p);
    if (a === undefined) {
      a = new Uint8Array(PAGE);
      this.pages.set(p, a);
    }
    return a;
  }
  get(o: number): boolean {
    return this.pages.get(Math.floor(o / PAGE))?.[o % PAGE] === 1;
  }
  set(o: number): void {
    this.page(Math.floor(o / PAGE))[o % PAGE] = 1;
  }
  /** Every covered interval, sorted, touching ones joined (what collect returns). */
  intervals(): number[] {
    const out: number[] = [];
    for (const p of [...this.pages.keys()].sort((a, b) => a - b)) {
      const a = this.pages.get(p)!;
      for (let i = 0; i < PAGE; i++) {
        if (a[i] !== 1) continue;
        const o = p * PAGE + i;
        const n = out.length;
        if (n > 0 && out[n - 2]! + out[n - 1]! === o) out[n - 1]!++;
        else out.push(o, 1);
      }
    }
    return out;
  }
}

/** add() against the model: the pieces are disjoint and exactly the bytes not covered before. */
function addChecked(cov: Coverage, model: Model, o: number, l: number): void {
  const list = new RangeList();
  const n = cov.add(o, l, list);
  assert.equal(n, list.n);
  const emitted = new Set<number>();
  for (let i = 0; i < list.n; i++) {
    const a = list.data[2 * i]!;
    const len = list.data[2 * i + 1]!;
    assert.ok(len > 0 && a >= o && a + len <= o + l, 'a piece lies inside the added range');
    assert.equal(Math.floor(a / PAGE), Math.floor((a + len - 1) / PAGE), 'a piece stays on one page');
    for (let k = a; k < a + len; k++) {
      assert.ok(!emitted.has(k), 'pieces are disjoint');
      emitted.add(k);
    }
  }
  for (let k = o; k < o + l; k++) {
    assert.equal(emitted.has(k), !model.get(k), `byte ${k} emitted iff uncovered`);
    model.set(k);
  }
  assert.ok(cov.covers(o, l));
}

function probeChecked(cov: Coverage, model: Model, o: number, l: number): void {
  let any = false;
  let all = true;
  for (let k = o; k < o + l; k++) {
    if (model.get(k)) any = true;
    else all = false;
  }
  assert.equal(cov.overlaps(o, l), any, `overlaps(${o}, ${l})`);
  assert.equal(cov.covers(o, l), all, `covers(${o}, ${l})`);
}

function collectChecked(cov: Coverage, model: Model): void {
  const out = new RangeList();
  out.push(1, 1); // collect appends, and never joins with what was there before
  const n = cov.collect(out);
  assert.deepEqual(Array.from(out.data.subarray(2, 2 + 2 * n)), model.intervals());
}

for (const base of [0, 2 ** 44, 2 ** 52 - 2 ** 40]) {
  test(`coverage table: thousands of pages at ${base}, growth, recycled lists, clears, against a byte model`, () => {
    const rng = new Prng(base % 1000003);
    const cov = new Coverage();
    let model = new Model();
    let grew = false;
    let recycled = false;
    for (let round = 0; round < 4; round++) {
      const startMask = internals(cov).mask;
      // Scattered small ranges over 3000 pages (the table doubles several times), then many
      // disjoint pieces of a few pages (their lists outgrow their first room and move).
      for (let i = 0; i < 3000; i++) {
        const o = base + rng.below(3000) * PAGE + rng.below(PAGE);
        addChecked(cov, model, o, 1 + rng.below(200));
      }
      const listsBefore = internals(cov).lists.length;
      for (let i = 0; i < 400; i++) {
        const p = rng.below(4);
        const o = base + p * PAGE + 5 * rng.below(Math.floor(PAGE / 5));
        addChecked(cov, model, o, 1 + rng.below(3));
      }
      // Rounds after the first reuse the lists of the first (nothing new is allocated).
      if (round > 0 && internals(cov).lists.length === listsBefore) recycled = true;
      // Ranges over page boundaries, some of them long.
      for (let i = 0; i < 200; i++) {
        const o = base + rng.below(3001 * PAGE);
        addChecked(cov, model, o, 1 + rng.below(i % 10 === 0 ? 3 * PAGE : 300));
      }
      if (internals(cov).mask > startMask) grew = true;
      assert.ok(cov.bigPageCount > 1500, 'the big table holds most pages');
      for (let i = 0; i < 300; i++) probeChecked(cov, model, base + rng.below(3001 * PAGE), 1 + rng.below(600));
      collectChecked(cov, model);
      // mark (the undurable set's path) behaves as add.
      const o = base + rng.below(3000 * PAGE);
      cov.mark(o, 100);
      for (let k = o; k < o + 100; k++) model.set(k);
      probeChecked(cov, model, o - 50, 200);
      cov.clear();
      model = new Model();
      assert.ok(cov.empty);
      for (let i = 0; i < 50; i++) probeChecked(cov, model, base + rng.below(3001 * PAGE), 1 + rng.below(600));
      collectChecked(cov, model);
    }
    assert.ok(grew, 'the table grew');
    assert.ok(recycled, 'lists were recycled');
  });
}

test('coverage table: a huge table is dropped at clear, and works again after', () => {
  const cov = new Coverage();
  const pages = 40000; // the table passes KEEP_SLOTS (2^15), the pool KEEP_LISTS
  const list = new RangeList();
  for (let p = 0; p < pages; p++) {
    list.clear();
    assert.equal(cov.add(p * 2 * PAGE + 8, 16, list), 1);
  }
  assert.ok(internals(cov).mask + 1 > 1 << 15, 'the table grew past KEEP_SLOTS');
  for (let p = 0; p < pages; p += 97) {
    assert.ok(cov.covers(p * 2 * PAGE + 8, 16));
    assert.ok(!cov.overlaps(p * 2 * PAGE + 24, 8));
  }
  cov.clear();
  assert.ok(internals(cov).mask + 1 <= 1 << 15, 'the huge table was dropped');
  assert.ok(internals(cov).lists.length <= 8192, 'the pool of lists was cut');
  const model = new Model();
  for (let p = 0; p < 2000; p += 3) addChecked(cov, model, p * PAGE + 100, 50);
  collectChecked(cov, model);
  probeChecked(cov, model, 8, 16);
});

test('coverage table: the stamp wraps without bringing old pages back', () => {
  const cov = new Coverage();
  const model = new Model();
  const list = new RangeList();
  internals(cov).stamp = 0xffffffff;
  // Twelve pages: four in the big table, with the last stamp before the wrap.
  for (let p = 0; p < 12; p++) cov.add(p * PAGE, 64, list);
  assert.equal(cov.bigPageCount, 4);
  assert.equal(internals(cov).stamp, 0xffffffff);
  cov.clear();
  assert.equal(internals(cov).stamp, 1, 'wrapped');
  assert.ok(internals(cov).stamps.every((s) => s === 0), 'every stamp reset');
  probeChecked(cov, model, 0, 13 * PAGE);
  for (let p = 0; p < 12; p++) addChecked(cov, model, p * PAGE + 32, 64);
  assert.equal(cov.bigPageCount, 4);
  probeChecked(cov, model, 0, 13 * PAGE);
  collectChecked(cov, model);
});

test('coverage table: the first pages are scanned, the ninth goes to the big table, lists intact', () => {
  const cov = new Coverage();
  for (let round = 0; round < 3; round++) {
    const model = new Model();
    for (let p = 0; p < 8; p++) {
      addChecked(cov, model, p * 3 * PAGE + 100, 10);
      addChecked(cov, model, p * 3 * PAGE + 200, 10);
      addChecked(cov, model, p * 3 * PAGE + 300, 10);
    }
    assert.equal(cov.bigPageCount, 0, 'eight pages: the small table');
    probeChecked(cov, model, 0, 25 * PAGE);
    collectChecked(cov, model);
    for (let p = 8; p < 11; p++) {
      addChecked(cov, model, p * 3 * PAGE + 5, 7);
      addChecked(cov, model, p * 3 * PAGE + 50, 7);
    }
    assert.equal(cov.bigPageCount, 3, 'the ninth page on: the big table');
    for (let p = 0; p < 11; p++) addChecked(cov, model, p * 3 * PAGE + 150, 100);
    probeChecked(cov, model, 0, 34 * PAGE);
    collectChecked(cov, model);
    cov.clear();
    assert.equal(cov.bigPageCount, 0);
  }
});
