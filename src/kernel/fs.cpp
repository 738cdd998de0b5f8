#include "kernel/fs.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <filesystem>

namespace bpfrec {

namespace {

bool on_fs(const std::string &path, long magic) {
  struct statfs sfs {};
  return ::statfs(path.c_str(), &sfs) == 0 && static_cast<long>(sfs.f_type) == magic;
}

}  // namespace

Result<void> exchange_dirs(const std::string &a, const std::string &b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0)
    return fail_errno(errno, "exchange {} and {}", a, b);
  return {};
}

Result<void> remove_tree(const std::string &path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec && ec.value() != ENOENT) return fail_errno(ec.value(), "remove {}", path);
  return {};
}

std::vector<std::string> list_dir(const std::string &path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(path, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    out.push_back(it->path().filename().string());
  return out;
}

Result<std::vector<std::string>> read_dir(const std::string &path) {
  std::vector<std::string> out;
  std::error_code ec;
  auto it = std::filesystem::directory_iterator(path, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    out.push_back(it->path().filename().string());
  if (ec) return fail(Error{ec.value(), fmt::format("cannot list {}: {}", path, ec.message())});
  return out;
}

Result<void> ensure_pin_root(const std::string &pin_root) {
  std::filesystem::path p(pin_root);
  std::error_code ec;
  // Nearest existing ancestor decides which file system the pins land on.
  std::filesystem::path existing = p;
  while (!existing.empty() && !std::filesystem::exists(existing, ec)) existing = existing.parent_path();
  if (!on_fs(existing.string(), BPF_FS_MAGIC)) {
    if (existing == "/sys/fs/bpf" || (existing == "/sys/fs" && pin_root.starts_with("/sys/fs/bpf/"))) {
      if (auto r = make_dirs("/sys/fs/bpf"); !r) return r;
      if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) return fail_errno(errno, "mount bpffs on /sys/fs/bpf");
    } else {
      return fail("pin root {} is not on a bpffs ({} is not a bpf file system); mount one with "
                  "`mount -t bpf bpf DIR`", pin_root, existing.string());
    }
  }
  return make_dirs(pin_root);
}

Result<void> ensure_tracefs() {
  if (on_fs("/sys/kernel/tracing", TRACEFS_MAGIC) || on_fs("/sys/kernel/debug/tracing", TRACEFS_MAGIC)) return {};
  if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return fail_errno(errno, "mount tracefs on /sys/kernel/tracing");
  return {};
}

}  // namespace bpfrec
