// bpffs and tracefs: mounts the daemon needs, and the pin root layout.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace bpfrec {

/// Where things live under the pin root (default /sys/fs/bpf/bpfman-reconciler):
///   <root>/<program>/prog           the program
///   <root>/<program>/record         a 1-entry array map holding our JSON record of it
///   <root>/<program>/maps/<map>     every map of the object, for other tools to read
///                                   (a . in a map name becomes _: bpffs refuses dots)
///   <root>/<program>/links/<key>    TCX and perf links (key = attach_key())
struct PinLayout {
  std::string root;

  std::string dir(const std::string &program) const { return root + "/" + program; }
  std::string prog(const std::string &program) const { return dir(program) + "/prog"; }
  std::string record(const std::string &program) const { return dir(program) + "/record"; }
  std::string maps_dir(const std::string &program) const { return dir(program) + "/maps"; }
  std::string map(const std::string &program, const std::string &m) const { return maps_dir(program) + "/" + m; }
  std::string links_dir(const std::string &program) const { return dir(program) + "/links"; }
  std::string link(const std::string &program, const std::string &key) const { return links_dir(program) + "/" + key; }
};

/// Makes sure `pin_root` exists on a bpffs. When the nearest existing ancestor is /sys/fs/bpf
/// and it is not a bpffs yet, mounts one there (as systemd does at boot). Errors: the path is
/// on another file system, or mount/mkdir fail.
Result<void> ensure_pin_root(const std::string &pin_root);

/// Mounts tracefs on /sys/kernel/tracing when nothing is there; libbpf needs it for tracepoint
/// ids and uprobe events. Errors from mount(2).
Result<void> ensure_tracefs();

/// mkdir -p with mode 0700 (bpffs honours modes).
Result<void> make_dirs(const std::string &path);

/// Removes `path` and everything below it (unlinking pins releases our reference). ENOENT is
/// not an error.
Result<void> remove_tree(const std::string &path);

/// Names of the entries of a directory (not . and ..); empty when it does not exist.
std::vector<std::string> list_dir(const std::string &path);

}  // namespace bpfrec
