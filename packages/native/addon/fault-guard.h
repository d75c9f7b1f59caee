// The last line of defence against SIGBUS in a mapping.
//
// ferrite allocates every byte it maps writable (file-space.h), so on ordinary file systems
// a store never needs a block from the file system. Some stores still can: on copy-on-write
// file systems (btrfs, ZFS, a reflinked XFS file) every first write to a page after it was
// written back needs new space; on tmpfs a page whose hole another program punched needs a
// page; a file truncated by another program has no page at all. The kernel answers a fault
// it cannot serve with SIGBUS, which would kill the process in the middle of a JavaScript
// store.
//
// The guard catches SIGBUS in the ranges registered here and replaces the faulting page, in
// place, with a private copy of the file's page (MAP_PRIVATE|MAP_FIXED: the store lands in
// this process's memory and the instruction completes), or with a private zero page when the
// file has no page to copy (a hole the file system cannot fill). A page past the end of the
// file takes the rest of the range with it: everything from it to the range's end becomes
// private zeros in one mapping (a page at a time, a walk over a long cut tail would need more
// mappings than the kernel allows). In a shared mapping, a fault inside the file (a hole the
// file system cannot fill) diverts the aligned 2 MiB window around it likewise: private
// memory holding what the file holds there (read with pread, which reads a hole as zeros
// without needing space), so a walk over many punched holes makes one mapping per window,
// not two per page. The range counts the fault; the mapping checks the count before every flush, persist, drain and grow
// and throws a FerriteError from then on, so nothing stored after the fault is ever reported
// durable. Faults outside registered ranges, and hardware memory errors, go to the previous
// handler (by default: the process dies, as without the guard). A diversion makes a kernel
// mapping or two: in a process at vm.max_map_count the guard gives back one of a few spare
// mappings it holds for this and tries again (ReleaseSpare), rather than let the fault kill.
//
// A registered range belongs to one thread (the one whose JavaScript holds its buffer), which
// is the only thread that faults in it and the only one that unregisters it; the table is
// read by the handler with a sequence counter per slot, and written with atomics only.
#pragma once

#include <cstdint>

namespace ferrite {
namespace guard {

// At most this many ranges are guarded at once per process (the kernel's default
// vm.max_map_count is 65530 mappings, so more could not be mapped anyway).
constexpr int kMaxGuarded = 65536;

// Installs the handler (once per process) and registers [start, start + length), mapped from
// `fd` at `file_offset` with protection `prot`, shared (MAP_SHARED: the file's pages are what
// the range shows) or private (copy-on-write: the range may hold this process's own pages,
// which a diversion must not replace). Returns the slot, or -1 when all are taken.
int Register(uint8_t* start, uint64_t length, int fd, uint64_t file_offset, int prot, bool shared);

// Forgets the slot (before its range is unmapped or replaced). Ignores -1.
void Unregister(int slot);

// Points the slot at [start, start + length), keeping its file, protection and counts: for a
// mapping that mremap extended or moved. Ignores -1.
void Update(int slot, uint8_t* start, uint64_t length);

// Pages of the slot's range diverted so far (0 for -1).
uint64_t Faults(int slot);

// The offset, from the range's start, of the page of the first fault caught.
uint64_t FirstFaultOffset(int slot);

// Gives back one of the guard's spare mappings (async-signal-safe): after an mmap refused for
// want of a mapping (ENOMEM at vm.max_map_count), one more can then be made. A diversion in
// the handler uses them; so does a range replaced in place that must not fail (a tombstone).
// False when none is left. The spares are made again when a range is next registered.
bool ReleaseSpare();

}  // namespace guard
}  // namespace ferrite
