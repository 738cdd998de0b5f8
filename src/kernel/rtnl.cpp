#include "kernel/rtnl.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstring>

namespace bpfrec {
namespace {

// Calls on_attr(type, data, len) for each attribute after a message's fixed header; the caller
// has checked that the message holds the header.
template <typename Header, typename F>
void each_attr(const nlmsghdr *h, F &&on_attr) {
  int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(Header)));
  for (auto *a = reinterpret_cast<const rtattr *>(static_cast<const char *>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(Header)));
       RTA_OK(a, len); a = RTA_NEXT(a, len))
    on_attr(a->rta_type, RTA_DATA(a), RTA_PAYLOAD(a));
}

template <typename Header>
const Header *header(const nlmsghdr *h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(Header))) return nullptr;
  return static_cast<const Header *>(NLMSG_DATA(h));
}

}  // namespace

void each_netlink_message(const void *buf, size_t len, const std::function<void(const nlmsghdr *)> &on_msg) {
  // NLMSG_OK/NLMSG_NEXT by hand: with the remainder cast to unsigned (as it must be to compare
  // with nlmsg_len without a warning), a last message whose length is not a multiple of 4 made
  // it wrap around and the next header was read past the buffer.
  size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    const auto *h = reinterpret_cast<const nlmsghdr *>(static_cast<const char *>(buf) + off);
    if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > len - off) return;
    on_msg(h);
    off += NLMSG_ALIGN(h->nlmsg_len);
    if (off >= len) return;
  }
}

DumpStep classify_dump_message(const nlmsghdr *h, uint32_t seq, bool ack_ends) {
  DumpStep s;
  if (h->nlmsg_seq != seq) return s;
  s.interrupted = (h->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
  if (h->nlmsg_type == NLMSG_DONE) {
    s.kind = DumpStep::Done;
  } else if (h->nlmsg_type == NLMSG_ERROR) {
    const auto *e = header<nlmsgerr>(h);
    if (e && e->error == 0 && ack_ends) {
      s.kind = DumpStep::Ack;
    } else {
      s.kind = DumpStep::Error;
      // INT_MIN has no positive errno; anything not a negative errno is EIO.
      s.error = e && e->error < 0 && e->error > -4096 ? -e->error : 5 /* EIO */;
    }
  } else {
    s.kind = DumpStep::Message;
  }
  return s;
}

std::optional<RtnlLink> parse_rtnl_link(const nlmsghdr *h) {
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return std::nullopt;
  const auto *ifi = header<ifinfomsg>(h);
  if (!ifi) return std::nullopt;
  RtnlLink out;
  out.deleted = h->nlmsg_type == RTM_DELLINK;
  out.ifindex = ifi->ifi_index;
  out.flags = ifi->ifi_flags;
  each_attr<ifinfomsg>(h, [&](unsigned short type, const void *data, size_t len) {
    if (type == IFLA_IFNAME) {
      out.name.assign(static_cast<const char *>(data), strnlen(static_cast<const char *>(data), len));
    } else if (type == IFLA_OPERSTATE && len >= 1) {
      std::memcpy(&out.operstate, data, 1);
    } else if ((type & NLA_TYPE_MASK) == IFLA_XDP) {
      out.has_xdp = true;
      int left = static_cast<int>(len);
      for (auto *a = static_cast<const rtattr *>(data); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        if (a->rta_type == IFLA_XDP_PROG_ID && RTA_PAYLOAD(a) >= 4) std::memcpy(&out.xdp_prog_id, RTA_DATA(a), 4);
        if (a->rta_type == IFLA_XDP_ATTACHED && RTA_PAYLOAD(a) >= 1) std::memcpy(&out.xdp_mode, RTA_DATA(a), 1);
      }
    }
  });
  return out;
}

std::optional<RtnlDefaultRoute> parse_rtnl_default_route(const nlmsghdr *h, unsigned char family) {
  if (h->nlmsg_type != RTM_NEWROUTE) return std::nullopt;
  const auto *rt = header<rtmsg>(h);
  if (!rt) return std::nullopt;
  if (rt->rtm_family != family || rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST) return std::nullopt;
  constexpr unsigned unusable = RTNH_F_DEAD | RTNH_F_LINKDOWN;
  if (rt->rtm_flags & unusable) return std::nullopt;
  uint32_t table = rt->rtm_table;
  RtnlDefaultRoute r;
  each_attr<rtmsg>(h, [&](unsigned short type, const void *data, size_t len) {
    if (type == RTA_TABLE && len >= 4) std::memcpy(&table, data, 4);
    else if (type == RTA_PRIORITY && len >= 4) std::memcpy(&r.metric, data, 4);
    else if (type == RTA_OIF && len >= 4) std::memcpy(&r.ifindex, data, 4);
    else if (type == RTA_MULTIPATH && r.ifindex == 0) {
      auto *nh = static_cast<const rtnexthop *>(data);
      // RTNH_OK reads rtnh_len before it knows that a whole rtnexthop is left: check that first.
      for (int left = static_cast<int>(len); left >= static_cast<int>(sizeof(rtnexthop)) && RTNH_OK(nh, left);
           left -= RTNH_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh))
        if (!(nh->rtnh_flags & unusable)) {
          r.ifindex = nh->rtnh_ifindex;
          break;
        }
    }
  });
  if (table != RT_TABLE_MAIN || r.ifindex <= 0) return std::nullopt;
  return r;
}

bool is_link_watch_event(const nlmsghdr *h) {
  if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) return true;
  if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) return false;
  const auto *rt = header<rtmsg>(h);
  return rt && rt->rtm_dst_len == 0;
}

}  // namespace bpfrec
