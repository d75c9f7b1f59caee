import { compactPoolFile, type CompactInfo } from '@ferrite/tx';
import { ExitCode, type Command } from '../command.js';
import { formatBytes, renderFields } from '../format.js';
import { Progress } from '../progress.js';
import { destinationErrors, headerCopiesSound, progressReporter, refuseNonPoolFile } from './backup.js';

function human(info: CompactInfo): string {
  return renderFields([
    ['compacted', info.path],
    ['before', `${info.bytesBefore} (${formatBytes(info.bytesBefore)})`],
    ['after', `${info.bytesAfter} (${formatBytes(info.bytesAfter)})`],
    ['uuid', `${info.uuid} (was ${info.uuidBefore})`],
    ['collections', info.collections],
    ['entries', info.entries],
  ]);
}

export const compactCommand: Command = {
  name: 'compact',
  summary: 'rewrite a pool with only its live data, in place',
  synopsis: 'compact POOL [--json]',
  description: `Rewrites POOL with only its live data: every collection is rebuilt into a fresh
pool (same names, kinds and order; the layout, maxSize and undo log capacity kept) and the
file ends after its last used chunk. Offline: POOL is opened with the writer's lock (EBUSY
while a process has it open) and never written; the compacted copy is built beside it as
.POOL.ferrite-compact, synced, and renamed over POOL, and the directory synced. A crash or a
kill before the rename leaves POOL exactly as it was (the next compaction removes the
temporary); after it, the compacted pool. The compacted pool gets a new uuid (a redo log the
old pool left is then ignored by it). It needs room for the compacted copy while it runs.

Exit code 0 when POOL was compacted, 1 when it is damaged, 2 otherwise (usage, missing,
locked, not a pool, no room for the copy). Progress is shown on stderr when it is a terminal.`,
  options: {
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  positionals: { min: 1, max: 1, names: 'POOL' },
  examinesPool: true,
  run(args, io) {
    const [pool] = args.positionals as [string];
    return destinationErrors('compact', io, () => {
      refuseNonPoolFile(pool);
      // Before: the compacted pool that replaces the file has sound copies again.
      const sound = headerCopiesSound('compact', pool, io);
      const progress = new Progress(io.stderr, `compacting ${pool}`);
      let info: CompactInfo;
      try {
        info = compactPoolFile(pool, { onProgress: progressReporter(progress) });
      } finally {
        progress.finish();
      }
      io.stdout.write(args.values.json === true ? JSON.stringify(info) + '\n' : human(info));
      return sound ? ExitCode.OK : ExitCode.INCONSISTENT;
    });
  },
};
