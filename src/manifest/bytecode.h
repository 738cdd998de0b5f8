// Bytecode by digest: the bytes of a BPF object are read once, hashed, and those same bytes are
// inspected and loaded, for the first load and every later one (issue 11, bug 6). Reading a
// path again between the hash and the load would load whatever the path holds by then.
#pragma once

#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "util/result.h"

namespace bpfrec {

/// Largest bytecode object accepted, in bytes: bpfman caps bytecode images at 16 MiB, and an
/// object that size is far beyond anything the verifier accepts.
inline constexpr uint64_t kMaxBytecodeBytes = uint64_t{16} << 20;

/// What identifies a file's content without reading it, for caches: a rename over the path
/// changes (dev, ino), a rewrite in place changes size, mtime or ctime (ctime also when the
/// mtime was set back with utimes()).
struct FileStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp &) const = default;
};

/// The stamp of a stat() result.
FileStamp stamp_of(const struct stat &st);

/// The stamp of `path` (stat(), following symlinks). Errors: stat fails (errno).
Result<FileStamp> stamp_file(const std::string &path);

/// Why `st` is not a regular file, e.g. "a FIFO", "a character device"; empty if it is one.
std::string not_regular_reason(const struct stat &st);

/// The bytes of one object and their sha256. Immutable and shared: copies are cheap and all see
/// the same bytes.
struct Bytecode {
  std::string digest;                        // lower-case hex sha256 of *bytes (64 characters)
  std::shared_ptr<const std::string> bytes;  // never null in a Bytecode read_bytecode() returns
  FileStamp stamp;                           // of the file, as fstat() saw it before the read
};

/// Reads the whole file at `path` with one open (O_RDONLY|O_NONBLOCK|O_CLOEXEC: a FIFO cannot
/// block it), checked on that fd: a regular file (not a device, FIFO, socket or directory) of at
/// most `max_bytes`; read to end of file (a file growing past the cap while read fails too).
/// Errors (messages start lower-case, to follow "bytecode "): "<path> is not a regular file (a
/// FIFO)", "<path> is larger than 16 MiB (N bytes)", open/read failures with errno.
Result<Bytecode> read_bytecode(const std::string &path, uint64_t max_bytes = kMaxBytecodeBytes);

/// bpf_object__open_mem() of `code`, named the way bpf_object__open_file(`path`) names an
/// object (its base name up to the first '.'), so that internal map names such as
/// "xdp_coun.rodata", and the pins named after them, do not depend on how it was opened.
/// `opts` may be null; its object_name is replaced. Returns NULL with errno set, as libbpf does.
/// The object does not keep a reference to `code`: keep `code` alive until it is closed.
bpf_object *open_bytecode(const Bytecode &code, const std::string &path, const bpf_object_open_opts *opts);

/// Bytecode by digest, for the loads after the first: an XDP dispatcher component, or a TC
/// dispatcher rebuilt with a program in a slot, loads that program's object again and must load
/// the bytes the program was loaded from. The OCI image store builds on this (content-addressed).
class BytecodeStore {
 public:
  /// Keeps `code` under its digest (a digest already kept is not replaced: same bytes).
  void put(const Bytecode &code);

  /// The bytes whose sha256 is `digest`: kept ones, else (after a restart) read again from
  /// `path` and accepted only when they still hash to `digest`; accepted bytes are kept.
  /// An empty `digest` (an old record that has none) reads `path` as it is.
  /// Errors: read_bytecode()'s; "bytecode <path> changed since it was loaded (recorded sha256
  /// X, the file has Y): refusing to load other bytes".
  Result<Bytecode> get(const std::string &digest, const std::string &path);

  /// Forgets every digest not in `keep` (e.g. the digests of the programs still loaded).
  void retain(const std::set<std::string> &keep);

  size_t size() const { return by_digest_.size(); }

 private:
  std::map<std::string, Bytecode> by_digest_;
};

}  // namespace bpfrec
