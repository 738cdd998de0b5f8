#include "store/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "util/unique_fd.h"

namespace bpfrec {

namespace {
constexpr std::string_view kTempPrefix = ".tmp-";
}

bool is_atomic_temp_name(std::string_view name) { return name.starts_with(kTempPrefix); }

Result<void> make_dirs(const std::string &dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail_errno(ec.value(), "mkdir {}", dir);
  if (!std::filesystem::is_directory(dir, ec)) return fail_errno(ENOTDIR, "mkdir {}", dir);
  return {};
}

Result<void> write_file_atomic(const std::string &path, std::string_view content, unsigned mode) {
  const std::filesystem::path p(path);
  const std::string dir = p.parent_path().string();
  const std::string tmp = (p.parent_path() / fmt::format("{}{}-{}", kTempPrefix, p.filename().string(), ::getpid())).string();
  (void)::unlink(tmp.c_str());  // a leftover of an earlier process with this pid
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return fail_errno(errno, "create {}", tmp);
  auto undo = [&](int err, std::string_view what) {
    (void)::unlink(tmp.c_str());
    return fail_errno(err, "{} {}", what, tmp);
  };
  size_t off = 0;
  while (off < content.size()) {
    ssize_t w = ::write(fd.get(), content.data() + off, content.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return undo(errno, "write");
    off += static_cast<size_t>(w);
  }
  if (::fchmod(fd.get(), mode) != 0) return undo(errno, "chmod");  // whatever the umask
  if (::fsync(fd.get()) != 0) return undo(errno, "fsync");
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return undo(errno, "rename to " + path + ":");
  UniqueFd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) (void)::fsync(d.get());
  return {};
}

}  // namespace bpfrec
