/**
 * Mappings in a process at the kernel's limit on mappings (vm.max_map_count), reached in a
 * child process by splitting one mapping (support/map-limit.ts), never by changing the
 * machine-wide setting. Found in review: a read past the end of a file another program cut,
 * in such a process, killed it with SIGBUS (the fault guard's diversion is a mapping, which
 * the kernel refused). Now the guard takes one of its spare mappings; and map and grow refuse
 * with ENOMEM naming the limit, leaving every mapping as it was.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runFixture, scratchDir, diskBase } from './helpers.js';

interface Seen {
  reached: boolean;
  results: Record<string, unknown>;
}

function run(scenario: string): Seen {
  const scratch = scratchDir(diskBase);
  try {
    // A new space of fixed size: V8 never has to map more of it while the child is at the
    // limit (it would die of it, V8's own abort, not ours).
    const child = runFixture('map-limit.ts', [scenario, scratch.dir], ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16']);
    assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as Seen;
    assert.equal(seen.reached, true, 'the child reached the limit');
    return seen;
  } finally {
    scratch.remove();
  }
}

const LIMIT_MESSAGE = /^ENOMEM: .*vm\.max_map_count = \d+.*The existing mappings are unchanged$/;

describe('at vm.max_map_count', () => {
  it('map() is refused with ENOMEM naming the limit; a mapping made before still stores and persists', () => {
    const { results } = run('map');
    assert.match(String(results.map), LIMIT_MESSAGE, JSON.stringify(results));
    assert.equal(results.persist, 'ok');
  });

  it('grow is refused with ENOMEM (shared: the file keeps its size), and the mappings stay usable', () => {
    const { results } = run('grow');
    assert.match(String(results.shared), LIMIT_MESSAGE, JSON.stringify(results));
    assert.equal(results.sharedLength, 4 * 4096);
    assert.equal(results.sharedFileSize, 4 * 4096, 'the grow reserved nothing it did not give back');
    assert.equal(results.sharedPersist, 'ok');
    // A private view grows in place (no mapping needed) where the address space above it is
    // free, else it must move: either way its private page is kept.
    assert.match(String(results.private), /^(ok|ENOMEM: .*vm\.max_map_count)/, JSON.stringify(results));
    assert.equal(results.privateByte, 9);
  });

  it('reads past the end of cut files (shared, private, read-only mappings) do not kill the process', () => {
    const { results } = run('fault');
    assert.match(String(results.exhausted), /^ENOMEM/, 'the process was at its limit');
    assert.deepEqual(results.reads, [0, 0, 0, 1, 2, 3], 'past the cut: zeros; before it: the file');
    assert.deepEqual(results.faults, [1, 1, 1]);
    assert.match(String(results.persist), /^EIO: .*truncated by another program/);
    assert.match(String(results.checkFile), /^EIO: .*truncated by another program/);
  });
});
