// Starts reader-worker.ts in a worker thread: registers tsx's loader in this thread first
// (a worker does not inherit the parent's loader hooks on every Node version).
import { register } from 'tsx/esm/api';

register();
await import('./reader-worker.ts');
