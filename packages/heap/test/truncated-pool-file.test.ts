/**
 * A pool on an ordinary file (the redo-log path: a private view, `<pool>.wal`) whose file
 * another program cuts short while the writer has it open. Found in review: the writer kept
 * committing — its private view read zeros where the file lost its pages (the fault guard's
 * private zero pages), its commits went to the log and their copies into the shared mapping
 * faulted silently, `close()` reported success — so data was lost without a word. Now the
 * first commit (or group commit, grow, checkpoint) after the cut throws EIO, the pool is
 * unusable from then on, and the log keeps every commit that was durable before it.
 *
 * Each scenario runs in a child process (through @ferrite/tx's Store, the way users open a
 * pool file), so a SIGBUS would fail the test instead of killing the runner.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TX = fileURLToPath(new URL('../../tx', import.meta.url));

/** Runs `body` (ESM, top-level await) in a child with `path` and `fs` in scope; its JSON output. */
function inChild(dir: string, body: string): Record<string, unknown> {
  const path = join(dir, 'cut.pool');
  const code = `import * as fs from 'node:fs';
    import { Store } from '@ferrite/tx';
    const path = ${JSON.stringify(path)};
    const out = {};
    const codeOf = (fn) => { try { fn(); return 'ok'; } catch (e) { return e?.code ?? String(e); } };
    ${body}
    console.log(JSON.stringify(out));`;
  const child = spawnSync(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: TX,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

function withDir(fn: (dir: string) => void): void {
  // An ordinary file system (not /dev/shm, where pools default to forcePmem): the redo-log path.
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-cut-file-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// What every scenario starts from: a writer on a pool file, 200 values of 8 KB committed.
const SETUP = `
    const w = Store.open(path, { create: true, size: 8 << 20, maxSize: 64 << 20 });
    const m = w.map('m');
    w.transaction(() => { for (let i = 0; i < 200; i++) m.set(i, 'x'.repeat(8000)); });
    out.mode = w.stats().durability.mode;`;

describe('a pool file (redo log) another program truncates under its writer', () => {
  for (const cut of [4096, 4 << 20]) {
    it(`cut to ${cut} bytes: the next commit throws EIO (nothing logged), every later one too; the log is kept`, () => {
      withDir((dir) => {
        const seen = inChild(dir, `${SETUP}
          fs.truncateSync(path, ${cut});
          out.first = codeOf(() => w.transaction(() => { m.set(1000, 'y'); }));
          out.second = codeOf(() => m.set(1001, 'y'));
          out.close = codeOf(() => w.close());
          out.walKept = fs.existsSync(path + '.wal');`);
        assert.equal(seen.mode, 'redo-log');
        assert.equal(seen.first, 'EIO', 'the first commit after the cut is refused');
        assert.equal(seen.second, 'EIO', 'the pool stays unusable');
        assert.equal(seen.close, 'ok');
        assert.equal(seen.walKept, true, 'the log, which holds the durable commits, stays for the next open');
      });
    });
  }

  it('a group commit (transactionAsync) after the cut rejects with EIO', () => {
    withDir((dir) => {
      const seen = inChild(dir, `${SETUP}
        fs.truncateSync(path, 4096);
        try { await w.transactionAsync(() => { m.set(1000, 'y'.repeat(100)); }); out.async = 'ok'; }
        catch (e) { out.async = e?.code ?? String(e); }
        out.after = codeOf(() => m.set(1001, 'y'));
        out.close = codeOf(() => w.close());`);
      assert.equal(seen.async, 'EIO');
      assert.equal(seen.after, 'EIO');
      assert.equal(seen.close, 'ok');
    });
  });

  it('a write that grows the pool after the cut throws EIO, and never fills the lost bytes with zeros', () => {
    withDir((dir) => {
      const seen = inChild(dir, `${SETUP}
        fs.truncateSync(path, 4096);
        out.grow = codeOf(() => w.transaction(() => { for (let i = 0; i < 12; i++) m.set(5000 + i, 'z'.repeat(900000)); }));
        out.size = fs.statSync(path).size;
        w.close();`);
      assert.equal(seen.grow, 'EIO');
      assert.equal(seen.size, 4096, 'the file keeps the length it was cut to');
    });
  });

  it('commits durable in the log before the cut are recovered once the file is restored; the refused one is not', () => {
    withDir((dir) => {
      const seen = inChild(dir, `${SETUP}
        const copy = path + '.copy';
        fs.copyFileSync(path, copy); // holds the first transaction (applied to the file's page cache)
        w.transaction(() => { for (let i = 0; i < 50; i++) m.set(300 + i, 'b'.repeat(5000)); }); // durable in the log
        fs.truncateSync(path, 4096);
        out.refused = codeOf(() => w.transaction(() => { m.set(999, 'c'); }));
        w.close();
        fs.renameSync(copy, path); // the file restored (from a copy older than the log)
        const again = Store.open(path);
        const m2 = again.map('m');
        out.first = m2.get(199)?.length;
        out.second = m2.get(349)?.length;
        out.refusedPresent = m2.has(999);
        out.ok = again.check().ok;
        again.close();`);
      assert.equal(seen.refused, 'EIO');
      assert.equal(seen.first, 8000, 'the first transaction is there');
      assert.equal(seen.second, 5000, 'the second, durable only in the log, was replayed');
      assert.equal(seen.refusedPresent, false, 'the refused transaction is not');
      assert.equal(seen.ok, true);
    });
  });

  it('the log truncated under its writer: the next commit throws EIO', () => {
    withDir((dir) => {
      const seen = inChild(dir, `${SETUP}
        w.transaction(() => { m.set(500, 'q'.repeat(100)); });
        fs.truncateSync(path + '.wal', 4096);
        out.first = codeOf(() => w.transaction(() => { m.set(501, 'q'); }));
        out.second = codeOf(() => m.set(502, 'q'));
        w.close();`);
      assert.equal(seen.first, 'EIO');
      assert.equal(seen.second, 'EIO');
    });
  });

  it('a read-only reader of the cut file gets a typed error or the data, never a signal; its writer gets EIO', () => {
    withDir((dir) => {
      const seen = inChild(dir, `${SETUP}
        const r = Store.open(path, { readOnly: true });
        const rm = r.map('m');
        out.before = rm.get(5)?.length;
        fs.truncateSync(path, 4096);
        out.read = codeOf(() => { const v = r.map('m').get(150); if (v !== undefined && v.length !== 8000) throw new Error('wrong value'); });
        out.writer = codeOf(() => w.transaction(() => { m.set(1000, 'y'); }));
        out.readAfter = codeOf(() => r.map('m').get(150));
        out.readerClose = codeOf(() => r.close());
        w.close();`);
      assert.equal(seen.before, 8000);
      assert.match(String(seen.read), /^(ok|E[A-Z]+)$/, 'the read returns the value or throws a typed error');
      assert.match(String(seen.readAfter), /^(ok|E[A-Z]+)$/);
      assert.equal(seen.writer, 'EIO');
      assert.equal(seen.readerClose, 'ok');
    });
  });
});
