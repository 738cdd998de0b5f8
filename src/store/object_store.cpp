#include "store/object_store.h"

#include <dirent.h>
#include <unistd.h>

#include "load/files.h"
#include "store/atomic_file.h"
#include "util/sha256.h"

namespace bpfrec {

namespace {

// Calls f(name) for each entry of `dir` (not "." and "..").
template <typename F>
Result<void> each_entry(const std::string &dir, F &&f) {
  DIR *d = ::opendir(dir.c_str());
  if (!d) return fail_errno(errno, "list {}", dir);
  errno = 0;
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") f(name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err) return fail_errno(err, "list {}", dir);
  return {};
}

}  // namespace

Result<void> ObjectStore::open() {
  if (auto r = make_dirs(dir_); !r) return r;
  return each_entry(dir_, [&](const std::string &name) {
    if (is_atomic_temp_name(name)) (void)::unlink(path_of(name).c_str());
  });
}

Result<void> ObjectStore::put(const Bytecode &code) {
  if (!code.bytes || !is_sha256_hex(code.digest)) return fail("store object: no bytes or no digest");
  const std::string path = path_of(code.digest);
  if (::access(path.c_str(), F_OK) == 0) return {};
  return write_file_atomic(path, *code.bytes, 0644);
}

Result<Bytecode> ObjectStore::get(const std::string &hex) const {
  const std::string path = path_of(hex);
  auto code = read_bytecode(path);
  if (!code) return code;
  if (code->digest != hex) {
    (void)::unlink(path.c_str());
    return fail(Error{EBADMSG, fmt::format("stored object {} is corrupt (its sha256 is {}): removed", path, code->digest)});
  }
  return code;
}

Result<std::set<std::string>> ObjectStore::list() const {
  std::set<std::string> out;
  auto r = each_entry(dir_, [&](const std::string &name) {
    if (is_sha256_hex(name)) out.insert(name);
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<size_t> ObjectStore::collect(const std::set<std::string> &keep) {
  auto all = list();
  if (!all) return std::unexpected(all.error());
  size_t removed = 0;
  for (const auto &hex : *all) {
    if (keep.contains(hex)) continue;
    if (::unlink(path_of(hex).c_str()) != 0 && errno != ENOENT) return fail_errno(errno, "remove {}", path_of(hex));
    ++removed;
  }
  return removed;
}

}  // namespace bpfrec
