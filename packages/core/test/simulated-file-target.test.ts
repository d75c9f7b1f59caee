// SimulatedFileTarget: the FileTarget contract on a SimulatedDisk - the pool and log files,
// the queue, the private view (plain memory, growable; the Region conformance suite), the
// shared view (the pool file's page cache itself), growth, read-only opens, close with and
// without removing the log, and reopening from a crash image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError, isFileTarget, type ErrorCode, type Region } from '@ferrite/core';
import {
  SimulatedDisk,
  SimulatedFileTarget,
  SimulatedIoQueue,
  SimulatedRegion,
  regionConformanceSuite,
} from '@ferrite/core/testing';

const isCode = (code: ErrorCode) => (e: unknown): boolean => isFerriteError(e, code);

function target(options: ConstructorParameters<typeof SimulatedFileTarget>[1] = {}, poolLength = 8192): SimulatedFileTarget {
  const disk = new SimulatedDisk({ pool: 64 * 1024, wal: 16 * 1024 });
  const t = new SimulatedFileTarget(disk, { ...options, readOnly: false });
  t.growPool(poolLength);
  if (options.readOnly !== true) return t;
  t.close(false);
  return new SimulatedFileTarget(disk, options);
}

test('a FileTarget over the disk: kind, files, queue; openPrivate copies the page cache and never writes', () => {
  const t = target();
  assert.ok(isFileTarget(t));
  assert.equal(t.kind, 'file-target');
  assert.equal(t.pool.name, 'pool');
  assert.equal(t.wal.name, 'wal');
  assert.equal(t.wal.length, 0, 'no log yet');
  assert.ok(t.queue instanceof SimulatedIoQueue);
  assert.equal(t.shared, undefined, 'no shared view unless asked for');
  t.pool.write(100, new Uint8Array([1, 2, 3])); // in the page cache, not durable
  const priv = t.openPrivate();
  assert.equal(priv.length, 8192);
  assert.deepEqual([...priv.bytes.subarray(100, 103)], [1, 2, 3], 'the page cache, not the disk');
  t.disk.region.resetEvents();
  priv.bytes.fill(9, 0, 50);
  priv.persist(0, 50);
  priv.flushRanges([0, 8, 16, 8]);
  priv.drain();
  assert.deepEqual(t.disk.region.events, { flushes: 0, drains: 0 }, 'no I/O');
  const out = new Uint8Array(50);
  t.pool.read(0, out);
  assert.ok(out.every((x) => x === 0), 'private stores stay private');
  const old = priv.bytes;
  priv.grow!(16384);
  assert.equal(old.length, 0, 'grow detaches the old array');
  assert.equal(priv.bytes[10], 9);
  assert.ok(priv.bytes.subarray(8192).every((x) => x === 0));
  assert.equal(t.pool.length, 8192, "the private view's growth is not the file's");
});

test('growPool: the pool file grows durably; the shared view follows', () => {
  const t = target({ shared: true });
  const shared = t.shared!;
  assert.equal(shared.length, 8192);
  assert.equal(shared.granularity, 'file');
  t.growPool(20000);
  assert.equal(t.pool.length, 20000);
  assert.equal(t.disk.media('pool').length, 20000);
  assert.equal(shared.length, 20000);
  assert.throws(() => t.growPool(64 * 1024 + 1), isCode('ENOSPC'));
});

test('the shared view is the pool file page cache: dirty at once, durable by pool.sync or its persist', () => {
  const t = target({ shared: true });
  const shared = t.shared!;
  const at = t.disk.extentOf('pool').offset;
  shared.bytes.fill(5, 4096, 4200); // a store into the mapping: page 1 of the file dirty
  const out = new Uint8Array(104);
  t.pool.read(4096, out);
  assert.ok(out.every((x) => x === 5), 'pool.read sees the store');
  assert.deepEqual(t.disk.region.unpersisted(), [{ offset: at + 4096, length: 4096 }]);
  // Before any sync a crash may keep it or lose it, or tear it.
  const seen = new Set<number>();
  for (let seed = 0; seed < 16; seed++) seen.add(t.disk.region.crashImage(seed)[at + 4096]!);
  assert.deepEqual([...seen].sort(), [0, 5]);
  t.disk.region.resetEvents();
  shared.flush(4096, 104); // a write() of no effect
  assert.deepEqual(t.disk.region.unpersisted(), [{ offset: at + 4096, length: 4096 }]);
  shared.persist(4096, 1); // an fdatasync of that page
  assert.deepEqual(t.disk.region.unpersisted(), []);
  assert.deepEqual(t.disk.region.events, { flushes: 1, drains: 1 });
  shared.bytes[0] = 1;
  t.pool.sync();
  assert.equal(t.disk.media('pool')[0], 1);
  assert.throws(() => shared.persist(8192, 1), isCode('ERANGE'), 'bounded by the file');
  assert.throws(() => shared.persistRanges([0, 8, 8190, 4]), isCode('ERANGE'));
  shared.persistRanges([0, 8, 8000, 8]);
  shared.drain();
});

test('read-only: the files refuse writes and growth, close refuses to remove the log', () => {
  const t = target({ readOnly: true });
  assert.equal(t.readOnly, true);
  assert.throws(() => t.pool.write(0, new Uint8Array(1)), isCode('EACCES'));
  assert.throws(() => t.wal.grow(10), isCode('EACCES'));
  assert.throws(() => t.growPool(16384), isCode('EACCES'));
  assert.throws(() => t.close(true), isCode('EACCES'));
  const priv = t.openPrivate(); // a private view is writable memory even so
  priv.bytes[0] = 1;
  t.close(false);
});

test('close: handles closed, idempotent; removeWal empties the log durably', () => {
  const t = target({ shared: true });
  t.wal.grow(3000);
  t.wal.write(0, new Uint8Array(3000).fill(8));
  t.wal.sync();
  t.close(true);
  t.close(true);
  assert.equal(t.disk.media('wal').length, 0, 'the log is gone, durably');
  assert.throws(() => t.pool.write(0, new Uint8Array(1)), isCode('ECLOSED'));
  assert.throws(() => t.wal.sync(), isCode('ECLOSED'));
  assert.throws(() => t.openPrivate(), isCode('ECLOSED'));
  assert.throws(() => t.growPool(9000), isCode('ECLOSED'));
  assert.throws(() => t.shared!.persist(0, 1), isCode('ECLOSED'));
  assert.equal(t.shared!.length, 0);
  // Without removeWal the log stays.
  const u = target();
  u.wal.grow(10);
  u.close(false);
  assert.equal(u.disk.media('wal').length, 10);
});

test('fromRegion: a restart on a crash image finds the same files', () => {
  const t = target();
  t.pool.write(0, new Uint8Array([4, 4]));
  t.pool.sync();
  const image = SimulatedRegion.fromImage(t.disk.region.crashImage({ seed: 0, mode: 'media' }), t.disk.region.options);
  const again = SimulatedFileTarget.fromRegion(image, { shared: true });
  assert.equal(again.pool.length, 8192);
  assert.deepEqual([...again.shared!.bytes.subarray(0, 3)], [4, 4, 0]);
  assert.throws(() => new SimulatedFileTarget(again.disk, { wal: 'pool' }), isCode('EINVAL'));
  assert.throws(() => new SimulatedFileTarget(again.disk, { wal: 'log' }), isCode('ENOENT'));
  assert.throws(() => new SimulatedFileTarget(again.disk, { sharde: true } as never), isCode('EINVAL'));
  assert.throws(() => new SimulatedFileTarget(again.disk, { shared: 'yes' } as never), isCode('EINVAL'));
  assert.throws(() => new SimulatedFileTarget(again.disk, { queue: { autorun: true } } as never), isCode('EINVAL'));
});

// The private view is a Region in full: the conformance suite holds it to the contract.
regionConformanceSuite('SimulatedFileTarget.openPrivate', {
  create(length: number): Region {
    const disk = new SimulatedDisk({ pool: length, wal: 0 });
    const t = new SimulatedFileTarget(disk);
    t.growPool(length);
    return t.openPrivate();
  },
});
