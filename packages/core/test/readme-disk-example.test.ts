// The disk example of packages/core/README.md ("Example: crash-test a record on a disk"),
// verbatim: the last test below checks that the README holds this file's text up to the
// marker line, so the two cannot drift apart. Then the broken variant the README mentions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@ferrite/core';
import { SimulatedDisk, forEveryCrashPoint, forEverySingleTear, type CrashScenario, type SimulatedFile } from '@ferrite/core/testing';

// A 1 KiB record (two 512-byte sectors) kept in two slots of a file. A slot holds a sequence
// number, a CRC-32C of its payload, and the payload (here the sequence number, repeated).
const SLOT = 1024;

function save(file: SimulatedFile, seq: number): void {
  const slot = new Uint8Array(SLOT).fill(seq, 8);
  const view = new DataView(slot.buffer);
  view.setUint32(0, seq, true);
  view.setUint32(4, crc32c(slot, 8), true);
  file.write((seq % 2) * SLOT, slot); // the slot the previous save did not use
  file.sync();                        // the only barrier on a file
}

/** The newest slot whose CRC matches: [its sequence number, its payload's last byte]. */
function load(file: SimulatedFile, checkCrc = true): [number, number] {
  let best: [number, number] = [0, 0];
  for (const at of [0, SLOT]) {
    const slot = new Uint8Array(SLOT);
    file.read(at, slot);
    const view = new DataView(slot.buffer);
    const valid = !checkCrc || view.getUint32(4, true) === crc32c(slot, 8);
    if (valid && view.getUint32(0, true) > best[0]) best = [view.getUint32(0, true), slot[SLOT - 1]!];
  }
  return best;
}

const scenario: CrashScenario<{ file: SimulatedFile; saved: number }, [number, number]> = {
  setup() {
    const disk = new SimulatedDisk({ record: 2 * SLOT });
    const file = disk.file('record');
    file.grow(2 * SLOT);
    save(file, 1);
    return { region: disk.region, state: { file, saved: 1 } };
  },
  run(_region, state) {
    for (let seq = 2; seq <= 4; seq++) {
      save(state.file, seq);
      state.saved = seq; // durable: save returned
    }
  },
  recover: (region) => load(SimulatedDisk.fromRegion(region).file('record')),
  check([seq, payload], { state, crashed }) {
    assert.equal(payload, seq, `slot ${seq} holds a torn payload`);
    assert.ok(seq === state.saved || seq === state.saved + 1, `record ${seq} after ${state.saved} saves`);
    if (!crashed) assert.equal(seq, 4, 'a completed save is durable');
  },
};

test('the two-slot record survives every crash of the disk', () => {
  assert.ok(forEveryCrashPoint({ ...scenario, seeds: 16 }) >= 7); // 6 events + after completion
  assert.ok(forEverySingleTear(scenario) > 0);
});
// ---- not in the README ----
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CrashCheckFailure } from '@ferrite/core/testing';

test('without the CRC check, a slot torn between its sectors is caught', () => {
  const unchecked: typeof scenario = { ...scenario, recover: (region) => load(SimulatedDisk.fromRegion(region).file('record'), false) };
  assert.throws(() => forEveryCrashPoint({ ...unchecked, seeds: 16 }), (e: unknown) => e instanceof CrashCheckFailure && /torn payload/.test(e.message));
  assert.throws(() => forEverySingleTear(unchecked), CrashCheckFailure);
});

test('packages/core/README.md holds this example verbatim', () => {
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const example = source.slice(source.indexOf("import { test }"), source.indexOf('// ---- not in the README ----'));
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  assert.ok(example.length > 1000);
  assert.ok(readme.includes('```ts\n' + example + '```\n'), 'the README block differs from this file: copy it over');
});
