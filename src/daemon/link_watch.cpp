#include "daemon/link_watch.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>

#include "kernel/netns.h"
#include "kernel/rtnl.h"

namespace bpfrec {
namespace {

unsigned long netns_ino(const std::string &path) {
  struct stat st {};
  return ::stat(path.empty() ? "/proc/self/ns/net" : path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

LinkWatcher::LinkWatcher(sd_event *event, std::function<void()> on_change)
    : event_(event), on_change_(std::move(on_change)) {}

Result<LinkWatcher::Watch> LinkWatcher::open(const std::string &netns, uint32_t groups) {
  Watch w;
  w.ino = netns_ino(netns);
  w.groups = groups;
  {
    // A netlink socket belongs to the namespace it was created in.
    auto ns = NetnsGuard::enter(netns);
    if (!ns) return std::unexpected(ns.error());
    w.fd.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (!w.fd.valid()) return fail_errno(errno, "netlink socket");
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = groups;
  if (::bind(w.fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
    return fail_errno(errno, "bind netlink socket to RTMGRP_LINK{}", groups == RTMGRP_LINK ? "" : " and routes");
  sd_event_source *src = nullptr;
  if (int r = sd_event_add_io(event_, &src, w.fd.get(), EPOLLIN, on_readable, this); r < 0)
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
    if (!netns_paths.contains(it->first) || netns_ino(it->first) != it->second.ino ||
        groups_of(it->first) != it->second.groups)
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

int LinkWatcher::on_readable(sd_event_source *, int fd, uint32_t, void *userdata) {
  auto *self = static_cast<LinkWatcher *>(userdata);
  bool relevant = false;
  alignas(nlmsghdr) std::array<char, 16384> buf{};
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      // ENOBUFS: messages were lost; treat it as a change so nothing is missed.
      if (errno == ENOBUFS) relevant = true;
      if (errno == EINTR || errno == ENOBUFS) continue;
      break;  // EAGAIN: drained
    }
    if (n == 0) break;
    each_netlink_message(buf.data(), static_cast<size_t>(n),
                         [&](const nlmsghdr *h) { relevant |= is_link_watch_event(h); });
  }
  if (relevant) self->on_change_();
  return 0;
}

}  // namespace bpfrec
