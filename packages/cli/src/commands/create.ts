import { DEFAULT_LAYOUT, Store, createPoolFile, openPoolFile } from '@ferrite/tx';
import { parseMode, parseSize, UsageError } from '../args.js';
import { ExitCode, type Command } from '../command.js';
import { renderFields } from '../format.js';

export interface Created {
  readonly size: number;
  readonly layout: string;
  readonly uuid: string;
  readonly mode: number;
}

/**
 * Creates the pool file exclusively (never through a symlink, EEXIST when it exists) and
 * formats a store in it (the store's root object and registry), so every other command and
 * `Store.open` find an empty store. Durable on return.
 */
export function createPool(file: string, options: { size: number; layout: string; mode: number }): Created {
  // Exclusive: EEXIST when the file exists; atomic: no file at `file` unless the pool is whole.
  createPoolFile(file, { layout: options.layout, size: options.size, mode: options.mode });
  const pool = openPoolFile(file, { layout: options.layout });
  let store: Store;
  try {
    store = Store.fromPool(pool);
  } catch (err) {
    pool.close();
    throw err;
  }
  const uuid = pool.uuid;
  store.close();
  return { size: options.size, layout: options.layout, uuid, mode: options.mode };
}

export const createCommand: Command = {
  name: 'create',
  summary: 'create a new, empty pool file',
  synopsis: 'create FILE --size SIZE [--layout NAME] [--mode MODE] [--json]',
  description: `Creates FILE as a new pool of SIZE bytes (suffixes K, M, G: binary units) whose
layout name is NAME ('${DEFAULT_LAYOUT}' by default, as Store.open gives). The file must not exist: creation is exclusive and never follows a
symbolic link. The pool is durable when the command exits with 0.`,
  options: {
    size: { type: 'string', short: 's', valueName: 'SIZE', description: 'pool size, e.g. 64M (required)' },
    layout: { type: 'string', short: 'l', valueName: 'NAME', description: `layout name stored in the header (default '${DEFAULT_LAYOUT}')` },
    mode: { type: 'string', valueName: 'MODE', description: 'file permissions, octal (default 0600)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  positionals: { min: 1, max: 1, names: 'FILE' },
  examinesPool: false,
  run(args, io) {
    const file = args.positionals[0];
    const size = args.values.size;
    const layout = typeof args.values.layout === 'string' ? args.values.layout : DEFAULT_LAYOUT;
    if (typeof size !== 'string') throw new UsageError('--size is required', 'create');
    const bytes = parseSize('size', size);
    const mode = typeof args.values.mode === 'string' ? parseMode('mode', args.values.mode) : 0o600;
    const created = createPool(file, { size: bytes, layout, mode });
    if (args.values.json === true) {
      io.stdout.write(JSON.stringify({ file, ...created }) + '\n');
    } else {
      io.stdout.write(
        renderFields([
          ['created', file],
          ['size', created.size],
          ['layout', created.layout],
          ['uuid', created.uuid],
          ['mode', `0${created.mode.toString(8)}`],
        ]),
      );
    }
    return ExitCode.OK;
  },
};
