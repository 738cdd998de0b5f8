// What an rtnetlink link message means for the reconciler. The daemon's own attaches and
// detaches (XDP through netlink, libxdp's dispatcher) are RTM_NEWLINK messages in the
// namespaces it watches; reconciling on them again retries whatever just failed, without end.
// So a message counts only when it changes what the reconciler acts on: an interface that is
// new, deleted, renamed, moved to another namespace, brought up or down (IFF_UP, operstate), or
// whose XDP program changed behind our back. Pure: the caller feeds messages parsed by
// parse_rtnl_link() (kernel/rtnl.h) in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "kernel/rtnl.h"

namespace bpfrec {

/// One namespace's interfaces as the messages so far describe them, and the judgement of the
/// next message against that.
class LinkTable {
 public:
  /// Records `m` without judging it (the initial dump of a namespace newly watched).
  void seed(const RtnlLink &m);
  /// Records `m` and says why it matters (e.g. "new interface rg3"), or nullopt when it does not.
  /// `ours`: interface names whose XDP hook this daemon changed since the last judgement; an XDP
  /// program change there, and nothing else, is our own and does not matter.
  std::optional<std::string> judge(const RtnlLink &m, const std::set<std::string> &ours = {});
  std::size_t size() const { return links_.size(); }

 private:
  struct Link {
    std::string name;
    uint32_t up = 0;  // flags & IFF_UP
    uint8_t operstate = 0;
    uint32_t xdp_prog = 0;
  };
  std::map<int, Link> links_;
};

}  // namespace bpfrec
