/**
 * The pool header, kept twice (copies A and B) so a torn header write is recoverable.
 *
 * An update writes copy A and persists it, then copy B and persists it: at every instant at
 * least one copy is whole. Open picks the valid copy with the highest `seq` and, when writable,
 * rewrites the other one.
 *
 * Format 3 added `maxSize` (the size the pool may grow to, so a reopen needs not repeat it).
 * Format-2 copies (no maxSize; checksum at 136) are still read, with maxSize = size; a writable
 * open rewrites both copies as format 3 (A first: a crash in between leaves A of format 3 and
 * B of format 2 with the same seq, and A wins).
 */
import { CorruptionError, FerriteError, crc32c } from '@ferrite/core';
import type { Region } from '@ferrite/core';
import {
  CHUNK_SIZE, FORMAT_VERSION, HEADER_A, HEADER_B, HEADER_COPY_SIZE, H_CHUNK_SIZE, H_CRC, H_CRC_V2, H_END, H_END_V2,
  H_FLAGS, H_HEAP_OFFSET, H_LAYOUT, H_LOG_OFFSET, H_MAGIC, H_MAX_SIZE, H_SEQ, H_SIZE, H_UUID, H_VERSION, LOG_ENTRIES,
  LOG_HEADER, MAGIC, MAX_LAYOUT_BYTES, MAX_POOL_SIZE, OLDEST_FORMAT_VERSION, peekU64, writeU64,
} from './layout.js';

export interface HeaderFields {
  uuid: Uint8Array; // 16 bytes
  layout: string;
  size: number;
  /** The size the pool may grow to (at least `size`); format 2 copies read it as `size`. */
  maxSize: number;
  heapOffset: number;
  seq: number;
}

const encoder = new TextEncoder();
// ignoreBOM: a name that begins with U+FEFF keeps it (the default decoder drops a leading BOM).
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** True when `s` holds no lone surrogate. */
function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff || i + 1 >= s.length) return false;
    const d = s.charCodeAt(i + 1);
    if (d < 0xdc00 || d > 0xdfff) return false;
    i++;
  }
  return true;
}

/** Validates a layout name and returns its UTF-8 bytes (EINVAL when too long, with a NUL or a lone surrogate). */
export function encodeLayout(layout: string): Uint8Array {
  if (typeof layout !== 'string') throw new FerriteError('EINVAL', 'layout must be a string');
  // UTF-8 has no code for a lone surrogate (U+FFFD is written instead): a layout created with
  // one would never match itself at the next open.
  if (!isWellFormed(layout)) throw new FerriteError('EINVAL', 'layout name must be well-formed Unicode (it holds a lone surrogate, which UTF-8 cannot store)');
  const bytes = encoder.encode(layout);
  if (bytes.length > MAX_LAYOUT_BYTES) {
    throw new FerriteError('EINVAL', `layout name is ${bytes.length} bytes; the limit is ${MAX_LAYOUT_BYTES}`);
  }
  if (bytes.includes(0)) throw new FerriteError('EINVAL', 'layout name must not contain NUL characters');
  return bytes;
}

/** Serializes `h` into the copy at `base` (not persisted). */
export function writeHeaderCopy(bytes: Uint8Array, view: DataView, base: number, h: HeaderFields): void {
  bytes.fill(0, base, base + HEADER_COPY_SIZE);
  bytes.set(MAGIC, base + H_MAGIC);
  view.setUint32(base + H_VERSION, FORMAT_VERSION, true);
  view.setUint32(base + H_FLAGS, 0, true);
  bytes.set(h.uuid, base + H_UUID);
  bytes.set(encodeLayout(h.layout), base + H_LAYOUT);
  writeU64(view, base + H_SIZE, h.size);
  writeU64(view, base + H_LOG_OFFSET, LOG_HEADER);
  writeU64(view, base + H_HEAP_OFFSET, h.heapOffset);
  writeU64(view, base + H_CHUNK_SIZE, CHUNK_SIZE);
  writeU64(view, base + H_SEQ, h.seq);
  writeU64(view, base + H_MAX_SIZE, h.maxSize);
  view.setUint32(base + H_CRC, crc32c(bytes, base, H_CRC), true);
}

/** Writes both copies, A then B, each persisted before the next is touched. */
export function writeHeader(region: Region, h: HeaderFields): void {
  const bytes = region.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  writeHeaderCopy(bytes, view, HEADER_A, h);
  region.persist(HEADER_A, H_END);
  writeHeaderCopy(bytes, view, HEADER_B, h);
  region.persist(HEADER_B, H_END);
}

export type CopyStatus =
  | { ok: true; fields: HeaderFields; version: number }
  | { ok: false; badMagic: boolean; reason: string };

/** True when the copy at `base` has a valid checksum at `crcAt` (over [base, base + crcAt)). */
function checksumAt(bytes: Uint8Array, view: DataView, base: number, crcAt: number): boolean {
  return view.getUint32(base + crcAt, true) === crc32c(bytes, base, crcAt);
}

/**
 * Decodes and validates one copy; never throws. A copy of a version this build does not read
 * is `ok` (its checksum matches where format 2 or 3 keeps it) with that `version`: open then
 * says EVERSION rather than "damaged".
 */
export function readHeaderCopy(bytes: Uint8Array, view: DataView, base: number): CopyStatus {
  if (bytes.length < base + H_END_V2) return { ok: false, badMagic: true, reason: 'file too short for a header' };
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[base + H_MAGIC + i] !== MAGIC[i]) return { ok: false, badMagic: true, reason: 'bad magic' };
  }
  const version = view.getUint32(base + H_VERSION, true);
  const v3Fits = bytes.length >= base + H_END;
  let crcAt: number;
  if (version === OLDEST_FORMAT_VERSION) crcAt = H_CRC_V2;
  else if (version === FORMAT_VERSION) {
    if (!v3Fits) return { ok: false, badMagic: false, reason: 'file too short for a header' };
    crcAt = H_CRC;
  } else crcAt = v3Fits && checksumAt(bytes, view, base, H_CRC) ? H_CRC : H_CRC_V2;
  if (!checksumAt(bytes, view, base, crcAt)) return { ok: false, badMagic: false, reason: 'checksum mismatch' };
  const size = peekU64(view, base + H_SIZE);
  const logOffset = peekU64(view, base + H_LOG_OFFSET);
  const heapOffset = peekU64(view, base + H_HEAP_OFFSET);
  const chunkSize = peekU64(view, base + H_CHUNK_SIZE);
  const seq = peekU64(view, base + H_SEQ);
  const maxSize = version === FORMAT_VERSION ? peekU64(view, base + H_MAX_SIZE) : size;
  let end = 0;
  while (end < MAX_LAYOUT_BYTES && bytes[base + H_LAYOUT + end] !== 0) end++;
  const layout = decoder.decode(bytes.subarray(base + H_LAYOUT, base + H_LAYOUT + end));
  const uuid = bytes.slice(base + H_UUID, base + H_UUID + 16);
  const fields: HeaderFields = { uuid, layout, size, maxSize, heapOffset, seq };
  if (version !== FORMAT_VERSION && version !== OLDEST_FORMAT_VERSION) return { ok: true, fields, version };
  if (size < 0 || seq < 0 || logOffset !== LOG_HEADER || chunkSize !== CHUNK_SIZE) {
    return { ok: false, badMagic: false, reason: 'header fields out of range' };
  }
  if (maxSize < size || maxSize > MAX_POOL_SIZE) {
    return { ok: false, badMagic: false, reason: `maxSize ${maxSize} inconsistent with size ${size}` };
  }
  if (heapOffset < LOG_ENTRIES + 1024 || heapOffset % CHUNK_SIZE !== 0 || heapOffset + CHUNK_SIZE > size) {
    return { ok: false, badMagic: false, reason: `heap offset ${heapOffset} inconsistent with size ${size}` };
  }
  return { ok: true, fields, version };
}

export interface ChosenHeader {
  fields: HeaderFields;
  /** The chosen copy's format version (OLDEST_FORMAT_VERSION or FORMAT_VERSION). */
  version: number;
  /** A copy is stale, damaged or of the older format: a writable open rewrites both. */
  repair: boolean;
}

/**
 * Picks the header of a pool image: the valid copy with the highest seq. Throws the typed
 * error the issue asks for (EBADMAGIC, EVERSION, ECORRUPT, ELAYOUT); writes nothing.
 * `layout` undefined accepts any layout name, as PMDK's `pmemobj_open(path, NULL)` does.
 * `anyLength`: the bytes may be fewer than the header's size (a reader that follows growth).
 */
export function chooseHeader(bytes: Uint8Array, layout: string | undefined, options?: { anyLength?: boolean }): ChosenHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const a = readHeaderCopy(bytes, view, HEADER_A);
  const b = readHeaderCopy(bytes, view, HEADER_B);
  if (!a.ok && !b.ok) {
    if (bytes.length < HEADER_B + H_END_V2) {
      throw new CorruptionError('ECORRUPT', `file of ${bytes.length} bytes is shorter than a pool header`);
    }
    if (a.badMagic && b.badMagic) throw new CorruptionError('EBADMAGIC', 'not a ferrite pool (bad magic in both header copies)');
    throw new CorruptionError('ECORRUPT', `both pool header copies are damaged (A: ${a.reason}; B: ${b.reason})`);
  }
  let chosen: HeaderFields;
  let version: number;
  if (a.ok && b.ok) {
    const pickA = a.fields.seq >= b.fields.seq;
    chosen = pickA ? a.fields : b.fields;
    version = pickA ? a.version : b.version;
  } else if (a.ok) {
    chosen = a.fields;
    version = a.version;
  } else if (b.ok) {
    chosen = b.fields;
    version = b.version;
  } else {
    throw new Error('unreachable');
  }
  if (version !== FORMAT_VERSION && version !== OLDEST_FORMAT_VERSION) {
    throw new CorruptionError('EVERSION', `pool format version ${version} is not supported (this build reads ${OLDEST_FORMAT_VERSION} to ${FORMAT_VERSION})`);
  }
  if (layout !== undefined && chosen.layout !== layout) {
    throw new FerriteError('ELAYOUT', `pool layout is ${JSON.stringify(chosen.layout)}, expected ${JSON.stringify(layout)}`);
  }
  // A live reader maps the file again when it finds the pool grew (anyLength).
  if (chosen.size > bytes.length && options?.anyLength !== true) {
    throw new CorruptionError('ECORRUPT', `file of ${bytes.length} bytes is shorter than the ${chosen.size} bytes its header says`);
  }
  const same = a.ok && b.ok && a.fields.seq === b.fields.seq && a.version === b.version && a.fields.maxSize === b.fields.maxSize;
  const repair = !same || version !== FORMAT_VERSION;
  return { fields: chosen, version, repair };
}

/**
 * Gives the pool image `bytes` (a copy of a pool: a backup) the identity `uuid`: both header
 * copies are rewritten from the chosen one (`chooseHeader`), with its seq, as format 3. Not
 * persisted: the caller syncs the file the image lives in. A pool's redo log names its pool
 * by uuid, so a copy with a uuid of its own is never taken for its source by a log the source
 * left (a backup restored where the source's `<pool>.wal` still lies).
 * @throws as `chooseHeader` (ECORRUPT, EBADMAGIC, EVERSION) when no copy is valid; EINVAL
 *   for a uuid that is not 16 bytes.
 */
export function stampUuid(bytes: Uint8Array, uuid: Uint8Array): void {
  if (!(uuid instanceof Uint8Array) || uuid.length !== 16) throw new FerriteError('EINVAL', 'stampUuid: a uuid is 16 bytes');
  const fields = chooseHeader(bytes, undefined).fields;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h: HeaderFields = { ...fields, uuid: uuid.slice() };
  writeHeaderCopy(bytes, view, HEADER_A, h);
  writeHeaderCopy(bytes, view, HEADER_B, h);
}

export function uuidString(uuid: Uint8Array): string {
  const h = Array.from(uuid, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
