// Pulling a bytecode image with skopeo, the node's own tool (containers-image: registries.conf
// mirrors and short names, containers-auth.json, certs.d), as CRI-O on the same node would: the
// command line of one pull, and reading what `skopeo copy docker://REF dir:DEST` leaves. The
// dir: transport keeps every manifest byte for byte (no conversion to OCI, which would change
// the digest of a Docker v2 image), so the digest recorded is the registry's.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "image/bytecode_image.h"
#include "image/reference.h"
#include "util/result.h"

namespace bpfrec {

/// The cluster pull secret on an OpenShift node (kubelet's, which CRI-O reads too).
inline constexpr const char *kKubeletAuthfile = "/var/lib/kubelet/config.json";

/// How skopeo is run for one pull.
struct SkopeoCommand {
  std::string skopeo = "skopeo";  ///< the program (a name is looked up in PATH)
  /// containers-auth.json(5) file passed as --src-authfile; empty: skopeo's own lookup
  /// (${XDG_RUNTIME_DIR}/containers/auth.json, then ~/.docker/config.json).
  std::string authfile;
  /// skopeo's --tmpdir (big-files directory); empty: its default (/var/tmp).
  std::string tmp_dir;
};

/// The authfile a pull uses: `given` when not empty, else `kubelet` when that file exists (the
/// node's pull secret), else empty (skopeo's default lookup).
std::string effective_authfile(const std::string &given, const std::string &kubelet = kKubeletAuthfile);

/// argv of `skopeo [--tmpdir T] copy --quiet --retry-times 0 --multi-arch all [--src-authfile F]
/// docker://REF dir:DEST` (skopeo-copy(1)): every platform of an index is copied, so that the
/// index digest a tag resolves to is the one recorded; retries are the daemon's (with backoff).
std::vector<std::string> skopeo_pull_argv(const SkopeoCommand &cmd, const ImageReference &ref, const std::string &dest);

/// Where a pull's skopeo runs. Direct: as the daemon's child, in the daemon's sandbox. SystemdRun:
/// in a transient service of its own (systemd-run(1) --wait --pipe), which may reach registries
/// and has no capabilities, while the daemon's unit keeps IP sockets closed.
enum class PullRunner { Direct, SystemdRun };

/// What a transient pull unit is told (systemd-run -p ..., systemd.exec(5)).
struct TransientPull {
  std::string unit;       ///< the unit name, e.g. bpfman-reconciler-pull-1234-1.service
  std::string work_dir;   ///< the pull's directory (the only path it may write)
  uint64_t timeout_usec;  ///< RuntimeMaxSec=: the pull is stopped after it even if nobody waits
  std::string description;
  /// NAME=VALUE pairs the pull needs from the daemon's environment (a transient unit starts
  /// with PID 1's, not its caller's): see pull_environment().
  std::vector<std::string> environment;
};

/// The daemon's proxy and containers settings that a pull must see, as NAME=VALUE, from
/// `getenv` (default: the process's environment): HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and their
/// lower-case forms, which Go's net/http reads too), CONTAINERS_REGISTRIES_CONF,
/// CONTAINERS_REGISTRIES_CONF_DIR, REGISTRY_AUTH_FILE; the ones not set are left out. An
/// OpenShift cluster-wide proxy reaches the daemon through a unit drop-in (Environment=), as it
/// reaches CRI-O.
std::vector<std::string> pull_environment(const std::function<const char *(const char *)> &getenv = ::getenv);

/// Auto's choice: SystemdRun when this process runs as a systemd service ($INVOCATION_ID set,
/// systemd(1): "set for all services") on a system booted with systemd (/run/systemd/system,
/// sd_booted(3)); else Direct.
PullRunner auto_pull_runner();

/// `argv` wrapped in `systemd-run --quiet --wait --pipe --collect --service-type=exec --unit=U
/// -p ... -- argv...`: no capabilities (CapabilityBoundingSet=), NoNewPrivileges=,
/// ProtectSystem=strict with ReadWritePaths= the work dir, ProtectHome=tmpfs (not "yes": skopeo,
/// without $HOME, looks for /root/.config/containers/registries.conf.d and stops at anything
/// but ENOENT, and an inaccessible /root is EACCES to root without CAP_DAC_OVERRIDE; seen
/// under systemd 252 in the VM test), PrivateTmp=,
/// PrivateDevices=, the kernel protections, RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6,
/// RestrictNamespaces=, SystemCallFilter=@system-service minus @privileged @resources (refused
/// calls fail with EPERM), MemoryDenyWriteExecute=, PrivateMounts=, ProtectProc=invisible,
/// RuntimeMaxSec= (systemd-analyze security: 1.6 for such a unit file), and --setenv= each of
/// `environment`. Its exit status is
/// skopeo's (systemd-run --wait), its stderr skopeo's (--pipe).
std::vector<std::string> systemd_run_argv(const TransientPull &t, const std::vector<std::string> &argv);

/// argv of `skopeo inspect --raw --retry-times 0 [--authfile F] docker://REF`: the top-level
/// manifest or index exactly as the registry serves it (its sha256 is the digest).
std::vector<std::string> skopeo_inspect_argv(const SkopeoCommand &cmd, const ImageReference &ref);

/// Resolves `ref` (a tag) to the registry's digest ("sha256:<hex>" of `skopeo inspect --raw`'s
/// output), running skopeo and waiting for it (for the CLI; skopeo's own messages go to stderr).
/// Errors: skopeo cannot be run, exits non-zero (its status), prints nothing or over
/// kMaxImageJsonBytes.
Result<std::string> resolve_digest(const SkopeoCommand &cmd, const ImageReference &ref);

/// What skopeo said last in the stderr file at `path`: the msg="..." of its logrus line
/// (`time=... level=fatal msg="..."`), else its last non-empty line; at most 1 KiB.
std::string skopeo_message(const std::string &path);

/// One image as pulled: the bytecode image read from it and the digest the registry serves it
/// under ("sha256:<hex>" of the top-level manifest or index, as `skopeo inspect` prints it).
struct PulledImage {
  BytecodeImage image;
  std::string digest;
};

/// Reads the directory `skopeo copy ... dir:DIR` wrote (containers-image's directory transport,
/// version 1.1: `manifest.json` the top-level manifest, `<hex>.manifest.json` each instance of
/// an index, every blob as `<hex>`). The files are moved into an OCI image layout at DIR/oci
/// (index.json names manifest.json by its digest) and read with read_bytecode_image(), which
/// checks every blob against its descriptor. When `ref` has a digest, manifest.json must have
/// it. Errors: no manifest.json (ErrorKind::NotFound), a digest that differs (Invalid), and
/// read_bytecode_image()'s.
Result<PulledImage> read_pulled_dir(const std::string &dir, const ImageReference &ref,
                                    const ReadImageOptions &options = {});

/// Starts `args` (args[0] looked up in PATH) with stdin /dev/null, stdout `stdout_fd` (-1:
/// /dev/null), stderr the file `stderr_path` (created; empty: inherited), no other descriptor,
/// an empty signal mask and default dispositions for SIGTERM, SIGINT, SIGHUP, SIGCHLD and
/// SIGPIPE (a daemon blocks the first four for its signalfd and sd-event). The daemon's puller
/// and the CLI start skopeo with it. Returns the pid. Errors: posix_spawnp(3)'s, e.g. ENOENT.
Result<pid_t> spawn_process(const std::vector<std::string> &args, int stdout_fd = -1,
                            const std::string &stderr_path = "");

/// How a pull into `work_dir` ended, from how `skopeo` ended: exited with `code` (0: the image
/// is read with read_pulled_dir() from `work_dir`/image; else skopeo_message() of
/// `work_dir`/stderr), or (`exited` false) killed by signal `code`. Error messages start
/// "pull REF: ".
Result<PulledImage> pull_outcome(const ImageReference &ref, const std::string &work_dir, const std::string &skopeo,
                                 bool exited, int code);

/// Pulls `ref` now and waits (the CLI's `check --pull`): skopeo_pull_argv() into
/// `work_dir`/image (which must not exist), skopeo's stderr to `work_dir`/stderr, then
/// read_pulled_dir(). `timeout_s`: skopeo's --command-timeout. Errors start "pull REF: ": skopeo
/// cannot be run, exits non-zero (with skopeo_message()), and read_pulled_dir()'s.
Result<PulledImage> pull_and_wait(const SkopeoCommand &cmd, const ImageReference &ref, const std::string &work_dir,
                                  unsigned timeout_s = 120);

}  // namespace bpfrec
