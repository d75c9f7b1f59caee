/**
 * What only other processes and threads can show: data synced in one process is read by
 * another, locks conflict across processes, a store into a protected page kills only the
 * child, the garbage collector unmaps a forgotten mapping, the addon loads in workers, and a
 * worker terminated in the middle of a native throw does not take the process down.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { map } from '../src/index.js';
import { poolDirs, runFixture, throwsCode } from './helpers.js';

const { shm: shmDir, disk: diskDir, fresh } = poolDirs('c');
function expectedHash(length: number, seed: number): number {
  let hash = 0;
  for (let i = 0; i < length; i++) hash = (Math.imul(hash, 31) + ((i * 31 + seed) & 0xff)) | 0;
  return hash;
}

describe('across processes', () => {
  for (const mode of ['force', 'msync'] as const) {
    it(`data synced by one process (which then exits) is read by another (${mode})`, () => {
      const path = fresh(mode === 'force' ? shmDir : diskDir);
      const writer = runFixture('write.ts', [path, '17', mode]);
      assert.equal(writer.status, 0, writer.stderr);
      assert.equal((JSON.parse(writer.stdout) as { granularity: string }).granularity, mode === 'force' ? 'cache-line' : 'page');
      const reader = runFixture('read.ts', [path]);
      assert.equal(reader.status, 0, reader.stderr);
      const seen = JSON.parse(reader.stdout) as { length: number; hash: number; writable: boolean; first: number[] };
      assert.equal(seen.length, 65536);
      assert.equal(seen.writable, false);
      assert.deepEqual(seen.first, [17, 48, 79, 110, 141, 172, 203, 234]);
      assert.equal(seen.hash, expectedHash(65536, 17));
      // And this process reads the same.
      const here = map(path, { protection: 'r' });
      assert.equal(here.bytes[65535], (65535 * 31 + 17) & 0xff);
      here.close();
    });
  }

  it('a writable map held here makes another process get EBUSY naming our pid', () => {
    const path = fresh();
    const held = map(path, { create: { size: 65536 } });
    for (const protection of ['rw', 'r']) {
      const child = runFixture('try-map.ts', [path, protection]);
      assert.equal(child.status, 0, child.stderr);
      const outcome = JSON.parse(child.stdout) as { ok: boolean; code?: string; message?: string };
      assert.equal(outcome.ok, false);
      assert.equal(outcome.code, 'EBUSY');
      assert.ok(outcome.message?.includes(path));
      assert.ok(outcome.message?.includes(`pid ${process.pid}`), outcome.message);
    }
    held.close();
    const child = runFixture('try-map.ts', [path, 'rw']);
    assert.equal((JSON.parse(child.stdout) as { ok: boolean }).ok, true, 'free once unmapped');
  });

  it('a lock held by another process makes map here fail with EBUSY naming its pid, until it dies', async () => {
    const path = fresh();
    map(path, { create: { size: 65536 } }).close();
    const fixture = fileURLToPath(new URL('./fixtures/hold.ts', import.meta.url));
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', fixture, path], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      while (!out.includes('ready')) {
        const [chunk] = (await once(child.stdout, 'data')) as [string];
        out += chunk;
      }
      throwsCode(() => map(path), 'EBUSY', path, `pid ${child.pid}`);
      throwsCode(() => map(path, { protection: 'r' }), 'EBUSY', path, `pid ${child.pid}`);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    map(path).close(); // the kernel released the dead holder's lock
  });

  it('a store into a page protected read-only kills the child with SIGSEGV; the parent survives', () => {
    const path = fresh();
    const child = runFixture('segv.ts', [path]);
    assert.equal(child.signal, 'SIGSEGV', `status ${String(child.status)} stderr ${child.stderr}`);
    assert.equal(child.stdout, 'protected\n', 'it died at the store, not before or after');
    const m = map(path); // and its lock died with it
    assert.equal(m.bytes[4096], 1);
    m.close();
  });

  it('the garbage collector unmaps a mapping that was never unmapped and releases its lock', () => {
    const path = fresh();
    const child = runFixture('gc.ts', [path], ['--expose-gc']);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as {
      before: { mapped: boolean; lockFree: boolean };
      after: { mapped: boolean; lockFree: boolean };
    };
    assert.deepEqual(seen.before, { mapped: true, lockFree: false });
    assert.deepEqual(seen.after, { mapped: false, lockFree: true });
    const m = map(path);
    assert.equal(m.bytes[0], 7, 'stores made before the collection reached the file');
    m.close();
  });
});

describe('worker threads', () => {
  const workerFile = fileURLToPath(new URL('./fixtures/worker-entry.mjs', import.meta.url));

  async function runWorker(path: string, value: number, leak: boolean): Promise<{ sum: number; isPmem: boolean }> {
    const worker = new Worker(workerFile, {
      workerData: { path, value, leak },
      execArgv: ['--conditions=ferrite-source'],
    });
    // Listen for the exit from the start: a worker that exits without its message fails the
    // test with its exit code (awaiting 'message' alone would leave the promise pending).
    let message: { sum: number; isPmem: boolean } | undefined;
    worker.on('message', (m: { sum: number; isPmem: boolean }) => {
      message = m;
    });
    const [code] = (await once(worker, 'exit')) as [number];
    assert.equal(code, 0, 'the worker exits normally');
    assert.ok(message !== undefined, 'the worker posted its result before exiting');
    return message;
  }

  it('a worker terminated while it throws from native code flat out ends cleanly: the process never aborts', () => {
    const child = runFixture('terminate-throws-main.ts', ['25']);
    assert.equal(child.signal, null, `the process died: ${child.stderr.slice(0, 400)}`);
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { terminated: 25 });
  });

  it('the addon loads and maps in several workers at once, and in the main thread alongside', async () => {
    const here = map(fresh(), { create: { size: 65536 } });
    const paths = [fresh(), fresh(), fresh()];
    const results = await Promise.all(paths.map((p, i) => runWorker(p, i + 1, false)));
    assert.deepEqual(results, paths.map((_, i) => ({ sum: 4096 * (i + 1), isPmem: true })));
    for (const [i, p] of paths.entries()) {
      const m = map(p);
      assert.equal(m.bytes[4095], i + 1);
      m.close();
    }
    here.bytes[0] = 1;
    here.persist(0, 1);
    here.close();
  });

  it('a worker that exits without unmapping releases its mapping and lock at teardown', async () => {
    const path = fresh();
    const result = await runWorker(path, 5, true);
    assert.equal(result.sum, 5 * 4096);
    const m = map(path);
    assert.equal(m.bytes[0], 5);
    m.close();
  });
});
