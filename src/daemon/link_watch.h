// Interface changes as they happen: one rtnetlink socket subscribed to RTMGRP_LINK per network
// namespace that an attach point names (and the daemon's own), so that an interface that
// appears, disappears or loses its XDP program triggers a reconcile at once instead of at the
// next periodic check.
#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <map>
#include <set>
#include <string>

#include "daemon/daemon.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {

class LinkWatcher {
 public:
  /// `on_change` runs from the event loop after a burst of RTM_NEWLINK/RTM_DELLINK messages.
  LinkWatcher(sd_event *event, std::function<void()> on_change);

  /// Watches exactly these namespaces ("" = the daemon's own). Sockets of namespaces no longer
  /// listed are closed; a namespace file that now refers to another namespace (deleted and
  /// created again) gets a new socket. A namespace that cannot be entered is skipped (logged
  /// by the caller through the returned list).
  /// Returns the paths that could not be watched, with the reason.
  std::map<std::string, std::string> watch(const std::set<std::string> &netns_paths);

 private:
  struct Watch {
    UniqueFd fd;
    SourcePtr source;
    unsigned long ino = 0;  // namespace identity, to notice a namespace file re-created
  };
  Result<Watch> open(const std::string &netns);
  static int on_readable(sd_event_source *, int fd, uint32_t revents, void *userdata);

  sd_event *event_;  // borrowed: the daemon's loop outlives the watcher
  std::function<void()> on_change_;
  std::map<std::string, Watch> watches_;
};

}  // namespace bpfrec
