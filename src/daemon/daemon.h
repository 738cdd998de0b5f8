// The daemon: one sd-event loop that reconciles on start, on inotify changes in the manifest
// directories (bursts coalesced), on SIGHUP and on D-Bus Reload(); it publishes status on the
// system bus and notifies systemd (READY=1 after the first reconcile, STATUS=, watchdog).
// A reconcile's plan is applied in slices (DaemonOptions::slice_usec) from a due timer, so
// D-Bus calls, signals and the watchdog ping are served between two slices however long the
// apply is (issue 11); everything stays on the loop's one thread.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kernel/kernel.h"
#include "load/desired.h"
#include "reconcile/backoff.h"
#include "reconcile/executor.h"
#include "reconcile/interfaces.h"
#include "bus/bus.h"
#include "daemon/images.h"
#include "status/status.h"
#include "util/result.h"
#include "util/sd_ptr.h"

namespace bpfrec {

struct DaemonOptions {
  std::vector<std::string> programs_dirs;  // highest precedence first
  std::string pin_root = "/sys/fs/bpf/bpfman-reconciler";
  TcMechanism tc = TcMechanism::Auto;
  XdpMechanism xdp = XdpMechanism::Auto;
  /// Quiet time (µs) after the last inotify event before reconciling. A manifest renamed into place
  /// while nothing else is going on is reconciled at once instead: see Daemon::schedule_reconcile.
  uint64_t coalesce_usec = 10'000;
  uint64_t coalesce_max_usec = 500'000;  // longest wait (µs) after the first event of a burst
  /// Periodic drift check (observe + plan, no reloads when nothing drifted); 0 disables.
  uint64_t check_interval_usec = 30'000'000;
  /// How long (µs) a manifest directory that existed and then disappeared counts as Unreadable
  /// (every program kept) rather than empty: a directory replaced by rename or re-created must not
  /// detach everything in between.
  uint64_t dir_grace_usec = 10'000'000;
  /// How long (µs) one slice of a reconcile may run before the loop serves what is pending
  /// (D-Bus, signals, timers, the watchdog). A step (one program) is never cut, so a slice
  /// lasts this long plus at most one step.
  uint64_t slice_usec = 20'000;
  /// Image bytecode: the state directory, pulls (issue 14; daemon/images.h).
  ImageOptions images;
};


class LinkWatcher;

class Daemon final : public BusService {
 public:
  explicit Daemon(DaemonOptions opts);
  ~Daemon();

  /// Sets up mounts, the event loop, signals, inotify and the bus, reconciles once, then runs
  /// until SIGTERM/SIGINT. Errors: start-up failures (no bpffs, no bus, name taken).
  Result<void> run();

  /// What asks for a reconcile while one is applied. Change: something changed (a manifest,
  /// an interface, Reload(), SIGHUP): the rest of the running plan is dropped after its current
  /// step and planned again. Check: the periodic check or a backoff retry: nothing to add, the
  /// running reconcile observes the kernel at its end anyway; ignored.
  /// Manifest: a manifest or manifest directory changed (inotify): like Change, but the plan is
  /// made again only when the manifests now read differently from what the running plan saw
  /// (inotify events queued before the plan are dispatched during it and carry no news).
  enum class Trigger { Change, Manifest, Check };

  /// Reconciles: manifests -> plan -> apply -> status, then emits PropertiesChanged. Plans now
  /// and applies in slices (DaemonOptions::slice_usec); a plan that fits in one slice is applied
  /// before this returns, a longer one goes on from the loop. While a plan is applied, a
  /// Change makes it plan again after the current step (see Trigger); never two applies at once.
  /// `reload`: a reload in systemd's sense (D-Bus Reload(), SIGHUP), announced to the service
  /// manager with RELOADING=1 ... READY=1; other reconciles (manifest changes, link events, the
  /// periodic check) only update STATUS=.
  /// D-Bus Reload() and SIGHUP also retry every failing attach point now, whatever its backoff.
  void reconcile(const std::string &why, bool reload = false, Trigger trigger = Trigger::Change);

  /// D-Bus Reload(): reconcile(reload) and answer `call` once a reconcile that began after it
  /// has completed (at once when it fits in one slice; from the loop otherwise). Never blocks.
  void reload_call(sd_bus_message *call) override;

  /// Whether a reconcile's plan is being applied (status().reconciling says how far).
  bool reconciling() const override { return run_ != nullptr; }

  const DaemonStatus &status() const override { return status_; }
  sd_bus *bus() const { return bus_.get(); }
  const std::string &pin_root() const override { return opts_.pin_root; }

 private:
  struct Run;  // a reconcile in progress (daemon.cpp)
  /// Plans (manifests, interfaces, observation, plan) and starts applying; reconcile() and a
  /// replan call it. Takes the Reload() calls that are waiting, and a pending replan's reasons.
  void begin_reconcile(std::string why, bool reload);
  /// Runs the current run_ for the rest of the slice that began at `slice_start`: steps,
  /// then the end (finish_reconcile) when they are done and time is left; else arms step_.
  void continue_reconcile(std::chrono::steady_clock::time_point slice_start);
  /// After the last step: backoff, observation, status, notify, PropertiesChanged, link
  /// watches, Reload() replies.
  void finish_reconcile();
  /// A step or the planning threw, or the pin root cannot be read: logs `what` (at debug
  /// level when not `log`: the caller logged it once), keeps the last status (state degraded),
  /// answers the Reload() calls and drops the run.
  void abort_reconcile(const std::string &what, bool log = true);
  /// Answers the Reload() calls in `calls` (an error text: a D-Bus error instead of success).
  void answer_reloads(std::vector<MessagePtr> &calls, const std::string &error = "");
  void arm_step();
  static int on_step(sd_event_source *, uint64_t usec, void *userdata);
  /// Logs one audit event (journal record with fields under journald, else one line).
  void audit(const AuditEvent &e);
  /// Connects to the system bus, registers the objects, owns the name (synchronously at start:
  /// `initial`, so that a start without a bus or with the name taken fails; asynchronously on
  /// a reconnect, so the loop never waits for the bus).
  Result<void> setup_bus(bool initial);
  /// The bus went away (dbus-daemon restarted or killed): drop the connection and try again
  /// with backoff (100 ms doubling to 5 s) until the name is ours again. The programs are not
  /// touched; SIGHUP, inotify and the checks go on meanwhile.
  void bus_lost(const char *why);
  void schedule_bus_reconnect();
  static int on_bus_message(sd_bus_message *m, void *userdata, sd_bus_error *);
  static int on_bus_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *);
  static int on_name_acquired_reply(sd_bus_message *m, void *userdata, sd_bus_error *);
  static int on_bus_reconnect(sd_event_source *, uint64_t usec, void *userdata);
  /// Arms (or disarms) the timer of the earliest attach point retry (backoff_).
  void arm_retry_timer();
  static int on_retry(sd_event_source *, uint64_t usec, void *userdata);
  Result<void> watch_dirs();
  /// (Re)watches each manifest directory whose inode changed (or that appeared) since it was
  /// last watched; drops the watch of one that is gone.
  void rewatch_dirs();
  /// Directories gone within the grace period (dir_grace_usec), for load_desired(); arms
  /// grace_timer_ for the end of the earliest one.
  std::map<std::string, std::string> vanished_dirs();
  /// Reconciles after a burst of events has gone quiet (coalesce_usec, at most coalesce_max_usec
  /// after its first event). `complete`: the event is a whole change by itself: a manifest
  /// renamed into place (IN_MOVED_TO of a `*.toml` name, what a careful writer ends with). If no
  /// burst is under way and the last reconcile ended at least coalesce_usec ago, it is reconciled at
  /// once (leading edge) and only what follows is coalesced. Every other event waits for the quiet
  /// period: after IN_CREATE or IN_CLOSE_WRITE a writer may still be filling the file (an empty file
  /// is a mask, i.e. "no programs"), and an editor that saves by renaming the old file away
  /// (vim's backupcopy=no) sends IN_MOVED_FROM before the new file exists.
  /// `why`: what the reconcile is for, in its log line ("manifest change", "link change: ...").
  /// While a reconcile is applied, every event waits for the quiet period (no leading edge).
  void schedule_reconcile(const std::string &why, bool complete = false, Trigger trigger = Trigger::Change);
  /// Whether the manifests read now give the programs `desired` has (names, digests, manifests).
  bool desired_unchanged(const DesiredState &desired);
  void publish(const DaemonStatus &before);
  /// What a reconcile's outcome depends on, when it can be told cheaply: the observation's
  /// version (ObservedState::version), every manifest's path, state and errors, every program's
  /// name, manifest, bytecode digest and attach points (after interface expansion), the pattern
  /// notes. nullopt when the manifests were not all taken from the cache (a file read again may
  /// hold anything).
  std::optional<std::string> quiet_key(uint64_t observed_version, const DesiredState &desired,
                                       const std::vector<PatternNote> &notes) const;
  /// Ends run_ without a plan: nothing changed since the reconcile that left quiet_, so its
  /// status stands with a new generation (the Reload() calls are answered, READY=1 sent).
  void finish_quiet();
  /// The end every reconcile shares (finished, finished without a plan, aborted): drops run_,
  /// answers its Reload() calls, and arms the next slice when a change arrived meanwhile.
  void end_run();
  /// "generation N: A of P programs attached, C kernel changes, state S"
  std::string summary(unsigned changes) const;

  static int on_signal(sd_event_source *, const struct signalfd_siginfo *si, void *userdata);
  /// The inotify fd is readable: reads one buffer of events (up to 64 KiB, ~1,500 events) and
  /// handles each. sd_event_add_inotify() dispatched one event per loop iteration, so a burst of
  /// N renames took N iterations, an apply slice between each (and each coalesce deadline a
  /// replan check); one read per iteration keeps the loop fair to the bus, signals and the
  /// apply when a directory is flooded (raising the sources' priority starved them instead).
  static int on_inotify_fd(sd_event_source *, int fd, uint32_t revents, void *userdata);
  /// A manifest directory's event (a manifest created, written, renamed, deleted).
  void on_dir_event(const struct inotify_event &ev);
  /// An event in a manifest directory's parent (the directory itself created, deleted, swapped).
  void on_parent_event(const struct inotify_event &ev);
  static int on_timer(sd_event_source *, uint64_t usec, void *userdata);
  static int on_grace(sd_event_source *, uint64_t usec, void *userdata);
  static int on_check(sd_event_source *, uint64_t usec, void *userdata);
  void watch_links(const DesiredState &desired, const std::set<std::string> &pattern_ns,
                   const std::set<std::string> &primary_ns);
  void log_pattern_notes(const std::vector<PatternNote> &notes, const std::vector<PatternNote> &gone);

  DaemonOptions opts_;
  DesiredCache desired_cache_;  // unchanged manifests and bytecode are not read again (desired.h)
  std::unique_ptr<ImageManager> images_;  // the state directory's stores and the puller
  std::unique_ptr<Kernel> kernel_;
  EventPtr event_;
  BusPtr bus_;
  std::vector<SlotPtr> slots_;
  std::vector<SourcePtr> sources_;
  SourcePtr timer_;
  SourcePtr check_timer_;
  SourcePtr grace_timer_;
  int inotify_fd_ = -1;       // one inotify instance for the directories and their parents
  SourcePtr inotify_source_;  // its IO source (on_inotify_fd)
  /// Per manifest directory: its watch descriptor and the inode it watches.
  struct DirWatch {
    int wd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  std::map<std::string, DirWatch> dir_watches_;
  std::map<int, std::string> parent_watches_;  // watch descriptor -> a parent of manifest directories
  std::set<std::string> dirs_seen_;            // existed at the last reconcile
  std::map<std::string, uint64_t> dirs_gone_;  // CLOCK_MONOTONIC µs when first seen gone
  SourcePtr retry_timer_;
  SourcePtr bus_timer_;                 // the next reconnect attempt while the bus is gone
  unsigned bus_attempts_ = 0;           // reconnect attempts since the bus was lost
  uint64_t bus_lost_usec_ = 0;          // CLOCK_MONOTONIC when it was lost
  std::vector<std::string> pending_why_;  // reasons of the coalesced reconcile that is armed
  AttachBackoff backoff_;
  bool manifest_changed_ = false;  // inotify saw a change since the last reconcile began
  bool journal_ = false;  // stdout is journald's stream: audit records go through sd_journal_send
  // Logged once: the last error of each failing (action, program, target), and the last plan
  // line of each program that has not converged; the same again goes to debug.
  std::map<std::string, std::string> failing_, plans_logged_;
  std::string observe_error_;  // the last observation's error (ObservedState::error), logged once
  std::unique_ptr<LinkWatcher> links_;
  DaemonStatus status_;
  VanishedInterfaces vanished_;          // interfaces that patterns matched and that went away
  std::set<std::string> pattern_notes_;  // the last reconcile's pending/failed pattern notes, logged once
  uint64_t generation_ = 0;
  /// quiet_key() of the last reconcile that found nothing to do (no step, no error, nothing
  /// waiting for a retry); reset by any other outcome. A reconcile with the same key makes no
  /// plan: the same inputs give the same all-keep plan and the same status (issue 11: a no-op
  /// Reload() at 500 programs rebuilt everything, 17 ms).
  std::optional<std::string> quiet_;
  std::unique_ptr<Run> run_;             // the reconcile being applied; null when none
  SourcePtr step_;                       // a timer due at once: the next slice of run_
  bool replan_ = false;                  // a Change arrived while run_ was applied
  bool replan_reload_ = false;           // ... and one of them was a reload
  bool replan_manifest_only_ = true;     // ... and all of them were Trigger::Manifest
  Trigger pending_trigger_ = Trigger::Manifest;  // the strongest trigger of the armed coalesced reconcile
  std::vector<std::string> replan_why_;  // their reasons
  std::vector<MessagePtr> waiting_reloads_;  // Reload() calls no run has taken yet
  bool reloading_ = false;               // RELOADING=1 sent, READY=1 not yet
  uint64_t burst_start_usec_ = 0;     // CLOCK_MONOTONIC of the first inotify event of this burst
  uint64_t last_reconcile_usec_ = 0;  // CLOCK_MONOTONIC when the last reconcile ended
};

}  // namespace bpfrec
