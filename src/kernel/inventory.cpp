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
#include "kernel/rtnl_dump.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

struct DefaultRoute {
  uint32_t metric = 0;
  int family_rank = 0;  // 0 IPv4, 1 IPv6
  int ifindex = 0;
  auto key() const { return std::tie(metric, family_rank, ifindex); }
};

Result<void> read_links(int fd, NetnsInterfaces &out, std::map<int, std::string> &names) {
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  return rtnl_request(fd, RTM_GETLINK, &req, sizeof req, [&](const nlmsghdr *h) {
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
  return rtnl_request(fd, RTM_GETROUTE, &req, sizeof req, [&](const nlmsghdr *h) {
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
  auto fd = open_rtnl();
  if (!fd) {
    out.error = fd.error().message;
    return out;
  }
  std::map<int, std::string> names;
  std::vector<DefaultRoute> routes;
  auto r = retry([&]() -> Result<void> {
    out.interfaces.clear();
    names.clear();
    routes.clear();
    if (auto l = read_links(fd->get(), out, names); !l) return l;
    if (!routes_too) return {};
    if (auto v4 = read_default_routes(fd->get(), AF_INET, routes); !v4) return v4;
    auto v6 = read_default_routes(fd->get(), AF_INET6, routes);
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
  auto fd = open_rtnl();
  if (!fd) return std::unexpected(fd.error());
  std::map<int, uint32_t> out;
  auto r = retry([&]() -> Result<void> {
    out.clear();
    ifinfomsg req{};
    req.ifi_family = AF_UNSPEC;
    return rtnl_request(fd->get(), RTM_GETLINK, &req, sizeof req, [&](const nlmsghdr *h) {
      if (h->nlmsg_type != RTM_NEWLINK) return;
      if (auto link = parse_rtnl_link(h); link && link->xdp_prog_id) out[link->ifindex] = link->xdp_prog_id;
    });
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<XdpHook> read_xdp_hook(int ifindex) {
  auto fd = open_rtnl();
  if (!fd) return std::unexpected(fd.error());
  return read_xdp_hook(fd->get(), ifindex);
}

Result<XdpHook> read_xdp_hook(int rtnl_fd, int ifindex) {
  XdpHook out;
  ifinfomsg req{};
  req.ifi_family = AF_UNSPEC;
  req.ifi_index = ifindex;
  auto r = rtnl_request(
      rtnl_fd, RTM_GETLINK, &req, sizeof req,
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
