/**
 * The contract between ferrite's heap and the memory it lives in.
 *
 * A `Region` is a run of bytes that may be persistent: the native mapping of a pool file
 * (`@ferrite/native`) or the simulated NVM used for crash testing (`@ferrite/core/testing`).
 * Stores into `bytes` are volatile until the lines they touched have been flushed and a
 * drain has followed; any dirty line may also reach the media earlier, at any moment, and
 * only aligned 8-byte words are failure-atomic (see DESIGN.md, "The persistency model").
 */
export type Granularity =
  /** Persistent memory (DAX or forced): a flush writes back 64-byte lines, a drain fences. */
  | 'cache-line'
  /** A mapped file synced by msync: a flush writes the covering pages to the file, durably. */
  | 'page'
  /**
   * A disk written by write() and fdatasync (only `SimulatedRegion` and `SimulatedDisk` of
   * `@ferrite/core/testing` report it; no mapping does): a flush is a write into the page
   * cache and makes nothing durable, a drain does nothing, and only `persist` /
   * `persistRanges` (fdatasync of the covering pages) are barriers. Code that relies on
   * flush + drain for durability is wrong on it, by design.
   */
  | 'file';

/** Size of a CPU cache line: the unit a cache-line flush writes back. */
export const CACHE_LINE = 64;

/** Size of the failure-atomic unit: an aligned 8-byte word. */
export const ATOMIC_WORD = 8;

export interface Region {
  /**
   * The live bytes, without a copy. After `grow` (or an unmap) a Region may hand out a new
   * array and detach the old one, so hold on to `region.bytes`, not to an old array.
   */
  readonly bytes: Uint8Array;
  /** Length in bytes, equal to `bytes.length` while the region is usable. */
  readonly length: number;
  /**
   * 'cache-line' when flushes are per 64-byte line (DAX or forced), 'page' for msync; 'file'
   * only for the simulated disk (see `Granularity`).
   */
  readonly granularity: Granularity;
  /** True when stores reach persistence by cache flushes (DAX mapping or forcePmem). */
  readonly isPmem: boolean;
  /** False for read-only regions; a store into their bytes throws or faults. */
  readonly writable: boolean;

  /**
   * Starts write-back of every line that overlaps [offset, offset + length). The data is
   * durable only after a following `drain()`.
   * @throws RangeError-like `FerriteError` (code ERANGE) when the range is outside the region.
   */
  flush(offset: number, length: number): void;

  /**
   * Flushes many ranges in one call. `ranges` holds pairs (offset, length); only the first
   * `count` pairs are used (default: all). One crossing into native code per call.
   */
  flushRanges(ranges: ArrayLike<number>, count?: number): void;

  /**
   * Optional: `flushRanges(ranges, count)` then `drain()` in one call — the shape of every
   * commit, so a native region saves a crossing. Same events and same effect as the two calls;
   * callers fall back to them where a region does not define it.
   */
  persistRanges?(ranges: ArrayLike<number>, count?: number): void;

  /** Waits until every flush issued before it has reached the media (sfence). */
  drain(): void;

  /** `flush(offset, length)` then `drain()`, in one call where the implementation can. */
  persist(offset: number, length: number): void;

  /**
   * Optional: makes the region larger, keeping its contents; new bytes read as zero and are
   * durable zeros. After it returns `bytes` is a new array and the old one must not be used.
   * Regions that cannot grow do not define it.
   */
  grow?(newLength: number): void;

  /**
   * Optional: makes the region shorter, giving its tail back (a pool file truncated). The
   * bytes at `newLength` and after are gone, from memory and from the media; the new length is
   * durable when it returns (a crash before leaves the old length, contents unchanged). After
   * it returns `bytes` is a new array and the old one must not be used. The caller must hold
   * nothing there it needs: the heap calls it only for a tail of free chunks that its header
   * already no longer counts. Regions that cannot shrink do not define it.
   */
  shrink?(newLength: number): void;

  /**
   * Optional: pages of the region a fault (SIGBUS) diverted to private memory (a native
   * mapping's guard; see @ferrite/native `Mapping.faults`). A reader whose mapping reached past
   * a truncated end maps the file again rather than keep such pages.
   */
  readonly faults?: number;

  /**
   * Releases the region (unmaps a mapping). Idempotent. Afterwards `bytes` is detached.
   */
  close(): void;

  /**
   * Optional, for regions that STAGE writes (the private view of a pool on an ordinary file):
   * flush and drain there only record what changed, and nothing is durable until `commit`.
   * `commit` makes every range flushed so far durable as ONE atomic step, after every earlier
   * commit; the heap calls it at the end of each transaction, a consistent state. Regions
   * whose flush + drain make data durable (persistent memory, a simulated one) do not define it.
   */
  commit?(): void;
  /**
   * Optional, with `commit`: records the end of a transaction whose durability is deferred
   * (group commit): the promise resolves once a later commit — of this group, at the end of the
   * event-loop turn, or a `commit` — made it durable, and rejects if that commit failed.
   */
  commitLater?(): Promise<void>;
  /**
   * Optional, with `commit`: makes room, before a transaction commits, for a commit of at most
   * `bytes` more changed bytes in `ranges` more ranges (the space of its log record). Throws
   * PoolFullError (ENOSPC) when the file system has no room: the transaction is then rolled
   * back and the pool stays usable.
   */
  reserve?(bytes: number, ranges: number): void;
}

/** Rounds `offset` down to the start of its cache line. */
export function lineStart(offset: number): number {
  return offset - (offset % CACHE_LINE);
}
