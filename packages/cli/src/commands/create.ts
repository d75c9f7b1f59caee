import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, constants as fsConstants } from 'node:fs';
import { FerriteError, integerOption } from '@ferrite/core';
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
 * `Store.open` find an empty store. The file's mode is `mode` exactly, whatever the process's
 * umask (as `install -m` sets it). Durable on return, its mode too.
 */
export function createPool(file: string, options: { size: number; layout: string; mode: number }): Created {
  // Checked before anything is made: it is no longer handed to the file's creation, which
  // checked it, but to fchmod at the end.
  const mode = integerOption('createPool', 'mode', options.mode, 0, 0o7777, 0o600);
  // Exclusive: EEXIST when the file exists; atomic: no file at `file` unless the pool is whole.
  // Made 0600 (less the umask) while it is formatted: private, and writable by its owner
  // whatever the final mode (0400 included); the mode asked for is set last.
  createPoolFile(file, { layout: options.layout, size: options.size, mode: 0o600 });
  const fd = openCreated(file);
  try {
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
    // The mode given to a file's creation loses the umask's bits (found in review: --mode 0666
    // under umask 022 made 0644, and create printed 0666); fchmod sets it as given.
    try {
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } catch (err) {
      throw fileError(file, err);
    }
    return { size: options.size, layout: options.layout, uuid, mode };
  } finally {
    closeSync(fd);
  }
}

/** The file just created, opened to set its mode: never through a symlink, a regular file. */
function openCreated(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw fileError(file, err);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new FerriteError('ENODEV', `${file} is not a regular file`);
  }
  return fd;
}

/** A file system error met setting the mode, as a FerriteError with a code (create exits 2 on any). */
function fileError(file: string, err: unknown): FerriteError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = code === 'EACCES' || code === 'EPERM' ? 'EACCES' : code === 'ENOENT' ? 'ENOENT' : 'EIO';
  return new FerriteError(known, `cannot set the mode of ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

export const createCommand: Command = {
  name: 'create',
  summary: 'create a new, empty pool file',
  synopsis: 'create FILE --size SIZE [--layout NAME] [--mode MODE] [--json]',
  description: `Creates FILE as a new pool of SIZE bytes (suffixes K, M, G: binary units) whose
layout name is NAME ('${DEFAULT_LAYOUT}' by default, as Store.open gives). The file must not exist: creation is exclusive and never follows a
symbolic link. Its permissions are MODE exactly (0600 by default), whatever the umask, as
install -m sets them. The pool is durable when the command exits with 0.`,
  options: {
    size: { type: 'string', short: 's', valueName: 'SIZE', description: 'pool size, e.g. 64M (required)' },
    layout: { type: 'string', short: 'l', valueName: 'NAME', description: `layout name stored in the header (default '${DEFAULT_LAYOUT}')` },
    mode: { type: 'string', valueName: 'MODE', description: 'file permissions, octal, not reduced by the umask (default 0600)' },
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
          ['mode', `0${created.mode.toString(8).padStart(3, '0')}`],
        ]),
      );
    }
    return ExitCode.OK;
  },
};
