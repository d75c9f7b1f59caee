/**
 * Test helpers: scratch directories on tmpfs and on disk, and child processes that load
 * the TypeScript sources the same way the test runner does.
 */
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { FerriteError } from '@ferrite/core';
import type { ErrorCode } from '@ferrite/core';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A fresh directory under `base` (tmpfs /dev/shm or disk /tmp), removed by the returned function. */
export function scratchDir(base: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(base, 'ferrite-native-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A tmpfs and a disk scratch directory for one test file, removed after it, and `fresh(dir)`
 * naming a new pool file in one of them (tmpfs by default).
 */
export function poolDirs(prefix: string): { shm: string; disk: string; fresh: (dir?: string) => string } {
  const shm = scratchDir(shmBase);
  const disk = scratchDir(diskBase);
  after(() => {
    shm.remove();
    disk.remove();
  });
  let counter = 0;
  return { shm: shm.dir, disk: disk.dir, fresh: (dir = shm.dir) => join(dir, `${prefix}${counter++}.pool`) };
}

/** The on-disk temporary directory (os.tmpdir() is on the root disk on this machine). */
export const diskBase = tmpdir();
/** The tmpfs directory. */
export const shmBase = '/dev/shm';

/** Runs `fixtures/<name>` in a child node with tsx, the given node flags and arguments. */
export function runFixture(name: string, args: string[], nodeFlags: string[] = [], node = process.execPath): SpawnSyncReturns<string> {
  return spawnSync(
    node,
    [...nodeFlags, '--conditions=ferrite-source', '--import', 'tsx', join(fixtures, name), ...args],
    { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FERRITE_FORCE_PMEM: '' } },
  );
}

/** Runs a shell command line in the repo root (used for `ulimit`). */
export function runShell(line: string): SpawnSyncReturns<string> {
  return spawnSync('/bin/sh', ['-c', line], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
}

/** The node command line that runs a fixture, for `runShell`. */
export function fixtureCommand(name: string, args: string[]): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [process.execPath, '--conditions=ferrite-source', '--import', 'tsx', join(fixtures, name), ...args]
    .map(quote)
    .join(' ');
}

/** Asserts that `fn` throws a FerriteError with `code` whose message contains every `parts`. */
export function throwsCode(fn: () => unknown, code: ErrorCode, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FerriteError, `expected a FerriteError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" names ${part}`);
    return true;
  });
}
