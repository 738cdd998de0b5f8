#include "kernel/link_event.h"

#include <net/if.h>

#include <fmt/format.h>

namespace bpfrec {

void LinkTable::seed(const RtnlLink &m) {
  if (m.deleted) {
    links_.erase(m.ifindex);
    return;
  }
  Link &l = links_[m.ifindex];
  l.name = m.name;
  l.up = m.flags & IFF_UP;
  l.operstate = m.operstate;
  if (m.has_xdp) l.xdp_prog = m.xdp_prog_id;
}

std::optional<std::string> LinkTable::judge(const RtnlLink &m, const std::set<std::string> &ours) {
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
  else if (m.has_xdp && m.xdp_prog_id != l.xdp_prog && !ours.contains(m.name) && !ours.contains(l.name))
    why = fmt::format("XDP program on {} changed ({} -> {})", m.name, l.xdp_prog, m.xdp_prog_id);
  seed(m);
  return why;
}

}  // namespace bpfrec
