// bpfman-bench: what the daemon costs, measured on the real kernel, next to the floor (bench-floor:
// open + load + pin + attach in one process with libbpf alone) and the peer CLIs (xdp-loader,
// bpftool, tc). Prints one Markdown table; README.md "Benchmarks" explains each figure.
//
//   bpfman-bench [--short] [--output FILE]
//
// Everything runs in the integration harness's environment (tests/integration/harness.h): a
// private mount namespace with its own bpffs and tracefs, a private dbus-daemon, network
// namespaces with veth pairs; the daemon is the built binary, started as the unit would
// (NOTIFY_SOCKET, WATCHDOG_USEC=60 s). "Attached" is always seen through the kernel (rtnetlink
// IFLA_XDP, BPF_PROG_QUERY for TCX, the perf link behind a pin), never through the daemon's status.
//
// Exit status: 0 when every figure was produced, 1 when one is missing (the table says which and
// why), 77 when the benchmark cannot run here (not root, a tool missing). --short: few runs and
// small N, so that CI (.ci/run) keeps it from rotting; it checks that figures exist, never their
// values.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <systemd/sd-bus.h>
#include <linux/netlink.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "harness.h"

#ifndef BENCH_FLOOR_BIN
#error "BENCH_FLOOR_BIN must be defined by the build"
#endif

namespace bench {
namespace {

using namespace it;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Sizes.

struct Mode {
  bool short_mode = false;
  int latency_runs = 21;               ///< apply latency: runs per type and tool
  std::vector<int> bulk_n = {10, 100, 500};
  int bulk_runs = 5;                   ///< bulk apply: runs per type and N
  std::set<std::string> bulk_kinds;    ///< bulk apply: only these types (--bulk-kind); empty: all
  int fleet_small = 100;               ///< idle cost
  int fleet_large = 500;               ///< no-op reconcile, memory, restart adoption
  int noop_runs = 21;
  int drift_checks = 11;               ///< periodic drift checks timed at fleet_large programs
  int idle_seconds = 60;
  int restart_runs = 11;
  int churn_writes = 1000;
  int churn_files = 10;
};

Mode short_mode() {
  Mode m;
  m.short_mode = true;
  m.latency_runs = 3;
  m.bulk_n = {5, 10};
  m.bulk_runs = 2;
  m.fleet_small = 10;
  m.fleet_large = 20;
  m.noop_runs = 3;
  m.drift_checks = 3;
  m.idle_seconds = 3;
  m.restart_runs = 3;
  m.churn_writes = 100;
  m.churn_files = 5;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Results: one row a figure, in the order they were declared.

struct Row {
  std::string id;
  std::string what;
  std::string unit;  ///< "ms", "x", "", "MiB", "/s"
  std::vector<double> samples;
  std::string note;
};

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

class Results {
 public:
  /// Declares a figure that must be produced (shown as MISSING otherwise).
  void expect(const std::string& id, const std::string& what, const std::string& unit) {
    index_[id] = rows_.size();
    rows_.push_back(Row{id, what, unit, {}, ""});
  }
  void add(const std::string& id, double v) { row(id).samples.push_back(v); }
  void note(const std::string& id, const std::string& n) {
    auto& r = row(id);
    r.note += (r.note.empty() ? "" : "; ") + n;
  }
  std::optional<double> median(const std::string& id) {
    const auto& r = row(id);
    if (r.samples.empty()) return std::nullopt;
    return quantile(r.samples, 0.5);
  }
  /// Notes the reason on every declared figure that has no value yet (a phase failed).
  void fail_open(const std::string& prefix, const std::string& why) {
    for (auto& r : rows_)
      if (r.id.rfind(prefix, 0) == 0 && r.samples.empty()) r.note += (r.note.empty() ? "" : "; ") + why;
  }
  std::size_t missing() const {
    return static_cast<std::size_t>(std::count_if(rows_.begin(), rows_.end(), [](const Row& r) { return r.samples.empty(); }));
  }
  std::string table() const {
    std::string out = "| figure | what | median | p95 | runs | note |\n|---|---|---|---|---|---|\n";
    for (const auto& r : rows_) {
      std::string med = "MISSING", p95 = "";
      if (!r.samples.empty()) {
        med = fmt(quantile(r.samples, 0.5), r.unit);
        if (r.samples.size() > 1) p95 = fmt(quantile(r.samples, 0.95), r.unit);
      }
      out += "| " + r.id + " | " + r.what + " | " + med + " | " + p95 + " | " +
             std::to_string(r.samples.size()) + " | " + r.note + " |\n";
    }
    return out;
  }

 private:
  static std::string fmt(double v, const std::string& unit) {
    char buf[64];
    if (unit.empty()) std::snprintf(buf, sizeof buf, "%.0f", v);
    else if (unit == "x") std::snprintf(buf, sizeof buf, "%.2fx", v);
    else if (unit == "exp") std::snprintf(buf, sizeof buf, "%.2f", v);
    else std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : "%.1f %s", v, unit.c_str());
    return buf;
  }
  Row& row(const std::string& id) {
    const auto it = index_.find(id);
    if (it == index_.end()) throw std::logic_error("undeclared figure " + id);
    return rows_[it->second];
  }
  std::vector<Row> rows_;
  std::map<std::string, std::size_t> index_;
};

// ---------------------------------------------------------------------------------------------
// Kernel views and small helpers.

/// Runs fn on a thread inside the network namespace file `ns_path` (setns moves one thread only).
template <typename F>
void in_netns_thread(const std::string& ns_path, F&& fn) {
  std::string err;
  std::thread t([&] {
    const int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      err = "setns " + ns_path + ": " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    fn();
  });
  t.join();
  if (!err.empty()) throw std::runtime_error(err);
}

std::string read_status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return "";
}

/// VmHWM (peak resident set) of pid in MiB.
double vm_hwm_mib(pid_t pid) {
  return std::stod(read_status_field(pid, "VmHWM")) / 1024.0;  // "   12345 kB"
}

/// CPU time (ns, from schedstat) and context switches summed over every thread of pid.
/// `wakeups` counts voluntary switches (the thread slept and something woke it); `preempted`
/// counts involuntary ones (another task took the CPU mid-work: a sign of machine load, not of
/// the daemon waking up).
struct TaskTotals {
  std::uint64_t cpu_ns = 0;
  std::uint64_t wakeups = 0;
  std::uint64_t preempted = 0;
};
TaskTotals task_totals(pid_t pid) {
  TaskTotals t;
  const std::string base = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& tid : list_dir(base)) {
    std::istringstream ss(read_file(base + "/" + tid + "/schedstat"));
    std::uint64_t ns = 0;
    ss >> ns;
    t.cpu_ns += ns;
    std::ifstream in(base + "/" + tid + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        t.wakeups += std::stoull(line.substr(line.find(':') + 1));
      else if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        t.preempted += std::stoull(line.substr(line.find(':') + 1));
  }
  return t;
}

/// The daemon's D-Bus face through sd-bus, in-process (busctl would add a fork+exec per call).
class BusClient {
 public:
  BusClient() {
    if (int r = sd_bus_open_system(&bus_); r < 0) throw std::runtime_error(std::string("sd_bus_open_system: ") + std::strerror(-r));
  }
  ~BusClient() { sd_bus_flush_close_unref(bus_); }
  BusClient(const BusClient&) = delete;
  BusClient& operator=(const BusClient&) = delete;

  /// Calls Reload() and returns when the daemon answered (it answers after the reconcile).
  void reload() {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const int r = sd_bus_call_method(bus_, kService, kManagerPath, kManagerIface, "Reload", &err, &reply, "");
    const std::string msg = err.message ? err.message : std::strerror(-r);
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    if (r < 0) throw std::runtime_error("Reload(): " + msg);
  }
  /// Calls Describe() and returns its wall time in ms; the document goes to `doc` when given.
  double describe_ms(std::string* doc = nullptr) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const auto t0 = Clock::now();
    const int r = sd_bus_call_method(bus_, kService, kManagerPath, kManagerIface, "Describe", &err, &reply, "");
    const double ms = ms_between(t0, Clock::now());
    const std::string msg = err.message ? err.message : std::strerror(-r);
    sd_bus_error_free(&err);
    if (r >= 0 && doc) {
      const char* s = nullptr;
      if (sd_bus_message_read(reply, "s", &s) >= 0 && s) *doc = s;
    }
    sd_bus_message_unref(reply);
    if (r < 0) throw std::runtime_error("Describe(): " + msg);
    return ms;
  }
  std::uint64_t generation() {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    std::uint64_t g = 0;
    const int r = sd_bus_get_property_trivial(bus_, kService, kManagerPath, kManagerIface, "Generation", &err, 't', &g);
    sd_bus_error_free(&err);
    if (r < 0) throw std::runtime_error(std::string("Generation: ") + std::strerror(-r));
    return g;
  }

 private:
  sd_bus* bus_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// What "attached" means, seen through the kernel.

struct Target {
  enum Kind { Tracepoint, Xdp, Tcx } kind = Tracepoint;
  std::string prog;      ///< program name (tracepoint: its links/ directory under the pin root)
  unsigned ifindex = 0;  ///< xdp, tcx
};

/// Polls from a thread inside the veths' netns (TCX queries and rtnetlink resolve ifindexes in
/// the caller's netns).
class Observer {
 public:
  Observer(std::string ns_path, std::string pin_root) : ns_path_(std::move(ns_path)), pin_root_(std::move(pin_root)) {}

  /// Waits until every target is attached (want=true) or detached (want=false); returns the
  /// moment it saw the last one, nullopt after `timeout`. Checks in order and stops at the first
  /// that is not there yet, so a poll costs one query while nothing moves.
  std::optional<Clock::time_point> wait(const std::vector<Target>& targets, bool want,
                                        std::chrono::microseconds step, std::chrono::milliseconds timeout) {
    std::optional<Clock::time_point> seen;
    in_netns_thread(ns_path_, [&] {
      const int nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
      if (nl < 0) return;
      const auto deadline = Clock::now() + timeout;
      std::size_t next = 0;
      for (;;) {
        while (next < targets.size() && attached(nl, targets[next]) == want) ++next;
        const auto now = Clock::now();
        if (next == targets.size()) {
          seen = now;
          break;
        }
        if (now > deadline) break;
        std::this_thread::sleep_for(step);
      }
      ::close(nl);
    });
    return seen;
  }

 private:
  bool attached(int nl, const Target& t) const {
    switch (t.kind) {
      case Target::Xdp: {
        const auto ids = xdp_ids_nl(nl, t.ifindex);
        return ids && !ids->empty();
      }
      case Target::Tcx: {
        const auto ids = tcx_ids_here(t.ifindex, true);
        return ids && !ids->empty();
      }
      case Target::Tracepoint: {
        const std::string dir = pin_root_ + "/" + t.prog + "/links";
        for (const auto& l : list_dir(dir)) {
          const auto link = raw_pinned_link(dir + "/" + l);
          if (link && link->type == 7 /* BPF_LINK_TYPE_PERF_EVENT */) return true;
        }
        return false;
      }
    }
    return false;
  }
  std::string ns_path_;
  std::string pin_root_;
};

// ---------------------------------------------------------------------------------------------
// The lab: bus, veths, programs.d, pin root, the daemon.

class Lab {
 public:
  Lab(const Mode& mode, int veth_count) {
    work_ = make_temp_dir("bpfrec-bench-");
    programs_ = work_ + "/programs.d";
    stage_ = work_ + "/stage";
    log_ = work_ + "/daemon.log";
    for (const auto& d : {programs_, stage_})
      if (::mkdir(d.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + d);
    pin_root_ = "/sys/fs/bpf/bench";
    ::mkdir(pin_root_.c_str(), 0700);
    bus_ = std::make_unique<Bus>(work_);
    if (!bus_->ok()) throw std::runtime_error(bus_->error());
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
    make_veths(veth_count);
    tracepoints_ = syscall_tracepoints();
    (void)mode;
  }
  ~Lab() {
    if (daemon_) daemon_->stop();
    remove_tree(work_);
  }

  const std::string& programs() const { return programs_; }
  const std::string& work() const { return work_; }
  const std::string& pin_root() const { return pin_root_; }
  const std::string& ns() const { return ns_a_; }
  std::string ns_path() const { return "/run/netns/" + ns_a_; }
  std::string veth(int i) const { return "v" + std::to_string(i); }
  unsigned ifindex(int i) const { return ifindexes_.at(static_cast<std::size_t>(i)); }
  int veth_count() const { return static_cast<int>(ifindexes_.size()); }
  /// The i-th syscall tracepoint (at most a few programs share one: the kernel allows 64 a
  /// trace event).
  const std::string& tracepoint(int i) const { return tracepoints_[static_cast<std::size_t>(i) % tracepoints_.size()]; }
  Daemon& daemon() { return *daemon_; }
  Observer observer() const { return Observer(ns_path(), pin_root_); }

  /// Starts the daemon as the unit would and waits for READY=1. Returns ms from fork to READY.
  double start_daemon(const std::string& level = "info", const std::vector<std::string>& extra = {}) {
    if (daemon_ && daemon_->alive()) throw std::logic_error("daemon already running");
    daemon_ = std::make_unique<Daemon>();
    notify_.reset();
    notify_ = std::make_unique<NotifySocket>(work_ + "/notify", [] { return std::string(); });
    if (!notify_->error().empty()) throw std::runtime_error(notify_->error());
    daemon_->set_environment({{"NOTIFY_SOCKET", work_ + "/notify"}, {"WATCHDOG_USEC", "60000000"}});
    const auto t0 = Clock::now();
    std::vector<std::string> args = {"--log-level", level, "daemon", "--programs-dir", programs_, "--pin-root", pin_root_,
                                     "--state-dir", work_ + "/state"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto ok = daemon_->start(args, log_);
    if (!ok) throw std::runtime_error(std::string("daemon start: ") + ok.message() + "\n" + log_tail());
    std::optional<Clock::time_point> ready;
    wait_until([&] {
      for (const auto& m : notify_->messages())
        if (m.has("READY=1")) {
          ready = m.t;
          return true;
        }
      return false;
    }, 60s, 1ms);
    if (!ready) throw std::runtime_error("no READY=1 within 60 s\n" + log_tail());
    return ms_between(t0, *ready);
  }
  void stop_daemon() {
    if (!daemon_) return;
    const auto how = daemon_->stop(30s);
    if (how != "exit 0") throw std::runtime_error("daemon stop: " + how + "\n" + log_tail());
  }

  /// Back to nothing: daemon stopped, no manifests, no pins, no XDP on any veth.
  void reset() {
    stop_daemon();
    for (const auto& f : list_dir(programs_)) ::unlink((programs_ + "/" + f).c_str());
    remove_tree(pin_root_);
    ::mkdir(pin_root_.c_str(), 0700);
    xdp_off_all();
  }

  void xdp_off_all() {
    std::string batch;
    for (int i = 0; i < veth_count(); ++i) batch += "link set dev " + veth(i) + " xdpgeneric off\n";
    ip_batch(batch);
  }

  /// Writes the manifest into the staging directory (no inotify event in programs.d).
  void stage(const std::string& file, const std::string& content) {
    std::ofstream out(stage_ + "/" + file, std::ios::trunc);
    out << content;
    if (!out.flush()) throw std::runtime_error("write " + file);
  }
  /// rename(2) of a staged manifest into programs.d: the moment the clock starts.
  void publish(const std::string& file) {
    if (::rename((stage_ + "/" + file).c_str(), (programs_ + "/" + file).c_str()) != 0)
      throw std::runtime_error("rename " + file + ": " + std::strerror(errno));
  }
  void unpublish(const std::string& file) { ::unlink((programs_ + "/" + file).c_str()); }

  const std::string& log_path() const { return log_; }
  std::string log_tail() const {
    const std::string all = read_file(log_);
    return "daemon log (tail): " + all.substr(all.size() > 3000 ? all.size() - 3000 : 0);
  }
  std::string log_text() const { return read_file(log_); }

  void ip_batch(const std::string& commands) {
    const std::string f = work_ + "/ip.batch";
    {
      std::ofstream out(f, std::ios::trunc);
      out << commands;
    }
    const auto r = run({"ip", "-n", ns_a_, "-force", "-batch", f}, 600s);
    if (r.rc != 0 && commands.find("xdpgeneric off") == std::string::npos)
      throw std::runtime_error("ip -batch: " + r.describe());
  }

 private:
  void make_veths(int n) {
    ns_a_ = unique_name("bxa");
    ns_b_ = unique_name("bxb");
    for (const auto& ns : {ns_a_, ns_b_}) {
      const auto r = run({"ip", "netns", "add", ns});
      if (r.rc != 0) throw std::runtime_error("ip netns add: " + r.describe());
    }
    std::string batch;
    for (int i = 0; i < n; ++i)
      batch += "link add " + veth(i) + " type veth peer name p" + std::to_string(i) + " netns " + ns_b_ + "\n" +
               "link set " + veth(i) + " up\n";
    ip_batch(batch);
    in_netns_thread(ns_path(), [&] {
      for (int i = 0; i < n; ++i) ifindexes_.push_back(::if_nametoindex(veth(i).c_str()));
    });
    if (std::count(ifindexes_.begin(), ifindexes_.end(), 0u) != 0) throw std::runtime_error("veth without ifindex");
  }
  static std::vector<std::string> syscall_tracepoints() {
    std::vector<std::string> out;
    for (const auto& e : list_dir("/sys/kernel/tracing/events/syscalls"))
      if (e.rfind("sys_enter_", 0) == 0 || e.rfind("sys_exit_", 0) == 0) out.push_back("syscalls/" + e);
    if (out.empty()) throw std::runtime_error("no syscall tracepoints in /sys/kernel/tracing/events/syscalls");
    return out;
  }

  std::string work_, programs_, stage_, log_, pin_root_, ns_a_, ns_b_;
  std::vector<unsigned> ifindexes_;
  std::vector<std::string> tracepoints_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<Daemon> daemon_;
};

// ---------------------------------------------------------------------------------------------
// Programs of each kind, as manifests and as kernel targets.

enum class Kind { Tracepoint, Xdp, Tcx };
const char* kind_name(Kind k) { return k == Kind::Tracepoint ? "tracepoint" : k == Kind::Xdp ? "xdp" : "tcx"; }

std::string manifest_for(const Lab& lab, Kind k, const std::string& name, int i) {
  switch (k) {
    case Kind::Tracepoint: return tracepoint_manifest_text(name, lab.tracepoint(i));
    case Kind::Xdp:
      return xdp_manifest_text(name, lab.veth(i), lab.ns_path(), 1, bpf_object_path("xdp_counter"), "xdp_count");
    case Kind::Tcx: return tc_manifest_text(name, lab.veth(i), lab.ns_path(), "ingress");
  }
  return "";
}

Target target_for(const Lab& lab, Kind k, const std::string& name, int i) {
  switch (k) {
    case Kind::Tracepoint: return Target{Target::Tracepoint, name, 0};
    case Kind::Xdp: return Target{Target::Xdp, name, lab.ifindex(i)};
    case Kind::Tcx: return Target{Target::Tcx, name, lab.ifindex(i)};
  }
  return {};
}

const std::vector<std::string> kBenchProgNames = {"tracepoint_count", "xdp_count", "tc_count"};

/// The kernel's perf events allocated now (`perf_event` active objects in /proc/slabinfo);
/// nullopt when that cache is not listed (older kernels, or no slabinfo).
std::optional<long> perf_events_allocated() {
  std::ifstream in("/proc/slabinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    long active = 0;
    if (ls >> name >> active && name == "perf_event") return active;
  }
  return std::nullopt;
}

/// What the kernel held before a phase: benchmark programs (by kernel name) and perf events.
struct KernelBaseline {
  std::size_t progs = 0;
  std::optional<long> perf_events;
};

KernelBaseline kernel_baseline() { return {kernel_progs_named(kBenchProgNames).size(), perf_events_allocated()}; }

/// Waits until the kernel's perf events are at most `target`, or their count has not dropped
/// for `quiet`, at most 90 s.
void wait_perf_events(long target, std::chrono::milliseconds quiet) {
  auto last = perf_events_allocated();
  if (!last) return;
  auto last_drop = Clock::now();
  (void)wait_until([&] {
    const auto now = perf_events_allocated();
    if (!now || *now <= target) return true;
    if (*now < *last) {
      last = now;
      last_drop = Clock::now();
    }
    return Clock::now() - last_drop > quiet;
  }, 90s, 20ms);
}

/// Waits until the kernel holds no more benchmark programs than `base` (what was loaded before
/// the phase: other tools' or a test's leftovers), at most 30 s, and then until its perf
/// events are back to `base` too. Unpinning returns before the kernel tears the
/// links down (a link's release is deferred), and a run that starts meanwhile would pay for the
/// last one's teardown. The programs alone do not say when that is over: a perf link's program
/// is put first, its perf event later (bpf_perf_link_release -> fput -> delayed_fput ->
/// perf_trace_destroy), and on 6.18 each tracepoint event's destruction holds event_mutex, which
/// every perf_event_open() of a tracepoint takes, across an RCU tasks-trace grace period
/// (perf_trace_event_unreg): 500 of them take ~20 s here, and a bulk run started earlier waited
/// for them. The wait on perf events also ends when their count has not dropped for 10 s (some
/// other tool's events; said on stderr), at most 90 s. Returns the wait in ms.
double wait_released(const KernelBaseline& base) {
  const auto t0 = Clock::now();
  (void)wait_until([&] { return kernel_progs_named(kBenchProgNames).size() <= base.progs; }, 30s, 20ms);
  if (base.perf_events) {
    wait_perf_events(*base.perf_events, 10s);
    const auto left = perf_events_allocated();
    if (left && *left > *base.perf_events)
      std::fprintf(stderr, "[bench] settle: %ld perf events allocated, %ld before the phase\n", *left, *base.perf_events);
  }
  return ms_between(t0, Clock::now());
}

/// bench-floor for programs 0..n-1 of kind k; returns its in-process total in ms.
double run_floor(Lab& lab, Kind k, int n) {
  const std::string dir = "/sys/fs/bpf/floor";
  remove_tree(dir);
  std::vector<std::string> argv = {BENCH_FLOOR_BIN, kind_name(k)};
  if (k == Kind::Tracepoint) argv.insert(argv.end(), {bpf_object_path("tracepoint_counter"), "tracepoint_count"});
  if (k == Kind::Xdp) argv.insert(argv.end(), {bpf_object_path("xdp_counter"), "xdp_count"});
  if (k == Kind::Tcx) argv.insert(argv.end(), {bpf_object_path("tc_counter"), "tc_count"});
  argv.insert(argv.end(), {dir, "--netns", lab.ns_path()});
  for (int i = 0; i < n; ++i) argv.push_back(k == Kind::Tracepoint ? lab.tracepoint(i) : lab.veth(i));
  const auto r = run(argv, 600s);
  long long total_us = -1, first_us = -1;
  if (r.rc != 0 || std::sscanf(r.out.c_str(), "floor_us %lld %lld", &total_us, &first_us) != 2)
    throw std::runtime_error("bench-floor: " + r.describe());
  // Undo: unpinning drops the last reference of TCX and perf links; XDP goes by netlink.
  remove_tree(dir);
  if (k == Kind::Xdp) lab.xdp_off_all();
  return static_cast<double>(total_us) / 1000.0;
}

// ---------------------------------------------------------------------------------------------
// 1. Apply latency.

/// Wall time of a command sequence (fork + exec included: that is what a peer CLI costs).
double timed(const std::vector<std::vector<std::string>>& cmds) {
  const auto t0 = Clock::now();
  for (const auto& c : cmds) {
    const auto r = run(c, 60s);
    if (r.rc != 0) throw std::runtime_error(c[0] + " " + (c.size() > 1 ? c[1] : "") + ": " + r.describe());
  }
  return ms_between(t0, Clock::now());
}

std::vector<std::string> in_ns(const Lab& lab, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"nsenter", "--net=" + lab.ns_path(), "--"});
  return argv;
}

void apply_latency(Lab& lab, const Mode& mode, Results& res) {
  lab.reset();
  lab.start_daemon();
  auto obs = lab.observer();
  const std::string peer = "/sys/fs/bpf/peer";
  // The peer TC filter sits on v1 behind a clsact qdisc made once (not timed).
  if (run(in_ns(lab, {"tc", "qdisc", "add", "dev", lab.veth(1), "clsact"})).rc != 0)
    throw std::runtime_error("tc qdisc add clsact failed");
  const std::string xdp_obj = bpf_object_path("xdp_counter"), tc_obj = bpf_object_path("tc_counter");
  for (Kind k : {Kind::Xdp, Kind::Tcx, Kind::Tracepoint}) {
    const std::string id = std::string("apply.") + kind_name(k);
    for (int run_i = 0; run_i < mode.latency_runs; ++run_i) {
      // The daemon: rename into programs.d -> attached in the kernel.
      const std::string name = std::string("lat-") + kind_name(k);
      lab.stage(name + ".toml", manifest_for(lab, k, name, 0));
      const Target t = target_for(lab, k, name, 0);
      const auto t0 = Clock::now();
      lab.publish(name + ".toml");
      const auto seen = obs.wait({t}, true, 100us, 10s);
      if (!seen) throw std::runtime_error(id + ": not attached within 10 s\n" + lab.log_tail());
      res.add(id + ".daemon", ms_between(t0, *seen));
      lab.unpublish(name + ".toml");
      if (!obs.wait({t}, false, 1ms, 10s)) throw std::runtime_error(id + ": not detached within 10 s");
      wait_until([&] { return !path_exists(lab.pin_root() + "/" + name); }, 10s, 1ms);
      std::this_thread::sleep_for(20ms);  // the reconcile's tail (unpin, status) ends

      res.add(id + ".floor", run_floor(lab, k, 1));

      if (k == Kind::Xdp) {
        ::mkdir((peer).c_str(), 0700);
        res.add(id + ".xdp-loader", timed({in_ns(lab, {"xdp-loader", "load", "-m", "skb", "-p", peer, lab.veth(0), xdp_obj})}));
        if (!obs.wait({t}, true, 1ms, 1s)) throw std::runtime_error("xdp-loader did not attach");
        run(in_ns(lab, {"xdp-loader", "unload", lab.veth(0), "--all"}));
        remove_tree(peer);
        res.add(id + ".bpftool", timed({{"bpftool", "prog", "load", xdp_obj, peer + "-prog", "type", "xdp", "pinmaps", peer},
                                        in_ns(lab, {"bpftool", "net", "attach", "xdpgeneric", "pinned", peer + "-prog", "dev", lab.veth(0)})}));
        if (!obs.wait({t}, true, 1ms, 1s)) throw std::runtime_error("bpftool did not attach");
        lab.xdp_off_all();
        remove_tree(peer);
        remove_tree(peer + "-prog");
      } else if (k == Kind::Tcx) {
        res.add(id + ".bpftool-tc", timed({{"bpftool", "prog", "load", tc_obj, peer + "-prog", "type", "classifier", "pinmaps", peer},
                                           in_ns(lab, {"tc", "filter", "add", "dev", lab.veth(1), "ingress", "bpf", "da", "object-pinned", peer + "-prog"})}));
        run(in_ns(lab, {"tc", "filter", "del", "dev", lab.veth(1), "ingress"}));
        remove_tree(peer);
        remove_tree(peer + "-prog");
      }
    }
    // Ratio of medians: the daemon against the floor.
    res.add(id + ".ratio", *res.median(id + ".daemon") / *res.median(id + ".floor"));
  }
  lab.stop_daemon();
}

// ---------------------------------------------------------------------------------------------
// 1b. Image bytecode: manifest renamed into programs.d -> attached, for path bytecode, an image
// whose reference the state directory has (cached), and one it lacks (uncached: skopeo pulls it
// from a docker-registry on 127.0.0.1, the daemon's child process; no network beyond loopback).

std::string image_tracepoint_text(const std::string& name, const std::string& image, const std::string& tp) {
  return "[[program]]\nname = \"" + name + "\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
         "bytecode = { image = \"" + image + "\" }\n[[program.attach]]\ntracepoint = \"" + tp + "\"\n";
}

void image_latency(Lab& lab, const Mode& mode, Results& res) {
  if (const std::string why = it::registry_skip_reason(); !why.empty()) throw std::runtime_error(why);
  it::Registry registry;
  const it::ScopedHome home(registry.home());  // skopeo 1.9: the registry is insecure there
  const std::string layout = lab.work() + "/bench-image";
  remove_tree(layout);
  const auto made = run({MAKE_BYTECODE_IMAGE, bpf_object_path("tracepoint_counter"), layout, "--program",
                         "tracepoint_count=tracepoint"});
  if (made.rc != 0) throw std::runtime_error("make-bytecode-image: " + made.describe());
  const std::string digest = registry.push(layout, "bench/tp:v1");
  lab.reset();
  lab.start_daemon();
  auto obs = lab.observer();
  // A holder keeps the cached reference's entry in the store while the timed manifest comes and goes.
  const std::string cached = registry.host() + "/bench/tp@" + digest;
  lab.stage("holder.toml", image_tracepoint_text("img-holder", cached, lab.tracepoint(1)));
  lab.publish("holder.toml");
  if (!obs.wait({Target{Target::Tracepoint, "img-holder", 0}}, true, 1ms, 60s))
    throw std::runtime_error("image holder not attached within 60 s\n" + lab.log_tail());
  for (int run_i = 0; run_i < mode.latency_runs; ++run_i) {
    // Uncached: a reference the store has never seen (another repository, same image).
    const std::string repo = "bench/tp-" + std::to_string(run_i);
    (void)registry.push(layout, repo + ":v1");
    const struct {
      const char* id;
      std::string text;
    } cases[] = {
        {"image.path", tracepoint_manifest_text("lat-img", lab.tracepoint(0))},
        {"image.cached", image_tracepoint_text("lat-img", cached, lab.tracepoint(0))},
        {"image.uncached", image_tracepoint_text("lat-img", registry.host() + "/" + repo + "@" + digest, lab.tracepoint(0))},
    };
    for (const auto& c : cases) {
      const Target t{Target::Tracepoint, "lat-img", 0};
      lab.stage("lat-img.toml", c.text);
      const auto t0 = Clock::now();
      lab.publish("lat-img.toml");
      const auto seen = obs.wait({t}, true, 100us, 60s);
      if (!seen) throw std::runtime_error(std::string(c.id) + ": not attached within 60 s\n" + lab.log_tail());
      res.add(std::string(c.id), ms_between(t0, *seen));
      lab.unpublish("lat-img.toml");
      if (!obs.wait({t}, false, 1ms, 10s)) throw std::runtime_error(std::string(c.id) + ": not detached within 10 s");
      wait_until([&] { return !path_exists(lab.pin_root() + "/lat-img"); }, 10s, 1ms);
      std::this_thread::sleep_for(20ms);
    }
  }
  lab.unpublish("holder.toml");
  lab.stop_daemon();
}

// ---------------------------------------------------------------------------------------------
// 2. Bulk apply.

void bulk_apply(Lab& lab, const Mode& mode, Results& res) {
  auto obs = lab.observer();
  lab.reset();
  KernelBaseline baseline = kernel_baseline();
  if (baseline.perf_events) {
    // A teardown still under way (an earlier phase's, or a run before this one) must not count
    // as what the kernel holds: wait until the count stops dropping first.
    wait_perf_events(0, 3s);
    baseline.perf_events = perf_events_allocated();
  }
  for (Kind k : {Kind::Tracepoint, Kind::Xdp, Kind::Tcx}) {
    if (!mode.bulk_kinds.empty() && !mode.bulk_kinds.count(kind_name(k))) {
      res.fail_open(std::string("bulk.") + kind_name(k) + ".", "not run (--bulk-kind)");
      continue;
    }
    for (int n : mode.bulk_n) {
      const std::string id = std::string("bulk.") + kind_name(k) + "." + std::to_string(n);
      for (int run_i = 0; run_i < mode.bulk_runs; ++run_i) {
        lab.reset();
        res.add(id + ".settle", wait_released(baseline));
        lab.start_daemon();
        std::vector<Target> targets;
        for (int i = 0; i < n; ++i) {
          const std::string name = "b" + std::to_string(i);
          lab.stage(name + ".toml", manifest_for(lab, k, name, i));
          targets.push_back(target_for(lab, k, name, i));
        }
        const auto t0 = Clock::now();
        for (int i = 0; i < n; ++i) lab.publish("b" + std::to_string(i) + ".toml");
        const auto seen = obs.wait(targets, true, n > 50 ? 2ms : 200us, 300s);
        if (!seen) throw std::runtime_error(id + ": not all attached within 300 s\n" + lab.log_tail());
        res.add(id + ".daemon", ms_between(t0, *seen));
        lab.stop_daemon();
        lab.reset();
        res.add(id + ".settle", wait_released(baseline));
        res.add(id + ".floor", run_floor(lab, k, n));
      }
      res.add(id + ".ratio", *res.median(id + ".daemon") / *res.median(id + ".floor"));
    }
    // Growth: t ~ N^e between the smallest and the largest N (e = 1: linear).
    const int lo = mode.bulk_n.front(), hi = mode.bulk_n.back();
    const std::string gid = std::string("bulk.") + kind_name(k) + ".growth";
    if (lo == hi) {
      res.fail_open(gid, "one N (--bulk-n)");
      continue;
    }
    const auto tl = res.median(std::string("bulk.") + kind_name(k) + "." + std::to_string(lo) + ".daemon");
    const auto th = res.median(std::string("bulk.") + kind_name(k) + "." + std::to_string(hi) + ".daemon");
    res.add(gid, std::log(*th / *tl) / std::log(static_cast<double>(hi) / lo));
    char buf[128];
    std::snprintf(buf, sizeof buf, "%.2f ms per program at N=%d, %.2f at N=%d", *tl / lo, lo, *th / hi, hi);
    res.note(gid, buf);
  }
}

// ---------------------------------------------------------------------------------------------
// 3-6 on a fleet: 80% tracepoint, 10% XDP, 10% TCX programs (XDP and TCX on the same veths).

struct Fleet {
  std::vector<std::string> files;
  std::vector<Target> targets;
};

Fleet fleet(const Lab& lab, int from, int to, int total) {
  Fleet f;
  const int tp = total * 8 / 10, xdp = total / 10;
  for (int i = from; i < to; ++i) {
    const Kind k = i < tp ? Kind::Tracepoint : i < tp + xdp ? Kind::Xdp : Kind::Tcx;
    const int slot = k == Kind::Tracepoint ? i : k == Kind::Xdp ? i - tp : i - tp - xdp;
    const std::string name = "f" + std::to_string(i);
    f.files.push_back(name + ".toml");
    f.targets.push_back(target_for(lab, k, name, slot));
    const_cast<Lab&>(lab).stage(name + ".toml", manifest_for(lab, k, name, slot));
  }
  return f;
}

void apply_fleet(Lab& lab, const Fleet& f) {
  for (const auto& file : f.files) lab.publish(file);
  if (!lab.observer().wait(f.targets, true, 2ms, 300s))
    throw std::runtime_error("fleet not attached within 300 s\n" + lab.log_tail());
}

/// Counts bpf() commands by name in an strace -e trace=bpf log.
std::map<std::string, int> bpf_commands(const std::string& strace_log) {
  std::map<std::string, int> out;
  std::istringstream ss(strace_log);
  std::string line;
  while (std::getline(ss, line)) {
    const auto p = line.find("bpf(BPF_");
    if (p == std::string::npos) continue;
    const auto e = line.find_first_of(",)", p);
    ++out[line.substr(p + 4, e - p - 4)];
  }
  return out;
}

bool mutating(const std::string& cmd) {
  static const std::set<std::string> kMutating = {
      "BPF_MAP_CREATE", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM", "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
      "BPF_MAP_FREEZE", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_PROG_ATTACH", "BPF_PROG_DETACH",
      "BPF_BTF_LOAD", "BPF_RAW_TRACEPOINT_OPEN", "BPF_LINK_CREATE", "BPF_LINK_UPDATE",
      "BPF_LINK_DETACH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH", "BPF_PROG_BIND_MAP"};
  return kMutating.count(cmd) != 0;
}

void fleet_phases(Lab& lab, const Mode& mode, Results& res) {
  lab.reset();
  lab.start_daemon();
  std::this_thread::sleep_for(200ms);
  res.add("mem.hwm.0", vm_hwm_mib(lab.daemon().pid()));

  // 4. Idle cost with fleet_small programs.
  const Fleet small = fleet(lab, 0, mode.fleet_small, mode.fleet_large);
  apply_fleet(lab, small);
  std::this_thread::sleep_for(1s);
  res.add("mem.hwm.small", vm_hwm_mib(lab.daemon().pid()));
  // Idle at debug level, so that the daemon logs what woke its loop ("wakeup: <source>"); the
  // restart adopts the programs (no loads, no libbpf chatter).
  lab.stop_daemon();
  lab.start_daemon("debug");
  std::this_thread::sleep_for(1s);
  const std::size_t log_at = read_file(lab.log_path()).size();
  const auto a = task_totals(lab.daemon().pid());
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(mode.idle_seconds));
  const auto b = task_totals(lab.daemon().pid());
  const double secs = ms_between(t0, Clock::now()) / 1000.0;
  {
    // What woke the loop, by source, from the daemon's debug log of the idle window.
    std::map<std::string, int> by_source;
    std::istringstream ss(read_file(lab.log_path()).substr(log_at));
    std::string line;
    int total = 0;
    while (std::getline(ss, line)) {
      const auto p = line.find("wakeup: ");
      if (p == std::string::npos) continue;
      std::string src = line.substr(p + 8);
      src = src.substr(0, src.find_first_of(" (:"));
      ++by_source[src];
      ++total;
    }
    std::string breakdown;
    for (const auto& [src, n] : by_source) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%s %d (%.3f/s)", breakdown.empty() ? "" : ", ", src.c_str(), n, n / secs);
      breakdown += buf;
    }
    res.add("idle.wakeups.logged", total / secs);
    res.note("idle.wakeups.logged", breakdown.empty() ? "none logged" : breakdown);
    std::fprintf(stderr, "[bench] idle wakeups by source over %.0f s: %s\n", secs,
                 breakdown.empty() ? "none logged" : breakdown.c_str());
  }
  res.add("idle.cpu", static_cast<double>(b.cpu_ns - a.cpu_ns) / 1e6);
  res.note("idle.cpu", "over " + std::to_string(mode.idle_seconds) + " s");
  res.add("idle.wakeups", static_cast<double>(b.wakeups - a.wakeups) / secs);
  res.note("idle.wakeups", std::to_string(b.wakeups - a.wakeups) + " voluntary context switches in " +
                               std::to_string(mode.idle_seconds) + " s; " + std::to_string(b.preempted - a.preempted) +
                               " involuntary (preempted by other load)");

  // The rest of the fleet.
  const Fleet rest = fleet(lab, mode.fleet_small, mode.fleet_large, mode.fleet_large);
  apply_fleet(lab, rest);
  std::this_thread::sleep_for(500ms);
  res.add("mem.hwm.large", vm_hwm_mib(lab.daemon().pid()));
  res.note("mem.hwm.large", "VmRSS now " + read_status_field(lab.daemon().pid(), "VmRSS").substr(read_status_field(lab.daemon().pid(), "VmRSS").find_first_not_of(" \t")));

  // 3. No-op reconcile: Reload() with nothing changed.
  std::fprintf(stderr, "[bench] no-op reconcile: %d Reload() calls, daemon pid %d\n", mode.noop_runs,
               static_cast<int>(lab.daemon().pid()));
  BusClient bus;
  {
    // CPU per call as well: on a loaded machine the wall time is mostly waiting for a CPU.
    const auto before = task_totals(lab.daemon().pid());
    for (int i = 0; i < mode.noop_runs; ++i) {
      const auto s = Clock::now();
      bus.reload();
      res.add("noop.reload", ms_between(s, Clock::now()));
    }
    const auto after = task_totals(lab.daemon().pid());
    res.add("noop.reload.cpu", static_cast<double>(after.cpu_ns - before.cpu_ns) / 1e6 / mode.noop_runs);
    res.note("noop.reload.cpu", "daemon CPU time (schedstat, all threads) over the " + std::to_string(mode.noop_runs) +
                                    " calls, per call");
  }
  {
    const std::string out = "/tmp/bpfrec-bench-strace." + std::to_string(::getpid());
    const pid_t pid = lab.daemon().pid();
    auto strace = std::make_unique<BackgroundCommand>(
        std::vector<std::string>{"strace", "-f", "-qq", "-e", "trace=bpf", "-o", out, "-p", std::to_string(pid)});
    if (!wait_until([&] { return read_status_field(pid, "TracerPid").find_first_not_of(" \t0") != std::string::npos; }, 10s, 5ms))
      throw std::runtime_error("strace did not attach");
    std::this_thread::sleep_for(100ms);
    bus.reload();
    std::this_thread::sleep_for(100ms);
    strace.reset();  // SIGTERM: strace detaches and flushes
    wait_until([&] { return read_status_field(pid, "TracerPid").find_first_not_of(" \t0") == std::string::npos; }, 10s, 5ms);
    const auto cmds = bpf_commands(read_file(out));
    ::unlink(out.c_str());
    int mut = 0, all = 0;
    std::string seen;
    for (const auto& [c, n] : cmds) {
      all += n;
      if (mutating(c)) mut += n;
      seen += (seen.empty() ? "" : ", ") + c + " x" + std::to_string(n);
    }
    res.add("noop.bpf_mutating", mut);
    res.note("noop.bpf_mutating", std::to_string(all) + " bpf() calls: " + (seen.empty() ? "none" : seen));
  }

  // 5. Restart adoption.
  for (int i = 0; i < mode.restart_runs; ++i) {
    lab.stop_daemon();
    res.add("restart.ready", lab.start_daemon());
  }
  res.add("mem.hwm.adopted", vm_hwm_mib(lab.daemon().pid()));
  // Nothing was changed by the restarts: every program still attached.
  if (!lab.observer().wait(small.targets, true, 1ms, 1s) || !lab.observer().wait(rest.targets, true, 1ms, 1s))
    throw std::runtime_error("programs not attached after restart");

  // 5b. The periodic drift check at fleet_large programs: the daemon restarted with
  // `--check-interval 1` at debug level, which logs each check's wall time ("reconciled
  // (periodic check) in X ms"); CPU per check is the daemon's CPU over the window (schedstat, all
  // threads) divided by the checks logged in it (nothing else runs: no changes, no events).
  lab.stop_daemon();
  lab.start_daemon("debug", {"--check-interval", "1"});
  {
    const pid_t pid = lab.daemon().pid();
    std::this_thread::sleep_for(300ms);
    const std::size_t at = read_file(lab.log_path()).size();
    auto checks = [&] {
      std::vector<double> ms;
      std::istringstream ss(read_file(lab.log_path()).substr(at));
      std::string line;
      const std::string key = "reconciled (periodic check) in ";
      while (std::getline(ss, line))
        if (const auto p = line.find(key); p != std::string::npos) ms.push_back(std::atof(line.c_str() + p + key.size()));
      return ms;
    };
    const auto before = task_totals(pid);
    std::vector<double> ms;
    if (!wait_until([&] { return (ms = checks()).size() >= static_cast<std::size_t>(mode.drift_checks); },
                    std::chrono::seconds(mode.drift_checks * 3 + 10), 20ms))
      throw std::runtime_error("drift: " + std::to_string(ms.size()) + " periodic checks logged, " +
                               std::to_string(mode.drift_checks) + " expected\n" + lab.log_tail());
    const auto after = task_totals(pid);
    ms.resize(static_cast<std::size_t>(mode.drift_checks));
    for (double v : ms) res.add("drift.check.time", v);
    res.add("drift.check.cpu", static_cast<double>(after.cpu_ns - before.cpu_ns) / 1e6 / mode.drift_checks);
    res.note("drift.check.cpu", std::to_string(mode.drift_checks) + " checks at --check-interval 1; " +
                                    std::to_string(after.wakeups - before.wakeups) + " voluntary switches");
    res.note("drift.check.time", "the daemon's own figure (debug log), one sample per check");
  }
  lab.stop_daemon();
  lab.start_daemon();

  // 6. Reload under churn: bursts of rewrites of churn_files manifests (global_data changes).
  auto churn_content = [&](int w) {
    const int f = w % mode.churn_files;
    return tracepoint_manifest_text("c" + std::to_string(f), lab.tracepoint(f),
                                    static_cast<std::uint32_t>(1 + (w / mode.churn_files) % 7));
  };
  std::vector<Target> ctargets;
  for (int f = 0; f < mode.churn_files; ++f) {
    lab.stage("c" + std::to_string(f) + ".toml", churn_content(f));
    lab.publish("c" + std::to_string(f) + ".toml");
    ctargets.push_back(Target{Target::Tracepoint, "c" + std::to_string(f), 0});
  }
  if (!lab.observer().wait(ctargets, true, 1ms, 60s)) throw std::runtime_error("churn programs not attached");
  std::this_thread::sleep_for(500ms);
  const std::uint64_t g0 = bus.generation();
  std::map<int, std::uint32_t> final_value;
  const auto c0 = Clock::now();
  for (int w = 0; w < mode.churn_writes; ++w) {
    const std::string file = "c" + std::to_string(w % mode.churn_files) + ".toml";
    lab.stage(file, churn_content(w));
    lab.publish(file);
    final_value[w % mode.churn_files] = static_cast<std::uint32_t>(1 + (w / mode.churn_files) % 7);
  }
  const auto c1 = Clock::now();
  auto rodata = [&](int f) {
    const std::string dir = lab.pin_root() + "/c" + std::to_string(f) + "/maps";
    for (const auto& m : list_dir(dir))
      if (m.size() > 7 && m.ends_with("_rodata")) return raw_map_u32(dir + "/" + m);
    return std::optional<std::uint32_t>();
  };
  std::optional<Clock::time_point> done;
  wait_until([&] {
    for (const auto& [f, v] : final_value)
      if (rodata(f) != v) return false;
    done = Clock::now();
    return true;
  }, 60s, 1ms);
  if (!done) throw std::runtime_error("churn: final state not applied within 60 s\n" + lab.log_tail());
  // Let any reconcile still queued run, then count them.
  std::uint64_t g1 = bus.generation();
  for (;;) {
    std::this_thread::sleep_for(700ms);
    const auto g = bus.generation();
    if (g == g1) break;
    g1 = g;
  }
  res.add("churn.settle", ms_between(c1, *done));
  char buf[96];
  std::snprintf(buf, sizeof buf, "%d rewrites in %.0f ms", mode.churn_writes, ms_between(c0, c1));
  res.note("churn.settle", buf);
  res.add("churn.reconciles", static_cast<double>(g1 - g0));
  lab.stop_daemon();
}

// ---------------------------------------------------------------------------------------------
// 7. Responsiveness: Describe() answered while a fleet is applied.

void responsiveness(Lab& lab, const Mode& mode, Results& res) {
  lab.reset();
  lab.start_daemon();
  const Fleet f = fleet(lab, 0, mode.fleet_large, mode.fleet_large);
  std::atomic<bool> stop{false};
  std::vector<double> lat;
  std::size_t in_progress = 0;  // answers that showed a reconcile in progress ("reconciling")
  std::string error;
  std::thread t([&] {
    try {
      BusClient bus;  // its own connection: sd-bus objects are not shared across threads
      std::string doc;
      while (!stop) {
        lat.push_back(bus.describe_ms(&doc));
        in_progress += doc.find("\"reconciling\":{") != std::string::npos;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(200ms);
  try {
    apply_fleet(lab, f);
  } catch (...) {
    stop = true;
    t.join();
    throw;
  }
  stop = true;
  t.join();
  if (!error.empty()) throw std::runtime_error(error);
  if (lat.empty()) throw std::runtime_error("no Describe() call completed");
  const double worst = *std::max_element(lat.begin(), lat.end());
  res.add("loop.describe.max", worst);
  res.add("loop.describe.p99", quantile(lat, 0.99));
  res.note("loop.describe.max", std::to_string(lat.size()) + " calls, back to back; " + std::to_string(in_progress) +
                                   " answered with a reconcile in progress");
  // Describe() itself at this size, nothing being applied: the status document and the scan
  // of every other program on the node (its "foreign" section, scan_ms).
  BusClient bus;
  for (int i = 0; i < 21; ++i) {
    std::string doc;
    res.add("loop.describe.idle", bus.describe_ms(&doc));
    try {
      res.add("loop.foreign.scan", json::parse(doc)["foreign"].value("scan_ms", 0.0));
    } catch (const std::exception&) {
    }
  }
  lab.stop_daemon();
}

std::string machine() {
  utsname u{};
  ::uname(&u);
  std::string model;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::string mem = read_file("/proc/meminfo");
  mem = mem.substr(0, mem.find('\n'));
  std::string load = read_file("/proc/loadavg");
  if (!load.empty() && load.back() == '\n') load.pop_back();
  return std::to_string(std::thread::hardware_concurrency()) + " CPU " + model + ", " + mem + ", kernel " +
         u.release + ", load average " + load;
}

void declare(Results& res, const Mode& mode) {
  for (const char* k : {"xdp", "tcx", "tracepoint"}) {
    const std::string id = std::string("apply.") + k;
    res.expect(id + ".daemon", std::string(k) + ": manifest renamed into programs.d -> attached (kernel)", "ms");
    res.expect(id + ".floor", std::string(k) + ": floor, open+load+pin+attach in-process (bench-floor)", "ms");
    res.expect(id + ".ratio", std::string(k) + ": daemon / floor (medians)", "x");
    if (std::string(k) == "xdp") {
      res.expect(id + ".xdp-loader", "xdp: `xdp-loader load -m skb -p DIR`", "ms");
      res.expect(id + ".bpftool", "xdp: `bpftool prog load` + `bpftool net attach xdpgeneric`", "ms");
    }
    if (std::string(k) == "tcx") res.expect(id + ".bpftool-tc", "tc: `bpftool prog load` + `tc filter add ... bpf da object-pinned` (cls_bpf; bpftool 7.1 has no TCX)", "ms");
  }
  res.expect("image.path", "tracepoint, path bytecode: manifest renamed into programs.d -> attached (kernel)", "ms");
  res.expect("image.cached", "tracepoint, image bytecode in the state directory: the same", "ms");
  res.expect("image.uncached", "tracepoint, image bytecode pulled from a registry on 127.0.0.1 (skopeo): the same", "ms");
  for (const char* k : {"tracepoint", "xdp", "tcx"}) {
    for (int n : mode.bulk_n) {
      const std::string id = std::string("bulk.") + k + "." + std::to_string(n);
      res.expect(id + ".daemon", std::to_string(n) + " " + k + " programs: empty -> all attached", "ms");
      res.expect(id + ".floor", std::to_string(n) + " " + k + " programs: floor", "ms");
      res.expect(id + ".ratio", std::to_string(n) + " " + k + " programs: daemon / floor", "x");
      res.expect(id + ".settle", std::to_string(n) + " " + k + " programs: wait for the kernel to free the last run's programs and perf events (not timed in either)", "ms");
    }
    res.expect(std::string("bulk.") + k + ".growth", std::string(k) + ": exponent e of t ~ N^e (1 = linear)", "exp");
  }
  const std::string big = std::to_string(mode.fleet_large), small = std::to_string(mode.fleet_small);
  res.expect("noop.reload", "Reload() with nothing changed, " + big + " programs (D-Bus call wall time)", "ms");
  res.expect("noop.reload.cpu", "Reload() with nothing changed, " + big + " programs: daemon CPU time per call", "ms");
  res.expect("noop.bpf_mutating", "bpf() commands that create or change kernel objects during that Reload() (strace)", "");
  res.expect("drift.check.time", "periodic drift check, " + big + " programs, nothing drifted: wall time of one check", "ms");
  res.expect("drift.check.cpu", "periodic drift check, " + big + " programs: daemon CPU time per check", "ms");
  res.expect("idle.cpu", "daemon CPU time, " + small + " programs, no changes", "ms");
  res.expect("idle.wakeups", "daemon wakeups (voluntary context switches) per second, idle", "/s");
  res.expect("idle.wakeups.logged", "event-loop wakeups the daemon logged, per second, idle (by source in the note; "
                                    "sd-event's watchdog ping is not a source and not logged)", "/s");
  res.expect("loop.describe.max", "worst Describe() latency while " + big + " programs are applied", "ms");
  res.expect("loop.describe.p99", "p99 Describe() latency while " + big + " programs are applied", "ms");
  res.expect("loop.describe.idle", "Describe() latency, " + big + " programs attached, nothing applied", "ms");
  res.expect("loop.foreign.scan", "the foreign scan inside that Describe() (its scan_ms), " + big + " programs", "ms");
  res.expect("mem.hwm.0", "VmHWM, 0 programs", "MiB");
  res.expect("mem.hwm.small", "VmHWM, " + small + " programs applied", "MiB");
  res.expect("mem.hwm.large", "VmHWM, " + big + " programs applied", "MiB");
  res.expect("mem.hwm.adopted", "VmHWM, " + big + " programs adopted at start", "MiB");
  res.expect("restart.ready", "restart adoption: start -> READY=1, " + big + " programs pinned", "ms");
  res.expect("churn.settle", std::to_string(mode.churn_writes) + " rewrites of " + std::to_string(mode.churn_files) +
                                 " manifests: last write -> final state applied (kernel)", "ms");
  res.expect("churn.reconciles", "reconciles during that burst (Generation)", "");
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  Mode mode;
  std::string output;
  std::set<std::string> only;  // phases to run (apply, bulk, fleet); empty: all
  std::set<std::string> bulk_kinds;
  int bulk_runs = 0;
  std::set<int> bulk_n;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--short") mode = short_mode();
    else if (a == "--output" && i + 1 < argc) output = argv[++i];
    else if (a == "--noop-runs" && i + 1 < argc) mode.noop_runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--phase" && i + 1 < argc && std::set<std::string>{"apply", "image", "bulk", "fleet", "responsive"}.count(argv[i + 1]))
      only.insert(argv[++i]);
    else if (a == "--bulk-kind" && i + 1 < argc && std::set<std::string>{"tracepoint", "xdp", "tcx"}.count(argv[i + 1]))
      bulk_kinds.insert(argv[++i]);
    else if (a == "--bulk-runs" && i + 1 < argc) bulk_runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--bulk-n" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) bulk_n.insert(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bpfman-bench [--short] [--phase apply|image|bulk|fleet|responsive]... [--bulk-kind "
                           "tracepoint|xdp|tcx]... [--bulk-runs N] [--bulk-n N]... [--noop-runs N] [--output FILE]\n");
      return 2;
    }
  }
  // After the loop: --short sets the whole mode, whatever its position.
  mode.bulk_kinds = bulk_kinds;
  if (bulk_runs) mode.bulk_runs = bulk_runs;
  if (!bulk_n.empty()) mode.bulk_n.assign(bulk_n.begin(), bulk_n.end());
  it::setup_process_environment();
  if (!it::skip_reason().empty()) {
    std::fprintf(stderr, "bpfman-bench: cannot run here: %s\n", it::skip_reason().c_str());
    return 77;
  }
  for (const char* tool : {"strace", "xdp-loader"})
    if (it::run({"sh", "-c", std::string("command -v ") + tool}).rc != 0) {
      std::fprintf(stderr, "bpfman-bench: cannot run here: %s not found (scripts/install-deps)\n", tool);
      return 77;
    }
  if (!it::fatal_reason().empty()) {
    std::fprintf(stderr, "bpfman-bench: %s\n", it::fatal_reason().c_str());
    return 1;
  }
  Results res;
  declare(res, mode);
  const auto t0 = Clock::now();
  const std::string machine_before = machine();
  try {
    const int veths = std::max({mode.bulk_n.back(), mode.fleet_large / 10, 2});
    Lab lab(mode, veths);
    const std::vector<std::tuple<std::string, std::string, std::function<void()>>> phases = {
        {"apply", "apply.", [&] { apply_latency(lab, mode, res); }},
        {"image", "image.", [&] { image_latency(lab, mode, res); }},
        {"bulk", "bulk.", [&] { bulk_apply(lab, mode, res); }},
        // Before the fleet phase: its prefix ("") would mark these as not run when it is left out.
        {"responsive", "loop.", [&] { responsiveness(lab, mode, res); }},
        {"fleet", "", [&] { fleet_phases(lab, mode, res); }},
    };
    for (const auto& [phase, prefix, fn] : phases) {
      if (!only.empty() && !only.count(phase)) {
        res.fail_open(prefix, "not run (--phase)");
        continue;
      }
      try {
        std::fprintf(stderr, "[bench] phase %s (%.0f s)\n", prefix.empty() ? "fleet" : prefix.c_str(),
                     ms_between(t0, Clock::now()) / 1000);
        fn();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[bench] phase %s failed: %s\n", prefix.c_str(), e.what());
        std::string why = e.what();
        res.fail_open(prefix, "failed: " + why.substr(0, why.find('\n')));
        try {
          lab.reset();
        } catch (const std::exception&) {
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[bench] set-up failed: %s\n", e.what());
    res.fail_open("", std::string("set-up failed: ") + e.what());
  }
  std::string report = std::string("bpfman-bench") + (mode.short_mode ? " --short" : "") + ", " +
                       std::to_string(static_cast<int>(ms_between(t0, Clock::now()) / 1000)) + " s\n" +
                       "machine at start: " + machine_before + "\nmachine at end: " + machine() + "\n\n" + res.table();
  std::printf("%s", report.c_str());
  if (!output.empty()) std::ofstream(output) << report;
  const auto missing = res.missing();
  if (missing) std::fprintf(stderr, "bpfman-bench: %zu figures missing\n", missing);
  // A partial run (--phase) leaves the other phases' figures missing on purpose.
  return missing && only.empty() && bulk_kinds.empty() ? 1 : 0;
}
