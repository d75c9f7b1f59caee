// The README's quick start: `node examples/quick-start.mjs` from the repository root (after the
// README's first command, which builds the packages), or from a project that installed them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '@ferrite/tx';

const dir = mkdtempSync(join(tmpdir(), 'ferrite-quick-start-')); // a fresh directory: no clash
try {
  const store = Store.open(join(dir, 'app.pool'), { create: true, size: 8 << 20 });
  const inodes = store.map('inodes');
  const journal = store.queue('journal');
  store.transaction(() => {
    inodes.set('/etc/passwd', { ino: 12, size: 2048 });
    journal.push({ op: 'create', path: '/etc/passwd' });
  }); // durable when it returns; a throw inside rolls both writes back
  console.log(inodes.get('/etc/passwd')); // { ino: 12, size: 2048 }
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
