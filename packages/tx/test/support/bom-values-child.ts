/**
 * Writes values holding strings that begin with U+FEFF into a store on a simulated region,
 * reads them back (and after a reopen), and prints JSON: whether msgpackr's native decoder was
 * on, and the values read. bom.test.ts runs it with MSGPACKR_NATIVE_ACCELERATION_DISABLED=true,
 * as an install without msgpackr-extract (an optional dependency) decodes.
 */
import { isNativeAccelerationEnabled } from 'msgpackr';
import { SimulatedRegion } from '@ferrite/core/testing';
import { Store } from '../../src/index.js';

export const BOM_VALUES: unknown[] = [
  '\uFEFF' + 'x'.repeat(70),
  { note: '\uFEFF' + 'y'.repeat(100) },
  ['\uFEFFhello' + 'z'.repeat(80)],
  '\uFEFF' + '\u00e9'.repeat(40),
  { ['\uFEFF' + 'k'.repeat(70)]: 1, plain: 2 },
  new Map([['\uFEFF' + 'm'.repeat(80), '\uFEFF']]),
  '\uFEFF',
  'x\uFEFF' + 'y'.repeat(80),
];

if (process.argv[2] === 'run') {
  const region = new SimulatedRegion(4 << 20);
  let store = Store.open(region, { create: true, size: 4 << 20 });
  const m = store.map<number, unknown>('m');
  BOM_VALUES.forEach((v, i) => m.set(i, v));
  const now = BOM_VALUES.map((_, i) => m.get(i));
  store.close();
  store = Store.open(region, {});
  const reopened = BOM_VALUES.map((_, i) => store.map<number, unknown>('m').get(i));
  store.close();
  const plain = (v: unknown): unknown => (v instanceof Map ? { map: [...v] } : v);
  process.stdout.write(JSON.stringify({ native: isNativeAccelerationEnabled, now: now.map(plain), reopened: reopened.map(plain) }));
}
