// Interface changes as they happen: one rtnetlink socket subscribed to RTMGRP_LINK per network
// namespace that an attach point names (and the daemon's own), so that an interface that
// appears, disappears or loses its XDP program triggers a reconcile at once instead of at the
// next periodic check. In namespaces with an "@primary" attach point the socket also listens
// to RTMGRP_IPV4_ROUTE and RTMGRP_IPV6_ROUTE, and a default route that comes, goes or changes
// triggers a reconcile too (other routes are ignored).
// A link message triggers a reconcile only when it changes something the reconciler acts on
// (LinkTable::judge): our own XDP attaches and detaches do not, so a reconcile never schedules
// the next one by itself.
#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <map>
#include <set>
#include <string>

#include "daemon/daemon.h"
#include "kernel/rtnl_monitor.h"
#include "kernel/link_event.h"
#include "util/result.h"

namespace bpfrec {

class LinkWatcher {
 public:
  /// `on_change` runs from the event loop after a burst of messages of which one matters
  /// (LinkTable::judge; RTM_NEWROUTE/RTM_DELROUTE of default routes where routes are watched),
  /// with why (e.g. "netns /run/netns/blue: new interface rg3").
  LinkWatcher(sd_event *event, std::function<void(const std::string &why)> on_change);

  /// Watches exactly these namespaces ("" = the daemon's own). Sockets of namespaces no longer
  /// listed are closed; a namespace file that now refers to another namespace (deleted and
  /// created again) gets a new socket. A namespace that cannot be entered is skipped (logged
  /// by the caller through the returned list).
  /// `route_netns`: the namespaces (a subset) where default-route changes matter as well.
  /// Returns the paths that could not be watched, with the reason.
  std::map<std::string, std::string> watch(const std::set<std::string> &netns_paths,
                                           const std::set<std::string> &route_netns = {});

  /// Reads every message queued now (call it at the end of a reconcile): XDP program changes on
  /// the interfaces in `ours` (netns path -> interface names whose XDP hook the reconcile
  /// changed) are our own and ignored; anything else that matters calls on_change.
  void absorb(const std::map<std::string, std::set<std::string>> &ours);

 private:
  struct Watch {
    RtnlMonitor mon;   // the socket (kernel/rtnl_monitor.h): namespace identity, groups, port id
    SourcePtr source;  // its event source in the daemon's loop
    LinkTable links;   // the namespace's interfaces as the messages describe them
    std::string netns;
  };
  Result<Watch> open(const std::string &netns, uint32_t groups);
  /// Drains w's socket; returns why a message mattered (the first), or "".
  std::string drain(Watch &w, const std::set<std::string> &ours);
  static int on_readable(sd_event_source *, int fd, uint32_t revents, void *userdata);

  sd_event *event_;  // borrowed: the daemon's loop outlives the watcher
  std::function<void(const std::string &)> on_change_;
  std::map<std::string, Watch> watches_;
  uint32_t dump_seq_ = 0;
};

}  // namespace bpfrec
