// Child: a Store on a full (or too small) file system, where an older build died with a
// signal. Prints what it saw as JSON; the parent asserts on it and on the exit status.
//   fill <path>            a store whose maxSize is above the free space, written until full
//   create <path> <size>   Store.open with create: true; prints "started" first (for kills)
//   punched <path>         the free half of a pool file punched out by another tool, the file
//                          system full: writes into it fault (an older build: SIGBUS)
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { isFerriteError, PoolFullError } from '@ferrite/core';
import { Store } from '../../src/index.js';

const [scenario, path, arg] = process.argv.slice(2) as [string, string, string | undefined];
const out: Record<string, unknown> = {};

function describeError(err: unknown): { code: string; poolFull: boolean; message: string } {
  if (isFerriteError(err)) return { code: err.code, poolFull: err instanceof PoolFullError, message: err.message };
  throw err;
}

function disk(): { size: number; allocated: number } {
  const st = statSync(path);
  return { size: st.size, allocated: st.blocks * 512 };
}

function sameAs(store: Store, model: Map<number, string>): boolean {
  const m = store.map<number, string>('m');
  if (m.size !== model.size) return false;
  for (const [k, v] of model) if (m.get(k) !== v) return false;
  return true;
}

switch (scenario) {
  case 'fill': {
    // forcePmem: this is about space, not durability; an msync per write on a loop device is slow.
    const store = Store.open(path, { create: true, size: 1 << 20, maxSize: 1 << 30, forcePmem: true });
    const m = store.map<number, string>('m');
    const model = new Map<number, string>();
    let i = 0;
    for (; i < 1_000_000; i++) {
      const v = `${i}:${'x'.repeat(3000)}`;
      try {
        m.set(i, v);
      } catch (err) {
        out.full = describeError(err);
        break;
      }
      model.set(i, v);
    }
    out.entries = model.size;
    out.atFull = disk();
    // More writes that need growth: each fails the same way (an older build: SIGBUS here).
    const again: string[] = [];
    for (let j = 0; j < 20; j++) {
      try {
        m.set(-1 - j, 'y'.repeat(60_000));
        model.set(-1 - j, 'y'.repeat(60_000));
        again.push('ok');
      } catch (err) {
        const e = describeError(err);
        again.push(e.poolFull ? 'PoolFullError' : e.code);
      }
    }
    out.again = again;
    out.afterAgain = disk();
    out.sameAfterFull = sameAs(store, model);
    // Still usable: deletes, and writes that fit in what they free.
    for (let k = 0; k < 100; k++) {
      m.delete(k);
      model.delete(k);
    }
    for (let k = 0; k < 50; k++) {
      m.set(k, `small ${k}`);
      model.set(k, `small ${k}`);
    }
    out.checkBeforeClose = store.check().ok;
    store.close();
    const reopened = Store.open(path, { forcePmem: true });
    out.reopenedCheck = reopened.check().ok;
    out.reopenedSame = sameAs(reopened, model);
    reopened.close();
    break;
  }
  case 'punched':
  case 'punched-file': {
    // 'punched': persistent memory (forced): stores go to the file's pages as they are made.
    // 'punched-file': an ordinary file: stores stay in the writer's view until their commit's
    // log record is durable, and the log needs room on the same full file system.
    const store = Store.open(path, { create: true, size: 4 << 20, forcePmem: scenario === 'punched' });
    const m = store.map<number, string>('m');
    const model = new Map<number, string>();
    for (let k = 0; k < 10; k++) {
      m.set(k, `small ${k}`);
      model.set(k, `small ${k}`);
    }
    // The second half of the pool is free space past its one FREE header: zeros nobody reads.
    const size = statSync(path).size;
    execFileSync('fallocate', ['--punch-hole', '--offset', String(size / 2), '--length', String(size / 2), path]);
    const filler = `${path}.filler`;
    const fd = openSync(filler, 'a');
    for (let chunk = 1 << 20; chunk >= 1; ) {
      try {
        writeSync(fd, Buffer.alloc(chunk, 1));
      } catch {
        chunk >>= 1;
      }
    }
    closeSync(fd);
    const writes: string[] = [];
    // On a file the log has a few MiB of room ahead (it grows in steps): more writes than fit.
    const count = scenario === 'punched' ? 5 : 12;
    for (let k = 100; k < 100 + count; k++) {
      const v = 'w'.repeat(700_000); // big: they reach the punched half
      try {
        m.set(k, v);
        model.set(k, v);
        writes.push('ok');
      } catch (err) {
        writes.push(describeError(err).code);
      }
    }
    out.writes = writes;
    out.readAfter = m.get(3);
    out.close = (() => {
      try {
        store.close();
        return 'ok';
      } catch (err) {
        return describeError(err).code;
      }
    })();
    unlinkSync(filler);
    const reopened = Store.open(path);
    out.reopenedCheck = reopened.check().ok;
    out.reopenedSame = sameAs(reopened, model);
    reopened.close();
    break;
  }
  case 'create': {
    process.stdout.write('started\n');
    const store = Store.open(path, { create: true, size: Number(arg) });
    store.close();
    process.stdout.write('done\n');
    process.exit(0);
  }
  // falls through (process.exit above)
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
process.stdout.write(JSON.stringify(out));
