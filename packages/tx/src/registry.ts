/**
 * The persistent registry: which collections exist, by name, with their kind and header block.
 *
 * It lives in one pool block referenced from the store's root:
 *
 *   registry block:  u32 capacity, u32 count, then `capacity` entries of ENTRY_SIZE bytes
 *   entry:           u64 header offset, u32 kind code, u32 name length, name (UTF-8, padded)
 *
 * Entries [0, count) are live, in no particular order. Adding writes the next free entry and
 * the count (one addRanges); a full block is replaced by a copy twice as large (a fresh block
 * needs no logging; only the root's pointer is snapshotted), removing moves the last entry into
 * the hole. A DRAM map mirrors the block and is rebuilt from the pool after an abort.
 */
import { CorruptionError, FerriteError, invariant } from '@ferrite/core';
import type { Pool, Transaction } from '@ferrite/heap';
import { rejection } from './internal/rejection.js';

/** Largest collection name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 112;
/** Most collections a store holds. */
export const MAX_COLLECTIONS = 4096;
const ENTRY_SIZE = 128;
const BLOCK_HEADER = 8;
const INITIAL_CAPACITY = 8;

export interface RegistryEntry {
  readonly name: string;
  readonly kind: number;
  readonly header: number;
}

const utf8Encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// ignoreBOM: a name that begins with U+FEFF keeps it (the default decoder drops a leading BOM).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Validates a collection name: a non-empty, well-formed string of at most MAX_NAME_BYTES bytes. */
export function encodeName(name: unknown): Uint8Array {
  if (typeof name !== 'string' || name.length === 0) {
    throw rejection(new FerriteError('EINVAL', 'a collection name must be a non-empty string'));
  }
  if (LONE_SURROGATE.test(name)) throw rejection(new FerriteError('EINVAL', 'a collection name must be well-formed Unicode'));
  const bytes = utf8Encoder.encode(name);
  if (bytes.length > MAX_NAME_BYTES) {
    throw rejection(new FerriteError('EINVAL', `collection name is ${bytes.length} bytes, over ${MAX_NAME_BYTES}`));
  }
  return bytes;
}

export class Registry {
  private readonly pool: Pool;
  /** Offset of the u64 slot (in the store root) holding the registry block's offset. */
  private readonly slot: number;
  private entries = new Map<string, RegistryEntry & { index: number }>();

  constructor(pool: Pool, slot: number) {
    this.pool = pool;
    this.slot = slot;
    this.reload();
  }

  /** The registry block's bytes when last loaded (see `reloadIfChanged`). */
  private loadedImage: Uint8Array | undefined = undefined;

  /**
   * `reload`, unless the registry block holds the same bytes as when it was last loaded: what a
   * live reader does after each commit it sees (most commits leave the registry alone).
   */
  reloadIfChanged(): void {
    const block = this.checkedBlock();
    const image = this.loadedImage;
    if (image !== undefined && block !== 0 && image.length > 0) {
      const count = this.pool.view.getUint32(block + 4, true);
      const end = block + BLOCK_HEADER + count * ENTRY_SIZE;
      if (end - block === image.length && end <= this.pool.size && Buffer.compare(image, this.pool.bytes.subarray(block, end)) === 0) return;
    } else if (image !== undefined && block === 0 && image.length === 0) {
      return;
    }
    this.reload();
  }

  /** Rebuilds the DRAM map from the pool (at open, and after an aborted transaction). */
  reload(): void {
    const entries = new Map<string, RegistryEntry & { index: number }>();
    const block = this.checkedBlock();
    if (block !== 0) {
      const view = this.pool.view;
      const bytes = this.pool.bytes;
      const capacity = view.getUint32(block, true);
      const count = view.getUint32(block + 4, true);
      if (capacity > MAX_COLLECTIONS || count > capacity || block + BLOCK_HEADER + capacity * ENTRY_SIZE > this.pool.size) {
        throw new CorruptionError('ECORRUPT', `registry block at ${block} has capacity ${capacity}, count ${count}`);
      }
      for (let i = 0; i < count; i++) {
        const at = block + BLOCK_HEADER + i * ENTRY_SIZE;
        const header = this.pool.readU64(at);
        const kind = view.getUint32(at + 8, true);
        const nameLength = view.getUint32(at + 12, true);
        if (nameLength === 0 || nameLength > MAX_NAME_BYTES || header === 0 || header >= this.pool.size) {
          throw new CorruptionError('ECORRUPT', `registry entry ${i} at ${at} is damaged`);
        }
        let name: string;
        try {
          name = utf8Decoder.decode(bytes.subarray(at + 16, at + 16 + nameLength));
        } catch {
          throw new CorruptionError('ECORRUPT', `registry entry ${i} at ${at} has a name that is not UTF-8`);
        }
        if (entries.has(name)) throw new CorruptionError('ECORRUPT', `registry holds "${name}" twice`);
        entries.set(name, { name, kind, header, index: i });
      }
      this.loadedImage = bytes.slice(block, block + BLOCK_HEADER + count * ENTRY_SIZE);
    } else {
      this.loadedImage = new Uint8Array(0);
    }
    this.entries = entries;
  }

  get(name: string): RegistryEntry | undefined {
    return this.entries.get(name);
  }

  list(): RegistryEntry[] {
    return [...this.entries.values()]
      .sort((a, b) => a.index - b.index)
      .map(({ name, kind, header }) => ({ name, kind, header }));
  }

  get count(): number {
    return this.entries.size;
  }

  /** Offset of the registry block (0 when no collection was ever created). */
  block(): number {
    return this.pool.readU64(this.slot);
  }

  /**
   * `block()`, validated before any read through it: the slot and the block's capacity word
   * come from the pool, and damage there must be ECORRUPT, never a RangeError or a wild write.
   * Checked on every use, not only at load, because the pool can change under a damaged
   * allocator (a root that the allocator thinks free gets overwritten by a new block).
   */
  private checkedBlock(): number {
    const block = this.block();
    if (block === 0) return 0;
    if (block + BLOCK_HEADER > this.pool.size) {
      throw new CorruptionError('ECORRUPT', `registry block offset ${block} lies outside the pool of ${this.pool.size} bytes`);
    }
    const capacity = this.pool.view.getUint32(block, true);
    if (capacity > MAX_COLLECTIONS || block + BLOCK_HEADER + capacity * ENTRY_SIZE > this.pool.size) {
      throw new CorruptionError('ECORRUPT', `registry block at ${block} claims capacity ${capacity}, beyond the pool`);
    }
    return block;
  }

  /** Adds `name` inside `tx`. The caller checked that it is absent. */
  add(tx: Transaction, name: string, kind: number, header: number): void {
    invariant(!this.entries.has(name), 'registry.add of an existing name');
    const nameBytes = encodeName(name);
    if (this.entries.size >= MAX_COLLECTIONS) {
      throw new FerriteError('ERANGE', `a store holds at most ${MAX_COLLECTIONS} collections`);
    }
    let block = this.checkedBlock();
    const count = this.entries.size;
    const capacity = block === 0 ? 0 : this.pool.view.getUint32(block, true);
    if (count === capacity) {
      // Replace by a larger copy: the new block is fresh (flushed at commit, no logging needed).
      const newCapacity = Math.min(MAX_COLLECTIONS, Math.max(INITIAL_CAPACITY, capacity * 2));
      const fresh = tx.alloc(BLOCK_HEADER + newCapacity * ENTRY_SIZE, { zero: true });
      const bytes = this.pool.bytes;
      if (block !== 0) bytes.copyWithin(fresh + BLOCK_HEADER, block + BLOCK_HEADER, block + BLOCK_HEADER + count * ENTRY_SIZE);
      const view = this.pool.view;
      view.setUint32(fresh, newCapacity, true);
      view.setUint32(fresh + 4, count, true);
      tx.addRange(this.slot, 8);
      this.pool.writeU64(this.slot, fresh);
      if (block !== 0) tx.free(block);
      block = fresh;
    }
    const at = block + BLOCK_HEADER + count * ENTRY_SIZE;
    tx.addRanges([block + 4, 4, at, ENTRY_SIZE]);
    const view = this.pool.view;
    this.pool.writeU64(at, header);
    view.setUint32(at + 8, kind, true);
    view.setUint32(at + 12, nameBytes.length, true);
    this.pool.bytes.fill(0, at + 16, at + ENTRY_SIZE);
    this.pool.bytes.set(nameBytes, at + 16);
    view.setUint32(block + 4, count + 1, true);
    this.entries.set(name, { name, kind, header, index: count });
  }

  /** Removes `name` inside `tx` (moving the last entry into its place). */
  remove(tx: Transaction, name: string): void {
    const entry = this.entries.get(name);
    invariant(entry !== undefined, 'registry.remove of a missing name');
    const block = this.checkedBlock();
    const last = this.entries.size - 1;
    const at = block + BLOCK_HEADER + entry.index * ENTRY_SIZE;
    const lastAt = block + BLOCK_HEADER + last * ENTRY_SIZE;
    tx.addRanges([block + 4, 4, at, ENTRY_SIZE]);
    if (entry.index !== last) this.pool.bytes.copyWithin(at, lastAt, lastAt + ENTRY_SIZE);
    this.pool.view.setUint32(block + 4, last, true);
    this.entries.delete(name);
    for (const e of this.entries.values()) {
      if (e.index === last) {
        e.index = entry.index;
        break;
      }
    }
  }
}
