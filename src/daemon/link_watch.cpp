#include "daemon/link_watch.h"

#include <linux/rtnetlink.h>

#include <spdlog/spdlog.h>

#include "kernel/rtnl.h"

namespace bpfrec {

LinkWatcher::LinkWatcher(sd_event *event, std::function<void(const std::string &)> on_change)
    : event_(event), on_change_(std::move(on_change)) {}

Result<LinkWatcher::Watch> LinkWatcher::open(const std::string &netns, uint32_t groups) {
  // The interfaces as they are now come from the monitor's dump, so that the first message
  // about one is judged against its state rather than taken for a new interface. The replies
  // carry our port id and are only recorded (LinkTable::seed).
  auto mon = RtnlMonitor::open(netns, groups, ++dump_seq_);
  if (!mon) return std::unexpected(mon.error());
  Watch w{std::move(*mon)};
  w.netns = netns;
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_io(event_, &src, w.mon.fd(), EPOLLIN, on_readable, this); r < 0)
    return fail_errno(r, "watch netlink socket");
  w.source.reset(src);
  return w;
}

std::map<std::string, std::string> LinkWatcher::watch(const std::set<std::string> &netns_paths,
                                                      const std::set<std::string> &route_netns) {
  auto groups_of = [&](const std::string &path) -> uint32_t {
    return route_netns.contains(path) ? RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE : RTMGRP_LINK;
  };
  std::map<std::string, std::string> failed;
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (!netns_paths.contains(it->first) || netns_inode(it->first) != it->second.mon.netns_ino() ||
        groups_of(it->first) != it->second.mon.groups())
      it = watches_.erase(it);
    else ++it;
  }
  for (auto &path : netns_paths) {
    if (watches_.contains(path)) continue;
    auto w = open(path, groups_of(path));
    if (!w) {
      failed[path] = w.error().message;
      continue;
    }
    watches_.emplace(path, std::move(*w));
  }
  return failed;
}

std::string LinkWatcher::drain(Watch &w, const std::set<std::string> &ours) {
  std::string why;
  const bool lost = w.mon.drain([&](const nlmsghdr *h) {
    if (!is_link_watch_event(h)) return;
    if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
      if (why.empty()) why = "default route changed";
      return;
    }
    auto m = parse_rtnl_link(h);
    if (!m) return;
    if (h->nlmsg_pid == w.mon.portid() && w.mon.portid() != 0) {
      w.links.seed(*m);  // our dump
      return;
    }
    if (auto r = w.links.judge(*m, ours)) {
      spdlog::debug("link event in netns {}: {}", w.netns.empty() ? "(own)" : w.netns, *r);
      if (why.empty()) why = *r;
    } else {
      spdlog::trace("link event in netns {} ignored: ifindex {} ({})", w.netns.empty() ? "(own)" : w.netns,
                    m->ifindex, m->name);
    }
  });
  // Messages were lost: treat it as a change so nothing is missed.
  if (lost && why.empty()) why = "netlink messages lost (ENOBUFS)";
  if (!why.empty() && !w.netns.empty()) why = fmt::format("netns {}: {}", w.netns, why);
  return why;
}

void LinkWatcher::absorb(const std::map<std::string, std::set<std::string>> &ours) {
  static const std::set<std::string> none;
  std::string why;
  for (auto &[path, w] : watches_) {
    auto it = ours.find(path);
    std::string r = drain(w, it == ours.end() ? none : it->second);
    if (why.empty()) why = std::move(r);
  }
  if (!why.empty()) on_change_(why);
}

int LinkWatcher::on_readable(sd_event_source *, int fd, uint32_t, void *userdata) {
  auto *self = static_cast<LinkWatcher *>(userdata);
  for (auto &[_, w] : self->watches_) {
    if (w.mon.fd() != fd) continue;
    spdlog::debug("wakeup: netlink (netns {})", w.netns.empty() ? "(own)" : w.netns);
    std::string why = self->drain(w, {});
    if (!why.empty()) self->on_change_(why);
    break;
  }
  return 0;
}

}  // namespace bpfrec
