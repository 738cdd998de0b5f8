// Files replaced whole or not at all: what the state directory's stores write.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace bpfrec {

/// Writes `content` to `path` atomically: a temporary file next to it (".tmp-<name>-<pid>",
/// O_EXCL, mode `mode`), fsync, rename over `path`, fsync of the directory (rename(2): readers
/// see the old file or the new one, never a part; after a crash the new one or none).
/// Errors: open/write/fsync/rename failures with errno and the path; the temporary file is
/// removed on failure.
Result<void> write_file_atomic(const std::string &path, std::string_view content, unsigned mode = 0644);

/// Creates `dir` and its missing parents (mkdir -p; mode 0777 less the umask: the daemon's unit
/// sets UMask=0077, and bpffs honours modes). Errors: mkdir fails (other than EEXIST of a
/// directory), or `dir` exists and is not a directory.
Result<void> make_dirs(const std::string &dir);

/// Whether `name` is a temporary file of write_file_atomic() (left behind by a crash).
bool is_atomic_temp_name(std::string_view name);

}  // namespace bpfrec
