#include "kernel/rtnl_monitor.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>

#include "kernel/netns.h"
#include "kernel/rtnl.h"

namespace bpfrec {

unsigned long netns_inode(const std::string &path) {
  struct stat st {};
  return ::stat(path.empty() ? "/proc/self/ns/net" : path.c_str(), &st) == 0 ? st.st_ino : 0;
}

Result<RtnlMonitor> RtnlMonitor::open(const std::string &netns, uint32_t groups, uint32_t dump_seq) {
  RtnlMonitor m;
  m.ino_ = netns_inode(netns);
  m.groups_ = groups;
  {
    // A netlink socket belongs to the namespace it was created in.
    auto ns = NetnsGuard::enter(netns);
    if (!ns) return std::unexpected(ns.error());
    m.fd_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (!m.fd_.valid()) return fail_errno(errno, "netlink socket");
  }
  // The daemon does not read the socket while it attaches: room for the messages of a few
  // thousand changes, so that a large reconcile does not overflow it (ENOBUFS counts as a
  // change, and would reconcile again). FORCE needs CAP_NET_ADMIN; else the sysctl's maximum.
  const int rcvbuf = 4 << 20;
  if (::setsockopt(m.fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    (void)::setsockopt(m.fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = groups;
  if (::bind(m.fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
    return fail_errno(errno, "bind netlink socket to RTMGRP_LINK{}", groups == RTMGRP_LINK ? "" : " and routes");
  socklen_t alen = sizeof addr;
  if (::getsockname(m.fd_.get(), reinterpret_cast<sockaddr *>(&addr), &alen) != 0)
    return fail_errno(errno, "getsockname of the netlink socket");
  m.portid_ = addr.nl_pid;
  struct {
    nlmsghdr h;
    ifinfomsg ifi;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = dump_seq;
  req.ifi.ifi_family = AF_UNSPEC;
  if (::send(m.fd_.get(), &req, req.h.nlmsg_len, 0) < 0) return fail_errno(errno, "RTM_GETLINK dump");
  return m;
}

bool RtnlMonitor::drain(const std::function<void(const nlmsghdr *)> &each) {
  bool lost = false;
  alignas(nlmsghdr) std::array<char, 32768> buf{};
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == ENOBUFS) lost = true;
      if (errno == EINTR || errno == ENOBUFS) continue;
      break;  // EAGAIN: drained
    }
    if (n == 0) break;
    each_netlink_message(buf.data(), static_cast<size_t>(n), each);
  }
  return lost;
}

}  // namespace bpfrec
