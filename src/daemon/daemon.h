// The daemon: one sd-event loop that reconciles on start, on inotify changes in the manifest
// directories (bursts coalesced), on SIGHUP and on D-Bus Reload(); it publishes status on the
// system bus and notifies systemd (READY=1 after the first reconcile, STATUS=, watchdog).
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kernel/kernel.h"
#include "manifest/desired.h"
#include "reconcile/interfaces.h"
#include "status/status.h"
#include "util/result.h"

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
};

// sd-event/sd-bus objects are reference counted; the deleters drop our reference.
struct EventUnref {
  void operator()(sd_event *e) const { sd_event_unref(e); }
};
struct BusUnref {
  void operator()(sd_bus *b) const { sd_bus_flush_close_unref(b); }
};
struct SlotUnref {
  void operator()(sd_bus_slot *s) const { sd_bus_slot_unref(s); }
};
struct SourceUnref {
  void operator()(sd_event_source *s) const { sd_event_source_unref(s); }
};
using EventPtr = std::unique_ptr<sd_event, EventUnref>;
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;
using SourcePtr = std::unique_ptr<sd_event_source, SourceUnref>;

class LinkWatcher;

class Daemon {
 public:
  explicit Daemon(DaemonOptions opts);
  ~Daemon();

  /// Sets up mounts, the event loop, signals, inotify and the bus, reconciles once, then runs
  /// until SIGTERM/SIGINT. Errors: start-up failures (no bpffs, no bus, name taken).
  Result<void> run();

  /// Reconciles now: manifests -> plan -> apply -> status, then emits PropertiesChanged.
  /// `reload`: a reload in systemd's sense (D-Bus Reload(), SIGHUP), announced to the service
  /// manager with RELOADING=1 ... READY=1; other reconciles (manifest changes, link events, the
  /// periodic check) only update STATUS=.
  void reconcile(const char *why, bool reload = false);

  const DaemonStatus &status() const { return status_; }
  sd_bus *bus() const { return bus_.get(); }
  const std::string &pin_root() const { return opts_.pin_root; }

 private:
  void reconcile_once(const char *why, bool reload);
  Result<void> setup_bus();
  Result<void> watch_dirs();
  /// Reconciles after a burst of events has gone quiet (coalesce_usec, at most coalesce_max_usec
  /// after its first event). `complete`: the event is a whole change by itself: a manifest
  /// renamed into place (IN_MOVED_TO of a `*.toml` name, what a careful writer ends with). If no
  /// burst is under way and the last reconcile ended at least coalesce_usec ago, it is reconciled at
  /// once (leading edge) and only what follows is coalesced. Every other event waits for the quiet
  /// period: after IN_CREATE or IN_CLOSE_WRITE a writer may still be filling the file (an empty file
  /// is a mask, i.e. "no programs"), and an editor that saves by renaming the old file away
  /// (vim's backupcopy=no) sends IN_MOVED_FROM before the new file exists.
  void schedule_reconcile(bool complete = false);
  void publish(const DaemonStatus &before);

  static int on_signal(sd_event_source *, const struct signalfd_siginfo *si, void *userdata);
  static int on_inotify(sd_event_source *, const struct inotify_event *ev, void *userdata);
  static int on_timer(sd_event_source *, uint64_t usec, void *userdata);
  static int on_check(sd_event_source *, uint64_t usec, void *userdata);
  void watch_links(const DesiredState &desired, const std::set<std::string> &pattern_ns,
                   const std::set<std::string> &primary_ns);
  void log_pattern_notes(const std::vector<PatternNote> &notes, const std::vector<PatternNote> &gone);

  DaemonOptions opts_;
  std::unique_ptr<Kernel> kernel_;
  EventPtr event_;
  BusPtr bus_;
  std::vector<SlotPtr> slots_;
  std::vector<SourcePtr> sources_;
  SourcePtr timer_;
  SourcePtr check_timer_;
  std::unique_ptr<LinkWatcher> links_;
  DaemonStatus status_;
  VanishedInterfaces vanished_;          // interfaces that patterns matched and that went away
  std::set<std::string> pattern_notes_;  // the last reconcile's pending/failed pattern notes, logged once
  uint64_t generation_ = 0;
  uint64_t burst_start_usec_ = 0;     // CLOCK_MONOTONIC of the first inotify event of this burst
  uint64_t last_reconcile_usec_ = 0;  // CLOCK_MONOTONIC when the last reconcile ended
};

}  // namespace bpfrec
