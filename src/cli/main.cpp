// bpfman-reconciler: thin entry point; every subcommand lives in commands.cpp.
#include <CLI/CLI.hpp>
#include <spdlog/cfg/env.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/version.h"
#include "kernel/kernel.h"
#include "load/discovery.h"

int main(int argc, char **argv) {
  using namespace bpfrec;
  CLI::App app{"Node-local declarative reconciler for eBPF programs"};
  app.fallthrough();  // --log-level works before or after the subcommand
  app.require_subcommand(1);
  // "bpfman-reconciler VERSION (commit HASH[-dirty]|unknown)" on stdout, exit 0
  // (tests/abi/check-version holds the format).
  app.set_version_flag("--version", fmt::format("bpfman-reconciler {} (commit {})", kVersion, kSourceCommit));
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->check(
      CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  DaemonOptions dopts;
  std::string tc_mech = "auto", xdp_mech = "auto";
  auto *daemon = app.add_subcommand("daemon", "Reconcile programs.d manifests into the kernel and serve status on D-Bus");
  daemon->add_option("--programs-dir", dopts.programs_dirs,
                     "Manifest directory, highest precedence first (repeatable; default /etc, /run, /usr/lib "
                     "bpfman/programs.d)");
  daemon->add_option("--pin-root", dopts.pin_root, "bpffs directory for our pins")->capture_default_str();
  double check_interval = 30;
  daemon->add_option("--check-interval", check_interval,
                     "Seconds between drift checks (0: only on changes and netlink events)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  double dir_grace = 10;
  daemon->add_option("--directory-grace", dir_grace,
                     "Seconds a manifest directory that disappeared counts as unreadable (programs kept) "
                     "before it counts as empty")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  daemon->add_option("--tc-mechanism", tc_mech,
                     "auto (TCX where available, else the TC dispatcher where freplace works, else one cls_bpf "
                     "filter per program), tcx, dispatcher or tc")
      ->check(CLI::IsMember({"auto", "tcx", "dispatcher", "tc"}))
      ->capture_default_str();
  daemon->add_option("--xdp-mechanism", xdp_mech,
                     "auto (libxdp's dispatcher where the kernel allows freplace, else one program per "
                     "interface), dispatcher or single")
      ->check(CLI::IsMember({"auto", "dispatcher", "single"}))
      ->capture_default_str();

  daemon->add_option("--state-dir", dopts.images.state_dir,
                     "Directory that survives reboots: every loaded program's bytecode by sha256, and what each "
                     "image reference resolved to")
      ->capture_default_str();
  daemon->add_option("--authfile", dopts.images.authfile,
                     "containers-auth.json(5) file for image pulls (default: /var/lib/kubelet/config.json when it "
                     "exists, else containers' default lookup)");
  std::string pull_runner = "auto";
  daemon->add_option("--pull-runner", pull_runner,
                     "Where image pulls run: systemd-run (a transient unit with network and no capabilities), "
                     "direct (the daemon's child), auto (systemd-run when the daemon is a systemd service)")
      ->check(CLI::IsMember({"auto", "systemd-run", "direct"}))
      ->capture_default_str();
  double pull_timeout = 120;
  daemon->add_option("--pull-timeout", pull_timeout, "Seconds one image pull may take")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();

  std::vector<std::string> check_paths;
  auto *check = app.add_subcommand("check", "Validate manifests without root or kernel access");
  check->add_option("path", check_paths, "Manifest files or directories (default: the programs.d directories)");
  CheckOptions check_opts;
  check->add_flag("--pull", check_opts.pull,
                  "Also pull every image the manifests name and check its labels and object (needs the registries)");
  check->add_option("--authfile", check_opts.authfile,
                    "containers-auth.json(5) file for --pull (default: /var/lib/kubelet/config.json when it exists)");

  bool status_json = false;
  auto *status = app.add_subcommand("status", "Show the daemon's status (from D-Bus)");
  status->add_flag("--json", status_json, "Print the Describe() JSON document");
  bool status_all = false;
  status->add_flag("--all", status_all, "Also list every other BPF program on the node (Describe()'s foreign section)");
  StatusFilter status_filter;
  std::vector<std::string> status_metadata;
  status->add_option("--type", status_filter.type, "Only programs of this type (xdp, tc, tracepoint, ...)");
  status->add_option("--metadata", status_metadata,
                     "Only programs/attachments whose metadata has KEY=VALUE (repeatable: all must match)")
      ->allow_extra_args(false);

  std::vector<std::string> plan_dirs;
  std::string plan_pin_root = dopts.pin_root;
  bool plan_json = false;
  auto *planc = app.add_subcommand("plan", "Show what the daemon would change now (exit 0: nothing, 2: changes, 1: error)");
  planc->add_option("--programs-dir", plan_dirs, "Manifest directory (repeatable)");
  planc->add_option("--pin-root", plan_pin_root, "bpffs directory of our pins")->capture_default_str();
  planc->add_flag("--json", plan_json, "Print the plan as JSON");

  MachineConfigOptions mc;
  auto *mcc = app.add_subcommand("machineconfig",
                                 "Render a MachineConfig (Ignition 3.4.0) carrying manifests, their bytecode, units and files");
  mcc->add_option("path", mc.manifests, "Manifest files or programs.d directories");
  mcc->add_option("--name", mc.name, "metadata.name")->capture_default_str();
  mcc->add_option("--role", mc.role, "machineconfiguration.openshift.io/role label (the pool)")->capture_default_str();
  mcc->add_option("-o,--output", mc.output, "Output file (default: stdout)");
  mcc->add_flag("--force", mc.force, "Render even when the result is over 1 MiB");
  // One value per occurrence, so that positional paths can follow.
  mcc->add_option("--unit", mc.units, "A systemd unit file to carry (enabled); repeatable")->allow_extra_args(false);
  mcc->add_flag("--resolve-tags", mc.resolve_tags,
                "Pin image tags in manifests to the digests their registries serve now (skopeo inspect --raw; "
                "needs registry access from this machine)");
  mcc->add_option("--authfile", mc.authfile, "containers-auth.json(5) file for --resolve-tags");
  mcc->add_option("--daemon-image", mc.daemon_image,
                  "Also run the daemon itself from this image, NAME@sha256:DIGEST: a fetch unit pulls it with the "
                  "node's pull secret and installs /usr/local/bin/bpfman-reconciler; with the daemon unit, D-Bus "
                  "policy and tmpfiles entry");
  mcc->add_option("--file", mc.files, "Any other file: DEST=SRC[:MODE], mode octal (default 0644); repeatable")
      ->allow_extra_args(false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  // The log goes to stderr, so that stdout carries only a command's output (plan --json,
  // status --json, ...) even when a probe logs; under systemd both streams reach the journal.
  spdlog::set_default_logger(spdlog::stderr_color_mt("bpfman-reconciler"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL overrides, as spdlog documents
  // journald adds its own timestamp; keep lines short there.
  spdlog::set_pattern(getenv("JOURNAL_STREAM") ? "%l: %v" : "%Y-%m-%d %H:%M:%S.%e %l: %v");

  // libbpf and libxdp print warnings (e.g. "skipping unrecognized data section") on stderr by
  // default; route them to our log at debug level instead.
  install_libbpf_logging();

  if (*daemon) {
    if (dopts.programs_dirs.empty()) dopts.programs_dirs = default_programs_dirs();
    dopts.check_interval_usec = static_cast<uint64_t>(check_interval * 1e6);
    dopts.dir_grace_usec = static_cast<uint64_t>(dir_grace * 1e6);
    dopts.images.pull_timeout_usec = static_cast<uint64_t>(pull_timeout * 1e6);
    if (pull_runner == "systemd-run") dopts.images.runner = PullRunner::SystemdRun;
    else if (pull_runner == "direct") dopts.images.runner = PullRunner::Direct;
    dopts.tc = tc_mech == "tcx"          ? TcMechanism::Tcx
                : tc_mech == "tc"         ? TcMechanism::Tc
                : tc_mech == "dispatcher" ? TcMechanism::Dispatcher
                                          : TcMechanism::Auto;
    dopts.xdp = xdp_mech == "dispatcher" ? XdpMechanism::Dispatcher
                : xdp_mech == "single"   ? XdpMechanism::Single
                                         : XdpMechanism::Auto;
    return cmd_daemon(dopts);
  }
  if (*check) return cmd_check(check_paths.empty() ? default_programs_dirs() : check_paths, check_opts);
  if (*status) {
    for (const auto &kv : status_metadata) {
      auto sel = parse_metadata_selector(kv);
      if (!sel) {
        fmt::print(stderr, "status: --metadata {}: expected KEY=VALUE\n", kv);
        return 1;
      }
      status_filter.metadata.push_back(std::move(*sel));
    }
    return cmd_status(status_json, status_filter, status_all);
  }
  if (*mcc) {
    if (mc.manifests.empty() && mc.units.empty() && mc.files.empty() && mc.daemon_image.empty()) {
      fmt::print(stderr, "machineconfig: nothing to render: give manifests, --daemon-image, --unit or --file\n");
      return 1;
    }
    return cmd_machineconfig(mc);
  }
  if (*planc) {
    try {
      return cmd_plan(plan_dirs.empty() ? default_programs_dirs() : plan_dirs, plan_pin_root, plan_json);
    } catch (const std::exception &e) {
      spdlog::error("{}", e.what());
      return 1;
    }
  }
  return 1;
}
