import { ExitCode, type Command } from '../command.js';
import { checkFile, repairFile, type CheckResult } from '../deep-check.js';
import { formatOffset, renderTable } from '../format.js';
import { Progress } from '../progress.js';

function human(r: CheckResult, repair: boolean): string {
  const lines: string[] = [];
  if (r.repaired !== undefined) {
    if (r.repaired.length === 0) {
      const why = r.ok
        ? 'nothing to repair'
        : r.problems.some((p) => p.kind === 'leak')
          ? 'nothing (leaked blocks are freed only when they are the only problem)'
          : 'nothing (no problem found is repairable)';
      lines.push(`repaired: ${why}`);
    }
    for (const action of r.repaired) lines.push(`repaired: ${action}`);
  }
  const counts =
    r.allocated === undefined
      ? ''
      : `, ${r.allocated} blocks allocated${r.reachable === undefined ? '' : `, ${r.reachable} reachable`}`;
  lines.push(`${r.file}: ${r.ok ? 'consistent' : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`}${counts}, ${r.entries} entries read`);
  let out = lines.join('\n') + '\n';
  if (r.problems.length > 0) {
    out += renderTable(
      ['offset', 'kind', 'repair', 'problem'],
      r.problems.map((p) => [formatOffset(p.offset), p.kind, p.repairable ? 'yes' : 'no', p.message]),
    );
    if (!repair && r.problems.some((p) => p.repairable)) out += "run 'ferrite check --repair' to fix the problems marked yes\n";
  }
  return out;
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'check a pool deeply; --repair fixes what is safe to fix',
  synopsis: 'check FILE [--repair] [--heap] [--json]',
  description: `Checks both header copies, the undo log, the allocator's metadata, that every
allocated block is reachable from the store's root (and every reachable block allocated),
each collection's invariants, and that every key and value decodes. Prints each problem with
its offset in the pool. Without --repair the file is opened read-only and never written.

With --repair, and only when problems were found: a damaged header copy is rewritten from the
valid one, an interrupted transaction is rolled back (it was never committed), and leaked
blocks are freed when leaks are the only problem (so no block of a collection that could not
be walked is ever freed). Other damage is reported and left alone, and so is a pool that does
not open (both header copies damaged: no valid copy to rewrite them from): its problems are
marked 'no' in the repair column. The repairs are durable when the command returns; the
result printed is a check made after them.

Exit code 0 when the pool is consistent (after repair, with --repair), 1 when problems
remain, 2 when the file cannot be checked (missing, locked by a writer, not a pool).
Progress is shown on stderr when it is a terminal. For a pool made with @ferrite/heap
directly (its root object is not a store), pass --heap: the store layer is skipped, and
leaks cannot be told from the caller's own blocks, so none are freed.`,
  options: {
    repair: { type: 'boolean', description: 'fix header copies, pending transactions and leaks' },
    heap: { type: 'boolean', description: 'a plain @ferrite/heap pool: skip the store (collections, reachability)' },
    json: { type: 'boolean', description: 'print the result as one JSON object' },
  },
  positionals: { min: 1, max: 1, names: 'FILE' },
  examinesPool: true,
  run(args, io) {
    const file = args.positionals[0];
    const repair = args.values.repair === true;
    const progress = new Progress(io.stderr, `checking ${file}`);
    let result: CheckResult;
    try {
      const options = { heapOnly: args.values.heap === true };
      result = repair ? repairFile(file, progress, options) : checkFile(file, progress, options);
    } finally {
      progress.finish();
    }
    io.stdout.write(args.values.json === true ? JSON.stringify(result, null, 2) + '\n' : human(result, repair));
    return result.ok ? ExitCode.OK : ExitCode.INCONSISTENT;
  },
};
