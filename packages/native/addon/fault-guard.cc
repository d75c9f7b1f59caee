// See fault-guard.h. The handler uses only mmap, mprotect, fstat, pread, sigaction and raise
// (system calls; mmap and mprotect are not on POSIX's async-signal-safe list, but on Linux they
// are plain system calls with no lock in user space) and lock-free reads of the slot table.

#include "fault-guard.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace ferrite {
namespace guard {

namespace {

struct Slot {
  std::atomic<bool> taken{false};
  // Odd while the fields below are being written (the handler then skips the slot).
  std::atomic<uint64_t> seq{0};
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<int> fd{-1};
  std::atomic<int> prot{0};
  std::atomic<bool> shared{false};
  std::atomic<uint64_t> file_offset{0};
  // The page last replaced by a private copy of the file's page: a second fault there means
  // the file has no page to copy, and the page becomes a private zero page.
  std::atomic<uintptr_t> copied_page{0};
  std::atomic<uint64_t> faults{0};
  std::atomic<uint64_t> first_fault{0};
};

Slot slots[kMaxGuarded];

// Spare mappings: a diversion splits a mapping (one kernel mapping more for a tail, two for a
// page or a window), and a process at vm.max_map_count cannot make one: the kernel refuses,
// and the fault then killed the process (found in review: a read past a cut file, in a process
// near the limit, died with SIGBUS). So the guard holds a few one-page mappings of its own; a
// diversion refused with ENOMEM unmaps one and tries again. Each is shared anonymous memory,
// PROT_NONE, never touched: no memory, and (a file of its own) never merged with a neighbour,
// so unmapping one always gives one mapping back. Refilled, best effort, whenever a range is
// registered (a mapping made, grown, remapped or shrunk: not in the handler).
constexpr int kSpares = 16;
std::atomic<uintptr_t> spares[kSpares];
std::mutex refill_mutex;

// Slots at or past this index have never been taken: the handler scans [0, used).
std::atomic<int> used{0};
std::once_flag install_once;
struct sigaction previous;
const uintptr_t kPage = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));

// Not a fault we can serve: restore the previous disposition. A fault then happens again
// when the instruction is retried and takes that disposition (by default the process dies
// with SIGBUS, exactly as without the guard); a signal sent by kill() is raised again.
void HandOver(int sig, siginfo_t* info, void* context) {
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
    return;
  }
  sigaction(sig, &previous, nullptr);
  if (info->si_code <= 0) raise(sig);
}

// Makes the spares that are missing (not in the handler). One that cannot be made (the process
// is at its limit already) stays missing until a later call.
void RefillSpares() {
  std::lock_guard<std::mutex> lock(refill_mutex);
  for (auto& spare : spares) {
    if (spare.load(std::memory_order_acquire) != 0) continue;
    void* p = mmap(nullptr, kPage, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    spare.store(reinterpret_cast<uintptr_t>(p), std::memory_order_release);
  }
}

// Replaces the page at `page` of slot `s`; false when mmap itself failed.
bool Divert(Slot& s, uintptr_t page, uintptr_t start, int fd, int prot, uint64_t file_offset) {
  void* p = MAP_FAILED;
  if (fd >= 0 && s.copied_page.load(std::memory_order_relaxed) != page) {
    s.copied_page.store(page, std::memory_order_relaxed);
    p = mmap(reinterpret_cast<void*>(page), kPage, prot, MAP_PRIVATE | MAP_FIXED, fd,
             static_cast<off_t>(file_offset + (page - start)));
  }
  if (p == MAP_FAILED) {
    p = mmap(reinterpret_cast<void*>(page), kPage, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  return p != MAP_FAILED;
}

// True when the file behind the slot ends at or before `offset` (a page that faults there has
// no page in the file, nor has any page after it).
bool PastEnd(int fd, uint64_t offset) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_size) <= offset;
}

// A page past the end of the file: the rest of the range, [page, end), is past it too (another
// program cut the file, or a shrink overtook a reader), and becomes private zeros in ONE
// mapping. Diverted one fault at a time, each page would split the range's mapping in three, and
// a walk over the tail (check() reading every chunk header) would pass vm.max_map_count: the
// kernel then refuses the diversion and the process dies. False when mmap failed.
bool DivertTail(uintptr_t page, uintptr_t end, int prot) {
  const uintptr_t last = (end + kPage - 1) & ~(kPage - 1);
  void* p = mmap(reinterpret_cast<void*>(page), last - page, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return p != MAP_FAILED;
}

// A fault inside the file of a shared mapping: the aligned window of kWindow bytes around the
// page (clipped to [start, end)) becomes private memory holding what the file holds there.
// False when mmap failed.
constexpr uintptr_t kWindow = 2 * 1024 * 1024;
bool DivertWindow(uintptr_t page, uintptr_t start, uintptr_t end, int fd, int prot, uint64_t file_offset) {
  uintptr_t from = page & ~(kWindow - 1);
  if (from < start) from = start;
  uintptr_t to = (page & ~(kWindow - 1)) + kWindow;
  const uintptr_t last = (end + kPage - 1) & ~(kPage - 1);
  if (to > last) to = last;
  void* p = mmap(reinterpret_cast<void*>(from), to - from, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return false;
  // What the file holds (its page cache, this process's own stores included); a hole reads as
  // zeros, and a short read (the end of the file) leaves zeros.
  uint8_t* at = reinterpret_cast<uint8_t*>(from);
  uint64_t off = file_offset + (from - start);
  size_t left = to - from;
  while (left > 0) {
    const ssize_t n = pread(fd, at, left, static_cast<off_t>(off));
    if (n <= 0) break;
    at += n;
    off += static_cast<uint64_t>(n);
    left -= static_cast<size_t>(n);
  }
  if (prot != (PROT_READ | PROT_WRITE)) mprotect(reinterpret_cast<void*>(from), to - from, prot);
  return true;
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // BUS_ADRERR: the kernel could not provide the page (no space, no page past the end, an
  // I/O error). Machine-check errors (BUS_MCEERR_*) and user signals are not ours.
  if (info->si_code == BUS_ADRERR) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    const int n = used.load(std::memory_order_acquire);
    for (int i = 0; i < n; i++) {
      Slot& s = slots[i];
      const uint64_t seq = s.seq.load(std::memory_order_acquire);
      if ((seq & 1) != 0) continue;
      const uintptr_t start = s.start.load(std::memory_order_relaxed);
      const uintptr_t end = s.end.load(std::memory_order_relaxed);
      const int fd = s.fd.load(std::memory_order_relaxed);
      const int prot = s.prot.load(std::memory_order_relaxed);
      const bool shared = s.shared.load(std::memory_order_relaxed);
      const uint64_t file_offset = s.file_offset.load(std::memory_order_relaxed);
      if (s.seq.load(std::memory_order_acquire) != seq) continue;
      if (start == 0 || addr < start || addr >= end) continue;
      const uintptr_t page = addr & ~(kPage - 1);
      // The second fault of one page (its private copy could not be read) is not counted.
      const bool again = s.copied_page.load(std::memory_order_relaxed) == page;
      const bool past_end = PastEnd(fd, file_offset + (page - start));
      bool diverted = false;
      for (;;) {
        diverted = past_end            ? DivertTail(page, end, prot)
                   : shared && fd >= 0 ? DivertWindow(page, start, end, fd, prot, file_offset)
                                       : Divert(s, page, start, fd, prot, file_offset);
        // Refused for want of a mapping (vm.max_map_count): give one of ours back, try again.
        if (diverted || errno != ENOMEM || !ReleaseSpare()) break;
        // Divert's first attempt (a copy of the file's page) is spent; the retry must not take
        // this page for one whose copy could not be read.
        if (s.copied_page.load(std::memory_order_relaxed) == page && !again) s.copied_page.store(0, std::memory_order_relaxed);
      }
      if (diverted) {
        if (!again && s.faults.fetch_add(1, std::memory_order_relaxed) == 0) {
          s.first_fault.store(page - start, std::memory_order_relaxed);
        }
        errno = saved_errno;
        return;
      }
      break;
    }
  }
  HandOver(sig, info, context);
  errno = saved_errno;
}

void Install() {
  struct sigaction action = {};
  action.sa_sigaction = OnSigbus;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigaction(SIGBUS, &action, &previous);
}

}  // namespace

bool ReleaseSpare() {
  for (auto& spare : spares) {
    const uintptr_t p = spare.exchange(0, std::memory_order_acq_rel);
    if (p != 0) {
      munmap(reinterpret_cast<void*>(p), kPage);
      return true;
    }
  }
  return false;
}

int Register(uint8_t* start, uint64_t length, int fd, uint64_t file_offset, int prot, bool shared) {
  std::call_once(install_once, Install);
  RefillSpares();
  for (int i = 0; i < kMaxGuarded; i++) {
    Slot& s = slots[i];
    bool expected = false;
    if (!s.taken.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) continue;
    s.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: being written
    const uintptr_t a = reinterpret_cast<uintptr_t>(start);
    s.start.store(a, std::memory_order_relaxed);
    s.end.store(a + static_cast<uintptr_t>(length), std::memory_order_relaxed);
    s.fd.store(fd, std::memory_order_relaxed);
    s.prot.store(prot, std::memory_order_relaxed);
    s.shared.store(shared, std::memory_order_relaxed);
    s.file_offset.store(file_offset, std::memory_order_relaxed);
    s.copied_page.store(0, std::memory_order_relaxed);
    s.faults.store(0, std::memory_order_relaxed);
    s.first_fault.store(0, std::memory_order_relaxed);
    s.seq.fetch_add(1, std::memory_order_acq_rel);  // even: readable
    int seen = used.load(std::memory_order_relaxed);
    while (seen < i + 1 && !used.compare_exchange_weak(seen, i + 1, std::memory_order_acq_rel)) {
    }
    return i;
  }
  return -1;
}

void Unregister(int slot) {
  if (slot < 0 || slot >= kMaxGuarded) return;
  Slot& s = slots[slot];
  s.seq.fetch_add(1, std::memory_order_acq_rel);
  s.start.store(0, std::memory_order_relaxed);
  s.end.store(0, std::memory_order_relaxed);
  s.fd.store(-1, std::memory_order_relaxed);
  s.seq.fetch_add(1, std::memory_order_acq_rel);
  s.taken.store(false, std::memory_order_release);
}

void Update(int slot, uint8_t* start, uint64_t length) {
  if (slot < 0 || slot >= kMaxGuarded) return;
  Slot& s = slots[slot];
  s.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: the handler skips the slot meanwhile
  const uintptr_t a = reinterpret_cast<uintptr_t>(start);
  s.start.store(a, std::memory_order_relaxed);
  s.end.store(a + static_cast<uintptr_t>(length), std::memory_order_relaxed);
  s.copied_page.store(0, std::memory_order_relaxed);
  s.seq.fetch_add(1, std::memory_order_acq_rel);
}

uint64_t Faults(int slot) {
  if (slot < 0 || slot >= kMaxGuarded) return 0;
  return slots[slot].faults.load(std::memory_order_relaxed);
}

uint64_t FirstFaultOffset(int slot) {
  if (slot < 0 || slot >= kMaxGuarded) return 0;
  return slots[slot].first_fault.load(std::memory_order_relaxed);
}

}  // namespace guard
}  // namespace ferrite
