// SimulatedDisk and SimulatedFile: layout, the FileIO contract (bounds, errors, closed
// handles), write/sync/grow durability and their events, the fromRegion round trip, and a
// model-based test against a naive per-file reference: random writes, syncs, grows and
// crashes over three files, checking after each step that every file's durable contents
// are exactly what its own syncs made durable (a sync of one file never makes another's
// pages durable) and that a crash image, reopened as a disk, holds per-sector mixes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerriteError, type ErrorCode } from '@ferrite/core';
import {
  MAX_DISK_FILES,
  SimulatedCrash,
  SimulatedDisk,
  SimulatedFile,
  SimulatedRegion,
} from '@ferrite/core/testing';

const SOAK = process.env.FERRITE_SOAK === '1';
const isCode = (code: ErrorCode) => (e: unknown): boolean => isFerriteError(e, code);

/** What the crash harness does: a crash image reopened as a region of the same model. */
function reopen(disk: SimulatedDisk, choice: Parameters<SimulatedRegion['crashImage']>[0]): SimulatedDisk {
  return SimulatedDisk.fromRegion(SimulatedRegion.fromImage(disk.region.crashImage(choice), disk.region.options));
}

function contents(file: SimulatedFile): Uint8Array {
  const out = new Uint8Array(file.length);
  file.read(0, out);
  return out;
}

test('a new disk: files laid out page-aligned and apart, empty, metadata durable', () => {
  const disk = new SimulatedDisk({ pool: 10_000, wal: 4096, tiny: 0 });
  assert.deepEqual(disk.names, ['pool', 'wal', 'tiny']);
  assert.equal(disk.region.granularity, 'file');
  const pool = disk.extentOf('pool');
  const wal = disk.extentOf('wal');
  assert.deepEqual(pool, { offset: 4096, length: 10_000 });
  assert.deepEqual(wal, { offset: 4096 + 3 * 4096, length: 4096 });
  assert.equal(disk.extentOf('tiny').length, 0);
  assert.equal(disk.region.length, 4096 + 3 * 4096 + 4096);
  assert.deepEqual(disk.region.unpersisted(), [], 'the metadata is durable');
  for (const name of disk.names) {
    assert.equal(disk.file(name).length, 0);
    assert.equal(disk.media(name).length, 0);
  }
  const again = reopen(disk, { seed: 0, mode: 'media' });
  assert.deepEqual(again.names, disk.names);
  assert.deepEqual(again.extentOf('pool'), pool);
  // Page and sector sizes are the region's.
  const small = new SimulatedDisk({ a: 100 }, { pageSize: 512, sectorSize: 64 });
  assert.deepEqual(small.region.options, { granularity: 'file', pageSize: 512, sectorSize: 64 });
  assert.deepEqual(small.extentOf('a'), { offset: 512, length: 100 });
});

test('bad disks are refused: EINVAL for files and sizes, ERANGE beyond the simulator', () => {
  const tooMany = Object.fromEntries(Array.from({ length: MAX_DISK_FILES + 1 }, (_, i) => [`f${i}`, 8]));
  for (const [extents, options] of [
    [{}, {}],
    [tooMany, {}],
    [{ '': 8 }, {}],
    [{ ['x'.repeat(41)]: 8 }, {}],
    [{ 'a\0b': 8 }, {}],
    [{ a: -1 }, {}],
    [{ a: 1.5 }, {}],
    [{ a: '8' }, {}],
    [{ a: 8 }, { pageSize: 1000 }],
    [{ a: 8 }, { sectorSize: 8192 }],
    [{ a: 8 }, { sectorsize: 64 }], // misspelt: refused, not ignored
    [{ a: 8 }, 'options'],
  ] as const) {
    assert.throws(() => new SimulatedDisk(extents as never, options as never), isCode('EINVAL'), JSON.stringify(extents).slice(0, 40));
  }
  assert.throws(() => new SimulatedDisk({ a: 2 ** 30 }), isCode('ERANGE'));
});

test('write: past the length ERANGE (grow first), bad arguments EINVAL, and it reaches only the page cache', () => {
  const disk = new SimulatedDisk({ log: 8192 });
  const log = disk.file('log');
  assert.throws(() => log.write(0, new Uint8Array(1)), isCode('ERANGE'), 'an empty file takes no write');
  log.grow(100);
  const data = Uint8Array.from({ length: 50 }, (_, i) => i + 1);
  log.write(10, data, 5, 20); // data[5..25) at 10
  assert.deepEqual(contents(log).subarray(10, 30), data.subarray(5, 25));
  assert.deepEqual(disk.media('log'), new Uint8Array(100), 'not durable before a sync');
  log.write(90, data.subarray(0, 10)); // up to the end exactly
  assert.throws(() => log.write(91, data.subarray(0, 10)), isCode('ERANGE'));
  assert.throws(() => log.write(0, data, 45, 10), isCode('ERANGE'), 'past the source');
  assert.throws(() => log.write(-1, data), isCode('EINVAL'));
  assert.throws(() => log.write(1.5, data), isCode('EINVAL'));
  assert.throws(() => log.write(0, data, -1), isCode('EINVAL'));
  assert.throws(() => log.write(0, [1, 2] as never), isCode('EINVAL'));
  const out = new Uint8Array(10);
  assert.throws(() => log.read(95, out), isCode('ERANGE'));
  assert.throws(() => log.read(0, out, 5, 6), isCode('ERANGE'));
  log.read(10, out, 2, 8);
  assert.deepEqual(out.subarray(2), data.subarray(5, 13));
  log.sync();
  assert.deepEqual(disk.media('log'), contents(log), 'durable after the sync');
  // A full extent: growth is ENOSPC, the file unchanged.
  log.grow(8192);
  assert.throws(() => log.grow(8193), isCode('ENOSPC'));
  assert.equal(log.length, 8192);
  assert.throws(() => log.write(8192, data.subarray(0, 1)), (e: unknown) => isCode('ERANGE')(e) && /extent is full/.test(String(e)));
});

test('events: a write is one flush, a sync and a grow one drain each, a read none', () => {
  const disk = new SimulatedDisk({ a: 4096, b: 4096 });
  const a = disk.file('a');
  disk.region.resetEvents();
  a.grow(64);
  a.grow(64); // same length: nothing to do
  a.write(0, new Uint8Array(8).fill(1));
  a.write(8, new Uint8Array(0)); // a zero-length write() is still a call
  a.read(0, new Uint8Array(8));
  a.sync();
  assert.deepEqual(disk.region.events, { flushes: 2, drains: 2 });
});

test('a sync makes its own file durable and no other', () => {
  const disk = new SimulatedDisk({ a: 4096, b: 4096 });
  const a = disk.file('a');
  const b = disk.file('b');
  a.grow(4096);
  b.grow(4096);
  a.write(0, new Uint8Array(4096).fill(0xaa));
  b.write(0, new Uint8Array(4096).fill(0xbb));
  a.sync();
  assert.ok(disk.media('a').every((x) => x === 0xaa));
  assert.ok(disk.media('b').every((x) => x === 0), "a's sync left b's pages dirty");
  // So a crash may still lose or tear b, never a.
  const seen = new Set<string>();
  for (let seed = 0; seed < 32; seed++) {
    const again = reopen(disk, seed);
    assert.ok(contents(again.file('a')).every((x) => x === 0xaa));
    const bb = contents(again.file('b'));
    seen.add(bb.every((x) => x === 0xbb) ? 'new' : bb.every((x) => x === 0) ? 'old' : 'torn');
  }
  assert.deepEqual([...seen].sort(), ['new', 'old', 'torn']);
});

test('truncate: durable on return; a crash at its sync leaves the old file or the cut one; EIO changes nothing; grown again: zeros', () => {
  const disk = new SimulatedDisk({ f: 4 * 4096, g: 4096 });
  const f = disk.file('f');
  const g = disk.file('g');
  g.grow(100);
  g.write(0, new Uint8Array(100).fill(3));
  f.grow(3 * 4096);
  f.write(0, new Uint8Array(3 * 4096).fill(9));
  f.sync();
  const before = disk.region.events.drains;
  f.truncate(4096);
  assert.equal(disk.region.events.drains, before + 1, 'one drain event');
  assert.equal(f.length, 4096);
  assert.equal(disk.media('f').length, 4096, 'the new length is durable when truncate returns');
  assert.ok(disk.media('f').every((x) => x === 9));
  assert.equal(disk.media('g').length, 100, 'another file is untouched');
  f.truncate(4096); // equal: no event
  assert.equal(disk.region.events.drains, before + 1);
  assert.throws(() => f.truncate(8192), isCode('EINVAL'));
  assert.throws(() => disk.file('f', { readOnly: true }).truncate(0), isCode('EACCES'));
  f.grow(2 * 4096);
  assert.ok(contents(f).subarray(4096).every((x) => x === 0), 'grown again: zeros, not the cut bytes');
  // A crash at the truncate's sync: the old length with the old bytes, or the new one.
  f.write(0, new Uint8Array(2 * 4096).fill(4));
  f.sync();
  disk.region.crashAfter(1);
  assert.throws(() => f.truncate(0), SimulatedCrash);
  const seen = new Set<string>();
  for (const mode of ['media', 'sectors', 'pages', 'live'] as const) {
    for (let seed = 0; seed < 4; seed++) {
      const h = reopen(disk, { seed, mode }).file('f');
      const c = contents(h);
      assert.ok(h.length === 0 || h.length === 2 * 4096, `length ${h.length}`);
      assert.ok(c.every((x) => x === 4 || x === 0), 'the old bytes, or zeros of the cut');
      seen.add(String(h.length));
    }
  }
  assert.ok(seen.has('0') && seen.has(String(2 * 4096)), `both outcomes reached: ${[...seen].join(', ')}`);
  // EIO from the sync: the file keeps its length and its bytes.
  const d2 = new SimulatedDisk({ f: 8192 });
  const h = d2.file('f');
  h.grow(8192);
  h.write(0, new Uint8Array(8192).fill(6));
  h.sync();
  d2.region.failFlushes(1);
  assert.throws(() => h.truncate(10), isCode('EIO'));
  assert.equal(h.length, 8192);
  assert.ok(contents(h).every((x) => x === 6), 'a failed truncate leaves the bytes');
});

test('grow: zeros, durable on return; a crash at its sync leaves the old or the new length; EIO changes nothing', () => {
  const disk = new SimulatedDisk({ f: 3 * 4096 });
  const f = disk.file('f');
  f.grow(4096);
  assert.equal(disk.media('f').length, 4096, 'the length is durable when grow returns');
  for (const mode of ['media', 'sectors', 'pages'] as const) {
    assert.equal(reopen(disk, { seed: 3, mode }).file('f').length, 4096);
  }
  assert.throws(() => f.grow(100), isCode('EINVAL'), 'no shrinking');
  assert.throws(() => f.grow(-1), isCode('EINVAL'));
  // Bytes stored into the region past the length do not show through a growth.
  disk.region.bytes[disk.extentOf('f').offset + 5000] = 9;
  f.grow(8192);
  assert.ok(contents(f).subarray(4096).every((x) => x === 0));
  // A crash before the grow's sync: either length, and zeros past the old one either way.
  disk.region.crashAfter(1);
  assert.throws(() => f.grow(3 * 4096), SimulatedCrash);
  const lengths = new Set<number>();
  const n = disk.region.crashImageCount(16);
  for (let i = 0; i < n; i++) {
    const again = reopen(disk, { seed: i, mode: 'enumerate' });
    const g = again.file('f');
    lengths.add(g.length);
    assert.ok(contents(g).subarray(4096).every((x) => x === 0));
  }
  assert.deepEqual([...lengths].sort((x, y) => x - y), [8192, 3 * 4096]);
  // EIO from the sync: the file keeps its length, in the page cache and on the disk.
  const d2 = new SimulatedDisk({ f: 8192 });
  const g = d2.file('f');
  d2.region.failFlushes(1);
  assert.throws(() => g.grow(100), isCode('EIO'));
  assert.equal(g.length, 0);
  assert.deepEqual(d2.region.unpersisted(), []);
  g.grow(100);
  assert.equal(d2.media('f').length, 100);
});

test('grow makes only the length durable, never data written before it', () => {
  const disk = new SimulatedDisk({ f: 8192 });
  const f = disk.file('f');
  f.grow(100);
  f.write(0, new Uint8Array(100).fill(4)); // dirty, in the page the growth extends
  f.grow(6000);
  assert.equal(disk.media('f').length, 6000);
  assert.ok(disk.media('f').every((x) => x === 0), 'the write is still only in the page cache');
  const kept = new Set<number>();
  for (let seed = 0; seed < 16; seed++) kept.add(contents(reopen(disk, seed).file('f'))[0]!);
  assert.deepEqual([...kept].sort(), [0, 4], 'a crash may lose it');
});

test('remove: the file is empty, durably; grown again it reads zeros, in every image', () => {
  const disk = new SimulatedDisk({ wal: 8192, other: 4096 });
  const wal = disk.file('wal');
  const other = disk.file('other');
  other.grow(10);
  other.write(0, new Uint8Array(10).fill(3)); // dirty: the removal of wal must not sync it
  wal.grow(5000);
  wal.write(0, new Uint8Array(5000).fill(7));
  wal.sync();
  disk.region.resetEvents();
  disk.remove('wal');
  assert.deepEqual(disk.region.events, { flushes: 0, drains: 1 });
  assert.equal(wal.length, 0, 'open handles see the empty file');
  assert.equal(disk.media('wal').length, 0);
  assert.ok(disk.media('other').every((x) => x === 0), "other's dirty bytes were not synced");
  wal.grow(5000);
  for (let seed = 0; seed < 16; seed++) {
    const w = reopen(disk, seed).file('wal');
    assert.equal(w.length, 5000);
    assert.ok(contents(w).every((x) => x === 0), `seed ${seed}: the removed contents show through`);
  }
  assert.throws(() => disk.remove('nope'), isCode('ENOENT'));
});

test('read-only handles refuse write and grow with EACCES, and read and sync', () => {
  const disk = new SimulatedDisk({ f: 4096 });
  disk.file('f').grow(8);
  const ro = disk.file('f', { readOnly: true });
  assert.equal(ro.readOnly, true);
  assert.throws(() => ro.write(0, new Uint8Array(1)), isCode('EACCES'));
  assert.throws(() => ro.grow(16), isCode('EACCES'));
  ro.read(0, new Uint8Array(8));
  ro.sync();
});

test('after a crash every write, sync and growth throws it, even one that would do nothing', () => {
  const disk = new SimulatedDisk({ f: 4096 });
  const f = disk.file('f');
  f.grow(8);
  disk.region.crashAfter(1);
  assert.throws(() => f.grow(16), SimulatedCrash);
  assert.throws(() => f.grow(f.length), SimulatedCrash);
  assert.throws(() => f.write(0, new Uint8Array(1)), SimulatedCrash);
  assert.throws(() => f.sync(), SimulatedCrash);
});

test('closed handles and disks are ECLOSED; handles are independent; unknown files ENOENT', () => {
  const disk = new SimulatedDisk({ a: 4096 });
  const a1 = disk.file('a');
  const a2 = new SimulatedFile(disk, 'a');
  a1.grow(16);
  a1.close();
  a1.close();
  assert.equal(a1.isClosed, true);
  for (const call of [() => a1.write(0, new Uint8Array(1)), () => a1.read(0, new Uint8Array(1)), () => a1.sync(), () => a1.grow(32)]) {
    assert.throws(call, isCode('ECLOSED'));
  }
  a2.write(0, new Uint8Array([7]));
  assert.equal(a2.length, 16, 'the other handle sees the growth and still works');
  assert.throws(() => disk.file('b'), isCode('ENOENT'));
  assert.throws(() => disk.file('a', { readonly: true } as never), isCode('EINVAL'));
  assert.throws(() => disk.file('a', { readOnly: 1 } as never), isCode('EINVAL'));
  assert.throws(() => disk.extentOf('b'), isCode('ENOENT'));
  disk.close();
  disk.close();
  assert.throws(() => a2.sync(), isCode('ECLOSED'));
  assert.throws(() => disk.file('a'), isCode('ECLOSED'));
  // Closing persists nothing: the write can still be lost.
  assert.equal(disk.region.crashImage({ seed: 0, mode: 'media' })[disk.extentOf('a').offset], 0);
});

test('fromRegion refuses what is not a disk of this model: EINVAL, ECORRUPT', () => {
  const disk = new SimulatedDisk({ a: 4096, b: 100 }, { pageSize: 1024, sectorSize: 128 });
  disk.file('a').grow(10);
  const image = disk.region.crashImage({ seed: 0, mode: 'media' });
  assert.throws(() => SimulatedDisk.fromRegion(SimulatedRegion.fromImage(image)), isCode('EINVAL'), 'not a file region');
  assert.throws(() => SimulatedDisk.fromRegion(SimulatedRegion.fromImage(image, { granularity: 'file' })), isCode('EINVAL'), 'other sizes');
  const options = disk.region.options;
  const damaged = (at: number, value: number): SimulatedRegion => {
    const copy = image.slice();
    copy[at] = value;
    return SimulatedRegion.fromImage(copy, options);
  };
  assert.throws(() => SimulatedDisk.fromRegion(new SimulatedRegion(4096, options)), isCode('ECORRUPT'), 'zeros');
  assert.throws(() => SimulatedDisk.fromRegion(damaged(64, 'z'.charCodeAt(0))), isCode('ECORRUPT'), 'a name changed');
  assert.throws(() => SimulatedDisk.fromRegion(damaged(64 + 48, 0x99)), isCode('ECORRUPT'), 'an extent changed');
  assert.throws(() => SimulatedDisk.fromRegion(damaged(64 + 56 + 1, 0x20)), isCode('ECORRUPT'), 'a length over its extent');
  const ok = SimulatedDisk.fromRegion(SimulatedRegion.fromImage(image, options));
  assert.equal(ok.file('a').length, 10);
  assert.deepEqual(ok.extentOf('b'), disk.extentOf('b'));
});

// ---- Model-based: three files, random writes, syncs, grows and crashes. ----

type Op =
  | { k: 'write'; f: number; at: number; len: number; fill: number }
  | { k: 'sync'; f: number }
  | { k: 'grow'; f: number; by: number }
  | { k: 'crash'; after: number };

const NAMES = ['a', 'b', 'c'] as const;
const EXTENT = [5000, 2048, 1200] as const;

class FileRef {
  live = new Uint8Array(0);
  durable = new Uint8Array(0);
  length = 0;
  durableLength = 0;
}

function runDisk(pageSize: number, sectorSize: number, ops: Op[], seed: number): void {
  const disk = new SimulatedDisk({ a: EXTENT[0], b: EXTENT[1], c: EXTENT[2] }, { pageSize, sectorSize });
  const files = NAMES.map((n) => disk.file(n));
  const refs = NAMES.map(() => new FileRef());
  let countdown = 0;
  let crashed = false;
  /** Whether the next event happens (false: the crash strikes before it). */
  const event = (): boolean => {
    if (crashed) return false;
    if (countdown > 0 && --countdown === 0) crashed = true;
    return !crashed;
  };
  for (const op of ops) {
    switch (op.k) {
      case 'write': {
        const ref = refs[op.f]!;
        if (ref.length === 0) break;
        const at = op.at % ref.length;
        const len = Math.min(op.len, ref.length - at);
        const data = new Uint8Array(len).fill(op.fill);
        if (event()) {
          files[op.f]!.write(at, data);
          ref.live.set(data, at);
        } else assert.throws(() => files[op.f]!.write(at, data), SimulatedCrash);
        break;
      }
      case 'sync': {
        const ref = refs[op.f]!;
        if (event()) {
          files[op.f]!.sync();
          ref.durable = ref.live.slice();
        } else assert.throws(() => files[op.f]!.sync(), SimulatedCrash);
        break;
      }
      case 'grow': {
        const ref = refs[op.f]!;
        const to = Math.min(EXTENT[op.f]!, ref.length + op.by);
        if (to === ref.length) break;
        if (event()) {
          files[op.f]!.grow(to);
          const live = new Uint8Array(to);
          live.set(ref.live);
          const durable = new Uint8Array(to);
          durable.set(ref.durable);
          ref.live = live;
          ref.durable = durable;
          ref.length = ref.durableLength = to;
        } else assert.throws(() => files[op.f]!.grow(to), SimulatedCrash);
        break;
      }
      case 'crash':
        if (!crashed) {
          disk.region.crashAfter(op.after);
          countdown = op.after;
        }
        break;
    }
    // Durable contents: exactly what each file's own syncs made durable.
    for (const [i, name] of NAMES.entries()) {
      const ref = refs[i]!;
      if (!crashed) assert.deepEqual(disk.media(name), ref.durable.subarray(0, ref.durableLength), `durable ${name}`);
    }
    // A crash image, reopened: each file's length is its durable one (or, only when the crash
    // struck a grow's sync, the new one) and each of its sectors holds its old or new bytes.
    const image = reopen(disk, seed + ops.indexOf(op));
    for (const [i, name] of NAMES.entries()) {
      const ref = refs[i]!;
      const f = image.file(name);
      const got = contents(f);
      assert.ok(f.length >= ref.durableLength, `${name}: the image's length ${f.length} is below the durable ${ref.durableLength}`);
      for (let s = 0; s < ref.length; s += sectorSize) {
        const end = Math.min(ref.length, s + sectorSize);
        const sector = Buffer.from(got.subarray(s, end));
        assert.ok(
          sector.equals(ref.durable.subarray(s, end)) || sector.equals(ref.live.subarray(s, end)),
          `${name}: sector ${s} is neither its durable nor its written contents`,
        );
      }
      assert.ok(got.subarray(ref.length).every((x) => x === 0), `${name}: zeros past the length`);
    }
    image.region.dispose();
  }
  disk.region.dispose();
}

test('SimulatedDisk agrees with a per-file reference: syncs are per file, images are per-sector mixes', () => {
  const f = fc.integer({ min: 0, max: 2 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), f, at: fc.nat(6000), len: fc.integer({ min: 1, max: 1500 }), fill: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('sync' as const), f }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('grow' as const), f, by: fc.integer({ min: 1, max: 3000 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('crash' as const), after: fc.integer({ min: 1, max: 5 }) }) },
  );
  fc.assert(
    fc.property(
      fc.constantFrom<[number, number]>([4096, 512], [512, 64], [1024, 1024]),
      fc.array(op, { maxLength: 30 }),
      fc.nat(),
      ([pageSize, sectorSize], ops, seed) => runDisk(pageSize, sectorSize, ops, seed),
    ),
    { numRuns: SOAK ? 1500 : 120 },
  );
});
