// Desired state as data: the manifests found (ManifestEntry) and the programs they ask for. The
// load stage (load/desired.h) fills it from the node's files; the planner and status read it.
#pragma once

#include <sys/stat.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/manifest.h"

namespace bpfrec {

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

/// A declared program whose image bytecode is not in the store (issue 14): its pull is under
/// way or failed, or its pull_policy is Never. It is neither loaded nor removed: a version of
/// it that runs is kept as it is (a registry that is down never detaches a program).
struct WaitingProgram {
  std::string name, manifest, reference;
  ProgramType type = ProgramType::Xdp;
  bool failed = false;  // the pull failed or cannot be made (Never); else it is pending
  bool pull = false;    // a pull of `reference` is wanted for it (DesiredState::pulls)
  std::string reason;   // "pulling IMAGE", or the puller's error
  SourcePos pos;        // of the program's `bytecode` key
};

/// What the manifests ask for. `programs` holds only programs of Ok manifests; each has
/// bytecode_digest filled in. An Invalid manifest contributes no programs and carries its errors.
struct DesiredState {
  std::vector<ManifestEntry> manifests;
  std::vector<ProgramSpec> programs;
  /// Programs of Ok manifests whose image bytecode is not in the store (not in `programs`).
  std::vector<WaitingProgram> waiting;
  /// The image references `waiting` needs pulled (not in the store, no pull failed, policy not
  /// Never), for the daemon's puller.
  std::set<std::string> pulls;

  /// Base names of manifests that are Invalid (the reconciler keeps their last good programs).
  std::vector<std::string> invalid_manifest_names() const;
  /// The first Unreadable directory (see ManifestState), or nullptr: then no program may be removed.
  const ManifestEntry *unreadable_directory() const;
};

}  // namespace bpfrec
