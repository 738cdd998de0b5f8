// Shared TC hooks: several programs of ours (and others') on one (netns, interface, direction).
//
// Three mechanisms, chosen per attachment by what the kernel can do (probed, see probe_tcx()
// and probe_freplace()):
//   tcx            TCX links (Linux 6.6+). Ours are ordered among themselves by priority with
//                  BEFORE/AFTER anchors on our own links; foreign links are never moved.
//   tc_dispatcher  one cls_bpf filter of ours running a dispatcher program (bpf/tc_dispatcher.bpf.c,
//                  bpfman's design) whose slots our programs replace through freplace; needs
//                  BPF_PROG_TYPE_EXT, which lockdown and some kernels refuse (probe_freplace(),
//                  kernel/features.h).
//   tc             one cls_bpf direct-action filter per program, at tc priority = our priority.
// Which proceed_on each one honours: see check_tc_proceed_on().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "load/files.h"
#include "manifest/manifest.h"
#include "reconcile/proceed_on.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

// ---------------------------------------------------------------------------------------------
// TCX

/// True when the kernel has TCX: BPF_PROG_QUERY with attach type BPF_TCX_INGRESS (46) on the
/// loopback interface succeeds (kernels before 6.6 answer EINVAL). Probed, never inferred from
/// the version string.
bool probe_tcx();

/// The programs and links on one TCX hook, in run order, and the hook's revision (Linux 6.6
/// BPF_PROG_QUERY: prog_ids, link_ids (0 for a program attached without a link), revision).
struct TcxHookState {
  std::vector<uint32_t> prog_ids;
  std::vector<uint32_t> link_ids;
  uint64_t revision = 0;
};
/// Queries the TCX hook of `ifindex` in the current netns. Errors: EINVAL without TCX.
Result<TcxHookState> tcx_query(int ifindex, bool egress);

/// One of our TCX links, known by its kernel link id: the program that owns it and the priority
/// its attach point asks for.
struct TcxPeer {
  uint32_t priority = 0;
  std::string program;
};

/// Attaches `prog_fd` to the TCX hook of `a` at the place `a.priority` asks for among OUR links
/// on that hook (`ours`: link id -> peer, every TCX link pinned under our pin root). Order key
/// (priority, program name), lower first (equal priorities: by program name, as bpfman does):
/// BEFORE the first of ours with a higher key, else AFTER the last of ours, else appended after
/// whatever is there. The attach carries the revision just queried (expected_revision) and is
/// retried on ESTALE when somebody changed the hook meanwhile. Links of others are never moved
/// or detached: where ours land relative to them follows only from anchoring on ours.
/// The link is pinned at `link_pin`. Errors: EINVAL without TCX, EEXIST when this program is
/// already on the hook (the kernel keeps a program at most once per TCX hook).
Result<AttachRecord> attach_tcx_ordered(int prog_fd, const std::string &program, const AttachSpec &a,
                                        const std::string &link_pin, const std::map<uint32_t, TcxPeer> &ours);

// ---------------------------------------------------------------------------------------------
// TC dispatcher

/// Slots in one dispatcher (bpfman uses 10 as well).
inline constexpr unsigned kTcDispatcherSlots = 10;
/// cls_bpf priority and handle of our dispatcher filter on every hook.
inline constexpr uint32_t kTcDispatcherPriority = 50;
inline constexpr uint32_t kTcDispatcherHandle = 0xb1d50;

/// One program in a dispatcher: where its pins are (its maps are reused, so counters are shared
/// with the pinned program) and how to load it again as an extension.
struct TcDispatcherMember {
  std::string program;  // program name
  std::string key;      // attach key
  std::string dir;      // its pin directory (<pin-root>/<name> or a staging directory)
  std::string object;   // bytecode path
  Result<Bytecode> bytecode = fail("not resolved");  // the bytes the program was loaded from (BytecodeStore)
  std::string function; // bpf_function
  uint32_t priority = 50;
  std::vector<std::string> proceed_on;
};

/// Makes the dispatcher on the hook of `hook` (netns, interface, direction) run exactly
/// `members`, ordered by (priority, program, key), each with its proceed_on. Builds a new
/// dispatcher with the new configuration, loads every member as BPF_PROG_TYPE_EXT against slot
/// progK (maps reused from <dir>/maps/<name with '.'->'_'>) and links it (BPF_TRACE_FREPLACE),
/// pins all of it under <pin-root>/_dispatchers/tc-<netns inode>-<ifindex>-<direction>/g<N>/,
/// then swaps the cls_bpf filter (priority kTcDispatcherPriority, handle kTcDispatcherHandle) to
/// it atomically (BPF_TC_F_REPLACE) and removes the previous generation: the hook is never
/// empty. With no members the filter and the directory are removed. On failure the previous
/// dispatcher stays as it was. Returns the ext link id per "<program>-<key>".
/// Errors: more than kTcDispatcherSlots members, a foreign filter at our priority/handle,
/// load/verifier/freplace errors, no such interface.
Result<std::map<std::string, uint32_t>> tc_dispatcher_sync(const std::string &pin_root, const AttachSpec &hook,
                                                           std::vector<TcDispatcherMember> members);

/// True when the hook of `r` runs our current dispatcher and it has `program`'s ext link for
/// `r.key`; `link_id` then receives that link's id.
bool tc_dispatcher_in_place(const std::string &pin_root, const std::string &program, const AttachRecord &r,
                            uint32_t *link_id = nullptr);

/// True when two attach specs name the same TC hook (netns path, interface, direction); false
/// when either is not a tc attach point.
bool same_tc_hook(const AttachSpec &x, const AttachSpec &y);

}  // namespace bpfrec
