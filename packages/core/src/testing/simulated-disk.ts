/**
 * A simulated disk: a few named files laid out on one 'file'-granularity `SimulatedRegion`,
 * each a `FileIO` (write = a write() into the page cache, sync = an fdatasync of that file's
 * pages, grow = a new length made durable at once). Because every file lives in the one
 * region, the crash harness (which crashes, images and reopens a region) works unchanged:
 * a scenario's `setup` returns `disk.region`, and `recover` rebuilds the disk from the
 * region it is given with `SimulatedDisk.fromRegion`.
 *
 * Layout of the region: a metadata block (whole pages) with a header and one 64-byte entry
 * per file, then each file's extent, page-aligned, in the order the files were named:
 *
 * ```
 * header   0  magic "FRTDISK1"        entry  0  name, UTF-8, zero-padded (40 bytes)
 *          8  u32 version (1)                40  u64 extent offset in the region
 *         12  u32 file count                 48  u64 maximum length (the extent asked for)
 *         16  u32 page size                  56  u64 length: durable when grow returns
 *         20  u32 sector size
 *         24  u32 CRC-32C of the header's first 24 bytes and of every entry's first 56
 * ```
 *
 * A length is an aligned 8-byte word, so it lies inside one sector and a crash leaves the
 * old or the new value, never a mix. The rest of the metadata is written once, durably,
 * when the disk is made.
 */
import { booleanOption, readOptions } from '../arguments.js';
import { checkRange } from '../bounds.js';
import { crc32c } from '../checksum.js';
import { FerriteError, invariant } from '../errors.js';
import type { FileIO } from '../file-io.js';
import { isSimulatedCrash } from './simulated-crash.js';
import { MAX_SIMULATED_LENGTH, SimulatedRegion, type ByteRun } from './simulated-region.js';

/** Most files a simulated disk holds. */
export const MAX_DISK_FILES = 16;
/** Longest file name, in UTF-8 bytes. */
export const MAX_FILE_NAME_BYTES = 40;

const MAGIC = 'FRTDISK1';
const VERSION = 1;
const HEADER_BYTES = 64;
const ENTRY_BYTES = 64;
const ENTRY_LENGTH = 56; // offset of the length word in an entry
const CRC_AT = 24;

/** Options of a new `SimulatedDisk`: the model of its region. */
export interface SimulatedDiskOptions {
  /** The unit of write-back (default 4096); see `SimulatedRegionOptions.pageSize`. */
  pageSize?: number;
  /** The failure-atomic unit (default 512); see `SimulatedRegionOptions.sectorSize`. */
  sectorSize?: number;
}

/** Where a file lives in the region, fixed when the disk is made. */
interface Entry {
  readonly name: string;
  /** Start of the extent in the region (page-aligned). */
  readonly offset: number;
  /** Largest length the file may grow to: the extent asked for. */
  readonly maxLength: number;
  /** Offset of the file's length word in the region. */
  readonly lengthAt: number;
}

/** A disk's state, shared with the handles on its files. */
interface DiskState {
  readonly region: SimulatedRegion;
  readonly entries: readonly Entry[];
  /** Each file's current length (the page cache's; durable once grow returns). */
  readonly lengths: number[];
  readonly handles: SimulatedFile[];
  closed: boolean;
}

const states = new WeakMap<SimulatedDisk, DiskState>();
/** fromRegion hands the state it parsed to the constructor (module-private). */
let adopted: DiskState | undefined;

function stateOf(disk: SimulatedDisk): DiskState {
  const state = states.get(disk);
  if (state === undefined) throw new FerriteError('EINVAL', 'not a SimulatedDisk');
  return state;
}

/**
 * A disk of named files on one 'file'-granularity `SimulatedRegion` (`region`). Made with
 * the files' maximum lengths (extents, fixed for its life); every file starts empty.
 */
export class SimulatedDisk {
  /** The region holding the whole disk: what the crash harness crashes and images. */
  readonly region: SimulatedRegion;
  private readonly state: DiskState;

  /**
   * A new disk holding one empty file per key of `extents`, each allowed to grow to its
   * value in bytes (e.g. `{ pool: 1 << 20, wal: 256 << 10 }`). The metadata is made durable
   * with one sync (one 'drain' event, before any code under test runs).
   * @throws EINVAL for no files, more than `MAX_DISK_FILES`, a name that is empty, too long
   *   or holds NUL, an extent that is not a non-negative integer, or bad page/sector sizes;
   *   ERANGE when the whole disk exceeds `MAX_SIMULATED_LENGTH`.
   */
  constructor(extents: Readonly<Record<string, number>>, options: SimulatedDiskOptions = {}) {
    const given = adopted;
    adopted = undefined;
    this.state = given ?? SimulatedDisk.format(extents, options);
    this.region = this.state.region;
    states.set(this, this.state);
  }

  /** Lays out and formats a new disk (the metadata made durable). */
  private static format(extents: Readonly<Record<string, number>>, options: SimulatedDiskOptions): DiskState {
    if (typeof extents !== 'object' || extents === null) {
      throw new FerriteError('EINVAL', 'SimulatedDisk: extents must be an object of file names to maximum lengths');
    }
    const names = Object.keys(extents);
    if (names.length === 0 || names.length > MAX_DISK_FILES) {
      throw new FerriteError('EINVAL', `SimulatedDisk: from 1 to ${MAX_DISK_FILES} files, got ${names.length}`);
    }
    // The values are checked by SimulatedRegion; unknown names are refused here.
    const sizes = readOptions('SimulatedDisk', options, ['pageSize', 'sectorSize']) as SimulatedDiskOptions;
    const probe = new SimulatedRegion(0, { granularity: 'file', ...sizes }); // validates the sizes
    const pageSize = probe.pageSize;
    probe.dispose();
    const metaBytes = roundUp(HEADER_BYTES + names.length * ENTRY_BYTES, pageSize);
    let offset = metaBytes;
    const entries: Entry[] = [];
    for (const [i, name] of names.entries()) {
      checkName(name);
      const maxLength = extents[name];
      if (typeof maxLength !== 'number' || !Number.isSafeInteger(maxLength) || maxLength < 0) {
        throw new FerriteError('EINVAL', `SimulatedDisk: the extent of '${name}' must be a non-negative integer, got ${String(maxLength)}`);
      }
      entries.push({ name, offset, maxLength, lengthAt: HEADER_BYTES + i * ENTRY_BYTES + ENTRY_LENGTH });
      offset += roundUp(maxLength, pageSize);
      if (offset > MAX_SIMULATED_LENGTH) {
        throw new FerriteError('ERANGE', `SimulatedDisk: the files need more than the simulator's limit of ${MAX_SIMULATED_LENGTH} bytes`);
      }
    }
    const region = new SimulatedRegion(offset, { granularity: 'file', ...sizes });
    const bytes = region.bytes;
    const view = viewOf(bytes);
    for (let i = 0; i < MAGIC.length; i++) bytes[i] = MAGIC.charCodeAt(i);
    view.setUint32(8, VERSION, true);
    view.setUint32(12, entries.length, true);
    view.setUint32(16, region.pageSize, true);
    view.setUint32(20, region.sectorSize, true);
    for (const [i, e] of entries.entries()) {
      const at = HEADER_BYTES + i * ENTRY_BYTES;
      bytes.set(new TextEncoder().encode(e.name), at);
      view.setBigUint64(at + 40, BigInt(e.offset), true);
      view.setBigUint64(at + 48, BigInt(e.maxLength), true);
      view.setBigUint64(at + ENTRY_LENGTH, 0n, true);
    }
    view.setUint32(CRC_AT, metadataCrc(bytes, entries.length), true);
    region.persist(0, metaBytes);
    return { region, entries, lengths: entries.map(() => 0), handles: [], closed: false };
  }

  /**
   * The disk held by `region`, as a restart finds it: typically the region the crash harness
   * hands to `recover` (a crash image of `disk.region`, reopened with the same options).
   * Lengths are the ones in `region`'s bytes; the contents are whatever the image holds.
   * @throws EINVAL when `region` is not a 'file' region or its page or sector size is not
   *   the disk's; ECORRUPT when its metadata is not a simulated disk's, or is damaged.
   */
  static fromRegion(region: SimulatedRegion): SimulatedDisk {
    if (!(region instanceof SimulatedRegion) || region.granularity !== 'file') {
      throw new FerriteError('EINVAL', "SimulatedDisk.fromRegion: not a 'file' SimulatedRegion");
    }
    const bytes = region.bytes;
    const corrupt = (why: string): FerriteError => new FerriteError('ECORRUPT', `SimulatedDisk.fromRegion: ${why}`);
    if (bytes.length < HEADER_BYTES) throw corrupt('the region is too short for a disk header');
    const view = viewOf(bytes);
    for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) throw corrupt('no disk magic');
    if (view.getUint32(8, true) !== VERSION) throw corrupt(`unknown version ${view.getUint32(8, true)}`);
    const count = view.getUint32(12, true);
    if (count === 0 || count > MAX_DISK_FILES) throw corrupt(`bad file count ${count}`);
    const pageSize = view.getUint32(16, true);
    const sectorSize = view.getUint32(20, true);
    if (pageSize !== region.pageSize || sectorSize !== region.sectorSize) {
      throw new FerriteError(
        'EINVAL',
        `SimulatedDisk.fromRegion: the disk has ${pageSize}-byte pages and ${sectorSize}-byte sectors, the region ` +
          `${region.pageSize} and ${region.sectorSize} (reopen images with the region's options)`,
      );
    }
    const metaBytes = roundUp(HEADER_BYTES + count * ENTRY_BYTES, pageSize);
    if (bytes.length < metaBytes) throw corrupt('the region is too short for its metadata');
    if (view.getUint32(CRC_AT, true) !== metadataCrc(bytes, count)) throw corrupt('metadata checksum mismatch');
    const entries: Entry[] = [];
    const lengths: number[] = [];
    let next = metaBytes;
    for (let i = 0; i < count; i++) {
      const at = HEADER_BYTES + i * ENTRY_BYTES;
      const raw = bytes.subarray(at, at + MAX_FILE_NAME_BYTES);
      const end = raw.indexOf(0);
      const name = new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end));
      const offset = Number(view.getBigUint64(at + 40, true));
      const maxLength = Number(view.getBigUint64(at + 48, true));
      const length = Number(view.getBigUint64(at + ENTRY_LENGTH, true));
      // The CRC vouches for names, offsets and extents; a length is checked on its own.
      if (offset !== next) throw corrupt(`the extent of '${name}' is not where the layout puts it`);
      next = offset + roundUp(maxLength, pageSize);
      if (next > bytes.length) throw corrupt(`the extent of '${name}' ends past the region`);
      if (length > maxLength) throw corrupt(`'${name}' is ${length} bytes long, over its extent of ${maxLength}`);
      entries.push({ name, offset, maxLength, lengthAt: at + ENTRY_LENGTH });
      lengths.push(length);
    }
    adopted = { region, entries, lengths, handles: [], closed: false };
    try {
      return new SimulatedDisk({});
    } finally {
      adopted = undefined;
    }
  }

  /** The names of the files, in layout order. */
  get names(): string[] {
    return this.state.entries.map((e) => e.name);
  }

  /**
   * A new handle on the file `name` (handles are independent: closing one leaves the others
   * open, as with file descriptors). With `readOnly`, its `write` and `grow` throw EACCES.
   * @throws ENOENT when the disk has no such file; ECLOSED after `close()`.
   */
  file(name: string, options: { readOnly?: boolean } = {}): SimulatedFile {
    return new SimulatedFile(this, name, options);
  }

  /**
   * Deletes the contents of the file `name`, as an unlink followed by the creation of an
   * empty file under the same name: its length becomes 0, durably (one sync of the metadata,
   * one 'drain' event; a crash there leaves the old or the new length). Its handles stay
   * open and see the empty file; growing it again gives durable zeros.
   * @throws ENOENT, ECLOSED; EIO from the sync (`failFlushes`), the file unchanged.
   */
  remove(name: string): void {
    const state = this.state;
    if (state.closed) throw new FerriteError('ECLOSED', 'remove: the simulated disk is closed');
    const i = indexOf(state, name);
    setLength(state, i, 0);
  }

  /** Where the file `name` lies in `region`: its extent's offset, and its maximum length. */
  extentOf(name: string): ByteRun {
    const e = this.state.entries[indexOf(this.state, name)]!;
    return { offset: e.offset, length: e.maxLength };
  }

  /**
   * The file `name` as the disk holds it durably now (what a crash that loses every dirty
   * page leaves): its bytes up to its durable length, read from the region's media.
   */
  media(name: string): Uint8Array {
    const e = this.state.entries[indexOf(this.state, name)]!;
    const length = Number(viewOf(this.region.media(e.lengthAt, 8)).getBigUint64(0, true));
    return this.region.media(e.offset, length);
  }

  /**
   * Closes every handle and the region (`region.close()`: nothing becomes durable, and crash
   * images still work). Idempotent.
   */
  close(): void {
    const state = this.state;
    if (state.closed) return;
    state.closed = true;
    for (const h of state.handles) h.close();
    this.region.close();
  }
}

/**
 * One open file of a `SimulatedDisk`: a `FileIO` whose writes go to the page cache (the
 * region's live bytes) and whose `sync` is an fdatasync of this file's pages only.
 *
 * Events (crash points of the region): `write` is one 'flush' event before it takes effect
 * (a crash there loses the write entirely; one that passes it leaves the bytes in the page
 * cache, where they may reach the disk at any moment, each sector old or new); `sync` and a
 * `grow` that lengthens the file are one 'drain' event each. `read` is not an event.
 */
export class SimulatedFile implements FileIO {
  /** The file's name on its disk. */
  readonly name: string;
  /** The largest length `grow` accepts: the file's extent on the disk. */
  readonly maxLength: number;
  /** True for a read-only handle: `write` and `grow` throw EACCES. */
  readonly readOnly: boolean;
  private readonly disk: DiskState;
  private readonly index: number;
  private readonly start: number;
  private closed = false;

  /**
   * A handle on the file `name` of `disk` (as `disk.file(name, options)`).
   * @throws ENOENT when the disk has no such file; ECLOSED when the disk is closed.
   */
  constructor(disk: SimulatedDisk, name: string, options: { readOnly?: boolean } = {}) {
    const state = stateOf(disk);
    const o = readOptions('file', options, ['readOnly']);
    this.readOnly = booleanOption('file', 'readOnly', o.readOnly, false);
    if (state.closed) throw new FerriteError('ECLOSED', 'file: the simulated disk is closed');
    this.disk = state;
    this.index = indexOf(state, name);
    const e = state.entries[this.index]!;
    this.name = e.name;
    this.maxLength = e.maxLength;
    this.start = e.offset;
    state.handles.push(this);
  }

  /** The file's length: what the page cache holds (durable since the `grow` that set it). */
  get length(): number {
    return this.disk.lengths[this.index]!;
  }

  /** True after `close()` (of this handle or of its disk). */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Writes `length` bytes of `src` from `srcOffset` at `offset` of the file: one 'flush'
   * event (a crash point: a crash there loses the whole write), then the bytes are in the
   * page cache. Not durable before a `sync`; until then each of their pages may reach the
   * disk at any moment, each sector old or new.
   * @throws ECLOSED when closed; EACCES on a read-only handle; EINVAL for bad arguments;
   *   ERANGE for a range past the file's length (grow first) or past `src`.
   */
  write(offset: number, src: Uint8Array, srcOffset = 0, length?: number): void {
    this.checkOpen('write');
    this.checkWritable('write');
    const n = checkBuffer('write', src, srcOffset, length);
    this.checkInside('write', offset, n);
    const at = this.start + offset;
    this.disk.region.flush(at, n); // the write() call: an event, perhaps the crash
    this.disk.region.bytes.set(src.subarray(srcOffset, srcOffset + n), at);
  }

  /**
   * Reads `length` bytes at `offset` of the file into `dst` from `dstOffset`: what the page
   * cache holds (the last writes, durable or not). Not an event.
   * @throws ECLOSED when closed; EINVAL for bad arguments; ERANGE past the file or `dst`.
   */
  read(offset: number, dst: Uint8Array, dstOffset = 0, length?: number): void {
    this.checkOpen('read');
    const n = checkBuffer('read', dst, dstOffset, length);
    this.checkInside('read', offset, n);
    dst.set(this.disk.region.bytes.subarray(this.start + offset, this.start + offset + n), dstOffset);
  }

  /**
   * fdatasync: every page of this file reaches the disk, and no page of another file does.
   * One 'drain' event (a crash point: a crash there makes nothing durable).
   * @throws ECLOSED when closed; EIO when the region injects it (`failFlushes`).
   */
  sync(): void {
    this.checkOpen('sync');
    this.disk.region.persist(this.start, this.length); // throws the crash, if one struck
  }

  /**
   * Makes the file `newLength` bytes long, the new bytes zero, the new length durable when it
   * returns: one sync of the length word (one 'drain' event; a crash there leaves the old or
   * the new length, the new bytes zeros either way). It makes no written data durable: only
   * `sync` does. Growing to the current length does nothing (no event).
   * @throws ECLOSED when closed; EACCES on a read-only handle; EINVAL for a length that is
   *   not an integer or below the current one; ENOSPC past the file's extent (`maxLength`), the file unchanged; EIO from
   *   the sync (`failFlushes`), the file unchanged.
   */
  grow(newLength: number): void {
    this.checkOpen('grow');
    this.checkWritable('grow');
    if (!Number.isSafeInteger(newLength) || newLength < 0) {
      throw new FerriteError('EINVAL', `grow: the length must be a non-negative integer, got ${String(newLength)}`);
    }
    const old = this.length;
    if (newLength < old) throw new FerriteError('EINVAL', `grow: '${this.name}' is ${old} bytes, cannot shrink to ${newLength}`);
    if (newLength > this.maxLength) {
      throw new FerriteError('ENOSPC', `grow: '${this.name}' may grow to ${this.maxLength} bytes (its extent), not ${newLength}`);
    }
    if (newLength === old) return;
    setLength(this.disk, this.index, newLength);
  }

  /**
   * Truncates the file to `newLength` bytes (ftruncate + fsync): the bytes past it are gone,
   * and the new length is durable when it returns — one sync of the length word and of the
   * discarded bytes, zeroed (one 'drain' event; a crash there leaves the old length and
   * contents, or the new ones). A later `grow` gives zeros there again. Truncating to the
   * current length does nothing (no event).
   * @throws ECLOSED when closed; EACCES on a read-only handle; EINVAL for a length that is not
   *   an integer or above the current one; EIO from the sync (`failFlushes`), the file unchanged.
   */
  truncate(newLength: number): void {
    this.checkOpen('truncate');
    this.checkWritable('truncate');
    const old = this.length;
    if (!Number.isSafeInteger(newLength) || newLength < 0 || newLength > old) {
      throw new FerriteError('EINVAL', `truncate: the length must be an integer from 0 to ${old} ('${this.name}'), got ${String(newLength)}`);
    }
    if (newLength === old) return;
    setLength(this.disk, this.index, newLength);
  }

  /** Closes this handle: further calls throw ECLOSED. Makes nothing durable. Idempotent. */
  close(): void {
    this.closed = true;
  }

  private checkOpen(what: string): void {
    if (this.closed || this.disk.closed) throw new FerriteError('ECLOSED', `${what}: '${this.name}' is closed`);
  }

  private checkWritable(what: string): void {
    if (this.readOnly) throw new FerriteError('EACCES', `${what}: '${this.name}' is open read-only`);
    // A dead machine makes no progress: even a call that would make no event (a growth to
    // the current length) throws the crash that struck.
    const crash = this.disk.region.crashed;
    if (crash !== undefined) throw crash;
  }

  private checkInside(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new FerriteError('EINVAL', `${what}: offset must be a non-negative integer, got ${String(offset)}`);
    }
    if (offset + length > this.length) {
      const past = this.length < this.maxLength ? 'grow it first' : 'its extent is full';
      throw new FerriteError(
        'ERANGE',
        `${what}: [${offset}, ${offset + length}) is past the end of '${this.name}' (${this.length} bytes; ${past})`,
      );
    }
  }
}

/**
 * Sets the length of file `i` and makes it durable with one sync (one 'drain' event).
 *
 * Growing syncs the length word only: past its length a file holds zeros in the page cache
 * and on the disk alike (nothing writes there, and `remove` zeroes what it discards
 * durably), so the new bytes are durable zeros already. Syncing the pages that hold them
 * would also make durable whatever else is dirty in the file's last page, which a real
 * growth does not promise. The page cache past the old length is zeroed anyway, so bytes a
 * test stored straight into the region there do not show through the file.
 *
 * Removing (newLength 0) or truncating zeroes the bytes given up and syncs them with the
 * length word: the blocks of a deleted or cut file are not what a later growth reads.
 *
 * A failed sync restores the old length (and a cut's bytes); after a crash nothing runs any more.
 */
function setLength(state: DiskState, i: number, newLength: number): void {
  const { region, entries, lengths } = state;
  const entry = entries[i]!;
  const old = lengths[i]!;
  const bytes = region.bytes;
  const view = viewOf(bytes);
  const removing = newLength < old;
  invariant(newLength <= entry.maxLength, 'a file stays inside its extent');
  // What a failed sync must put back (the page cache of a cut that did not happen).
  const cut = removing ? bytes.slice(entry.offset + newLength, entry.offset + old) : undefined;
  if (removing) bytes.fill(0, entry.offset + newLength, entry.offset + old);
  else bytes.fill(0, entry.offset + old, entry.offset + newLength);
  view.setBigUint64(entry.lengthAt, BigInt(newLength), true);
  lengths[i] = newLength;
  try {
    region.persistRanges(removing ? [entry.offset + newLength, old - newLength, entry.lengthAt, 8] : [entry.lengthAt, 8]);
  } catch (err) {
    if (!isSimulatedCrash(err)) {
      lengths[i] = old;
      viewOf(region.bytes).setBigUint64(entry.lengthAt, BigInt(old), true);
      if (cut !== undefined) region.bytes.set(cut, entry.offset + newLength);
    }
    throw err;
  }
}

/** Validates a caller's buffer range; returns its length (default: the rest of `buf`). */
function checkBuffer(what: string, buf: Uint8Array, bufOffset: number, length: number | undefined): number {
  if (!(buf instanceof Uint8Array)) throw new FerriteError('EINVAL', `${what}: the buffer must be a Uint8Array`);
  if (!Number.isSafeInteger(bufOffset) || bufOffset < 0) {
    throw new FerriteError('EINVAL', `${what}: the buffer offset must be a non-negative integer, got ${String(bufOffset)}`);
  }
  const n = length ?? buf.length - bufOffset;
  checkRange(`${what} (buffer)`, bufOffset, n, buf.length);
  return n;
}

function indexOf(state: DiskState, name: string): number {
  const i = state.entries.findIndex((e) => e.name === name);
  if (i < 0) {
    const names = state.entries.map((e) => e.name).join(', ');
    throw new FerriteError('ENOENT', `the simulated disk has no file '${String(name)}' (its files: ${names})`);
  }
  return i;
}

function checkName(name: string): void {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length > MAX_FILE_NAME_BYTES || bytes.includes(0)) {
    throw new FerriteError('EINVAL', `SimulatedDisk: a file name is 1 to ${MAX_FILE_NAME_BYTES} UTF-8 bytes without NUL, got '${name}'`);
  }
}

/** CRC-32C of what never changes: the header's first 24 bytes and each entry but its length. */
function metadataCrc(bytes: Uint8Array, count: number): number {
  let crc = crc32c(bytes, 0, CRC_AT);
  for (let i = 0; i < count; i++) crc = crc32c(bytes, HEADER_BYTES + i * ENTRY_BYTES, ENTRY_LENGTH, crc);
  return crc >>> 0;
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
