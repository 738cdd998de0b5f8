// The node's interfaces, per network namespace, for expanding interface patterns
// (reconcile/interfaces.h): read with rtnetlink dumps inside each namespace.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "reconcile/interfaces.h"
#include "util/result.h"

namespace bpfrec {

/// Reads every namespace in `netns_paths` ("" = ours): its interfaces (RTM_GETLINK dump: name,
/// IFF_LOOPBACK) and, for those also in `primary_netns`, the interface that carries the default
/// route (RTM_GETROUTE dumps of IPv4 and IPv6, only there: a node with a full BGP table pays
/// for the dump only where "@primary" asks for it): among unicast routes to 0.0.0.0/0 or ::/0
/// in the main table whose next hop is not dead or link-down, the lowest metric (RTA_PRIORITY)
/// wins; on a tie IPv4 before IPv6, then the lower ifindex. A multipath route counts by its
/// first usable next hop. A kernel without IPv6 simply has no IPv6 default route.
/// A namespace that cannot be entered or read gets NetnsInterfaces::error; never fails as a whole.
InterfaceInventory read_interface_inventory(const std::set<std::string> &netns_paths,
                                            const std::set<std::string> &primary_netns);

/// The program on each interface's XDP hook in the caller's network namespace, from one
/// RTM_GETLINK dump (IFLA_XDP_PROG_ID inside IFLA_XDP): ifindex -> program id. Interfaces without
/// a program, or with programs in several modes at once (XDP_ATTACHED_MULTI, where the kernel gives
/// no single id, as bpf_xdp_query() reports it), are absent. One dump answers for every interface;
/// libbpf's bpf_xdp_query() dumps every link of the namespace to answer for one.
/// Errors: the netlink socket or dump failed (a dump interrupted three times in a row included).
Result<std::map<int, uint32_t>> read_xdp_programs();

/// One interface's XDP hook in the caller's network namespace.
struct XdpHook {
  uint32_t prog_id = 0;     ///< IFLA_XDP_PROG_ID; 0: none, or programs in several modes
  uint8_t attach_mode = 0;  ///< IFLA_XDP_ATTACHED: XDP_ATTACHED_NONE/DRV/SKB/HW/MULTI
};

/// Reads interface `ifindex`'s XDP hook with one RTM_GETLINK request for that interface (what
/// bpf_xdp_query() answers, without its dump of every link: an attach on a node with N
/// interfaces stays O(1)). A missing interface (ENODEV) reads as an empty hook, as with
/// bpf_xdp_query(). Errors: the netlink socket or request failed.
Result<XdpHook> read_xdp_hook(int ifindex);
/// The same on rtnetlink socket `rtnl_fd` (open_rtnl()), which answers for the namespace it was
/// made in, whichever namespace the caller is in now.
Result<XdpHook> read_xdp_hook(int rtnl_fd, int ifindex);

}  // namespace bpfrec
