// The load stage: every manifest read from the node's programs.d directories, parsed, and checked
// against its bytecode object (read once, by digest). Everything below it is pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "load/discovery.h"
#include "load/files.h"
#include "manifest/desired.h"
#include "manifest/object_info.h"

namespace bpfrec {

/// What load_desired() keeps between calls so that an unchanged file is not read again (as
/// networkd keeps unchanged files' objects): parsed manifests by path and FileStamp, bytecode
/// (bytes and digest) by path and FileStamp, object inspection by digest. An entry is trusted
/// only once its file's ctime lies kRacyNs before the moment it was read: a change within the
/// file system's timestamp granularity of the read could leave the stamp as it was ("racy
/// git"), so such an entry is read again until it is older. Entries not used by a call are
/// dropped at its end. Not thread-safe: one reconciler uses one cache.
class DesiredCache {
 public:
  /// How long after a change a file's stamp is trusted (coarse clocks tick every few ms).
  static constexpr int64_t kRacyNs = 1'000'000'000;

  struct Counters {
    size_t manifest_hits = 0, manifest_reads = 0, object_hits = 0, object_reads = 0;
  };
  /// What the last load_desired() call found in the cache and what it read.
  const Counters &last() const { return last_; }

 private:
  friend struct DesiredCacheAccess;
  struct Manifest {
    FileStamp stamp;
    int64_t read_at_ns = 0;
    ParsedManifest parsed;
  };
  struct Object {
    FileStamp stamp;
    int64_t read_at_ns = 0;
    Bytecode code;
  };
  std::map<std::string, Manifest> manifests_;    // by manifest path
  std::map<std::string, Object> objects_;        // by bytecode path
  std::map<std::string, ObjectInfo> inspected_;  // by digest
  Counters last_;
};

class ImageStore;
class ObjectStore;

/// What load_desired() resolves image bytecode with (issue 14): the state directory's stores
/// and the daemon's puller. Without stores (the `check` command: offline), an image program is
/// checked as far as its manifest goes and is listed as waiting.
struct ImageSources {
  const ImageStore *images = nullptr;
  const ObjectStore *objects = nullptr;
  /// References whose last pull failed, with the puller's error (retried later by the daemon).
  std::map<std::string, std::string> failed;
  /// Why image bytecode cannot be had at all (the state directory cannot be used): every
  /// image program fails with it.
  std::string error;
};

/// Discovers, reads and validates manifests in `dirs` (highest precedence first). Never fails:
/// every problem becomes a Diagnostic on the manifest that caused it, and that manifest alone is
/// Invalid. Checks beyond parse_manifest(): the bytecode exists and is a BPF object, its sha256
/// matches the declared one, validate_against_object(), and program names are unique across
/// manifests (the first in byte order of base name keeps the name).
/// `vanished`: directories that are gone but counted as Unreadable (discover_manifests()).
/// With `cache`, files whose stamp did not change are taken from it (see DesiredCache).
/// Image bytecode (`bytecode.image`) is taken from `images`' stores: a reference pulled before
/// gives its object's copy in the object store (bytecode_path is that file, image_digest and
/// image_pulled_at are set), and the image's labels must name `bpf_function` with the manifest's
/// type (an error at `bytecode` otherwise); one not pulled makes the program a WaitingProgram
/// (failed with the puller's error when its pull failed, or when pull_policy is Never) and,
/// unless it failed or is Never, lists its reference in DesiredState::pulls.
DesiredState load_desired(const std::vector<std::string> &dirs, const std::map<std::string, std::string> &vanished = {},
                          DesiredCache *cache = nullptr, const ImageSources *images = nullptr);

/// The same checks for explicit files (the `check` command): each path is read as one manifest;
/// image bytecode from `images` as load_desired() reads it.
DesiredState load_files(const std::vector<std::string> &paths, const ImageSources *images = nullptr);

}  // namespace bpfrec
