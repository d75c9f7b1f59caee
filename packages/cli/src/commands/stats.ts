import { ExitCode, exitCodeFor, type Command } from '../command.js';
import { formatBytes, formatPercent, renderFields, renderTable } from '../format.js';
import { damagedHeaderCopies, openPool, readConsistently, usageOf, type UsageReport } from '../inspect.js';

export interface StatsReport {
  readonly file: string;
  readonly layout: string;
  readonly uuid: string;
  readonly recoveryPending: boolean;
  /** Committed transactions in the redo log that the next writable open copies into the pool file. */
  readonly redoRecordsPending: number;
  readonly usage: UsageReport;
  readonly collections?: { readonly total: number; readonly map: number; readonly sortedMap: number; readonly queue: number };
}

function human(s: StatsReport): string {
  const u = s.usage;
  const fields: [string, string | number][] = [
    ['file', s.file],
    ['layout', JSON.stringify(s.layout)],
    ['pool size', `${u.poolSize} (${formatBytes(u.poolSize)})`],
    ['used', `${u.usedBytes} (${formatPercent(u.usedBytes, u.poolSize)})`],
    ['free', `${u.freeBytes} (${formatPercent(u.freeBytes, u.poolSize)})`],
    ['blocks', u.allocations],
    ['large extents', `${u.extents} (${formatBytes(u.extentBytes)})`],
    ['log overflow', formatBytes(u.logOverflowBytes)],
    ['fragmentation', formatPercent(u.fragmentation, 1)],
  ];
  if (s.collections !== undefined) {
    const c = s.collections;
    fields.push(['collections', `${c.total} (${c.map} map, ${c.sortedMap} sortedMap, ${c.queue} queue)`]);
  }
  let out = renderFields(fields);
  if (u.classes.length > 0) {
    out += '\n' + renderTable(
      ['class', 'block size', 'runs', 'used', 'free', 'used bytes', 'fill'],
      u.classes.map((c) => [c.name, c.blockSize, c.runs, c.usedBlocks, c.freeBlocks, c.usedBytes, formatPercent(c.usedBlocks, c.usedBlocks + c.freeBlocks)]),
    );
  }
  return out;
}

export const statsCommand: Command = {
  name: 'stats',
  summary: 'print space statistics of a pool',
  synopsis: 'stats FILE [--heap] [--json]',
  description: `Prints the pool's space statistics: used and free bytes, blocks, large extents,
undo-log overflow, fragmentation of the free space, and per size class the runs and the
used and free blocks. Opens FILE read-only and never writes it.
Exit code 0; 1 when the pool is damaged (it does not open because of damage, one header copy
is damaged, or its store cannot be read: the heap's statistics are still printed); 2 when it
cannot be examined.`,
  options: {
    json: { type: 'boolean', description: 'print the statistics as one JSON object' },
    heap: { type: 'boolean', description: 'a plain @ferrite/heap pool: skip the store (collections, reachability)' },
  },
  positionals: { min: 1, max: 1, names: 'FILE' },
  examinesPool: true,
  run(args, io) {
    const file = args.positionals[0];
    const { report, storeError, headers } = readConsistently((freeze) => {
      const opened = openPool(file, { readOnly: true, heapOnly: args.values.heap === true, freeze });
      try {
        const counts = opened.store?.stats().collections;
        const r: StatsReport = {
          file,
          layout: opened.pool.layout,
          uuid: opened.pool.uuid,
          recoveryPending: opened.recoveryPending,
          redoRecordsPending: opened.redoRecordsPending,
          usage: usageOf(opened.pool),
          ...(counts === undefined ? {} : { collections: counts }),
        };
        return { result: { report: r, storeError: opened.storeError, headers: damagedHeaderCopies(opened.scan) }, changed: opened.changed() };
      } finally {
        opened.close();
      }
    });
    io.stdout.write(args.values.json === true ? JSON.stringify(report, null, 2) + '\n' : human(report));
    if (storeError !== undefined) {
      // The heap's statistics are printed; the store on top could not be read.
      io.stderr.write(`ferrite stats: ${file} holds no readable store: ${storeError.message} (${storeError.code})\n`);
      return exitCodeFor(storeError.code);
    }
    if (headers !== undefined) {
      // The same exit code as info and check give this file (command.ts).
      io.stderr.write(`ferrite stats: ${file}: ${headers}\n`);
      return ExitCode.INCONSISTENT;
    }
    return ExitCode.OK;
  },
};
