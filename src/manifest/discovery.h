// The programs.d directory rules, as systemd-networkd applies them to .network files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "manifest/manifest.h"

namespace bpfrec {

/// Default manifest directories, highest precedence first.
const std::vector<std::string> &default_programs_dirs();

enum class ManifestState { Ok, Invalid, Masked, Overridden };
std::string_view to_string(ManifestState s);

/// One file found in a programs.d directory.
struct ManifestEntry {
  std::string name;  // base name: the manifest's identity across directories
  std::string path;
  ManifestState state = ManifestState::Ok;
  std::string overridden_by;  // path of the file that wins, for Overridden
  std::vector<Diagnostic> errors;
};

/// Whether a directory entry named `name` is read as a manifest: `*.toml`, not hidden (no leading
/// '.'), more than the suffix. Editors' backup and swap files (`x.toml~`, `.x.toml.swp`) are not.
bool is_manifest_name(std::string_view name);

/// Lists manifests in `dirs` (highest precedence first). Only regular `*.toml` files whose name
/// does not start with '.' are considered; no recursion; a missing directory is skipped. For each
/// base name the file in the highest directory is effective (state Ok, or Masked when it is
/// empty, 0 bytes, or a symlink to /dev/null); the same name in lower directories is Overridden. The result is sorted by
/// base name in byte order, then by precedence. Pure apart from reading the directories.
std::vector<ManifestEntry> discover_manifests(const std::vector<std::string> &dirs);

}  // namespace bpfrec
