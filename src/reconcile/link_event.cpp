#include "reconcile/link_event.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <fmt/format.h>

namespace bpfrec {
namespace {

std::optional<uint32_t> xdp_prog_of(const rtattr *xdp) {
  // IFLA_XDP nests IFLA_XDP_ATTACHED and IFLA_XDP_PROG_ID (the program in the first mode that
  // has one, or the only one); no program: IFLA_XDP_ATTACHED = XDP_ATTACHED_NONE, no prog id.
  uint32_t id = 0;
  int len = static_cast<int>(RTA_PAYLOAD(xdp));
  for (auto *a = static_cast<const rtattr *>(RTA_DATA(xdp)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_XDP_PROG_ID && RTA_PAYLOAD(a) >= sizeof(uint32_t))
      id = *static_cast<const uint32_t *>(RTA_DATA(a));
  }
  return id;
}

}  // namespace

std::optional<LinkMessage> parse_link_message(const nlmsghdr *h) {
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return std::nullopt;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  const auto *ifi = static_cast<const ifinfomsg *>(NLMSG_DATA(h));
  LinkMessage m;
  m.deleted = h->nlmsg_type == RTM_DELLINK;
  m.ifindex = ifi->ifi_index;
  m.flags = ifi->ifi_flags;
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
  for (auto *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    switch (a->rta_type) {
      case IFLA_IFNAME: {
        const char *s = static_cast<const char *>(RTA_DATA(a));
        m.name.assign(s, strnlen(s, RTA_PAYLOAD(a)));
        break;
      }
      case IFLA_OPERSTATE:
        if (RTA_PAYLOAD(a) >= 1) m.operstate = *static_cast<const uint8_t *>(RTA_DATA(a));
        break;
      case IFLA_XDP: m.xdp_prog = xdp_prog_of(a); break;
      default: break;
    }
  }
  return m;
}

void LinkTable::seed(const LinkMessage &m) {
  if (m.deleted) {
    links_.erase(m.ifindex);
    return;
  }
  Link &l = links_[m.ifindex];
  l.name = m.name;
  l.up = m.flags & IFF_UP;
  l.operstate = m.operstate;
  if (m.xdp_prog) l.xdp_prog = *m.xdp_prog;
}

std::optional<std::string> LinkTable::judge(const LinkMessage &m, const std::set<std::string> &ours) {
  auto it = links_.find(m.ifindex);
  if (m.deleted) {
    if (it == links_.end()) return fmt::format("interface {} deleted", m.name);
    std::string name = it->second.name;
    links_.erase(it);
    return fmt::format("interface {} deleted", name);
  }
  if (it == links_.end()) {
    seed(m);
    return fmt::format("new interface {}", m.name);
  }
  Link &l = it->second;
  std::optional<std::string> why;
  if (l.name != m.name) why = fmt::format("interface {} renamed to {}", l.name, m.name);
  else if (l.up != (m.flags & IFF_UP)) why = fmt::format("interface {} {}", m.name, (m.flags & IFF_UP) ? "up" : "down");
  else if (l.operstate != m.operstate)
    why = fmt::format("interface {} operstate {} -> {}", m.name, l.operstate, m.operstate);
  else if (m.xdp_prog && *m.xdp_prog != l.xdp_prog && !ours.contains(m.name) && !ours.contains(l.name))
    why = fmt::format("XDP program on {} changed ({} -> {})", m.name, l.xdp_prog, *m.xdp_prog);
  seed(m);
  return why;
}

}  // namespace bpfrec
