// See create-file.h.

#include "create-file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace ferrite {

namespace {

// A temporary is made under the "new" infix, locked, then renamed to the "create" infix: a
// file under the "create" infix was locked by its creator, so if its lock is free its creator
// is gone. (A size or block count cannot tell: tmpfs gives back what an interrupted fallocate
// allocated, so a create killed while allocating leaves an empty file.)
constexpr const char* kNewInfix = ".ferrite-new-";
constexpr const char* kInfix = ".ferrite-create-";
constexpr size_t kRandomDigits = 16;
constexpr size_t kNameMax = 255;
// Fresh random names tried before giving up (a collision of 64 random bits is not expected
// even once; the bound keeps the loop finite).
constexpr int kNameAttempts = 8;

std::string DirOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// `.<name><infix>`, the name shortened so that the whole, with its digits, fits NAME_MAX.
std::string TempPrefix(const std::string& path, const char* infix) {
  const size_t longest = std::char_traits<char>::length(kInfix);
  const size_t fixed = 1 + longest + kRandomDigits;
  std::string base = BaseOf(path);
  if (base.size() + fixed > kNameMax) base.resize(kNameMax - fixed);
  return "." + base + infix;
}

// rename that never replaces `to`: renameat2(RENAME_NOREPLACE), or link + unlink where the
// file system has no RENAME_NOREPLACE (link never replaces either). Returns 0 or an errno.
int RenameNoReplace(const std::string& from, const std::string& to, std::string* step) {
  if (syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  const int err = errno;
  if (err != EINVAL && err != ENOSYS) {
    *step = "renameat2(RENAME_NOREPLACE)";
    return err;
  }
  if (link(from.c_str(), to.c_str()) != 0) {
    *step = "link";
    return errno;
  }
  unlink(from.c_str());  // a failure leaves a second name, which RemoveLeftovers takes later
  return 0;
}

int RandomDigits(std::string* out) {
  uint8_t bytes[kRandomDigits / 2];
  size_t got = 0;
  // getrandom of 8 bytes returns them all at once or fails; the loop only retries EINTR.
  for (int tries = 0; got < sizeof bytes && tries < 16; tries++) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    got += static_cast<size_t>(n);
  }
  if (got < sizeof bytes) return EAGAIN;
  static const char kHex[] = "0123456789abcdef";
  out->clear();
  for (uint8_t b : bytes) {
    out->push_back(kHex[b >> 4]);
    out->push_back(kHex[b & 15]);
  }
  return 0;
}

bool IsHex(const char* s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Removes the temporaries of killed creates of the same path: one whose lock can be taken has
// no live creator (it was locked before it got this name). Best effort: an error skips it.
void RemoveLeftovers(const std::string& dir, const std::string& prefix) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  const int dfd = dirfd(d);
  // readdir returns each entry once and ends: the loop is bounded by the directory's size.
  for (struct dirent* e = readdir(d); e != nullptr; e = readdir(d)) {
    const size_t len = strlen(e->d_name);
    if (len != prefix.size() + kRandomDigits || prefix.compare(0, prefix.size(), e->d_name, prefix.size()) != 0 ||
        !IsHex(e->d_name + prefix.size(), kRandomDigits)) {
      continue;
    }
    const int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) continue;
    struct stat held, now;
    if (fstat(fd, &held) == 0 && S_ISREG(held.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        fstatat(dfd, e->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == held.st_ino &&
        now.st_dev == held.st_dev) {
      unlinkat(dfd, e->d_name, 0);
    }
    close(fd);
  }
  closedir(d);
}

int FsyncDirectoryOf(const std::string& path) {
  const int dfd = open(DirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno;
  const int rc = fsync(dfd);
  const int err = rc == 0 ? 0 : errno;
  close(dfd);
  // Some file systems refuse fsync on directories; that is not a failure to create.
  return (err == EINVAL || err == EROFS) ? 0 : err;
}

}  // namespace

int CreateHidden(const std::string& path, mode_t mode, int open_flags, NewFile* out, std::string* step) {
  const std::string dir = DirOf(path);
  const std::string base = dir == "/" ? "/" : dir + "/";
  const std::string prefix = TempPrefix(path, kInfix);
  RemoveLeftovers(dir, prefix);
  for (int attempt = 0; attempt < kNameAttempts; attempt++) {
    std::string digits;
    const int rerr = RandomDigits(&digits);
    if (rerr != 0) {
      *step = "getrandom";
      return rerr;
    }
    const std::string fresh = base + TempPrefix(path, kNewInfix) + digits;
    const int fd = open(fresh.c_str(), open_flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      *step = "open of the temporary file " + fresh;
      return errno;
    }
    flock(fd, LOCK_EX | LOCK_NB);  // a file no one else has opened: cannot fail
    const std::string temp = base + prefix + digits;
    const int err = RenameNoReplace(fresh, temp, step);
    if (err != 0) {
      unlink(fresh.c_str());
      close(fd);
      if (err == EEXIST) continue;
      *step += " of the temporary file " + fresh;
      return err;
    }
    out->fd = fd;
    out->temp_path = temp;
    out->hidden = true;
    return 0;
  }
  *step = "open of a temporary file (every random name was taken)";
  return EEXIST;
}

int Publish(NewFile* file, const std::string& path, std::string* step) {
  if (!file->hidden) return 0;
  if (fsync(file->fd) != 0) {
    *step = "fsync";
    return errno;
  }
  const int rerr = RenameNoReplace(file->temp_path, path, step);
  if (rerr != 0) return rerr;
  file->temp_path.clear();
  file->hidden = false;
  const int err = FsyncDirectoryOf(path);
  if (err != 0) {
    // The name might not survive a crash: take it back, so that the create fails as a whole
    // (the descriptor now holds a file without a name, freed when it closes).
    unlink(path.c_str());
    file->hidden = true;
    *step = "fsync of the directory";
    return err;
  }
  return 0;
}

void DiscardName(NewFile* file) {
  if (!file->temp_path.empty()) unlink(file->temp_path.c_str());
  file->temp_path.clear();
}

}  // namespace ferrite
