/**
 * Child of staged-failures.test.ts: scenarios that used to end the process with an unhandled
 * rejection, run where such a death cannot take the test runner with it. Prints one JSON line
 * of what it saw; the exit code says whether the process survived.
 *   capture-fail   a deferred transaction whose group is captured at once (groupBytes) and
 *                  whose capture fails (the pool file cut: EIO): the caller handles what it got.
 */
import { FerriteError, isFerriteError } from '@ferrite/core';
import { Pool } from '../../src/index.js';
import { GrowablePrivate, memFiles, memTarget } from './mem-files.js';

const MB = 1024 * 1024;
const mode = process.argv[2];

if (mode === 'capture-fail') {
  const files = memFiles();
  let cut = false;
  const target = memTarget(files);
  target.openPrivate = () => {
    const view = new GrowablePrivate(files.pool.data) as GrowablePrivate & { checkFile(): void };
    view.checkFile = () => {
      if (cut) throw new FerriteError('EIO', 'the pool file was cut (simulated)');
    };
    return view;
  };
  const pool = Pool.create(target, { layout: 'file', size: 16 * MB, maxSize: 64 * MB });
  cut = true;
  let seen = 'no error';
  try {
    // 9 MiB recorded: past the group size (8 MiB), so the group is captured inside the call.
    const { durable } = pool.transactionDeferred((tx) => {
      const block = tx.alloc(9 * MB); // a fresh block is recorded whole at commit
      pool.bytes.fill(3, block, block + 9 * MB);
    });
    durable.catch(() => undefined);
    seen = 'returned';
  } catch (err) {
    seen = isFerriteError(err) ? err.code : String(err);
  }
  // Several turns: an orphan rejection is reported after the microtasks of this one.
  await new Promise((r) => setTimeout(r, 50));
  let closed = 'ok';
  try {
    pool.close();
  } catch (err) {
    closed = isFerriteError(err) ? err.code : String(err);
  }
  console.log(JSON.stringify({ seen, closed }));
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}
