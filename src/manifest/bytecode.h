// Bytecode by digest: the bytes of a BPF object are read once, hashed, and those same bytes are
// inspected and loaded, for the first load and every later one (issue 11, bug 6). Reading a
// path again between the hash and the load would load whatever the path holds by then.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>


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

/// The bytes of one object and their sha256. Immutable and shared: copies are cheap and all see
/// the same bytes.
struct Bytecode {
  std::string digest;                        // lower-case hex sha256 of *bytes (64 characters)
  std::shared_ptr<const std::string> bytes;  // never null in a Bytecode read_bytecode() returns
  FileStamp stamp;                           // of the file, as fstat() saw it before the read
};

/// bpf_object__open_mem() of `code`, named the way bpf_object__open_file(`path`) names an
/// object (its base name up to the first '.'), so that internal map names such as
/// "xdp_coun.rodata", and the pins named after them, do not depend on how it was opened.
/// `opts` may be null; its object_name is replaced. Returns NULL with errno set, as libbpf does.
/// The object does not keep a reference to `code`: keep `code` alive until it is closed.
bpf_object *open_bytecode(const Bytecode &code, const std::string &path, const bpf_object_open_opts *opts);

}  // namespace bpfrec
