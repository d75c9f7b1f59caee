/**
 * The child of the backup and compaction kill tests. Prints `ready` once the pool is open,
 * `P` after each step of the backup or compaction, `D` once it returned, and (backup) `C <seq>
 * <from> <to> <amount>` after each transfer its writer committed: lines on a pipe, written
 * synchronously, so a line written before the SIGKILL reaches the parent.
 *
 * Usage: backup-child.ts <backup|compact> <pool> <dest> <seed>
 *   backup   open the bank pool as its writer, run transfers every event-loop turn and, at
 *            the same time, `store.backup(dest)`; keep transferring after it returned
 *   compact  `compactPoolFile(pool)` (the pool closed; dest unused)
 */
import { writeLine } from './write-line.js';
import { Prng } from '@ferrite/core/testing';
import { Store, compactPoolFile } from '@ferrite/tx';
import { transfer } from './bank.js';

const [mode, path, dest, seedText] = process.argv.slice(2);
if (path === undefined || dest === undefined || (mode !== 'backup' && mode !== 'compact')) {
  process.stderr.write('usage: backup-child.ts <backup|compact> <pool> <dest> <seed>\n');
  process.exit(2);
}
const prng = new Prng(Number(seedText ?? '1'));
const rand = (): number => prng.nextU32() / 4294967296;


if (mode === 'compact') {
  writeLine('ready\n');
  compactPoolFile(path, { onProgress: () => writeLine('P\n') });
  writeLine('D\n');
} else {
  const store = Store.open(path);
  writeLine('ready\n');
  let stop = false;
  const writer = (async () => {
    // Bounded: the parent kills the child long before this ends.
    for (let turn = 0; turn < 100_000 && !stop; turn++) {
      for (let k = 0; k < 3; k++) {
        const t = transfer(store, rand);
        writeLine(`C ${t.seq} ${t.from} ${t.to} ${t.amount}\n`);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  await store.backup(dest, { onProgress: () => writeLine('P\n') });
  writeLine('D\n');
  // Writes go on after the backup: a kill now finds a complete copy and a busy source.
  await new Promise((resolve) => setTimeout(resolve, 200));
  stop = true;
  await writer;
  store.close();
}
