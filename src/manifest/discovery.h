// The programs.d directory rules, as systemd-networkd applies them to .network files.
#pragma once

#include <sys/stat.h>

#include <optional>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/manifest.h"

namespace bpfrec {

/// Default manifest directories, highest precedence first.
const std::vector<std::string> &default_programs_dirs();

/// Invalid: the manifest (or its directory entry) cannot be used; its programs keep their last
/// good state. Unreadable: not a manifest but a whole directory that exists and cannot be listed
/// (EACCES, EIO...), or that vanished within a grace period: nothing it may declare is known,
/// so no program is removed and lower-precedence directories are not applied (issue 11 bug 7).
enum class ManifestState { Ok, Invalid, Masked, Overridden, Unreadable };
std::string_view to_string(ManifestState s);

/// One file found in a programs.d directory.
struct ManifestEntry {
  std::string name;  // base name: the manifest's identity across directories
  std::string path;
  ManifestState state = ManifestState::Ok;
  std::string overridden_by;  // path of the file that wins, for Overridden
  std::vector<Diagnostic> errors;
  /// The stat() the listing made of `path` (Ok entries that are regular files): the manifest
  /// cache compares it with what it read, without a second stat per file.
  std::optional<struct stat> st;
};

/// Whether a directory entry named `name` is read as a manifest: `*.toml`, not hidden (no leading
/// '.'), more than the suffix. Editors' backup and swap files (`x.toml~`, `.x.toml.swp`) are not.
bool is_manifest_name(std::string_view name);

/// Lists manifests in `dirs` (highest precedence first). Only regular `*.toml` files whose name
/// does not start with '.' are considered; no recursion; a missing directory (ENOENT, ENOTDIR)
/// is skipped unless `vanished` names it. For each base name the file in the highest directory
/// is effective (state Ok, or Masked when it is empty, 0 bytes, or a symlink to /dev/null); the
/// same name in lower directories is Overridden. Directories and FIFOs with a manifest name are
/// ignored (networkd's rule), but an entry that cannot be stat()ed (a dangling symlink, EACCES)
/// is Invalid with an error: only an entry that is gone is a removal.
/// A directory that cannot be listed, or that `vanished` maps to a reason, becomes one entry of
/// state Unreadable (name and path: the directory) with the error, and every manifest of a
/// lower-precedence directory is Invalid (the unreadable one may override it).
/// The result holds the Unreadable entries first, then manifests sorted by base name in byte
/// order, then by precedence. Pure apart from reading the directories.
std::vector<ManifestEntry> discover_manifests(const std::vector<std::string> &dirs,
                                              const std::map<std::string, std::string> &vanished = {});

}  // namespace bpfrec
