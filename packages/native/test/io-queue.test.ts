/**
 * The native I/O queue: programs run in submission order (against a sequential model),
 * runNow and waitIdle keep that order, a failure poisons the queue, refusals, files that
 * cannot be closed under a program, data kept alive under GC, worker threads, process exit
 * with programs pending, and an event loop that keeps turning during a slow program.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { FerriteError } from '@ferrite/core';
import type { IoOp } from '@ferrite/core';
import { createIoQueue, openFile } from '../src/index.js';
import type { FileHandle } from '../src/index.js';
import { poolDirs, runFixture, throwsCode } from './helpers.js';
import { prefixOf, record } from './support/records.js';

const { shm: shmDir, disk: diskDir, fresh } = poolDirs('q');

/** A seeded PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function rejection(promise: Promise<unknown>): Promise<FerriteError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof FerriteError, `a FerriteError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

function sized(dir: string, length: number): FileHandle {
  const f = openFile(fresh(dir), { create: true });
  f.grow(length);
  return f;
}

describe('order', () => {
  for (const seed of [1, 2, 3]) {
    it(`many programs of random writes and syncs over two files equal the sequential model, with runNow in between (seed ${seed})`, async () => {
      const random = prng(seed);
      const length = 64 * 1024;
      const files = [sized(shmDir, length), sized(diskDir, length)];
      const models = files.map(() => new Uint8Array(length));
      const queue = createIoQueue();
      const settledOrder: number[] = [];
      const promises: Promise<void>[] = [];
      let runNows = 0;
      for (let p = 0; p < 400; p++) {
        const ops: IoOp[] = [];
        const steps = 1 + Math.floor(random() * 6);
        for (let s = 0; s < steps; s++) {
          const which = random() < 0.5 ? 0 : 1;
          if (random() < 0.15) {
            ops.push({ op: 'sync', file: files[which] });
            continue;
          }
          const size = Math.floor(random() * random() * 9000);
          const offset = Math.floor(random() * (length - size + 1));
          const data = new Uint8Array(size);
          for (let i = 0; i < size; i++) data[i] = (p * 31 + s * 7 + i) & 0xff;
          ops.push({ op: 'write', file: files[which], offset, data });
          models[which].set(data, offset);
        }
        if (random() < 0.05) {
          const before = queue.pending;
          queue.runNow(ops);
          runNows++;
          assert.ok(before >= 0);
          assert.equal(queue.pending, 0, 'runNow returns after every earlier program finished');
          // What runNow wrote is in the files already, after everything submitted before.
          for (const [i, f] of files.entries()) {
            const now = new Uint8Array(length);
            f.read(0, now);
            assert.deepEqual(now, models[i]);
          }
        } else {
          promises.push(queue.submit(ops).then(() => {
            settledOrder.push(p);
          }));
        }
      }
      await Promise.all(promises);
      assert.ok(runNows > 0);
      assert.deepEqual(settledOrder, [...settledOrder].sort((a, b) => a - b), 'promises settle in submission order');
      for (const [i, f] of files.entries()) {
        assert.deepEqual(new Uint8Array(readFileSync(f.path)), models[i], `file ${i} equals the model`);
        f.close();
      }
      const stats = queue.stats();
      assert.equal(stats.programs, 400);
      assert.equal(stats.failed, 0);
      assert.equal(stats.pending, 0);
    });
  }

  it('waitIdle returns once every program finished, before their promises settle', async () => {
    const f = sized(shmDir, 100 * 64);
    const slow = sized(diskDir, 16 << 20);
    const queue = createIoQueue();
    let settled = 0;
    // A slow first program (16 MiB written and fdatasync'd on disk) holds the others back.
    const promises = [queue.submit([{ op: 'write', file: slow, offset: 0, data: new Uint8Array(16 << 20).fill(1) }, { op: 'sync', file: slow }])];
    for (let i = 0; i < 100; i++) {
      promises.push(queue.submit([{ op: 'write', file: f, offset: i * 64, data: record(i, 64) }]).then(() => {
        settled++;
      }));
    }
    assert.ok(queue.pending > 0);
    queue.waitIdle();
    assert.equal(queue.pending, 0);
    assert.equal(settled, 0, 'no promise settled yet: the event loop has not run');
    assert.deepEqual(prefixOf(new Uint8Array(readFileSync(f.path)), 100, 64).complete, 100);
    f.close(); // no program uses it any more
    slow.close();
    await Promise.all(promises);
    assert.equal(settled, 100);
  });

  it('an empty program resolves in its turn; a program may name a file many times', async () => {
    const f = sized(shmDir, 16);
    const queue = createIoQueue();
    const order: string[] = [];
    const a = queue.submit([
      { op: 'write', file: f, offset: 0, data: new Uint8Array([1, 1]) },
      { op: 'write', file: f, offset: 1, data: new Uint8Array([2]) },
      { op: 'sync', file: f },
      { op: 'sync', file: f },
    ]).then(() => order.push('a'));
    const b = queue.submit([]).then(() => order.push('b'));
    await Promise.all([a, b]);
    assert.deepEqual(order, ['a', 'b']);
    const out = new Uint8Array(2);
    f.read(0, out);
    assert.deepEqual([...out], [1, 2]);
    assert.equal(f.stats().syncs, 2);
    f.close();
  });

  it('a getter that submits while a program is being read runs its program first (no reentrancy hazard)', async () => {
    const f = sized(shmDir, 8);
    const queue = createIoQueue();
    let inner: Promise<void> | undefined;
    const op = {
      op: 'write' as const,
      file: f,
      offset: 0,
      get data(): Uint8Array {
        inner = queue.submit([{ op: 'write', file: f, offset: 0, data: new Uint8Array([1]) }]);
        return new Uint8Array([2]);
      },
    };
    const outer = queue.submit([op]);
    await Promise.all([inner, outer]);
    const out = new Uint8Array(1);
    f.read(0, out);
    assert.equal(out[0], 2, 'the outer program, submitted when its ops were read, ran last');
    f.close();
  });
});

describe('failure poisons the queue', () => {
  it('a write past the end fails its program; every later program fails with the same code and writes nothing', async () => {
    const f = sized(shmDir, 4096);
    const queue = createIoQueue();
    const first = queue.submit([{ op: 'write', file: f, offset: 0, data: new Uint8Array(10).fill(1) }]);
    const bad = queue.submit([
      { op: 'write', file: f, offset: 100, data: new Uint8Array(10).fill(2) },
      { op: 'write', file: f, offset: 4090, data: new Uint8Array(10).fill(2) },
    ]);
    const later = queue.submit([{ op: 'write', file: f, offset: 200, data: new Uint8Array(10).fill(3) }]);
    await first;
    const e1 = await rejection(bad);
    assert.equal(e1.code, 'ERANGE');
    assert.match(e1.message, /ops\[1\].*outside/);
    const e2 = await rejection(later);
    assert.equal(e2.code, 'ERANGE');
    assert.ok(e2.message.includes('stopped at an earlier failure') && e2.message.includes(e1.message));
    throwsCode(() => queue.runNow([{ op: 'sync', file: f }]), 'ERANGE', 'earlier failure');
    const e3 = await rejection(queue.submit([]));
    assert.equal(e3.code, 'ERANGE');
    const file = new Uint8Array(readFileSync(f.path));
    assert.ok(file.subarray(0, 10).every((b) => b === 1), 'the program before ran');
    assert.ok(file.subarray(100, 110).every((b) => b === 0), 'a refused program writes none of its steps');
    assert.ok(file.subarray(200, 210).every((b) => b === 0), 'nothing after the failure');
    assert.deepEqual(queue.stats(), { programs: 4, failed: 3, steps: 1, pending: 0, poisoned: true, heldArrays: 0 });
    f.close();
  });

  it('a refused runNow poisons the queue too, after the programs before it ran', async () => {
    const f = sized(shmDir, 64);
    const queue = createIoQueue();
    const before = queue.submit([{ op: 'write', file: f, offset: 0, data: new Uint8Array([5]) }]);
    throwsCode(() => queue.runNow([{ op: 'write', file: f, offset: 64, data: new Uint8Array(1) }]), 'ERANGE', 'outside');
    await before; // ran: it was submitted before the refused program
    const after = await rejection(queue.submit([{ op: 'write', file: f, offset: 1, data: new Uint8Array([6]) }]));
    assert.equal(after.code, 'ERANGE');
    const out = new Uint8Array(2);
    f.read(0, out);
    assert.deepEqual([...out], [5, 0]);
    f.close();
  });

  const refusals: [string, (f: FileHandle, ro: FileHandle) => unknown, string, string][] = [
    ['ops not an array', () => 'nope', 'EINVAL', 'must be an array'],
    ['an op not an object', () => [7], 'EINVAL', 'ops[0] must be an object'],
    ['an unknown op', (f) => [{ op: 'truncate', file: f }], 'EINVAL', "'write' or 'sync'"],
    ['a foreign FileIO', () => [{ op: 'sync', file: { length: 0, write() {}, read() {}, sync() {}, grow() {}, close() {} } }], 'EINVAL', 'FileHandle of @ferrite/native'],
    ['a FileHandle whose native file was swapped for an impostor', (f) => {
      const key = Object.getOwnPropertySymbols(f)[0];
      const native = (f as unknown as Record<symbol, object>)[key];
      return [{ op: 'sync', file: { [key]: Object.create(Object.getPrototypeOf(native) as object) as object } }];
    }, 'EINVAL', 'FileHandle of @ferrite/native'],
    ['a read-only file', (_f, ro) => [{ op: 'write', file: ro, offset: 0, data: new Uint8Array(1) }], 'EACCES', 'read-only'],
    ['a negative offset', (f) => [{ op: 'write', file: f, offset: -1, data: new Uint8Array(1) }], 'EINVAL', 'offset'],
    ['a fractional offset', (f) => [{ op: 'write', file: f, offset: 0.5, data: new Uint8Array(1) }], 'EINVAL', 'offset'],
    ['data not a Uint8Array', (f) => [{ op: 'write', file: f, offset: 0, data: [1, 2] }], 'EINVAL', 'Uint8Array'],
    ['data a Float64Array', (f) => [{ op: 'write', file: f, offset: 0, data: new Float64Array(1) }], 'EINVAL', 'Uint8Array'],
    ['detached data', (f) => {
      const data = new Uint8Array(4);
      structuredClone(data.buffer, { transfer: [data.buffer] });
      return [{ op: 'write', file: f, offset: 0, data }];
    }, 'EINVAL', 'detached'],
    ['a getter that throws', (f) => [{ op: 'write', file: f, offset: 0, get data(): Uint8Array { throw new Error('boom'); } }], 'EINVAL', 'threw: Error: boom'],
    ['a getter that closes the file', (f) => [{ op: 'write', get file(): FileHandle { f.close(); return f; }, offset: 0, data: new Uint8Array(1) }], 'ECLOSED', 'was closed'],
    ['a getter that detaches the data', (f) => {
      const data = new Uint8Array(4);
      return [{ op: 'write', file: f, data, get offset(): number {
        structuredClone(data.buffer, { transfer: [data.buffer] });
        return 0;
      } }];
    }, 'EINVAL', 'detached'],
    ['a closed file', (f) => {
      f.close();
      return [{ op: 'sync', file: f }];
    }, 'ECLOSED', 'was closed'],
  ];
  for (const [name, make, code, part] of refusals) {
    it(`refuses ${name} (${code}) in its turn, and poisons`, async () => {
      const f = sized(shmDir, 64);
      const ro = openFile(f.path, { readOnly: true });
      const queue = createIoQueue();
      // Another file: a program naming `f` would keep it from being closed (EBUSY).
      const b = sized(shmDir, 64);
      const before = queue.submit([{ op: 'write', file: b, offset: 8, data: new Uint8Array([8]) }]);
      const ops = make(f, ro) as readonly IoOp[];
      const err = await rejection(queue.submit(ops));
      assert.equal(err.code, code, err.message);
      assert.ok(err.message.includes(part), `"${err.message}" says ${part}`);
      await before;
      assert.equal(readFileSync(b.path)[8], 8, 'the program before it ran');
      b.close();
      const after = await rejection(queue.submit([]));
      assert.equal(after.code, code);
      // The same refusal through runNow, on a fresh queue.
      const other = createIoQueue();
      const g = sized(shmDir, 64);
      const ops2 = make(g, ro) as readonly IoOp[];
      throwsCode(() => other.runNow(ops2), code as FerriteError['code'], part);
      throwsCode(() => other.runNow([]), code as FerriteError['code'], 'earlier failure');
      f.close();
      g.close();
      ro.close();
    });
  }
});

describe('files in use', () => {
  it('close is refused (EBUSY) while a submitted program names the file, and works once it finished', async () => {
    const f = sized(diskDir, 1 << 20);
    const queue = createIoQueue();
    const p = queue.submit([{ op: 'write', file: f, offset: 0, data: new Uint8Array(1 << 20).fill(1) }, { op: 'sync', file: f }]);
    throwsCode(() => f.close(), 'EBUSY', 'still use this file');
    assert.equal(f.closed, false);
    await p;
    f.close();
    assert.equal(f.closed, true);
  });

  it('a file grown while programs are queued: programs checked against the old length still land', async () => {
    const f = sized(shmDir, 100);
    const queue = createIoQueue();
    const ps = [];
    for (let i = 0; i < 50; i++) ps.push(queue.submit([{ op: 'write', file: f, offset: 50, data: new Uint8Array(50).fill(i + 1) }]));
    f.grow(200);
    ps.push(queue.submit([{ op: 'write', file: f, offset: 150, data: new Uint8Array(50).fill(99) }]));
    await Promise.all(ps);
    const out = new Uint8Array(200);
    f.read(0, out);
    assert.ok(out.subarray(50, 100).every((b) => b === 50));
    assert.ok(out.subarray(150).every((b) => b === 99));
    f.close();
  });
});

describe('lifetime', () => {
  it('data arrays and FileHandles dropped by JS stay alive until their program settles, then are released (--expose-gc child)', () => {
    const child = runFixture('queue-gc.ts', [fresh(diskDir), fresh(), '64', String(256 * 1024)], ['--expose-gc']);
    assert.equal(child.signal, null, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as {
      collectionsWhilePending: number; aliveWhilePending: boolean; heldWhilePending: number; heldAfter: number;
      prefix: { complete: number; violations: string[] }; threadsBefore: number; threadsWithIdle: number;
      threadsAfter: number;
    };
    assert.ok(seen.collectionsWhilePending >= 2, `collected ${seen.collectionsWhilePending} times while programs were pending`);
    assert.equal(seen.aliveWhilePending, true, 'no array of an unsettled program was collected');
    assert.ok(seen.heldWhilePending >= 60, `the queue held the arrays of pending programs (${seen.heldWhilePending})`);
    assert.equal(seen.heldAfter, 0, 'and let go of every one once its program settled');
    assert.deepEqual(seen.prefix.violations, []);
    assert.equal(seen.prefix.complete, 64, 'every record was written from its own bytes');
    assert.equal(seen.threadsWithIdle, seen.threadsBefore + 1, 'a queue that submitted has a thread');
    assert.equal(seen.threadsAfter, seen.threadsBefore, 'an idle queue nothing references is collected with its thread');
  });

  it('a process that exits (process.exit) with programs pending exits cleanly (status 0) and the file holds a prefix of them', () => {
    const path = fresh(diskDir);
    const child = runFixture('queue-exit.ts', ['exit', path, '64', String(256 * 1024)]);
    assert.equal(child.signal, null, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stderr, /pending at exit: [1-9]/);
    const prefix = prefixOf(new Uint8Array(readFileSync(path)), 64, 256 * 1024);
    assert.deepEqual(prefix.violations, []);
  });

  it('a script that ends with programs pending runs them all: unsettled promises keep the event loop alive', () => {
    const path = fresh(diskDir);
    const child = runFixture('queue-exit.ts', ['natural', path, '32', String(64 * 1024)]);
    assert.equal(child.signal, null, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { settled: 32, pending: 0 });
    const prefix = prefixOf(new Uint8Array(readFileSync(path)), 32, 64 * 1024);
    assert.deepEqual(prefix, { complete: 32, partial: false, violations: [] });
  });

  it('works in a worker thread', () => {
    const path = fresh();
    const child = runFixture('queue-worker-main.ts', ['normal', path, '50', '1000']);
    assert.equal(child.signal, null, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as { message: { done: boolean; pending: number; stats: { programs: number } }; exitCode: number };
    assert.equal(seen.message.done, true);
    assert.equal(seen.message.stats.programs, 51);
    assert.equal(seen.exitCode, 0);
    assert.deepEqual(prefixOf(new Uint8Array(readFileSync(path)), 50, 1000), { complete: 50, partial: false, violations: [] });
  });

  it('a worker terminated with programs pending tears down cleanly, leaving a prefix', () => {
    const path = fresh(diskDir);
    const child = runFixture('queue-worker-main.ts', ['terminate', path, '64', String(256 * 1024)]);
    assert.equal(child.signal, null, child.stderr);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as { message: { submitted: number; pending: number }; exitCode: number };
    assert.equal(seen.message.submitted, 64);
    assert.ok(seen.message.pending > 0, 'programs were pending when it was terminated');
    // 1 when terminate() stopped it; 0 when its programs all finished (and it exited) before
    // the parent's terminate() arrived, which a loaded machine allows: either way no crash,
    // and the file holds a prefix.
    assert.ok(seen.exitCode === 1 || seen.exitCode === 0, `terminate() reports exit code 1 (or 0), got ${seen.exitCode}`);
    assert.deepEqual(prefixOf(new Uint8Array(readFileSync(path)), 64, 256 * 1024).violations, []);
  });
});

describe('the event loop during a program', () => {
  it('keeps turning while a submitted program writes and fdatasyncs on disk (monitorEventLoopDelay)', async () => {
    const chunk = 8 << 20;
    const steps = 8;
    const f = sized(diskDir, chunk * steps);
    const data = new Uint8Array(chunk).fill(7);
    const ops: IoOp[] = [];
    for (let i = 0; i < steps; i++) ops.push({ op: 'write', file: f, offset: i * chunk, data }, { op: 'sync', file: f });
    const queue = createIoQueue();
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let turns = 0;
    let running = true;
    const spin = (): void => {
      turns++;
      if (running) setImmediate(spin);
    };
    histogram.enable();
    const start = performance.now();
    setImmediate(spin);
    await queue.submit(ops);
    running = false;
    const elapsedMs = performance.now() - start;
    histogram.disable();
    const worstMs = histogram.max / 1e6;
    // Had the program run on the event loop, the loop would have turned about once during it
    // and the delay monitor (a 1 ms timer) would have taken one or two samples. How long the
    // program took depends on the disk and on the machine's load: nothing here is a speed.
    const what = `the loop turned ${turns} times and the delay monitor sampled ${histogram.count} times during a ` +
      `${elapsedMs.toFixed(1)} ms program (worst delay ${worstMs.toFixed(1)} ms)`;
    assert.ok(turns >= 20, what);
    assert.ok(histogram.count >= 10, what);
    assert.equal(f.stats().syncs, steps);
    f.close();
  });
});

describe('SIGKILL', () => {
  it('a killed writer leaves the file with exactly what it wrote through FileHandles, none of its private stores', async () => {
    const { spawn } = await import('node:child_process');
    const path = join(diskDir, 'killed.pool');
    const count = 400;
    const size = 4096 + 100; // records straddle pages
    const child = spawn(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx',
      new URL('./fixtures/queue-kill.ts', import.meta.url).pathname, path, String(count), String(size)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const killAt = 150;
    const reported = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const lines = out.split('\n').filter((l) => /^\d+$/.test(l));
        if (lines.length >= killAt) {
          child.kill('SIGKILL');
          resolve(Number(lines[lines.length - 1]));
        }
      });
      child.on('exit', (code) => reject(new Error(`the child exited (${String(code)}) before the kill: ${err}`)));
    });
    await new Promise((resolve) => child.once('close', resolve));
    assert.equal(child.signalCode, 'SIGKILL');
    // Everything it printed before it died (it may have run ahead of what was read above).
    const printed = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
    const last = printed[printed.length - 1];
    const prefix = prefixOf(new Uint8Array(readFileSync(path)), count, size);
    assert.deepEqual(prefix.violations, [], 'no private store reached the file; a prefix of the records');
    assert.ok(prefix.complete >= reported + 1, `every record reported written is there (${prefix.complete} >= ${reported + 1})`);
    assert.ok(prefix.complete <= last + 2, `nothing beyond the record being written when killed (${prefix.complete} <= ${last + 2})`);
  });
});
