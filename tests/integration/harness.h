// Integration-test harness for bpfman-reconciler.
//
// The suite drives the real daemon binary from the outside: it writes manifests into a
// programs.d directory, talks to the daemon over a private D-Bus system bus with `busctl`, and
// checks the kernel with `bpftool`, `tc`, `ip` and raw bpf(2) queries. It never links the
// project's own libraries, and it never trusts the daemon's status for "is it attached".
//
// Isolation: main() moves the whole test process into a private mount namespace with a fresh
// bpffs on /sys/fs/bpf, tracefs on /sys/kernel/tracing and a tmpfs on /run/netns. Every daemon,
// bus and netns the tests make lives in (and dies with) that namespace; every child gets
// PR_SET_PDEATHSIG(SIGKILL) so a crashed test run leaves nothing behind.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#ifndef RECONCILER_BIN
#error "RECONCILER_BIN must be defined by the build"
#endif
#ifndef BPF_OBJ_DIR
#error "BPF_OBJ_DIR must be defined by the build"
#endif

namespace it {

using json = nlohmann::json;
using namespace std::chrono_literals;

inline constexpr const char* kService = "io.bpfman.Reconciler1";
inline constexpr const char* kManagerPath = "/io/bpfman/Reconciler1";
inline constexpr const char* kManagerIface = "io.bpfman.Reconciler1.Manager";
inline constexpr const char* kProgramIface = "io.bpfman.Reconciler1.Program";
inline constexpr const char* kProgramPathPrefix = "/io/bpfman/Reconciler1/program/";
inline constexpr const char* kAddrA = "198.18.0.1";
inline constexpr const char* kAddrB = "198.18.0.2";
inline constexpr const char* kXdpToolsObjDir = "/usr/lib/x86_64-linux-gnu/bpf";
inline constexpr const char* kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";

// ---------------------------------------------------------------------------------------------
// Process-wide environment (set up once in main()).

/// Sets up the private mount namespace and checks the tools. Must run before any thread exists.
void setup_process_environment();
/// Non-empty when the suite cannot run here (not root, tool missing...): tests skip with it.
const std::string& skip_reason();
/// Non-empty when something the suite is supposed to test is missing (daemon binary, objects).
const std::string& fatal_reason();
/// The daemon binary: $BPFREC_IT_RECONCILER if set (to test an installed build), else the one
/// the build made (RECONCILER_BIN).
const std::string& reconciler_bin();
/// A name unique to this process and call: "<prefix><pid>x<n>".
std::string unique_name(const std::string& prefix);

// ---------------------------------------------------------------------------------------------
// Commands.

struct CmdResult {
  int rc = -1;  ///< exit status, or 128+signal, or -1 when it could not be started
  std::string out;
  std::string err;
  /// "rc=N\nstdout:...\nstderr:..." for failure messages.
  std::string describe() const;
};

/// Runs argv (PATH lookup), captures stdout and stderr; kills it after `timeout`.
CmdResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s);
/// Runs argv inside the network namespace /run/netns/<ns> (nsenter --net; /sys stays ours).
CmdResult run_in_netns(const std::string& ns, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = 30s);
/// Polls pred every `step` until it returns true or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 20ms);

// ---------------------------------------------------------------------------------------------
// Files.

bool path_exists(const std::string& path);
std::string read_file(const std::string& path);
std::vector<std::string> list_dir(const std::string& path);  ///< names, sorted; empty if missing
/// Writes `.<name>.tmp` in dir, then renames it to `name` (what an editor or config tool does).
void write_file_atomic(const std::string& dir, const std::string& name, const std::string& content);
void remove_tree(const std::string& path);
std::string make_temp_dir(const std::string& prefix);

// ---------------------------------------------------------------------------------------------
// Independent kernel checks (bpftool, tc, bpf(2)).

/// Id of the program pinned at path (`bpftool -j prog show pinned`), nullopt if none.
std::optional<std::uint32_t> pinned_prog_id(const std::string& path);
/// `bpftool -j map show pinned` of the map pinned at path, nullopt if none.
std::optional<json> pinned_map_info(const std::string& path);
/// `bpftool -j link show pinned` of the link pinned at path, nullopt if none.
std::optional<json> pinned_link_info(const std::string& path);
/// The program's `bpftool -j prog show id N` document, nullopt when no such program exists.
std::optional<json> prog_info(std::uint32_t id);
/// Whether `bpftool -j prog show` (all programs) lists this id.
bool prog_listed(std::uint32_t id);
/// Which processes hold a file descriptor of program `id` ("pid(comm) x N, ..."), from
/// /proc/*/fdinfo; for failure messages when a program that should be gone is still loaded.
std::string prog_holders(std::uint32_t id);
/// Sum over all keys and CPUs of the first u64 of each value of a (per-CPU) map pinned at path,
/// from bpftool's raw hex bytes. nullopt when the dump failed.
std::optional<std::uint64_t> sum_first_u64(const std::string& map_pin);
/// `bpftool -j link show` (all links).
json all_links();
/// Links (from all_links) whose prog_id is `prog_id`.
std::vector<json> links_of_prog(std::uint32_t prog_id);
/// `bpftool -j net show dev IF` inside the netns: the first (only) element.
json net_show(const std::string& ns, const std::string& ifname);
/// Program ids in net_show(...)["xdp"].
std::vector<std::uint32_t> xdp_prog_ids(const std::string& ns, const std::string& ifname);
/// XDP mode reported by bpftool ("generic", "driver", ...) for prog id on the interface.
std::string xdp_mode(const std::string& ns, const std::string& ifname);
/// Program ids attached via TCX, asked from the kernel with BPF_PROG_QUERY (bpftool 7.1 cannot
/// show TCX). nullopt when the query itself failed (kernel without TCX).
std::optional<std::vector<std::uint32_t>> tcx_prog_ids(const std::string& ns,
                                                       const std::string& ifname, bool ingress);
/// `tc -j filter show dev IF ingress|egress`: the filters whose kind is bpf.
std::vector<json> cls_bpf_filters(const std::string& ns, const std::string& ifname, bool ingress);
/// Whether a clsact qdisc exists on the interface.
bool has_clsact(const std::string& ns, const std::string& ifname);
/// counts[index] of the ARRAY map pinned at path; handles bpftool's BTF-formatted and raw hex
/// output. nullopt when the dump failed.
std::optional<std::uint64_t> read_counter(const std::string& map_pin, std::uint32_t index);
/// The raw bytes of value of key 0 of map id (bpftool -j map dump id).
std::optional<std::vector<std::uint8_t>> map_value_bytes(std::uint32_t map_id);

// ---------------------------------------------------------------------------------------------
// RAII resources.

/// Two network namespaces joined by a veth pair: veth-a (198.18.0.1/30) in `a`, veth-b
/// (198.18.0.2/30) in `b`.
class NetnsPair {
 public:
  NetnsPair();
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string path_a() const { return "/run/netns/" + a; }
  std::string path_b() const { return "/run/netns/" + b; }
  /// Pings 198.18.0.1 from netns b (packets enter veth-a), `count` echo requests.
  CmdResult ping_a_from_b(int count) const;

  std::string a;
  std::string b;
  std::string if_a = "veth-a";
  std::string if_b = "veth-b";

 private:
  std::string error_;
};

/// A private dbus-daemon of type system with a permissive policy.
class Bus {
 public:
  explicit Bus(const std::string& dir);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& address() const { return address_; }

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string error_;
};

/// One run of `bpfman-reconciler daemon`, output appended to a log file.
class Daemon {
 public:
  Daemon() = default;
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Starts the process and waits (up to 10 s) for Describe to answer on the bus.
  ::testing::AssertionResult start(const std::vector<std::string>& args, const std::string& log);
  /// SIGTERM, waits up to `timeout`, then SIGKILL. Returns the wait status text ("exit 0",
  /// "signal 9", "not running").
  std::string stop(std::chrono::milliseconds timeout = 5s);
  /// Whether it is still running (reaps it if it exited; the status is kept).
  bool alive();
  pid_t pid() const { return pid_; }
  /// Exit status text once it has exited ("exit N" / "signal N"), empty while running.
  const std::string& exit_text() const { return exit_text_; }
  int exit_status() const { return status_; }
  /// Whether the last run ended through stop() rather than on its own.
  bool stopped_by_harness() const { return stopped_; }

 private:
  pid_t pid_ = -1;
  bool stopped_ = false;
  int status_ = 0;
  std::string exit_text_;
};

// ---------------------------------------------------------------------------------------------
// D-Bus helpers (busctl --system; DBUS_SYSTEM_BUS_ADDRESS is set by the fixture).

/// Describe() parsed; throws std::runtime_error with busctl's output when the call fails.
json describe();
std::optional<json> get_property(const std::string& path, const std::string& iface,
                                 const std::string& prop);
CmdResult call_reload();
std::vector<std::string> object_paths();

/// The element of desc["programs"] named name, nullopt if absent.
std::optional<json> find_program(const json& desc, const std::string& name);
/// The element of desc["manifests"] whose path is path (or ends with "/" + path).
std::optional<json> find_manifest(const json& desc, const std::string& path);

// ---------------------------------------------------------------------------------------------
// The fixture: one bus, one netns pair, one programs.d, one pin root, one daemon per test.

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Extra daemon flags (e.g. --tc-mechanism tc); used by start_daemon().
  virtual std::vector<std::string> daemon_flags() const { return {}; }

  ::testing::AssertionResult start_daemon();
  std::string stop_daemon() { return daemon_->stop(); }
  Daemon& daemon() { return *daemon_; }

  void write_manifest(const std::string& file, const std::string& toml) {
    write_file_atomic(programs_dir_, file, toml);
  }
  void remove_manifest(const std::string& file);
  std::string manifest_path(const std::string& file) const { return programs_dir_ + "/" + file; }

  std::string pin_dir(const std::string& prog) const { return pin_root_ + "/" + prog; }
  std::string prog_pin(const std::string& prog) const { return pin_dir(prog) + "/prog"; }
  std::string map_pin(const std::string& prog, const std::string& map = "counts") const {
    return pin_dir(prog) + "/maps/" + map;
  }
  std::string links_dir(const std::string& prog) const { return pin_dir(prog) + "/links"; }

  /// Describe(), or an empty object (with a recorded failure) when the call fails.
  json describe_or_fail();
  /// Waits until Describe lists `name` and pred(program) holds; returns the last program seen.
  std::optional<json> wait_program(const std::string& name,
                                   const std::function<bool(const json&)>& pred,
                                   std::chrono::milliseconds timeout = 5s);
  /// Waits until the program `name` is pinned and its pinned id is the only XDP program on
  /// veth-a in netns a. Returns the id.
  std::optional<std::uint32_t> wait_xdp_attached(const std::string& name,
                                                 std::chrono::milliseconds timeout = 5s);
  /// Lots of context for a failure message: Describe, net show, pins.
  std::string diag();

  /// Standard manifests.
  std::string xdp_manifest(const std::string& name, int sample_every = 1,
                           const std::string& object = "xdp_counter",
                           const std::string& function = "xdp_count") const;
  std::string tc_manifest(const std::string& name, const std::string& direction) const;
  std::string tracepoint_manifest(const std::string& name, const std::string& tp) const;
  std::string uprobe_manifest(const std::string& name, const std::string& type,
                              const std::string& target, const std::string& function) const;
  static std::string obj(const std::string& name) {
    return std::string(BPF_OBJ_DIR) + "/" + name + ".bpf.o";
  }

  std::string work_dir_;
  std::string programs_dir_;
  std::string pin_root_;
  std::string log_path_;
  std::unique_ptr<NetnsPair> net_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace it
