/**
 * A pool opened and grown in a process at the kernel's limit on mappings (vm.max_map_count,
 * reached in a child by splitting one mapping: @ferrite/native's test support, never by
 * changing the machine-wide setting). The mappings a pool needs are refused with a typed
 * ENOMEM naming the limit, never an abort or a fault; the pool is left as it was and, once
 * mappings are free again, opens (or goes on) with every committed transaction. On both write
 * paths: the redo log (an ordinary file) and persistent memory (forcePmem).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TX = fileURLToPath(new URL('../../tx', import.meta.url));
const FILL = fileURLToPath(new URL('../../native/test/support/map-limit.ts', import.meta.url));

function inChild(body: string): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'ferrite-map-limit-'));
  try {
    const code = `import * as fs from 'node:fs';
      import { map } from '@ferrite/native';
      import { Store } from '@ferrite/tx';
      import { fillToMapLimit } from ${JSON.stringify(FILL)};
      const dir = ${JSON.stringify(dir)};
      const path = dir + '/p.pool';
      const out = {};
      const codeOf = (fn) => { try { fn(); return 'ok'; } catch (e) { return e?.code !== undefined ? e.code + ': ' + e.message : String(e); } };
      ${body}
      console.log(JSON.stringify(out));`;
    // A new space of fixed size: V8 never has to map more of it while the child is at the
    // limit (it would die of it: "Committing semi space failed", V8's own abort, not ours).
    const flags = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];
    const child = spawnSync(process.execPath, [...flags, '--conditions=ferrite-source', '--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: TX,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.signal, null, `the child died with ${String(child.signal)}: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LIMIT = /^ENOMEM: .*vm\.max_map_count/;

describe('a pool at vm.max_map_count', () => {
  for (const forcePmem of [false, true]) {
    const mode = forcePmem ? 'forcePmem' : 'redo log';
    it(`${mode}: open is refused with ENOMEM, and the pool opens with its data once mappings are free`, () => {
      const seen = inChild(`
        const s = Store.open(path, { create: true, size: 8 << 20, forcePmem: ${forcePmem} });
        s.map('m').set(1, 'one');
        s.close();
        fs.writeFileSync(dir + '/small', Buffer.alloc(4096));
        globalThis.gc();
        const limit = fillToMapLimit(dir);
        out.reached = limit.reached;
        // Right before each open: the mappings the kernel still allows (given back by the
        // runtime meanwhile, or the one past its limit), taken.
        const extra = [];
        const exhaust = () => { for (let i = 0; i < 64; i++) { try { extra.push(map(dir + '/small', { protection: 'r', lock: 'none' })); } catch { break; } } };
        // Up to five tries: on a loaded machine the runtime can give a mapping back between the
        // exhaustion and the open, which then succeeds (and is closed); any error ends the tries.
        const tries = (fn) => { let r = 'ok'; for (let i = 0; i < 5 && r === 'ok'; i++) r = codeOf(() => { exhaust(); fn(); }); return r; };
        out.open = tries(() => Store.open(path, { readOnly: true, forcePmem: ${forcePmem} }).close());
        out.writable = tries(() => Store.open(path, { forcePmem: ${forcePmem} }).close());
        limit.release();
        for (const e of extra) e.close();
        const again = Store.open(path, { forcePmem: ${forcePmem} });
        out.value = again.map('m').get(1);
        out.ok = again.check().ok;
        again.close();`);
      assert.equal(seen.reached, true);
      assert.match(String(seen.open), LIMIT, JSON.stringify(seen));
      assert.match(String(seen.writable), LIMIT, JSON.stringify(seen));
      assert.equal(seen.value, 'one');
      assert.equal(seen.ok, true);
    });

    it(`${mode}: a transaction that must grow the pool is refused (typed, rolled back); the store goes on`, () => {
      const seen = inChild(`
        const s = Store.open(path, { create: true, size: 8 << 20, maxSize: 256 << 20, forcePmem: ${forcePmem} });
        const m = s.map('m');
        m.set(1, 'one');
        // Made now, and the encoder's buffer sized by one write: the transaction allocates as
        // little as it can (the runtime itself needs mappings to grow its heap).
        const big = 'z'.repeat(100000);
        m.set(0, big);
        m.delete(0);
        fs.writeFileSync(dir + '/small', Buffer.alloc(4096));
        globalThis.gc();
        const limit = fillToMapLimit(dir);
        out.reached = limit.reached;
        // Inside the transaction, right before the writes that grow the pool: the mappings the
        // kernel still allows (freed by the runtime meanwhile, or the one past its limit), taken.
        const extra = [];
        const exhaust = () => { for (let i = 0; i < 64; i++) { try { extra.push(map(dir + '/small', { protection: 'r', lock: 'none' })); } catch { break; } } };
        out.grow = codeOf(() => s.transaction(() => { for (let i = 0; i < 80; i++) { exhaust(); m.set(100 + i, big); } }));
        out.size = m.size;
        limit.release();
        for (const e of extra) e.close();
        out.after = codeOf(() => { m.set(2, 'two'); });
        s.close();
        const again = Store.open(path, { forcePmem: ${forcePmem} });
        out.values = [again.map('m').get(1), again.map('m').get(2), again.map('m').size];
        out.ok = again.check().ok;
        again.close();`);
      assert.equal(seen.reached, true);
      assert.match(String(seen.grow), LIMIT, JSON.stringify(seen));
      assert.equal(seen.size, 1, 'rolled back');
      assert.equal(seen.after, 'ok', 'the store goes on');
      assert.deepEqual(seen.values, ['one', 'two', 2]);
      assert.equal(seen.ok, true);
    });
  }
});
