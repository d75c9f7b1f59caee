// Starts get-worker.ts in a worker thread: tsx's loader registered in this thread first.
import { register } from 'tsx/esm/api';

register();
await import('./get-worker.ts');
