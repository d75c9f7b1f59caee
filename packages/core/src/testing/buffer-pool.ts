/**
 * A recycler for the large arrays the simulator churns through.
 *
 * A crash-test sweep makes several region-sized arrays per checked state (image, live
 * bytes and media of the recovery region). Fresh allocations of a MiB cost far more than
 * copying a MiB, because every page faults in on first touch; reusing arrays avoids that.
 *
 * Safety: `recycleArray` moves the memory to a new ArrayBuffer by transfer, which detaches
 * every view of the old one (they read as length 0), so recycled memory is never visible
 * through a view its previous owner kept.
 */
import { invariant } from '../errors.js';

/** Arrays smaller than this are cheap to allocate and are not pooled. */
const MIN_POOLED = 64 * 1024;
/** Most arrays of one size kept. */
const MAX_PER_SIZE = 8;
/** Most bytes kept in total, so a sweep over large regions cannot hoard memory. */
const MAX_POOLED_BYTES = 256 * 1024 * 1024;

const pool = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;

/**
 * An array of `length` bytes, recycled when one is available. Its contents are zero when
 * `zeroed`, else unspecified (the caller overwrites all of it).
 */
export function takeArray(length: number, zeroed: boolean): Uint8Array {
  const free = length >= MIN_POOLED ? pool.get(length) : undefined;
  const buffer = free?.pop();
  if (buffer === undefined) return new Uint8Array(length);
  pooledBytes -= length;
  const bytes = new Uint8Array(buffer);
  invariant(bytes.length === length, 'the pool hands out arrays of the asked length');
  if (zeroed) bytes.fill(0);
  return bytes;
}

/**
 * Gives `bytes` (a whole ArrayBuffer of its own) back for reuse. A pooled array's views
 * are all detached first, unless `unshared` says the caller made every view of it and drops
 * them all (the simulator's media and images), which saves the transfer. An array not
 * pooled (small, a view into a larger buffer, or over the pool's limits) is left alone and
 * never reused, so no view ever aliases reused memory.
 */
export function recycleArray(bytes: Uint8Array, unshared = false): void {
  const source = bytes.buffer;
  const length = source.byteLength;
  // Small arrays are cheap to allocate but costly to detach (a transfer costs tens of µs):
  // they are left to the garbage collector, views and all, and never reused.
  if (length < MIN_POOLED || !(source instanceof ArrayBuffer)) return;
  if (bytes.byteOffset !== 0 || bytes.length !== length) return; // a view of something larger
  if (pooledBytes + length > MAX_POOLED_BYTES) return;
  const free = pool.get(length) ?? [];
  if (free.length >= MAX_PER_SIZE) return;
  pool.set(length, free);
  free.push(unshared ? source : structuredClone(source, { transfer: [source] }));
  pooledBytes += length;
}

/**
 * Like `recycleArray`, but always detaches `bytes` (its views read as empty afterwards),
 * pooled or not: for arrays a user may still hold, such as a grown region's old bytes.
 */
export function retireArray(bytes: Uint8Array): void {
  const source = bytes.buffer;
  if (!(source instanceof ArrayBuffer) || source.byteLength === 0) return;
  const pooled = source.byteLength >= MIN_POOLED && bytes.byteOffset === 0 && bytes.length === source.byteLength;
  if (pooled) recycleArray(bytes);
  if (source.byteLength !== 0) structuredClone(source, { transfer: [source] });
}
