/**
 * Read-only stores of a pool file that a writer has open (the heap's live-reader.ts, from the
 * store's side), on persistent memory (tmpfs, forcePmem) and on an ordinary file:
 * readers never stop a writer from opening and see its commits at their next read, follow the
 * pool's growth, keep their iterators across commits with the same guarantees as the writer's
 * own, see collections come and go, and a worker thread of the writer's process reads one
 * committed state with `store.read` while the main thread writes. Writes from a reader are
 * EROFS; a second writer is EBUSY at once, or waits `lockTimeout`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setImmediate as turn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { isFerriteError } from '@ferrite/core';
import { Prng, SimulatedRegion } from '@ferrite/core/testing';
import { Pool, regionReaderSource } from '@ferrite/heap';
import { map } from '@ferrite/native';
import { Store } from '../src/index.js';
import { setUpBank, transfer } from './crash/bank.js';
import { diskDir } from './crash/kill-loop.js';

const shm = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dirs = [mkdtempSync(join(shm, 'ferrite-readers-')), mkdtempSync(join(diskDir(), 'ferrite-readers-'))];
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
let n = 0;

for (const forcePmem of [true, false]) {
  const medium = forcePmem ? 'persistent memory' : 'an ordinary file';
  const path = (): string => join(dirs[forcePmem ? 0 : 1]!, `r${n++}.pool`);

  test(`${medium}: a reader opened first never stops the writer; it sees each commit at its next read and follows growth`, () => {
    const p = path();
    Store.open(p, { create: true, size: 64 * 1024, maxSize: 64 << 20, forcePmem }).close();
    const reader = Store.open(p, { readOnly: true });
    const writer = Store.open(p, { forcePmem });
    try {
      const m = writer.map<number, { i: number; s: string }>('m');
      const rm = (): ReturnType<typeof reader.map<number, { i: number; s: string }>> => reader.map<number, { i: number; s: string }>('m');
      m.set(0, { i: 0, s: '' });
      assert.deepEqual(rm().get(0), { i: 0, s: '' });
      const big = 'x'.repeat(3000);
      for (let i = 1; i <= 3000; i++) {
        m.set(i, { i, s: big });
        if (i % 500 === 0) {
          assert.equal(rm().size, i + 1, `after ${i} commits`);
          assert.deepEqual(rm().get(i), { i, s: big });
        }
      }
      assert.ok(writer.stats().pool.size > 4 << 20, 'the pool grew many times');
      const stats = reader.stats();
      assert.equal(stats.pool.size, writer.stats().pool.size, 'the reader follows the pool\'s size');
      assert.ok(stats.reader !== undefined && stats.reader.remaps > 0, 'it mapped the file again');
      assert.equal(reader.check().ok, true);
      assert.equal(stats.reader.mode, 'live');
    } finally {
      writer.close();
      reader.close();
    }
  });

  test(`${medium}: reader iterators keep their guarantees across the writer's commits (doublings, splits, shifts)`, () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, maxSize: 64 << 20, forcePmem });
    const reader = Store.open(p, { readOnly: true });
    try {
      const wm = writer.map<number, number>('m');
      const ws = writer.sortedMap<number, number>('s');
      const wq = writer.queue<number>('q');
      writer.transaction(() => {
        for (let i = 0; i < 200; i++) {
          wm.set(i, i);
          ws.set(i, i);
          wq.push(i);
        }
      });
      const prng = new Prng(n);
      const it = { m: reader.map<number, number>('m').keys(), s: reader.sortedMap<number, number>('s').keys(), q: reader.queue<number>('q').values() };
      const got = { m: [] as number[], s: [] as number[], q: [] as number[] };
      let step = 0;
      for (let more = true; more; step++) {
        more = false;
        for (const k of ['m', 's', 'q'] as const) {
          const r = it[k].next();
          if (r.done !== true) {
            got[k].push(r.value);
            more = true;
          }
        }
        // The writer commits between steps: inserts that double the table and split nodes,
        // deletes of keys not yet returned (>= 1000 are added and removed), shifts and pushes.
        if (step >= 150) continue; // then the iterators reach their ends
        writer.transaction(() => {
          for (let j = 0; j < 5; j++) {
            const k = 1000 + step * 5 + j;
            wm.set(k, k);
            ws.set(k, k);
          }
          if (step % 3 === 0) {
            wm.delete(1000 + prng.below(step * 5 + 5));
            ws.delete(1000 + prng.below(step * 5 + 5));
          }
          if (step % 4 === 0 && wq.length > 150) wq.shift();
          wq.push(10_000 + step);
        });
        assert.ok(step < 5000, 'iteration ends');
      }
      for (const k of ['m', 's'] as const) {
        // Each key present for the whole iteration (0..199) is returned exactly once; none twice.
        assert.equal(new Set(got[k]).size, got[k].length, `${k}: no key twice`);
        for (let i = 0; i < 200; i++) assert.ok(got[k].includes(i), `${k}: key ${i} present throughout is returned`);
      }
      for (let i = 1; i < got.s.length; i++) assert.ok(got.s[i - 1]! < got.s[i]!, 'sorted: keys in order');
      // The queue: values in order, none twice; shifted ones may be missing only at the front.
      for (let i = 1; i < got.q.length; i++) assert.ok(got.q[i - 1]! < got.q[i]!, 'queue: values in order');
      const firstKept = got.q[0]!;
      for (let i = firstKept; i < 200; i++) assert.ok(got.q.includes(i), `queue: value ${i}, never shifted before the iterator reached it, is returned`);
    } finally {
      writer.close();
      reader.close();
    }
  });

  test(`${medium}: collections dropped and made again under the same name: the reader's old object is ECLOSED, a new lookup finds the new one`, () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, forcePmem });
    const reader = Store.open(p, { readOnly: true });
    try {
      writer.sortedMap<string, number>('t').set('a', 1);
      const old = reader.sortedMap<string, number>('t');
      assert.equal(old.get('a'), 1);
      const oldIt = old.keys();
      assert.equal(oldIt.next().value, 'a');
      writer.drop('t');
      writer.sortedMap<string, number>('t').set('b', 2); // very likely at the same offset
      assert.throws(() => old.get('a'), (e: unknown) => isFerriteError(e, 'ECLOSED'));
      assert.throws(() => oldIt.next(), (e: unknown) => isFerriteError(e, 'ECLOSED'));
      assert.equal(reader.sortedMap<string, number>('t').get('b'), 2);
      assert.equal(reader.sortedMap<string, number>('t').get('a'), undefined);
      writer.drop('t');
      assert.throws(() => reader.sortedMap('t'), (e: unknown) => isFerriteError(e, 'EROFS'));
      assert.deepEqual(reader.collections(), []);
    } finally {
      writer.close();
      reader.close();
    }
  });

  test(`${medium}: a reader writes nothing (EROFS); store.read on a writer runs once; async functions are refused`, () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, forcePmem });
    writer.map('m').set(1, 1);
    const reader = Store.open(p, { readOnly: true });
    try {
      const m = reader.map('m');
      assert.throws(() => m.set(2, 2), (e: unknown) => isFerriteError(e, 'EROFS'));
      assert.throws(() => reader.map('other'), (e: unknown) => isFerriteError(e, 'EROFS'));
      assert.throws(() => reader.drop('m'), (e: unknown) => isFerriteError(e, 'EROFS'));
      assert.throws(() => reader.transaction(() => m.set(3, 3)), (e: unknown) => isFerriteError(e, 'EROFS'));
      assert.equal(reader.transaction(() => m.get(1)), 1, 'a read-only transaction reads');
      let runs = 0;
      assert.equal(writer.read(() => ++runs), 1);
      assert.equal(runs, 1);
      assert.throws(() => reader.read((async () => 1) as unknown as () => number), (e: unknown) => isFerriteError(e, 'ETXSTATE'));
      assert.throws(() => reader.read(42 as unknown as () => number), (e: unknown) => isFerriteError(e, 'EINVAL'));
    } finally {
      reader.close();
      writer.close();
    }
    assert.throws(() => reader.read(() => 1), (e: unknown) => isFerriteError(e, 'ECLOSED'));
  });

  test(`${medium}: a reader read inside a transaction of the same thread's writer: ${forcePmem ? 'ETXSTATE, at once (it could never end)' : 'the last committed state'}`, () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, forcePmem });
    const reader = Store.open(p, { readOnly: true });
    try {
      const m = writer.map<string, number>('m');
      m.set('k', 1);
      const rm = reader.map<string, number>('m');
      const started = Date.now();
      writer.transaction(() => {
        m.set('k', 2);
        if (forcePmem) assert.throws(() => rm.get('k'), (e: unknown) => isFerriteError(e, 'ETXSTATE'));
        else assert.equal(rm.get('k'), 1, 'the pool file holds the last commit; this one is not durable yet');
      });
      assert.ok(Date.now() - started < 5000, 'no wait for readTimeout');
      assert.equal(rm.get('k'), 2);
    } finally {
      reader.close();
      writer.close();
    }
  });

  // Found in review: on a read-only store transactionAsync ran fn outside a read section, so
  // its reads could mix several commits (transaction(fn) is read(fn) there).
  test(`${medium}: a reader's transactionAsync reads one committed state, as its transaction does`, async () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, forcePmem });
    const reader = Store.open(p, { readOnly: true });
    try {
      const m = writer.map<string, number>('m');
      writer.transaction(() => {
        m.set('a', 100);
        m.set('b', 100);
      });
      const rm = reader.map<string, number>('m');
      for (const via of ['transactionAsync', 'transaction'] as const) {
        let runs = 0;
        const fn = (): number => {
          runs++;
          const a = rm.get('a')!;
          // A transfer commits between fn's two reads, in its first run only.
          if (runs === 1) writer.transaction(() => {
            m.set('a', m.get('a')! - 10);
            m.set('b', m.get('b')! + 10);
          });
          return a + rm.get('b')!;
        };
        const total = via === 'transactionAsync' ? await reader.transactionAsync(fn) : reader.transaction(fn);
        assert.equal(total, 200, `${via}: one committed state`);
        assert.equal(runs, 2, `${via}: the overtaken run was run again`);
      }
    } finally {
      reader.close();
      writer.close();
    }
  });

  // Found in review: a reader kept its view of the reader words across its recovery, which remaps
  // the view when the pool grew: Atomics.load on a detached buffer threw a raw TypeError.
  test(`${medium}: a reader whose writer grew the pool, then died inside a transaction, reads the recovered state`, () => {
    const p = path();
    const w = Store.open(p, { create: true, size: 1 << 20, maxSize: 64 << 20, forcePmem });
    w.map<number, number>('m').set(1, 1);
    w.close();
    const reader = Store.open(p, { readOnly: true });
    try {
      const m = reader.map<number, number>('m');
      assert.equal(m.get(1), 1);
      const mapped = reader.stats().pool.size;
      const child = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx',
        fileURLToPath(new URL('./support/grow-and-die-child.ts', import.meta.url)), p, forcePmem ? '1' : '0'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.signal, 'SIGKILL', child.stderr);
      assert.ok(Number(child.stdout) > mapped, `the writer grew the pool past the reader's view (${child.stdout.trim()} > ${mapped})`);
      assert.equal(m.get(1), 1);
      assert.equal(m.get(2), undefined, 'the killed transaction is not seen');
      assert.equal(reader.map<number, string>('big').get(19)?.length, 200_000, 'the growing commit is');
    } finally {
      reader.close();
    }
    const again = Store.open(p, { forcePmem });
    try {
      assert.equal(again.map<number, number>('m').get(2), undefined);
      assert.equal(again.map<number, string>('big').size, 20);
    } finally {
      again.close();
    }
  });

  test(`${medium}: a reader of a pool that has no store yet sees the collections once the writer makes them`, () => {
    const p = path();
    Store.open(p, { create: true, size: 1 << 20, forcePmem }).close();
    const reader = Store.open(p, { readOnly: true });
    try {
      assert.deepEqual(reader.collections(), []);
      const writer = Store.open(p, { forcePmem });
      writer.queue('jobs').push('a', 'b');
      writer.close();
      assert.deepEqual(reader.collections(), [{ name: 'jobs', kind: 'queue', size: 2 }]);
      assert.deepEqual([...reader.queue('jobs')], ['a', 'b']);
    } finally {
      reader.close();
    }
  });

  test(`${medium}: a worker thread of the writer's process reads one committed state with store.read while the main thread writes`, async () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, forcePmem });
    setUpBank(writer);
    const prng = new Prng(7);
    const rand = (): number => prng.nextU32() / 4294967296;
    // The worker compiles its sources first (a second or so); it reads for 1.5 s after that.
    const until = Date.now() + 4000;
    const worker = new Worker(new URL('./support/reader-worker.mjs', import.meta.url), { workerData: { path: p, readMs: 4000 }, execArgv: ['--conditions=ferrite-source'] });
    let settled = false;
    const result = new Promise<{ reads: number; seq: number; error?: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }).finally(() => {
      settled = true;
    });
    let transfers = 0;
    try {
      while (!settled && Date.now() < until + 30_000) {
        for (let i = 0; i < 20; i++) transfer(writer, rand);
        transfers += 20;
        await turn(); // the worker's message gets through
      }
      const r = await result;
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.reads > 0 && r.seq > 0, `the worker read (${r.reads} reads, last seq ${r.seq})`);
      console.log(`# ${medium}: worker made ${r.reads} consistent reads while the main thread made ${transfers} transfers`);
    } finally {
      await worker.terminate();
      writer.close();
    }
  });

  test(`${medium}: a worker thread reads while the writer fills, clears and shrinks the pool: it follows every cut, and every read is one committed state`, async () => {
    const p = path();
    const writer = Store.open(p, { create: true, size: 1 << 20, maxSize: 64 << 20, forcePmem });
    setUpBank(writer);
    const BALLAST = 192;
    const ballast = writer.map<number, { gen: number; pad: string }>('ballast');
    const prng = new Prng(11);
    const rand = (): number => prng.nextU32() / 4294967296;
    const until = Date.now() + 5000;
    const worker = new Worker(new URL('./support/reader-worker.mjs', import.meta.url), {
      workerData: { path: p, readMs: 5000, ballast: BALLAST },
      execArgv: ['--conditions=ferrite-source'],
    });
    let settled = false;
    const result = new Promise<{ reads: number; seq: number; error?: string; stats?: { remaps: number } }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }).finally(() => {
      settled = true;
    });
    let cuts = 0;
    let rounds = 0;
    try {
      while (!settled && Date.now() < until + 30_000) {
        const gen = rounds++;
        // ~0.8 MiB of values past the bank's data: the pool grows, then the tail is free again.
        writer.transaction(() => {
          for (let i = 0; i < BALLAST; i++) ballast.set(i, { gen, pad: String(i).padStart(8, '0').repeat(512) });
        });
        for (let i = 0; i < 10; i++) transfer(writer, rand);
        await turn();
        // On persistent memory the writer leaves readers only its gaps: every eighth round a
        // longer one while the pool is grown, so the reader also reads a size other than the one
        // every shrink brings back (reading only after shrinks, it could find nothing to follow).
        if (gen % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
        ballast.clear();
        const r = writer.shrink();
        if (r.fileAfter < r.fileBefore) cuts++;
        await turn();
      }
      const r = await result;
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.reads > 0, 'the worker read');
      assert.ok(cuts > 0, 'the writer cut the pool file at least once');
      assert.ok((r.stats?.remaps ?? 0) > 0, 'the reader mapped the pool again after the writer changed its size');
      assert.deepStrictEqual(writer.check().problems, []);
      console.log(`# ${medium}: ${rounds} fill/clear/shrink rounds (${cuts} cut the file), the worker made ${r.reads} consistent reads, ${r.stats?.remaps ?? 0} remaps`);
    } finally {
      await worker.terminate();
      writer.close();
    }
  });

  test(`${medium}: a second writer is EBUSY at once, or waits lockTimeout for the first to let go`, async () => {
    const p = path();
    Store.open(p, { create: true, size: 1 << 20, forcePmem }).close();
    // The first writer in another process, closing 300 ms after it is ready.
    const holder = spawn(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', '-e',
      `const { Store } = await import('@ferrite/tx'); const s = Store.open(${JSON.stringify(p)}, { forcePmem: ${forcePmem} }); process.stdout.write('ready\\n'); setTimeout(() => { s.close(); process.exit(0); }, 300);`,
    ], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.setEncoding('utf8').on('data', (s: string) => { if (s.includes('ready')) resolve(); });
      holder.on('exit', (code) => reject(new Error(`holder exited with ${String(code)}`)));
    });
    try {
      assert.throws(() => Store.open(p, { forcePmem }), (e: unknown) => isFerriteError(e, 'EBUSY') && (e as Error).message.includes(String(holder.pid)));
      const started = Date.now();
      const second = Store.open(p, { forcePmem, lockTimeout: 20_000 });
      second.close();
      assert.ok(Date.now() - started < 20_000);
      assert.throws(() => Store.open(p, { forcePmem, lockTimeout: -1 }), (e: unknown) => isFerriteError(e, 'EINVAL'));
    } finally {
      holder.kill();
    }
  });
}

test('a queue of format 1 (before shifted counts): writers use it as before; a reader iterating it across a commit gets EVERSION', () => {
  const p = join(dirs[0]!, `q${n++}.pool`);
  const writer = Store.open(p, { create: true, size: 1 << 20, forcePmem: true });
  try {
    const q = writer.queue<number>('old');
    q.push(1, 2, 3);
    // Make it format 1 as an older version wrote it: the magic's low word 1, no shifted count.
    const header = findHeader(writer, 'old');
    writer.transaction(() => {
      const pool = (writer as unknown as { pool: { currentTransaction: { addRange(o: number, l: number): void }; writeU64(o: number, v: number): void } }).pool;
      pool.currentTransaction.addRange(header + 40, 16);
      pool.writeU64(header + 40, 0x5155_4555_0001);
      pool.writeU64(header + 48, 0);
    });
    // A reader opened now makes its queue object from format 1.
    const reader = Store.open(p, { readOnly: true });
    try {
      const it = reader.queue<number>('old').values();
      assert.equal(it.next().value, 1);
      writer.transaction(() => writer.map('other').set(1, 1)); // a commit between two steps
      assert.throws(() => it.next(), (e: unknown) => isFerriteError(e, 'EVERSION'));
      assert.deepEqual([...reader.queue<number>('old')], [1, 2, 3], 'an iteration within one state is fine');
    } finally {
      reader.close();
    }
    // A writer opened now uses it as format 1: shift, push, iterate.
    writer.close();
    const again = Store.open(p, { forcePmem: true });
    try {
      const old = again.queue<number>('old');
      assert.equal(old.shift(), 1);
      old.push(4);
      assert.deepEqual([...old], [2, 3, 4]);
      assert.equal(again.check().ok, true);
    } finally {
      again.close();
    }
  } finally {
    writer.close();
  }
});

/** The header offset of collection `name` (through the store's registry). */
function findHeader(store: Store, name: string): number {
  const registry = (store as unknown as { registry: { get(n: string): { header: number } | undefined } }).registry;
  const e = registry.get(name);
  assert.ok(e !== undefined);
  return e.header;
}

// Found in review: a reader's recovered copy (no writer alive, a redo log left behind) was sized
// by the records it replays, not by the header they leave, so a replayed growth whose new tail
// no record writes made the copy shorter than its header: ECORRUPT, where a writable open
// recovers. The state is a crash after a growing commit's log sync, before its copy into the
// pool file: the pool file as it was before that commit but already extended (a growth extends
// the file durably before its commit), the log as it was after it.
/**
 * Makes, in `dir`, `crashed.pool`: the state a crash leaves after a growing commit's log sync,
 * before its copy into the pool file (see the test below). Its durable state holds 301 entries
 * in map 'm'; the pool file alone holds 1.
 */
function crashedAfterLogSync(dir: string): string {
  const path = join(dir, 'g.pool');
  const writer = Store.open(path, { create: true, size: 1 << 20, maxSize: 64 << 20 });
  const m = writer.map<number, string>('m');
  m.set(0, 'zero');
  const before = join(dir, 'before.pool');
  copyFileSync(path, before);
  writer.transaction(() => {
    for (let i = 1; i <= 300; i++) m.set(i, String(i).padStart(8, '0').repeat(500));
  });
  assert.ok(writer.stats().pool.size > 1 << 20, 'the commit grew the pool');
  const crashed = join(dir, 'crashed.pool');
  copyFileSync(before, crashed);
  truncateSync(crashed, statSync(path).size);
  copyFileSync(`${path}.wal`, `${crashed}.wal`);
  writer.close();
  return crashed;
}

test('a read-only open of a pool a crash left with a growing commit only in its redo log reads the recovered state', () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-readers-'));
  try {
    const crashed = crashedAfterLogSync(dir);
    const size = statSync(crashed).size;
    const reader = Store.open(crashed, { readOnly: true });
    try {
      const rm = reader.map<number, string>('m');
      assert.equal(rm.size, 301);
      assert.equal(rm.get(300), '00000300'.repeat(500));
      assert.ok(reader.check().ok);
      assert.equal(statSync(crashed).size, size, 'a reader writes nothing');
    } finally {
      reader.close();
    }
    const again = Store.open(crashed, {}); // and the writable open recovers the same
    try {
      assert.equal(again.map<number, string>('m').size, 301);
    } finally {
      again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Found in review: a shared lock on the pool file (an offline backup, a read-only mapping of the
// native layer) counted as a writer alive. A reader of a crashed pool then read the pool file
// as it was, without the commit its log holds (a commit the dead writer had returned from), or
// waited for that writer until its readTimeout. Only an exclusive lock is a writer.
test('a shared lock on a crashed pool (an offline backup) is not a writer: a reader still reads the recovered state', () => {
  const dir = mkdtempSync(join(diskDir(), 'ferrite-readers-'));
  try {
    const crashed = crashedAfterLogSync(dir);
    const holder = map(crashed, { protection: 'r', lock: 'shared' });
    try {
      assert.throws(() => Store.open(crashed, {}), (e: unknown) => isFerriteError(e, 'EBUSY'), 'the shared lock keeps writers out');
      const reader = Store.open(crashed, { readOnly: true, readTimeout: 2000 });
      try {
        const rm = reader.map<number, string>('m');
        assert.equal(rm.size, 301, 'the commit in the log is read');
        assert.equal(rm.get(300), '00000300'.repeat(500));
        assert.equal(reader.read(() => rm.size), 301);
      } finally {
        reader.close();
      }
    } finally {
      holder.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Found in review: an iterator made outside `store.read` and stepped inside it ended silently
// when a commit overtook the attempt (the step's retry signal finished it, and the rerun got
// done). Now the attempt's steps are undone with it: the rerun goes on from where the attempt
// began, and every key comes exactly once, for each kind of iterator.
for (const kind of ['sortedMap', 'map', 'queue'] as const) {
  test(`an iterator stepped in batches inside store.read, with commits overtaking the batches, returns every entry once (${kind})`, () => {
    const region = new SimulatedRegion(1 << 20);
    const writer = Store.open(region, { create: true, size: 1 << 20 });
    const reader = Store.fromPool(Pool.openLive(regionReaderSource(region, () => true), undefined, undefined, 1000));
    try {
      const fill = (): void => {
        writer.transaction(() => {
          if (kind === 'sortedMap') for (let i = 0; i < 10; i++) writer.sortedMap<number, number>('c').set(i, i);
          else if (kind === 'map') for (let i = 0; i < 10; i++) writer.map<number, number>('c').set(i, i);
          else for (let i = 0; i < 10; i++) writer.queue<number>('c').push(i);
        });
      };
      fill();
      const touch = (n: number): void => {
        // A commit to another collection: the reader's attempt is overtaken, the entries stay.
        writer.map<number, number>('other').set(n, n);
      };
      const it = kind === 'sortedMap' ? reader.sortedMap<number, number>('c').keys()
        : kind === 'map' ? reader.map<number, number>('c').keys()
          : reader.queue<number>('c').values();
      const seen: number[] = [];
      let batch = 0;
      let attempts = 0;
      for (;;) {
        batch++;
        const got = reader.read(() => {
          attempts++;
          const out: number[] = [];
          for (let i = 0; i < 3; i++) {
            const r = it.next();
            if (r.done === true) break;
            out.push(r.value as number);
            if (i === 0 && attempts % 2 === 1) touch(batch); // overtakes every first attempt
          }
          return out;
        });
        if (got.length === 0) break;
        seen.push(...got);
        assert.ok(batch < 20, 'the iteration ends');
      }
      assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.ok(attempts > batch, 'attempts were overtaken and run again');
    } finally {
      reader.close();
      writer.close();
    }
  });
}

// Found in review: a store.read function that wrote through the writer's store of the same pool
// in the same thread never returned: each attempt was overtaken by its own commit, and the rerun
// committed again. After three such attempts in a row it ends with ETXSTATE; the writes stay
// made. (A function that writes in some attempts only still gets its rerun: tests above.)
for (const [medium, forcePmem] of [['persistent memory', true], ['an ordinary file', false]] as const) {
  test(`${medium}: a read section whose function writes through this thread's writer ends with ETXSTATE instead of running forever`, () => {
    const dir = mkdtempSync(join(forcePmem ? '/dev/shm' : diskDir(), 'ferrite-readers-'));
    try {
      const path = join(dir, 'w.pool');
      const writer = Store.open(path, { create: true, size: 1 << 20, forcePmem });
      const reader = Store.open(path, { readOnly: true });
      try {
        const counts = writer.map<string, number>('counts');
        counts.set('hits', 0);
        const view = reader.map<string, number>('counts');
        let runs = 0;
        assert.throws(() => reader.read(() => {
          runs++;
          counts.set('hits', runs);
          return view.get('hits');
        }), (e: unknown) => isFerriteError(e, 'ETXSTATE') && /wrote through this thread's writer/.test((e as Error).message));
        assert.equal(runs, 3, 'the function ran three times');
        assert.equal(counts.get('hits'), 3, 'its writes were made');
        assert.equal(view.get('hits'), 3, 'and the reader sees them');
        // A section whose function only reads still works, as does one after a write outside it.
        counts.set('hits', 7);
        assert.equal(reader.read(() => view.get('hits')), 7);
      } finally {
        reader.close();
        writer.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Found in review: closing a read-only store inside its own store.read threw a raw TypeError
// (an Atomics.load on the detached mapping, validating the attempt). It is ECLOSED now, also
// when the close happens in a read nested in the section.
test('closing a reader inside its own read section is ECLOSED, not a raw TypeError', () => {
  for (const base of ['/dev/shm', diskDir()]) {
    for (const nestedRead of [false, true]) {
      const dir = mkdtempSync(join(base, 'ferrite-readers-'));
      try {
        const path = join(dir, 'c.pool');
        const writer = Store.open(path, { create: true, size: 1 << 20 });
        writer.map<string, number>('m').set('a', 1);
        const reader = Store.open(path, { readOnly: true });
        const m = reader.map<string, number>('m');
        assert.throws(() => reader.read(() => {
          if (nestedRead) {
            const it = m.keys();
            reader.close();
            return it.next();
          }
          const v = m.get('a');
          reader.close();
          return v;
        }), (e: unknown) => isFerriteError(e, 'ECLOSED'), `${base}, nested ${nestedRead}`);
        assert.throws(() => m.get('a'), (e: unknown) => isFerriteError(e, 'ECLOSED'));
        writer.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
});
