export type { Region, Granularity } from './region.js';
export { CACHE_LINE, ATOMIC_WORD, lineStart } from './region.js';
export type { ErrorCode } from './errors.js';
export { FerriteError, PoolFullError, CorruptionError, TooBigError, isFerriteError, invariant, ERROR_CODES } from './errors.js';
export { crc32c } from './checksum.js';
export { fmix32 } from './mix.js';
export { checkRange } from './bounds.js';
export { describeArgument, invalidArgument, readOptions, booleanOption, integerOption, stringOption } from './arguments.js';
