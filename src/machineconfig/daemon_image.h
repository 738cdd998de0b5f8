// The daemon itself as a MachineConfig's payload, for nodes whose /usr is read-only (RHCOS):
// the binary is not carried in the MachineConfig (a rendered pool config is refused above
// 1,572,864 bytes of JSON, and the portable binary alone is about 1 MB as gzip+base64) but
// pulled from a container image by digest, the way MCO's own units pull theirs
// (machine-config-daemon-pull.service): podman with the node's pull secret
// (/var/lib/kubelet/config.json) and registries.conf, whose mirror sets serve digest
// references only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "machineconfig/machineconfig.h"
#include "util/result.h"

namespace bpfrec {

/// Where the fetch unit installs the binary (/usr/local is writable on RHCOS: /var/usrlocal).
inline constexpr const char *kNodeBinary = "/usr/local/bin/bpfman-reconciler";
/// The script the fetch unit runs: pull, extract, check that it runs, rename into place.
inline constexpr const char *kNodeFetchScript = "/usr/local/libexec/bpfman-reconciler/fetch-image";
/// The oneshot unit that runs kNodeFetchScript for the pinned image; the daemon unit requires it.
inline constexpr const char *kFetchUnitName = "bpfman-reconciler-fetch.service";
/// Path of the binary inside the image (the image layout of scripts/build-image).
inline constexpr const char *kImageBinary = "/usr/bin/bpfman-reconciler";

/// A container image reference pinned by its manifest digest: NAME@sha256:HEX.
struct DigestReference {
  std::string name;    ///< [registry[:port]/]repository path, as given (e.g. quay.io/org/bpfman-reconciler)
  std::string digest;  ///< "sha256:" followed by 64 lower-case hex digits
  /// NAME@DIGEST, what podman and skopeo take.
  std::string str() const { return name + "@" + digest; }
};

/// Parses `text` as NAME@sha256:HEX: parse_image_reference() (src/image/reference.h, the
/// distribution reference grammar and its errors) with the digest required. Errors, each saying
/// what to give instead: no "@sha256:" (a tag can move under a pool, and the node's mirror sets
/// only serve digest references), and parse_image_reference()'s: a tag next to the digest, a
/// digest that is not 64 lower-case hex digits, a malformed name.
Result<DigestReference> parse_digest_reference(std::string_view text);

/// The files and units a pool needs to run the daemon from image `ref`:
/// - files: kNodeFetchScript (0755), the D-Bus policy in /etc/dbus-1/system.d and the tmpfiles
///   entry in /etc/tmpfiles.d (`dbus_policy`, `tmpfiles`: the texts of units/);
/// - units: kFetchUnitName (oneshot, After=/Wants=network-online.target, the image in its
///   ExecStart=, so that a new digest changes this unit only) and bpfman-reconciler.service made
///   from `daemon_unit` (units/bpfman-reconciler.service) with ExecStart= on kNodeBinary and
///   Wants=/PartOf=/After= on the fetch unit (systemd.unit(5): a restart of the fetch unit
///   restarts the daemon; a failed fetch does not stop it, as Requires= would).
/// Errors: `daemon_unit` has no [Unit] section or no "ExecStart=/usr/bin/bpfman-reconciler " line.
Result<std::pair<std::vector<NodeFile>, std::vector<NodeUnit>>> daemon_image_parts(const DigestReference &ref,
                                                                                  std::string_view daemon_unit,
                                                                                  std::string_view dbus_policy,
                                                                                  std::string_view tmpfiles);

/// The texts of units/ as this binary was built with them (embedded at build time): the daemon
/// unit, the D-Bus policy and the tmpfiles entry, for `machineconfig --daemon-image`.
std::string_view shipped_daemon_unit();
std::string_view shipped_dbus_policy();
std::string_view shipped_tmpfiles();

}  // namespace bpfrec
