#include "daemon/link_watch.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>

#include <spdlog/spdlog.h>

#include "kernel/netns.h"
#include "kernel/rtnl.h"

namespace bpfrec {
namespace {

unsigned long netns_ino(const std::string &path) {
  struct stat st {};
  return ::stat(path.empty() ? "/proc/self/ns/net" : path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

LinkWatcher::LinkWatcher(sd_event *event, std::function<void(const std::string &)> on_change)
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
  // Our own reconcile does not read the socket while it attaches: room for the messages of a
  // few thousand changes, so that a large reconcile does not overflow it (ENOBUFS counts as a
  // change, and would reconcile again). FORCE needs CAP_NET_ADMIN; else the sysctl's maximum.
  const int rcvbuf = 4 << 20;
  if (::setsockopt(w.fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    (void)::setsockopt(w.fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = groups;
  if (::bind(w.fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
    return fail_errno(errno, "bind netlink socket to RTMGRP_LINK{}", groups == RTMGRP_LINK ? "" : " and routes");
  socklen_t alen = sizeof addr;
  if (::getsockname(w.fd.get(), reinterpret_cast<sockaddr *>(&addr), &alen) != 0)
    return fail_errno(errno, "getsockname of the netlink socket");
  w.portid = addr.nl_pid;
  w.netns = netns;
  // The interfaces as they are now, so that the first message about one is judged against its
  // state rather than taken for a new interface. The replies carry our port id and are only
  // recorded (LinkTable::seed).
  struct {
    nlmsghdr h;
    ifinfomsg ifi;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = ++dump_seq_;
  req.ifi.ifi_family = AF_UNSPEC;
  if (::send(w.fd.get(), &req, req.h.nlmsg_len, 0) < 0) return fail_errno(errno, "RTM_GETLINK dump");
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

std::string LinkWatcher::drain(Watch &w, const std::set<std::string> &ours) {
  std::string why;
  alignas(nlmsghdr) std::array<char, 32768> buf{};
  for (;;) {
    ssize_t n = ::recv(w.fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      // ENOBUFS: messages were lost; treat it as a change so nothing is missed.
      if (errno == ENOBUFS && why.empty()) why = "netlink messages lost (ENOBUFS)";
      if (errno == EINTR || errno == ENOBUFS) continue;
      break;  // EAGAIN: drained
    }
    if (n == 0) break;
    each_netlink_message(buf.data(), static_cast<size_t>(n), [&](const nlmsghdr *h) {
      if (!is_link_watch_event(h)) return;
      if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
        if (why.empty()) why = "default route changed";
        return;
      }
      auto m = parse_rtnl_link(h);
      if (!m) return;
      if (h->nlmsg_pid == w.portid && w.portid != 0) {
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
  }
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
    if (w.fd.get() != fd) continue;
    spdlog::debug("wakeup: netlink (netns {})", w.netns.empty() ? "(own)" : w.netns);
    std::string why = self->drain(w, {});
    if (!why.empty()) self->on_change_(why);
    break;
  }
  return 0;
}

}  // namespace bpfrec
