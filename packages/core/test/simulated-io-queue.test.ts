// SimulatedIoQueue against the IoQueue contract (packages/core/src/file-io.ts): nothing runs
// inside submit; runNow and waitIdle run every pending program first, in submission order;
// a failing step ends its program and poisons the queue with the same error; a simulated
// crash propagates out of runNow/waitIdle and rejects the promises; a write buffer changed
// before its program ran is caught; malformed programs are refused whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerriteError, type ErrorCode, type FileIO, type IoOp } from '@ferrite/core';
import { SimulatedCrash, SimulatedDisk, SimulatedIoQueue, type SimulatedFile } from '@ferrite/core/testing';

const isCode = (code: ErrorCode) => (e: unknown): boolean => isFerriteError(e, code);

/** A FileIO that records every call into a shared log (the queue takes any FileIO). */
class Recorder implements FileIO {
  length = 1 << 20;
  constructor(readonly name: string, readonly log: string[]) {}
  write(offset: number, src: Uint8Array): void {
    this.log.push(`${this.name}.write(${offset},${src.length})`);
  }
  read(): void {}
  sync(): void {
    this.log.push(`${this.name}.sync`);
  }
  grow(): void {}
  close(): void {}
}

/** How a promise settled, after the microtasks of this turn ran. */
async function settled(p: Promise<void>): Promise<'resolved' | unknown> {
  return p.then(() => 'resolved', (e: unknown) => e);
}

function diskWithFiles(): { disk: SimulatedDisk; a: SimulatedFile; b: SimulatedFile } {
  const disk = new SimulatedDisk({ a: 8192, b: 8192 });
  const a = disk.file('a');
  const b = disk.file('b');
  a.grow(8192);
  b.grow(8192);
  disk.region.resetEvents();
  return { disk, a, b };
}

test('submit runs nothing; waitIdle runs every program in order; promises settle afterwards', async () => {
  const log: string[] = [];
  const x = new Recorder('x', log);
  const y = new Recorder('y', log);
  const q = new SimulatedIoQueue();
  let resolved = 0;
  const p1 = q.submit([{ op: 'write', file: x, offset: 0, data: new Uint8Array(4) }, { op: 'sync', file: x }]).then(() => resolved++);
  const p2 = q.submit([{ op: 'write', file: y, offset: 8, data: new Uint8Array(2) }]).then(() => resolved++);
  const p3 = q.submit([]).then(() => resolved++);
  assert.deepEqual(log, [], 'nothing ran inside submit');
  assert.equal(q.pending, 3);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, [], 'nor later, without autoRun');
  q.waitIdle();
  assert.deepEqual(log, ['x.write(0,4)', 'x.sync', 'y.write(8,2)']);
  assert.equal(q.pending, 0);
  assert.equal(resolved, 0, 'promises settle after waitIdle returns');
  await Promise.all([p1, p2, p3]);
  assert.equal(resolved, 3);
});

test('runNow runs the pending programs first, then its own ops, synchronously', () => {
  const log: string[] = [];
  const x = new Recorder('x', log);
  const q = new SimulatedIoQueue();
  void q.submit([{ op: 'write', file: x, offset: 1, data: new Uint8Array(1) }]);
  void q.submit([{ op: 'sync', file: x }]);
  q.runNow([{ op: 'write', file: x, offset: 2, data: new Uint8Array(3) }, { op: 'sync', file: x }]);
  assert.deepEqual(log, ['x.write(1,1)', 'x.sync', 'x.write(2,3)', 'x.sync']);
  assert.equal(q.pending, 0);
  q.runNow([]);
});

test('on a disk: a submitted write is in the page cache only after the queue ran it', () => {
  const { disk, a } = diskWithFiles();
  const q = new SimulatedIoQueue();
  const data = new Uint8Array(16).fill(5);
  void q.submit([{ op: 'write', file: a, offset: 100, data }, { op: 'sync', file: a }]);
  const out = new Uint8Array(16);
  a.read(100, out);
  assert.ok(out.every((x) => x === 0));
  assert.deepEqual(disk.region.events, { flushes: 0, drains: 0 });
  q.waitIdle();
  a.read(100, out);
  assert.deepEqual(out, data);
  assert.deepEqual(disk.region.events, { flushes: 1, drains: 1 });
  assert.deepEqual(disk.media('a').subarray(100, 116), data, 'the program synced it');
});

test('a failing step ends its program and poisons every later one with the same error', async () => {
  const { disk, a, b } = diskWithFiles();
  const q = new SimulatedIoQueue();
  const one = new Uint8Array([1]);
  const p1 = q.submit([{ op: 'write', file: a, offset: 0, data: one }]);
  // b's write is past its end: ERANGE ends this program before its sync.
  const p2 = q.submit([{ op: 'write', file: b, offset: 8192, data: one }, { op: 'sync', file: b }]);
  const p3 = q.submit([{ op: 'write', file: a, offset: 1, data: one }]);
  q.waitIdle(); // not thrown here: the promises carry it
  const [r1, r2, r3] = await Promise.all([settled(p1), settled(p2), settled(p3)]);
  assert.equal(r1, 'resolved');
  assert.ok(isCode('ERANGE')(r2));
  assert.equal(r3, r2, 'the same error object');
  assert.equal(q.poisoned, r2);
  assert.deepEqual(disk.region.events, { flushes: 1, drains: 0 }, "nothing ran after the failure: no sync, no third write");
  assert.throws(() => q.runNow([{ op: 'sync', file: a }]), (e: unknown) => e === r2);
  assert.equal(await settled(q.submit([{ op: 'sync', file: a }])), r2);
  q.waitIdle();
  assert.deepEqual(disk.region.events, { flushes: 1, drains: 0 });
});

test('EIO from a sync poisons the queue; runNow throws its own failure and poisons too', async () => {
  const { disk, a } = diskWithFiles();
  const q = new SimulatedIoQueue();
  disk.region.failFlushes(1);
  assert.throws(() => q.runNow([{ op: 'sync', file: a }, { op: 'write', file: a, offset: 0, data: new Uint8Array(1) }]), isCode('EIO'));
  const eio = q.poisoned;
  assert.ok(isCode('EIO')(eio));
  assert.equal(await settled(q.submit([])), eio, 'even an empty program fails after a failure');
  assert.deepEqual(disk.region.events, { flushes: 0, drains: 0 });
});

test('a simulated crash in a program propagates out of waitIdle and runNow and rejects the promises', async () => {
  const { disk, a, b } = diskWithFiles();
  const q = new SimulatedIoQueue();
  const data = new Uint8Array(8).fill(3);
  disk.region.crashAfter(3); // the first program's write and sync, then the second's write
  const p1 = q.submit([{ op: 'write', file: a, offset: 0, data }, { op: 'sync', file: a }]);
  const p2 = q.submit([{ op: 'write', file: b, offset: 0, data }, { op: 'sync', file: b }]);
  const p3 = q.submit([{ op: 'sync', file: a }]);
  let crash: unknown;
  assert.throws(() => q.waitIdle(), (e: unknown) => {
    crash = e;
    return e instanceof SimulatedCrash && e.event === 'flush' && e.count === 3;
  });
  assert.equal(q.pending, 0, 'every promise was settled');
  const [r1, r2, r3] = await Promise.all([settled(p1), settled(p2), settled(p3)]);
  assert.equal(r1, 'resolved');
  assert.equal(r2, crash);
  assert.equal(r3, crash);
  // The machine is dead: every later call throws the same crash.
  assert.throws(() => q.waitIdle(), (e: unknown) => e === crash);
  assert.throws(() => q.runNow([]), (e: unknown) => e === crash);
  // What the crash left: a's write durable, b's write never happened.
  assert.deepEqual(disk.media('a').subarray(0, 8), data);
  for (let seed = 0; seed < 16; seed++) {
    const image = disk.region.crashImage(seed);
    const at = disk.extentOf('b').offset;
    assert.ok(image.subarray(at, at + 8).every((x) => x === 0), "b's write is in no image");
  }
});

test('a crash inside runNow (its own ops, or a pending program) is thrown by runNow', () => {
  const { disk, a } = diskWithFiles();
  const q = new SimulatedIoQueue();
  disk.region.crashAfter(2, { on: 'any' });
  assert.throws(
    () => q.runNow([{ op: 'write', file: a, offset: 0, data: new Uint8Array(1) }, { op: 'sync', file: a }]),
    (e: unknown) => e instanceof SimulatedCrash && e.event === 'drain',
  );
  const d2 = diskWithFiles();
  const q2 = new SimulatedIoQueue();
  d2.disk.region.crashAfter(1);
  const p = q2.submit([{ op: 'sync', file: d2.a }]);
  p.catch(() => {}); // settled below through the crash
  assert.throws(() => q2.runNow([{ op: 'sync', file: d2.b }]), SimulatedCrash);
  assert.equal(q2.pending, 0);
});

test('a write buffer changed between submit and the run fails its program with EINVAL', async () => {
  const { disk, a } = diskWithFiles();
  const q = new SimulatedIoQueue();
  const data = new Uint8Array(4).fill(1);
  const p = q.submit([{ op: 'sync', file: a }, { op: 'write', file: a, offset: 0, data }]);
  data[2] = 9; // the contract: unchanged until the program ends
  q.waitIdle();
  const r = await settled(p);
  assert.ok(isCode('EINVAL')(r) && /changed between submit and its run/.test(String(r)));
  assert.deepEqual(disk.region.events, { flushes: 0, drains: 1 }, 'the sync ran, the write did not');
});

test('malformed programs are refused whole with EINVAL, queuing or running nothing', () => {
  const log: string[] = [];
  const x = new Recorder('x', log);
  const q = new SimulatedIoQueue();
  const bad: unknown[] = [
    'ops',
    [null],
    [{ op: 'sync' }],
    [{ op: 'sync', file: {} }],
    [{ op: 'erase', file: x }],
    [{ op: 'write', file: x, offset: -1, data: new Uint8Array(1) }],
    [{ op: 'write', file: x, offset: 0.5, data: new Uint8Array(1) }],
    [{ op: 'write', file: x, offset: 0, data: [1] }],
    [{ op: 'sync', file: x }, { op: 'write', file: x, offset: 0 }],
  ];
  for (const ops of bad) {
    assert.throws(() => q.submit(ops as IoOp[]), isCode('EINVAL'), JSON.stringify(ops));
    assert.throws(() => q.runNow(ops as IoOp[]), isCode('EINVAL'), JSON.stringify(ops));
  }
  assert.equal(q.pending, 0);
  assert.deepEqual(log, []);
  assert.equal(q.poisoned, undefined, 'a refused program does not poison the queue');
  q.runNow([{ op: 'sync', file: x }]);
  assert.deepEqual(log, ['x.sync']);
  assert.throws(() => new SimulatedIoQueue({ autoRun: 'yes' as never }), isCode('EINVAL'));
  assert.throws(() => new SimulatedIoQueue({ autorun: true } as never), isCode('EINVAL'));
});

test('the ops array is copied at submit: changing it afterwards changes nothing', () => {
  const log: string[] = [];
  const x = new Recorder('x', log);
  const q = new SimulatedIoQueue();
  const ops: IoOp[] = [{ op: 'sync', file: x }];
  void q.submit(ops);
  ops.push({ op: 'write', file: x, offset: 0, data: new Uint8Array(1) });
  q.waitIdle();
  assert.deepEqual(log, ['x.sync']);
});

test('a step that calls back into the queue is refused (EINVAL) and poisons it', async () => {
  const q = new SimulatedIoQueue();
  const reentrant: FileIO = { ...new Recorder('r', []), length: 0, sync: () => q.waitIdle(), write: () => {}, read: () => {}, grow: () => {}, close: () => {} };
  const p = q.submit([{ op: 'sync', file: reentrant }]);
  q.waitIdle();
  assert.ok(isCode('EINVAL')(await settled(p)));
});

test('autoRun: submitted programs run after the current turn, so awaiting a submit settles', async () => {
  const log: string[] = [];
  const x = new Recorder('x', log);
  const q = new SimulatedIoQueue({ autoRun: true });
  const p1 = q.submit([{ op: 'sync', file: x }]);
  const p2 = q.submit([{ op: 'write', file: x, offset: 3, data: new Uint8Array(1) }]);
  assert.deepEqual(log, [], 'still not inside submit');
  await Promise.all([p1, p2]);
  assert.deepEqual(log, ['x.sync', 'x.write(3,1)']);
  // A crash in an automatic run rejects the promises (there is nobody to throw it to).
  const { disk, a } = diskWithFiles();
  const q2 = new SimulatedIoQueue({ autoRun: true });
  disk.region.crashAfter(1);
  assert.ok((await settled(q2.submit([{ op: 'sync', file: a }]))) instanceof SimulatedCrash);
});
