// Pure parsing of rtnetlink messages: what inventory.cpp (dumps) and daemon/link_watch.cpp
// (notifications) read out of a recv() buffer, with no socket in sight, so that the fuzzer
// (fuzz/fuzz_rtnl.cpp) and unit tests can feed it arbitrary bytes.
//
// Every function takes the bytes as received and checks each length before it reads: a message
// shorter than its fixed header (ifinfomsg, rtmsg, nlmsgerr) is skipped, never read past.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace bpfrec {

/// Calls on_msg for each whole message in `buf` (4-byte aligned, as recv() buffers of nlmsghdr
/// are); a truncated tail is ignored. The header on_msg gets is valid for nlmsg_len bytes.
void each_netlink_message(const void *buf, size_t len, const std::function<void(const nlmsghdr *)> &on_msg);

/// What one message of an answer to our request `seq` means for the reader of a dump.
struct DumpStep {
  enum Kind { Skip, Message, Done, Ack, Error } kind = Skip;
  int error = 0;             ///< positive errno, for Error
  bool interrupted = false;  ///< NLM_F_DUMP_INTR: the table changed during the dump
};
/// Classifies a message: another sequence number is Skip; NLMSG_DONE is Done; NLMSG_ERROR with
/// error 0 is Ack when `ack_ends` (a single request with NLM_F_ACK), else an Error (EIO when the
/// message is too short to carry an nlmsgerr); anything else is a Message.
DumpStep classify_dump_message(const nlmsghdr *h, uint32_t seq, bool ack_ends);

/// An RTM_NEWLINK / RTM_DELLINK message.
struct RtnlLink {
  bool deleted = false;  ///< RTM_DELLINK
  int ifindex = 0;
  unsigned flags = 0;  ///< ifi_flags (IFF_*)
  std::string name;    ///< IFLA_IFNAME, empty when absent
  uint8_t operstate = 0;     ///< IFLA_OPERSTATE (IF_OPER_*, RFC 2863), 0 when absent
  bool has_xdp = false;      ///< an IFLA_XDP attribute was present
  uint32_t xdp_prog_id = 0;  ///< IFLA_XDP_PROG_ID inside IFLA_XDP; 0: none (or several modes)
  uint8_t xdp_mode = 0;      ///< IFLA_XDP_ATTACHED inside IFLA_XDP
};
/// Parses a link message; nullopt when it is not one or is shorter than an ifinfomsg.
std::optional<RtnlLink> parse_rtnl_link(const nlmsghdr *h);

/// A usable default route of an RTM_NEWROUTE message (see read_interface_inventory()).
struct RtnlDefaultRoute {
  uint32_t metric = 0;  ///< RTA_PRIORITY
  int ifindex = 0;      ///< RTA_OIF, or the first usable next hop of RTA_MULTIPATH
};
/// Parses an RTM_NEWROUTE message of `family`: a unicast route to the default destination in
/// the main table whose next hop is not dead or link-down; nullopt otherwise (or too short).
std::optional<RtnlDefaultRoute> parse_rtnl_default_route(const nlmsghdr *h, unsigned char family);

/// Whether a notification matters to the link watcher: a link message, or a route message about
/// 0.0.0.0/0 or ::/0 (what "@primary" follows).
bool is_link_watch_event(const nlmsghdr *h);

}  // namespace bpfrec
