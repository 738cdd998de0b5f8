// bpffs and tracefs: mounts the daemon needs, and the pin root layout.
#pragma once

#include <string>
#include <vector>

#include "store/atomic_file.h"
#include "util/result.h"

namespace bpfrec {

/// Where things live under the pin root (default /sys/fs/bpf/bpfman-reconciler):
///   <root>/<program>/prog           the program
///   <root>/<program>/record         a 1-entry array map holding our JSON record of it
///   <root>/<program>/maps/<map>     every map of the object, for other tools to read
///                                   (a . in a map name becomes _: bpffs refuses dots)
///   <root>/<program>/links/<key>    TCX and perf links (key = attach_key())
///   <root>/_staging-<program>/      a replacement being built; swapped with <program> in one
///                                   renameat2(RENAME_EXCHANGE), so <program> is always whole
///   <root>/_maps/<group>/<map>      LIBBPF_PIN_BY_NAME maps, one per map group (libbpf's
///                                   pin_root_path), shared by the programs of that group
/// The per-directory helpers take a program directory (live or staging).
struct PinLayout {
  std::string root;

  std::string dir(const std::string &program) const { return root + "/" + program; }
  std::string staging_dir(const std::string &program) const { return root + "/" + kStagingPrefix + program; }

  // Not a valid program name (those start with [a-z0-9]), and without a dot: bpffs refuses
  // names with dots (EPERM), even for lookups.
  static constexpr const char *kStagingPrefix = "_staging-";
  std::string shared_maps_root() const { return root + "/_maps"; }
  std::string group_dir(const std::string &group) const { return shared_maps_root() + "/" + group; }
  static std::string prog(const std::string &dir) { return dir + "/prog"; }
  static std::string record(const std::string &dir) { return dir + "/record"; }
  static std::string maps_dir(const std::string &dir) { return dir + "/maps"; }
  static std::string map(const std::string &dir, const std::string &m) { return maps_dir(dir) + "/" + m; }
  static std::string links_dir(const std::string &dir) { return dir + "/links"; }
  static std::string link(const std::string &dir, const std::string &key) { return links_dir(dir) + "/" + key; }
};

/// Atomically exchanges two directories (renameat2 RENAME_EXCHANGE; bpffs supports it).
Result<void> exchange_dirs(const std::string &a, const std::string &b);

/// Makes sure `pin_root` exists on a bpffs. When the nearest existing ancestor is /sys/fs/bpf
/// and it is not a bpffs yet, mounts one there (as systemd does at boot). Errors: the path is
/// on another file system, or mount/mkdir fail.
Result<void> ensure_pin_root(const std::string &pin_root);

/// Mounts tracefs on /sys/kernel/tracing when nothing is there; libbpf needs it for tracepoint
/// ids and uprobe events. Errors from mount(2).
Result<void> ensure_tracefs();

// make_dirs() (mkdir -p) is store/atomic_file.h's, included above.

/// Removes `path` and everything below it (unlinking pins releases our reference). ENOENT is
/// not an error.
Result<void> remove_tree(const std::string &path);

/// Names of the entries of a directory (not . and ..); empty when it does not exist.
std::vector<std::string> list_dir(const std::string &path);

/// Names of the entries of a directory (not . and ..), or the error that kept it from being
/// listed (opendir(3)/readdir(3): EACCES, EMFILE, ENOMEM, ENOTDIR, ...). A directory that does
/// not exist (ENOENT) is empty, not an error: what is gone is gone.
Result<std::vector<std::string>> read_dir(const std::string &path);

}  // namespace bpfrec
