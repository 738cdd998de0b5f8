// Attach mechanism of the program types that attach to a network namespace as a whole
// (sk_lookup): a BPF_LINK_CREATE with the namespace file's fd as target, pinned at `link_pin`
// and found again from the pin alone, like attach_tracing.h.
#pragma once

#include <string>

#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// Attaches `prog_fd` to the network namespace `a.netns` (a netns file such as
/// /run/netns/blue; empty: the calling thread's own namespace) with the type's kernel attach
/// type (BPF_SK_LOOKUP) through BPF_LINK_CREATE; mechanism link. The link does not keep the
/// namespace alive: once it is gone the kernel reports the link with netns_ino 0, and
/// pinned_live_link_id() counts it as detached. Errors: the file cannot be opened, or is not a
/// network namespace ("is not a network namespace", as for xdp and tc), or the kernel refuses the link.
Result<AttachRecord> attach_netns_link(int prog_fd, ProgramType t, const AttachSpec &a, const std::string &link_pin);

}  // namespace bpfrec
