// Found by the damaged-pool fuzzer (fuzz-damage.test.ts, "opened clean with changed content"):
// damage to the undo log of a pool that a crash left mid-transaction silently disables its
// rollback. The uncommitted bytes stay in place, the pool opens, and check() says consistent:
// data is lost silently, which issue 7 forbids. Either recovery must still restore the old
// bytes, or open/check must report the damage.
//
// The generation word carries 16 check bits, so its damage is ECORRUPT at open (tested for
// every single-bit flip below). Damage inside an entry cannot be told from an entry torn by a
// crash (both fail their checksum), so it ends the scan like a torn one: a documented limit of
// undo logging (packages/heap/README.md, "What the checksums catch"), as in PMDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError } from '@ferrite/core';
import { Pool } from '@ferrite/heap';
import { LOG_ENTRIES, LOG_GENERATION } from '../src/layout.js';
import { MemoryRegion } from '../../cli/test/support/memory-region.js';

const SIZE = 128 * 1024;
const OLD = 0x1111111111;
const NEW = 0x2222222222;

/** A pool whose root word holds OLD committed, caught while a transaction had written NEW. */
function pendingImage(): Uint8Array {
  const region = new MemoryRegion(new Uint8Array(SIZE));
  const pool = Pool.create(region, { layout: 'log-damage', size: SIZE });
  const root = pool.root(64);
  pool.transaction((tx) => {
    tx.addRange(root, 8);
    pool.writeU64(root, OLD);
  });
  let image = new Uint8Array(0);
  try {
    pool.transaction((tx) => {
      tx.addRange(root, 8);
      pool.writeU64(root, NEW);
      image = region.bytes.slice(); // what a crash here leaves on the media
      tx.abort();
    });
  } catch (err) {
    if (!isFerriteError(err, 'ETXSTATE')) throw err;
  }
  pool.close();
  return image;
}

/** Opens `image`: OLD restored, or the damage reported, or a typed error. Never NEW and clean. */
function assertNotSilent(image: Uint8Array): void {
  let pool: Pool;
  try {
    pool = Pool.open(new MemoryRegion(image), { layout: 'log-damage' });
  } catch (err) {
    assert.ok(isFerriteError(err), `untyped error: ${String(err)}`);
    return;
  }
  try {
    const value = pool.readU64(pool.rootOffset());
    const report = pool.check();
    assert.ok(
      value === OLD || !report.ok,
      `the uncommitted value ${value === NEW ? 'NEW' : value} survived recovery and check() reports the pool consistent`,
    );
  } finally {
    pool.close();
  }
}

test('control: an undamaged crash image rolls back to the committed value', () => {
  const image = pendingImage();
  const pool = Pool.open(new MemoryRegion(image), { layout: 'log-damage' });
  assert.equal(pool.recovered, true);
  assert.equal(pool.readU64(pool.rootOffset()), OLD);
  assert.equal(pool.check().ok, true);
  pool.close();
});

test('every single-bit flip in the log generation word is reported, never a silent skip', () => {
  const base = pendingImage();
  for (let bit = 0; bit < 64; bit++) {
    const image = base.slice();
    image[LOG_GENERATION + (bit >> 3)]! ^= 1 << (bit & 7);
    assertNotSilent(image);
  }
});

test('an all-zero generation word is damage, not generation 0', () => {
  const image = pendingImage();
  image.fill(0, LOG_GENERATION, LOG_GENERATION + 8);
  assert.throws(() => Pool.open(new MemoryRegion(image), { layout: 'log-damage' }), (err: unknown) => isFerriteError(err, 'ECORRUPT'));
});
