#include "load/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "store/object_store.h"
#include "util/sha256.h"
#include "util/unique_fd.h"

namespace bpfrec {

FileStamp stamp_of(const struct stat &st) {
  auto ns = [](const timespec &t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return FileStamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                   static_cast<uint64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
}

Result<FileStamp> stamp_file(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(errno, "stat {}", path);
  return stamp_of(st);
}

std::string not_regular_reason(const struct stat &st) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: return "";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFDIR: return "a directory";
    default: return "not a plain file";
  }
}

Result<Bytecode> read_bytecode(const std::string &path, uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return fail_errno(errno, "open {}", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "stat {}", path);
  if (auto why = not_regular_reason(st); !why.empty()) return fail("{} is not a regular file ({})", path, why);
  auto too_big = [&](uint64_t n) {
    return fail(Error{EFBIG, fmt::format("{} is larger than {} MiB ({} bytes)", path, max_bytes >> 20, n)});
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_big(static_cast<uint64_t>(st.st_size));
  auto bytes = std::make_shared<std::string>();
  bytes->resize(static_cast<size_t>(st.st_size));
  size_t have = 0;
  for (;;) {
    // One byte of room past the size fstat() gave: a file that grew is read to its end (or to the cap).
    if (have == bytes->size()) {
      if (have >= max_bytes) {
        char probe;
        ssize_t r = ::read(fd.get(), &probe, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno(errno, "read {}", path);
        if (r == 0) break;
        return too_big(have + 1);
      }
      bytes->resize(std::min<uint64_t>(max_bytes, have + 65536));
    }
    ssize_t r = ::read(fd.get(), bytes->data() + have, bytes->size() - have);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "read {}", path);
    }
    if (r == 0) break;
    have += static_cast<size_t>(r);
  }
  bytes->resize(have);
  Bytecode code;
  code.digest = sha256_hex(*bytes);
  code.bytes = std::move(bytes);
  code.stamp = stamp_of(st);
  return code;
}

Result<void> BytecodeStore::put(const Bytecode &code) {
  if (!code.bytes || code.digest.empty()) return {};
  by_digest_.try_emplace(code.digest, code);
  if (disk_) return disk_->put(code);
  return {};
}

Result<Bytecode> BytecodeStore::get(const std::string &digest, const std::string &path) {
  if (auto it = by_digest_.find(digest); it != by_digest_.end()) return it->second;
  if (disk_ && !digest.empty()) {
    if (auto stored = disk_->get(digest)) {
      by_digest_.emplace(digest, *stored);
      return stored;
    }
  }
  auto code = read_bytecode(path);
  if (!code) return code;
  if (digest.empty()) return code;
  if (code->digest != digest)
    return fail(Error{ESTALE, fmt::format("bytecode {} changed since it was loaded (recorded sha256 {}, the file has "
                                          "{}): refusing to load other bytes",
                                          path, digest, code->digest)});
  by_digest_.emplace(digest, *code);
  return code;
}

void BytecodeStore::retain(const std::set<std::string> &keep) {
  std::erase_if(by_digest_, [&](const auto &kv) { return !keep.contains(kv.first); });
}

Result<ObjectInfo> inspect_object(const std::string &path) {
  auto code = read_bytecode(path);
  if (!code) {
    const int err = code.error().code;
    // open/read failures name the object as libbpf's would; the file-type and size rules say their own.
    if (err != 0 && err != EFBIG) return fail(Error{err, fmt::format("open BPF object {}: {}", path, std::strerror(err))});
    return std::unexpected(code.error());
  }
  return inspect_object(*code, path);
}

}  // namespace bpfrec
