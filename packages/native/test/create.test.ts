/**
 * Atomic creation: a created file appears at its path whole (sized, allocated, fsync'd) or
 * not at all; it never replaces a file; a create that fails gives its space back; a killed
 * create's temporary blocks nothing and the next create of the path removes it.
 */
import { after, describe, it } from 'node:test';
import { constants as bufferConstants } from 'node:buffer';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { map, pageSize } from '../src/index.js';
import { scratchDir, shmBase, throwsCode } from './helpers.js';
import { smallFs } from './support/small-fs.js';

const PAGE = pageSize();
const TEMP = /^\..*\.ferrite-create-[0-9a-f]{16}$/;
const scratch = scratchDir(shmBase);
after(() => scratch.remove());
const tmpfs = smallFs('tmpfs', 8);
const ext4 = smallFs('ext4', 24);
let counter = 0;
function freshDir(base = scratch.dir): string {
  return mkdtempSync(join(base, `c${counter++}-`));
}

describe('a create that does not fit', () => {
  for (const [kind, fs, mib] of [['tmpfs', tmpfs, 8], ['ext4', ext4, 24]] as const) {
    for (const size of [2 * mib * 2 ** 20, 3 * 2 ** 30, 2 ** 40]) {
      // Above the runtime's largest ArrayBuffer (Node 20: 4 GiB) the refusal comes first.
      const code = size > bufferConstants.MAX_LENGTH ? 'ERANGE' : 'ENOSPC';
      it(`${size} bytes on a ${kind} of ${mib} MiB: ${code} at once, no file, the space unchanged`, {
        skip: typeof fs === 'string' ? fs : false,
      }, () => {
        if (typeof fs === 'string') return;
        const dir = freshDir(fs.dir);
        const path = join(dir, 'big.pool');
        const before = fs.available();
        throwsCode(() => map(path, { create: { size } }), code, path, code === 'ENOSPC' ? 'free' : 'Node');
        assert.deepEqual(readdirSync(dir), [], 'no pool file and no temporary left');
        assert.equal(fs.available(), before, 'the space is given back');
        const m = map(path, { create: { size: 1 << 20 } });
        assert.equal(m.length, 1 << 20, 'a retry that fits succeeds');
        m.close();
        assert.deepEqual(readdirSync(dir), ['big.pool']);
        rmSync(dir, { recursive: true });
      });
    }
  }
});

describe('publishLater', () => {
  it('the file has no name until publish(): a temporary next to it holds it; publish renames it, whole', () => {
    const dir = freshDir();
    const path = join(dir, 'p.pool');
    const m = map(path, { create: { size: 4 * PAGE, exclusive: true, publishLater: true } });
    assert.equal(m.published, false);
    assert.equal(existsSync(path), false);
    const temps = readdirSync(dir);
    assert.equal(temps.length, 1);
    assert.match(temps[0]!, TEMP);
    assert.ok(temps[0]!.startsWith('.p.pool.'), temps[0]);
    assert.equal(statSync(join(dir, temps[0]!)).size, 4 * PAGE, 'sized before it is published');
    assert.equal(m.hiddenPath, join(dir, temps[0]!), 'the temporary name, to open another descriptor on');
    m.bytes.set([7, 8, 9], PAGE);
    m.persist(PAGE, 3);
    m.publish();
    assert.equal(m.published, true);
    assert.equal(m.hiddenPath, undefined);
    assert.deepEqual(readdirSync(dir), ['p.pool']);
    assert.deepEqual([...readFileSync(path).subarray(PAGE, PAGE + 3)], [7, 8, 9]);
    m.publish(); // nothing to do
    m.bytes[0] = 1; // still the same mapping, now of the named file
    m.persist(0, 1);
    m.close();
    assert.equal(readFileSync(path)[0], 1);
    throwsCode(() => map(path, { create: { size: PAGE, exclusive: true, publishLater: true } }), 'EEXIST', path);
  });

  it('closing without publish() leaves nothing', () => {
    const dir = freshDir();
    const m = map(join(dir, 'q.pool'), { create: { size: PAGE, exclusive: true, publishLater: true } });
    m.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('two creates of one path at once: separate temporaries; the second publish is EEXIST and replaces nothing', () => {
    const dir = freshDir();
    const path = join(dir, 'r.pool');
    const a = map(path, { create: { size: PAGE, exclusive: true, publishLater: true } });
    const b = map(path, { create: { size: 2 * PAGE, exclusive: true, publishLater: true } });
    const temps = readdirSync(dir);
    assert.equal(temps.length, 2);
    assert.notEqual(temps[0], temps[1]);
    a.bytes[0] = 0xa;
    a.persist(0, 1);
    b.bytes[0] = 0xb;
    b.persist(0, 1);
    a.publish();
    throwsCode(() => b.publish(), 'EEXIST', path);
    assert.equal(b.published, false);
    b.close();
    a.close();
    assert.deepEqual(readdirSync(dir), ['r.pool']);
    assert.equal(readFileSync(path)[0], 0xa);
    assert.equal(statSync(path).size, PAGE);
  });

  it('a file that appears at the path meanwhile is never replaced', () => {
    const dir = freshDir();
    const path = join(dir, 's.pool');
    const m = map(path, { create: { size: PAGE, exclusive: true, publishLater: true } });
    writeFileSync(path, 'not mine');
    throwsCode(() => m.publish(), 'EEXIST', path);
    m.close();
    assert.equal(readFileSync(path, 'utf8'), 'not mine');
    assert.deepEqual(readdirSync(dir), ['s.pool']);
  });

  it('needs an exclusive create (EINVAL otherwise); a 250-byte file name still gets a temporary', () => {
    const dir = freshDir();
    throwsCode(() => map(join(dir, 't.pool'), { create: { size: PAGE, publishLater: true } }), 'EINVAL', 'publishLater');
    throwsCode(() => map(join(dir, 't.pool'), { create: { size: PAGE, exclusive: true, publishLater: 1 as unknown as boolean } }),
      'EINVAL', 'publishLater');
    const long = join(dir, 'x'.repeat(245) + '.pool');
    const m = map(long, { create: { size: PAGE, exclusive: true, publishLater: true } });
    assert.ok(readdirSync(dir)[0]!.length <= 255);
    m.publish();
    m.close();
    assert.ok(existsSync(long));
  });
});

describe('a killed create', () => {
  const fixture = fileURLToPath(new URL('./fixtures/hold-create.ts', import.meta.url));
  const root = fileURLToPath(new URL('../../..', import.meta.url));

  async function startCreate(path: string, size: number): Promise<ReturnType<typeof spawn>> {
    const child = spawn(process.execPath, ['--conditions=ferrite-source', '--import', 'tsx', fixture, path, String(size)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8');
    while (!out.includes('ready')) {
      const [chunk] = (await once(child.stdout!, 'data')) as [string];
      out += chunk;
    }
    return child;
  }

  it('leaves no file at the path; its temporary is kept while its creator lives and removed by the next create after', async () => {
    const dir = freshDir();
    const path = join(dir, 'k.pool');
    const child = await startCreate(path, 16 * PAGE);
    let exited = once(child, 'exit');
    try {
      const [temp] = readdirSync(dir);
      assert.match(temp!, TEMP);
      // A create of the same path while the first lives: it wins the name, and leaves the
      // live create's temporary alone (its lock is held).
      const mine = map(path, { create: { size: PAGE, exclusive: true } });
      mine.close();
      assert.deepEqual(readdirSync(dir).sort(), ['k.pool', temp!].sort());
      child.kill('SIGKILL');
      await exited;
      assert.deepEqual(readdirSync(dir).sort(), ['k.pool', temp!].sort(), 'the killed create left its temporary');
      rmSync(path);
      // The next create that builds a file removes the abandoned temporary.
      map(path, { create: { size: PAGE } }).close();
      assert.deepEqual(readdirSync(dir), ['k.pool']);
    } finally {
      child.kill('SIGKILL');
    }
    // And a create killed with nothing at the path: the path stays free; a retry succeeds.
    rmSync(path);
    const second = await startCreate(path, 16 * PAGE);
    exited = once(second, 'exit');
    second.kill('SIGKILL');
    await exited;
    assert.equal(existsSync(path), false);
    const m = map(path, { create: { size: 2 * PAGE, exclusive: true } });
    assert.equal(m.length, 2 * PAGE);
    m.close();
    assert.deepEqual(readdirSync(dir), ['k.pool']);
  });
});
