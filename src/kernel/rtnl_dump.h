// One rtnetlink request and its answers, over a NETLINK_ROUTE socket of the caller's network
// namespace: what inventory.cpp (links, routes, XDP hooks) and qdisc.cpp (qdiscs, filters) ask.
// The messages are split and classified by the pure parsers of kernel/rtnl.h.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {

/// A blocking NETLINK_ROUTE socket (SOCK_CLOEXEC) in the caller's network namespace.
/// Errors: socket(2)'s errno.
Result<UniqueFd> open_rtnl();

/// Sends `type` with `payload` (`len` bytes: an ifinfomsg, rtmsg or tcmsg) and calls `on_msg`
/// for every answer to it. With `flags` NLM_F_REQUEST | NLM_F_DUMP (the default) the answers end
/// at NLMSG_DONE; with NLM_F_REQUEST | NLM_F_ACK, one request, they end at the ack (NLMSG_ERROR
/// with error 0). Errors: a payload longer than those headers (EINVAL), socket errors, the
/// kernel's NLMSG_ERROR (its errno, e.g. ENODEV), or a dump the kernel marked interrupted
/// (NLM_F_DUMP_INTR: the table changed meanwhile; EAGAIN, the caller asks again).
Result<void> rtnl_request(int fd, uint16_t type, const void *payload, size_t len,
                          const std::function<void(const nlmsghdr *)> &on_msg,
                          uint16_t flags = NLM_F_REQUEST | NLM_F_DUMP);

}  // namespace bpfrec
