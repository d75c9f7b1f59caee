// The crash-testing example of packages/core/README.md, verbatim (keep them in sync),
// plus the broken variant the README mentions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimulatedRegion, crashProperty, forEveryCrashPoint, type CrashScenario } from '@ferrite/core/testing';

// Two 16-byte slots and an 8-byte selector naming the live one.
const SLOT = [0, 64] as const;
const SELECTOR = 128;
const view = (r: SimulatedRegion) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.length);

function write(region: SimulatedRegion, record: readonly [bigint, bigint]): void {
  const v = view(region);
  const next = 1 - Number(v.getBigUint64(SELECTOR, true));
  v.setBigUint64(SLOT[next]!, record[0], true);
  v.setBigUint64(SLOT[next]! + 8, record[1], true);
  region.persist(SLOT[next]!, 16);            // the record is durable ...
  v.setBigUint64(SELECTOR, BigInt(next), true);
  region.persist(SELECTOR, 8);                // ... before the 8-byte switch that publishes it
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
  run(region) { write(region, [2n, 2n]); },
  recover(region) { return read(region); },
  check(record, { crashed }) {
    assert.ok(record[0] === record[1] && (record[0] === 1n || record[0] === 2n), `torn record ${record.join()}`);
    if (!crashed) assert.equal(record[0], 2n, 'a completed write is durable');
  },
};

test('the double-buffered write survives every crash', () => {
  const states = forEveryCrashPoint(scenario); // 5 crash points, up to 8 images each
  assert.ok(states >= 5);
  fc.assert(crashProperty(scenario), { numRuns: 200 });
});

test('README example: the same write with one persist for record and switch is caught', () => {
  const broken: CrashScenario<null, [bigint, bigint]> = {
    ...scenario,
    run(region) {
      const v = view(region);
      const next = 1 - Number(v.getBigUint64(SELECTOR, true));
      v.setBigUint64(SLOT[next]!, 2n, true);
      v.setBigUint64(SLOT[next]! + 8, 2n, true);
      v.setBigUint64(SELECTOR, BigInt(next), true);
      region.persist(0, 136); // the switch may land before the record
    },
  };
  assert.throws(() => forEveryCrashPoint(broken), /torn record/);
});
