// Attach mechanism of netfilter programs (Linux 6.4+): a netfilter link on one hook of one
// network namespace, pinned at `link_pin` and found again from the pin alone, like attach_netns.h.
#pragma once

#include <string>

#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// Attaches `prog_fd` (BPF_PROG_TYPE_NETFILTER) at netfilter hook `a.hook` ("ipv4_prerouting")
/// with priority `a.netfilter_priority` in the network namespace `a.netns` (empty: the
/// daemon's): the namespace is entered on the calling thread for a raw BPF_LINK_CREATE
/// (BPF_NETFILTER with pf, hooknum, priority; libbpf 1.1.2 has no netfilter opts), then left
/// again; mechanism link. Errors: the namespace cannot be entered; EOPNOTSUPP/EINVAL from a
/// kernel without netfilter links; ERANGE for a priority the kernel refuses.
Result<AttachRecord> attach_netfilter(int prog_fd, const AttachSpec &a, const std::string &link_pin);

}  // namespace bpfrec
