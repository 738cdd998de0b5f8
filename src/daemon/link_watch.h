// Interface changes as they happen: one rtnetlink socket subscribed to RTMGRP_LINK per network
// namespace that an attach point names (and the daemon's own), so that an interface that
// appears, disappears or loses its XDP program triggers a reconcile at once instead of at the
// next periodic check. In namespaces with an "@primary" attach point the socket also listens
// to RTMGRP_IPV4_ROUTE and RTMGRP_IPV6_ROUTE, and a default route that comes, goes or changes
// triggers a reconcile too (other routes are ignored).
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
  /// `on_change` runs from the event loop after a burst of RTM_NEWLINK/RTM_DELLINK messages
  /// (and RTM_NEWROUTE/RTM_DELROUTE of default routes where routes are watched).
  LinkWatcher(sd_event *event, std::function<void()> on_change);

  /// Watches exactly these namespaces ("" = the daemon's own). Sockets of namespaces no longer
  /// listed are closed; a namespace file that now refers to another namespace (deleted and
  /// created again) gets a new socket. A namespace that cannot be entered is skipped (logged
  /// by the caller through the returned list).
  /// `route_netns`: the namespaces (a subset) where default-route changes matter as well.
  /// Returns the paths that could not be watched, with the reason.
  std::map<std::string, std::string> watch(const std::set<std::string> &netns_paths,
                                           const std::set<std::string> &route_netns = {});

 private:
  struct Watch {
    UniqueFd fd;
    SourcePtr source;
    unsigned long ino = 0;  // namespace identity, to notice a namespace file re-created
    uint32_t groups = 0;    // RTMGRP_* subscribed
  };
  Result<Watch> open(const std::string &netns, uint32_t groups);
  static int on_readable(sd_event_source *, int fd, uint32_t revents, void *userdata);

  sd_event *event_;  // borrowed: the daemon's loop outlives the watcher
  std::function<void()> on_change_;
  std::map<std::string, Watch> watches_;
};

}  // namespace bpfrec
