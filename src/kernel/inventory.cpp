#include "kernel/inventory.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <tuple>

#include "kernel/netns.h"
#include "kernel/rtnl.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// One rtnetlink dump: sends `type` with `payload` and calls `on_msg` for every answer until
// NLMSG_DONE. Errors: socket errors, NLMSG_ERROR, or a dump the kernel marked interrupted
// (NLM_F_DUMP_INTR: the table changed meanwhile; the caller retries).
// With `flags` NLM_F_REQUEST | NLM_F_ACK instead, one request: the answers end with the ack
// (NLMSG_ERROR with error 0).
Result<void> dump(int fd, uint16_t type, const void *payload, size_t len,
                  const std::function<void(const nlmsghdr *)> &on_msg,
                  uint16_t flags = NLM_F_REQUEST | NLM_F_DUMP) {
  static uint32_t seq = 0;
  alignas(nlmsghdr) std::array<char, NLMSG_SPACE(std::max(sizeof(ifinfomsg), sizeof(rtmsg)))> req{};
  if (NLMSG_LENGTH(len) > req.size()) return fail("rtnetlink request of {} bytes is too long", len);
  auto *nh = reinterpret_cast<nlmsghdr *>(req.data());
  nh->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
  nh->nlmsg_type = type;
  nh->nlmsg_flags = flags;
  nh->nlmsg_seq = ++seq;
  std::memcpy(NLMSG_DATA(nh), payload, len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, req.data(), nh->nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0)
    return fail_errno(errno, "rtnetlink dump request");
  // Dump parts are at most 32 KiB (NLMSG_GOODSIZE is smaller still); a bigger buffer never truncates.
  alignas(nlmsghdr) static char buf[65536];
  bool interrupted = false;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "rtnetlink dump");
    }
    std::optional<Result<void>> end;
    each_netlink_message(buf, static_cast<size_t>(n), [&](const nlmsghdr *h) {
      if (end) return;
      const DumpStep step = classify_dump_message(h, nh->nlmsg_seq, (flags & NLM_F_ACK) != 0);
      interrupted |= step.interrupted;
      switch (step.kind) {
        case DumpStep::Skip: return;
        case DumpStep::Message: on_msg(h); return;
        case DumpStep::Done:
          if (interrupted) end.emplace(fail_errno(EAGAIN, "rtnetlink dump interrupted"));
          else end.emplace();
          return;
        case DumpStep::Ack: end.emplace(); return;  // the ack that ends a single request
        case DumpStep::Error: end.emplace(fail_errno(step.error, "rtnetlink dump")); return;
      }
    });
    if (end) return *end;
  }
}

struct DefaultRoute {
  uint32_t metric = 0;
  int family_rank = 0;  // 0 IPv4, 1 IPv6
  int ifindex = 0;
  auto key() const { return std::tie(metric, family_rank, ifindex); }
};

Result<void> read_links(int fd, NetnsInterfaces &out, std::map<int, std::string> &names) {
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  return dump(fd, RTM_GETLINK, &req, sizeof req, [&](const nlmsghdr *h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    auto link = parse_rtnl_link(h);
    if (!link || link->name.empty()) return;
    names[link->ifindex] = link->name;
    out.interfaces.push_back({link->name, (link->flags & IFF_LOOPBACK) != 0});
  });
}

Result<void> read_default_routes(int fd, unsigned char family, std::vector<DefaultRoute> &out) {
  rtmsg req{};
  req.rtm_family = family;
  return dump(fd, RTM_GETROUTE, &req, sizeof req, [&](const nlmsghdr *h) {
    if (auto r = parse_rtnl_default_route(h, family)) out.push_back({r->metric, family == AF_INET ? 0 : 1, r->ifindex});
  });
}

// A dump interrupted by a concurrent change is simply asked again.
Result<void> retry(const std::function<Result<void>()> &f) {
  Result<void> r;
  for (int i = 0; i < 3; ++i) {
    r = f();
    if (r || r.error().code != EAGAIN) return r;
  }
  return r;
}

NetnsInterfaces read_netns(const std::string &path, bool routes_too) {
  NetnsInterfaces out;
  auto ns = NetnsGuard::enter(path);
  if (!ns) {
    out.error = ns.error().message;
    return out;
  }
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) {
    out.error = fmt::format("netlink socket: {}", std::strerror(errno));
    return out;
  }
  std::map<int, std::string> names;
  std::vector<DefaultRoute> routes;
  auto r = retry([&]() -> Result<void> {
    out.interfaces.clear();
    names.clear();
    routes.clear();
    if (auto l = read_links(fd.get(), out, names); !l) return l;
    if (!routes_too) return {};
    if (auto v4 = read_default_routes(fd.get(), AF_INET, routes); !v4) return v4;
    auto v6 = read_default_routes(fd.get(), AF_INET6, routes);
    if (!v6 && v6.error().code == EAFNOSUPPORT) return {};  // booted with ipv6.disable=1
    return v6;
  });
  if (!r) {
    out = {};
    out.error = r.error().message;
    return out;
  }
  std::sort(routes.begin(), routes.end(), [](auto &a, auto &b) { return a.key() < b.key(); });
  for (auto &rt : routes)
    if (auto it = names.find(rt.ifindex); it != names.end()) {
      out.primary = it->second;
      break;
    }
  return out;
}

}  // namespace

Result<std::map<int, uint32_t>> read_xdp_programs() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return fail_errno(errno, "netlink socket");
  std::map<int, uint32_t> out;
  auto r = retry([&]() -> Result<void> {
    out.clear();
    ifinfomsg req{};
    req.ifi_family = AF_UNSPEC;
    return dump(fd.get(), RTM_GETLINK, &req, sizeof req, [&](const nlmsghdr *h) {
      if (h->nlmsg_type != RTM_NEWLINK) return;
      if (auto link = parse_rtnl_link(h); link && link->xdp_prog_id) out[link->ifindex] = link->xdp_prog_id;
    });
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<XdpHook> read_xdp_hook(int ifindex) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return fail_errno(errno, "netlink socket");
  XdpHook out;
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  req.ifi_index = ifindex;
  auto r = dump(
      fd.get(), RTM_GETLINK, &req, sizeof req,
      [&](const nlmsghdr *h) {
        if (h->nlmsg_type != RTM_NEWLINK) return;
        if (auto link = parse_rtnl_link(h); link && link->ifindex == ifindex && link->has_xdp)
          out = {link->xdp_prog_id, link->xdp_mode};
      },
      NLM_F_REQUEST | NLM_F_ACK);
  if (!r && r.error().code == ENODEV) return XdpHook{};
  if (!r) return std::unexpected(r.error());
  return out;
}

InterfaceInventory read_interface_inventory(const std::set<std::string> &netns_paths,
                                            const std::set<std::string> &primary_netns) {
  InterfaceInventory inv;
  for (auto &path : netns_paths) inv[path] = read_netns(path, primary_netns.contains(path));
  return inv;
}

}  // namespace bpfrec
