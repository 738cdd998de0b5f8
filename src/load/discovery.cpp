#include "load/discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include <fmt/format.h>

namespace bpfrec {

const std::vector<std::string> &default_programs_dirs() {
  static const std::vector<std::string> dirs{"/etc/bpfman/programs.d", "/run/bpfman/programs.d",
                                             "/usr/lib/bpfman/programs.d"};
  return dirs;
}

namespace {

bool is_dev_null(const std::string &path) {
  std::error_code ec;
  return std::filesystem::is_symlink(path, ec) && std::filesystem::read_symlink(path, ec) == "/dev/null";
}

}  // namespace

std::vector<ManifestEntry> discover_manifests(const std::vector<std::string> &dirs,
                                              const std::map<std::string, std::string> &vanished) {
  // base name -> files in precedence order, with the index of their directory and their size
  // as the listing's stat() saw it (-1: unknown; an empty file is a mask)
  struct Found {
    std::string path;
    size_t dir;
    off_t size;
    std::optional<struct stat> st;
  };
  std::map<std::string, std::vector<Found>> by_name;
  std::map<std::string, std::string> bad_entries;  // path -> why it cannot be used
  std::vector<ManifestEntry> out;
  size_t first_unreadable = dirs.size();
  for (size_t d = 0; d < dirs.size(); ++d) {
    const auto &dir = dirs[d];
    auto unreadable = [&](std::string why) {
      ManifestEntry e{dir, dir, ManifestState::Unreadable, {}, {}, std::nullopt};
      e.errors.push_back({dir, {}, fmt::format("manifest directory {}; keeping every program as it is", why)});
      out.push_back(std::move(e));
      first_unreadable = std::min(first_unreadable, d);
    };
    // opendir + fstatat relative to it: a stat of the full path walked the directory's path
    // again for every manifest (a fifth of a no-op reconcile at 500 manifests).
    std::unique_ptr<DIR, int (*)(DIR *)> dp(::opendir(dir.c_str()), ::closedir);
    if (!dp) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        if (auto v = vanished.find(dir); v != vanished.end()) unreadable(v->second);
      } else {
        unreadable(fmt::format("cannot be read: {}", std::strerror(err)));
      }
      continue;
    }
    const int dfd = ::dirfd(dp.get());
    int listing_error = 0;
    for (;;) {
      errno = 0;
      const dirent *de = ::readdir(dp.get());
      if (!de) {
        listing_error = errno;
        break;
      }
      std::string name = de->d_name;
      if (!is_manifest_name(name)) continue;
      const std::string path = dir.ends_with('/') ? dir + name : dir + "/" + name;
      // Regular files only: stat (not lstat) so a symlink to a regular file counts, as networkd
      // does; a symlink to /dev/null is a mask (systemd.network(5)).
      struct stat st {};
      if (::fstatat(dfd, name.c_str(), &st, 0) != 0) {
        const int err = errno;
        struct stat lst {};
        if (::fstatat(dfd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) continue;  // removed since the listing
        bad_entries[path] =
            err == ENOENT ? "cannot read: a symlink to a file that does not exist" : fmt::format("cannot read: {}", std::strerror(err));
        by_name[name].push_back({path, d, -1, std::nullopt});
        continue;
      }
      if (!S_ISREG(st.st_mode) && !is_dev_null(path)) continue;
      by_name[name].push_back({path, d, S_ISREG(st.st_mode) ? st.st_size : -1,
                               S_ISREG(st.st_mode) ? std::optional<struct stat>(st) : std::nullopt});
    }
    // The listing failed part way: what it gave so far is not the whole directory.
    if (listing_error) unreadable(fmt::format("cannot be read: {}", std::strerror(listing_error)));
  }
  for (auto &[name, paths] : by_name) {  // std::map iterates in byte order of std::string
    for (size_t i = 0; i < paths.size(); ++i) {
      const auto &[path, d, size, seen] = paths[i];
      ManifestEntry e{name, path, ManifestState::Ok, {}, {}, seen};
      if (i > 0) {
        e.state = ManifestState::Overridden;
        e.overridden_by = paths[0].path;
      } else if (auto bad = bad_entries.find(path); bad != bad_entries.end()) {
        e.state = ManifestState::Invalid;
        e.errors.push_back({path, {}, bad->second});
      } else if (d > first_unreadable) {
        e.state = ManifestState::Invalid;
        e.errors.push_back({path, {}, fmt::format("not applied: {} comes first and cannot be read", dirs[first_unreadable])});
      } else {
        // The size the listing's stat() saw (a second stat per manifest was a tenth of a no-op
        // reconcile's file system work); a file emptied since is seen at the next change event.
        // A regular file (size >= 0) is no symlink to /dev/null: only the others are lstat()ed.
        if (size == 0 || (size < 0 && is_dev_null(path))) e.state = ManifestState::Masked;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace bpfrec
