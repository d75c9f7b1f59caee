import { Buffer } from 'node:buffer';
import { readOptions } from '../arguments.js';
import { checkRange } from '../bounds.js';
import { FerriteError, invariant } from '../errors.js';
import { ATOMIC_WORD, CACHE_LINE, type Granularity, type Region } from '../region.js';
import { recycleArray, retireArray, takeArray } from './buffer-pool.js';
import { Prng } from './prng.js';
import { SimulatedCrash, type CrashEvent, type CrashOn } from './simulated-crash.js';

/**
 * Size of a page: the unit an msync writes back when granularity is 'page', and the default
 * unit of write-back of a 'file' region (`pageSize`).
 */
export const PAGE = 4096;

/** Default failure-atomic unit of a 'file' region (`sectorSize`): a disk sector. */
export const SECTOR = 512;

/** Largest `pageSize` of a 'file' region. */
export const MAX_PAGE_SIZE = 1 << 20;

/**
 * Largest simulated region. The simulator keeps three arrays of this size (live bytes,
 * media, pending lines), so the limit keeps a runaway test from exhausting memory.
 */
export const MAX_SIMULATED_LENGTH = 1 << 30;

/** Where a word (a sector, on a 'file' region) of a crash image comes from. */
export type WordSource = 'media' | 'pending' | 'live';

/**
 * How a crash image picks words from their candidates:
 * - 'media': every in-flight word keeps its media contents (nothing unpersisted survived);
 * - 'live': every in-flight word takes the live bytes (everything survived, as if the
 *   caches had been written back just before the crash);
 * - 'lines': every in-flight line is taken whole from one of its candidates;
 * - 'words': every in-flight 8-byte word independently takes one of its candidates
 *   (lines torn at word boundaries);
 * - 'enumerate': not random: the seed is an index into the list of every distinct
 *   word-level image (see `crashImageCount`), so indexes 0..count-1 give them all.
 *
 * On a 'file' region the unit of write-back is a page and the failure-atomic unit a sector:
 * - 'pages' (also selected by 'lines'): every dirty page wholly reached the disk or not;
 * - 'sectors' (also selected by 'words'): every sector of every dirty page independently
 *   holds its old or its new contents (torn pages);
 * - 'enumerate' indexes every distinct sector-level image.
 * 'pages' and 'sectors' are EINVAL on the other granularities.
 */
export type CrashMode = 'media' | 'live' | 'lines' | 'words' | 'enumerate' | 'pages' | 'sectors';

/** The modes a bare seed selects (all but 'enumerate'). */
export const CRASH_MODES: readonly CrashMode[] = ['media', 'live', 'lines', 'words'];

/**
 * The mode a bare seed selects: `CRASH_MODES[(seed >>> 0) % 4]`, so seeds 0, 1, 2, 3 are
 * 'media', 'live', 'lines', 'words' (and random seeds pick each mode a quarter of the time).
 */
export function crashModeOfSeed(seed: number): CrashMode {
  return CRASH_MODES[(seed >>> 0) % CRASH_MODES.length]!;
}

/**
 * A seeded choice of crash image. `seed` (reduced to an unsigned 32-bit integer) drives
 * the random choices; `mode` defaults to `crashModeOfSeed(seed)`, so seeds 0, 1, 2, 3
 * cover every mode once. With mode 'enumerate', `seed` is instead the image's index
 * (0 to `crashImageCount()` - 1). Equal choices on equal region states give equal images.
 */
export interface CrashChoice {
  seed: number;
  mode?: CrashMode;
}

/**
 * A caller-made crash image: called once per in-flight 8-byte word, in ascending order,
 * with the word's byte offset and whether its line has a pending (flushed, undrained)
 * copy. Returning 'pending' for a word whose line has no pending copy is an EINVAL error.
 * On a 'file' region it is called once per sector of every dirty page instead, in
 * ascending order, with `hasPending` false: 'media' (old) or 'live' (new).
 */
export type WordChooser = (wordOffset: number, hasPending: boolean) => WordSource;

/** Options of `SimulatedRegion`. */
export interface SimulatedRegionOptions {
  /**
   * 'cache-line' (default): `flush` copies each touched 64-byte line aside as pending and
   * `drain` writes pending lines to the media (clwb + sfence).
   * 'page': `flush` models msync: the covering 4096-byte pages go to the media at once
   * (flush and drain in one), and `drain` has no effect beyond being counted.
   * 'file': the region is a disk, its live bytes the page cache. `flush` is a write() (an
   * event, no effect on the media), `persist` / `persistRanges` an fdatasync of the covering
   * pages (one 'drain' event: they reach the media), `drain` has no effect beyond being
   * counted. Any page whose live bytes differ from the media is dirty and may reach the disk
   * at a crash, each of its sectors old or new.
   */
  granularity?: Granularity;
  /** 'file' only: the unit of write-back, a power of two from `sectorSize` to 1 MiB (default 4096). */
  pageSize?: number;
  /** 'file' only: the failure-atomic unit, a power of two from 8 to `pageSize` (default 512). */
  sectorSize?: number;
}

/** A run of bytes, as returned by `unpersisted()`. */
export interface ByteRun {
  offset: number;
  length: number;
}

/** Event counters, as returned by `events`. */
export interface EventCounts {
  readonly flushes: number;
  readonly drains: number;
}

/** The absent pending array (no line was ever flushed). */
const NO_PENDING = new Uint8Array(0);

/** Arrays fromImage and crashRegion hand to the constructor (module-private). */
let handoff: { live: Uint8Array; media: Uint8Array } | undefined;

const WORDS_PER_LINE = CACHE_LINE / ATOMIC_WORD;
// Differing lines are found page by page with a native memcmp first, then line by line
// only inside pages that differ: most of a large region is clean most of the time.
const SCAN_CHUNK = 4096;
/** Flushes up to this many bytes are copied word by word rather than with a subarray. */
const SHORT_COPY = 4 * CACHE_LINE;

/**
 * Simulated non-volatile memory: a `Region` whose durability is modelled, not real.
 *
 * The live bytes B (`bytes`) are an ordinary array that code under test writes freely.
 * Beside it the simulator keeps the media image M (what would survive a power loss now)
 * and the pending lines P (flushed but not yet drained). A crash image starts from M; each
 * *in-flight* 64-byte line (B differs from M, or the line is pending) takes, per aligned
 * 8-byte word, one of its candidates {M, P (if pending), B}, because any dirty line may be
 * evicted to media at any moment and only aligned 8-byte stores are failure-atomic.
 *
 * Every `flush` call (each range of `flushRanges`) is one 'flush' event and every `drain`
 * one 'drain' event; `persist` is a flush event then a drain event. `crashAfter` arms a
 * countdown that throws `SimulatedCrash` before the chosen event takes effect.
 *
 * The model excludes: tearing inside an aligned 8-byte word, media errors other than
 * `failFlushes` (no bit rot, no loss of drained lines), and writers other than the code
 * under test. Only the order of flushes and drains matters, not the order of stores.
 *
 * With granularity 'file' the region is a disk instead (see `SimulatedRegionOptions`):
 * B is the page cache and M the disk, there is no P, a flush is a write() of no effect, a
 * persist an fdatasync of its pages, and each dirty page (B differs from M) may reach the
 * disk at a crash with each of its sectors old or new.
 */
export class SimulatedRegion implements Region {
  readonly granularity: Granularity;
  readonly isPmem: boolean;
  readonly writable = true;
  /**
   * The unit of write-back: `options.pageSize` on a 'file' region; 4096 (the msync page)
   * on the others, whose crash images nevertheless work per 64-byte line.
   */
  readonly pageSize: number;
  /** The failure-atomic unit: `options.sectorSize` on a 'file' region, else 8 (a word). */
  readonly sectorSize: number;

  private _length: number;
  /** What users see; detached by grow and close. */
  private _bytes: Uint8Array;
  /** B: the live bytes, kept internally so crash images work after close. */
  private live: Uint8Array;
  /**
   * True from a crash until `clearCrash()`: `live` is then a copy of the bytes taken at the
   * crash instant, and `_bytes` (the array code under test holds) is no longer B. Code that
   * catches the SimulatedCrash may go on storing (an abort path restoring memory, say); a real
   * machine would have stopped, so those stores must not reach any crash image.
   */
  private frozen = false;
  /** M: the media image. */
  private mediaBytes: Uint8Array;
  /**
   * P: pending copies of flushed lines, valid only at lines flagged in `pendingFlags`.
   * Empty until the first cache-line flush: regions that are only read never pay for it.
   */
  private pending: Uint8Array = NO_PENDING;
  /** One byte per line, 1 when the line is pending (allocated with `pending`). */
  private pendingFlags: Uint8Array<ArrayBufferLike> = NO_PENDING;
  /** The pending lines, in flush order (a list beside the flags: drains visit only them). */
  private pendingList: number[] = [];
  // Cached views, set by setArrays.
  private liveBuf!: Buffer;
  private mediaBuf!: Buffer;
  private live32!: Int32Array;
  private media32!: Int32Array;
  private pending32!: Int32Array;
  private closed = false;
  private disposed = false;

  private flushCount = 0;
  private drainCount = 0;
  private crashRemaining = 0;
  private crashOn: CrashOn = 'any';
  private crashState: SimulatedCrash | undefined = undefined;
  private failRemaining = 0;
  private failError: Error | undefined = undefined;

  /**
   * Called at every flush and drain event, before it takes effect (once a crash countdown let
   * it through): a test's window on the states between a writer's steps — a reader interleaved
   * there. It must not flush or drain this region. Default: none.
   */
  onEvent: ((kind: CrashEvent) => void) | undefined = undefined;

  /**
   * Creates a zero-filled region of `length` bytes whose media is zero too (nothing is
   * in flight). `length` must be a multiple of 8 and at most `MAX_SIMULATED_LENGTH`.
   */
  constructor(length: number, options: SimulatedRegionOptions = {}) {
    checkLength('SimulatedRegion', length);
    const model = checkModel('SimulatedRegion', options);
    const granularity = model.granularity;
    this.granularity = granularity;
    this.isPmem = granularity === 'cache-line';
    this.pageSize = model.pageSize;
    this.sectorSize = model.sectorSize;
    // fromImage and crashRegion hand over arrays they filled (see withArrays).
    const given = handoff;
    handoff = undefined;
    invariant(given === undefined || given.live.length === length, 'handed-over arrays fit the length');
    const live = given?.live ?? takeArray(length, true);
    const media = given?.media ?? takeArray(length, true);
    this._length = length;
    this.live = live;
    this._bytes = live;
    this.mediaBytes = media;
    this.setArrays(live, media, NO_PENDING);
  }

  /** A region over `live` and `media`, which the caller gives up. */
  private static withArrays(live: Uint8Array, media: Uint8Array, options: SimulatedRegionOptions): SimulatedRegion {
    handoff = { live, media };
    try {
      return new SimulatedRegion(live.length, options);
    } finally {
      handoff = undefined;
    }
  }

  /**
   * The options that make a region of the same model (granularity, and on a 'file' region
   * its page and sector sizes): what `fromImage` needs to reopen a crash image of this one.
   */
  get options(): SimulatedRegionOptions {
    if (this.granularity !== 'file') return { granularity: this.granularity };
    return { granularity: 'file', pageSize: this.pageSize, sectorSize: this.sectorSize };
  }

  /** Installs new arrays (creation, grow, close, adoption) with their cached views. */
  private setArrays(live: Uint8Array, media: Uint8Array, pending: Uint8Array): void {
    invariant(live.length === media.length, 'B and M have one length');
    invariant(pending.length === 0 || pending.length === live.length, 'P is absent or as long as B');
    this._length = live.length;
    this.live = live;
    this.mediaBytes = media;
    this.pending = pending;
    this.liveBuf = bufferOf(live);
    this.mediaBuf = bufferOf(media);
    this.live32 = int32Of(live);
    this.media32 = int32Of(media);
    this.pending32 = int32Of(pending);
  }

  /**
   * A region whose live bytes and media are both a copy of `image` (nothing in flight):
   * what a pool file looks like when it is opened again after a crash.
   */
  static fromImage(image: Uint8Array, options: SimulatedRegionOptions = {}): SimulatedRegion {
    checkLength('fromImage', image.length);
    checkModel('fromImage', options); // before taking arrays, so a bad call leaks nothing
    const live = takeArray(image.length, false);
    live.set(image);
    const media = takeArray(image.length, false);
    media.set(image);
    return SimulatedRegion.withArrays(live, media, options);
  }

  /** The live bytes. `grow` and `close` detach the old array; re-read this after them. */
  get bytes(): Uint8Array {
    return this._bytes;
  }

  get length(): number {
    return this._length;
  }

  /** The crash that struck this region, until `clearCrash()`; undefined if none. */
  get crashed(): SimulatedCrash | undefined {
    return this.crashState;
  }

  /** Events counted since creation or the last `resetEvents()`; a fresh object each time. */
  get events(): EventCounts {
    return { flushes: this.flushCount, drains: this.drainCount };
  }

  /** Sets both event counters to zero; an armed `crashAfter` countdown is not changed. */
  resetEvents(): void {
    this.flushCount = 0;
    this.drainCount = 0;
  }

  /**
   * Arms a crash: the `n`-th counted event from now (1-based; counting flushes, drains or
   * both per `options.on`, default 'any') throws `SimulatedCrash` before it takes effect.
   * From then on every flush and drain throws `SimulatedCrash` too (a dead machine makes
   * no progress) until `clearCrash()`. Calling it again replaces the countdown.
   */
  crashAfter(n: number, options: { on?: CrashOn } = {}): void {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new FerriteError('EINVAL', `crashAfter: n must be a positive integer, got ${String(n)}`);
    }
    const on = options.on ?? 'any';
    if (on !== 'any' && on !== 'flush' && on !== 'drain') {
      throw new FerriteError('EINVAL', `crashAfter: unknown event kind ${String(on)}`);
    }
    this.crashRemaining = n;
    this.crashOn = on;
  }

  /** Disarms any countdown and forgets a crash that struck, so flush and drain work again. */
  clearCrash(): void {
    this.crashRemaining = 0;
    this.crashState = undefined;
    this.thawLive();
  }

  /** At a crash: B becomes a copy of the live bytes as they are at this instant. */
  private freezeLive(): void {
    invariant(!this.frozen, 'a region crashes once until clearCrash');
    const copy = takeArray(this._length, false);
    copy.set(this.live);
    this.setArrays(copy, this.mediaBytes, this.pending);
    this.frozen = true;
  }

  /** After clearCrash: B is again the array code under test writes (unless it was closed). */
  private thawLive(): void {
    if (!this.frozen) return;
    this.frozen = false;
    if (this.closed) return; // the user's array is detached; the frozen copy stays B
    const copy = this.live;
    this.setArrays(this._bytes, this.mediaBytes, this.pending);
    recycleArray(copy);
  }

  /**
   * Fault injection (the msync EIO model): the next `n` calls of flush, flushRanges or
   * persist throw without taking effect and without being counted as events. They throw
   * `error` if given, else a `FerriteError` with code 'EIO'. `n = 0` cancels.
   */
  failFlushes(n: number, error?: Error): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new FerriteError('EINVAL', `failFlushes: n must be a non-negative integer, got ${String(n)}`);
    }
    this.failRemaining = n;
    this.failError = error;
  }

  /**
   * Flushes the lines (or, for 'page', writes the pages) overlapping the range. One event.
   * On a 'file' region: a write() system call, one 'flush' event and no effect on the media.
   */
  flush(offset: number, length: number): void {
    this.checkOpen('flush');
    checkRange('flush', offset, length, this._length);
    this.maybeFail('flush');
    this.event('flush');
    this.doFlush(offset, length);
  }

  /** Flushes the first `count` (offset, length) pairs of `ranges`: one event per range. */
  flushRanges(ranges: ArrayLike<number>, count?: number): void {
    this.checkOpen('flushRanges');
    const pairs = count ?? Math.floor(ranges.length / 2);
    if (!Number.isSafeInteger(pairs) || pairs < 0 || pairs * 2 > ranges.length) {
      throw new FerriteError('EINVAL', `flushRanges: count ${String(count)} does not fit ${ranges.length} numbers`);
    }
    // Validate every range before any takes effect, so a bad call changes nothing.
    for (let i = 0; i < pairs; i++) checkRange('flushRanges', ranges[2 * i]!, ranges[2 * i + 1]!, this._length);
    this.maybeFail('flushRanges');
    for (let i = 0; i < pairs; i++) {
      this.event('flush');
      this.doFlush(ranges[2 * i]!, ranges[2 * i + 1]!);
    }
  }

  /**
   * `flushRanges(ranges, count)` then `drain()`: one flush event per range, then a drain event.
   * On a 'file' region: one fdatasync of the pages covering every range (one 'drain' event).
   */
  persistRanges(ranges: ArrayLike<number>, count?: number): void {
    if (this.granularity === 'file') {
      this.syncRanges(ranges, count);
      return;
    }
    this.flushRanges(ranges, count);
    this.drain();
  }

  /** Writes every pending line to the media. One event. On a 'file' region: no effect. */
  drain(): void {
    this.checkOpen('drain');
    this.event('drain');
    this.doDrain();
  }

  /**
   * `flush(offset, length)` then `drain()`: a flush event, then a drain event. On a 'file'
   * region: an fdatasync of the pages covering the range, one 'drain' event; those pages
   * (their live bytes) reach the media, no other page does.
   */
  persist(offset: number, length: number): void {
    this.checkOpen('persist');
    checkRange('persist', offset, length, this._length);
    this.maybeFail('persist');
    if (this.granularity === 'file') {
      this.event('drain');
      this.syncPages(offset, length);
      return;
    }
    this.event('flush');
    this.doFlush(offset, length);
    this.event('drain');
    this.doDrain();
  }

  /**
   * Grows the region to `newLength` bytes (a multiple of 8, at least the current length).
   * Contents, media and pending lines are kept; the new bytes are zero and durable. The
   * old `bytes` array is detached (length 0), as an unmap would make it unusable.
   */
  grow(newLength: number): void {
    this.checkOpen('grow');
    if (this.crashState !== undefined) throw this.crashState; // a dead machine makes no progress
    checkLength('grow', newLength);
    if (newLength < this._length) {
      throw new FerriteError('EINVAL', `grow: new length ${newLength} is below the current ${this._length}`);
    }
    const old = this._length;
    const live = takeArray(newLength, false);
    live.set(this.live);
    live.fill(0, old);
    const media = takeArray(newLength, false);
    media.set(this.mediaBytes);
    media.fill(0, old);
    let pending: Uint8Array = NO_PENDING;
    if (this.pending.length > 0) {
      pending = takeArray(newLength, false);
      pending.set(this.pending);
      const flags = new Uint8Array(Math.ceil(newLength / CACHE_LINE));
      flags.set(this.pendingFlags);
      this.pendingFlags = flags;
    }
    // The old live array must be detached (the user may hold it); the others only ever
    // had views the simulator made, which setArrays replaces.
    retireArray(this.live);
    recycleArray(this.mediaBytes, true);
    recycleArray(this.pending, true);
    this.setArrays(live, media, pending);
    this._bytes = live;
  }

  /**
   * Truncates the region to `newLength` bytes (a multiple of 8, at most the current length),
   * as ftruncate followed by fsync gives a file's tail back. One 'drain' event: a crash that
   * strikes it leaves the region as it was; once it returns, the bytes past `newLength` are
   * gone from the live bytes, the pending lines and the media alike (a crash image is
   * `newLength` bytes long). The old `bytes` array is detached, as `grow` does. Truncating to
   * the current length does nothing (no event).
   */
  shrink(newLength: number): void {
    this.checkOpen('shrink');
    if (this.crashState !== undefined) throw this.crashState; // a dead machine makes no progress
    checkLength('shrink', newLength);
    if (newLength > this._length) {
      throw new FerriteError('EINVAL', `shrink: new length ${newLength} is above the current ${this._length}`);
    }
    if (newLength === this._length) return;
    this.event('drain');
    const live = takeArray(newLength, false);
    live.set(this.live.subarray(0, newLength));
    const media = takeArray(newLength, false);
    media.set(this.mediaBytes.subarray(0, newLength));
    let pending: Uint8Array = NO_PENDING;
    if (this.pending.length > 0) {
      pending = takeArray(newLength, false);
      pending.set(this.pending.subarray(0, newLength));
      const lines = Math.ceil(newLength / CACHE_LINE);
      this.pendingFlags = this.pendingFlags.slice(0, lines);
      // Lines past the end are gone with their pending copies; a line cut in two keeps its head.
      this.pendingList = this.pendingList.filter((line) => line < lines);
    }
    retireArray(this.live);
    recycleArray(this.mediaBytes, true);
    recycleArray(this.pending, true);
    this.setArrays(live, media, pending);
    this._bytes = live;
  }

  /**
   * Closes the region: `bytes` is detached and flush/drain/persist/grow throw ECLOSED.
   * Nothing becomes durable by closing (as with munmap on pmem); `crashImage`, `media`
   * and `unpersisted` keep working, so a test may crash a region its code closed.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.frozen) {
      // B is already a copy only the simulator holds: just detach the user's array.
      retireArray(this._bytes);
      this._bytes = new Uint8Array(0);
      return;
    }
    // Move the contents to a buffer only the simulator holds, detaching the user's array.
    const kept = new Uint8Array(structuredClone(this.live.buffer as ArrayBuffer, { transfer: [this.live.buffer as ArrayBuffer] }));
    invariant(this._bytes.length === 0, 'close detaches the live array');
    this.setArrays(kept, this.mediaBytes, this.pending);
  }

  /**
   * Closes the region and gives its memory back to the simulator for reuse by later
   * regions and images (a crash sweep makes thousands). Afterwards every method throws
   * ECLOSED. Views of its bytes the caller kept either read as empty (memory that is
   * reused is detached first) or keep the old contents; they never alias reused memory.
   * Idempotent.
   */
  dispose(): void {
    if (this.disposed) return;
    // Not close(): its transfer would cost as much as the reuse saves on small regions.
    this.closed = true;
    this.disposed = true;
    this.pendingList = [];
    this.pendingFlags = NO_PENDING;
    const { live, mediaBytes, pending } = this;
    if (this.frozen && this._bytes !== live) recycleArray(this._bytes);
    this.frozen = false;
    this.setArrays(NO_PENDING, NO_PENDING, NO_PENDING);
    this._bytes = NO_PENDING;
    this._length = 0;
    // The live array may have views the user made; media and pending only had ours.
    recycleArray(live);
    recycleArray(mediaBytes, true);
    recycleArray(pending, true);
  }

  /**
   * A copy of the media image, what is durable now: all of it, or the `length` bytes at
   * `offset` (ERANGE outside the region).
   */
  media(offset = 0, length = this._length - offset): Uint8Array {
    this.checkAlive('media');
    if (offset === 0 && length === this._length) return copyOf(this.mediaBytes);
    checkRange('media', offset, length, this._length);
    return this.mediaBytes.slice(offset, offset + length);
  }

  /**
   * The in-flight bytes: lines written since they were last made durable, or flushed and
   * not yet drained, merged into ascending runs of whole lines (the last run is clipped
   * to the region's end). On a 'file' region: the dirty pages (live differs from media).
   */
  unpersisted(): ByteRun[] {
    this.checkAlive('unpersisted');
    const runs: ByteRun[] = [];
    const file = this.granularity === 'file';
    const unit = file ? this.pageSize : CACHE_LINE;
    for (const line of file ? this.dirtyPages() : this.inflightLines()) {
      const offset = line * unit;
      const length = Math.min(unit, this._length - offset);
      const last = runs[runs.length - 1];
      if (last !== undefined && last.offset + last.length === offset) last.length += length;
      else runs.push({ offset, length });
    }
    return runs;
  }

  /**
   * An image a crash at this moment may leave on the media: M, with every in-flight word
   * taken from one of its candidates as `choice` decides (a seed, a `CrashChoice`, or a
   * `WordChooser`). Deterministic: equal choices on equal states give equal images.
   * The region itself is not changed.
   */
  crashImage(choice: number | CrashChoice | WordChooser): Uint8Array {
    this.checkAlive('crashImage');
    if (this.granularity === 'file') return this.fileImage(choice);
    if (typeof choice === 'function') {
      const out = copyOf(this.mediaBytes);
      this.applyChooser(out, choice);
      return out;
    }
    const { seed, mode } = normalizeChoice(choice, this.granularity);
    // 'media' and 'live' need no scan: clean lines have B == M, so the whole image is M or B.
    if (mode === 'enumerate') return this.enumeratedImage(seed);
    if (mode === 'media') return copyOf(this.mediaBytes);
    if (mode === 'live') return copyOf(this.live);
    const out = copyOf(this.mediaBytes);
    this.applySeeded(out, seed, mode === 'lines');
    return out;
  }

  /**
   * `SimulatedRegion.fromImage(this.crashImage(choice))` without the second copy, with
   * this region's granularity: the region recovery code opens after a crash.
   */
  crashRegion(choice: number | CrashChoice | WordChooser): SimulatedRegion {
    const image = this.crashImage(choice);
    return SimulatedRegion.withArrays(image, copyOf(image), this.options);
  }

  /**
   * How many distinct images a crash now may leave, counting word by word: the product,
   * over in-flight words, of their distinct candidate values (1 to 3). Returns
   * `limit + 1` when the count exceeds `limit` (it grows as 2^words). When it is small,
   * `crashImage({ seed: i, mode: 'enumerate' })` for i in 0..count-1 checks every image
   * the model allows; index 0 is the media image. On a 'file' region: 2^k for k sectors
   * whose live bytes differ from the media.
   */
  crashImageCount(limit: number): number {
    this.checkAlive('crashImageCount');
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new FerriteError('EINVAL', `crashImageCount: limit must be a non-negative integer, got ${String(limit)}`);
    }
    let count = 1;
    if (this.granularity === 'file') {
      for (let k = this.dirtySectors().length; k > 0; k--) {
        count *= 2;
        if (count > limit) return limit + 1;
      }
      return count;
    }
    for (const sources of this.choiceWords().sources) {
      count *= sources.length;
      if (count > limit) return limit + 1;
    }
    return count;
  }

  /**
   * Every distinct line-granular crash image: each in-flight line wholly takes one of its
   * distinct candidates (M, P, B), so k lines with two candidates each give 2^k images,
   * starting with the all-media image. The state is captured when iteration starts. On a
   * 'file' region the unit is the page: each dirty page wholly old or wholly new.
   * @throws FerriteError ERANGE when more than `maxLines` lines (pages) have two or more candidates.
   */
  *crashImages(options: { maxLines: number }): Generator<Uint8Array, void, undefined> {
    const maxLines = options.maxLines;
    if (!Number.isSafeInteger(maxLines) || maxLines < 0) {
      throw new FerriteError('EINVAL', `crashImages: maxLines must be a non-negative integer, got ${String(maxLines)}`);
    }
    this.checkAlive('crashImages');
    const base = this.mediaBytes.slice();
    const offsets: number[] = [];
    const candidates: Uint8Array[][] = [];
    if (this.granularity === 'file') {
      for (const page of this.dirtyPages()) {
        const start = page * this.pageSize;
        const end = Math.min(start + this.pageSize, this._length);
        offsets.push(start);
        candidates.push([this.mediaBytes.slice(start, end), this.live.slice(start, end)]);
      }
    } else for (const line of this.inflightLines()) {
      const start = line * CACHE_LINE;
      const end = Math.min(start + CACHE_LINE, this._length);
      const m = this.mediaBytes.subarray(start, end);
      const options: Uint8Array[] = [m];
      if (this.isPending(line)) {
        const p = this.pending.subarray(start, end);
        if (!sameBytes(p, m)) options.push(p.slice());
      }
      const b = this.live.subarray(start, end);
      if (!options.some((o) => sameBytes(o, b))) options.push(b.slice());
      if (options.length > 1) {
        offsets.push(start);
        candidates.push(options);
      }
    }
    if (offsets.length > maxLines) {
      const units = this.granularity === 'file' ? 'pages' : 'lines';
      throw new FerriteError(
        'ERANGE',
        `crashImages: ${offsets.length} ${units} in flight exceed maxLines ${maxLines}`,
      );
    }
    const digits = new Array<number>(offsets.length).fill(0);
    for (;;) {
      const out = base.slice();
      for (let i = 0; i < offsets.length; i++) out.set(candidates[i]![digits[i]!]!, offsets[i]!);
      yield out;
      // Odometer increment over the candidate indexes.
      let i = 0;
      while (i < digits.length) {
        digits[i]!++;
        if (digits[i]! < candidates[i]!.length) break;
        digits[i] = 0;
        i++;
      }
      if (i === digits.length) return;
    }
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new FerriteError('ECLOSED', `${what}: the simulated region is closed`);
  }

  private checkAlive(what: string): void {
    if (this.disposed) throw new FerriteError('ECLOSED', `${what}: the simulated region was disposed`);
  }

  private maybeFail(what: string): void {
    if (this.failRemaining === 0) return;
    this.failRemaining--;
    throw this.failError ?? new FerriteError('EIO', `${what}: injected I/O error (failFlushes)`);
  }

  /** Counts one event, or throws the crash that strikes before it. */
  private event(kind: CrashEvent): void {
    // A dead machine makes no progress: every later event throws the same crash again
    // (one object, no new stack capture: code under test may retry many times).
    if (this.crashState !== undefined) throw this.crashState;
    if (this.crashRemaining > 0 && (this.crashOn === 'any' || this.crashOn === kind)) {
      this.crashRemaining--;
      if (this.crashRemaining === 0) {
        const struck = new SimulatedCrash(kind, this.flushCount + this.drainCount + 1);
        this.freezeLive();
        this.crashState = struck;
        throw struck;
      }
    }
    if (this.onEvent !== undefined) this.onEvent(kind);
    if (kind === 'flush') this.flushCount++;
    else this.drainCount++;
  }

  private doFlush(offset: number, length: number): void {
    // A write() on a 'file' region: the bytes are in the page cache (the live bytes) already.
    if (length === 0 || this.granularity === 'file') return;
    if (this.granularity === 'page') {
      // msync: the covering pages reach the media when the call returns.
      const start = offset - (offset % PAGE);
      const end = Math.min(this._length, Math.ceil((offset + length) / PAGE) * PAGE);
      this.mediaBytes.set(this.live.subarray(start, end), start);
      return;
    }
    const first = Math.floor(offset / CACHE_LINE);
    const last = Math.floor((offset + length - 1) / CACHE_LINE);
    const start = first * CACHE_LINE;
    const end = Math.min(this._length, (last + 1) * CACHE_LINE);
    if (this.pending.length === 0) {
      this.setArrays(this.live, this.mediaBytes, takeArray(this._length, false));
      this.pendingFlags = new Uint8Array(Math.ceil(this._length / CACHE_LINE));
    }
    if (end - start <= SHORT_COPY) {
      // Short flushes dominate; a word loop avoids allocating a subarray per call.
      const live32 = this.live32;
      const pending32 = this.pending32;
      for (let i = start >> 2; i < end >> 2; i++) pending32[i] = live32[i]!;
    } else {
      this.pending.set(this.live.subarray(start, end), start);
    }
    const flags = this.pendingFlags;
    for (let line = first; line <= last; line++) {
      if (flags[line] === 1) continue;
      flags[line] = 1;
      this.pendingList.push(line);
    }
  }

  private doDrain(): void {
    const list = this.pendingList;
    if (list.length === 0) return;
    const flags = this.pendingFlags;
    const media32 = this.media32;
    const pending32 = this.pending32;
    const lengthInts = this._length >> 2;
    for (let k = 0; k < list.length; k++) {
      const line = list[k]!;
      const first = line * (CACHE_LINE >> 2);
      const end = Math.min(first + (CACHE_LINE >> 2), lengthInts);
      for (let i = first; i < end; i++) media32[i] = pending32[i]!;
      flags[line] = 0;
    }
    list.length = 0;
  }

  /** True when `line` has a pending (flushed, undrained) copy. */
  private isPending(line: number): boolean {
    return this.pendingList.length > 0 && this.pendingFlags[line] === 1;
  }

  /** Ascending indexes of lines where B differs from M or a pending copy exists. */
  private inflightLines(): number[] {
    const lines: number[] = [];
    const length = this._length;
    for (let chunk = 0; chunk < length; chunk += SCAN_CHUNK) {
      const chunkEnd = Math.min(chunk + SCAN_CHUNK, length);
      if (this.liveBuf.compare(this.mediaBuf, chunk, chunkEnd, chunk, chunkEnd) === 0) continue;
      for (let start = chunk; start < chunkEnd; start += CACHE_LINE) {
        // Exact 32-bit compares. Not float64 (half the iterations): -0 === +0, so a store of
        // the word 0x8000000000000000 over zero would look clean and never be lost in an image.
        if (this.lineDiffers(start, Math.min(start + CACHE_LINE, chunkEnd))) lines.push(start / CACHE_LINE);
      }
    }
    if (this.pendingList.length === 0) return lines;
    // Merge the sorted differing lines with the sorted pending ones, without duplicates.
    const pendingSorted = [...this.pendingList].sort((a, b) => a - b);
    const merged: number[] = [];
    let i = 0;
    let j = 0;
    while (i < lines.length || j < pendingSorted.length) {
      const a = i < lines.length ? lines[i]! : Infinity;
      const b = j < pendingSorted.length ? pendingSorted[j]! : Infinity;
      merged.push(Math.min(a, b));
      if (a <= b) i++;
      if (b <= a) j++;
    }
    return merged;
  }

  /** Exact comparison of B and M over [start, end). */
  private lineDiffers(start: number, end: number): boolean {
    const live32 = this.live32;
    const media32 = this.media32;
    for (let i = start >> 2; i < end >> 2; i++) if (live32[i] !== media32[i]) return true;
    return false;
  }

  /**
   * The in-flight words with two or more distinct candidates, ascending, each with its
   * candidates (as int32 views) in the order media, pending, live, duplicates dropped.
   */
  private choiceWords(): { at: number[]; sources: Int32Array[][] } {
    const at: number[] = [];
    const sources: Int32Array[][] = [];
    const { media32, pending32, live32 } = this;
    for (const line of this.inflightLines()) {
      const hasPending = this.isPending(line);
      const firstInt = (line * CACHE_LINE) >> 2;
      const endInt = Math.min(this._length, (line + 1) * CACHE_LINE) >> 2;
      for (let i = firstInt; i < endInt; i += 2) {
        const list = [media32];
        const pendingDiffers = hasPending && !sameWord32(pending32, media32, i);
        if (pendingDiffers) list.push(pending32);
        if (!sameWord32(live32, media32, i) && !(pendingDiffers && sameWord32(live32, pending32, i))) list.push(live32);
        if (list.length > 1) {
          at.push(i);
          sources.push(list);
        }
      }
    }
    return { at, sources };
  }

  /** The `index`-th distinct word-level image: `index` read in mixed radix, word by word. */
  private enumeratedImage(index: number): Uint8Array {
    if (index < 0) throw new FerriteError('EINVAL', `crashImage: enumerate index must be non-negative, got ${index}`);
    const { at, sources } = this.choiceWords();
    const out = copyOf(this.mediaBytes);
    const out32 = int32Of(out);
    let rest = index;
    for (let w = 0; w < at.length && rest > 0; w++) {
      const radix = sources[w]!.length;
      const digit = rest % radix;
      rest = Math.floor(rest / radix);
      if (digit === 0) continue;
      const src = sources[w]![digit]!;
      const i = at[w]!;
      out32[i] = src[i]!;
      out32[i + 1] = src[i + 1]!;
    }
    if (rest > 0) {
      recycleArray(out, true);
      throw new FerriteError('ERANGE', `crashImage: enumerate index ${index} is beyond the distinct images (see crashImageCount)`);
    }
    return out;
  }

  private applySeeded(out: Uint8Array, seed: number, wholeLines: boolean): void {
    const prng = new Prng(seed);
    const out32 = int32Of(out);
    const live32 = this.live32;
    const pending32 = this.pending32;
    // `out` starts as M, so choosing 'media' costs nothing. One 32-bit draw per line: one
    // bit per word when the candidates are {M, B}, four bits (mod 3) when they are {M, P, B}.
    for (const line of this.inflightLines()) {
      const hasPending = this.isPending(line);
      const firstInt = (line * CACHE_LINE) >> 2;
      const endInt = Math.min(this._length, (line + 1) * CACHE_LINE) >> 2;
      let bits = prng.nextU32();
      if (wholeLines) {
        const pick = bits % (hasPending ? 3 : 2);
        if (pick === 0) continue;
        const src = pick === 2 || !hasPending ? live32 : pending32;
        for (let i = firstInt; i < endInt; i++) out32[i] = src[i]!;
        continue;
      }
      if (!hasPending) {
        for (let i = firstInt; i < endInt; i += 2, bits >>>= 1) {
          if ((bits & 1) === 0) continue;
          out32[i] = live32[i]!;
          out32[i + 1] = live32[i + 1]!;
        }
        continue;
      }
      for (let i = firstInt; i < endInt; i += 2, bits >>>= 4) {
        const pick = (bits & 15) % 3;
        if (pick === 0) continue;
        const src = pick === 1 ? pending32 : live32;
        out32[i] = src[i]!;
        out32[i + 1] = src[i + 1]!;
      }
    }
  }

  private applyChooser(out: Uint8Array, choose: WordChooser): void {
    const out32 = int32Of(out);
    for (const line of this.inflightLines()) {
      const hasPending = this.isPending(line);
      const firstInt = (line * CACHE_LINE) >> 2;
      const endInt = Math.min(this._length, (line + 1) * CACHE_LINE) >> 2;
      for (let i = firstInt; i < endInt; i += 2) {
        const source = choose(i << 2, hasPending);
        let src: Int32Array;
        if (source === 'media') src = this.media32;
        else if (source === 'live') src = this.live32;
        else if (source === 'pending' && hasPending) src = this.pending32;
        else {
          throw new FerriteError('EINVAL', `crashImage: chooser returned ${String(source)} for word at ${i << 2}`);
        }
        out32[i] = src[i]!;
        out32[i + 1] = src[i + 1]!;
      }
    }
  }

  // ---- The 'file' model: live bytes = page cache, media = disk. ----

  /** fdatasync of the pages covering [offset, offset + length): they reach the media. */
  private syncPages(offset: number, length: number): void {
    if (length === 0) return;
    const start = offset - (offset % this.pageSize);
    const end = Math.min(this._length, Math.ceil((offset + length) / this.pageSize) * this.pageSize);
    this.mediaBytes.set(this.live.subarray(start, end), start);
  }

  /** `persistRanges` on a 'file' region: one fdatasync of the pages covering every range. */
  private syncRanges(ranges: ArrayLike<number>, count: number | undefined): void {
    this.checkOpen('persistRanges');
    const pairs = count ?? Math.floor(ranges.length / 2);
    if (!Number.isSafeInteger(pairs) || pairs < 0 || pairs * 2 > ranges.length) {
      throw new FerriteError('EINVAL', `persistRanges: count ${String(count)} does not fit ${ranges.length} numbers`);
    }
    for (let i = 0; i < pairs; i++) checkRange('persistRanges', ranges[2 * i]!, ranges[2 * i + 1]!, this._length);
    this.maybeFail('persistRanges');
    this.event('drain');
    for (let i = 0; i < pairs; i++) this.syncPages(ranges[2 * i]!, ranges[2 * i + 1]!);
  }

  /**
   * Ascending indexes of the dirty pages: those whose live bytes differ from the media.
   * Whether a page was written through `flush` does not matter: the kernel writes back
   * pages, not calls, so any dirty page may reach the disk.
   */
  private dirtyPages(): number[] {
    const pages: number[] = [];
    const size = this.pageSize;
    for (let start = 0; start < this._length; start += size) {
      const end = Math.min(start + size, this._length);
      if (this.liveBuf.compare(this.mediaBuf, start, end, start, end) !== 0) pages.push(start / size);
    }
    return pages;
  }

  /** Ascending byte offsets of the sectors whose live bytes differ from the media. */
  private dirtySectors(): number[] {
    const sectors: number[] = [];
    for (const page of this.dirtyPages()) {
      const start = page * this.pageSize;
      const end = Math.min(start + this.pageSize, this._length);
      for (let s = start; s < end; s += this.sectorSize) {
        if (this.lineDiffers(s, Math.min(s + this.sectorSize, end))) sectors.push(s);
      }
    }
    return sectors;
  }

  /** Copies the live sector at `start` into `out` (clipped to the region's end). */
  private takeLiveSector(out32: Int32Array, start: number): void {
    const live32 = this.live32;
    const end = Math.min(start + this.sectorSize, this._length) >> 2;
    for (let i = start >> 2; i < end; i++) out32[i] = live32[i]!;
  }

  /**
   * A crash image of a 'file' region: the media, with each dirty page reaching the disk or
   * not and, when it does, each of its sectors old or new, as `choice` decides.
   */
  private fileImage(choice: number | CrashChoice | WordChooser): Uint8Array {
    if (typeof choice === 'function') {
      const out = copyOf(this.mediaBytes);
      const out32 = int32Of(out);
      for (const page of this.dirtyPages()) {
        const start = page * this.pageSize;
        const end = Math.min(start + this.pageSize, this._length);
        for (let s = start; s < end; s += this.sectorSize) {
          const source = choice(s, false);
          if (source === 'live') this.takeLiveSector(out32, s);
          else if (source !== 'media') {
            recycleArray(out, true);
            throw new FerriteError('EINVAL', `crashImage: chooser returned ${String(source)} for the sector at ${s} of a 'file' region`);
          }
        }
      }
      return out;
    }
    const { seed, mode } = normalizeChoice(choice, 'file');
    if (mode === 'media') return copyOf(this.mediaBytes);
    if (mode === 'live') return copyOf(this.live);
    const out = copyOf(this.mediaBytes);
    const out32 = int32Of(out);
    if (mode === 'enumerate') {
      if (seed < 0) {
        recycleArray(out, true);
        throw new FerriteError('EINVAL', `crashImage: enumerate index must be non-negative, got ${seed}`);
      }
      // Bit k of the index says whether the k-th differing sector is new; 0 is the media.
      const sectors = this.dirtySectors();
      let rest = seed;
      for (let k = 0; k < sectors.length && rest > 0; k++) {
        if (rest % 2 === 1) this.takeLiveSector(out32, sectors[k]!);
        rest = Math.floor(rest / 2);
      }
      if (rest > 0) {
        recycleArray(out, true);
        throw new FerriteError('ERANGE', `crashImage: enumerate index ${seed} is beyond the distinct images (see crashImageCount)`);
      }
      return out;
    }
    // 'pages': one draw per dirty page. 'sectors': one bit per sector, a draw per 32 sectors.
    const prng = new Prng(seed);
    for (const page of this.dirtyPages()) {
      const start = page * this.pageSize;
      const end = Math.min(start + this.pageSize, this._length);
      if (mode === 'pages') {
        if ((prng.nextU32() & 1) === 1) out.set(this.live.subarray(start, end), start);
        continue;
      }
      let bits = 0;
      for (let s = start, k = 0; s < end; s += this.sectorSize, k++) {
        if (k % 32 === 0) bits = prng.nextU32();
        if (((bits >>> (k % 32)) & 1) === 1) this.takeLiveSector(out32, s);
      }
    }
    return out;
  }
}

// Keeps the word-per-line constant honest: a line is a whole number of atomic words.
invariant(WORDS_PER_LINE * ATOMIC_WORD === CACHE_LINE, 'a cache line holds whole 8-byte words');
invariant(SCAN_CHUNK % CACHE_LINE === 0, 'the scan chunk holds whole lines');

function checkLength(what: string, length: number): void {
  if (!Number.isSafeInteger(length) || length < 0 || length % ATOMIC_WORD !== 0) {
    throw new FerriteError('EINVAL', `${what}: length must be a non-negative multiple of 8, got ${String(length)}`);
  }
  if (length > MAX_SIMULATED_LENGTH) {
    throw new FerriteError('ERANGE', `${what}: length ${length} exceeds the simulator's limit ${MAX_SIMULATED_LENGTH}`);
  }
}

/**
 * The seed and mode of a choice. On a 'file' region 'lines' and 'words' become 'pages' and
 * 'sectors' (the harness asks for the former on every granularity); elsewhere 'pages' and
 * 'sectors' are refused.
 */
function normalizeChoice(choice: number | CrashChoice, granularity: Granularity): { seed: number; mode: CrashMode } {
  const seed = typeof choice === 'number' ? choice : choice.seed;
  if (!Number.isSafeInteger(seed)) {
    throw new FerriteError('EINVAL', `crashImage: seed must be an integer, got ${String(seed)}`);
  }
  const mode = (typeof choice === 'number' ? undefined : choice.mode) ?? crashModeOfSeed(seed);
  if (granularity === 'file') {
    if (mode === 'lines' || mode === 'pages') return { seed, mode: 'pages' };
    if (mode === 'words' || mode === 'sectors') return { seed, mode: 'sectors' };
  }
  if (!CRASH_MODES.includes(mode) && mode !== 'enumerate') {
    const why = mode === 'pages' || mode === 'sectors' ? ` (only a 'file' region has ${mode})` : '';
    throw new FerriteError('EINVAL', `crashImage: unknown mode ${String(mode)}${why}`);
  }
  return { seed, mode };
}

/** The validated model of `options`: granularity, and page and sector sizes. */
function checkModel(
  what: string,
  options: SimulatedRegionOptions,
): { granularity: Granularity; pageSize: number; sectorSize: number } {
  // Unknown names are refused: a misspelt `sectorsize` must not leave the default in place.
  const o = readOptions(what, options, ['granularity', 'pageSize', 'sectorSize']);
  const granularity = o.granularity ?? 'cache-line';
  if (granularity !== 'cache-line' && granularity !== 'page' && granularity !== 'file') {
    throw new FerriteError('EINVAL', `${what}: unknown granularity ${String(granularity)}`);
  }
  if (granularity !== 'file') {
    if (o.pageSize !== undefined || o.sectorSize !== undefined) {
      throw new FerriteError('EINVAL', `${what}: pageSize and sectorSize apply to the 'file' granularity only`);
    }
    return { granularity, pageSize: PAGE, sectorSize: ATOMIC_WORD };
  }
  const pageSize = o.pageSize ?? PAGE;
  const sectorSize = o.sectorSize ?? SECTOR;
  if (!isPowerOfTwo(pageSize) || pageSize > MAX_PAGE_SIZE) {
    throw new FerriteError('EINVAL', `${what}: pageSize must be a power of two up to ${MAX_PAGE_SIZE}, got ${String(pageSize)}`);
  }
  if (!isPowerOfTwo(sectorSize) || sectorSize < ATOMIC_WORD || sectorSize > pageSize) {
    throw new FerriteError(
      'EINVAL',
      `${what}: sectorSize must be a power of two from ${ATOMIC_WORD} to pageSize ${pageSize}, got ${String(sectorSize)}`,
    );
  }
  return { granularity, pageSize, sectorSize };
}

function isPowerOfTwo(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function int32Of(bytes: Uint8Array): Int32Array {
  invariant(bytes.byteOffset % 4 === 0 && bytes.length % 4 === 0, 'simulator arrays are word aligned');
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** A copy of `bytes` in a (possibly recycled) array of its own. */
function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = takeArray(bytes.length, false);
  copy.set(bytes);
  return copy;
}

function sameWord32(a: Int32Array, b: Int32Array, i: number): boolean {
  return a[i] === b[i] && a[i + 1] === b[i + 1];
}
