// Found by the damaged-pool fuzzer (packages/heap/test/fuzz-damage.test.ts) in @ferrite/tx, reduced to one
// deterministic case each: damage that surfaces as a plain exception instead of a FerriteError
// (issue 7: "either a successful open with check() reporting the damage, or a typed error").
// All were fixed in @ferrite/tx (the registry block offset is validated on every use, msgpackr
// failures on pool bytes become ECORRUPT) and stay here as regression tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerriteError } from '@ferrite/core';
import { CHUNK_SIZE, Pool } from '@ferrite/heap';
import { Store } from '@ferrite/tx';
import { MemoryRegion } from './support/memory-region.js';
import { probe } from './support/probes/pool-probe.js';

const SIZE = 256 * 1024;
const MARKER = 'fuzz-marker-value-0123456789';

/** A store with one map holding MARKER, as a byte image. */
function storeImage(): Uint8Array {
  const region = new MemoryRegion(new Uint8Array(SIZE));
  const store = Store.fromPool(Pool.create(region, { layout: 'store-damage', size: SIZE }));
  store.map<string, string>('m').set('k', MARKER);
  store.close();
  return region.bytes;
}

/** Runs `fn`; it may succeed or throw a FerriteError, never anything else. */
function typedOrFine(what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isFerriteError(err), `${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

function openStore(image: Uint8Array, readOnly: boolean): Store {
  return Store.fromPool(Pool.open(new MemoryRegion(image), { layout: 'store-damage', readOnly }));
}

test('control: the undamaged image reads back', () => {
  const store = openStore(storeImage(), true);
  assert.equal(store.map<string, string>('m').get('k'), MARKER);
  store.close();
});

test('a registry offset pointing past the pool end is ECORRUPT, not a RangeError', () => {
  const image = storeImage();
  const probe = Pool.open(new MemoryRegion(image.slice()), { layout: 'store-damage', readOnly: true });
  const root = probe.rootOffset();
  probe.close();
  const view = new DataView(image.buffer);
  // The registry slot (8 bytes into the store root) now names a block past the pool's end.
  view.setUint32(root + 8, SIZE + 4096, true);
  view.setUint32(root + 12, 0, true);
  typedOrFine('Store.fromPool (read-only)', () => openStore(image.slice(), true).close());
  typedOrFine('Store.fromPool + map() (writable)', () => {
    const store = openStore(image.slice(), false);
    try {
      store.map('another');
    } finally {
      store.close();
    }
  });
});

test('a store root the allocator thinks free: creating a collection stays typed', () => {
  const image = storeImage();
  const probe = Pool.open(new MemoryRegion(image.slice()), { layout: 'store-damage', readOnly: true });
  const root = probe.rootOffset();
  const heapOffset = probe.heapOffset;
  probe.close();
  // Zero the header of the chunk holding the root: the chunk reads as free space, so the next
  // allocations may land on the store root while the root record still points there.
  const chunk = heapOffset + Math.floor((root - heapOffset) / CHUNK_SIZE) * CHUNK_SIZE;
  image.fill(0, chunk, chunk + 8);
  typedOrFine('creating collections on the damaged store', () => {
    const store = openStore(image, false);
    try {
      for (let i = 0; i < 20; i++) store.map(`extra${i}`).set('k', i);
    } finally {
      store.close();
    }
  });
});

test('a value whose msgpack bytes are damaged is ECORRUPT, not a msgpackr Error', () => {
  const image = storeImage();
  const at = Buffer.from(image).indexOf(MARKER);
  assert.ok(at > 0, 'the value is in the image');
  // The byte before the string is its msgpack length (fixstr/str8): claim far more bytes.
  image[at - 1] = 0xff;
  typedOrFine('map.get', () => {
    const store = openStore(image, true);
    try {
      store.map<string, string>('m').get('k');
      for (const entry of store.map('m')) void entry;
    } finally {
      store.close();
    }
  });
});

// Found by the fuzzer on 2026-11-21 (1 case in 6000): a pool whose heap checked clean, with a
// damaged reference inside a hash map, was itself damaged by one `set`: the map snapshotted
// and stored a word that the reference put on a run's bitmap ("bitmap bit 14 set past the
// last block"). The heap now refuses a range over its metadata before any store
// (packages/heap/test/range-bounds.test.ts); the image stays as a replay.
test('fuzz case 1585: store writes through a damaged map reference leave the heap clean', () => {
  const image = new Uint8Array(readFileSync(new URL('./fixtures/fuzz/case-1585.pool', import.meta.url)));
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-case-'));
  try {
    const result = probe(image, join(dir, 'case.pool'), 1585);
    assert.notEqual(result.outcome, 'bug', 'error' in result ? result.error : '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The same class of damage, swept: every word of every block a hash map owns is pointed, in
 * turn, at and around the heap's metadata (chunk headers and run bitmaps, where a map slot or
 * entry word would land on allocator state). Whatever the store's writes then do, they end in
 * success or a FerriteError, and a heap that checked clean before them checks clean after.
 */
test('map references pointed at heap metadata: writes are refused before they reach it', () => {
  const base = storeImage();
  const probePool = Pool.open(new MemoryRegion(base.slice()), { layout: 'store-damage', readOnly: true });
  const probeStore = Store.fromPool(probePool);
  const owned = [...(probeStore.map('m') as unknown as { ownedBlocks(): Iterable<number> }).ownedBlocks()];
  const words: number[] = [];
  for (const b of owned) for (let o = 0; o < probePool.usableSize(b); o += 8) words.push(b + o);
  const chunks = new Set([...probePool.allocations()].map((a) => probePool.heapOffset + Math.floor((a.offset - probePool.heapOffset) / CHUNK_SIZE) * CHUNK_SIZE));
  probeStore.close();
  const targets: number[] = [];
  for (const c of chunks) for (const d of [-64, -56, -48, -8, 0, 8, 16, 24, 32]) targets.push(c + d);
  let checkedClean = 0;
  let refused = 0;
  for (const w of words) {
    for (const t of targets) {
      const image = base.slice();
      new DataView(image.buffer).setBigUint64(w, BigInt(t), true);
      const pool = Pool.open(new MemoryRegion(image), { layout: 'store-damage' });
      if (!pool.check().ok) {
        pool.close();
        continue;
      }
      checkedClean++;
      try {
        const store = Store.fromPool(pool);
        const m = store.map<string, string>('m');
        for (const op of [() => m.set('k', 'x'), () => m.set('new', 'y'), () => m.delete('k'), () => m.set('long-' + 'z'.repeat(60), 'w')]) {
          try {
            op();
          } catch (err) {
            assert.ok(isFerriteError(err), `word ${w} → ${t}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
            refused++;
          }
        }
      } catch (err) {
        assert.ok(isFerriteError(err), `word ${w} → ${t}: ${String(err)}`);
      }
      const after = pool.check();
      assert.ok(after.ok, `word ${w} → ${t}: the heap checked clean, then store writes left ${JSON.stringify(after.problems.slice(0, 2))}`);
      pool.close();
    }
  }
  assert.ok(checkedClean > words.length, 'most damaged images pass the heap check (the damage is in the map)');
  assert.ok(refused > 0, 'some writes are refused');
});
