#include "daemon/daemon.h"

#include <signal.h>
#include <sys/inotify.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "bus/bus.h"
#include "daemon/link_watch.h"
#include "kernel/fs.h"
#include "kernel/inventory.h"
#include "manifest/desired.h"
#include "manifest/discovery.h"
#include "reconcile/executor.h"
#include "reconcile/plan.h"

namespace bpfrec {
namespace {

// One line per kernel change: the audit trail (program, manifest, bytecode digest, kernel ids,
// attach point). journald keeps it with the unit's other output.
void audit(const AuditEvent &e) {
  std::string line = fmt::format("audit: action={} program={} manifest={} sha256={} prog_id={}", e.action, e.program,
                                 e.manifest, e.bytecode_sha256, e.prog_id);
  if (!e.target.empty()) line += fmt::format(" target=\"{}\"", e.target);
  if (!e.mechanism.empty()) line += fmt::format(" mechanism={} link_id={}", e.mechanism, e.link_id);
  if (e.error.empty()) {
    spdlog::info("{} result=ok", line);
  } else {
    spdlog::error("{} result=failed error=\"{}\"", line, e.error);
  }
}

}  // namespace

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)) {}

Daemon::~Daemon() {
  // Bus slots and event sources refer to this object; drop them before the bus and loop.
  slots_.clear();
  sources_.clear();
  timer_.reset();
  check_timer_.reset();
  links_.reset();
  bus_.reset();
  event_.reset();
}

Result<void> Daemon::run() {
  if (auto r = ensure_pin_root(opts_.pin_root); !r) return r;
  if (auto r = ensure_tracefs(); !r) spdlog::warn("{}; tracepoint and uprobe programs will fail to attach", r.error().message);
  install_libbpf_logging();
  kernel_ = make_libbpf_kernel(opts_.pin_root, opts_.tc, opts_.xdp);

  sd_event *ev = nullptr;
  if (int r = sd_event_default(&ev); r < 0) return fail_errno(r, "sd_event_default");
  event_.reset(ev);

  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return fail_errno(errno, "block signals");
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    sd_event_source *src = nullptr;
    if (int r = sd_event_add_signal(ev, &src, sig, on_signal, this); r < 0) return fail_errno(r, "watch signal {}", sig);
    sources_.emplace_back(src);
  }
  // Pings the service manager's watchdog from the loop when WATCHDOG_USEC is set.
  (void)sd_event_set_watchdog(ev, 1);

  if (auto r = watch_dirs(); !r) return r;
  links_ = std::make_unique<LinkWatcher>(ev, [this] { schedule_reconcile(); });
  if (opts_.check_interval_usec > 0) {
    sd_event_source *src = nullptr;
    // A loose accuracy (a tenth of the interval, at most 1 s) lets the kernel batch this
    // wakeup with others; the check is not urgent.
    const uint64_t accuracy = std::min<uint64_t>(1'000'000, std::max<uint64_t>(1, opts_.check_interval_usec / 10));
    if (int r = sd_event_add_time_relative(ev, &src, CLOCK_MONOTONIC, opts_.check_interval_usec, accuracy, on_check,
                                           this);
        r < 0)
      return fail_errno(r, "arm the periodic check");
    check_timer_.reset(src);
  }
  if (auto r = setup_bus(); !r) return r;

  reconcile("start");
  (void)sd_notify(0, "READY=1");
  spdlog::info("ready: pin root {}, {} manifest director{}", opts_.pin_root, opts_.programs_dirs.size(),
               opts_.programs_dirs.size() == 1 ? "y" : "ies");
  int r = sd_event_loop(ev);
  (void)sd_notify(0, "STOPPING=1");
  if (r < 0) return fail_errno(r, "event loop");
  spdlog::info("stopping; programs stay attached and pinned under {}", opts_.pin_root);
  return {};
}

Result<void> Daemon::setup_bus() {
  sd_bus *b = nullptr;
  if (int r = sd_bus_open_system(&b); r < 0) return fail_errno(r, "connect to the system bus");
  bus_.reset(b);
  if (int r = register_manager(b, this, slots_); r < 0) return fail_errno(r, "register {}", kManagerPath);
  if (int r = register_programs(b, this, slots_); r < 0) return fail_errno(r, "register {}", kProgramPrefix);
  if (int r = sd_bus_request_name(b, kBusName, 0); r < 0) return fail_errno(r, "own bus name {}", kBusName);
  if (int r = sd_bus_attach_event(b, event_.get(), SD_EVENT_PRIORITY_NORMAL); r < 0)
    return fail_errno(r, "attach bus to event loop");
  return {};
}

Result<void> Daemon::watch_dirs() {
  constexpr uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB |
                            IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
  for (auto &dir : opts_.programs_dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      spdlog::info("manifest directory {} does not exist; not watched (reload after creating it)", dir);
      continue;
    }
    sd_event_source *src = nullptr;
    if (int r = sd_event_add_inotify(event_.get(), &src, dir.c_str(), mask, on_inotify, this); r < 0)
      return fail_errno(r, "watch {}", dir);
    sources_.emplace_back(src);
  }
  return {};
}

namespace {
uint64_t monotonic_usec() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000ULL + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}
}  // namespace

void Daemon::schedule_reconcile(bool complete) {
  // The loop's cached time is when this iteration woke; a reconcile earlier in the same
  // iteration may have taken longer than that, so read the clock itself.
  const uint64_t now = monotonic_usec();
  int enabled = SD_EVENT_OFF;
  if (timer_) (void)sd_event_source_get_enabled(timer_.get(), &enabled);
  if (enabled == SD_EVENT_OFF) {
    if (complete && now >= last_reconcile_usec_ + opts_.coalesce_usec) {
      reconcile("manifest change");
      return;
    }
    burst_start_usec_ = now;
  }
  // Wait for a quiet period after the last event, but never longer than coalesce_max_usec after
  // the first one, so that a writer that never stops cannot starve the reconcile.
  uint64_t deadline = std::min(now + opts_.coalesce_usec, burst_start_usec_ + opts_.coalesce_max_usec);
  if (timer_) {
    (void)sd_event_source_set_time(timer_.get(), deadline);
    (void)sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
    return;
  }
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_time(event_.get(), &src, CLOCK_MONOTONIC, deadline, /*accuracy: 1 us, not the 250 ms default*/ 1, on_timer, this); r < 0) {
    spdlog::error("cannot arm the reconcile timer: {}; reconciling now", std::strerror(-r));
    reconcile("manifest change");
    return;
  }
  timer_.reset(src);
}

void Daemon::reconcile(const char *why, bool reload) {
  // One bad input must never take the daemon (and with it the status of every program) down.
  try {
    reconcile_once(why, reload);
  } catch (const std::exception &e) {
    spdlog::error("reconcile ({}) aborted: {}", why, e.what());
    status_.state = "degraded";
  }
}

void Daemon::reconcile_once(const char *why, bool reload) {
  const auto t0 = std::chrono::steady_clock::now();
  if (reload && generation_ > 0) {
    // systemd 252 (RHEL 9) takes RELOADING=1 ... READY=1; MONOTONIC_USEC is what later versions
    // (Type=notify-reload) want alongside, and older ones ignore.
    (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", static_cast<unsigned long long>(monotonic_usec()));
  }
  DesiredState desired = load_desired(opts_.programs_dirs, &desired_cache_);
  // Report a manifest's errors when they change, not on every periodic check.
  for (auto &m : desired.manifests) {
    std::vector<std::string> now, known;
    for (auto &e : m.errors) now.push_back(e.str());
    for (auto &old : status_.manifests)
      if (old.path == m.path)
        for (auto &e : old.errors) known.push_back(e.str());
    if (now != known)
      for (auto &line : now) spdlog::warn("{}", line);
  }
  // Globs and "@primary" become one attach point per matching interface, from what the
  // namespaces they name hold right now; the link watcher reconciles again when that changes.
  const auto pattern_ns = pattern_netns(desired), primary_ns = pattern_netns(desired, /*primary_only=*/true);
  const InterfaceInventory inventory = read_interface_inventory(pattern_ns, primary_ns);
  std::vector<PatternNote> notes = expand_interfaces(desired, inventory);
  log_pattern_notes(notes, vanished_.update(desired, notes, inventory));
  notes.insert(notes.end(), vanished_.notes().begin(), vanished_.notes().end());
  ObservedState observed = kernel_->observe();
  auto changes = plan(desired, observed);
  for (auto &c : changes)
    if (c.kind != ChangeKind::Keep) spdlog::info("plan: {} {} ({})", to_string(c.kind), c.name, c.reason);
  ApplyReport report = apply(*kernel_, changes, observed, audit);
  ObservedState after = report.changes ? kernel_->observe() : std::move(observed);
  DaemonStatus before = std::move(status_);
  status_ = build_status(++generation_, desired, after, report, notes);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  size_t attached = 0;
  for (auto &p : status_.programs) attached += p.state == "attached";
  std::string summary = fmt::format("generation {}: {} of {} programs attached, {} kernel changes, state {}",
                                    generation_, attached, status_.programs.size(), report.changes, status_.state);
  const bool quiet = report.changes == 0 && before.state == status_.state;
  spdlog::log(quiet ? spdlog::level::debug : spdlog::level::info, "reconciled ({}) in {:.1f} ms: {}", why, ms, summary);
  (void)sd_notifyf(0, "%sSTATUS=%s", reload || generation_ == 1 ? "READY=1\n" : "", summary.c_str());
  publish(before);
  watch_links(desired, pattern_ns, primary_ns);
  last_reconcile_usec_ = monotonic_usec();
}

void Daemon::watch_links(const DesiredState &desired, const std::set<std::string> &pattern_ns,
                         const std::set<std::string> &primary_ns) {
  if (!links_) return;
  std::set<std::string> netns = pattern_ns;  // a pattern that matches nothing yet has no attach point
  netns.insert("");
  for (auto &p : desired.programs)
    if (is_network_type(p.type))
      for (auto &a : p.attach) netns.insert(a.netns);
  for (auto &[path, why] : links_->watch(netns, primary_ns))
    spdlog::debug("not watching interfaces in netns {}: {} (the periodic check covers it)", path, why);
}

void Daemon::log_pattern_notes(const std::vector<PatternNote> &notes, const std::vector<PatternNote> &gone) {
  // Expected states on a fleet, not errors: logged when they appear, not on every reconcile.
  std::set<std::string> now;
  for (auto &n : notes) {
    const std::string line =
        fmt::format("program {}: attach point '{}': {}", n.program, n.spec.target_label(n.type), n.message);
    now.insert(line);
    if (pattern_notes_.contains(line)) continue;
    if (n.kind == PatternNote::Failed) spdlog::warn("{}", line);
    else spdlog::info("{}; attached when one appears", line);
  }
  pattern_notes_ = std::move(now);
  for (auto &n : gone)
    spdlog::info("program {}: attach point '{}' (matched '{}'): {}; reported, not an error", n.program,
                 n.spec.target_label(n.type), n.spec.interface_pattern, n.message);
}

int Daemon::on_check(sd_event_source *src, uint64_t, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  d->reconcile("periodic check");
  (void)sd_event_source_set_time_relative(src, d->opts_.check_interval_usec);
  (void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
  return 0;
}

void Daemon::publish(const DaemonStatus &before) {
  if (!bus_) return;
  (void)sd_bus_emit_properties_changed(bus_.get(), kManagerPath, kManagerInterface, "State", "Generation", nullptr);
  std::unordered_map<std::string_view, const ProgramStatus *> was;
  was.reserve(before.programs.size());
  for (auto &q : before.programs) was.emplace(q.name, &q);
  for (auto &p : status_.programs) {
    auto it = was.find(p.name);
    const ProgramStatus *q = it == was.end() ? nullptr : it->second;
    const bool same =
        q && q->state == p.state && q->error == p.error && q->kernel_id == p.kernel_id && q->manifest == p.manifest;
    if (!same)
      (void)sd_bus_emit_properties_changed(bus_.get(), program_object_path(p.name).c_str(), kProgramInterface, "Type",
                                           "State", "Error", "Manifest", "KernelId", nullptr);
  }
}

int Daemon::on_signal(sd_event_source *, const struct signalfd_siginfo *si, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  if (si->ssi_signo == SIGHUP) {
    d->reconcile("SIGHUP", /*reload=*/true);
    return 0;
  }
  spdlog::info("received signal {}", si->ssi_signo);
  return sd_event_exit(d->event_.get(), 0);
}

int Daemon::on_inotify(sd_event_source *, const struct inotify_event *ev, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  spdlog::debug("inotify: {} mask {:#x}", ev->len ? ev->name : "", ev->mask);
  d->schedule_reconcile((ev->mask & IN_MOVED_TO) && ev->len && is_manifest_name(ev->name));
  return 0;
}

int Daemon::on_timer(sd_event_source *, uint64_t, void *userdata) {
  static_cast<Daemon *>(userdata)->reconcile("manifest change");
  return 0;
}

}  // namespace bpfrec
