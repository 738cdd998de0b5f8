// proceed_on of TC attach points: the dispatcher's chain-call bitmask, and which proceed_on each
// TC mechanism can honour. Pure (no kernel access); the kernel layer calls it before attaching.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// bpfman's TC proceed-on names as a chain-call bitmask for the dispatcher: bit (code + 1) for
/// each TC action code (unspec = -1 -> bit 0, ok -> bit 1, ..., trap = 8 -> bit 9) and bit 31
/// for dispatcher_return (30). Unknown names are ignored (the parser rejects them).
uint32_t tc_proceed_on_mask(const std::vector<std::string> &names);

/// Checks that mechanism `m` can honour the attach point's proceed_on, i.e. that "the next
/// program runs" happens for exactly the return codes the manifest lists:
///  - tc_dispatcher: any set (the dispatcher checks each slot's code against its bitmask).
///  - tcx: the kernel goes on only after TCX_NEXT (-1) and stops on any other code
///    (net/core/dev.c tcx_run()), so only proceed_on = ["unspec"] is honoured.
///  - tc (cls_bpf direct-action): cls_bpf_exec_opcode() turns every code but ok, shot, stolen,
///    redirect and trap into TC_ACT_UNSPEC, which goes on to the next filter; so only exactly
///    ["unspec", "reclassify", "pipe", "queued", "repeat"] is honoured.
/// dispatcher_return (the code of an empty dispatcher slot) may be listed for tcx and tc: there
/// is no dispatcher, so it changes nothing. A proceed_on the manifest did not name (the default
/// pipe, dispatcher_return) is not checked: the mechanism's own rule applies, as documented.
/// Errors: a positioned "<manifest>:<line>:<col>: error: ..." naming what the mechanism does.
Result<void> check_tc_proceed_on(Mechanism m, const std::string &manifest, const AttachSpec &a);

}  // namespace bpfrec
