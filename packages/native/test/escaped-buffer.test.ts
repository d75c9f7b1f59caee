/**
 * A mapping's buffer moved out by JavaScript (`ArrayBuffer.prototype.transfer`, Node 22+)
 * escapes every detach of ours. Found in review, each a SIGSEGV on Node 24: a private view
 * shrunk under it; a worker that made the mapping ended while the buffer lived in the main
 * thread (Node finalizes an ending environment's buffers). And grow/shrink/remap at the same
 * length handed the detached buffer back (a raw TypeError). Each case runs in a process of
 * its own, on a Node that has `transfer` (this one, or Node 24 when this is Node 20), with
 * --expose-gc so that every collection that could unmap has happened before the last read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, node24 } from './support/node24.js';

const hasTransfer = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
const runtime = hasTransfer ? { bin: process.execPath } : node24();
const FIXTURE = fileURLToPath(new URL('./fixtures/escaped-buffer.ts', import.meta.url));

function runCase(which: string): Record<string, unknown> {
  assert.ok(!('skip' in runtime), 'skip' in runtime ? runtime.skip : '');
  const dir = mkdtempSync(join('/dev/shm', 'ferrite-escaped-'));
  try {
    const child = spawnSync(runtime.bin, ['--expose-gc', '--conditions=ferrite-source', '--import', 'tsx', FIXTURE, which, dir], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(child.signal, null, `${which}: the process died with ${String(child.signal)}: ${child.stderr}`);
    assert.equal(child.status, 0, `${which}: ${child.stderr}`);
    return JSON.parse(child.stdout) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a private view shrunk under an escaped buffer: the tail reads zeros, no fault', () => {
  assert.deepEqual(runCase('shrink-private'), { tail: 0, head: 7, afterClose: 0 });
});

test('a worker that made the mapping ends while its escaped buffer lives in the main thread: zeros, no fault', () => {
  assert.deepEqual(runCase('worker-ends'), { before: 7, after: 0 });
});

test('a mapping closed, or dropped without close, under an escaped buffer: zeros or the data, no fault after collection', () => {
  assert.deepEqual(runCase('close-then-gc'), { before: 7, after: 0 });
  const dropped = runCase('dropped-unclosed');
  assert.ok(dropped.after === 0 || dropped.after === 7, JSON.stringify(dropped));
});

test('grow and shrink at the current length after a transfer give a usable buffer, not a raw TypeError', () => {
  assert.deepEqual(runCase('same-length'), { afterGrow: [32768, 7], afterShrink: [32768, 7] });
});
