import { ExitCode, exitCodeFor, type Command } from '../command.js';
import { formatBytes, formatOffset, formatPercent, renderFields, renderTable } from '../format.js';
import { inspectPool, type PoolReport } from '../inspect.js';

function human(r: PoolReport): string {
  const parts: string[] = [];
  const fields: [string, string | number][] = [['file', r.file], ['file size', `${r.fileSize} (${formatBytes(r.fileSize)})`]];
  if (r.header !== undefined) {
    const h = r.header;
    fields.push(
      ['format version', h.version],
      ['uuid', h.uuid],
      ['layout', JSON.stringify(h.layout)],
      ['pool size', `${h.size} (${formatBytes(h.size)})`],
      ['max size', `${h.maxSize} (${formatBytes(h.maxSize)})${h.maxSize === h.size ? ', no growth' : ''}`],
      ['heap offset', formatOffset(h.heapOffset)],
      ['header seq', h.seq],
    );
  }
  for (const c of r.headerCopies) fields.push([`header copy ${c.name}`, c.ok ? 'ok' : `DAMAGED (${c.reason})`]);
  fields.push(['recovery pending', r.recoveryPending === undefined ? 'unknown' : r.recoveryPending ? 'yes (a transaction will be rolled back at the next writable open)' : 'no']);
  if (r.redoRecordsPending !== undefined && r.redoRecordsPending > 0) {
    const n = r.redoRecordsPending;
    fields.push(['redo log', `${n} committed transaction${n === 1 ? '' : 's'} to copy into the pool file at the next writable open (durable; read already)`]);
  }
  if (r.usage !== undefined) {
    const u = r.usage;
    fields.push(
      ['used', `${formatBytes(u.usedBytes)} (${formatPercent(u.usedBytes, u.poolSize)}) in ${u.allocations} blocks (${u.extents} large extents, ${formatBytes(u.extentBytes)})`],
      ['free', `${formatBytes(u.freeBytes)} (${formatPercent(u.freeBytes, u.poolSize)}), fragmentation ${formatPercent(u.fragmentation, 1)}`],
    );
    if (u.logOverflowBytes > 0) fields.push(['undo log overflow', formatBytes(u.logOverflowBytes)]);
  }
  if (r.openError !== undefined) fields.push(['open error', `${r.openError.message} (${r.openError.code})`]);
  if (r.storeError !== undefined) fields.push(['store error', `${r.storeError.message} (${r.storeError.code})`]);
  parts.push(renderFields(fields));
  if (r.usage !== undefined && r.usage.classes.length > 0) {
    parts.push('\nspace by size class:\n');
    parts.push(
      renderTable(
        ['class', 'block size', 'runs', 'blocks used', 'blocks free', 'used bytes'],
        r.usage.classes.map((c) => [c.name, c.blockSize, c.runs, c.usedBlocks, c.freeBlocks, c.usedBytes]),
      ),
    );
  }
  if (r.collections !== undefined) {
    parts.push(`\ncollections: ${r.collections.length}\n`);
    if (r.collections.length > 0) {
      parts.push(renderTable(['name', 'kind', 'entries'], r.collections.map((c) => [c.name, c.kind, c.size])));
    }
  }
  return parts.join('');
}

/** The exit code scheme of every command (command.ts): open and store errors by their code, a damaged header copy is 1. */
export function infoExitCode(r: PoolReport): ExitCode {
  if (r.openError !== undefined) return exitCodeFor(r.openError.code);
  if (r.storeError !== undefined) return exitCodeFor(r.storeError.code);
  return r.headerCopies.some((c) => !c.ok) ? ExitCode.INCONSISTENT : ExitCode.OK;
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'show the header, space usage and collections of a pool',
  synopsis: 'info FILE [--heap] [--json]',
  description: `Prints the pool's header (both copies are decoded and reported separately, so a
damaged header is shown, not refused), its size, used and free space by size class, its
collections with their sizes, and whether a transaction is pending recovery. Opens FILE
read-only and never writes it: a pending transaction is reported, not rolled back.
Exit code 0 when the pool opens cleanly, 1 when it is damaged, 2 when it cannot be examined
(the scheme of every command).`,
  options: {
    json: { type: 'boolean', description: 'print the report as one JSON object' },
    heap: { type: 'boolean', description: 'a plain @ferrite/heap pool: skip the store (collections, reachability)' },
  },
  positionals: { min: 1, max: 1, names: 'FILE' },
  examinesPool: true,
  run(args, io) {
    const report = inspectPool(args.positionals[0], { heapOnly: args.values.heap === true });
    io.stdout.write(args.values.json === true ? JSON.stringify(report, null, 2) + '\n' : human(report));
    return infoExitCode(report);
  },
};
