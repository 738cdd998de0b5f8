// The node's files as the load stage reads them: stamps for caches, a bytecode object read
// once (checked on the one fd it was read from), and bytecode by digest for the loads after the
// first (issue 11, bug 6: the bytes hashed are the bytes loaded).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "manifest/bytecode.h"
#include "manifest/object_info.h"
#include "util/result.h"

namespace bpfrec {

class ObjectStore;

/// The stamp of a stat() result.
FileStamp stamp_of(const struct stat &st);

/// The stamp of `path` (stat(), following symlinks). Errors: stat fails (errno).
Result<FileStamp> stamp_file(const std::string &path);

/// Why `st` is not a regular file, e.g. "a FIFO", "a character device"; empty if it is one.
std::string not_regular_reason(const struct stat &st);

/// Reads the whole file at `path` with one open (O_RDONLY|O_NONBLOCK|O_CLOEXEC: a FIFO cannot
/// block it), checked on that fd: a regular file (not a device, FIFO, socket or directory) of at
/// most `max_bytes`; read to end of file (a file growing past the cap while read fails too).
/// Errors (messages start lower-case, to follow "bytecode "): "<path> is not a regular file (a
/// FIFO)", "<path> is larger than 16 MiB (N bytes)", open/read failures with errno.
Result<Bytecode> read_bytecode(const std::string &path, uint64_t max_bytes = kMaxBytecodeBytes);

/// Bytecode by digest, for the loads after the first: an XDP dispatcher component, or a TC
/// dispatcher rebuilt with a program in a slot, loads that program's object again and must load
/// the bytes the program was loaded from. The OCI image store builds on this (content-addressed).
class BytecodeStore {
 public:
  /// The state directory's object store (issue 14 point 4) that put() writes through to and
  /// get() reads from; null (tests, the CLI): in memory only.
  void set_disk(ObjectStore *disk) { disk_ = disk; }

  /// Keeps `code` under its digest (a digest already kept is not replaced: same bytes), and
  /// writes it to the disk store. Errors: the disk store's (the bytes are kept in memory
  /// anyway: the caller logs it and goes on).
  Result<void> put(const Bytecode &code);

  /// The bytes whose sha256 is `digest`: kept ones, else (after a restart) the disk store's
  /// copy, else read again from `path` and accepted only when they still hash to `digest`;
  /// accepted bytes are kept.
  /// An empty `digest` (an old record that has none) reads `path` as it is.
  /// Errors: read_bytecode()'s; "bytecode <path> changed since it was loaded (recorded sha256
  /// X, the file has Y): refusing to load other bytes".
  Result<Bytecode> get(const std::string &digest, const std::string &path);

  /// Forgets every digest not in `keep` (e.g. the digests of the programs still loaded).
  void retain(const std::set<std::string> &keep);

  size_t size() const { return by_digest_.size(); }

 private:
  std::map<std::string, Bytecode> by_digest_;
  ObjectStore *disk_ = nullptr;
};

/// inspect_object() of the file at `path`, read with read_bytecode() (its errors too; open and
/// read failures are named "open BPF object <path>: ..." as libbpf names them).
Result<ObjectInfo> inspect_object(const std::string &path);

}  // namespace bpfrec
