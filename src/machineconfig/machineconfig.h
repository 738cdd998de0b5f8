// Rendering MachineConfigs: manifests, their bytecode and any other file or unit become an
// OpenShift MachineConfig (Ignition 3.4.0) that the Machine Config Operator rolls out to a pool.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "image/reference.h"
#include "util/result.h"

namespace bpfrec {

/// Where rendered files land on the node.
inline constexpr const char *kNodeProgramsDir = "/etc/bpfman/programs.d";
inline constexpr const char *kNodeBytecodeDir = "/etc/bpfman/bytecode";

/// Above this size the renderer refuses without --force: etcd's object limit is 1.5 MiB and the
/// pool's rendered config merges every MachineConfig of the pool, so one config must stay small.
inline constexpr size_t kMachineConfigLimit = 1024 * 1024;

/// One storage.files entry: `path` on the node, exact `contents`, `mode` (octal permission
/// bits, e.g. 0644; Ignition writes it as decimal).
struct NodeFile {
  std::string path;
  std::string contents;
  uint32_t mode = 0644;
};

/// One systemd.units entry (enabled: the MCO enables it per its [Install] section).
struct NodeUnit {
  std::string name;
  std::string contents;
  bool enabled = true;
};

struct MachineConfigSpec {
  std::string name = "50-bpfman-programs";
  std::string role = "worker";
  std::vector<NodeFile> files;
  std::vector<NodeUnit> units;
};

/// gzip (RFC 1952) of `data` with zlib at level 9; the header has no name and mtime 0, so equal
/// input gives equal output (golden tests, stable MachineConfig diffs).
std::string gzip_bytes(std::string_view data);
/// Inverse of gzip_bytes (any gzip stream). Errors: corrupt input.
Result<std::string> gunzip_bytes(std::string_view data);
std::string base64_encode(std::string_view data);
/// Errors: characters outside the base64 alphabet, bad padding.
Result<std::string> base64_decode(std::string_view text);

/// The Ignition `contents.source` of a file: "data:;base64," + base64(gzip(contents)), used with
/// `compression: gzip` (Ignition 3.4 spec, storage.files[].contents).
std::string data_url(std::string_view contents);

/// Resolves an image tag to the digest the registry serves for it ("sha256:<hex>"), for
/// `machineconfig --resolve-tags`. Errors: the registry's (unreachable, unknown tag, auth).
using TagResolver = std::function<Result<std::string>(const ImageReference &)>;

/// Turns manifest files (or programs.d-style directories) into node files: each manifest goes to
/// kNodeProgramsDir/<base name> with every `bytecode` rewritten to point at kNodeBytecodeDir and
/// pinned with the object's sha256; each object referenced goes to kNodeBytecodeDir/<base name>
/// (prefixed with 12 digits of its sha256 when two different objects share a base name).
/// The manifests are checked first (as `check` does); comments and layout are kept.
/// Errors: invalid manifests (every positioned error in the message), symlinks (a MachineConfig
/// cannot carry them: name the target instead), unreadable files.
/// Image bytecode (`bytecode.image`) is carried as it is, no object with it: each node pulls it.
/// A tag there is rewritten to NAME@DIGEST with `resolve` (its errors are errors here); without
/// `resolve` it is kept and a positioned "path:line:col: warning: ..." is appended to `warnings`
/// (the nodes of a pool would pull different digests while the tag moves).
Result<std::vector<NodeFile>> manifest_files(const std::vector<std::string> &paths, const TagResolver &resolve = {},
                                             std::vector<std::string> *warnings = nullptr);

/// Checks what a MachineConfig cannot carry: modes with setuid, setgid or sticky bits, relative
/// or duplicate paths. Errors name the file.
Result<void> check_node_files(const std::vector<NodeFile> &files);

/// The MachineConfig as YAML (apiVersion machineconfiguration.openshift.io/v1, Ignition 3.4.0).
/// Deterministic: files and units in the given order.
std::string render_machineconfig(const MachineConfigSpec &spec);

/// check_node_files(), render_machineconfig(), then the size limit: above kMachineConfigLimit
/// an error that explains the limit, unless `force`.
Result<std::string> render_checked(const MachineConfigSpec &spec, bool force);

}  // namespace bpfrec
