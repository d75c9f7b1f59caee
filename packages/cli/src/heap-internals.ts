/**
 * The few pieces of the heap's format the command needs that `@ferrite/heap` does not export
 * yet: decoding a header copy without opening the pool (so `info` and `check` can describe a
 * file whose header is damaged, and learn its layout name before `Pool.open`, which requires
 * it). Imported from the heap's sources by path and bundled into dist/cli.js by tsup.
 *
 * TODO(heap): export `readHeaderCopy`, `uuidString`, `HEADER_A`, `HEADER_B`, `H_END`,
 * `LOG_HEADER` (or a `Pool.inspectHeader(bytes)`) from @ferrite/heap and import them here.
 */
export { readHeaderCopy, uuidString } from '../../heap/src/header.js';
export { HEADER_A, HEADER_B, H_END, LOG_HEADER, HEADER_COPY_SIZE } from '../../heap/src/layout.js';
