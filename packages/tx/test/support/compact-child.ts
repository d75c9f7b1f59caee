/**
 * Compacts the pool file at argv[2] in a fresh process (cold JIT, as `ferrite compact` runs)
 * and prints the number of entries of map 'm' after it, or the error's code.
 */
import { Store, compactPoolFile, isFerriteError } from '../../src/index.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: compact-child.ts PATH');
try {
  compactPoolFile(path);
  const s = Store.open(path, { readOnly: true });
  process.stdout.write(JSON.stringify({ entries: s.map('m').size }));
  s.close();
} catch (err) {
  process.stdout.write(JSON.stringify({ error: isFerriteError(err) ? err.code : String(err) }));
}
