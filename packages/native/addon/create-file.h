// Atomic creation of a file: it is built where no one opens it and appears at its path,
// whole, in one step that never replaces anything — or it never appears.
//
// The file is made under a fresh name next to the target, `.<name>.ferrite-new-<16 hex
// digits of getrandom>` (O_CREAT|O_EXCL, so two creates never share one), flocked, and
// renamed to `.<name>.ferrite-create-<the same digits>`: a file under that name always had
// its lock taken. Publishing fsyncs it, renames it to the target with
// renameat2(RENAME_NOREPLACE) (where the file system lacks it: link, which never replaces
// either, then unlink) and fsyncs the directory. The rename moves the file's own name, so
// /proc and lsof show the mapping under its path. (O_TMPFILE would leave nothing behind a
// killed create, but a mapping made from it keeps showing as "#<inode> (deleted)" after it
// is linked.)
//
// A create that fails removes its temporary. One that is killed (or a power loss) leaves it:
// it blocks nothing (it has another name), and the next create of the same path removes
// every `.ferrite-create-` leftover of it whose lock nobody holds. A kill in the microseconds
// between creating and renaming can leave an empty `.ferrite-new-` file, which holds no
// space and is not removed automatically (no one can tell it from a create under way).
#pragma once

#include <sys/types.h>

#include <string>

namespace ferrite {

struct NewFile {
  int fd = -1;
  // The temporary name; empty once published.
  std::string temp_path;
  // True until published: the file is not at its path.
  bool hidden = false;
};

// Makes an empty, exclusively flocked, not yet visible file for `path`, opened with
// `open_flags` (access and O_CLOEXEC etc.) and `mode`. Returns 0 or an errno; `step` says
// which call failed.
int CreateHidden(const std::string& path, mode_t mode, int open_flags, NewFile* out, std::string* step);

// fsyncs the file, gives it its name `path` without replacing anything (EEXIST when a file
// appeared there) and fsyncs the directory. On failure the file stays hidden. Returns 0 or
// an errno; `step` says which call failed.
int Publish(NewFile* file, const std::string& path, std::string* step);

// Removes the temporary name of a file that will not be published (before its descriptor
// closes, while its lock is still held).
void DiscardName(NewFile* file);

}  // namespace ferrite
