// ferrite's native layer: map a file into memory, flush it to persistence, protect and
// unmap it, without ever letting JavaScript fault the process.
//
// Ownership (where segfaults hide):
// - A `Span` is one address range returned by mmap. It is unmapped only when its last
//   owner lets go: the `NativeMapping` object and the external ArrayBuffer handed to JS
//   (through its finalizer) each hold a shared_ptr to it.
// - An explicit unmap (or a grow, for the old range) does not munmap: it replaces the file
//   mapping in place with anonymous zero pages (MAP_FIXED, one syscall, no window in which
//   another mmap could take the address) and detaches the ArrayBuffer. So the file is
//   released at once, and any view of the buffer that escaped detaching (a transfer, a
//   copy of the backing store) reads zeros instead of faulting. The zero pages go when the
//   ArrayBuffer is collected.
// - `FileState` owns the descriptor and therefore the flock. The ArrayBuffer holds it too,
//   so a mapping that is garbage-collected keeps its lock while its bytes are reachable.
//
// Full file systems (where SIGBUS comes from): every byte mapped writable is allocated before
// it is mapped — at create, at grow (blocks first, then the size; a failure leaves the file as
// it was) and at open (a sparse file's holes; file-space.h). What allocation cannot rule out
// (copy-on-write file systems, a file changed by another program) the fault guard turns into
// an error at the next flush (fault-guard.h). A new file is built hidden and published whole
// (create-file.h). A mapping longer than the runtime's largest ArrayBuffer is refused before
// anything is created or mapped.
//
// Every entry point validates its arguments (type, integer, range, alignment) before it
// touches memory, and reports user errors through the error factory that the TypeScript
// face installs (FerriteError with a stable `code`).

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>
#include <mutex>
#include <string>
#include <unordered_map>

#include "checksum.h"
#include "common.h"
#include "create-file.h"
#include "fault-guard.h"
#include "file-io.h"
#include "file-space.h"
#include "pins.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define FERRITE_X86 1
#else
#define FERRITE_X86 0
#endif

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000
#endif

namespace ferrite {

// ---------------------------------------------------------------------------------------
// Limits and process-wide constants (immutable after load, so no per-context state).

constexpr uint64_t kCacheLine = 64;
// The largest mapping we accept: 2^45 bytes (32 TiB). x86-64 gives a process 128 TiB of
// address space, which Node and V8 fragment with regions at random addresses: a 2^46-byte
// mapping found no room in any of our runs, 2^45 found room in every one (tested).
constexpr uint64_t kMaxMappingLength = uint64_t(1) << 45;
// flushRanges takes at most this many pairs per call (a commit has far fewer).
constexpr uint64_t kMaxRangePairs = uint64_t(1) << 24;

enum class FlushKind { kClwb, kClflushopt, kClflush, kNone };

static FlushKind DetectFlushKind() {
#if FERRITE_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if (b & (1u << 24)) return FlushKind::kClwb;
    if (b & (1u << 23)) return FlushKind::kClflushopt;
  }
  return FlushKind::kClflush;
#else
  return FlushKind::kNone;
#endif
}

// Detected once when the library loads (C++ static initialisation).
static const FlushKind kFlushKind = DetectFlushKind();
static const uint64_t kPageSize = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));

static const char* FlushKindName(FlushKind kind) {
  switch (kind) {
    case FlushKind::kClwb: return "clwb";
    case FlushKind::kClflushopt: return "clflushopt";
    case FlushKind::kClflush: return "clflush";
    case FlushKind::kNone: return "none";
  }
  return "none";
}

// Writes back every cache line overlapping [start, start + length). Without a fence.
static inline void FlushLines(const uint8_t* start, uint64_t length) {
  if (length == 0) return;
  uintptr_t p = reinterpret_cast<uintptr_t>(start) & ~uintptr_t(kCacheLine - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(start) + length;
#if FERRITE_X86
  // The "memory" clobber keeps the compiler from moving earlier stores past the flush.
  switch (kFlushKind) {
    case FlushKind::kClwb:
      for (; p < end; p += kCacheLine) asm volatile("clwb (%0)" : : "r"(p) : "memory");
      break;
    case FlushKind::kClflushopt:
      for (; p < end; p += kCacheLine) asm volatile("clflushopt (%0)" : : "r"(p) : "memory");
      break;
    default:
      for (; p < end; p += kCacheLine) asm volatile("clflush (%0)" : : "r"(p) : "memory");
      break;
  }
#else
  (void)p;
  (void)end;
#endif
}

static inline void Fence() {
#if FERRITE_X86
  asm volatile("sfence" : : : "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

// ---------------------------------------------------------------------------------------
// Errors (the shared helpers are in common.h).

// The code of a failed msync: the file system full (a copy-on-write or delayed allocation
// that writeback could not place) is ENOSPC like any full file system; an unmapped range is
// our bug surfaced as EINVAL; anything else is an I/O error.
static const char* MsyncCode(int err) {
  if (err == ENOSPC || err == EDQUOT) return "ENOSPC";
  if (err == ENOMEM) return "EINVAL";
  return "EIO";
}

static uint64_t RoundUpToPage(uint64_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

// Lines of a small /proc file (a count of /proc/self/maps is the process's mappings), read
// with a buffer on the stack: it runs where an allocation may have just failed. -1 if unread.
static int64_t CountLines(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[16384];
  int64_t lines = 0;
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
  }
  close(fd);
  return lines;
}

// The failure of mmap, mremap or mprotect. ENOMEM has two causes, told apart for the reader:
// no address space, or the kernel's limit on mappings per process (vm.max_map_count, 65530 by
// default, which every mapping of the process counts against: Node's own, each split of one by
// mprotect, and the ranges of mappings dropped unclosed, which stay reserved).
static void ThrowMapErrno(Napi::Env env, const char* op, const std::string& path, const char* what, int err) {
  if (err != ENOMEM) {
    ThrowErrno(env, op, path, what, err);
    return;
  }
  std::string limit = "?";
  const int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[32];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = '\0';
      limit = std::string(buf, strcspn(buf, "\n"));
    }
    close(fd);
  }
  const int64_t maps = CountLines("/proc/self/maps");
  ThrowCode(env, "ENOMEM", Prefix(op, path) + what + ": " + strerror(err) +
                               " (errno 12): no room for the mapping: the process has no address space left for "
                               "it, or has reached the kernel's limit on mappings (vm.max_map_count = " + limit +
                               "; it has " + (maps < 0 ? std::string("?") : std::to_string(maps)) +
                               "). Close mappings it no longer needs (one dropped without close() keeps its range "
                               "until the process exits). " +
                               (strcmp(what, "mprotect") == 0
                                    ? "Part of the range may have taken the new protection (mprotect stops at the "
                                      "first kernel mapping it cannot split)"
                                    : "The existing mappings are unchanged"));
}

// ---------------------------------------------------------------------------------------
// Owned resources.

// One address range from mmap; unmapped when the last owner goes. While it maps the file it
// is registered with the fault guard (fault-guard.h), which turns a SIGBUS in it into a
// counted fault instead of a process death.
struct Span {
  uint8_t* address;
  uint64_t length;  // page-rounded: what mmap returned
  int guard_slot = -1;
  // Ranges past `length` that a shrink gave back as anonymous zero pages (ShrinkPrivate): a
  // buffer over the old length that escaped detaching reads zeros there, and they go with us.
  std::vector<std::pair<uint8_t*, uint64_t>> tails;
  // Still the file's pages: never tombstoned (an open mapping, or one dropped without close).
  bool maps_file = true;
  // A buffer over it was detached by JavaScript, not by us: `ArrayBuffer.prototype.transfer`
  // (Node 22+) moved its memory into a buffer we do not know, which may be posted to another
  // thread and outlive every owner here.
  bool escaped = false;
  Span(uint8_t* a, uint64_t n) : address(a), length(n) {}
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  // The last owner gone. A span that still maps the file, or whose buffer escaped, may be read
  // through a buffer we cannot see: a mapping's buffer transfer()red to another thread, whose
  // worker then ended (Node finalizes an ending environment's buffers whether or not their
  // memory lives on elsewhere: found in review, a SIGSEGV on the next read). Such a range is
  // tombstoned and kept, never unmapped: it costs address space (zero pages, MAP_NORESERVE),
  // not memory. A mapping closed normally is unmapped as before.
  ~Span() {
    guard::Unregister(guard_slot);
    guard_slot = -1;  // once: Tombstone below must not release a slot another mapping took since
    if (address == nullptr) return;
    if (maps_file || escaped) {
      if (maps_file) (void)Tombstone();
      return;  // kept, tails included
    }
    munmap(address, length);
    for (const auto& t : tails) munmap(t.first, t.second);
  }
  // Replaces the file mapping with anonymous zero pages in place (see the file comment).
  // Returns 0 or an errno.
  int Tombstone() {
    guard::Unregister(guard_slot);  // no file page is mapped from here on
    guard_slot = -1;
    void* p = MAP_FAILED;
    do {
      p = mmap(address, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
      // A process at vm.max_map_count: one of the fault guard's spare mappings makes room.
    } while (p == MAP_FAILED && errno == ENOMEM && guard::ReleaseSpare());
    maps_file = false;
    if (p == MAP_FAILED) {
      const int err = errno;
      // MAP_FIXED failing may already have removed the old mapping; remove the rest so no
      // file page stays mapped. A stray access would now fault, but every JS view is
      // detached by the caller, so only an escaped backing store could reach it.
      munmap(address, length);
      address = nullptr;
      return err;
    }
    return 0;
  }
};

// The open file: its descriptor carries the flock, released when the descriptor closes. A
// file being created is hidden (create-file.h) until published; closing it unpublished
// removes its temporary name, if it has one, while the lock is still held.
struct FileState {
  int fd;
  NewFile pending;
  explicit FileState(int f) : fd(f) {}
  FileState(const FileState&) = delete;
  FileState& operator=(const FileState&) = delete;
  ~FileState() { Close(); }
  void Close() {
    if (pending.hidden) DiscardName(&pending);
    pending.hidden = false;
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

// What the bytes of an external ArrayBuffer need to stay valid. Declared span last, so that
// it goes first (its guard slot is released before the descriptor closes).
struct BufferOwner {
  std::shared_ptr<FileState> file;
  std::shared_ptr<Span> span;
};

// Owners of external buffers, by id: the finalize hint is an id, never a pointer. When
// napi_create_external_arraybuffer fails, Node may already have run the finalizer (Node 20
// does, for a buffer over its size limit), may run it later, or never: only the table can
// tell whether the owner is still ours to free, and an id is never reused (no ABA).
static std::mutex owners_mutex;
static std::unordered_map<uint64_t, BufferOwner*>& Owners() {
  static auto* owners = new std::unordered_map<uint64_t, BufferOwner*>();  // lives to exit
  return *owners;
}
static uint64_t next_owner_id = 1;

static uint64_t AddOwner(BufferOwner* owner) {
  std::lock_guard<std::mutex> lock(owners_mutex);
  const uint64_t id = next_owner_id++;
  Owners().emplace(id, owner);
  return id;
}

// Removes and returns the owner of `id`, or nullptr when it is gone already.
static BufferOwner* TakeOwner(uint64_t id) {
  std::lock_guard<std::mutex> lock(owners_mutex);
  auto it = Owners().find(id);
  if (it == Owners().end()) return nullptr;
  BufferOwner* owner = it->second;
  Owners().erase(it);
  return owner;
}

static void FinalizeBuffer(napi_env /*env*/, void* /*data*/, void* hint) {
  delete TakeOwner(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(hint)));
}

// The largest ArrayBuffer this runtime makes (buffer.constants.MAX_LENGTH, given by the
// TypeScript face at load: 2^32 on Node 20, 2^53 - 1 from Node 22) and its version. A mapping
// longer than that is refused before anything is created or mapped. Process-wide: every
// environment of a process runs the same Node.
static std::atomic<uint64_t> runtime_max_length{uint64_t(1) << 32};
static std::mutex runtime_mutex;
static std::string& RuntimeVersion() {
  static auto* version = new std::string("unknown");
  return *version;
}

// ---------------------------------------------------------------------------------------
// The mapping object.

class NativeMapping : public Napi::ObjectWrap<NativeMapping> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeMapping",
                       {
                           InstanceMethod<&NativeMapping::Flush>("flush"),
                           InstanceMethod<&NativeMapping::FlushRanges>("flushRanges"),
                           InstanceMethod<&NativeMapping::PersistRanges>("persistRanges"),
                           InstanceMethod<&NativeMapping::Drain>("drain"),
                           InstanceMethod<&NativeMapping::Persist>("persist"),
                           InstanceMethod<&NativeMapping::Protect>("protect"),
                           InstanceMethod<&NativeMapping::Grow>("grow"),
                           InstanceMethod<&NativeMapping::Remap>("remap"),
                           InstanceMethod<&NativeMapping::Shrink>("shrink"),
                           InstanceMethod<&NativeMapping::Unmap>("unmap"),
                           InstanceMethod<&NativeMapping::Buffer>("buffer"),
                           InstanceMethod<&NativeMapping::Info>("info"),
                           InstanceMethod<&NativeMapping::PublishFile>("publish"),
                           InstanceMethod<&NativeMapping::Discard>("discard"),
                           InstanceMethod<&NativeMapping::CheckFile>("checkFile"),
                       });
  }

  // new NativeMapping(path, offset, length (-1: to end of file), writable, createSize (-1: no
  // create), mode, exclusive, forcePmem, copyOnWrite, publishLater, lock (0 none, 1 shared,
  // 2 exclusive, 3 the default: exclusive for 'rw', shared for 'r'))
  explicit NativeMapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMapping>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 11 || !info[0].IsString()) {
      ThrowCode(env, "EINVAL", "map: path must be a string");
      return;
    }
    path_ = info[0].As<Napi::String>().Utf8Value();
    if (path_.empty() || path_.find('\0') != std::string::npos) {
      ThrowCode(env, "EINVAL", "map(" + path_ + "): path must be a non-empty string without NUL");
      return;
    }
    const char* op = "map";
    uint64_t offset = 0, mode = 0;
    bool want_length = false, want_create = false;
    uint64_t length = 0, create_size = 0;
    bool writable = false, exclusive = false, force_pmem = false, cow = false, publish_later = false;
    if (!ReadIndex(env, info[1], op, path_, "offset", &offset)) return;
    if (!(info[2].IsNumber() && info[2].As<Napi::Number>().DoubleValue() == -1)) {
      if (!ReadIndex(env, info[2], op, path_, "length", &length)) return;
      want_length = true;
    }
    if (!ReadBool(env, info[3], op, path_, "writable", &writable)) return;
    if (!(info[4].IsNumber() && info[4].As<Napi::Number>().DoubleValue() == -1)) {
      if (!ReadIndex(env, info[4], op, path_, "create.size", &create_size)) return;
      want_create = true;
    }
    if (!ReadIndex(env, info[5], op, path_, "create.mode", &mode)) return;
    if (!ReadBool(env, info[6], op, path_, "create.exclusive", &exclusive)) return;
    if (!ReadBool(env, info[7], op, path_, "forcePmem", &force_pmem)) return;
    if (!ReadBool(env, info[8], op, path_, "copyOnWrite", &cow)) return;
    if (!ReadBool(env, info[9], op, path_, "create.publishLater", &publish_later)) return;
    uint64_t lock = 3;
    if (!ReadIndex(env, info[10], op, path_, "lock", &lock)) return;
    if (lock > 3) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "lock must be 0..3");
      return;
    }
    lock_mode_ = lock == 3 ? (writable ? 2 : 1) : static_cast<int>(lock);
    if (want_create && lock_mode_ != 2) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "create needs the exclusive lock");
      return;
    }

    // Argument checks that need no file.
    if (offset % kPageSize != 0) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "offset " + std::to_string(offset) +
                                   " is not a multiple of the page size " + std::to_string(kPageSize));
      return;
    }
    if (want_length && (length == 0 || length % kPageSize != 0)) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "length " + std::to_string(length) +
                                   " is not a positive multiple of the page size " + std::to_string(kPageSize));
      return;
    }
    if (mode > 07777) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "create.mode " + std::to_string(mode) + " is not a file mode");
      return;
    }
    if (want_create && (!writable || cow)) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "create needs protection 'rw' without copyOnWrite");
      return;
    }
    if (publish_later && !(want_create && exclusive)) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "create.publishLater needs create with exclusive: true");
      return;
    }
    if (want_create && (create_size == 0 || create_size > kMaxMappingLength)) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "create.size " + std::to_string(create_size) +
                                   " must be between 1 and 2^45");
      return;
    }
    if (offset > kMaxMappingLength || length > kMaxMappingLength) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "offset or length exceeds the limit of 2^45 bytes");
      return;
    }
    // Before anything is created: a pool this runtime cannot hold in one ArrayBuffer.
    if (want_create && !CheckRuntimeLength(env, op, create_size)) return;
    if (want_length && !CheckRuntimeLength(env, op, length)) return;

    // Open, lock and (when created) size the file. A non-exclusive create that another
    // process beats to publishing opens the file that process made: two passes at most.
    uint64_t file_size = 0;
    bool regular = false;
    bool fresh = false;
    OpenResult opened = OpenResult::kFailed;
    for (int pass = 0; pass < 2; pass++) {
      opened = OpenLockAndSize(env, want_create && pass == 0, want_create, create_size, static_cast<mode_t>(mode),
                               exclusive, writable, cow, want_length, publish_later, &file_size, &regular, &fresh);
      if (opened != OpenResult::kLostRace) break;
    }
    if (opened != OpenResult::kOk) return;
    const int fd = file_->fd;

    if (regular) {
      if (file_size == 0) {
        ThrowCode(env, "EINVAL", Prefix(op, path_) + "is a zero-length file");
        return;
      }
      if (offset >= file_size) {
        ThrowCode(env, "ERANGE", Prefix(op, path_) + "offset " + std::to_string(offset) +
                                     " is at or past the end of the file (" + std::to_string(file_size) +
                                     " bytes)");
        return;
      }
      if (!want_length) length = file_size - offset;
      if (offset + length > file_size) {
        ThrowCode(env, "ERANGE", Prefix(op, path_) + "offset + length = " + std::to_string(offset + length) +
                                     " is past the end of the file (" + std::to_string(file_size) + " bytes)");
        return;
      }
    }
    if (length > kMaxMappingLength) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "length exceeds the limit of 2^45 bytes");
      return;
    }
    if (!CheckRuntimeLength(env, op, length)) return;
    // Never map a hole writable: a store into it asks the file system for a block, and a
    // full one answers with SIGBUS. A sparse file (an older ferrite's failed grow, another
    // tool) gets its holes allocated now, or the map fails with a typed error. A writer's
    // private mapping stores nothing into the file, but the writer pwrites its pages there
    // (FileHandle): allocated now, those writes never need a block either.
    if (regular && writable && !fresh) {
      SpaceFailure failure;
      if (!AllocateWithin(fd, offset, offset + length, IsTmpfs(fd), &failure)) {
        ThrowErrno(env, op, path_, failure.step, failure.err);
        return;
      }
    }

    writable_ = writable;
    cow_ = cow;
    file_offset_ = offset;
    length_ = length;
    void* address = MapFile(fd, offset, RoundUpToPage(length), /*try_sync=*/!cow, &dax_);
    if (address == MAP_FAILED) {
      ThrowMapErrno(env, op, path_, "mmap", errno);
      return;
    }
    span_ = std::make_shared<Span>(static_cast<uint8_t*>(address), RoundUpToPage(length));
    if (!GuardSpan(env, op)) return;
    base_ = span_->address;
    line_granularity_ = dax_ || force_pmem;
    // What a flush must do: nothing when no store can reach the file.
    flushes_ = writable_ && !cow_;
    Napi::ArrayBuffer buffer = NewBuffer(env);
    if (env.IsExceptionPending()) return;
    buffer_ = Napi::Persistent(buffer);
    RegisterMappedRange(&pins_, base_, length_);
  }

  // Its bytes may outlive it (an array a queued program holds); its pins go with it.
  ~NativeMapping() override { UnregisterMappedRange(&pins_); }

 private:
  // mmap with MAP_SHARED_VALIDATE|MAP_SYNC first (a DAX mapping that needs no msync), then
  // plain MAP_SHARED. Private (copy-on-write) mappings cannot be MAP_SYNC.
  void* MapFile(int fd, uint64_t offset, uint64_t length, bool try_sync, bool* dax) {
    const int prot = (writable_ || cow_) ? (PROT_READ | PROT_WRITE) : PROT_READ;
    *dax = false;
    if (cow_) return mmap(nullptr, length, prot, MAP_PRIVATE, fd, static_cast<off_t>(offset));
    if (try_sync) {
      void* p = mmap(nullptr, length, prot, MAP_SHARED_VALIDATE | MAP_SYNC, fd, static_cast<off_t>(offset));
      if (p != MAP_FAILED) {
        *dax = true;
        return p;
      }
      if (errno != EOPNOTSUPP && errno != EINVAL) return MAP_FAILED;
    }
    return mmap(nullptr, length, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  }

  enum class OpenResult { kOk, kFailed, kLostRace };

  // Opens the file (creating it hidden when `create` and it is missing), locks it and, when
  // created (or an existing empty file), sizes it with every block allocated. A hidden file
  // is published here unless `publish_later`. kLostRace: another process published the path
  // first and this create was not exclusive (the caller opens that file instead).
  OpenResult OpenLockAndSize(const Napi::Env& env, bool create, bool no_follow, uint64_t create_size, mode_t mode,
                             bool exclusive,
                             bool writable, bool cow, bool want_length, bool publish_later, uint64_t* file_size,
                             bool* regular, bool* fresh) {
    const char* op = "map";
    // O_NONBLOCK so that opening a FIFO never waits for a writer.
    const int access = writable ? O_RDWR : O_RDONLY;
    const int base_flags = access | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    file_.reset();
    NewFile made;
    int fd = -1;
    if (create) {
      // Never through a symlink: O_NOFOLLOW here, and the new file is linked, not opened.
      fd = open(path_.c_str(), base_flags | O_NOFOLLOW);
      const int err = errno;
      if (exclusive && (fd >= 0 || err == ELOOP)) {
        if (fd >= 0) close(fd);
        ThrowCode(env, "EEXIST", Prefix(op, path_) + "exists (exclusive create)");
        return OpenResult::kFailed;
      }
      if (fd < 0 && err == ENOENT) {
        std::string step;
        const int cerr = CreateHidden(path_, mode, base_flags, &made, &step);
        if (cerr != 0) {
          ThrowErrno(env, op, path_, step, cerr);
          return OpenResult::kFailed;
        }
        fd = made.fd;
      } else if (fd < 0) {
        errno = err;
      }
    } else {
      fd = open(path_.c_str(), base_flags | (no_follow ? O_NOFOLLOW : 0));
    }
    if (fd < 0) {
      const int err = errno;
      if (err == ELOOP && no_follow) {
        ThrowCode(env, "EINVAL", Prefix(op, path_) + "is a symbolic link; creation never follows one");
      } else {
        ThrowErrno(env, op, path_, "open", err);
      }
      return OpenResult::kFailed;
    }
    file_ = std::make_shared<FileState>(fd);
    file_->pending = made;
    *fresh = made.hidden;

    struct stat st;
    if (fstat(fd, &st) != 0) {
      ThrowErrno(env, op, path_, "fstat", errno);
      return OpenResult::kFailed;
    }
    *regular = S_ISREG(st.st_mode);
    const bool device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    if (!*regular && !device) {
      ThrowCode(env, "ENODEV", Prefix(op, path_) + "cannot be mapped: not a regular file or device");
      return OpenResult::kFailed;
    }
    if (device && !want_length) {
      ThrowCode(env, "ENODEV", Prefix(op, path_) + "is a device: its size is unknown, pass length");
      return OpenResult::kFailed;
    }

    // Lock before sizing, so that we never resize a file someone else holds. A 'rw' mapping
    // is the writer's, shared or private (copy-on-write): exclusive, unless the caller holds
    // the lock through another mapping (lock 'none': the writer's private view of a pool file
    // whose shared mapping holds it) or takes none on purpose (a reader that must never stop
    // a writer from opening).
    const bool exclusive_lock = lock_mode_ == 2;
    if (lock_mode_ != 0 && flock(fd, (exclusive_lock ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        ThrowCode(env, "EBUSY", Prefix(op, path_) + (exclusive_lock ? "an exclusive" : "a shared") +
                                    " lock is refused: the file is mapped by another " +
                                    (exclusive_lock ? "mapping" : "writer"));
      } else {
        ThrowErrno(env, op, path_, "flock", err);
      }
      return OpenResult::kFailed;
    }

    *file_size = static_cast<uint64_t>(st.st_size);
    if (*regular && create && *file_size == 0) {
      // A new file, or an existing empty one (sized as if new). On failure the file is as
      // before: a hidden one vanishes with its descriptor, an existing one stays empty.
      SpaceFailure failure;
      if (!ExtendAllocated(fd, 0, create_size, &failure)) {
        ThrowErrno(env, op, path_, failure.step, failure.err);
        return OpenResult::kFailed;
      }
      *file_size = create_size;
    }
    if (file_->pending.hidden && !publish_later) {
      std::string step;
      const int err = Publish(&file_->pending, path_, &step);
      if (err == EEXIST && !exclusive) {
        file_.reset();  // discards the file we made; the caller opens the one that won
        return OpenResult::kLostRace;
      }
      if (err != 0) {
        ThrowErrno(env, op, path_, step, err);
        return OpenResult::kFailed;
      }
    }
    return OpenResult::kOk;
  }

  // Registers span_ with the fault guard; ENOMEM when its table is full.
  bool GuardSpan(const Napi::Env& env, const char* op) {
    const int prot = (writable_ || cow_) ? (PROT_READ | PROT_WRITE) : PROT_READ;
    span_->guard_slot = guard::Register(span_->address, span_->length, file_->fd, file_offset_, prot, !cow_);
    guard_slot_ = span_->guard_slot;
    if (guard_slot_ < 0) {
      ThrowCode(env, "ENOMEM", Prefix(op, path_) + "more than " + std::to_string(guard::kMaxGuarded) +
                                   " mappings are open in this process");
      return false;
    }
    return true;
  }

  bool CheckRuntimeLength(const Napi::Env& env, const char* op, uint64_t length) {
    const uint64_t max = runtime_max_length.load(std::memory_order_relaxed);
    if (length <= max) return true;
    std::string version;
    {
      std::lock_guard<std::mutex> lock(runtime_mutex);
      version = RuntimeVersion();
    }
    ThrowCode(env, "ERANGE", Prefix(op, path_) + "a mapping of " + std::to_string(length) +
                                 " bytes exceeds the largest ArrayBuffer of Node " + version + ", " +
                                 std::to_string(max) + " bytes (ferrite reads a pool as one Uint8Array); " +
                                 "Node 22 and later allow 2^53 - 1 bytes");
    return false;
  }

  // The ArrayBuffer over [base_, base_ + length_). Its owner keeps the span and the file alive
  // until the buffer is collected (see Owners for why it is found by id).
  Napi::ArrayBuffer NewBuffer(Napi::Env env) {
    const uint64_t id = AddOwner(new BufferOwner{file_, span_});
    napi_value value = nullptr;
    const napi_status status = napi_create_external_arraybuffer(
        env, base_, static_cast<size_t>(length_), FinalizeBuffer, reinterpret_cast<void*>(static_cast<uintptr_t>(id)),
        &value);
    if (status != napi_ok) {
      delete TakeOwner(id);  // nullptr when Node already ran the finalizer
      std::string why = "napi_create_external_arraybuffer failed";
      if (env.IsExceptionPending()) {
        Napi::Error e = env.GetAndClearPendingException();
        why += ": " + e.Message();
      }
      ThrowCode(env, "ENOMEM", Prefix("map", path_) + why);
      return Napi::ArrayBuffer();
    }
    return Napi::ArrayBuffer(env, value);
  }

  // Throws (and returns false) once the fault guard caught a SIGBUS in this mapping.
  bool CheckFaults(const Napi::Env& env, const char* op) {
    const uint64_t faults = guard::Faults(guard_slot_);
    if (faults == 0) return true;
    const uint64_t at = guard::FirstFaultOffset(guard_slot_);
    struct stat st;
    const bool truncated = file_ && fstat(file_->fd, &st) == 0 &&
                           static_cast<uint64_t>(st.st_size) < file_offset_ + length_;
    const bool full = file_ && AvailableBytes(file_->fd) < kPageSize;
    const char* code = (!truncated && full) ? "ENOSPC" : "EIO";
    const std::string reason =
        truncated ? "the file was truncated by another program"
        : full    ? "the file system is full and could not give the page space"
                  : "the file system could not provide the page (an I/O error, or space it could not reserve)";
    ThrowCode(env, code, Prefix(op, path_) + std::to_string(faults) +
                             " page(s) of this mapping faulted (SIGBUS; the first at offset " +
                             std::to_string(at) + "): " + reason +
                             ". Those pages now live in this process only: the mapping no longer matches the file "
                             "and nothing more is made durable through it. Close it and map the file again (a "
                             "pool reopened recovers its last committed state)");
    return false;
  }

  // EBUSY while a submitted I/O program writes from [offset, offset + length) of the bytes
  // (any of them with `all`): closing, growing or discarding would change what it writes.
  bool CheckUnpinned(const Napi::Env& env, const char* op, uint64_t offset, uint64_t length, bool all) {
    const uint64_t pins = PinsOver(&pins_, offset, length, all);
    if (pins == 0) return true;
    ThrowCode(env, "EBUSY", Prefix(op, path_) + std::to_string(pins) +
                                " write step(s) of submitted I/O programs read these bytes: wait for them (their "
                                "promises, or queue.waitIdle()) first");
    return false;
  }

  bool CheckOpen(const Napi::Env& env, const char* op) {
    if (closed_) {
      ThrowCode(env, "ECLOSED", Prefix(op, path_) + "the mapping was unmapped");
      return false;
    }
    return true;
  }

  // Reads (offset, length) at info[first] and checks the range lies in the mapping.
  bool ReadRange(const Napi::CallbackInfo& info, size_t first, const char* op, uint64_t* offset,
                 uint64_t* length) {
    Napi::Env env = info.Env();
    if (!ReadIndex(env, info[first], op, path_, "offset", offset)) return false;
    if (!ReadIndex(env, info[first + 1], op, path_, "length", length)) return false;
    if (*offset > length_ || *length > length_ - *offset) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "range [" + std::to_string(*offset) + ", " +
                                   std::to_string(*offset + *length) + ") is outside the mapping of " +
                                   std::to_string(length_) + " bytes");
      return false;
    }
    return true;
  }

  // msync(MS_SYNC) of the pages covering [offset, offset + length). Returns 0 or an errno.
  int SyncPages(uint64_t offset, uint64_t length) {
    if (length == 0) return 0;
    const uint64_t start = offset & ~(kPageSize - 1);
    const uint64_t end = RoundUpToPage(offset + length);
    if (msync(base_ + start, end - start, MS_SYNC) != 0) return errno;
    return 0;
  }

  // After a successful msync of the mapping's bytes below `end`: throws EIO (and returns false)
  // when the file no longer holds them. Another program cut the file: the kernel dropped those
  // pages, and msync of what is past the end succeeds with nothing written (found in review:
  // persist reported success; the README promises a refusal). One fstat, next to an msync.
  bool CheckFileCovers(const Napi::Env& env, const char* op, uint64_t end) {
    if (cow_) return true;
    return CheckFileHolds(env, op, end);
  }

  // Throws EIO (and returns false) when the file, a regular one, ends before the mapping's byte
  // `end` (clamped to the mapping): another program cut it, and the pages past its new end are
  // gone (a private mapping's untouched pages too: they showed the file). One fstat.
  bool CheckFileHolds(const Napi::Env& env, const char* op, uint64_t end) {
    if (!file_) return true;
    struct stat st;
    if (fstat(file_->fd, &st) != 0 || !S_ISREG(st.st_mode)) return true;
    const uint64_t need = file_offset_ + (end < length_ ? end : length_);
    if (static_cast<uint64_t>(st.st_size) >= need) return true;
    ThrowCode(env, "EIO", Prefix(op, path_) + "the file was truncated by another program to " +
                              std::to_string(st.st_size) + " bytes: the mapped bytes past its end are gone and were "
                              "not made durable. Close the mapping and map the file again (a pool reopened recovers "
                              "its last committed state)");
    return false;
  }

  // The flush of one validated range; false (with an exception) on an msync failure, a fault
  // the flush itself met (a cache-line flush of a page the file lost), or a file cut under it.
  bool FlushChecked(const Napi::Env& env, const char* op, uint64_t offset, uint64_t length) {
    if (!CheckFaults(env, op)) return false;
    if (!flushes_) return true;
    if (line_granularity_ && kFlushKind != FlushKind::kNone) {
      FlushLines(base_ + offset, length);
      return CheckFaults(env, op);
    }
    const int err = SyncPages(offset, length);
    if (err != 0) {
      ThrowCode(env, MsyncCode(err), Prefix(op, path_) + "msync: " + strerror(err));
      return false;
    }
    return CheckFileCovers(env, op, offset + length);
  }

  // checkFile(): throws when the file no longer backs every page of the mapping: a page
  // faulted (CheckFaults: ENOSPC or EIO), or another program cut the file shorter than the
  // mapping (EIO) — what a write through a private view or a shared one can no longer be made
  // durable past. No msync: one fstat, cheap enough for every commit of a pool file (the
  // writer's private view reads zeros where the file lost its pages, and must not log them).
  Napi::Value CheckFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "checkFile";
    if (!CheckOpen(env, op) || !CheckFaults(env, op)) return Napi::Value();
    CheckFileHolds(env, op, length_);
    return Napi::Value();
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset, length;
    if (!CheckOpen(env, "flush") || !ReadRange(info, 0, "flush", &offset, &length)) return Napi::Value();
    FlushChecked(env, "flush", offset, length);
    return Napi::Value();
  }

  Napi::Value Persist(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset, length;
    if (!CheckOpen(env, "persist") || !ReadRange(info, 0, "persist", &offset, &length)) return Napi::Value();
    if (!FlushChecked(env, "persist", offset, length)) return Napi::Value();
    if (flushes_ && line_granularity_) Fence();
    return Napi::Value();
  }

  Napi::Value Drain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "drain") || !CheckFaults(env, "drain")) return Napi::Value();
    // Page granularity: msync(MS_SYNC) already waited, so there is nothing to drain.
    if (flushes_ && line_granularity_) Fence();
    return Napi::Value();
  }

  // persistRanges(ranges, count?): flushRanges then the fence, one crossing for a whole commit.
  // Nothing is fenced when the flushes failed (an exception is pending).
  Napi::Value PersistRanges(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    // The commit path's shape, (Float64Array, count) on a usable mapping, read with one N-API
    // call per argument: the general path below costs about 120 ns more per call here (type
    // tests and repeated reads of the array's info), on a call every transaction makes twice.
    if (PersistFloat64Fast(env, info)) {
      // A flush that met a page the file lost (the fault guard diverted it) made nothing durable.
      if (guard::Faults(guard_slot_) != 0) CheckFaults(env, "persistRanges");
      return Napi::Value();
    }
    FlushRanges(info);
    if (env.IsExceptionPending()) return Napi::Value();
    if (flushes_ && line_granularity_) Fence();
    return Napi::Value();
  }

  // persistRanges for the common case: a Float64Array and an explicit count, on an open mapping
  // with no fault, flushing cache lines. Returns false (having done nothing) for anything else,
  // which then takes the general path with its checks and error messages. The pairs are
  // checked as FlushPairs checks them, all before any flush.
  bool PersistFloat64Fast(const Napi::Env& env, const Napi::CallbackInfo& info) {
    if (closed_ || info.Length() != 2 || !flushes_ || !line_granularity_ || kFlushKind == FlushKind::kNone) return false;
    if (guard::Faults(guard_slot_) != 0) return false;
    napi_typedarray_type type;
    size_t elements;
    void* data;
    if (napi_get_typedarray_info(env, info[0], &type, &elements, &data, nullptr, nullptr) != napi_ok) return false;
    if (type != napi_float64_array) return false;
    double count_d;
    if (napi_get_value_double(env, info[1], &count_d) != napi_ok) return false;
    if (!(count_d >= 0 && count_d <= static_cast<double>(elements / 2) && std::floor(count_d) == count_d)) return false;
    const uint64_t count = static_cast<uint64_t>(count_d);
    if (count > kMaxRangePairs) return false;
    const double* doubles = static_cast<const double*>(data);
    const uint64_t limit = length_;
    // A Float64Array over a SharedArrayBuffer may change under us: each pair is read once into
    // locals, validated, and only then used (a pair that does not validate sends the whole
    // call to the general path, which throws, before anything was flushed).
    for (uint64_t i = 0; i < count; i++) {
      const double od = doubles[2 * i], ld = doubles[2 * i + 1];
      if (!(od >= 0 && od <= kMaxSafeInteger && ld >= 0 && ld <= kMaxSafeInteger)) return false;
      if (std::floor(od) != od || std::floor(ld) != ld) return false;
      const uint64_t o = static_cast<uint64_t>(od), l = static_cast<uint64_t>(ld);
      if (o > limit || l > limit - o) return false;
    }
    for (uint64_t i = 0; i < count; i++) {
      const double od = doubles[2 * i], ld = doubles[2 * i + 1];
      if (!(od >= 0 && od <= kMaxSafeInteger && ld >= 0 && ld <= kMaxSafeInteger)) continue;
      const uint64_t o = static_cast<uint64_t>(od), l = static_cast<uint64_t>(ld);
      if (o > limit || l > limit - o) continue;
      FlushLines(base_ + o, l);
    }
    Fence();
    return true;
  }

  // flushRanges(ranges: Float64Array | number[], count?: number). All pairs are checked
  // before any is flushed. Page granularity merges consecutive overlapping page spans into
  // one msync.
  Napi::Value FlushRanges(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "flushRanges";
    if (!CheckOpen(env, op) || !CheckFaults(env, op)) return Napi::Value();
    const double* doubles = nullptr;
    Napi::Array array;
    uint64_t elements = 0;
    Napi::Value ranges = info[0];
    if (ranges.IsTypedArray()) {
      Napi::TypedArray typed = ranges.As<Napi::TypedArray>();
      if (typed.TypedArrayType() != napi_float64_array) {
        ThrowCode(env, "EINVAL", Prefix(op, path_) + "ranges must be a Float64Array or an array of numbers");
        return Napi::Value();
      }
      Napi::Float64Array f64 = ranges.As<Napi::Float64Array>();
      doubles = f64.Data();
      elements = f64.ElementLength();
    } else if (ranges.IsArray()) {
      array = ranges.As<Napi::Array>();
      elements = array.Length();
    } else {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "ranges must be a Float64Array or an array of numbers");
      return Napi::Value();
    }
    uint64_t count;
    if (info.Length() < 2 || info[1].IsUndefined()) {
      if (elements % 2 != 0) {
        ThrowCode(env, "EINVAL", Prefix(op, path_) + "ranges holds an odd number of elements (" +
                                     std::to_string(elements) + "); pass count");
        return Napi::Value();
      }
      count = elements / 2;
    } else {
      if (!ReadIndex(env, info[1], op, path_, "count", &count)) return Napi::Value();
      if (count > elements / 2) {
        ThrowCode(env, "ERANGE", Prefix(op, path_) + "count " + std::to_string(count) + " exceeds the " +
                                     std::to_string(elements / 2) + " pairs in ranges");
        return Napi::Value();
      }
    }
    if (count > kMaxRangePairs) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "count " + std::to_string(count) + " exceeds the limit of " +
                                   std::to_string(kMaxRangePairs) + " pairs per call");
      return Napi::Value();
    }
    if (doubles == nullptr && count > 0) return FlushRangesArray(env, array, count);
    return FlushPairs(env, doubles, count);
  }

  // The number[] form: elements are copied once into scratch memory (number arrays are the
  // slow path; Float64Array is the one without allocation). Reading an element may run
  // JavaScript (a getter, a Proxy) that could even unmap or grow this mapping, so nothing is
  // validated until every element has been read.
  Napi::Value FlushRangesArray(const Napi::Env& env, const Napi::Array& array, uint64_t count) {
    std::unique_ptr<double[]> pairs(new double[2 * count]);
    for (uint64_t i = 0; i < 2 * count; i++) {
      Napi::Value v = array.Get(static_cast<uint32_t>(i));
      if (env.IsExceptionPending()) return Napi::Value();
      if (!v.IsNumber()) {
        ThrowCode(env, "EINVAL", Prefix("flushRanges", path_) + "ranges[" + std::to_string(i) + "] must be a number");
        return Napi::Value();
      }
      pairs[i] = v.As<Napi::Number>().DoubleValue();
    }
    if (!CheckOpen(env, "flushRanges") || !CheckFaults(env, "flushRanges")) return Napi::Value();
    return FlushPairs(env, pairs.get(), count);
  }

  // Pass 1 validates every pair, pass 2 flushes. Pass 2 re-derives each pair and skips any
  // that no longer validates: a Float64Array over a SharedArrayBuffer can change under us
  // (another thread), and a skipped flush is a wrong answer while a bad address is a crash.
  Napi::Value FlushPairs(const Napi::Env& env, const double* doubles, uint64_t count) {
    for (uint64_t i = 0; i < count; i++) {
      if (!CheckPair(env, doubles[2 * i], doubles[2 * i + 1], i)) return Napi::Value();
    }
    if (!flushes_) return Napi::Value();
    const uint64_t limit = length_;
    auto pair_at = [doubles, limit](uint64_t i, uint64_t* o, uint64_t* l) {
      const double od = doubles[2 * i], ld = doubles[2 * i + 1];
      *o = 0;
      *l = 0;
      if (!(od >= 0 && od <= kMaxSafeInteger && ld >= 0 && ld <= kMaxSafeInteger)) return;
      const uint64_t ou = static_cast<uint64_t>(od), lu = static_cast<uint64_t>(ld);
      if (ou > limit || lu > limit - ou) return;
      *o = ou;
      *l = lu;
    };
    if (line_granularity_ && kFlushKind != FlushKind::kNone) {
      for (uint64_t i = 0; i < count; i++) {
        uint64_t o, l;
        pair_at(i, &o, &l);
        FlushLines(base_ + o, l);
      }
      CheckFaults(env, "flushRanges");  // a flush that met a page the file lost
      return Napi::Value();
    }
    SyncPairs(env, pair_at, count);
    return Napi::Value();
  }

  bool CheckPair(const Napi::Env& env, double offset, double length, uint64_t index) {
    const char* op = "flushRanges";
    const bool offset_ok = offset >= 0 && offset <= kMaxSafeInteger && std::floor(offset) == offset;
    const bool length_ok = length >= 0 && length <= kMaxSafeInteger && std::floor(length) == length;
    if (!offset_ok || !length_ok) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "pair " + std::to_string(index) + " (" + std::to_string(offset) +
                                   ", " + std::to_string(length) + ") is not two non-negative safe integers");
      return false;
    }
    const uint64_t o = static_cast<uint64_t>(offset), l = static_cast<uint64_t>(length);
    if (o > length_ || l > length_ - o) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "pair " + std::to_string(index) + ": range [" +
                                   std::to_string(o) + ", " + std::to_string(o + l) + ") is outside the mapping of " +
                                   std::to_string(length_) + " bytes");
      return false;
    }
    return true;
  }

  template <typename PairAt>
  void SyncPairs(const Napi::Env& env, PairAt pair_at, uint64_t count) {
    // Merge runs of pairs whose covering pages overlap or touch into one msync each.
    uint64_t run_start = 0, run_end = 0;
    bool have_run = false;
    for (uint64_t i = 0; i < count; i++) {
      uint64_t o, l;
      pair_at(i, &o, &l);
      if (l == 0) continue;
      const uint64_t s = o & ~(kPageSize - 1), e = RoundUpToPage(o + l);
      if (have_run && s <= run_end && e >= run_start) {
        run_start = s < run_start ? s : run_start;
        run_end = e > run_end ? e : run_end;
        continue;
      }
      if (have_run && !SyncRun(env, run_start, run_end)) return;
      run_start = s;
      run_end = e;
      have_run = true;
    }
    if (have_run) SyncRun(env, run_start, run_end);
  }

  bool SyncRun(const Napi::Env& env, uint64_t start, uint64_t end) {
    if (msync(base_ + start, end - start, MS_SYNC) != 0) {
      const int err = errno;
      ThrowCode(env, MsyncCode(err), Prefix("flushRanges", path_) + "msync: " + strerror(err));
      return false;
    }
    return CheckFileCovers(env, "flushRanges", end);
  }

  // protect(offset, length, writable: boolean)
  Napi::Value Protect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "protect";
    uint64_t offset, length;
    bool want_write;
    if (!CheckOpen(env, op) || !ReadRange(info, 0, op, &offset, &length)) return Napi::Value();
    if (!ReadBool(env, info[2], op, path_, "writable", &want_write)) return Napi::Value();
    if (offset % kPageSize != 0 || (length % kPageSize != 0 && offset + length != length_)) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "range [" + std::to_string(offset) + ", " +
                                   std::to_string(offset + length) + ") is not page-aligned (page size " +
                                   std::to_string(kPageSize) + ")");
      return Napi::Value();
    }
    if (want_write && !writable_ && !cow_) {
      ThrowCode(env, "EACCES", Prefix(op, path_) + "cannot make a read-only mapping writable");
      return Napi::Value();
    }
    if (length == 0) return Napi::Value();
    const int prot = want_write ? (PROT_READ | PROT_WRITE) : PROT_READ;
    if (mprotect(base_ + offset, RoundUpToPage(length), prot) != 0) {
      ThrowMapErrno(env, op, path_, "mprotect", errno);
    }
    return Napi::Value();
  }

  // grow(newLength) -> the new ArrayBuffer. The old one is detached. A grow that fails leaves
  // the file as it was (its size, and no block reserved past it) and the mapping as it was.
  Napi::Value Grow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "grow";
    uint64_t new_length;
    if (!CheckOpen(env, op) || !ReadIndex(env, info[0], op, path_, "newLength", &new_length)) return Napi::Value();
    if (!writable_) {
      ThrowCode(env, "EACCES", Prefix(op, path_) + "only a 'rw' mapping (shared or private) can grow");
      return Napi::Value();
    }
    if (!CheckUnpinned(env, op, 0, 0, true)) return Napi::Value();
    if (new_length < length_ || new_length % kPageSize != 0) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "newLength " + std::to_string(new_length) +
                                   " must be a multiple of the page size and at least the current length " +
                                   std::to_string(length_));
      return Napi::Value();
    }
    if (new_length > kMaxMappingLength) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "newLength exceeds the limit of 2^45 bytes");
      return Napi::Value();
    }
    // A fresh mapping would drop the pages the fault guard made private: refuse instead.
    if (!CheckFaults(env, op)) return Napi::Value();
    if (new_length == length_) return LiveBuffer(env);
    if (!CheckRuntimeLength(env, op, new_length)) return Napi::Value();
    // A file another program cut shorter than the mapping: growing would extend it again with
    // zeros where its bytes were (a shared mapping), or call the cut a short file (a private
    // one), and what was mapped there would read as zeros without a word. Refuse (EIO).
    if (!CheckFileHolds(env, op, length_)) return Napi::Value();
    if (cow_) return GrowPrivate(env, new_length);

    const int fd = file_->fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
      ThrowErrno(env, op, path_, "fstat", errno);
      return Napi::Value();
    }
    const uint64_t old_size = static_cast<uint64_t>(st.st_size);
    const uint64_t mapped_end = file_offset_ + length_;
    const uint64_t new_size = file_offset_ + new_length;
    SpaceFailure failure;
    // Bytes the file already has past the mapping (a longer file, possibly with a sparse
    // tail that an older version's failed grow left) are allocated before they are mapped.
    const uint64_t kept_end = old_size < new_size ? old_size : new_size;
    if (kept_end > mapped_end && !AllocateWithin(fd, mapped_end, kept_end, IsTmpfs(fd), &failure)) {
      ThrowErrno(env, op, path_, failure.step, failure.err);
      return Napi::Value();
    }
    // The new bytes: allocated, then the size set and made durable (before any offset past
    // the old end is handed out); on failure the file is as it was.
    const bool extends = old_size < new_size;
    if (extends && !ExtendAllocated(fd, old_size, new_size, &failure)) {
      ThrowErrno(env, op, path_, failure.step, failure.err);
      return Napi::Value();
    }
    bool dax = false;
    void* address = MapFile(fd, file_offset_, RoundUpToPage(new_length), /*try_sync=*/dax_, &dax);
    if (address == MAP_FAILED) {
      const int err = errno;
      if (extends) UndoExtend(fd, old_size, new_size);
      ThrowMapErrno(env, op, path_, "mmap", err);
      return Napi::Value();
    }
    // A fresh range first, then retire the old one: never a moment without a valid mapping.
    return AdoptSpan(env, op, address, RoundUpToPage(new_length), new_length, [&]() {
      if (extends) UndoExtend(fd, old_size, new_size);
    });
  }

  // Makes the fresh mapping at `address` (span_length bytes, of which new_length are the
  // mapping's) this mapping's range: guarded, a new ArrayBuffer over it, then the old buffer
  // detached and its range retired (grow, remap and shrink: never a moment without a valid
  // mapping). On failure everything is as before, the new range unmapped, and `undo` has run;
  // returns an empty value with the exception pending.
  Napi::Value AdoptSpan(const Napi::Env& env, const char* op, void* address, uint64_t span_length, uint64_t new_length,
                        const std::function<void()>& undo) {
    std::shared_ptr<Span> old_span = span_;
    const int old_slot = guard_slot_;
    uint8_t* const old_base = base_;
    const uint64_t old_length = length_;
    span_ = std::make_shared<Span>(static_cast<uint8_t*>(address), span_length);
    auto restore = [&]() {
      span_ = old_span;  // drops the new span: unregistered and unmapped
      guard_slot_ = old_slot;
      base_ = old_base;
      length_ = old_length;
      undo();
    };
    if (!GuardSpan(env, op)) {
      restore();
      return Napi::Value();
    }
    base_ = span_->address;
    length_ = new_length;
    Napi::ArrayBuffer fresh = NewBuffer(env);
    if (env.IsExceptionPending()) {
      restore();
      return Napi::Value();
    }
    RetireBuffer(env, old_span);
    buffer_ = Napi::Persistent(fresh);
    RegisterMappedRange(&pins_, base_, length_);
    return fresh;
  }

  // remap(newLength): a read-only shared mapping follows its file, which another process (the
  // pool's writer) grew or shrank: the file is mapped afresh at newLength bytes (a multiple of
  // the page size, within the file), then the old range is retired. Pages are the file's page
  // cache either way, so nothing is lost; the old ArrayBuffer is detached.
  Napi::Value Remap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "remap";
    uint64_t new_length;
    if (!CheckOpen(env, op) || !ReadIndex(env, info[0], op, path_, "newLength", &new_length)) return Napi::Value();
    if (writable_ || cow_) {
      ThrowCode(env, "EACCES", Prefix(op, path_) + "only a read-only shared mapping follows its file (a writer's grows)");
      return Napi::Value();
    }
    if (!CheckUnpinned(env, op, 0, 0, true)) return Napi::Value();
    if (new_length == 0 || new_length % kPageSize != 0) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "newLength " + std::to_string(new_length) +
                                   " must be a positive multiple of the page size");
      return Napi::Value();
    }
    if (new_length > kMaxMappingLength) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "newLength exceeds the limit of 2^45 bytes");
      return Napi::Value();
    }
    if (!CheckRuntimeLength(env, op, new_length)) return Napi::Value();
    // The same length is mapped afresh too when the fault guard diverted pages of this one (a
    // read reached past an end the writer cut): those pages are private zeros, and the file
    // may hold data there again.
    if (new_length == length_ && guard::Faults(guard_slot_) == 0) return LiveBuffer(env);
    struct stat st;
    if (fstat(file_->fd, &st) != 0) {
      ThrowErrno(env, op, path_, "fstat", errno);
      return Napi::Value();
    }
    if (file_offset_ + new_length > static_cast<uint64_t>(st.st_size)) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "newLength " + std::to_string(new_length) +
                                   " reaches past the end of the file (" + std::to_string(st.st_size) + " bytes)");
      return Napi::Value();
    }
    bool dax = false;
    void* address = MapFile(file_->fd, file_offset_, new_length, /*try_sync=*/false, &dax);
    if (address == MAP_FAILED) {
      ThrowMapErrno(env, op, path_, "mmap", errno);
      return Napi::Value();
    }
    return AdoptSpan(env, op, address, new_length, new_length, [] {});
  }

  // grow of a writer's private mapping (checked by Grow). The pages it stored into exist only
  // in this mapping, so it is never mapped afresh: mremap extends it in place, or moves it
  // with its pages. Only the view grows: the file must be long enough already (the caller
  // grows it with FileHandle.grow), since a page past the end of the file would be SIGBUS.
  Napi::Value GrowPrivate(const Napi::Env& env, uint64_t new_length) {
    const char* op = "grow";
    const int fd = file_->fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
      ThrowErrno(env, op, path_, "fstat", errno);
      return Napi::Value();
    }
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    if (S_ISREG(st.st_mode) && file_size < file_offset_ + new_length) {
      ThrowCode(env, "ERANGE", Prefix(op, path_) + "the file is " + std::to_string(file_size) +
                                   " bytes, shorter than offset + newLength = " +
                                   std::to_string(file_offset_ + new_length) +
                                   ": a private mapping only extends its view; grow the file first (FileHandle.grow)");
      return Napi::Value();
    }
    // The newly mapped bytes are allocated, as at open (the writer pwrites its pages there).
    SpaceFailure failure;
    if (S_ISREG(st.st_mode) &&
        !AllocateWithin(fd, file_offset_ + length_, file_offset_ + new_length, IsTmpfs(fd), &failure)) {
      ThrowErrno(env, op, path_, failure.step, failure.err);
      return Napi::Value();
    }
    uint8_t* const old_base = base_;
    const uint64_t old_length = length_;
    const uint64_t old_span = span_->length;
    const uint64_t new_span = RoundUpToPage(new_length);
    void* p = mremap(old_base, old_span, new_span, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
      const int err = errno;
      if (err == EFAULT) {
        // mremap moves one kernel mapping only: protect() split this one.
        ThrowCode(env, "EINVAL", Prefix(op, path_) + "mremap: pages protected 'r' split the mapping; make every "
                                     "page 'rw' (protect) before growing it");
      } else {
        ThrowMapErrno(env, op, path_, "mremap", err);
      }
      return Napi::Value();
    }
    std::shared_ptr<Span> old = span_;
    const bool moved = p != old_base;
    if (!moved) {
      span_->length = new_span;  // the same range, longer: the old buffer's owner shares it
    } else {
      // The kernel unmapped the old range. Fill it with zero pages at once, so that a stray
      // view of the old buffer reads zeros (see the file comment); should another thread have
      // taken the address meanwhile, the old span must not unmap what is not ours.
      void* t = mmap(old_base, old_span, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
      if (t != old_base) {
        if (t != MAP_FAILED) munmap(t, old_span);
        old->address = nullptr;
      }
      old->maps_file = false;
      span_ = std::make_shared<Span>(static_cast<uint8_t*>(p), new_span);
      span_->guard_slot = old->guard_slot;  // the slot moves with the pages
      old->guard_slot = -1;
    }
    guard::Update(guard_slot_, span_->address, span_->length);
    base_ = span_->address;
    length_ = new_length;
    Napi::ArrayBuffer fresh = NewBuffer(env);
    if (env.IsExceptionPending()) {
      // Back to the old range and length (shrinking never fails; moving back needs the old
      // address, which is ours unless another thread took it).
      base_ = old_base;
      length_ = old_length;
      if (!moved) {
        (void)mremap(old_base, new_span, old_span, 0);
        span_->length = old_span;
      } else if (old->address != nullptr &&
                 mremap(p, new_span, old_span, MREMAP_MAYMOVE | MREMAP_FIXED, old_base) != MAP_FAILED) {
        old->guard_slot = span_->guard_slot;
        span_->guard_slot = -1;
        span_->address = nullptr;  // moved away: nothing left to unmap
        span_ = old;
      } else {
        // Nowhere to go back to: close the mapping cleanly (its lock released, its buffer
        // detached) rather than leave it half grown. The exception stays pending.
        guard::Unregister(span_->guard_slot);
        span_->guard_slot = -1;
        guard_slot_ = -1;
        span_->address = nullptr;
        munmap(p, new_span);
        span_.reset();
        base_ = nullptr;
        length_ = 0;
        closed_ = true;
        if (!buffer_.IsEmpty()) {
          Napi::ArrayBuffer stale = buffer_.Value();
          if (!stale.IsDetached()) stale.Detach();
          buffer_.Reset();
        }
        if (file_) file_->Close();
        file_.reset();
        UnregisterMappedRange(&pins_);
        return Napi::Value();
      }
      guard::Update(guard_slot_, span_->address, span_->length);
      return Napi::Value();
    }
    return ReplaceBufferInPlace(env, fresh, old);
  }

  // shrink(newLength) -> the new ArrayBuffer; the old one is detached. Gives the mapping's tail
  // back. A shared mapping is mapped afresh at the new length (never a moment without a valid
  // mapping, as in Grow), then the file is truncated there and fsync'd: the new length is
  // durable on return. A private mapping (copyOnWrite) only shortens its view (mremap in
  // place; the pages past the end are dropped), and leaves the file to its owner, who must
  // truncate it only after every private view of it is this short (a page of a view past the
  // end of its file would fault). Refused while a submitted program writes from the bytes.
  // If the truncation itself fails, the mapping is short already and the file keeps its old
  // length (harmless: nothing maps its tail any more); the error says so.
  Napi::Value Shrink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "shrink";
    uint64_t new_length;
    if (!CheckOpen(env, op) || !ReadIndex(env, info[0], op, path_, "newLength", &new_length)) return Napi::Value();
    if (!writable_) {
      ThrowCode(env, "EACCES", Prefix(op, path_) + "only a 'rw' mapping (shared or private) can shrink");
      return Napi::Value();
    }
    if (!CheckUnpinned(env, op, 0, 0, true)) return Napi::Value();
    if (new_length == 0 || new_length > length_ || new_length % kPageSize != 0) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "newLength " + std::to_string(new_length) +
                                   " must be a positive multiple of the page size and at most the current length " +
                                   std::to_string(length_));
      return Napi::Value();
    }
    // A fresh mapping would drop the pages the fault guard made private: refuse instead.
    if (!CheckFaults(env, op)) return Napi::Value();
    if (new_length == length_) return LiveBuffer(env);
    if (cow_) return ShrinkPrivate(env, new_length);

    const int fd = file_->fd;
    bool dax = false;
    void* address = MapFile(fd, file_offset_, RoundUpToPage(new_length), /*try_sync=*/dax_, &dax);
    if (address == MAP_FAILED) {
      ThrowMapErrno(env, op, path_, "mmap", errno);
      return Napi::Value();
    }
    Napi::Value fresh = AdoptSpan(env, op, address, RoundUpToPage(new_length), new_length, [] {});
    if (fresh.IsEmpty()) return fresh;
    // Nothing of ours maps the tail now: cut the file there, and make the length durable.
    struct stat st;
    if (fstat(fd, &st) != 0) {
      ThrowErrno(env, op, path_, "fstat", errno);
      return Napi::Value();
    }
    const uint64_t end = file_offset_ + new_length;
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > end) {
      int r;
      do {
        r = ftruncate(fd, static_cast<off_t>(end));
      } while (r != 0 && errno == EINTR);
      if (r != 0) {
        ThrowErrno(env, op, path_, "ftruncate (the mapping is shorter already; the file keeps its length)", errno);
        return Napi::Value();
      }
      if (fsync(fd) != 0) {
        ThrowErrno(env, op, path_, "fsync (the mapping is shorter already)", errno);
        return Napi::Value();
      }
    }
    return fresh;
  }

  // shrink of a writer's private mapping (checked by Shrink): mremap shortens it in place (a
  // shrinking mremap never moves), dropping the pages past the end. The new buffer is made
  // first, so a failure leaves everything as it was.
  Napi::Value ShrinkPrivate(const Napi::Env& env, uint64_t new_length) {
    const char* op = "shrink";
    const uint64_t old_length = length_;
    const uint64_t old_span = span_->length;
    const uint64_t new_span = RoundUpToPage(new_length);
    length_ = new_length;
    Napi::ArrayBuffer fresh = NewBuffer(env);
    if (env.IsExceptionPending()) {
      length_ = old_length;
      return Napi::Value();
    }
    if (new_span < old_span) {
      void* p = mremap(base_, old_span, new_span, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        length_ = old_length;
        if (err == EFAULT) {
          ThrowCode(env, "EINVAL", Prefix(op, path_) + "mremap: pages protected 'r' split the mapping; make every "
                                       "page 'rw' (protect) before shrinking it");
        } else {
          ThrowMapErrno(env, op, path_, "mremap", err);
        }
        return Napi::Value();  // `fresh` is dropped; its owner keeps the span, which is intact
      }
      span_->length = new_span;  // the old buffer's owner shares this span: it unmaps the new span
      guard::Update(guard_slot_, span_->address, span_->length);
      // The tail as zero pages at once, kept with the span: a view of the old buffer that
      // escaped detaching (a transfer) reads zeros there instead of faulting (found in review:
      // a SIGSEGV on Node 24). Should another thread have taken the address meanwhile, nothing.
      uint8_t* const tail = span_->address + new_span;
      void* t = mmap(tail, old_span - new_span, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
      if (t == tail) span_->tails.emplace_back(tail, old_span - new_span);
      else if (t != MAP_FAILED) munmap(t, old_span - new_span);
    }
    return ReplaceBufferInPlace(env, fresh, span_);
  }

  // The end of a private mapping's grow or shrink in place: the old buffer is detached (its
  // memory, the span it shares when resized in place, goes when it is collected) and `fresh`,
  // over the same span, becomes the mapping's.
  // The buffer over the mapping now. JavaScript may have detached ours without us
  // (`ArrayBuffer.prototype.transfer`, Node 22+, moves its memory into a new buffer): then a
  // fresh one over the same pages, so the mapping stays usable (found in review: grow, shrink
  // and remap at the current length handed the detached buffer back, and the TypeScript face
  // failed on it with a raw TypeError).
  Napi::Value LiveBuffer(const Napi::Env& env) {
    if (!buffer_.IsEmpty() && !buffer_.Value().IsDetached()) return buffer_.Value();
    Napi::ArrayBuffer fresh = NewBuffer(env);
    if (env.IsExceptionPending()) return Napi::Value();
    return ReplaceBufferInPlace(env, fresh, span_);
  }

  // `stale_span`: the span the current buffer covers (the old one after a move).
  Napi::Value ReplaceBufferInPlace(const Napi::Env& env, Napi::ArrayBuffer fresh, const std::shared_ptr<Span>& stale_span) {
    if (!buffer_.IsEmpty()) {
      Napi::ArrayBuffer stale = buffer_.Value();
      if (stale.IsDetached() && stale_span) stale_span->escaped = true;  // not by us (see Span)
      if (!stale.IsDetached()) stale.Detach();
      if (env.IsExceptionPending()) {
        Napi::Error e = env.GetAndClearPendingException();
        (void)e;
      }
    }
    buffer_ = Napi::Persistent(fresh);
    RegisterMappedRange(&pins_, base_, length_);
    return fresh;
  }

  // discard(offset, length): madvise(MADV_DONTNEED) of the pages of a private mapping. They
  // drop what was stored into them and read the file again (its page cache): the writer
  // calls it once those pages were written to the file, so its memory stays bounded.
  Napi::Value Discard(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "discard";
    uint64_t offset, length;
    if (!CheckOpen(env, op) || !ReadRange(info, 0, op, &offset, &length)) return Napi::Value();
    if (!cow_) {
      ThrowCode(env, "EACCES", Prefix(op, path_) + "only a private (copyOnWrite) mapping can discard pages: a "
                                   "shared mapping's pages are the file's");
      return Napi::Value();
    }
    if (offset % kPageSize != 0 || (length % kPageSize != 0 && offset + length != length_)) {
      ThrowCode(env, "EINVAL", Prefix(op, path_) + "range [" + std::to_string(offset) + ", " +
                                   std::to_string(offset + length) + ") is not page-aligned (page size " +
                                   std::to_string(kPageSize) + ")");
      return Napi::Value();
    }
    if (length == 0) return Napi::Value();
    if (!CheckUnpinned(env, op, offset, RoundUpToPage(length), false)) return Napi::Value();
    if (madvise(base_ + offset, RoundUpToPage(length), MADV_DONTNEED) != 0) {
      ThrowErrno(env, op, path_, "madvise", errno);
    }
    return Napi::Value();
  }

  // Detaches the current ArrayBuffer and turns `span` into zero pages.
  void RetireBuffer(const Napi::Env& env, const std::shared_ptr<Span>& span) {
    if (!buffer_.IsEmpty()) {
      Napi::ArrayBuffer old = buffer_.Value();
      if (old.IsDetached() && span) span->escaped = true;  // not by us (see Span)
      if (!old.IsDetached()) old.Detach();
      if (env.IsExceptionPending()) {
        // Not detachable: clear it so that the tombstone below is all a stray view sees.
        Napi::Error e = env.GetAndClearPendingException();
        (void)e;
      }
      buffer_.Reset();
    }
    if (span) span->Tombstone();
  }

  Napi::Value Unmap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Value();  // idempotent
    if (!CheckUnpinned(env, "close", 0, 0, true)) return Napi::Value();
    closed_ = true;
    UnregisterMappedRange(&pins_);
    RetireBuffer(env, span_);
    guard_slot_ = -1;
    span_.reset();
    base_ = nullptr;
    length_ = 0;
    if (file_) file_->Close();  // releases the flock now, even if the buffer lingers
    file_.reset();
    return Napi::Value();
  }

  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env(), "buffer")) return Napi::Value();
    return LiveBuffer(info.Env());
  }

  // { dax, length, pageSize } of the open mapping.
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("dax", Napi::Boolean::New(env, dax_));
    out.Set("length", Napi::Number::New(env, static_cast<double>(length_)));
    out.Set("closed", Napi::Boolean::New(env, closed_));
    out.Set("published", Napi::Boolean::New(env, !(file_ && file_->pending.hidden)));
    out.Set("hiddenPath", Napi::String::New(env, file_ && file_->pending.hidden ? file_->pending.temp_path : std::string()));
    out.Set("faults", Napi::Number::New(env, static_cast<double>(guard::Faults(guard_slot_))));
    out.Set("private", Napi::Boolean::New(env, cow_));
    return out;
  }

  // publish(): gives a file created with publishLater its name (see create-file.h). Nothing
  // to do when it has one. EEXIST when a file appeared at the path meanwhile (the mapping
  // stays usable, still hidden).
  Napi::Value PublishFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "publish";
    if (!CheckOpen(env, op) || !file_->pending.hidden) return Napi::Value();
    std::string step;
    const int err = Publish(&file_->pending, path_, &step);
    if (err != 0) ThrowErrno(env, op, path_, step, err);
    return Napi::Value();
  }

  std::string path_;
  std::shared_ptr<FileState> file_;
  std::shared_ptr<Span> span_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  uint8_t* base_ = nullptr;
  uint64_t length_ = 0;
  uint64_t file_offset_ = 0;
  bool writable_ = false;
  bool cow_ = false;
  // 0: no flock; 1: LOCK_SH; 2: LOCK_EX.
  int lock_mode_ = 2;
  bool dax_ = false;
  bool line_granularity_ = false;
  bool flushes_ = false;
  bool closed_ = false;
  // The fault-guard slot of span_ (-1 once unmapped), read on every flush.
  int guard_slot_ = -1;
  // Write steps of submitted I/O programs that read these bytes (pins.h).
  MappingPins pins_;
};

// ---------------------------------------------------------------------------------------
// Module functions.

static Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) {
    ThrowCode(env, "EINVAL", "setErrorFactory: expects a function");
    return Napi::Value();
  }
  AddonData* data = env.GetInstanceData<AddonData>();
  data->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return Napi::Value();
}

// setRuntimeLimits(maxArrayBufferLength, nodeVersion): the TypeScript face tells the addon
// the largest ArrayBuffer this runtime makes (buffer.constants.MAX_LENGTH).
static Napi::Value SetRuntimeLimits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t max = 0;
  if (!ReadIndex(env, info[0], "setRuntimeLimits", "", "maxArrayBufferLength", &max)) return Napi::Value();
  if (!info[1].IsString()) {
    ThrowCode(env, "EINVAL", "setRuntimeLimits: nodeVersion must be a string");
    return Napi::Value();
  }
  std::lock_guard<std::mutex> lock(runtime_mutex);
  RuntimeVersion() = info[1].As<Napi::String>().Utf8Value();
  runtime_max_length.store(max, std::memory_order_relaxed);
  return Napi::Value();
}

static Napi::Value CpuFlushInstruction(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), FlushKindName(kFlushKind));
}

static Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(kPageSize));
}

// mediumOf(path) -> 'dax' | 'tmpfs' | 'file'
static Napi::Value MediumOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    ThrowCode(env, "EINVAL", "mediumOf: path must be a string");
    return Napi::Value();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  struct statx stx;
  if (statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS, &stx) != 0) {
    ThrowErrno(env, "mediumOf", path, "statx", errno);
    return Napi::Value();
  }
  if ((stx.stx_attributes_mask & STATX_ATTR_DAX) && (stx.stx_attributes & STATX_ATTR_DAX)) {
    return Napi::String::New(env, "dax");
  }
  struct statfs sfs;
  if (statfs(path.c_str(), &sfs) != 0) {
    ThrowErrno(env, "mediumOf", path, "statfs", errno);
    return Napi::Value();
  }
  constexpr unsigned long kTmpfsMagic = 0x01021994;
  return Napi::String::New(env, static_cast<unsigned long>(sfs.f_type) == kTmpfsMagic ? "tmpfs" : "file");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted with the environment (worker exit)
  Napi::Function ctor = NativeMapping::Define(env);
  data->mapping_constructor = Napi::Persistent(ctor);
  exports.Set("NativeMapping", ctor);
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
  exports.Set("setRuntimeLimits", Napi::Function::New(env, SetRuntimeLimits, "setRuntimeLimits"));
  exports.Set("cpuFlushInstruction", Napi::Function::New(env, CpuFlushInstruction, "cpuFlushInstruction"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
  exports.Set("mediumOf", Napi::Function::New(env, MediumOf, "mediumOf"));
  InitFileIo(env, exports);
  InitChecksum(env, exports);
  return exports;
}

}  // namespace ferrite

static Napi::Object InitFerriteNative(Napi::Env env, Napi::Object exports) { return ferrite::Init(env, exports); }

NODE_API_MODULE(ferrite_native, InitFerriteNative)
