// Found by the damaged-pool fuzzer (packages/heap/test/fuzz-damage.test.ts) in @ferrite/tx, reduced to one
// deterministic case each: damage that surfaces as a plain exception instead of a FerriteError
// (issue 7: "either a successful open with check() reporting the damage, or a typed error").
// All were fixed in @ferrite/tx (the registry block offset is validated on every use, msgpackr
// failures on pool bytes become ECORRUPT) and stay here as regression tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError } from '@ferrite/core';
import { CHUNK_SIZE, Pool } from '@ferrite/heap';
import { Store } from '@ferrite/tx';
import { MemoryRegion } from './support/memory-region.js';

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
