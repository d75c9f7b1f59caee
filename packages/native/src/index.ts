/**
 * @ferrite/native: the NVM mapping API in user space. `map` a file, store into its bytes,
 * make ranges durable with `sync` (or `flush` + `drain`, or the batched `flushRanges`),
 * `protect` pages, `unmap`; `openFile` and `createIoQueue` for file-backed durability (pwrite,
 * fdatasync, programs of them run in order off the event loop). See README.md for guarantees
 * and limits.
 */
export { map, unmap, sync, flush, flushRanges, drain, protect, grow, shrink, Mapping, MAX_MAPPING_LENGTH, maxMappingLength } from './mapping.js';
export type { MapOptions, CreateOptions, Protection } from './mapping.js';
export { mediumOf, isTmpfs, defaultPoolDir, cpuFlushInstruction, pageSize } from './medium.js';
export type { Medium } from './medium.js';
export { fileIdentity, flockHolders, flockHoldersOf } from './locks.js';
export type { FileIdentity } from './locks.js';
export { openFile, FileHandle } from './file.js';
export type { OpenFileOptions, OpenFileCreateOptions, FileStats } from './file.js';
export { createIoQueue, NativeIoQueue } from './io-queue.js';
export type { IoQueueStats } from './io-queue.js';
