// The crash-testing example of packages/core/README.md, kept runnable: if this file has to
// change, change the README with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion, crashProperty, forEveryCrashPoint, type CrashScenario } from '@ferrite/core/testing';

// A double-buffered 16-byte record: two slots and an 8-byte selector that names the live one.
const SLOT = [0, 64] as const;
const SELECTOR = 128;

function view(region: SimulatedRegion): DataView {
  return new DataView(region.bytes.buffer, region.bytes.byteOffset, region.length);
}

/** Writes `record` into the idle slot, makes it durable, then publishes it with one 8-byte store. */
function write(region: SimulatedRegion, record: readonly [bigint, bigint]): void {
  const v = view(region);
  const next = 1 - Number(v.getBigUint64(SELECTOR, true));
  v.setBigUint64(SLOT[next]!, record[0], true);
  v.setBigUint64(SLOT[next]! + 8, record[1], true);
  region.persist(SLOT[next]!, 16); // the record is durable ...
  v.setBigUint64(SELECTOR, BigInt(next), true);
  region.persist(SELECTOR, 8); // ... before the failure-atomic switch that publishes it
}

function read(region: SimulatedRegion): [bigint, bigint] {
  const v = view(region);
  const slot = SLOT[Number(v.getBigUint64(SELECTOR, true))]!;
  return [v.getBigUint64(slot, true), v.getBigUint64(slot + 8, true)];
}

const scenario: CrashScenario<null, [bigint, bigint]> = {
  setup() {
    const region = new SimulatedRegion(4096);
    write(region, [1n, 1n]);
    return { region, state: null };
  },
  run(region) {
    write(region, [2n, 2n]);
  },
  recover(region) {
    return read(region);
  },
  check(record, { crashed }) {
    assert.ok(record[0] === record[1] && (record[0] === 1n || record[0] === 2n), `torn record ${record.join()}`);
    if (!crashed) assert.equal(record[0], 2n, 'a completed write is durable');
  },
};

test('README example: every crash point of the double-buffered write', () => {
  const states = forEveryCrashPoint(scenario); // 5 points (4 events + after) x 8 images
  assert.equal(states, 40);
  fc.assert(crashProperty(scenario), { numRuns: 200 });
});

test('README example: the same write without the first persist is caught', () => {
  const broken: CrashScenario<null, [bigint, bigint]> = {
    ...scenario,
    run(region) {
      const v = view(region);
      const next = 1 - Number(v.getBigUint64(SELECTOR, true));
      v.setBigUint64(SLOT[next]!, 2n, true);
      v.setBigUint64(SLOT[next]! + 8, 2n, true);
      v.setBigUint64(SELECTOR, BigInt(next), true);
      region.persist(0, 136); // one persist for record and switch: the switch may land first
    },
  };
  assert.throws(() => forEveryCrashPoint(broken), /torn record/);
});
