// See file-space.h. Why each step is ordered as it is:
// - The free space is checked first, so that a request far beyond it (a 1 TiB pool on a disk
//   with 80 GiB free) fails at once instead of filling the disk and then giving up.
// - Blocks are reserved past the end of the file (KEEP_SIZE) before the size changes: a
//   failure then never leaves a file longer than what is allocated (the sparse tail that a
//   store would turn into SIGBUS). ext4 keeps blocks reserved past the end after a failed
//   fallocate until the next truncate, so the rollback punches and truncates.
// - The size is set last and fsync'd: a new offset is handed out only once it is durable.

#include "file-space.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace ferrite {

namespace {

constexpr uint64_t kZeroChunk = uint64_t(1) << 20;
constexpr unsigned long kTmpfsMagic = 0x01021994;

bool Fail(SpaceFailure* out, int err, const std::string& step) {
  out->err = err;
  out->step = step;
  return false;
}

// Writes zeros over [from, to) with pwrite (which allocates, and extends the file when `to`
// lies past its end). For file systems without fallocate.
int WriteZeros(int fd, uint64_t from, uint64_t to) {
  static const std::unique_ptr<uint8_t[]> zeros(new uint8_t[kZeroChunk]());
  uint64_t at = from;
  while (at < to) {
    const uint64_t want = to - at < kZeroChunk ? to - at : kZeroChunk;
    const ssize_t n = pwrite(fd, zeros.get(), static_cast<size_t>(want), static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: never loop forever
    at += static_cast<uint64_t>(n);
  }
  return 0;
}

// Gives back what a failed extension reserved past `old_size` and restores the size.
void ReleaseTail(int fd, uint64_t old_size, uint64_t new_size) {
  // Errors are ignored: this runs on a path that already fails, and each step is best effort
  // (a file system without hole punching still frees blocks past the end on truncate).
  (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(old_size),
                  static_cast<off_t>(new_size - old_size));
  (void)ftruncate(fd, static_cast<off_t>(old_size));
  (void)fsync(fd);
}

// Allocates the holes of [start, end) by writing zeros into them (a hole reads as zeros, so
// the contents do not change). For file systems without fallocate; SEEK_HOLE finds them.
int FillHoles(int fd, uint64_t start, uint64_t end) {
  uint64_t at = start;
  // Every pass moves `at` forward by at least one byte: bounded by end - start passes.
  while (at < end) {
    const off_t hole = lseek(fd, static_cast<off_t>(at), SEEK_HOLE);
    if (hole < 0) return errno == ENXIO ? 0 : errno;
    if (static_cast<uint64_t>(hole) >= end) return 0;
    off_t data = lseek(fd, hole, SEEK_DATA);
    uint64_t stop = end;
    if (data >= 0 && static_cast<uint64_t>(data) < end) stop = static_cast<uint64_t>(data);
    if (data < 0 && errno != ENXIO) return errno;
    const int err = WriteZeros(fd, static_cast<uint64_t>(hole), stop);
    if (err != 0) return err;
    at = stop;
  }
  return 0;
}

std::string Bytes(uint64_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

uint64_t AvailableBytes(int fd) {
  struct statvfs s;
  if (fstatvfs(fd, &s) != 0 || s.f_blocks == 0) return UINT64_MAX;
  const unsigned __int128 bytes = static_cast<unsigned __int128>(s.f_bavail) * s.f_frsize;
  return bytes > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(bytes);
}

bool IsTmpfs(int fd) {
  struct statfs s;
  return fstatfs(fd, &s) == 0 && static_cast<unsigned long>(s.f_type) == kTmpfsMagic;
}

void UndoExtend(int fd, uint64_t old_size, uint64_t new_size) {
  if (new_size > old_size) ReleaseTail(fd, old_size, new_size);
}

bool ExtendAllocated(int fd, uint64_t old_size, uint64_t new_size, SpaceFailure* out) {
  if (new_size <= old_size) return true;
  const uint64_t need = new_size - old_size;
  const uint64_t available = AvailableBytes(fd);
  if (need > available) {
    return Fail(out, ENOSPC, "statvfs: " + Bytes(need) + " are needed and the file system has " +
                                 Bytes(available) + " free");
  }
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(old_size), static_cast<off_t>(need)) != 0) {
    const int err = errno;
    if (err != EOPNOTSUPP && err != ENOSYS) {
      ReleaseTail(fd, old_size, new_size);
      return Fail(out, err, "fallocate of " + Bytes(need));
    }
    const int werr = WriteZeros(fd, old_size, new_size);
    if (werr != 0) {
      ReleaseTail(fd, old_size, new_size);
      return Fail(out, werr, "writing " + Bytes(need) + " of zeros (the file system has no fallocate)");
    }
  }
  if (ftruncate(fd, static_cast<off_t>(new_size)) != 0) {
    const int err = errno;
    ReleaseTail(fd, old_size, new_size);
    return Fail(out, err, "ftruncate to " + Bytes(new_size));
  }
  if (fsync(fd) != 0) {
    const int err = errno;
    ReleaseTail(fd, old_size, new_size);
    return Fail(out, err, "fsync");
  }
  return true;
}

bool AllocateWithin(int fd, uint64_t start, uint64_t end, bool tmpfs, SpaceFailure* out) {
  if (end <= start) return true;
  struct stat st;
  if (fstat(fd, &st) != 0) return Fail(out, errno, "fstat");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t whole = (size + page - 1) / page * page;
  if (tmpfs && allocated >= whole) return true;
  // An estimate (metadata blocks count too on some file systems; the holes may lie outside
  // [start, end)), enough to fail fast.
  uint64_t missing = whole > allocated ? whole - allocated : 0;
  if (missing > end - start) missing = end - start;
  const uint64_t available = AvailableBytes(fd);
  if (missing > available) {
    return Fail(out, ENOSPC, "the file is sparse: " + Bytes(missing) +
                                 " of it are not allocated and the file system has " + Bytes(available) + " free");
  }
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(start), static_cast<off_t>(end - start)) == 0) return true;
  const int err = errno;
  if (err != EOPNOTSUPP && err != ENOSYS) return Fail(out, err, "fallocate of the file's holes (it is sparse)");
  const int ferr = FillHoles(fd, start, end);
  if (ferr != 0) return Fail(out, ferr, "writing zeros into the file's holes (it is sparse; no fallocate)");
  return true;
}

}  // namespace ferrite
