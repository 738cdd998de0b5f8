// What each image reference resolved to when it was pulled (issue 14 point 4):
// <state-dir>/images/<sha256 of the reference>.json, one file per reference, the object itself
// in the ObjectStore. The load stage reads image bytecode from here only: a pull (the daemon's
// puller) writes an entry, and a node whose registry is unreachable still has every entry and
// object it had, across restarts and reboots.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "image/labels.h"
#include "image/pull.h"
#include "store/object_store.h"
#include "util/result.h"

namespace bpfrec {

/// One pulled reference.
struct ImageEntry {
  std::string reference;      ///< NAME:TAG or NAME@sha256:HEX, as manifests give it (ImageReference::str())
  std::string digest;         ///< "sha256:<hex>" of the manifest the registry gave for it (the index's, for an index)
  std::string object_sha256;  ///< lower-case hex sha256 of the object (its name in the ObjectStore)
  std::string object_path;    ///< the object's path in the layer; empty for a bare or gzip'd ELF layer
  std::string pulled_at;      ///< when it was pulled, RFC 3339 UTC
  ImageLabels labels;         ///< the image config's labels, as read_bytecode_image() parsed them
};

/// The entries of one state directory, read once at open() and written through.
class ImageStore {
 public:
  /// `dir`: the directory of the entries (e.g. /var/lib/bpfman-reconciler/images).
  explicit ImageStore(std::string dir) : dir_(std::move(dir)) {}

  /// Creates the directory and reads every `<64 hex>.json` in it. A file that cannot be read
  /// or parsed, or whose name is not the sha256 of its reference, is skipped and listed in
  /// the result (the daemon logs them; the reference is pulled again when a manifest wants it).
  /// Errors: the directory cannot be created or listed.
  Result<std::vector<std::string>> open();

  /// The entry of `reference` (ImageReference::str() form); null when it was never pulled.
  const ImageEntry *find(const std::string &reference) const;

  /// Writes `e` (replacing the entry of its reference), atomically. Errors: write failures;
  /// the entry in memory is not changed then.
  Result<void> put(const ImageEntry &e);

  /// Removes the entries whose reference is not in `keep`. Returns how many were removed.
  /// Errors: an unlink that fails (the others are still removed).
  Result<size_t> collect(const std::set<std::string> &keep);

  /// The object digests the entries refer to (what the ObjectStore must keep for them).
  std::set<std::string> objects() const;

  const std::map<std::string, ImageEntry> &entries() const { return entries_; }
  const std::string &dir() const { return dir_; }
  /// <dir>/<sha256 hex of reference>.json
  std::string path_of(const std::string &reference) const;

 private:
  std::string dir_;
  std::map<std::string, ImageEntry> entries_;  // by reference
};

/// Stores what a pull of `reference` gave: its object in `objects` first (an entry never names an
/// object the store lacks), then its entry (the registry's digest, the object's sha256 and path
/// in the layer, `pulled_at`, the labels) in `images`. The daemon's puller and `check --pull`
/// store through it. Errors: "storing the object failed: ..." or "storing the entry failed: ...".
Result<void> store_pull(ObjectStore &objects, ImageStore &images, const std::string &reference,
                        const PulledImage &pulled, const std::string &pulled_at);

/// The JSON text of an entry (one object: reference, digest, object_sha256, object_path,
/// pulled_at, labels {programs, maps, legacy, program_name, filename}).
std::string image_entry_to_json(const ImageEntry &e);
/// The entry of a JSON text image_entry_to_json() wrote. Errors: not JSON, a key missing or of
/// another type, a digest or object_sha256 that is not sha256.
Result<ImageEntry> image_entry_from_json(std::string_view text);

}  // namespace bpfrec
