// Attach mechanisms: XDP (alone, libxdp components, the hook cache), perf links (tracepoint,
// uprobe), pinned links; cls_bpf is kernel/attachers/tc.cpp. Every function takes what it needs from
// the pins and the record (never from daemon memory), so a restarted daemon can undo what an
// earlier one did.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <bpf/libbpf.h>

#include "kernel/netns.h"
#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {

/// The error of an attacher handed an attach point whose parameters are another family's
/// (AttachSpec::get_if() was null): a routing bug, reported as EINVAL naming `attacher`,
/// never read as the wrong type.
std::unexpected<Error> wrong_params(std::string_view attacher);

/// Kernel id of the program behind `fd`; 0 when it cannot be read.
uint32_t prog_id_of(int fd);

/// The fields every interface attachment (XDP, cls_bpf) records for attach point `a` of a
/// program of type `t`: mechanism `m`, target label, netns, direction (tc only; an attach point
/// without interface parameters records neither).
AttachRecord interface_record(const AttachSpec &a, ProgramType t, Mechanism m);

/// Enters the attach point's netns (for the caller's scope: the guard returns to ours) and
/// resolves its interface there into `rec.ifindex`. Errors: the netns cannot be entered;
/// ENODEV for no such interface.
Result<NetnsGuard> enter_interface_netns(const AttachSpec &a, AttachRecord &rec);

/// XDP, the program alone on the interface's hook (one per interface; libxdp attaches an
/// already loaded program without its dispatcher). `why_alone` says why no dispatcher is used,
/// for the error when the hook is taken.
/// Errors: no such interface; the hook is held by another program (or a dispatcher).
Result<AttachRecord> attach_xdp(int prog_fd, const AttachSpec &a, const std::string &why_alone);
/// Detaches our program from the recorded interface; not an error when it is no longer there.
Result<void> detach_xdp(int prog_fd, const AttachRecord &r);
/// What the XDP hooks run, read once per observation of the pin root: the first kSingleLookups
/// hooks of a network namespace with one RTM_GETLINK request each (read_xdp_hook), the rest
/// from one dump of the namespace (read_xdp_programs) instead of one per attachment, and
/// libxdp's walk of a dispatcher's components once per hook. Valid for one observation only:
/// drop it afterwards.
class XdpHookCache {
 public:
  /// The programs on interface `ifindex`'s XDP hook in `netns` ("" = ours): the attached program,
  /// or the components of a libxdp dispatcher. Empty when nothing is attached or the namespace
  /// cannot be entered or read.
  const std::vector<uint32_t> &programs(const std::string &netns, int ifindex);

 private:
  /// Single requests per namespace before one dump answers for the rest: a dump costs the
  /// kernel every link of the namespace, a request one link and a few syscalls.
  static constexpr int kSingleLookups = 64;
  std::map<std::string, int> asked_;  // netns -> single requests made
  std::map<std::string, UniqueFd> socks_;  // netns -> rtnetlink socket made in it (invalid: cannot)
  std::map<std::string, std::map<int, uint32_t>> attached_;  // netns -> ifindex -> program on the hook
  std::map<std::pair<std::string, int>, std::vector<uint32_t>> hooks_;
};

/// True when the recorded interface's XDP hook runs program `prog_id` (alone or in a dispatcher),
/// as `hooks` saw it.
bool xdp_in_place(uint32_t prog_id, const AttachRecord &r, XdpHookCache &hooks);

/// Replaces program `old_fd` by `new_fd` on the recorded XDP hook without leaving it empty:
/// XDP_FLAGS_REPLACE with old_prog_fd when our program is alone on the hook (the kernel refuses
/// if it is not ours any more), else (a libxdp dispatcher) attach the new, then detach the old.
Result<void> swap_xdp(int old_fd, int new_fd, const AttachSpec &a, const AttachRecord &r);

/// XDP through libxdp's multi-program dispatcher (needs freplace; see probe_freplace()):
/// libxdp loads `prog` of `obj` (opened, not loaded; its maps already reuse the program's
/// pinned maps so every attach point shares them) as a BPF_PROG_TYPE_EXT component with run
/// priority `a.priority` (lower first) and chain-call actions from `a.proceed_on`, builds a new
/// dispatcher with the components already on the hook (ours and other libxdp users', e.g.
/// xdp-loader, under libxdp's lock) and swaps it in. The component is pinned at
/// `component_pin`. A component of ours left unpinned by a crash (same maps, priority and
/// chain-call actions, and not in `claimed`) is adopted instead of attaching a second one.
/// Errors: no such interface; the hook runs a program outside a dispatcher; libxdp errors.
Result<AttachRecord> attach_xdp_component(bpf_object *obj, bpf_program *prog, const AttachSpec &a,
                                          const std::vector<uint32_t> &our_map_ids,
                                          const std::vector<uint32_t> &claimed, const std::string &component_pin);

/// A tracepoint ("category/name") through perf_event_open + BPF_LINK_CREATE(BPF_PERF_EVENT),
/// pinned at `link_pin`. Errors: unknown tracepoint (ENOENT), perf/bpf errors.
Result<AttachRecord> attach_tracepoint(int prog_fd, const AttachSpec &a, const std::string &link_pin);

/// A uprobe or uretprobe on `a.target` at `a.function` (+ `a.offset`), for `a.pid` or every
/// process, through the uprobe PMU and a perf link pinned at `link_pin`. The symbol is resolved
/// to a file offset from .symtab/.dynsym with libelf. Errors: missing file or symbol.
/// `path` is the file to probe (resolve_uprobe_target()); the record keeps it in `resolved` when
/// it differs from `a.target`.
Result<AttachRecord> attach_uprobe(int prog_fd, bool retprobe, const AttachSpec &a, const std::string &path,
                                   const std::string &link_pin);

/// The file a uprobe `target` names, on this node, now: an absolute path as it is; a library
/// name (is_library_name()) as bpfman resolves it: with `pid`, the library that process maps
/// (/proc/PID/maps), else its own loader cache, both as /proc/PID/root/<path> so the file is the
/// one in the process's mount namespace; without `pid`, /etc/ld.so.cache (util/ld_cache.h).
/// Errors: ENOENT when nothing matches (the message says where it looked), unreadable files.
Result<std::string> resolve_uprobe_target(const AttachSpec &a);

/// Points the pinned link at `new_fd` (BPF_LINK_UPDATE: same link id, no gap; TCX links).
Result<void> update_pinned_link(const std::string &link_pin, int new_fd);

/// Detaches (BPF_LINK_DETACH) and unpins a pinned link; a missing pin is not an error.
Result<void> detach_pinned_link(const std::string &link_pin);

/// Kernel id of the link pinned at `link_pin`, 0 when there is none or it was detached
/// (a TCX link whose interface went away reports ifindex 0; we treat it as gone).
/// `prog_id`, when given, receives the id of the program the link runs.
uint32_t pinned_link_id(const std::string &link_pin, uint32_t *prog_id = nullptr);

/// File offset of `symbol` in the ELF file at `path` (what the uprobe PMU wants).
/// Errors: not an ELF file, or no defined function of that name.
Result<uint64_t> elf_symbol_offset(const std::string &path, const std::string &symbol);

}  // namespace bpfrec
