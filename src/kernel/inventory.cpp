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
#include <tuple>

#include "kernel/netns.h"
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
    for (auto *h = reinterpret_cast<nlmsghdr *>(buf); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != nh->nlmsg_seq) continue;
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (h->nlmsg_type == NLMSG_DONE) {
        if (interrupted) return fail_errno(EAGAIN, "rtnetlink dump interrupted");
        return {};
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto *e = static_cast<const nlmsgerr *>(NLMSG_DATA(h));
        if (e->error == 0 && (flags & NLM_F_ACK)) return {};  // the ack that ends a single request
        return fail_errno(e->error ? -e->error : EIO, "rtnetlink dump");
      }
      on_msg(h);
    }
  }
}

// Calls on_attr(type, data, len) for each attribute after a message's fixed header.
template <typename Header, typename F>
void each_attr(const nlmsghdr *h, F &&on_attr) {
  int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(Header)));
  for (auto *a = reinterpret_cast<const rtattr *>(static_cast<const char *>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(Header)));
       RTA_OK(a, len); a = RTA_NEXT(a, len))
    on_attr(a->rta_type, RTA_DATA(a), RTA_PAYLOAD(a));
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
    const auto *ifi = static_cast<const ifinfomsg *>(NLMSG_DATA(h));
    std::string name;
    each_attr<ifinfomsg>(h, [&](unsigned short type, const void *data, size_t len) {
      if (type == IFLA_IFNAME) name.assign(static_cast<const char *>(data), strnlen(static_cast<const char *>(data), len));
    });
    if (name.empty()) return;
    names[ifi->ifi_index] = name;
    out.interfaces.push_back({name, (ifi->ifi_flags & IFF_LOOPBACK) != 0});
  });
}

Result<void> read_default_routes(int fd, unsigned char family, std::vector<DefaultRoute> &out) {
  rtmsg req{};
  req.rtm_family = family;
  constexpr unsigned unusable = RTNH_F_DEAD | RTNH_F_LINKDOWN;
  return dump(fd, RTM_GETROUTE, &req, sizeof req, [&](const nlmsghdr *h) {
    if (h->nlmsg_type != RTM_NEWROUTE) return;
    const auto *rt = static_cast<const rtmsg *>(NLMSG_DATA(h));
    if (rt->rtm_family != family || rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST) return;
    if (rt->rtm_flags & unusable) return;
    uint32_t table = rt->rtm_table;
    DefaultRoute r;
    r.family_rank = family == AF_INET ? 0 : 1;
    each_attr<rtmsg>(h, [&](unsigned short type, const void *data, size_t len) {
      if (type == RTA_TABLE && len >= 4) std::memcpy(&table, data, 4);
      else if (type == RTA_PRIORITY && len >= 4) std::memcpy(&r.metric, data, 4);
      else if (type == RTA_OIF && len >= 4) std::memcpy(&r.ifindex, data, 4);
      else if (type == RTA_MULTIPATH && r.ifindex == 0) {
        auto *nh = static_cast<const rtnexthop *>(data);
        for (int left = static_cast<int>(len); RTNH_OK(nh, left); left -= NLMSG_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh))
          if (!(nh->rtnh_flags & unusable)) {
            r.ifindex = nh->rtnh_ifindex;
            break;
          }
      }
    });
    if (table == RT_TABLE_MAIN && r.ifindex > 0) out.push_back(r);
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

// Calls on_xdp(prog_id, attach_mode) for the IFLA_XDP attribute of an RTM_NEWLINK message.
template <typename F>
void each_xdp(const nlmsghdr *h, F &&on_xdp) {
  each_attr<ifinfomsg>(h, [&](unsigned short type, const void *data, size_t len) {
    if ((type & NLA_TYPE_MASK) != IFLA_XDP) return;
    uint32_t id = 0;
    uint8_t mode = 0;
    int left = static_cast<int>(len);
    for (auto *a = static_cast<const rtattr *>(data); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
      if (a->rta_type == IFLA_XDP_PROG_ID && RTA_PAYLOAD(a) >= 4) std::memcpy(&id, RTA_DATA(a), 4);
      if (a->rta_type == IFLA_XDP_ATTACHED && RTA_PAYLOAD(a) >= 1) std::memcpy(&mode, RTA_DATA(a), 1);
    }
    on_xdp(id, mode);
  });
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
      const auto *ifi = static_cast<const ifinfomsg *>(NLMSG_DATA(h));
      each_xdp(h, [&](uint32_t id, uint8_t) {
        if (id) out[ifi->ifi_index] = id;
      });
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
        if (h->nlmsg_type != RTM_NEWLINK || static_cast<const ifinfomsg *>(NLMSG_DATA(h))->ifi_index != ifindex) return;
        each_xdp(h, [&](uint32_t id, uint8_t mode) { out = {id, mode}; });
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
