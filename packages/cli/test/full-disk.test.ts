// The command on a full file system, on a pool file with a sparse tail (what an older
// version's failed grow left behind): `check --repair` opens it writable, which must end in a
// message and an exit code, never a signal (it died with SIGBUS on ext4). Real processes, on
// a tmpfs or loop-mounted ext4 this test mounts (skipped, with the reason, where it cannot).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../src/command.js';
import { runChild } from './support/run.js';
import { makeStorePool } from './support/pools.js';
import { smallFs } from '../../native/test/support/small-fs.js';

/** A tail that fits the file system once the filler is gone. */
const TAIL = 4 << 20;
const both = [
  ['tmpfs', smallFs('tmpfs', 8)],
  ['ext4', smallFs('ext4', 24)],
] as const;

describe('a pool with a sparse tail on a full file system', () => {
  for (const [kind, fs] of both) {
    it(`check --repair refuses it with ENOSPC (no signal), check reads it, and with room --repair allocates it (${kind})`, {
      skip: typeof fs === 'string' ? fs : false,
    }, async () => {
      if (typeof fs === 'string') return;
      const dir = mkdtempSync(join(fs.dir, 'cli-'));
      try {
        const pool = join(dir, 'p.pool');
        makeStorePool(pool);
        // Something to repair (--repair opens the file writable only then): header copy B damaged.
        const bytes = readFileSync(pool);
        bytes[256 + 8] ^= 1;
        writeFileSync(pool, bytes);
        const size = statSync(pool).size;
        truncateSync(pool, size + TAIL); // the tail an older version's failed grow left
        const filler = fs.fill();
        // One after the other: a reader's shared lock would refuse the repair's exclusive one.
        const repair = await runChild(['check', '--repair', pool]);
        const check = await runChild(['check', pool]);
        assert.equal(repair.signal, null, repair.stderr);
        assert.equal(repair.code, ExitCode.ERROR, repair.stderr);
        assert.match(repair.stderr, /sparse.*\(ENOSPC\)/);
        assert.equal(statSync(pool).size, size + TAIL, 'the file is as it was');
        assert.equal(check.signal, null, check.stderr);
        assert.equal(check.code, ExitCode.INCONSISTENT, check.stderr);
        assert.match(check.stdout, /header copy B: checksum mismatch/);
        unlinkSync(filler);
        // With room again, a writable open allocates the tail: the file has no hole left.
        const repaired = await runChild(['check', '--repair', pool]);
        assert.equal(repaired.signal, null, repaired.stderr);
        assert.equal(repaired.code, ExitCode.OK, repaired.stderr);
        assert.match(repaired.stdout, /repaired: /);
        const st = statSync(pool);
        assert.ok(st.blocks * 512 >= st.size, `allocated: ${st.blocks * 512} of ${st.size}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
