// Space for a mapped file: every byte ferrite maps writable is allocated on the file system
// before it is mapped, so that a store can never be the first thing to ask the file system
// for a block (a store that cannot get one dies with SIGBUS). Free of Node-API: each function
// returns 0 or an errno and, on failure, says which step failed.
#pragma once

#include <cstdint>
#include <string>

namespace ferrite {

// What failed, for the error message: the system call and, for a refused size, the numbers.
struct SpaceFailure {
  int err = 0;
  std::string step;
};

// Bytes the file system under `fd` can still give an unprivileged writer (statvfs f_bavail),
// or UINT64_MAX when it does not say.
uint64_t AvailableBytes(int fd);

// Extends the regular file `fd` from `old_size` to `new_size` bytes with every new byte
// allocated: the free space is checked first (fail fast), blocks are reserved past the end
// (fallocate KEEP_SIZE, or zeros written where the file system has no fallocate), then the
// size is set and the file fsync'd. On any failure the file is left as it was: its size
// is `old_size` and the blocks reserved past it are released. Returns false and fills `out`.
bool ExtendAllocated(int fd, uint64_t old_size, uint64_t new_size, SpaceFailure* out);

// Undoes a successful ExtendAllocated (when what follows it fails): the size back to
// `old_size`, the blocks past it released. Best effort (it runs on a failing path).
void UndoExtend(int fd, uint64_t old_size, uint64_t new_size);

// Makes sure [start, end) of a file at least `end` bytes long has no holes: a file left sparse
// by an older ferrite or another tool has its holes allocated (the size does not change).
// `tmpfs`: st_blocks is exact there, so an allocated file costs one fstat; elsewhere
// fallocate over allocated blocks is a cheap walk of the extents and is always asked. Fails
// fast (ENOSPC) when the unallocated bytes exceed the free space; a failure in between can
// leave some holes allocated (the size and the contents never change).
bool AllocateWithin(int fd, uint64_t start, uint64_t end, bool tmpfs, SpaceFailure* out);

// True when `fd` lies on a tmpfs (statfs magic).
bool IsTmpfs(int fd);

}  // namespace ferrite
