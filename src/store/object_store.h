// BPF objects by content (issue 14 point 4): <state-dir>/bytecode/sha256/<hex>, where <hex> is
// the sha256 of the file's bytes, for path and image bytecode alike. Every program is loaded
// from bytes whose digest its record holds, and every later load of it (a replace, an XDP
// dispatcher component, a TC dispatcher rebuild, a restart) finds the same bytes here, even
// when the path it came from holds others by then or the registry it came from is down.
#pragma once

#include <set>
#include <string>

#include "manifest/bytecode.h"
#include "util/result.h"

namespace bpfrec {

/// A content-addressed directory of objects. Not thread-safe; one daemon uses one.
class ObjectStore {
 public:
  /// `dir`: the directory that holds the objects (e.g. /var/lib/bpfman-reconciler/bytecode/sha256).
  explicit ObjectStore(std::string dir) : dir_(std::move(dir)) {}

  /// Creates the directory (mkdir -p) and removes temporary files a crash left. Errors: the
  /// directory cannot be created or listed.
  Result<void> open();

  const std::string &dir() const { return dir_; }
  /// <dir>/<hex>: where the object whose sha256 is `hex` is (or would be) stored.
  std::string path_of(const std::string &hex) const { return dir_ + "/" + hex; }

  /// Stores `code` under its digest, unless an object of that name is there already (same
  /// name, same bytes: the name is their sha256). Written atomically (write_file_atomic, 0644).
  /// Errors: an empty digest or no bytes; write failures (e.g. a full or read-only state dir).
  Result<void> put(const Bytecode &code);

  /// The object stored under `hex`, read with read_bytecode() and checked: its bytes must hash
  /// to `hex`. A file that does not is removed (a corrupted copy must not shadow a good source).
  /// Errors: ErrorKind::NotFound (ENOENT) when absent; "stored object <path> is corrupt (its
  /// sha256 is Y): removed"; read_bytecode()'s.
  Result<Bytecode> get(const std::string &hex) const;

  /// The digests stored. Errors: the directory cannot be listed.
  Result<std::set<std::string>> list() const;

  /// Removes every object whose digest is not in `keep` (and files that are not objects of
  /// ours are left alone: only names of 64 lower-case hex digits are looked at). Returns how
  /// many were removed. Errors: the directory cannot be listed; an unlink that fails.
  Result<size_t> collect(const std::set<std::string> &keep);

 private:
  std::string dir_;
};

}  // namespace bpfrec
