#include "daemon/daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <sys/epoll.h>
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
#include "load/desired.h"
#include "load/discovery.h"
#include "reconcile/backoff.h"
#include "reconcile/executor.h"
#include "reconcile/identity.h"
#include "reconcile/plan.h"
#include "types/type.h"

namespace bpfrec {
namespace {

// MESSAGE_ID of the audit records in the journal: `journalctl MESSAGE_ID=ac99775c10214ad0b8a30c89cae1ed15`.
constexpr const char *kAuditMessageId = "ac99775c10214ad0b8a30c89cae1ed15";

// Whether stdout is the journal's stream (systemd.exec(5): JOURNAL_STREAM is "DEV:INODE" of it).
bool stdout_is_journal() {
  const char *js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  struct stat st {};
  if (fstat(STDOUT_FILENO, &st) != 0) return false;
  return fmt::format("{}:{}", static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino)) ==
         js;
}

uint64_t monotonic_usec() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000ULL + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

// A CLOCK_MONOTONIC time as wall-clock UTC (RFC 3339), for status.
std::string wall_time_of(uint64_t mono_usec) {
  struct timespec rt {};
  clock_gettime(CLOCK_REALTIME, &rt);
  const int64_t now_mono = static_cast<int64_t>(monotonic_usec());
  const int64_t at = static_cast<int64_t>(rt.tv_sec) * 1'000'000LL + rt.tv_nsec / 1000 +
                     (static_cast<int64_t>(mono_usec) - now_mono);
  const time_t secs = static_cast<time_t>(at / 1'000'000LL);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, (at % 1'000'000LL) / 1000);
}

// The XDP hooks (netns path -> interface names) that applying `changes` may change: where our
// own RTM_NEWLINK messages come from (LinkWatcher::absorb ignores their XDP part).
std::map<std::string, std::set<std::string>> xdp_hooks_touched(const std::vector<ProgramChange> &changes,
                                                               const ObservedState &observed) {
  std::map<std::string, std::set<std::string>> out;
  auto add_record = [&](const AttachRecord &r) {
    if (r.mechanism != Mechanism::Xdp && r.mechanism != Mechanism::XdpDispatcher) return;
    if (const NetIfAttach *n = r.spec.netif()) out[r.netns].insert(n->interface);
  };
  for (auto &st : observed.stale)
    for (auto &[_, r] : st.attachments) add_record(r);
  for (auto &c : changes) {
    if (c.kind == ChangeKind::Keep) continue;
    if (c.desired && descriptor(c.desired->type).attacher == AttacherKind::Xdp)
      for (auto &a : c.desired->attach)
        if (c.kind == ChangeKind::Replace ||
            std::find(c.attach.begin(), c.attach.end(), attach_key(c.desired->type, a)) != c.attach.end())
          if (const NetIfAttach *n = a.netif()) out[n->netns].insert(n->interface);
    auto it = observed.programs.find(c.name);
    if (it == observed.programs.end()) continue;
    for (auto &[_, r] : it->second.attachments) add_record(r);  // detached, swapped or put back
    for (auto &[_, r] : it->second.lost) add_record(r);
  }
  return out;
}

}  // namespace

// One reconcile between its plan and its end. The plan's ProgramChanges point into `desired`
// and the Execution into `changes` and `observed`: the Run owns all of them, at fixed addresses.
struct Daemon::Run {
  std::string why;
  bool reload = false;
  std::chrono::steady_clock::time_point t0;  // when the first plan began
  uint64_t started_usec = 0;                 // CLOCK_MONOTONIC of that
  unsigned plans = 1;
  DesiredState desired;
  std::set<std::string> pattern_ns, primary_ns;
  std::vector<PatternNote> notes;
  std::shared_ptr<const ObservedState> observed;  // never null once planned
  std::vector<ProgramChange> changes;
  std::vector<AttachId> deferred;
  std::map<std::string, std::set<std::string>> touched;  // XDP hooks the plan may change
  std::unique_ptr<Execution> exec;
  size_t steps_this_plan = 0;
  std::vector<MessagePtr> reloads;  // Reload() calls answered when this run completes
};

namespace {
// "a; b; c; 2 more"
std::string join_reasons(const std::vector<std::string> &why) {
  std::string out;
  for (size_t i = 0; i < why.size() && i < 3; ++i) out += (i ? "; " : "") + why[i];
  if (why.size() > 3) out += fmt::format("; {} more", why.size() - 3);
  return out;
}
}  // namespace

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)), journal_(stdout_is_journal()) {}

void Daemon::audit(const AuditEvent &e) {
  // One record per kernel change: the audit trail (program, manifest, bytecode digest, kernel
  // ids, attach point). A failure that the previous reconcile logged already (e.g. a program
  // type the kernel lacks, at every periodic check) goes to debug: a state change is logged once.
  const std::string line = audit_line(e);
  const std::string key = fmt::format("{}\x1f{}\x1f{}", e.action, e.program, e.target);
  bool repeated = false;
  if (!e.error.empty()) {
    auto [it, fresh] = failing_.try_emplace(key, e.error);
    repeated = !fresh && it->second == e.error;
    it->second = e.error;
  } else {
    failing_.erase(key);
  }
  if (repeated) {
    spdlog::debug("{} (as before)", line);
    return;
  }
  if (journal_) {
    // Under journald: one structured record, the full error (a verifier log) in a field of its own.
    int r = sd_journal_send("MESSAGE=%s", line.c_str(), "MESSAGE_ID=%s", kAuditMessageId, "PRIORITY=%d",
                            e.error.empty() ? LOG_INFO : LOG_ERR, "SYSLOG_IDENTIFIER=bpfman-reconciler",
                            "BPFMAN_ACTION=%s", e.action.c_str(), "BPFMAN_PROGRAM=%s", e.program.c_str(),
                            "BPFMAN_MANIFEST=%s", e.manifest.c_str(), "BPFMAN_SHA256=%s", e.bytecode_sha256.c_str(),
                            "BPFMAN_PROG_ID=%u", e.prog_id, "BPFMAN_TARGET=%s", e.target.c_str(),
                            "BPFMAN_MECHANISM=%s", e.mechanism.c_str(), "BPFMAN_LINK_ID=%u", e.link_id,
                            "BPFMAN_RESULT=%s", e.error.empty() ? "ok" : "failed", "BPFMAN_ERROR=%s", e.error.c_str(),
                            "BPFMAN_IMAGE=%s", e.image.c_str(), "BPFMAN_IMAGE_DIGEST=%s", e.image_digest.c_str(),
                            nullptr);
    if (r >= 0) return;
  }
  if (e.error.empty()) spdlog::info("{}", line);
  else spdlog::error("{}", line);
}

Daemon::~Daemon() {
  // The run borrows the kernel and holds bus messages; bus slots and event sources refer to
  // this object: drop them before the bus and loop.
  run_.reset();
  waiting_reloads_.clear();
  step_.reset();
  slots_.clear();
  sources_.clear();
  timer_.reset();
  check_timer_.reset();
  grace_timer_.reset();
  inotify_source_.reset();
  dir_watches_.clear();
  parent_watches_.clear();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  inotify_fd_ = -1;
  retry_timer_.reset();
  bus_timer_.reset();
  links_.reset();
  bus_.reset();
  event_.reset();
}

Result<void> Daemon::run() {
  if (auto r = ensure_pin_root(opts_.pin_root); !r) return r;
  if (auto r = ensure_tracefs(); !r) spdlog::warn("{}; tracepoint and uprobe programs will fail to attach", r.error().message);
  install_libbpf_logging();
  images_ = std::make_unique<ImageManager>(opts_.images, [this](const std::string &why) {
    schedule_reconcile(why, /*complete=*/true, Trigger::Change);
  });
  kernel_ = make_libbpf_kernel(opts_.pin_root, opts_.tc, opts_.xdp, images_->objects());

  sd_event *ev = nullptr;
  if (int r = sd_event_default(&ev); r < 0) return fail_errno(r, "sd_event_default");
  event_.reset(ev);
  sigset_t mask;
  sigemptyset(&mask);
  // SIGCHLD: the image puller's children, watched with sd_event_add_child(3), which needs it
  // blocked (before any thread starts).
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&mask, sig);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return fail_errno(errno, "block signals");
  // Without a state directory path bytecode still works (its bytes kept in memory, as before);
  // image bytecode fails with the reason.
  if (auto r = images_->open(event_.get()); !r)
    spdlog::error("{}; image bytecode cannot be pulled, and loaded bytecode is kept in memory only", r.error().message);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    sd_event_source *src = nullptr;
    if (int r = sd_event_add_signal(ev, &src, sig, on_signal, this); r < 0) return fail_errno(r, "watch signal {}", sig);
    sources_.emplace_back(src);
  }
  // Pings the service manager's watchdog from the loop when WATCHDOG_USEC is set.
  (void)sd_event_set_watchdog(ev, 1);

  if (auto r = watch_dirs(); !r) return r;
  links_ = std::make_unique<LinkWatcher>(ev, [this](const std::string &why) { schedule_reconcile("link change: " + why); });
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
  if (auto r = setup_bus(/*initial=*/true); !r) return r;

  // READY=1 (and the "ready" line) once this first reconcile is complete: finish_reconcile().
  reconcile("start");
  int r = sd_event_loop(ev);
  (void)sd_notify(0, "STOPPING=1");
  if (run_) {
    spdlog::info("stopped in the middle of the reconcile ({}) after {} of {} steps; every step done is whole, "
                 "the next start plans the rest", run_->why, run_->exec ? run_->exec->done() : 0,
                 run_->exec ? run_->exec->total() : 0);
    answer_reloads(run_->reloads, "the daemon is stopping; the reconcile was interrupted");
  }
  answer_reloads(waiting_reloads_, "the daemon is stopping; the reconcile was interrupted");
  run_.reset();
  step_.reset();
  if (r < 0) return fail_errno(r, "event loop");
  spdlog::info("stopping; programs stay attached and pinned under {}", opts_.pin_root);
  return {};
}

Result<void> Daemon::setup_bus(bool initial) {
  sd_bus *b = nullptr;
  if (int r = sd_bus_open_system(&b); r < 0) return fail_errno(r, "connect to the system bus");
  bus_.reset(b);
  // Stay in the loop when the bus goes away: the Disconnected signal below reconnects.
  (void)sd_bus_set_exit_on_disconnect(b, 0);
  if (int r = register_manager(b, this, slots_); r < 0) return fail_errno(r, "register {}", kManagerPath);
  if (int r = register_programs(b, this, slots_); r < 0) return fail_errno(r, "register {}", kProgramPrefix);
  sd_bus_slot *slot = nullptr;
  // sd-bus synthesizes this signal locally when the connection breaks (sd-bus(3): the
  // org.freedesktop.DBus.Local interface); a local match is not sent to the bus.
  if (int r = sd_bus_match_signal(b, &slot, nullptr, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                  "Disconnected", on_bus_disconnected, this);
      r < 0)
    return fail_errno(r, "watch for the bus going away");
  slots_.emplace_back(slot);
  // Every message that reaches us, at debug level: what woke the loop.
  slot = nullptr;
  if (int r = sd_bus_add_filter(b, &slot, on_bus_message, this); r < 0) return fail_errno(r, "add a bus filter");
  slots_.emplace_back(slot);
  if (initial) {
    if (int r = sd_bus_request_name(b, kBusName, 0); r < 0) return fail_errno(r, "own bus name {}", kBusName);
  } else {
    slot = nullptr;
    if (int r = sd_bus_request_name_async(b, &slot, kBusName, 0, on_name_acquired_reply, this); r < 0)
      return fail_errno(r, "own bus name {}", kBusName);
    slots_.emplace_back(slot);
  }
  if (int r = sd_bus_attach_event(b, event_.get(), SD_EVENT_PRIORITY_NORMAL); r < 0)
    return fail_errno(r, "attach bus to event loop");
  return {};
}

namespace {
constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// The parent sees the manifest directory itself created, deleted or renamed (a swap by rename).
constexpr uint32_t kParentMask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR;

// "/etc/bpfman/programs.d/" -> "/etc/bpfman/programs.d": parent_path() and filename() of it.
std::filesystem::path dir_path(const std::string &dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  return p.has_filename() ? p : p.parent_path();
}
}  // namespace

namespace {
constexpr uint64_t kBusRetryInitialUsec = 100'000, kBusRetryMaxUsec = 5'000'000;
}

void Daemon::bus_lost(const char *why) {
  if (bus_timer_) {
    // Already reconnecting: this attempt failed.
    schedule_bus_reconnect();
    return;
  }
  bus_lost_usec_ = monotonic_usec();
  bus_attempts_ = 0;
  spdlog::warn("lost the system bus ({}); programs stay attached; connecting again", why);
  schedule_bus_reconnect();
}

void Daemon::schedule_bus_reconnect() {
  const uint64_t delay = backoff_delay_usec(bus_attempts_ + 1, kBusRetryInitialUsec, kBusRetryMaxUsec);
  if (bus_timer_) {
    (void)sd_event_source_set_time_relative(bus_timer_.get(), delay);
    (void)sd_event_source_set_enabled(bus_timer_.get(), SD_EVENT_ONESHOT);
    return;
  }
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_time_relative(event_.get(), &src, CLOCK_MONOTONIC, delay, 10'000, on_bus_reconnect, this);
      r < 0) {
    spdlog::error("cannot arm the bus reconnect timer: {}; exiting so that the service manager restarts us",
                  std::strerror(-r));
    (void)sd_event_exit(event_.get(), 1);
    return;
  }
  bus_timer_.reset(src);
}

int Daemon::on_bus_message(sd_bus_message *m, void *, sd_bus_error *) {
  if (spdlog::should_log(spdlog::level::debug)) {
    uint8_t type = 0;
    (void)sd_bus_message_get_type(m, &type);
    const char *member = sd_bus_message_get_member(m), *sender = sd_bus_message_get_sender(m);
    spdlog::debug("wakeup: bus {} {} from {}",
                  type == SD_BUS_MESSAGE_METHOD_CALL     ? "call"
                  : type == SD_BUS_MESSAGE_METHOD_RETURN ? "reply"
                  : type == SD_BUS_MESSAGE_SIGNAL        ? "signal"
                                                         : "error",
                  member ? member : "-", sender ? sender : "-");
  }
  return 0;
}

int Daemon::on_bus_disconnected(sd_bus_message *, void *userdata, sd_bus_error *) {
  // Inside the bus's own dispatch: the connection is dropped from the timer, not here.
  static_cast<Daemon *>(userdata)->bus_lost("disconnected");
  return 0;
}

int Daemon::on_bus_reconnect(sd_event_source *, uint64_t, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  spdlog::debug("wakeup: bus-reconnect-timer");
  ++d->bus_attempts_;
  d->slots_.clear();
  d->bus_.reset();
  if (auto r = d->setup_bus(/*initial=*/false); !r) {
    spdlog::debug("bus reconnect attempt {}: {}", d->bus_attempts_, r.error().message);
    d->slots_.clear();
    d->bus_.reset();
    d->schedule_bus_reconnect();
  }
  // Connected; on_name_acquired_reply says whether the name is ours again.
  return 0;
}

int Daemon::on_name_acquired_reply(sd_bus_message *m, void *userdata, sd_bus_error *) {
  auto *d = static_cast<Daemon *>(userdata);
  uint32_t ret = 0;
  std::string problem;
  if (const sd_bus_error *e = sd_bus_message_get_error(m))
    problem = fmt::format("{}: {}", e->name ? e->name : "error", e->message ? e->message : "");
  else if (sd_bus_message_read(m, "u", &ret) < 0 || ret != 1 /* DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER */)
    problem = fmt::format("RequestName answered {}", ret);
  if (!problem.empty()) {
    spdlog::warn("bus reconnect attempt {}: cannot own {}: {}", d->bus_attempts_, kBusName, problem);
    d->schedule_bus_reconnect();
    return 0;
  }
  const double secs = static_cast<double>(monotonic_usec() - d->bus_lost_usec_) / 1e6;
  spdlog::info("connected to the system bus again after {:.1f} s ({} attempt{}); {} is ours again", secs,
               d->bus_attempts_, d->bus_attempts_ == 1 ? "" : "s", kBusName);
  d->bus_timer_.reset();
  d->bus_attempts_ = 0;
  return 0;
}

Result<void> Daemon::watch_dirs() {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) return fail_errno(errno, "inotify_init1");
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_io(event_.get(), &src, inotify_fd_, EPOLLIN, on_inotify_fd, this); r < 0)
    return fail_errno(-r, "watch the inotify fd");
  inotify_source_.reset(src);
  std::set<std::string> parents;
  for (auto &dir : opts_.programs_dirs) {
    const std::string parent = dir_path(dir).parent_path().string();
    if (parent.empty() || !parents.insert(parent).second) continue;
    // IN_MASK_ADD: a parent that is also a manifest directory keeps both masks on its one watch.
    const int wd = ::inotify_add_watch(inotify_fd_, parent.c_str(), kParentMask | IN_MASK_ADD);
    if (wd < 0) {
      spdlog::info("cannot watch {} ({}); a manifest directory created or replaced there is seen by the periodic "
                   "check", parent, std::strerror(errno));
      continue;
    }
    parent_watches_[wd] = parent;
  }
  rewatch_dirs();
  for (auto &dir : opts_.programs_dirs)
    if (!dir_watches_.contains(dir))
      spdlog::info("manifest directory {} does not exist; watched for when it appears", dir);
  return {};
}

void Daemon::rewatch_dirs() {
  auto drop = [&](std::map<std::string, DirWatch>::iterator it) {
    // A watch shared with a parent's (the same inode) stays for the parent.
    if (!parent_watches_.contains(it->second.wd)) (void)::inotify_rm_watch(inotify_fd_, it->second.wd);
    dir_watches_.erase(it);
  };
  for (auto &dir : opts_.programs_dirs) {
    struct stat st {};
    const bool exists = ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    auto it = dir_watches_.find(dir);
    if (!exists) {
      if (it != dir_watches_.end()) drop(it);
      continue;
    }
    if (it != dir_watches_.end() && it->second.dev == st.st_dev && it->second.ino == st.st_ino) continue;
    if (it != dir_watches_.end()) drop(it);  // replaced: the old watch follows the old inode
    const int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask | IN_MASK_ADD);
    if (wd < 0) {
      spdlog::warn("cannot watch {}: {}; changes there are seen by the periodic check", dir, std::strerror(errno));
      continue;
    }
    dir_watches_[dir] = DirWatch{wd, st.st_dev, st.st_ino};
  }
}

int Daemon::on_inotify_fd(sd_event_source *, int fd, uint32_t, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  alignas(struct inotify_event) char buf[64 * 1024];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return 0;  // EAGAIN: nothing left; the fd stays in the loop
  for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(struct inotify_event)) <= n;) {
    const auto *ev = reinterpret_cast<const struct inotify_event *>(buf + off);
    off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
    if (ev->mask & IN_Q_OVERFLOW) {
      // Events were lost: whatever they were, read the directories again.
      spdlog::debug("inotify: queue overflow");
      d->rewatch_dirs();
      d->manifest_changed_ = true;
      d->schedule_reconcile("manifest change (inotify queue overflow)", false, Trigger::Manifest);
      continue;
    }
    if (ev->mask & IN_IGNORED) {
      // The kernel dropped the watch (its directory was deleted): forget it; rewatch_dirs()
      // adds a new one when the directory is back.
      std::erase_if(d->dir_watches_, [&](const auto &kv) { return kv.second.wd == ev->wd; });
      d->parent_watches_.erase(ev->wd);
      continue;
    }
    // Looked up per event: a handler may have replaced watches (rewatch_dirs()).
    const bool dir = std::any_of(d->dir_watches_.begin(), d->dir_watches_.end(),
                                 [&](const auto &kv) { return kv.second.wd == ev->wd; });
    const bool parent = d->parent_watches_.contains(ev->wd);
    if (dir) d->on_dir_event(*ev);
    if (parent) d->on_parent_event(*ev);
  }
  return 0;
}

void Daemon::on_dir_event(const struct inotify_event &ev) {
  spdlog::debug("wakeup: inotify {} mask {:#x}", ev.len ? ev.name : "", ev.mask);
  manifest_changed_ = true;
  schedule_reconcile("manifest change", (ev.mask & IN_MOVED_TO) && ev.len && is_manifest_name(ev.name),
                     Trigger::Manifest);
}

void Daemon::on_parent_event(const struct inotify_event &ev) {
  if (!ev.len) return;
  for (auto &dir : opts_.programs_dirs) {
    if (dir_path(dir).filename() != ev.name) continue;
    spdlog::debug("inotify: manifest directory {} mask {:#x}", dir, ev.mask);
    rewatch_dirs();
    manifest_changed_ = true;
    // A directory renamed into place is a whole change, like a manifest renamed into place.
    schedule_reconcile(fmt::format("manifest directory {} {}", dir,
                                   (ev.mask & (IN_MOVED_TO | IN_CREATE)) ? "appeared" : "went away"),
                       (ev.mask & IN_MOVED_TO) != 0, Trigger::Manifest);
    return;
  }
}

void Daemon::schedule_reconcile(const std::string &why, bool complete, Trigger trigger) {
  // The loop's cached time is when this iteration woke; a reconcile earlier in the same
  // iteration may have taken longer than that, so read the clock itself.
  const uint64_t now = monotonic_usec();
  int enabled = SD_EVENT_OFF;
  if (timer_) (void)sd_event_source_get_enabled(timer_.get(), &enabled);
  if (enabled == SD_EVENT_OFF) {
    if (complete && !run_ && now >= last_reconcile_usec_ + opts_.coalesce_usec) {
      reconcile(why, false, trigger);
      return;
    }
    burst_start_usec_ = now;
    pending_why_.clear();
    pending_trigger_ = Trigger::Manifest;
  }
  if (trigger != Trigger::Manifest) pending_trigger_ = Trigger::Change;
  if (std::find(pending_why_.begin(), pending_why_.end(), why) == pending_why_.end()) pending_why_.push_back(why);
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
    reconcile(why, false, trigger);
    return;
  }
  timer_.reset(src);
}


void Daemon::reconcile(const std::string &why, bool reload, Trigger trigger) {
  if (run_) {
    if (trigger == Trigger::Check) {
      spdlog::debug("{}: a reconcile ({}) is being applied and observes the kernel at its end", why, run_->why);
      return;
    }
    if (!replan_)
      spdlog::info("{} while the reconcile ({}) is applied ({} of {} steps): the rest of its plan is made again "
                   "after the current step", why, run_->why, run_->exec->done(), run_->exec->total());
    replan_ = true;
    replan_reload_ |= reload;
    replan_manifest_only_ &= trigger == Trigger::Manifest && !reload;
    if (std::find(replan_why_.begin(), replan_why_.end(), why) == replan_why_.end()) replan_why_.push_back(why);
    if (status_.reconciling) status_.reconciling->replan = true;
    return;
  }
  begin_reconcile(why, reload);
}

void Daemon::reload_call(sd_bus_message *call) {
  waiting_reloads_.emplace_back(sd_bus_message_ref(call));
  reconcile("D-Bus Reload()", /*reload=*/true);
}

void Daemon::answer_reloads(std::vector<MessagePtr> &calls, const std::string &error) {
  for (auto &m : calls) {
    // Succeeds even when manifests are invalid: a failing reload would abort an OpenShift
    // NodeDisruptionPolicy rollout; the errors are in the status. A call that came over a bus
    // connection that is gone since cannot be answered (the caller got a disconnect).
    int r = error.empty() ? sd_bus_reply_method_return(m.get(), nullptr)
                          : sd_bus_reply_method_errorf(m.get(), SD_BUS_ERROR_FAILED, "%s", error.c_str());
    if (r < 0) spdlog::debug("cannot answer a Reload() call: {}", std::strerror(-r));
  }
  calls.clear();
}

void Daemon::begin_reconcile(std::string why, bool reload) {
  const auto t_begin = std::chrono::steady_clock::now();
  // A replan carries on the run it replaces: its reasons, Reload() calls and start time.
  std::unique_ptr<Run> previous = std::move(run_);
  if (replan_) {
    std::vector<std::string> reasons;
    if (!why.empty()) reasons.push_back(why);
    for (auto &w : replan_why_)
      if (std::find(reasons.begin(), reasons.end(), w) == reasons.end()) reasons.push_back(w);
    why = join_reasons(reasons);
    reload |= replan_reload_;
  }
  replan_ = false;
  replan_reload_ = false;
  replan_manifest_only_ = true;
  replan_why_.clear();
  auto run = std::make_unique<Run>();
  if (previous) {
    run->why = previous->why;
    if (why != previous->why) run->why += "; then " + why;
    run->reload = previous->reload || reload;
    run->t0 = previous->t0;
    run->started_usec = previous->started_usec;
    run->plans = previous->plans + 1;
    run->reloads = std::move(previous->reloads);
    previous.reset();
  } else {
    run->why = why;
    run->reload = reload;
    run->t0 = t_begin;
    run->started_usec = monotonic_usec();
  }
  for (auto &m : waiting_reloads_) run->reloads.push_back(std::move(m));
  waiting_reloads_.clear();
  run_ = std::move(run);
  Run &r = *run_;
  try {
    if (reload && generation_ > 0 && !reloading_) {
      // systemd 252 (RHEL 9) takes RELOADING=1 ... READY=1; MONOTONIC_USEC is what later versions
      // (Type=notify-reload) want alongside, and older ones ignore.
      (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", static_cast<unsigned long long>(monotonic_usec()));
      reloading_ = true;
    }
    // A reload, or a manifest change (an operator's), tries failed pulls again at once.
    if (reload || manifest_changed_) images_->retry_now(reload);
    r.desired = load_desired(opts_.programs_dirs, vanished_dirs(), &desired_cache_, &images_->sources());
    images_->request(r.desired);
    // Report a manifest's errors when they change, not on every periodic check. (A scan of the
    // last status per manifest was 500 x 500 path compares at 500 manifests: 5% of a no-op reload.)
    {
      std::map<std::string_view, const ManifestStatus *> last;
      for (auto &old : status_.manifests)
        if (!old.errors.empty()) last.emplace(old.path, &old);
      for (auto &m : r.desired.manifests) {
        const auto it = last.find(m.path);
        if (m.errors.empty() && it == last.end()) continue;
        std::vector<std::string> now, known;
        for (auto &e : m.errors) now.push_back(e.str());
        if (it != last.end())
          for (auto &e : it->second->errors) known.push_back(e.str());
        if (now != known)
          for (auto &line : now) spdlog::warn("{}", line);
      }
    }
    // Globs and "@primary" become one attach point per matching interface, from what the
    // namespaces they name hold right now; the link watcher reconciles again when that changes.
    r.pattern_ns = pattern_netns(r.desired);
    r.primary_ns = pattern_netns(r.desired, /*primary_only=*/true);
    const InterfaceInventory inventory = read_interface_inventory(r.pattern_ns, r.primary_ns);
    r.notes = expand_interfaces(r.desired, inventory);
    log_pattern_notes(r.notes, vanished_.update(r.desired, r.notes, inventory));
    r.notes.insert(r.notes.end(), vanished_.notes().begin(), vanished_.notes().end());
    auto observed = kernel_->observe_shared();
    if (!observed) {
      // Planning against "nothing pinned" would load every program again, and a load starts
      // by clearing its directory: keep what runs, and the last status, until it can be read.
      const std::string &cause = observed.error().message;
      if (cause != observe_error_)
        spdlog::error("cannot observe the pin root: {}; nothing is changed until it can be read again", cause);
      observe_error_ = cause;
      abort_reconcile(fmt::format("reconcile ({}) not planned: {}", r.why, cause), /*log=*/false);
      return;
    }
    r.observed = std::move(*observed);
    if (!observe_error_.empty()) spdlog::info("the pin root can be read again");
    observe_error_.clear();
    if (quiet_ && r.plans == 1 && !status_.reconciling && backoff_.size() == 0)
      if (auto key = quiet_key(r.observed->version, r.desired, r.notes); key && *key == *quiet_) {
        manifest_changed_ = false;
        finish_quiet();
        return;
      }
    r.changes = plan(r.desired, *r.observed);
    // Attach points that keep failing wait for their retry (backoff.h); an explicit reload, and a
    // manifest change (something an operator did: it may have removed what blocked them, e.g.
    // another program on the hook), try them all now. Neither is caused by a reconcile, so this
    // cannot loop; link events and the periodic check can, and respect the backoff.
    if (reload || manifest_changed_) backoff_.clear();
    manifest_changed_ = false;
    {
      std::set<AttachId> wanted;
      for (auto &p : r.desired.programs)
        for (auto &a : p.attach) wanted.emplace(p.name, attach_key(p.type, a));
      backoff_.retain(wanted);
    }
    r.deferred = defer_backed_off(r.changes, *r.observed, backoff_, monotonic_usec());
    for (auto &c : r.changes) {
      if (c.kind == ChangeKind::Update && c.attach.empty() && c.detach.empty() && c.forget.empty()) {
        c.kind = ChangeKind::Keep;
        c.reason = "attach points wait for their retry";
      }
      if (c.kind == ChangeKind::Keep) continue;
      // The same step as planned before for this program, which has not converged since: it did
      // not take, and its failure is logged (once).
      std::string line = fmt::format("plan: {} {} ({})", to_string(c.kind), c.name, c.reason);
      auto [it, fresh] = plans_logged_.try_emplace(c.name, line);
      spdlog::log(!fresh && it->second == line ? spdlog::level::debug : spdlog::level::info, "{}", line);
      it->second = std::move(line);
    }
    for (auto &c : r.changes)
      if (c.kind == ChangeKind::Keep && c.reason != "attach points wait for their retry") plans_logged_.erase(c.name);
    r.touched = xdp_hooks_touched(r.changes, *r.observed);
    r.exec = std::make_unique<Execution>(*kernel_, r.changes, *r.observed, [this](const AuditEvent &e) { audit(e); });
    spdlog::debug("reconcile ({}): plan {} made in {:.1f} ms: {} steps", r.why, r.plans,
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_begin).count(),
                  r.exec->total());
    if (r.exec->total() > 0 || status_.reconciling) {
      const bool first = !status_.reconciling;
      status_.reconciling = ReconcileProgress{r.why,          wall_time_of(r.started_usec), 0, r.exec->total(),
                                              r.exec->next_program(), r.plans, false};
      if (first && bus_)
        (void)sd_bus_emit_properties_changed(bus_.get(), kManagerPath, kManagerInterface, "Reconciling", nullptr);
    }
  } catch (const std::exception &e) {
    abort_reconcile(fmt::format("reconcile ({}) aborted while planning: {}", r.why, e.what()));
    return;
  }
  continue_reconcile(t_begin);
}

void Daemon::continue_reconcile(std::chrono::steady_clock::time_point slice_start) {
  const auto budget = std::chrono::microseconds(opts_.slice_usec);
  Run &r = *run_;
  try {
    const auto elapsed = std::chrono::steady_clock::now() - slice_start;
    if (!r.exec->finished() && elapsed < budget) {
      r.steps_this_plan += r.exec->run_for(budget - elapsed);
      // Our own XDP changes are in the link sockets now: read them before the loop does, so
      // that they never count as a change that asks for a replan (issue 11 bug 5).
      if (links_) links_->absorb(r.touched);
      if (status_.reconciling) {
        status_.reconciling->steps_done = r.exec->done();
        status_.reconciling->next = r.exec->next_program();
      }
    }
    if (!r.exec->finished() || std::chrono::steady_clock::now() - slice_start >= budget) {
      // Serve what the bus holds now before the next slice. The loop alone did not: with a
      // Reload() call pending and inotify events queued, Describe() calls waited for the whole
      // apply (Responsive.Watchdog...), the step timer and the other sources winning every
      // iteration. Bounded: a flood of calls cannot hold the apply either.
      for (int i = 0; i < 32 && bus_ && run_; ++i)
        if (sd_bus_process(bus_.get(), nullptr) <= 0) break;
      if (!run_) return;
      arm_step();
      return;
    }
    finish_reconcile();
  } catch (const std::exception &e) {
    abort_reconcile(fmt::format("reconcile ({}) aborted at step {} of {}: {}", r.why, r.exec ? r.exec->done() : 0,
                                r.exec ? r.exec->total() : 0, e.what()));
  }
}

void Daemon::arm_step() {
  // A timer that is already due, not a defer source: sd-event leaves a defer source pending
  // from its first enabling on, so it stays the oldest pending source and is dispatched before
  // the bus every time (the bus starved: seen in Responsive.*). A timer is marked pending
  // afresh in each iteration's wait, together with the bus and signal fds, and sources of
  // the same priority are dispatched oldest first: the apply and a busy bus take turns.
  if (step_) {
    (void)sd_event_source_set_time(step_.get(), 0);
    (void)sd_event_source_set_enabled(step_.get(), SD_EVENT_ONESHOT);
    return;
  }
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_time(event_.get(), &src, CLOCK_MONOTONIC, 0, 1, on_step, this); r < 0) {
    // Without it the loop cannot come back to the apply: finish it here, as before slicing.
    spdlog::error("cannot arm the next slice of the reconcile: {}; applying the rest at once", std::strerror(-r));
    if (!run_) return;
    Run &run = *run_;
    while (!run.exec->finished()) run.steps_this_plan += run.exec->run_for(std::chrono::hours(1));
    finish_reconcile();
    return;
  }
  step_.reset(src);
}

int Daemon::on_step(sd_event_source *, uint64_t, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  const auto now = std::chrono::steady_clock::now();
  if (!d->run_) {
    // A finished run left a replan for this slice.
    if (d->replan_) d->begin_reconcile("", false);
    return 0;
  }
  Run &r = *d->run_;
  if (d->replan_ && d->replan_manifest_only_ && r.steps_this_plan > 0 && d->desired_unchanged(r.desired)) {
    spdlog::debug("reconcile ({}): the manifests are as the plan saw them; going on", r.why);
    d->replan_ = false;
    d->replan_why_.clear();
    if (d->status_.reconciling) d->status_.reconciling->replan = false;
  }
  if (d->replan_ && r.steps_this_plan > 0 && !r.exec->finished()) {
    // Drop the rest of the plan: what ran is in the kernel and its pins; a new plan from the new
    // desired state and a new observation does the rest, nothing twice. At least one slice of
    // every plan runs first, so a stream of changes cannot keep the apply from moving.
    spdlog::info("reconcile ({}): plan {} stopped after {} of {} steps; planning again", r.why, r.plans,
                 r.exec->done(), r.exec->total());
    record_attempts(d->backoff_, r.exec->applied(), r.exec->report(), monotonic_usec());
    d->begin_reconcile("", false);  // the replan's reasons and reload flag are pending
    return 0;
  }
  d->continue_reconcile(now);
  return 0;
}

std::string Daemon::summary(unsigned changes) const {
  size_t attached = 0;
  for (auto &p : status_.programs) attached += p.state == ProgramState::Attached;
  return fmt::format("generation {}: {} of {} programs attached, {} kernel changes, state {}", generation_, attached,
                     status_.programs.size(), changes, to_string(status_.state));
}

std::optional<std::string> Daemon::quiet_key(uint64_t observed_version, const DesiredState &desired,
                                             const std::vector<PatternNote> &notes) const {
  const auto &c = desired_cache_.last();
  if (c.manifest_reads != 0 || c.object_reads != 0) return std::nullopt;
  // Every manifest came from the cache, unchanged: what a program is made of (type, function,
  // globals, map group) is as before, and only what the cache does not decide is in the key:
  // which manifests there are (and so which program keeps a name), the bytecode digests, and
  // the attach points after interface expansion.
  constexpr char kSep = '\x1f';
  std::string out = std::to_string(observed_version);
  auto field = [&](std::string_view v) {
    out += kSep;
    out += v;
  };
  for (auto &m : desired.manifests) {
    field("m");
    field(m.path);
    field(to_string(m.state));
    for (auto &e : m.errors) field(e.str());
  }
  for (auto &p : desired.programs) {
    field("p");
    field(p.name);
    field(p.manifest);
    field(p.bytecode_digest);
    for (auto &a : p.attach) field(attach_key(p.type, a));
  }
  for (auto &w : desired.waiting) {
    field("w");
    field(w.name);
    field(w.reference);
    field(w.reason);
  }
  for (auto &n : notes) {
    field("n");
    field(std::to_string(static_cast<int>(n.kind)));
    field(n.program);
    field(n.spec.canonical(n.type));
    field(n.message);
  }
  return out;
}

void Daemon::finish_quiet() {
  Run &r = *run_;
  status_.generation = ++generation_;
  const std::string summary = this->summary(0);
  spdlog::debug("reconciled ({}) in {:.1f} ms: nothing changed since the last reconcile: {}", r.why,
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r.t0).count(), summary);
  (void)sd_notifyf(0, "%sSTATUS=%s", r.reload ? "READY=1\n" : "", summary.c_str());
  reloading_ = false;
  if (bus_)
    (void)sd_bus_emit_properties_changed(bus_.get(), kManagerPath, kManagerInterface, "State", "Generation", nullptr);
  last_reconcile_usec_ = monotonic_usec();
  end_run();
}

void Daemon::end_run() {
  std::vector<MessagePtr> calls;
  if (run_) calls = std::move(run_->reloads);
  run_.reset();
  answer_reloads(calls);
  // Changes that arrived during the last slice: planned in the next one.
  if (replan_) arm_step();
}

void Daemon::abort_reconcile(const std::string &what, bool log) {
  quiet_.reset();
  spdlog::log(log ? spdlog::level::err : spdlog::level::debug, "{}", what);
  status_.state = DaemonState::Degraded;
  status_.error = what;
  status_.reconciling.reset();
  if (reloading_) {
    (void)sd_notify(0, "READY=1");
    reloading_ = false;
  }
  last_reconcile_usec_ = monotonic_usec();
  end_run();
}

bool Daemon::desired_unchanged(const DesiredState &desired) {
  const DesiredState now = load_desired(opts_.programs_dirs, vanished_dirs(), &desired_cache_, &images_->sources());
  auto key = [](const DesiredState &d) {
    std::vector<std::string> out;
    for (auto &m : d.manifests) out.push_back(fmt::format("m\x1f{}\x1f{}\x1f{}", m.path, to_string(m.state), m.errors.size()));
    for (auto &p : d.programs) out.push_back(fmt::format("p\x1f{}\x1f{}\x1f{}", p.name, program_digest(p), p.manifest));
    return out;
  };
  return key(now) == key(desired);
}

void Daemon::finish_reconcile() {
  Run &r = *run_;
  ApplyReport report = r.exec->report();
  record_attempts(backoff_, r.exec->applied(), report, monotonic_usec());
  for (auto &id : r.deferred)
    if (const RetryState *st = backoff_.find(id)) report.attach_errors[id.first][id.second] = st->error;
  for (auto &p : r.desired.programs)
    for (auto &a : p.attach) {
      const AttachId id{p.name, attach_key(p.type, a)};
      if (const RetryState *st = backoff_.find(id))
        report.retries[id.first][id.second] = AttachRetry{st->failures, wall_time_of(st->next_retry_usec)};
    }
  const size_t steps = r.exec->total();
  r.exec.reset();  // it borrows `observed`
  std::shared_ptr<const ObservedState> after_ptr = r.observed;
  if (report.changes) {
    if (auto again = kernel_->observe_shared())
      after_ptr = std::move(*again);
    else
      // The status from the observation the plan was made from (what was applied is in the
      // audit log); the next reconcile reads the pin root again.
      spdlog::error("reconcile ({}): cannot observe after the apply: {}", r.why, again.error().message);
  }
  const ObservedState &after = *after_ptr;
  const bool converged = steps == 0 && report.changes == 0 && report.program_errors.empty() &&
                         report.attach_errors.empty() && r.deferred.empty() && backoff_.size() == 0;
  quiet_.reset();
  if (converged && after.version != 0) quiet_ = quiet_key(after.version, r.desired, r.notes);
  DaemonStatus before = std::move(status_);
  status_ = build_status(++generation_, r.desired, after, report, r.notes);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r.t0).count();
  const std::string summary = this->summary(report.changes);
  const bool quiet = report.changes == 0 && before.state == status_.state;
  const std::string plans = r.plans > 1 ? fmt::format(", {} plans", r.plans) : "";
  spdlog::log(quiet ? spdlog::level::debug : spdlog::level::info, "reconciled ({}) in {:.1f} ms ({} steps{}): {}",
              r.why, ms, steps, plans, summary);
  (void)sd_notifyf(0, "%sSTATUS=%s", r.reload || generation_ == 1 ? "READY=1\n" : "", summary.c_str());
  reloading_ = false;
  publish(before);
  if (before.reconciling && bus_)
    (void)sd_bus_emit_properties_changed(bus_.get(), kManagerPath, kManagerInterface, "Reconciling", nullptr);
  // Our own changes are in the link sockets now: read them before anything else does.
  if (links_) links_->absorb(r.touched);
  {
    std::set<std::string> names;
    for (auto &p : r.desired.programs) names.insert(p.name);
    for (auto &p : after.programs) names.insert(p.first);
    std::erase_if(plans_logged_, [&](const auto &kv) { return !names.contains(kv.first); });
    std::erase_if(failing_, [&](const auto &kv) {
      const auto a = kv.first.find('\x1f'), b = kv.first.find('\x1f', a + 1);
      return !names.contains(kv.first.substr(a + 1, b - a - 1));
    });
  }
  watch_links(r.desired, r.pattern_ns, r.primary_ns);
  images_->collect(r.desired, after);
  arm_retry_timer();
  last_reconcile_usec_ = monotonic_usec();
  if (generation_ == 1)
    spdlog::info("ready: pin root {}, {} manifest director{}", opts_.pin_root, opts_.programs_dirs.size(),
                 opts_.programs_dirs.size() == 1 ? "y" : "ies");
  if (replan_ && replan_manifest_only_ && desired_unchanged(r.desired)) {
    replan_ = false;
    replan_why_.clear();
  }
  end_run();
}

void Daemon::arm_retry_timer() {
  const auto next = backoff_.next_retry();
  if (!next) {
    if (retry_timer_) (void)sd_event_source_set_enabled(retry_timer_.get(), SD_EVENT_OFF);
    return;
  }
  if (retry_timer_) {
    (void)sd_event_source_set_time(retry_timer_.get(), *next);
    (void)sd_event_source_set_enabled(retry_timer_.get(), SD_EVENT_ONESHOT);
    return;
  }
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_time(event_.get(), &src, CLOCK_MONOTONIC, *next, 10'000, on_retry, this); r < 0) {
    spdlog::error("cannot arm the retry timer: {}; failing attach points wait for the periodic check",
                  std::strerror(-r));
    return;
  }
  retry_timer_.reset(src);
}

int Daemon::on_retry(sd_event_source *, uint64_t, void *userdata) {
  spdlog::debug("wakeup: retry-timer");
  static_cast<Daemon *>(userdata)->reconcile("retry of failing attach points", false, Trigger::Check);
  return 0;
}

void Daemon::watch_links(const DesiredState &desired, const std::set<std::string> &pattern_ns,
                         const std::set<std::string> &primary_ns) {
  if (!links_) return;
  std::set<std::string> netns = pattern_ns;  // a pattern that matches nothing yet has no attach point
  netns.insert("");
  for (auto &p : desired.programs)
    if (is_network_type(p.type))
      for (auto &a : p.attach) netns.insert(a.netns());
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
                 n.spec.target_label(n.type), n.spec.netif_or_none().interface_pattern, n.message);
}

int Daemon::on_check(sd_event_source *src, uint64_t, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  spdlog::debug("wakeup: check-timer");
  d->reconcile("periodic check", false, Trigger::Check);
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
  spdlog::debug("wakeup: signal {}", si->ssi_signo);
  if (si->ssi_signo == SIGHUP) {
    d->reconcile("SIGHUP", /*reload=*/true);
    return 0;
  }
  spdlog::info("received signal {}", si->ssi_signo);
  return sd_event_exit(d->event_.get(), 0);
}

std::map<std::string, std::string> Daemon::vanished_dirs() {
  std::map<std::string, std::string> out;
  const uint64_t now = monotonic_usec();
  uint64_t next_end = 0;
  for (auto &dir : opts_.programs_dirs) {
    struct stat st {};
    // Only ENOENT/ENOTDIR is "gone"; any other error is for the listing to report.
    if (::stat(dir.c_str(), &st) == 0 ? S_ISDIR(st.st_mode) : (errno != ENOENT && errno != ENOTDIR)) {
      dirs_seen_.insert(dir);
      dirs_gone_.erase(dir);
      continue;
    }
    if (!dirs_seen_.contains(dir)) continue;  // never there: an empty directory, as before
    const uint64_t since = dirs_gone_.try_emplace(dir, now).first->second;
    const uint64_t end = since + opts_.dir_grace_usec;
    if (now >= end) {
      spdlog::info("manifest directory {} is gone for {:.0f} s; it counts as empty now", dir,
                   static_cast<double>(now - since) / 1e6);
      dirs_seen_.erase(dir);
      dirs_gone_.erase(dir);
      continue;
    }
    // No elapsed time in the text: the error is logged again whenever it changes.
    out[dir] = fmt::format("disappeared (counted as unreadable for {:.0f} s after that, in case it is being replaced)",
                           static_cast<double>(opts_.dir_grace_usec) / 1e6);
    next_end = next_end ? std::min(next_end, end) : end;
  }
  if (next_end) {
    if (grace_timer_) {
      (void)sd_event_source_set_time(grace_timer_.get(), next_end);
      (void)sd_event_source_set_enabled(grace_timer_.get(), SD_EVENT_ONESHOT);
    } else {
      sd_event_source *src = nullptr;
      if (int r = sd_event_add_time(event_.get(), &src, CLOCK_MONOTONIC, next_end, 1000, on_grace, this); r < 0)
        spdlog::warn("cannot arm the directory grace timer: {}; the periodic check ends it", std::strerror(-r));
      else grace_timer_.reset(src);
    }
  }
  return out;
}

int Daemon::on_grace(sd_event_source *, uint64_t, void *userdata) {
  static_cast<Daemon *>(userdata)->reconcile("manifest directory gone");
  return 0;
}

int Daemon::on_timer(sd_event_source *, uint64_t, void *userdata) {
  auto *d = static_cast<Daemon *>(userdata);
  spdlog::debug("wakeup: coalesce-timer");
  std::string why = join_reasons(d->pending_why_);
  d->pending_why_.clear();
  d->reconcile(why.empty() ? "manifest change" : why, false, d->pending_trigger_);
  return 0;
}

}  // namespace bpfrec
