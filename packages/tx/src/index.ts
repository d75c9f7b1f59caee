/**
 * @ferrite/tx — the user-facing Store: named, typed persistent collections (hash map, sorted
 * map, queue) with durable, synchronous transactions. See docs/api.md.
 */
export { Store, defaultPoolPath, DEFAULT_POOL_SIZE, DEFAULT_LAYOUT } from './store.js';
export type { MapOptions, StoreOptions, StoreStats, StoreCheckReport, CheckProblem, CollectionInfo, CollectionKind } from './store.js';
export { openPoolFile, createPoolFile, poolFileTarget, walPathOf } from './pool-file.js';
export { backupPoolFile, BACKUP_FINAL_BYTES, BACKUP_MAX_ROUNDS, BACKUP_STEP_BYTES } from './backup.js';
export type { BackupInfo, BackupOptions, BackupProgress } from './backup.js';
export { compactPoolFile, compactTempPath } from './compact.js';
export type { CompactInfo, CompactOptions } from './compact.js';
export type { ShrinkResult } from '@ferrite/heap';
export type { PoolFileOptions } from './pool-file.js';
export { PQueue } from './collections/queue.js';
export { PMap, MAX_EXPECTED_SIZE } from './collections/hash-map.js';
export { PSortedMap } from './collections/sorted-map.js';
export type { RangeOptions } from './collections/sorted-map.js';
// The key codec class and its byte comparison are the store's own: users compare keys with compareKeys.
export { compareKeys, DEFAULT_MAX_KEY_SIZE, MAX_KEY_SIZE_LIMIT } from './codec/keys.js';
export type { Key, KeyPrefix } from './codec/keys.js';
export { DEFAULT_MAX_VALUE_SIZE, MAX_VALUE_SIZE_LIMIT } from './codec/values.js';
export { ValueError, MAX_VALUE_DEPTH, MAX_VALUE_WEIGHT } from './codec/value-walk.js';
export { MAX_NAME_BYTES, MAX_COLLECTIONS } from './registry.js';
export { FerriteError, PoolFullError, TooBigError, CorruptionError, isFerriteError, ERROR_CODES } from '@ferrite/core';
export type { ErrorCode } from '@ferrite/core';
