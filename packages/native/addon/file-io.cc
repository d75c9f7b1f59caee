// See file-io.h.
//
// Ownership and threads (where crashes hide):
// - `FileCore` owns a descriptor. The JS object (NativeFile) holds it, and so does every
//   queued program that names the file, so a descriptor is never closed, and its number never
//   reused, under a program. `close()` refuses (EBUSY) while a submitted program that names
//   the file has not finished (`users`); afterwards no thread touches the descriptor, so
//   close() closes it at once.
// - A program's data arrays are held by napi references from `submit` until its promise
//   settles, so dropping them in JS frees nothing the I/O thread reads. The I/O thread only
//   hands their addresses to pwrite: memory that vanished anyway (a detached array, a mapping
//   closed under its program) is EFAULT from the kernel, never a fault in this process.
// - Each queue has one I/O thread of its own (started by the first `submit`), which takes
//   programs from a FIFO and runs them one at a time; a thread-safe function settles their
//   promises on the JS thread, in order. Why not a libuv worker (AsyncWorker): programs must
//   run strictly one after the other, so with the shared pool each program could only be
//   queued once the previous one's completion reached the event loop — a JS round trip
//   between programs, and `waitIdle` (which blocks the event loop) would then wait forever
//   for a program that only the event loop can start. Our own thread runs the next program
//   at once, lets `runNow`/`waitIdle` block the JS thread safely, and keeps long fdatasync
//   chains off the four threads that fs, dns, crypto and zlib share.
// - Shutdown: the environment's cleanup hook (worker exit, the end of the main script), the
//   queue's finalizer (only when idle: a queue with unsettled programs is held strongly) and
//   process exit (an atexit handler, since process.exit() runs no cleanup hooks on the main
//   thread) each stop the I/O thread after the step in progress and join it. Programs not
//   finished then are never run, and their promises never settle (there is no JavaScript
//   left to run them): what reached the file is a prefix of the programs, step by step.
//
// Every argument is validated on the JS thread before anything is queued. A program that is
// refused or fails poisons the queue: every later one fails with the same code and nothing
// more is written.

#include "file-io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common.h"
#include "file-space.h"
#include "pins.h"

namespace ferrite {
namespace {

// Bounds.
// Steps in one program (a commit has a handful; a program of a million is a bug upstream).
constexpr uint64_t kMaxProgramSteps = uint64_t(1) << 20;
// Steps submitted and not yet finished, over all programs of a queue: bounds the memory a
// producer that outruns the disk can pin. A submit beyond it is refused (ERANGE).
constexpr uint64_t kMaxPendingSteps = uint64_t(1) << 22;
// Linux moves at most this much per read/write call; longer transfers loop.
constexpr uint64_t kMaxTransfer = 0x7ffff000;
// open() retries of a non-exclusive create that races with another creator.
constexpr int kMaxCreateAttempts = 4;

// Marks objects made by NativeFile's constructor: an object that merely claims to be a file
// (a prototype swapped, another addon's object) is refused instead of unwrapped.
const napi_type_tag kFileTag = {0x66657272'69746546ULL, 0x696c6548'616e646cULL};

std::string Bytes(uint64_t n) { return std::to_string(n) + " bytes"; }

// The code of a failed read, write or sync. Unlike open's mapping, unknown errors are I/O
// errors (EIO), not argument errors.
const char* IoCode(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT: return "ENOSPC";
    case EFBIG: return "ERANGE";
    case EFAULT: return "EINVAL";  // the buffer's memory is not readable or writable
    case EACCES:
    case EPERM:
    case EROFS: return "EACCES";
    default: return "EIO";
  }
}

// A failure to report: a code and a message, both copied so they can cross threads.
struct IoFailure {
  const char* code = nullptr;
  std::string message;
  bool failed() const { return code != nullptr; }
  void Set(const char* c, std::string m) {
    code = c;
    message = std::move(m);
  }
};

void ThrowFailure(Napi::Env env, const IoFailure& f) { ThrowCode(env, f.code, f.message); }

// ---------------------------------------------------------------------------------------
// The file.

struct FileCore {
  // Written by the JS thread only: at open and in close(), which runs only when no queued
  // program uses the file (`users` is 0, read with acquire after the I/O thread's release).
  int fd = -1;
  const std::string path;
  const bool writable;
  bool closed = false;  // JS thread only
  // The length writes are checked against: set at open and by grow (JS thread); read by
  // argument checks. It only grows, so a write checked at submission stays inside the file.
  std::atomic<uint64_t> length{0};
  // Submitted programs, not yet finished, that name this file.
  std::atomic<uint32_t> users{0};
  // The errno of the first failed fdatasync. Linux may drop the dirty pages a failed
  // writeback could not write (and mark them clean), so a later fdatasync can succeed
  // although earlier writes never reached the disk: every later sync fails too.
  std::atomic<int> sync_errno{0};
  std::atomic<uint64_t> writes{0}, bytes_written{0}, reads{0}, bytes_read{0}, syncs{0}, grows{0};

  FileCore(int f, std::string p, bool w) : fd(f), path(std::move(p)), writable(w) {}
  FileCore(const FileCore&) = delete;
  FileCore& operator=(const FileCore&) = delete;
  ~FileCore() {
    if (fd >= 0) ::close(fd);
  }
};

// pwrite of [p, p + n) at `offset`, looping over short writes and EINTR. Returns 0 or an errno.
int WriteAll(int fd, const uint8_t* p, uint64_t n, uint64_t offset) {
  // Every pass either fails or moves at least one byte: at most n passes (plus EINTRs).
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(n < kMaxTransfer ? n : kMaxTransfer);
    const ssize_t w = pwrite(fd, p, chunk, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;  // no progress: never loop forever
    p += w;
    n -= static_cast<uint64_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return 0;
}

// pread of n bytes at `offset` into p. Returns 0, an errno, or -1 when the file ends first.
int ReadAll(int fd, uint8_t* p, uint64_t n, uint64_t offset) {
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(n < kMaxTransfer ? n : kMaxTransfer);
    const ssize_t r = pread(fd, p, chunk, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return -1;
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return 0;
}

// The write of a checked range (any thread).
bool DoWrite(FileCore& f, uint64_t offset, const uint8_t* data, uint64_t length, IoFailure* out) {
  f.writes.fetch_add(1, std::memory_order_relaxed);
  if (length == 0) return true;
  const int err = WriteAll(f.fd, data, length, offset);
  if (err != 0) {
    out->Set(IoCode(err), Prefix("write", f.path) + "pwrite of " + Bytes(length) + " at offset " +
                              std::to_string(offset) + ": " + strerror(err) + " (errno " + std::to_string(err) +
                              ")" + (err == EFAULT ? "; the data's memory is gone (detached or unmapped)" : ""));
    return false;
  }
  f.bytes_written.fetch_add(length, std::memory_order_relaxed);
  return true;
}

// fdatasync (any thread), sticky once it failed.
bool DoSync(FileCore& f, IoFailure* out) {
  const int earlier = f.sync_errno.load(std::memory_order_acquire);
  if (earlier != 0) {
    out->Set(IoCode(earlier) == std::string("ENOSPC") ? "ENOSPC" : "EIO",
             Prefix("sync", f.path) + "an earlier fdatasync of this file failed (" + strerror(earlier) +
                 "): writes made before it may be lost even if a later sync succeeds, so no sync of this "
                 "file succeeds any more. Close it and recover from what is durable");
    return false;
  }
  int r;
  do {
    r = fdatasync(f.fd);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int err = errno;
    int expected = 0;
    f.sync_errno.compare_exchange_strong(expected, err, std::memory_order_acq_rel);
    const char* code = IoCode(err);
    if (std::string(code) != "ENOSPC") code = "EIO";
    out->Set(code, Prefix("sync", f.path) + "fdatasync: " + strerror(err) + " (errno " + std::to_string(err) +
                       "); writes since the last successful sync may be lost, and every later sync of this "
                       "file fails");
    return false;
  }
  // A writable handle's file must still hold every byte the handle counts: another program
  // that cut it (a pool file or its log truncated under the writer) took writes with it that
  // no sync can make durable any more, and fdatasync says nothing of it (found in review: a
  // writer kept committing to a log cut under it). One fstat, next to a device sync. Sticky,
  // as a failed fdatasync is: what was cut away is lost whatever a later sync does. Not for
  // read-only handles: they sync a file whose length its writer owns (a backup's syncer,
  // whose destination a compaction cuts meanwhile).
  struct stat st;
  const uint64_t length = f.length.load(std::memory_order_relaxed);
  if (f.writable && fstat(f.fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < length) {
    int expected = 0;
    f.sync_errno.compare_exchange_strong(expected, EIO, std::memory_order_acq_rel);
    out->Set("EIO", Prefix("sync", f.path) + "the file is " + Bytes(static_cast<uint64_t>(st.st_size)) +
                        ", shorter than its length " + Bytes(length) +
                        ": it was truncated by another program, and the writes past its new end are lost; every "
                        "later sync of this file fails. Close it and recover from what is durable");
    return false;
  }
  f.syncs.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// A Uint8Array argument: its bytes as they are now. The pointer is valid while the array's
// buffer is neither detached nor collected.
struct ByteView {
  uint8_t* data = nullptr;
  uint64_t length = 0;
};

// Checks that `value` is a Uint8Array (a Buffer is one) that is not detached. Fills `why`
// when it is not.
bool ViewOf(napi_env env, napi_value value, ByteView* out, std::string* why) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    *why = "must be a Uint8Array";
    return false;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arraybuffer = nullptr;
  size_t byte_offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &arraybuffer, &byte_offset) != napi_ok) {
    *why = "is not a readable typed array";
    return false;
  }
  if (type != napi_uint8_array) {
    *why = "must be a Uint8Array (another typed array was given)";
    return false;
  }
  bool detached = false;
  if (arraybuffer != nullptr && napi_is_detached_arraybuffer(env, arraybuffer, &detached) == napi_ok && detached) {
    *why = "is detached (its buffer was transferred or its mapping closed)";
    return false;
  }
  if (data == nullptr && length > 0) {
    *why = "has no memory";
    return false;
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = length;
  return true;
}

// Reads an optional non-negative safe integer (undefined: `fallback`).
bool ReadOptionalIndex(const Napi::Env& env, const Napi::Value& value, const char* op, const std::string& path,
                       const char* name, uint64_t fallback, uint64_t* out) {
  if (value.IsUndefined()) {
    *out = fallback;
    return true;
  }
  return ReadIndex(env, value, op, path, name, out);
}

// Reads (offset, array, arrayOffset?, length?) for write and read, and checks both ranges.
bool ReadTransfer(const Napi::CallbackInfo& info, const char* op, FileCore& f, const char* array_name,
                  uint64_t* offset, ByteView* view, uint64_t* length) {
  Napi::Env env = info.Env();
  if (!ReadIndex(env, info[0], op, f.path, "offset", offset)) return false;
  std::string why;
  if (!ViewOf(env, info[1], view, &why)) {
    ThrowCode(env, "EINVAL", Prefix(op, f.path) + array_name + " " + why);
    return false;
  }
  uint64_t start = 0;
  if (!ReadOptionalIndex(env, info[2], op, f.path, "array offset", 0, &start)) return false;
  if (start > view->length) {
    ThrowCode(env, "ERANGE", Prefix(op, f.path) + array_name + " offset " + std::to_string(start) +
                                 " is past the end of the array (" + Bytes(view->length) + ")");
    return false;
  }
  if (!ReadOptionalIndex(env, info[3], op, f.path, "length", view->length - start, length)) return false;
  if (*length > view->length - start) {
    ThrowCode(env, "ERANGE", Prefix(op, f.path) + "length " + std::to_string(*length) + " from offset " +
                                 std::to_string(start) + " is past the end of the array (" + Bytes(view->length) +
                                 ")");
    return false;
  }
  view->data += start;
  const uint64_t file_length = f.length.load(std::memory_order_relaxed);
  if (*offset > file_length || *length > file_length - *offset) {
    ThrowCode(env, "ERANGE", Prefix(op, f.path) + "range [" + std::to_string(*offset) + ", " +
                                 std::to_string(*offset + *length) + ") is outside the file of " +
                                 Bytes(file_length) + (std::string(op) == "write" ? " (grow it first)" : ""));
    return false;
  }
  return true;
}

// The directory part of `path` ("." for a bare name).
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// fsync of a directory, so that a name created in it is durable. Returns 0 or an errno.
int SyncDirectory(const std::string& dir) {
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno;
  int r;
  do {
    r = fsync(dfd);
  } while (r != 0 && errno == EINTR);
  const int err = r != 0 ? errno : 0;
  ::close(dfd);
  return err;
}

class NativeFile : public Napi::ObjectWrap<NativeFile> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeFile",
                       {
                           InstanceMethod<&NativeFile::Write>("write"),
                           InstanceMethod<&NativeFile::Read>("read"),
                           InstanceMethod<&NativeFile::Sync>("sync"),
                           InstanceMethod<&NativeFile::Grow>("grow"),
                           InstanceMethod<&NativeFile::Truncate>("truncate"),
                           InstanceMethod<&NativeFile::Close>("close"),
                           InstanceMethod<&NativeFile::Info>("info"),
                           InstanceMethod<&NativeFile::Stats>("stats"),
                       });
  }

  // new NativeFile(path, create, mode, exclusive, readOnly)
  explicit NativeFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeFile>(info) {
    Napi::Env env = info.Env();
    const char* op = "openFile";
    if (info.Length() != 5 || !info[0].IsString()) {
      ThrowCode(env, "EINVAL", "openFile: path must be a string");
      return;
    }
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    if (path.empty() || path.find('\0') != std::string::npos) {
      ThrowCode(env, "EINVAL", Prefix(op, path) + "path must be a non-empty string without NUL");
      return;
    }
    bool create = false, exclusive = false, read_only = false;
    uint64_t mode = 0;
    if (!ReadBool(env, info[1], op, path, "create", &create)) return;
    if (!ReadIndex(env, info[2], op, path, "create.mode", &mode)) return;
    if (!ReadBool(env, info[3], op, path, "create.exclusive", &exclusive)) return;
    if (!ReadBool(env, info[4], op, path, "readOnly", &read_only)) return;
    if (mode > 07777) {
      ThrowCode(env, "EINVAL", Prefix(op, path) + "create.mode " + std::to_string(mode) + " is not a file mode");
      return;
    }
    if (create && read_only) {
      ThrowCode(env, "EINVAL", Prefix(op, path) + "create needs a writable file (readOnly is true)");
      return;
    }
    if (exclusive && !create) {
      ThrowCode(env, "EINVAL", Prefix(op, path) + "create.exclusive needs create");
      return;
    }
    // O_NONBLOCK so that opening a FIFO never waits for a writer (it is refused below).
    const int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    int err = 0;
    bool created = false;
    if (!create) {
      fd = open(path.c_str(), flags);
      err = errno;
    } else {
      // Creation never goes through a symbolic link (O_NOFOLLOW, and O_EXCL never follows).
      // Without exclusive: open an existing file, else create it; a file that appears in
      // between (another creator) is opened on the next pass.
      for (int attempt = 0; attempt < kMaxCreateAttempts && fd < 0; attempt++) {
        if (!exclusive) {
          fd = open(path.c_str(), flags | O_NOFOLLOW);
          err = errno;
          if (fd >= 0 || err != ENOENT) break;
        }
        fd = open(path.c_str(), flags | O_NOFOLLOW | O_CREAT | O_EXCL, static_cast<mode_t>(mode));
        err = errno;
        if (fd >= 0) created = true;
        if (fd >= 0 || err != EEXIST || exclusive) break;
      }
    }
    if (fd < 0) {
      if (create && err == ELOOP) {
        ThrowCode(env, "EINVAL", Prefix(op, path) + "is a symbolic link; creation never follows one");
      } else if (create && exclusive && err == EEXIST) {
        ThrowCode(env, "EEXIST", Prefix(op, path) + "exists (exclusive create)");
      } else {
        ThrowErrno(env, op, path, "open", err);
      }
      return;
    }
    auto core = std::make_shared<FileCore>(fd, path, !read_only);
    struct stat st;
    if (fstat(fd, &st) != 0) {
      ThrowErrno(env, op, path, "fstat", errno);
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      ThrowCode(env, "ENODEV", Prefix(op, path) + "is not a regular file");
      return;
    }
    const int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (created) {
      // The new name is durable when openFile returns: the file, then its directory.
      int serr = fsync(fd) != 0 ? errno : 0;
      if (serr == 0) serr = SyncDirectory(DirectoryOf(path));
      if (serr != 0) {
        (void)unlink(path.c_str());  // ours, empty: do not leave a name we could not make durable
        ThrowCode(env, IoCode(serr), Prefix(op, path) + "fsync after create: " + strerror(serr));
        return;
      }
    }
    core->length.store(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
    if (napi_type_tag_object(env, info.This(), &kFileTag) != napi_ok) {
      ThrowCode(env, "EINVAL", Prefix(op, path) + "cannot tag the file object");
      return;
    }
    core_ = std::move(core);
  }

  // The file behind an object that NativeFile's constructor made, or nullptr.
  static std::shared_ptr<FileCore> CoreOf(napi_env env, napi_value value) {
    // Only objects: the type-tag check converts anything else to an object and throws.
    napi_valuetype type;
    if (value == nullptr || napi_typeof(env, value, &type) != napi_ok || type != napi_object) return nullptr;
    bool tagged = false;
    if (napi_check_object_type_tag(env, value, &kFileTag, &tagged) != napi_ok || !tagged) return nullptr;
    NativeFile* self = nullptr;
    if (napi_unwrap(env, value, reinterpret_cast<void**>(&self)) != napi_ok || self == nullptr) return nullptr;
    return self->core_;
  }

 private:
  bool CheckOpen(const Napi::Env& env, const char* op) {
    if (!core_ || core_->closed) {
      ThrowCode(env, "ECLOSED", Prefix(op, core_ ? core_->path : std::string("?")) + "the file was closed");
      return false;
    }
    return true;
  }

  bool CheckWritable(const Napi::Env& env, const char* op) {
    if (!core_->writable) {
      ThrowCode(env, "EACCES", Prefix(op, core_->path) + "the file was opened read-only");
      return false;
    }
    return true;
  }

  // write(offset, src, srcOffset?, length?)
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "write";
    if (!CheckOpen(env, op) || !CheckWritable(env, op)) return Napi::Value();
    uint64_t offset = 0, length = 0;
    ByteView src;
    if (!ReadTransfer(info, op, *core_, "src", &offset, &src, &length)) return Napi::Value();
    IoFailure failure;
    if (!DoWrite(*core_, offset, src.data, length, &failure)) ThrowFailure(env, failure);
    return Napi::Value();
  }

  // read(offset, dst, dstOffset?, length?)
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "read";
    if (!CheckOpen(env, op)) return Napi::Value();
    uint64_t offset = 0, length = 0;
    ByteView dst;
    if (!ReadTransfer(info, op, *core_, "dst", &offset, &dst, &length)) return Napi::Value();
    core_->reads.fetch_add(1, std::memory_order_relaxed);
    if (length == 0) return Napi::Value();
    const int err = ReadAll(core_->fd, dst.data, length, offset);
    if (err == -1) {
      ThrowCode(env, "EIO", Prefix(op, core_->path) + "the file ends before offset " + std::to_string(offset + length) +
                                " (its length is " + Bytes(core_->length.load()) +
                                "): it was truncated by another program");
      return Napi::Value();
    }
    if (err != 0) {
      ThrowCode(env, IoCode(err), Prefix(op, core_->path) + "pread of " + Bytes(length) + " at offset " +
                                      std::to_string(offset) + ": " + strerror(err) +
                                      (err == EFAULT ? " (dst is not writable memory: a read-only mapping?)" : ""));
      return Napi::Value();
    }
    core_->bytes_read.fetch_add(length, std::memory_order_relaxed);
    return Napi::Value();
  }

  Napi::Value Sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "sync")) return Napi::Value();
    IoFailure failure;
    if (!DoSync(*core_, &failure)) ThrowFailure(env, failure);
    return Napi::Value();
  }

  // grow(newLength): the new bytes allocated, zero, and the new length durable on return. A
  // failure leaves the file as it was (file-space.h).
  Napi::Value Grow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "grow";
    uint64_t new_length = 0;
    if (!CheckOpen(env, op) || !CheckWritable(env, op)) return Napi::Value();
    if (!ReadIndex(env, info[0], op, core_->path, "newLength", &new_length)) return Napi::Value();
    const uint64_t length = core_->length.load(std::memory_order_relaxed);
    if (new_length < length) {
      ThrowCode(env, "EINVAL", Prefix(op, core_->path) + "newLength " + std::to_string(new_length) +
                                   " is less than the length " + std::to_string(length) + " (files never shrink)");
      return Napi::Value();
    }
    if (new_length == length) return Napi::Value();
    const int fd = core_->fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
      ThrowErrno(env, op, core_->path, "fstat", errno);
      return Napi::Value();
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < length) {
      ThrowCode(env, "EIO", Prefix(op, core_->path) + "the file is " + Bytes(size) + ", shorter than its length " +
                                Bytes(length) + ": it was truncated by another program");
      return Napi::Value();
    }
    SpaceFailure failure;
    // Bytes the file already has past `length` (another writer extended it) are allocated,
    // never cut off; then the new bytes are reserved before the size changes and the size
    // made durable, or the file is left as it was.
    const uint64_t kept_end = size < new_length ? size : new_length;
    if (kept_end > length && !AllocateWithin(fd, length, kept_end, IsTmpfs(fd), &failure)) {
      ThrowErrno(env, op, core_->path, failure.step, failure.err);
      return Napi::Value();
    }
    if (size < new_length) {
      if (!ExtendAllocated(fd, size, new_length, &failure)) {
        ThrowErrno(env, op, core_->path, failure.step, failure.err);
        return Napi::Value();
      }
    } else if (fsync(fd) != 0) {
      ThrowErrno(env, op, core_->path, "fsync", errno);
      return Napi::Value();
    }
    core_->length.store(new_length, std::memory_order_relaxed);
    core_->grows.fetch_add(1, std::memory_order_relaxed);
    return Napi::Value();
  }

  // truncate(newLength): the file cut to `newLength` (at most its size) and fsync'd, so the
  // new length is durable on return; the handle's length is `newLength` afterwards. The size
  // is the file's own (fstat), not the handle's: a shared mapping may have grown or cut the
  // file meanwhile (a pool file's mapping does). Refused while a submitted program uses the
  // file (its writes could land past the new end). A failure leaves the length as it was, or
  // (an fsync failure after the cut) the file shorter and not yet durably so: the error says.
  Napi::Value Truncate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "truncate";
    uint64_t new_length = 0;
    if (!CheckOpen(env, op) || !CheckWritable(env, op)) return Napi::Value();
    if (!ReadIndex(env, info[0], op, core_->path, "newLength", &new_length)) return Napi::Value();
    struct stat st;
    if (fstat(core_->fd, &st) != 0) {
      ThrowErrno(env, op, core_->path, "fstat", errno);
      return Napi::Value();
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (new_length > size) {
      ThrowCode(env, "EINVAL", Prefix(op, core_->path) + "newLength " + std::to_string(new_length) +
                                   " is more than the file's size " + std::to_string(size) + " (grow it instead)");
      return Napi::Value();
    }
    const uint32_t users = core_->users.load(std::memory_order_acquire);
    if (users > 0) {
      ThrowCode(env, "EBUSY", Prefix(op, core_->path) + std::to_string(users) +
                                  " submitted I/O program(s) still use this file: wait for them first");
      return Napi::Value();
    }
    const int fd = core_->fd;
    int r;
    do {
      r = ftruncate(fd, static_cast<off_t>(new_length));
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
      ThrowErrno(env, op, core_->path, "ftruncate", errno);
      return Napi::Value();
    }
    core_->length.store(new_length, std::memory_order_relaxed);
    if (fsync(fd) != 0) {
      ThrowErrno(env, op, core_->path, "fsync (the file is cut already; its new length may not be durable)", errno);
      return Napi::Value();
    }
    return Napi::Value();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!core_ || core_->closed) return Napi::Value();  // idempotent
    const uint32_t users = core_->users.load(std::memory_order_acquire);
    if (users > 0) {
      ThrowCode(env, "EBUSY", Prefix("close", core_->path) + std::to_string(users) +
                                  " submitted I/O program(s) still use this file: wait for them (their promises, or "
                                  "queue.waitIdle()) before closing it");
      return Napi::Value();
    }
    core_->closed = true;
    // No program uses the descriptor (users is 0), and none can be submitted any more.
    if (core_->fd >= 0) ::close(core_->fd);
    core_->fd = -1;
    return Napi::Value();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    const bool closed = !core_ || core_->closed;
    out.Set("closed", Napi::Boolean::New(env, closed));
    out.Set("length", Napi::Number::New(env, closed ? 0.0 : static_cast<double>(core_->length.load())));
    out.Set("readOnly", Napi::Boolean::New(env, core_ ? !core_->writable : true));
    out.Set("users", Napi::Number::New(env, core_ ? static_cast<double>(core_->users.load()) : 0.0));
    return out;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    auto n = [&](const std::atomic<uint64_t>& v) {
      return Napi::Number::New(env, static_cast<double>(v.load(std::memory_order_relaxed)));
    };
    if (!core_) return out;
    out.Set("writes", n(core_->writes));
    out.Set("bytesWritten", n(core_->bytes_written));
    out.Set("reads", n(core_->reads));
    out.Set("bytesRead", n(core_->bytes_read));
    out.Set("syncs", n(core_->syncs));
    out.Set("grows", n(core_->grows));
    return out;
  }

  std::shared_ptr<FileCore> core_;
};

// ---------------------------------------------------------------------------------------
// Programs.

struct Step {
  bool sync = false;
  FileCore* file = nullptr;  // owned by the program's `files`
  uint64_t offset = 0;
  const uint8_t* data = nullptr;
  uint64_t length = 0;
};

struct Program {
  std::vector<Step> steps;
  // The distinct files of the steps. For a submitted program each counts it in `users`
  // from submission until it finished (Release).
  std::vector<std::shared_ptr<FileCore>> files;
  bool counted = false;
  // Mapped bytes its writes read (pins.h), released when it finished.
  std::vector<uint64_t> pins;
  // The data arrays of its writes, alive until the promise settles (JS thread).
  std::vector<napi_ref> refs;
  napi_deferred deferred = nullptr;
  IoFailure refusal;  // set when the program was refused at submission: it runs nothing
  IoFailure failure;  // how it ended

  // Drops the program's claim on its files and mapped bytes (any thread; once).
  void Release() {
    for (uint64_t token : pins) UnpinMappedRange(token);
    pins.clear();
    if (!counted) return;
    counted = false;
    for (auto& f : files) f->users.fetch_sub(1, std::memory_order_acq_rel);
  }
  // Frees what needs no JavaScript. References are deleted by the JS thread (DeleteRefs), or
  // left to the environment when it is being torn down.
  ~Program() { Release(); }
};

// The references of a program, deleted (JS thread); `held` counts those alive.
void DeleteRefs(napi_env env, Program* p, uint64_t* held) {
  for (napi_ref r : p->refs) napi_delete_reference(env, r);
  *held -= p->refs.size();
  p->refs.clear();
}

// Reads an op's property; a throwing getter becomes a refusal.
bool GetProperty(napi_env env, napi_value object, napi_value key, napi_value* out, size_t index, const char* name,
                 IoFailure* refusal) {
  if (napi_get_property(env, object, key, out) == napi_ok) return true;
  std::string why = "cannot be read";
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_value text;
    char buffer[256];
    size_t n = 0;
    if (napi_coerce_to_string(env, exception, &text) == napi_ok &&
        napi_get_value_string_utf8(env, text, buffer, sizeof buffer, &n) == napi_ok) {
      why = std::string("threw: ") + std::string(buffer, n);
    } else {
      bool still = false;
      if (napi_is_exception_pending(env, &still) == napi_ok && still) napi_get_and_clear_last_exception(env, &exception);
      why = "threw";
    }
  }
  refusal->Set("EINVAL", "ops[" + std::to_string(index) + "]." + name + " " + why);
  return false;
}

bool IndexValue(napi_env env, napi_value value, uint64_t* out) {
  double d = 0;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return false;
  if (napi_get_value_double(env, value, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= kMaxSafeInteger && static_cast<double>(static_cast<uint64_t>(d)) == d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

// Reads and checks `ops` into `p`: on a refusal, `p->refusal` says why and `p->steps` is
// empty. JavaScript may run while the ops are read (getters): it may close files, detach
// arrays or run other programs, so nothing is checked until every property has been read,
// and the arrays' memory is looked up only then. With `keep_alive`, each write's array is
// referenced (exactly the array that was checked: no JavaScript runs after pass 1).
void ParseProgram(Napi::Env env, Napi::Value ops, Program* p, bool keep_alive) {
  AddonData* data = env.GetInstanceData<AddonData>();
  const char* op = "I/O program";
  auto refuse = [&](const char* code, const std::string& why) {
    p->refusal.Set(code, std::string(op) + ": " + why);
    p->steps.clear();
    p->files.clear();
    for (uint64_t token : p->pins) UnpinMappedRange(token);
    p->pins.clear();
    for (napi_ref r : p->refs) napi_delete_reference(env, r);
    p->refs.clear();
  };
  if (!ops.IsArray()) return refuse("EINVAL", "ops must be an array");
  Napi::Array array = ops.As<Napi::Array>();
  const uint64_t count = array.Length();
  if (count > kMaxProgramSteps) {
    return refuse("ERANGE", "a program of " + std::to_string(count) + " steps exceeds the limit of " +
                                std::to_string(kMaxProgramSteps));
  }
  if (data == nullptr || data->file_key.IsEmpty()) return refuse("EINVAL", "the addon was not initialised");
  napi_value key_op = Napi::String::New(env, "op"), key_file = Napi::String::New(env, "file"),
             key_offset = Napi::String::New(env, "offset"), key_data = Napi::String::New(env, "data");
  napi_value file_key = data->file_key.Value();

  struct Raw {
    bool sync = false;
    napi_value native = nullptr;
    napi_value offset = nullptr;
    napi_value data = nullptr;
  };
  std::vector<Raw> raws(static_cast<size_t>(count));
  // Pass 1: read every property (may run JavaScript).
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    if (napi_get_element(env, array, i, &element) != napi_ok) {
      napi_value ignored;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      return refuse("EINVAL", "ops[" + std::to_string(i) + "] cannot be read");
    }
    napi_valuetype type;
    if (napi_typeof(env, element, &type) != napi_ok || type != napi_object) {
      return refuse("EINVAL", "ops[" + std::to_string(i) + "] must be an object");
    }
    napi_value kind, file;
    IoFailure bad;
    if (!GetProperty(env, element, key_op, &kind, i, "op", &bad)) return refuse(bad.code, bad.message);
    char name[8] = {0};
    size_t n = 0;
    if (napi_typeof(env, kind, &type) != napi_ok || type != napi_string ||
        napi_get_value_string_utf8(env, kind, name, sizeof name, &n) != napi_ok ||
        !((n == 5 && strcmp(name, "write") == 0) || (n == 4 && strcmp(name, "sync") == 0))) {
      return refuse("EINVAL", "ops[" + std::to_string(i) + "].op must be 'write' or 'sync'");
    }
    raws[i].sync = n == 4;
    if (!GetProperty(env, element, key_file, &file, i, "file", &bad)) return refuse(bad.code, bad.message);
    if (napi_typeof(env, file, &type) != napi_ok || type != napi_object ||
        napi_get_property(env, file, file_key, &raws[i].native) != napi_ok) {
      bool pending = false;
      napi_value ignored;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      return refuse("EINVAL", "ops[" + std::to_string(i) +
                                  "].file must be a FileHandle of @ferrite/native (openFile); another FileIO cannot "
                                  "run on the native queue");
    }
    if (raws[i].sync) continue;
    if (!GetProperty(env, element, key_offset, &raws[i].offset, i, "offset", &bad) ||
        !GetProperty(env, element, key_data, &raws[i].data, i, "data", &bad)) {
      return refuse(bad.code, bad.message);
    }
  }
  // Pass 2: check (no JavaScript runs from here on).
  p->steps.reserve(static_cast<size_t>(count));
  for (uint32_t i = 0; i < count; i++) {
    const Raw& raw = raws[i];
    const std::string at = "ops[" + std::to_string(i) + "]";
    std::shared_ptr<FileCore> core = NativeFile::CoreOf(env, raw.native);
    if (!core) {
      return refuse("EINVAL", at + ".file must be a FileHandle of @ferrite/native (openFile); another FileIO cannot "
                                   "run on the native queue");
    }
    if (core->closed) return refuse("ECLOSED", at + ": " + core->path + " was closed");
    Step step;
    step.sync = raw.sync;
    if (!raw.sync) {
      if (!core->writable) return refuse("EACCES", at + ": " + core->path + " was opened read-only");
      if (!IndexValue(env, raw.offset, &step.offset)) {
        return refuse("EINVAL", at + ".offset must be a non-negative safe integer");
      }
      ByteView view;
      std::string why;
      if (!ViewOf(env, raw.data, &view, &why)) return refuse("EINVAL", at + ".data " + why);
      step.data = view.data;
      step.length = view.length;
      const uint64_t length = core->length.load(std::memory_order_relaxed);
      if (step.offset > length || step.length > length - step.offset) {
        return refuse("ERANGE", at + ": a write of " + Bytes(step.length) + " at offset " +
                                    std::to_string(step.offset) + " is outside " + core->path + " (" +
                                    Bytes(length) + "): grow the file first");
      }
    }
    FileCore* raw_core = core.get();
    bool known = false;
    for (auto& f : p->files) known = known || f.get() == raw_core;
    if (!known) p->files.push_back(std::move(core));
    step.file = raw_core;
    p->steps.push_back(step);
  }
  if (!keep_alive) return;
  // A submitted program's data may be a mapping's bytes: pinned, the mapping cannot be
  // closed, grown or discarded under it (runNow needs none: no JavaScript runs meanwhile).
  for (const Step& step : p->steps) {
    const uint64_t token = step.sync ? 0 : PinMappedRange(step.data, step.length);
    if (token != 0) p->pins.push_back(token);
  }
  for (uint32_t i = 0; i < count; i++) {
    if (raws[i].sync) continue;
    napi_ref ref;
    if (napi_create_reference(env, raws[i].data, 1, &ref) != napi_ok) {
      return refuse("ENOMEM", "cannot reference ops[" + std::to_string(i) + "].data");
    }
    p->refs.push_back(ref);
  }
}

// Runs the steps of `p` until one fails or `stop` is set. Returns false when stopped.
bool RunSteps(Program* p, const std::atomic<bool>* stop, uint64_t* steps_run) {
  for (const Step& s : p->steps) {
    if (stop != nullptr && stop->load(std::memory_order_acquire)) return false;
    const bool ok = s.sync ? DoSync(*s.file, &p->failure) : DoWrite(*s.file, s.offset, s.data, s.length, &p->failure);
    ++*steps_run;
    if (!ok) return true;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// The queue.

class NativeIoQueue;

struct QueueCore {
  std::mutex mu;
  std::condition_variable work_cv;  // the I/O thread waits for programs
  std::condition_variable idle_cv;  // runNow and waitIdle wait for the I/O thread
  std::deque<Program*> queue;       // submitted, not started
  bool busy = false;                // a program is running (on the I/O thread or in runNow)
  uint64_t pending = 0;             // submitted, not finished
  uint64_t pending_steps = 0;
  std::atomic<bool> stopping{false};
  // The first failure; every later program fails with it.
  bool poisoned = false;
  IoFailure poison;
  uint64_t programs_done = 0, programs_failed = 0, steps_run = 0;

  std::mutex join_mu;  // who joins the thread (cleanup hook, finalizer, atexit)
  std::thread thread;

  // JS thread only.
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  NativeIoQueue* wrapper = nullptr;
  uint64_t unsettled = 0;  // submitted programs whose promise has not settled
  uint64_t held = 0;       // data arrays referenced for unsettled programs
  bool shut_down = false;
  bool hook_added = false;

  ~QueueCore() { StopAndJoin(); }

  // Stops the I/O thread after its step in progress and joins it. Any thread; idempotent.
  void StopAndJoin() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping.store(true, std::memory_order_release);
    }
    work_cv.notify_all();
    std::lock_guard<std::mutex> lock(join_mu);
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
  }

  // The failure a program meets when the queue is poisoned.
  void PoisonInto(IoFailure* out) {
    out->Set(poison.code, "the I/O queue stopped at an earlier failure, so nothing more is written: " + poison.message);
  }

  void Poison(const IoFailure& f) {
    if (poisoned) return;
    poisoned = true;
    poison = f;
  }

  void Loop();
};

// Live queues, for the atexit handler. Leaked on purpose: usable during static destruction.
std::mutex& RegistryMutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::unordered_set<QueueCore*>& Registry() {
  static auto* s = new std::unordered_set<QueueCore*>();
  return *s;
}

// process.exit() on the main thread runs no environment cleanup: stop every I/O thread after
// its step in progress, so none runs while the process tears itself down.
void StopAllAtExit() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (QueueCore* q : Registry()) q->StopAndJoin();
}

std::once_flag atexit_once;

void QueueCore::Loop() {
  // Asynchronous signals (SIGINT, SIGTERM, SIGCHLD, ...) are for Node's threads: blocked here,
  // so they are never delivered to this thread (nor interrupt its system calls). Faults
  // (SIGBUS, SIGSEGV, ...) stay deliverable: they belong to the thread that caused them.
  sigset_t blocked;
  sigfillset(&blocked);
  for (int sig : {SIGBUS, SIGSEGV, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) sigdelset(&blocked, sig);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  pthread_setname_np(pthread_self(), "ferrite-io");  // for top -H, gdb, and the tests
  for (;;) {
    Program* p = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu);
      work_cv.wait(lock, [&] { return stopping.load(std::memory_order_acquire) || !queue.empty(); });
      if (stopping.load(std::memory_order_acquire)) return;
      p = queue.front();
      queue.pop_front();
      busy = true;
      if (poisoned) PoisonInto(&p->failure);
    }
    uint64_t steps = 0;
    bool finished = true;
    if (!p->failure.failed()) {
      if (p->refusal.failed()) p->failure = p->refusal;
      else finished = RunSteps(p, &stopping, &steps);
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      steps_run += steps;
      if (finished) {
        if (p->failure.failed()) {
          Poison(p->failure);
          programs_failed++;
        }
        programs_done++;
      }
      busy = false;
      pending--;
      pending_steps -= p->steps.size();
      p->Release();
    }
    idle_cv.notify_all();
    if (!finished || stopping.load(std::memory_order_acquire)) {
      // Torn down mid-program (or just after it): nothing settles its promise any more.
      delete p;
      return;
    }
    if (napi_call_threadsafe_function(tsfn, p, napi_tsfn_nonblocking) != napi_ok) delete p;
  }
}

// Settles a finished program's promise on the JS thread (env is null while the thread-safe
// function is torn down: only memory is freed then).
void SettleProgram(napi_env env, napi_value /*js_callback*/, void* context, void* data);
void FinalizeTsfn(napi_env env, void* finalize_data, void* hint);
void CleanupHook(void* arg);

class NativeIoQueue : public Napi::ObjectWrap<NativeIoQueue> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeIoQueue",
                       {
                           InstanceMethod<&NativeIoQueue::Submit>("submit"),
                           InstanceMethod<&NativeIoQueue::RunNow>("runNow"),
                           InstanceMethod<&NativeIoQueue::WaitIdle>("waitIdle"),
                           InstanceMethod<&NativeIoQueue::Pending>("pending"),
                           InstanceMethod<&NativeIoQueue::Stats>("stats"),
                       });
  }

  explicit NativeIoQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeIoQueue>(info) {
    Napi::Env env = info.Env();
    core_ = std::make_shared<QueueCore>();
    core_->env = env;
    core_->wrapper = this;
    // The thread-safe function keeps the core alive until it is finalized.
    auto* holder = new std::shared_ptr<QueueCore>(core_);
    napi_value name = Napi::String::New(env, "ferrite.IoQueue");
    if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, holder, FinalizeTsfn, core_.get(),
                                        SettleProgram, &core_->tsfn) != napi_ok) {
      delete holder;
      core_->tsfn = nullptr;
      ThrowCode(env, "ENOMEM", "createIoQueue: cannot create the thread-safe function");
      return;
    }
    // Only programs whose promises have not settled keep the event loop alive.
    napi_unref_threadsafe_function(env, core_->tsfn);
    // Added after the thread-safe function, so that it runs before that function's own
    // teardown (cleanup hooks run in reverse order).
    if (napi_add_env_cleanup_hook(env, CleanupHook, core_.get()) == napi_ok) core_->hook_added = true;
    std::call_once(atexit_once, [] { std::atexit(StopAllAtExit); });
    std::lock_guard<std::mutex> lock(RegistryMutex());
    Registry().insert(core_.get());
  }

  ~NativeIoQueue() override {
    if (!core_) return;
    core_->wrapper = nullptr;
    if (!core_->shut_down) {
      if (core_->hook_added) napi_remove_env_cleanup_hook(core_->env, CleanupHook, core_.get());
      Shutdown(core_.get(), /*teardown=*/false);
    }
  }

  // Stops the thread and frees what was never run (JS thread; env alive). Idempotent.
  static void Shutdown(QueueCore* q, bool teardown) {
    if (q->shut_down) return;
    q->shut_down = true;
    {
      std::lock_guard<std::mutex> lock(RegistryMutex());
      Registry().erase(q);
    }
    q->StopAndJoin();
    std::deque<Program*> never_run;
    {
      std::lock_guard<std::mutex> lock(q->mu);
      never_run.swap(q->queue);
      q->pending = 0;
      q->pending_steps = 0;
    }
    for (Program* p : never_run) {
      if (!teardown) DeleteRefs(q->env, p, &q->held);  // at teardown the environment frees them itself
      delete p;
    }
    if (q->tsfn != nullptr) {
      napi_release_threadsafe_function(q->tsfn, napi_tsfn_abort);
      q->tsfn = nullptr;
    }
  }

  // Called in SettleProgram, JS thread.
  void Settled() {
    if (core_->unsettled > 0 && --core_->unsettled == 0) {
      if (core_->tsfn != nullptr) napi_unref_threadsafe_function(core_->env, core_->tsfn);
      Unref();
    }
  }

 private:
  // submit(ops) -> Promise<void>
  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    napi_deferred deferred;
    napi_value promise;
    if (napi_create_promise(env, &deferred, &promise) != napi_ok) {
      ThrowCode(env, "ENOMEM", "submit: cannot create a promise");
      return Napi::Value();
    }
    auto* p = new Program();
    p->deferred = deferred;
    ParseProgram(env, info[0], p, /*keep_alive=*/true);
    QueueCore* q = core_.get();
    q->held += p->refs.size();
    IoFailure now;  // a failure that cannot wait for its turn: no thread will ever run it
    {
      std::lock_guard<std::mutex> lock(q->mu);
      if (q->shut_down || q->stopping.load(std::memory_order_acquire)) {
        // Shut down, or the process is exiting (the atexit handler stopped the thread).
        now.Set("ECLOSED", "submit: the I/O queue was shut down");
      } else if (!q->thread.joinable()) {
        // Under join_mu too: the atexit handler may join from another thread meanwhile.
        std::lock_guard<std::mutex> join_lock(q->join_mu);
        try {
          q->thread = std::thread([q] { q->Loop(); });
        } catch (const std::system_error& e) {
          // Nothing was ever submitted (else the thread would run): failing now keeps order.
          now.Set("ENOMEM", std::string("submit: cannot start the I/O thread: ") + e.what());
          q->Poison(now);
        }
      }
      if (!now.failed()) {
        if (!p->refusal.failed() && q->pending_steps + p->steps.size() > kMaxPendingSteps) {
          p->refusal.Set("ERANGE", "submit: " + std::to_string(q->pending_steps) +
                                       " steps are queued already; a program of " + std::to_string(p->steps.size()) +
                                       " more exceeds the limit of " + std::to_string(kMaxPendingSteps) +
                                       " (wait for earlier programs first)");
          p->steps.clear();
          p->files.clear();
          p->Release();
        }
        if (!p->refusal.failed()) {
          for (auto& f : p->files) f->users.fetch_add(1, std::memory_order_acq_rel);
          p->counted = true;
        }
        q->queue.push_back(p);
        q->pending++;
        q->pending_steps += p->steps.size();
      }
    }
    if (now.failed()) {
      DeleteRefs(env, p, &q->held);
      delete p;
      napi_value err = MakeError(env, now.code, now.message);
      if (err != nullptr) napi_reject_deferred(env, deferred, err);
      return Napi::Value(env, promise);
    }
    q->work_cv.notify_one();
    // Until its promise settles, the program keeps the event loop alive and this queue
    // reachable (its finalizer would stop the thread).
    if (q->unsettled++ == 0) {
      napi_ref_threadsafe_function(env, q->tsfn);
      Ref();
    }
    return Napi::Value(env, promise);
  }

  // runNow(ops): waits for every submitted program, then runs `ops` on this thread.
  Napi::Value RunNow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Program p;
    ParseProgram(env, info[0], &p, /*keep_alive=*/false);
    QueueCore* q = core_.get();
    IoFailure failure;
    {
      std::unique_lock<std::mutex> lock(q->mu);
      q->idle_cv.wait(lock, [&] { return (q->queue.empty() && !q->busy) || q->shut_down; });
      if (q->shut_down) {
        failure.Set("ECLOSED", "runNow: the I/O queue was shut down");
      } else if (q->poisoned) {
        q->PoisonInto(&failure);
      } else if (p.refusal.failed()) {
        failure = p.refusal;
        q->Poison(failure);
        q->programs_failed++;
        q->programs_done++;
      } else {
        q->busy = true;
      }
    }
    if (failure.failed()) {
      ThrowFailure(env, failure);
      return Napi::Value();
    }
    uint64_t steps = 0;
    RunSteps(&p, nullptr, &steps);
    {
      std::lock_guard<std::mutex> lock(q->mu);
      q->busy = false;
      q->steps_run += steps;
      q->programs_done++;
      if (p.failure.failed()) {
        q->Poison(p.failure);
        q->programs_failed++;
      }
    }
    q->idle_cv.notify_all();
    if (p.failure.failed()) ThrowFailure(env, p.failure);
    return Napi::Value();
  }

  Napi::Value WaitIdle(const Napi::CallbackInfo& info) {
    QueueCore* q = core_.get();
    std::unique_lock<std::mutex> lock(q->mu);
    q->idle_cv.wait(lock, [&] { return (q->queue.empty() && !q->busy) || q->shut_down; });
    return info.Env().Undefined();
  }

  Napi::Value Pending(const Napi::CallbackInfo& info) {
    QueueCore* q = core_.get();
    std::lock_guard<std::mutex> lock(q->mu);
    return Napi::Number::New(info.Env(), static_cast<double>(q->pending));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    QueueCore* q = core_.get();
    Napi::Object out = Napi::Object::New(env);
    std::lock_guard<std::mutex> lock(q->mu);
    out.Set("programs", Napi::Number::New(env, static_cast<double>(q->programs_done)));
    out.Set("failed", Napi::Number::New(env, static_cast<double>(q->programs_failed)));
    out.Set("steps", Napi::Number::New(env, static_cast<double>(q->steps_run)));
    out.Set("pending", Napi::Number::New(env, static_cast<double>(q->pending)));
    out.Set("poisoned", Napi::Boolean::New(env, q->poisoned));
    out.Set("heldArrays", Napi::Number::New(env, static_cast<double>(q->held)));
    return out;
  }

  std::shared_ptr<QueueCore> core_;
};

void SettleProgram(napi_env env, napi_value /*js_callback*/, void* context, void* data) {
  Program* p = static_cast<Program*>(data);
  if (env == nullptr) {
    delete p;  // torn down: the environment frees the references
    return;
  }
  QueueCore* q = static_cast<QueueCore*>(context);
  Napi::HandleScope scope(env);
  if (p->failure.failed()) {
    napi_value err = MakeError(Napi::Env(env), p->failure.code, p->failure.message);
    if (err == nullptr) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
      napi_value message;
      napi_create_string_utf8(env, p->failure.message.c_str(), p->failure.message.size(), &message);
      napi_create_error(env, nullptr, message, &err);
    }
    napi_reject_deferred(env, p->deferred, err);
  } else {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, p->deferred, undefined);
  }
  DeleteRefs(env, p, &q->held);
  delete p;
  if (q->wrapper != nullptr) q->wrapper->Settled();
}

void FinalizeTsfn(napi_env /*env*/, void* finalize_data, void* /*hint*/) {
  delete static_cast<std::shared_ptr<QueueCore>*>(finalize_data);
}

void CleanupHook(void* arg) {
  QueueCore* q = static_cast<QueueCore*>(arg);
  q->hook_added = false;
  NativeIoQueue::Shutdown(q, /*teardown=*/true);
}

Napi::Value SetFileKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsSymbol()) {
    ThrowCode(env, "EINVAL", "setFileKey: expects a symbol");
    return Napi::Value();
  }
  env.GetInstanceData<AddonData>()->file_key = Napi::Persistent(info[0]);
  return Napi::Value();
}

}  // namespace

void InitFileIo(Napi::Env env, Napi::Object exports) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Function file = NativeFile::Define(env);
  Napi::Function queue = NativeIoQueue::Define(env);
  data->file_constructor = Napi::Persistent(file);
  data->queue_constructor = Napi::Persistent(queue);
  exports.Set("NativeFile", file);
  exports.Set("NativeIoQueue", queue);
  exports.Set("setFileKey", Napi::Function::New(env, SetFileKey, "setFileKey"));
}

}  // namespace ferrite
