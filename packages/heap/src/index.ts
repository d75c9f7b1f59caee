/**
 * @ferrite/heap: the pool format, the allocator, undo-log transactions, recovery at open,
 * growth and check(). See README.md.
 */
export { Pool } from './pool.js';
export { setDebugChecks, debugChecks } from './debug.js';
export type { PoolCreateOptions, PoolOpenOptions, PoolStats, ClassStats, DurabilityStats } from './pool.js';
export type { PendingRecovery } from './private-region.js';
export type { ShrinkResult } from './shrink.js';
export { TransactionAbortedError } from './transaction.js';
export type { DrainHook, Transaction } from './transaction.js';
export type { CheckReport, CheckProblem } from './check.js';
export { MAX_ALLOC } from './allocator.js';
export { CLASS_SIZES, MAX_RUN_BLOCK } from './chunks.js';
export { CHUNK_SIZE, FORMAT_VERSION, MAX_LAYOUT_BYTES, MAX_LOG_BYTES, MAX_POOL_SIZE } from './layout.js';
// Format inspection, for tools (the `ferrite` command) that must describe a pool without
// opening it: a damaged header, or a layout name not yet known. Read-only helpers; they never
// throw on damaged bytes (`readHeaderCopy` returns { ok: false, reason }).
export { encodeLayout, readHeaderCopy, stampUuid, uuidString } from './header.js';
export type { CopyStatus, HeaderFields } from './header.js';
export { HEADER_A, HEADER_B, HEADER_COPY_SIZE, H_END, LOG_ENTRIES, LOG_HEADER } from './layout.js';
export { LiveReader, DEFAULT_READ_TIMEOUT_MS } from './live-reader.js';
export type { LiveReaderStats, ReadOp, ReaderSource } from './live-reader.js';
export { regionReaderSource } from './pool.js';
export { READER_WORDS, READER_WORDS_SIZE, SEQ_WORD, EPOCH_WORD, PAUSE_WORD } from './layout.js';
