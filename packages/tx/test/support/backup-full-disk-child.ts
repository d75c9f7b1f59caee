// Child: a backup whose destination is on a full (or too small) file system. The source pool
// lives elsewhere (its own directory, given). Prints what it saw as JSON; the parent asserts
// on it and on the exit status (a signal would be a crash).
//   too-big <srcDir> <destDir>   a source larger than the destination's file system
//   grows   <srcDir> <destDir>   the destination fits at first; the source grows past the room
//   compact <srcDir> <destDir>   a compacting backup (live: its snapshot does not fit)
//   compact-offline <srcDir> <destDir>  backupPoolFile with compact: the rebuilt pool outgrows the room
import { closeSync, openSync, readdirSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isFerriteError } from '@ferrite/core';
import { Store, backupPoolFile } from '../../src/index.js';

const [scenario, srcDir, destDir] = process.argv.slice(2) as [string, string, string];
const out: Record<string, unknown> = {};
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A source store of about `mib` MiB of values (keys 0..n-1, value i is `${i}:` padded). */
function source(mib: number): { store: Store; n: number } {
  const store = Store.open(join(srcDir, 'src.pool'), { create: true, size: 1 << 20, maxSize: 1 << 30, forcePmem: true });
  const m = store.map<number, string>('m');
  const n = mib * 256;
  store.transaction(() => {
    for (let i = 0; i < n; i++) m.set(i, `${i}:`.padEnd(4000, 'v'));
  });
  return { store, n };
}

/** The source holds keys 0..n-1 with their values, checks clean, and still takes a write. */
function sourceIntact(store: Store, n: number): boolean {
  const m = store.map<number, string>('m');
  if (m.size !== n) return false;
  for (let i = 0; i < n; i += 37) if (m.get(i) !== `${i}:`.padEnd(4000, 'v')) return false;
  if (!store.check().ok) return false;
  m.set(-1, 'after');
  return m.get(-1) === 'after';
}

/** Fills the destination's file system until about `leave` bytes are free (a filler file). */
function leaveFree(leave: number): void {
  const fd = openSync(join(destDir, 'filler'), 'a');
  try {
    const chunk = Buffer.alloc(256 << 10, 0x5a);
    for (let guard = 0; guard < 100_000; guard++) {
      const s = statfsSync(destDir);
      const free = s.bavail * s.bsize;
      if (free <= leave) break;
      writeSync(fd, chunk, 0, Math.min(chunk.length, free - leave));
    }
  } finally {
    closeSync(fd);
  }
}

/** Runs a backup; `writer` runs once a turn from the backup's first step (its file made) on. */
async function attempt(store: Store, compact: boolean, writer?: () => void): Promise<void> {
  let stop = false;
  let started = false;
  const running = (async () => {
    while (!stop && writer !== undefined) {
      if (started) writer();
      await turn();
    }
  })();
  try {
    const info = await store.backup(join(destDir, 'copy.pool'), { compact, onProgress: () => (started = true) });
    out.result = { ok: true, bytes: info.bytes };
  } catch (err) {
    out.result = isFerriteError(err) ? { code: err.code, message: err.message } : { other: String(err) };
  } finally {
    stop = true;
    await running;
  }
}

switch (scenario) {
  case 'too-big': {
    const { store, n } = source(40);
    out.sourceSize = store.stats().pool.size;
    await attempt(store, false);
    out.sourceIntact = sourceIntact(store, n);
    store.close();
    break;
  }
  case 'grows': {
    const { store, n } = source(2);
    // Room for the copy as the source is now, and 1 MiB more: its growth does not fit.
    leaveFree(store.stats().pool.size + (1 << 20));
    let i = 0;
    // Grows the source by about 2 MiB a turn while the copy runs.
    await attempt(store, false, () => {
      store.transaction(() => {
        for (let k = 0; k < 512; k++, i++) store.map<number, string>('more').set(i, 'g'.repeat(4000));
      });
    });
    out.grewTo = store.stats().pool.size;
    out.sourceIntact = sourceIntact(store, n);
    out.moreKept = store.map('more').size === i;
    store.close();
    break;
  }
  case 'compact': {
    const { store, n } = source(40);
    // A compacted copy needs about 40 MiB: leave it a quarter of that.
    leaveFree(10 << 20);
    await attempt(store, true);
    out.sourceIntact = sourceIntact(store, n);
    store.close();
    break;
  }
  case 'compact-offline': {
    const { store, n } = source(40);
    store.close();
    leaveFree(10 << 20);
    try {
      const info = backupPoolFile(join(srcDir, 'src.pool'), join(destDir, 'copy.pool'), { compact: true });
      out.result = { ok: true, bytes: info.bytes };
    } catch (err) {
      out.result = isFerriteError(err) ? { code: err.code, message: err.message } : { other: String(err) };
    }
    const again = Store.open(join(srcDir, 'src.pool'), { forcePmem: true });
    out.sourceIntact = sourceIntact(again, n);
    again.close();
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
out.destFiles = readdirSync(destDir).filter((f) => f !== 'filler');
process.stdout.write(JSON.stringify(out));
