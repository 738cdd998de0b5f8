// Desired state: every manifest read, parsed and checked against its bytecode object.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "manifest/discovery.h"
#include "manifest/manifest.h"

namespace bpfrec {

/// What the manifests ask for. `programs` holds only programs of Ok manifests; each has
/// bytecode_digest filled in. An Invalid manifest contributes no programs and carries its errors.
struct DesiredState {
  std::vector<ManifestEntry> manifests;
  std::vector<ProgramSpec> programs;

  /// Base names of manifests that are Invalid (the reconciler keeps their last good programs).
  std::vector<std::string> invalid_manifest_names() const;
  /// The first Unreadable directory (see ManifestState), or nullptr: then no program may be removed.
  const ManifestEntry *unreadable_directory() const;
};

/// Discovers, reads and validates manifests in `dirs` (highest precedence first). Never fails:
/// every problem becomes a Diagnostic on the manifest that caused it, and that manifest alone is
/// Invalid. Checks beyond parse_manifest(): the bytecode exists and is a BPF object, its sha256
/// matches the declared one, validate_against_object(), and program names are unique across
/// manifests (the first in byte order of base name keeps the name).
/// `vanished`: directories that are gone but counted as Unreadable (discover_manifests()).
DesiredState load_desired(const std::vector<std::string> &dirs, const std::map<std::string, std::string> &vanished = {});

/// The same checks for explicit files (the `check` command): each path is read as one manifest.
DesiredState load_files(const std::vector<std::string> &paths);

}  // namespace bpfrec
