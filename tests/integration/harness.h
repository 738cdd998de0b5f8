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
#include <mutex>
#include <nlohmann/json.hpp>
#include <atomic>
#include <optional>
#include <utility>
#include <thread>
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
  /// A private dbus-daemon with the given configuration file instead; it must listen on
  /// unix:path=<dir>/system_bus_socket (its log goes to <dir>/dbus-daemon.log).
  Bus(const std::string& dir, const std::string& config_file);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  /// unix:path=<dir>/system_bus_socket (the guid dbus-daemon prints is left out).
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  /// SIGKILL, as `kill -9` would (the socket file stays behind), and reap.
  void kill_hard();
  /// Starts the same dbus-daemon again (same configuration, same socket path); error() says
  /// whether it came up.
  void restart();

 private:
  void start(const std::string& dir, const std::string& conf);
  std::string dir_, conf_;
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

  /// Starts the process and waits (up to 10 s) until it is started as systemd would see it: the
  /// bus name answers and the first reconcile is complete (Generation >= 1).
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
  /// SIGKILL (no chance to clean up) and reap. Returns the wait status text ("signal 9").
  std::string kill_hard();
  /// For the next start()s: argv put before the daemon's (e.g. {"setpriv", "--bounding-set=...",
  /// "--"}); empty (the default) runs the daemon directly.
  void set_command_prefix(std::vector<std::string> prefix) { prefix_ = std::move(prefix); }
  /// For the next start()s: environment changes made in the child only (value nullopt: unset).
  void set_environment(std::vector<std::pair<std::string, std::optional<std::string>>> env) {
    env_ = std::move(env);
  }

 private:
  std::vector<std::string> prefix_;
  std::vector<std::pair<std::string, std::optional<std::string>>> env_;
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
// Manifest texts (the fixture's xdp_manifest/tc_manifest/tracepoint_manifest use them).

/// The built BPF object `name` (e.g. "xdp_counter"): BPF_OBJ_DIR/<name>.bpf.o.
inline std::string bpf_object_path(const std::string& name) {
  return std::string(BPF_OBJ_DIR) + "/" + name + ".bpf.o";
}
/// One XDP program (generic mode) on ifname in the netns file netns_path.
std::string xdp_manifest_text(const std::string& name, const std::string& ifname,
                              const std::string& netns_path, int sample_every,
                              const std::string& object_path, const std::string& function);
/// One tc_counter program on ifname in netns_path, direction "ingress" or "egress".
std::string tc_manifest_text(const std::string& name, const std::string& ifname,
                             const std::string& netns_path, const std::string& direction);
/// One tracepoint_counter program on tracepoint tp ("category/name"), with global_data
/// sample_every when given.
std::string tracepoint_manifest_text(const std::string& name, const std::string& tp,
                                     std::optional<std::uint32_t> sample_every = std::nullopt);

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
  static std::string obj(const std::string& name) { return bpf_object_path(name); }

  std::string work_dir_;
  std::string programs_dir_;
  std::string pin_root_;
  std::string log_path_;
  std::unique_ptr<NetnsPair> net_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Daemon> daemon_;
};

// ---------------------------------------------------------------------------------------------
// Raw bpf(2) and rtnetlink views of the kernel (fast enough to poll every millisecond; no fork).

/// Id of the program pinned at path (BPF_OBJ_GET + BPF_OBJ_GET_INFO_BY_FD), nullopt if none.
std::optional<std::uint32_t> raw_pinned_prog_id(const std::string& path);
/// Id of the map pinned at path, nullopt if none.
std::optional<std::uint32_t> raw_pinned_map_id(const std::string& path);
struct RawLink {
  std::uint32_t id = 0;
  std::uint32_t prog_id = 0;
  std::uint32_t type = 0;  ///< BPF_LINK_TYPE_* (7 perf_event, 11 tcx)
};
/// The link pinned at path, nullopt if none.
std::optional<RawLink> raw_pinned_link(const std::string& path);
struct RawProg {
  std::uint32_t id = 0;
  std::string name;  ///< as the kernel has it: at most 15 characters
  std::vector<std::uint32_t> map_ids;
  std::string tag;  ///< the kernel's tag (hash of the instructions), 16 hex digits
};
/// The program with this id, nullopt when the kernel has none.
std::optional<RawProg> raw_prog(std::uint32_t id);
/// Every program loaded in the kernel (BPF_PROG_GET_NEXT_ID) whose kernel name is one of `names`
/// (compare with the 15-character kernel name).
std::vector<RawProg> kernel_progs_named(const std::vector<std::string>& names);
/// The value of key 0 of the map pinned at path (BPF_MAP_LOOKUP_ELEM), nullopt on failure.
std::optional<std::vector<std::uint8_t>> raw_map_value0(const std::string& map_pin);
/// Little-endian u32 at the start of the value of key 0 (e.g. sample_every in a .rodata pin).
std::optional<std::uint32_t> raw_map_u32(const std::string& map_pin);
/// Program ids on the XDP hook of ifindex, asked with RTM_GETLINK on the rtnetlink socket nl
/// (the interface is looked up in the netns the socket was made in); nullopt when it failed.
std::optional<std::vector<std::uint32_t>> xdp_ids_nl(int nl, unsigned ifindex);
/// Program ids on the TCX hook of ifindex in the calling thread's netns (BPF_PROG_QUERY);
/// nullopt when the query failed (kernel without TCX, no such interface).
std::optional<std::vector<std::uint32_t>> tcx_ids_here(unsigned ifindex, bool ingress);
/// Program ids on the XDP hook of ifname inside netns ns, from RTM_GETLINK (IFLA_XDP);
/// nullopt when the interface does not exist (or the query failed).
std::optional<std::vector<std::uint32_t>> xdp_ids_netlink(const std::string& ns, const std::string& ifname);

// ---------------------------------------------------------------------------------------------
// Hook sampling in a background thread.

struct HookTarget {
  enum Kind { Xdp, TcxIngress, TcxEgress };
  Kind kind;
  std::string ns;  ///< netns name under /run/netns
  std::string ifname;
  std::string label() const;
};

/// One sample: per target, the program ids on the hook, or nullopt when the query failed
/// (e.g. the interface does not exist at that moment).
struct HookSample {
  std::chrono::steady_clock::time_point t;
  std::vector<std::optional<std::vector<std::uint32_t>>> ids;
};

/// Samples every target (in order, within one sample) every `period` on its own thread, with
/// raw rtnetlink / BPF_PROG_QUERY (no fork), until stop() or destruction.
class HookSampler {
 public:
  HookSampler(std::vector<HookTarget> targets, std::chrono::microseconds period);
  ~HookSampler();
  HookSampler(const HookSampler&) = delete;
  HookSampler& operator=(const HookSampler&) = delete;

  /// Stops the thread; samples() is stable afterwards.
  void stop();
  const std::vector<HookSample>& samples() const { return samples_; }
  const std::vector<HookTarget>& targets() const { return targets_; }
  /// Samples in which target i had no program (an empty hook; failed queries not counted).
  std::size_t empty_count(std::size_t i) const;
  /// Samples in which the query for target i failed.
  std::size_t error_count(std::size_t i) const;
  /// Largest number of programs seen at once on target i.
  std::size_t max_count(std::size_t i) const;
  /// Every distinct id set seen on target i, in order of first appearance, with time offsets:
  /// "+0.0ms [12] -> +35.1ms [] (x17) -> +52.0ms [14]" (for failure messages).
  std::string timeline(std::size_t i) const;
  /// Whether the thread ran at all, and the average period actually achieved.
  std::string rate() const;

 private:
  void loop();
  std::vector<HookTarget> targets_;
  std::chrono::microseconds period_;
  std::atomic<bool> stop_{false};
  std::vector<HookSample> samples_;
  std::string thread_error_;
  std::chrono::steady_clock::time_point start_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Background processes, objects, interfaces.

/// A long-running command (e.g. ping) with PR_SET_PDEATHSIG; SIGTERM + reap on destruction.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::vector<std::string>& argv, const std::string& log = "/dev/null");
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  bool alive();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

/// Copies the BPF object `src` to `dest` with the function (ELF symbol, BTF and debug strings)
/// `old_fn` renamed to `new_fn` (same length; every NUL-delimited occurrence). The copy has
/// different bytes (sha256), and its program gets a kernel name no other test uses, so the
/// kernel's whole program list can be searched for leaks without seeing other loaders' programs.
::testing::AssertionResult make_renamed_object(const std::string& src, const std::string& old_fn,
                                               const std::string& new_fn, const std::string& dest);

/// A veth pair: if1 in netns ns1 and if2 in netns ns2, both up, optional /30 addresses ("" for
/// none). Returns "" on success, else the failing command and its output.
std::string add_veth(const std::string& ns1, const std::string& if1, const std::string& ns2,
                     const std::string& if2, const std::string& addr1 = "",
                     const std::string& addr2 = "");

/// Sets DBUS_SYSTEM_BUS_ADDRESS for the scope (to talk to, or start, a second daemon on its own
/// bus), restoring the previous value after.
class ScopedBusAddress {
 public:
  explicit ScopedBusAddress(const std::string& address);
  ~ScopedBusAddress();

 private:
  std::optional<std::string> previous_;
};

/// Every file and directory under root, relative, sorted ("a", "a/prog", ...).
std::vector<std::string> list_tree(const std::string& root);

/// What a pin root must hold exactly after a settle, program by program.
struct ExpectedProgram {
  std::string name;
  enum Kind { Tracepoint, Xdp, Tcx } kind = Tracepoint;
  std::size_t link_pins = 1;                   ///< pins under links/ (tracepoint, tcx)
  std::optional<std::uint32_t> sample_every;   ///< expected first u32 of the *_rodata pin
  std::string ns, ifname;                      ///< xdp/tcx: where it must be attached
  bool ingress = true;                         ///< tcx
};

/// Checks the pin root against `expected` through the kernel only: the directory holds exactly
/// the expected program dirs (nothing else, no staging or temp names), each exactly
/// {prog, maps, links, record}; the program pin is a live program, every map pin is one of its
/// maps and every one of its maps is pinned; links/ holds exactly link_pins live links of that
/// program (and `bpftool -j link show` lists each); XDP/TCX hooks hold exactly the pinned ids;
/// ids are distinct; and the kernel's list of programs named like `kernel_names` equals the
/// pinned set (no leaked or duplicate programs; waits up to `settle` for deferred frees).
/// An empty `kernel_names` skips the kernel-wide search. Returns the problems found (empty: good).
std::vector<std::string> check_pin_root_exact(const std::string& pin_root,
                                              const std::vector<ExpectedProgram>& expected,
                                              const std::vector<std::string>& kernel_names,
                                              std::chrono::milliseconds settle = 3s);

// ---------------------------------------------------------------------------------------------
// sd_notify.

/// CLOCK_MONOTONIC in microseconds (what MONOTONIC_USEC= carries).
std::uint64_t monotonic_usec();

/// A bound AF_UNIX datagram socket (what systemd's NOTIFY_SOCKET is) and a thread that records
/// every datagram. On the first READY=1 it runs `on_first_ready` right away (on its thread).
class NotifySocket {
 public:
  struct Message {
    std::chrono::steady_clock::time_point t;
    std::uint64_t mono_usec;  ///< CLOCK_MONOTONIC at receipt
    std::string text;
    /// Whether one line of the datagram is exactly `line`.
    bool has(const std::string& line) const;
    /// The value of `key=` in the datagram, nullopt when absent.
    std::optional<std::string> value(const std::string& key) const;
  };

  NotifySocket(const std::string& path, std::function<std::string()> on_first_ready);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  const std::string& error() const { return error_; }

  std::vector<Message> messages();
  /// What on_first_ready returned when the first READY=1 arrived; nullopt before that.
  std::optional<std::string> first_ready_check();
  std::size_t count(const std::string& line);
  /// Every datagram with its time offset, one a line (for failure messages).
  std::string dump();

 private:
  void loop();

  std::string path_;
  std::function<std::string()> on_first_ready_;
  int fd_ = -1;
  std::string error_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Message> messages_;
  std::optional<std::string> first_ready_check_;
  std::thread thread_;
};

/// A TCX ingress link that is not ours: `object` (tc_counter) loaded and pinned by bpftool,
/// linked with a raw BPF_LINK_CREATE inside netns `ns` on `ifname` and pinned outside our pin
/// root (/sys/fs/bpf/foreign-tcx-*). `error` is non-empty when any step failed; the pins are
/// removed by the destructor (the link goes with its last reference).
struct ForeignTcx {
  std::string prog_pin, link_pin, error;
  std::uint32_t prog_id = 0, link_id = 0;

  ForeignTcx(const std::string& ns, const std::string& ifname, const std::string& object);
  ~ForeignTcx();
  ForeignTcx(const ForeignTcx&) = delete;
  ForeignTcx& operator=(const ForeignTcx&) = delete;
};

}  // namespace it
