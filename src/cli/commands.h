// The subcommands of bpfman-reconciler; each returns the process exit code.
#pragma once

#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "status/status.h"

namespace bpfrec {

/// `daemon`: runs the reconciler until SIGTERM. 0 on a clean stop, 1 on a start-up error.
int cmd_daemon(const DaemonOptions &opts);

/// `check PATH...`: validates manifest files (directories: every manifest in them, with the
/// programs.d rules) without root or kernel access. 0 when all are valid, 1 otherwise; errors are
/// printed as "path:line:col: error: message".
struct CheckOptions {
  /// check --pull: also pull every image the manifests name (skopeo, into a temporary
  /// directory) and check it as the daemon would: its labels against `bpf_function` and `type`,
  /// the object (EM_BPF, size, the function in it). A failed pull is an error at `bytecode`.
  bool pull = false;
  std::string authfile;  ///< for the pulls (default as the daemon's: the kubelet's pull secret)
  unsigned pull_timeout_s = 120;
};
int cmd_check(const std::vector<std::string> &paths, const CheckOptions &opts = {});

/// `status [--json]`: Describe() over the system bus, as a table or the raw JSON. 1 when the
/// daemon cannot be reached.
/// `all`: the table also lists every other BPF program on the node (Describe()'s `foreign`).
/// `--type` and `--metadata` keep only the programs (and attachments) that match (filter_describe()).
int cmd_status(bool json, const StatusFilter &filter, bool all = false);

/// `plan`: what the daemon would do now, without doing it. Exit 0 when nothing would change,
/// 2 when something would, 1 on error (terraform plan -detailed-exitcode).
int cmd_plan(const std::vector<std::string> &dirs, const std::string &pin_root, bool json);

/// Options of `machineconfig`.
struct MachineConfigOptions {
  std::string name = "50-bpfman-programs";
  std::string role = "worker";
  std::string output;                   // "" or "-": stdout
  bool force = false;                   // render even above kMachineConfigLimit
  std::vector<std::string> units;       // systemd unit files to carry
  std::vector<std::string> files;       // DEST=SRC[:MODE]
  std::vector<std::string> manifests;   // manifest files or directories
  std::string daemon_image;             // NAME@sha256:DIGEST: carry the daemon itself (daemon_image.h)
  bool resolve_tags = false;            // pin image tags to digests with `skopeo inspect --raw`
  std::string authfile;                 // for --resolve-tags: skopeo's --authfile
};

/// `machineconfig`: renders a MachineConfig carrying manifests, their bytecode, units and files.
/// With `daemon_image`, also the fetch unit, the daemon unit, the D-Bus policy and the tmpfiles
/// entry that run the daemon from that image (daemon_image_parts()).
/// 0 on success; 1 with a message on invalid manifests, symlinks, setuid modes, a reference not
/// pinned by digest, or a result over 1 MiB without --force.
int cmd_machineconfig(const MachineConfigOptions &opts);

}  // namespace bpfrec
