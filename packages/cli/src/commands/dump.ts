import { isFerriteError } from '@ferrite/core';
import { ExitCode, exitCodeFor, type Command } from '../command.js';
import { BufferedWriter } from '../io.js';
import { stringifyJson } from '../json.js';
import { damagedHeaderCopies, openPool } from '../inspect.js';

/** A collection yielded more entries than its size says: damage that would loop forever. */
class PastSizeError extends Error {}

export const dumpCommand: Command = {
  name: 'dump',
  summary: 'print the contents of collections as JSON lines',
  synopsis: 'dump FILE [COLLECTION]',
  description: `Prints every entry of every collection (or only of COLLECTION) as one JSON object
per line: {"collection","kind","key","value"} for maps and sorted maps (sorted maps in key
order), {"collection","kind","index","value"} for queues (from the head). Values JSON cannot
hold are tagged: {"$bigint":"12"}, {"$bytes":"<base64>"}, {"$date":"<ISO>"}, {"$map":[[k,v]]},
{"$set":[...]}, {"$undefined":true}, {"$number":"-0"}, {"$Float64Array":"<base64>"} (other
typed arrays, DataView, ArrayBuffer), {"$regexp":"/a/g"}, {"$error":{...}}, {"$boxed":v},
{"$hole":true}, {"$holes":n} for a run of holes. A key of the data that begins with $ gets
one more $ ({ $bigint: '12' } prints as {"$$bigint":"12"}), so an object whose one key is one
$ and a name is always a tag. A key named __proto__ stays an ordinary key.
Opens FILE read-only and never writes it; a pending transaction is rolled back in memory
only, so the dump shows committed data.
Exit code 0; 1 when the pool is damaged: it opens but a collection could not be read to its
end (the lines before the damage are printed), one header copy is damaged (everything is
printed, read through the other), or it does not open because of damage; 2 when
it cannot be examined (missing, locked, not a pool) or COLLECTION does not exist.`,
  options: { json: { type: 'boolean', description: 'accepted for uniformity: the output is always JSON lines' } },
  positionals: { min: 1, max: 2, names: 'FILE [COLLECTION]' },
  examinesPool: true,
  run(args, io) {
    const [file, only] = args.positionals;
    const opened = openPool(file, { readOnly: true });
    const out = new BufferedWriter(io.stdout);
    try {
      const store = opened.store;
      if (store === undefined) {
        io.stderr.write(`ferrite dump: ${file} holds no readable store: ${opened.storeError?.message ?? 'unknown reason'}\n`);
        return exitCodeFor(opened.storeError?.code ?? 'ECORRUPT');
      }
      const infos = store.collections();
      const selected = only === undefined ? infos : infos.filter((c) => c.name === only);
      if (only !== undefined && selected.length === 0) {
        io.stderr.write(`ferrite dump: no collection named ${JSON.stringify(only)} in ${file}\n`);
        return ExitCode.ERROR;
      }
      let status: ExitCode = ExitCode.OK;
      const headers = damagedHeaderCopies(opened.scan);
      if (headers !== undefined) {
        // The same exit code as info and check give this file (command.ts).
        io.stderr.write(`ferrite dump: ${file}: ${headers}\n`);
        status = ExitCode.INCONSISTENT;
      }
      for (const info of selected) {
        const prefix = `{"collection":${JSON.stringify(info.name)},"kind":${JSON.stringify(info.kind)},`;
        // A damaged collection must not make the dump run forever: stop after its size.
        const limit = info.size + 1;
        let n = 0;
        try {
          if (info.kind === 'queue') {
            for (const value of store.queue(info.name)) {
              if (n >= limit) throw new PastSizeError(`more values than its length ${info.size}`);
              out.write(`${prefix}"index":${n},"value":${stringifyJson(value)}}\n`);
              n += 1;
            }
          } else {
            const map = info.kind === 'map' ? store.map(info.name) : store.sortedMap(info.name);
            for (const [key, value] of map) {
              if (n >= limit) throw new PastSizeError(`more entries than its size ${info.size}`);
              out.write(`${prefix}"key":${stringifyJson(key)},"value":${stringifyJson(value)}}\n`);
              n += 1;
            }
          }
        } catch (err) {
          if (!isFerriteError(err) && !(err instanceof PastSizeError)) throw err;
          out.flush();
          io.stderr.write(`ferrite dump: collection ${JSON.stringify(info.name)} is damaged after ${n} entries: ${err.message}\n`);
          status = ExitCode.INCONSISTENT;
        }
      }
      if (opened.changed()) {
        // A writer opened the pool after the dump began (one there at the start is frozen
        // out by a private copy): each entry is a committed one, the lines as a whole may not be.
        out.flush();
        io.stderr.write(`ferrite dump: a writer opened ${file} during the dump and changed it; the entries come from successive committed states (run it again for one)\n`);
      }
      return status;
    } finally {
      out.flush();
      opened.close();
    }
  },
};
