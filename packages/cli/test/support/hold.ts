/**
 * Holds a pool open for writing until stdin closes: the "other writer" of the EBUSY test.
 * Prints `ready` once the store is open. Usage: hold.ts POOL LAYOUT
 */
import { Store } from '@ferrite/tx';

const store = Store.open(process.argv[2], { layout: process.argv[3] });
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => {
  store.close();
  process.exit(0);
});
