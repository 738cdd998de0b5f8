// The clsact qdisc under our cls_bpf filters (the `tc` mechanism and the TC dispatcher): who
// owns it, and a foreign classic `ingress` qdisc in its place. Works in the caller's netns.
//
// bpf_tc_hook_create() answers EEXIST both when clsact is there and when a classic `ingress`
// qdisc holds the same slot (handle ffff:, parent ffff:fff1). On `ingress`, a filter for the
// egress hook lands on the ingress block and runs on incoming packets; bpfman refuses that case
// (bpfman#468), and so do we. TCX needs no qdisc at all.
#pragma once

#include <string>

#include "util/result.h"

namespace bpfrec {

/// Kind of the qdisc at the ingress/clsact slot of interface `ifindex` ("clsact", "ingress",
/// or "" when none), from one RTM_GETQDISC dump. Errors: netlink failures.
Result<std::string> ingress_slot_qdisc(int ifindex);

/// Whether the clsact qdisc of `ifindex` holds any filter (anyone's) on ingress or egress
/// (RTM_GETTFILTER dumps). Errors: netlink failures.
Result<bool> clsact_has_filters(int ifindex);

/// Makes sure interface `ifindex` (named `label` in errors) has a clsact qdisc for our cls_bpf
/// filters: creates it when the slot is free and marks it as ours under
/// `<pin_root>/_clsact/<netns inode>-<ifindex>` (a bpffs directory, so it lives as long as the
/// pins do); reuses an existing clsact (never marked: somebody else's). Errors: EEXIST with a
/// message naming a foreign classic `ingress` qdisc (left alone), or another qdisc kind in the
/// slot; netlink errors.
Result<void> ensure_clsact(const std::string &pin_root, int ifindex, const std::string &label);

/// Called after one of our cls_bpf filters left `ifindex`: deletes the clsact qdisc when we
/// created it (marked) and it holds no filter at all any more (ours or anyone's), and drops the
/// marker. A clsact somebody else created, or one still in use, stays. Markers of interfaces
/// that no longer exist in this netns are dropped too. Best effort: never fails.
void release_clsact(const std::string &pin_root, int ifindex);

}  // namespace bpfrec
