/**
 * Loads the compiled addon (a source build of `addon/addon.cc`, or the prebuilt binary a
 * release ships; see scripts/install.mjs) and gives
 * it TypeScript types. Every error the addon throws on purpose goes through the factory
 * installed here, so it is a `FerriteError` with a stable `code`.
 */
import { constants as bufferConstants } from 'node:buffer';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accelerateCrc32c, FerriteError } from '@ferrite/core';
import type { ErrorCode } from '@ferrite/core';
// A static import (not a created require): bundlers of programs that use this package (the
// kill tests bundle their child with esbuild) then carry the loader along.
import nodeGypBuild from 'node-gyp-build';

/** The C++ object behind a `Mapping`. Every method validates its arguments itself. */
export interface NativeMapping {
  flush(offset: number, length: number): void;
  flushRanges(ranges: ArrayLike<number>, count?: number): void;
  persistRanges(ranges: ArrayLike<number>, count?: number): void;
  drain(): void;
  persist(offset: number, length: number): void;
  protect(offset: number, length: number, writable: boolean): void;
  grow(newLength: number): ArrayBuffer;
  remap(newLength: number): ArrayBuffer;
  shrink(newLength: number): ArrayBuffer;
  unmap(): void;
  buffer(): ArrayBuffer;
  info(): { dax: boolean; length: number; closed: boolean; published: boolean; hiddenPath: string; faults: number; private: boolean };
  publish(): void;
  discard(offset: number, length: number): void;
  checkFile(): void;
}

/** The C++ object behind a `FileHandle`. Every method validates its arguments itself. */
export interface NativeFile {
  write(offset: number, src: Uint8Array, srcOffset?: number, length?: number): void;
  read(offset: number, dst: Uint8Array, dstOffset?: number, length?: number): void;
  sync(): void;
  grow(newLength: number): void;
  truncate(newLength: number): void;
  close(): void;
  info(): { closed: boolean; length: number; readOnly: boolean; users: number };
  stats(): { writes: number; bytesWritten: number; reads: number; bytesRead: number; syncs: number; grows: number };
}

/** The C++ object behind an `IoQueue`: `ops` are checked in C++ (any value is safe). */
export interface NativeQueue {
  submit(ops: unknown): Promise<void>;
  runNow(ops: unknown): void;
  waitIdle(): void;
  pending(): number;
  stats(): { programs: number; failed: number; steps: number; pending: number; poisoned: boolean; heldArrays: number };
}

export interface NativeBinding {
  NativeMapping: new (
    path: string,
    offset: number,
    length: number, // -1: to the end of the file
    writable: boolean,
    createSize: number, // -1: do not create
    mode: number,
    exclusive: boolean,
    forcePmem: boolean,
    copyOnWrite: boolean,
    publishLater: boolean,
    lock: number, // 0 none, 1 shared, 2 exclusive, 3 the default for the protection
  ) => NativeMapping;
  NativeFile: new (path: string, create: boolean, mode: number, exclusive: boolean, readOnly: boolean) => NativeFile;
  NativeIoQueue: new () => NativeQueue;
  /** The symbol under which a FileHandle keeps its NativeFile (how a program names files). */
  setFileKey(key: symbol): void;
  setErrorFactory(factory: (code: string, message: string) => Error): void;
  /** The largest ArrayBuffer this runtime makes, and its version, for the addon's checks. */
  setRuntimeLimits(maxArrayBufferLength: number, nodeVersion: string): void;
  cpuFlushInstruction(): 'clwb' | 'clflushopt' | 'clflush' | 'none';
  pageSize(): number;
  mediumOf(path: string): 'tmpfs' | 'dax' | 'file';
  /** True when the CPU has the crc32 instruction (SSE 4.2); `crc32c` throws ENODEV otherwise. */
  crc32cHardware(): boolean;
  /** CRC-32C of `bytes[offset, offset + length)` continuing from `seed`, as @ferrite/core's `crc32c`. */
  crc32c(bytes: Uint8Array, offset: number, length: number, seed: number): number;
}

function load(): NativeBinding {
  // src/ and dist/ both sit one level below the package root. node-gyp-build picks
  // build/Release (a source build) first, else the prebuilt binary for this platform in
  // prebuilds/ (Node-API: one binary for every Node version).
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  let binding: NativeBinding;
  try {
    binding = nodeGypBuild(root) as NativeBinding;
  } catch (cause) {
    throw new FerriteError(
      'ENODEV',
      `@ferrite/native: the addon is missing or does not load on ${process.platform}-${process.arch} ` +
        `(${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}); build it from source with ` +
        '`npm rebuild @ferrite/native` (needs g++, make and python3)',
      { cause },
    );
  }
  // Per environment (main thread or worker): the addon keeps the factory as instance data.
  binding.setErrorFactory((code, message) => new FerriteError(code as ErrorCode, message));
  // A mapping is one ArrayBuffer: the addon refuses, before creating or mapping anything, one
  // longer than this runtime makes (4 GiB on Node 20; 2^53 - 1 bytes from Node 22).
  binding.setRuntimeLimits(bufferConstants.MAX_LENGTH, process.versions.node);
  // Checksums of large inputs (redo-log records) with the CPU's crc32 instruction; core checks
  // it against its own before it uses it, and keeps its own below ACCELERATE_FROM bytes.
  // An addon built before it had a checksum (a stale build/Release) simply leaves the table.
  if (typeof binding.crc32cHardware === 'function' && binding.crc32cHardware()) accelerateCrc32c(binding.crc32c);
  return binding;
}

/** The addon, loaded once per JavaScript environment (it is context-aware). */
export const binding: NativeBinding = load();
