/**
 * What a path is stored on, and where pools go by default.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { binding } from './binding.js';

/** The kind of storage under a path. */
export type Medium = 'tmpfs' | 'dax' | 'file';

/**
 * The medium of `path` (a file or a directory, which must exist): 'dax' when the file
 * system reports the file as DAX (statx STATX_ATTR_DAX), 'tmpfs' on a tmpfs (statfs magic
 * 0x01021994), else 'file'.
 * @throws FerriteError ENOENT when the path does not exist; EINVAL when it is not a string.
 */
export function mediumOf(path: string): Medium {
  return binding.mediumOf(path);
}

/** True when `path` lies on a tmpfs. Same errors as `mediumOf`. */
export function isTmpfs(path: string): boolean {
  return mediumOf(path) === 'tmpfs';
}

/**
 * The directory where pools go by default: /dev/shm when it is a writable tmpfs (memory
 * speed, lost at reboot), else `os.tmpdir()`.
 */
export function defaultPoolDir(): string {
  const shm = '/dev/shm';
  try {
    if (!statSync(shm).isDirectory()) return tmpdir();
    accessSync(shm, constants.W_OK);
    return mediumOf(shm) === 'tmpfs' ? shm : tmpdir();
  } catch {
    return tmpdir();
  }
}

/**
 * The instruction a cache-line `flush` uses on this CPU, detected once when the addon loads
 * (CPUID): 'clwb', else 'clflushopt', else 'clflush'. 'none' only on non-x86 builds, where
 * cache-line granularity falls back to msync (see README, "Limits").
 */
export function cpuFlushInstruction(): 'clwb' | 'clflushopt' | 'clflush' | 'none' {
  return binding.cpuFlushInstruction();
}

/** The system page size: the alignment of `offset`, `length` and `protect` ranges. */
export function pageSize(): number {
  return binding.pageSize();
}
