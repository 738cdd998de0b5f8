#include "manifest/discovery.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace bpfrec {

const std::vector<std::string> &default_programs_dirs() {
  static const std::vector<std::string> dirs{"/etc/bpfman/programs.d", "/run/bpfman/programs.d",
                                             "/usr/lib/bpfman/programs.d"};
  return dirs;
}

std::string_view to_string(ManifestState s) {
  switch (s) {
    case ManifestState::Ok: return "ok";
    case ManifestState::Invalid: return "invalid";
    case ManifestState::Masked: return "masked";
    case ManifestState::Overridden: return "overridden";
  }
  return "?";
}

namespace {

bool is_dev_null(const std::string &path) {
  std::error_code ec;
  return std::filesystem::is_symlink(path, ec) && std::filesystem::read_symlink(path, ec) == "/dev/null";
}

}  // namespace

bool is_manifest_name(std::string_view name) {
  return !name.empty() && name[0] != '.' && name.size() > 5 && name.ends_with(".toml");
}

std::vector<ManifestEntry> discover_manifests(const std::vector<std::string> &dirs) {
  // base name -> files in precedence order
  std::map<std::string, std::vector<std::string>> by_name;
  for (auto &dir : dirs) {
    std::error_code ec;
    std::vector<std::string> names;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!is_manifest_name(name)) continue;
      // Regular files only: stat (not lstat) so a symlink to a regular file counts, as networkd
      // does; a symlink to /dev/null is a mask (systemd.network(5)).
      struct stat st {};
      if (::stat(it->path().c_str(), &st) != 0) continue;
      if (!S_ISREG(st.st_mode) && !is_dev_null(it->path().string())) continue;
      by_name[name].push_back(it->path().string());
    }
  }
  std::vector<ManifestEntry> out;
  for (auto &[name, paths] : by_name) {  // std::map iterates in byte order of std::string
    for (size_t i = 0; i < paths.size(); ++i) {
      ManifestEntry e{name, paths[i], ManifestState::Ok, {}, {}};
      if (i > 0) {
        e.state = ManifestState::Overridden;
        e.overridden_by = paths[0];
      } else {
        struct stat st {};
        if (is_dev_null(paths[i]) || (::stat(paths[i].c_str(), &st) == 0 && st.st_size == 0))
          e.state = ManifestState::Masked;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace bpfrec
