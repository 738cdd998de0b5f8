// The programs.d directory rules, as systemd-networkd applies them to .network files: the load
// stage lists the directories (the entries themselves are pure data: manifest/desired.h).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/desired.h"

namespace bpfrec {

/// Default manifest directories, highest precedence first.
const std::vector<std::string> &default_programs_dirs();

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
