// Tc: clsact + one cls_bpf direct-action filter per program (where TCX is missing and the TC
// dispatcher cannot be used), at a preference that keeps our filters on the hook in priority
// order (reconcile/tc_slots.h).
#include <bpf/libbpf.h>

#include <cerrno>
#include <set>

#include <spdlog/spdlog.h>

#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"
#include "kernel/attachers/hook_index.h"
#include "kernel/netns.h"
#include "kernel/qdisc.h"
#include "kernel/tc_shared.h"
#include "reconcile/tc_slots.h"

namespace bpfrec {
namespace {

// Program id of our filter at the record's preference and handle, in the current netns; 0: none.
uint32_t tc_query(const AttachRecord &r) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = r.ifindex, .attach_point = r.egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = r.tc_handle, .priority = r.tc_priority);
  return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

// clsact + cls_bpf (direct action) through libbpf's bpf_tc_*, at filter preference `slot.pref`
// and handle `slot.handle` (choose_tc_slot()). The clsact qdisc comes from ensure_clsact(): an
// existing one is reused, one we create is marked ours and removed with our last filter
// (detach_tc); a foreign classic `ingress` qdisc is refused. NLM_F_EXCL: a filter of somebody
// else at that preference and handle is never replaced; the next handle not in `taken` is
// tried instead. Errors: the qdisc (EEXIST, naming it), no such interface, netlink errors.
Result<AttachRecord> attach_tc(int prog_fd, const AttachSpec &a, TcSlot slot, std::set<uint32_t> taken,
                               const std::string &pin_root) {
  AttachRecord rec = interface_record(a, ProgramType::Tc, Mechanism::Tc);
  auto ns = enter_interface_netns(a, rec);
  if (!ns) return std::unexpected(ns.error());
  // Not bpf_tc_hook_create()'s EEXIST: that also means a classic `ingress` qdisc (qdisc.h).
  if (auto r = ensure_clsact(pin_root, rec.ifindex, rec.target); !r) return std::unexpected(r.error());
  rec.tc_priority = slot.pref;
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = rec.ifindex,
                      .attach_point = rec.egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
  for (int attempt = 0;; ++attempt) {
    rec.tc_handle = slot.handle;
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = rec.tc_handle, .priority = rec.tc_priority);
    const int err = bpf_tc_attach(&hook, &opts);
    if (!err) return rec;
    if (err != -EEXIST) return fail_errno(err, "attach cls_bpf to {}", rec.target);
    // Our own filter already there (killed after attaching, before recording): adopt it.
    if (tc_query(rec) == prog_id_of(prog_fd)) return rec;
    // Somebody else's filter has this handle at this preference: take the next free one.
    taken.insert(slot.handle);
    slot.handle = next_free_tc_handle(slot.handle + 1, taken);
    if (attempt >= 16 || slot.handle == 0)
      return fail_errno(err, "attach cls_bpf to {} at preference {}: every handle tried is taken", rec.target,
                        rec.tc_priority);
  }
}

// Replaces our cls_bpf filter (same priority and handle) by `new_fd` with BPF_TC_F_REPLACE,
// when it still runs `old_id`. Errors: ENOENT when the filter is no longer ours.
Result<void> swap_tc(uint32_t old_id, int new_fd, const AttachRecord &r) {
  auto ns = NetnsGuard::enter(r.netns);
  if (!ns) return std::unexpected(ns.error());
  if (tc_query(r) != old_id)
    return fail_errno(ENOENT, "replace cls_bpf on {}: our filter is no longer there", r.target);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = r.ifindex, .attach_point = r.egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = new_fd, .flags = BPF_TC_F_REPLACE, .handle = r.tc_handle,
                      .priority = r.tc_priority);
  if (int err = bpf_tc_attach(&hook, &opts)) return fail_errno(err, "replace cls_bpf on {}", r.target);
  return {};
}

// Deletes our cls_bpf filter when it still runs `prog_id`, then release_clsact(): the clsact
// qdisc goes only when we created it and no filter (anyone's) is left on it.
Result<void> detach_tc(uint32_t prog_id, const AttachRecord &r, const std::string &pin_root) {
  auto ns = NetnsGuard::enter(r.netns);
  if (!ns) return ns.error().code == ENOENT ? Result<void>{} : std::unexpected(ns.error());
  if (tc_query(r) == prog_id) {  // else gone, or somebody else's filter now: not ours to delete
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = r.ifindex,
                        .attach_point = r.egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = r.tc_handle, .priority = r.tc_priority);
    if (int err = bpf_tc_detach(&hook, &opts); err && err != -ENOENT)
      return fail_errno(err, "detach cls_bpf from {}", r.target);
  }
  release_clsact(pin_root, r.ifindex);
  return {};
}

// Whether our filter at the record's preference and handle still runs `prog_id`.
bool tc_in_place(uint32_t prog_id, const AttachRecord &r) {
  auto ns = NetnsGuard::enter(r.netns);
  return ns && prog_id != 0 && tc_query(r) == prog_id;
}

/// Swaps in place: the filter at the same preference and handle is replaced
/// (BPF_TC_F_REPLACE) while it still runs the old program (swap_tc()).
class TcAttacher final : public Attacher {
 public:
  Mechanism mechanism() const override { return Mechanism::Tc; }
  bool swaps_in_place(ProgramType) const override { return true; }

  Result<AttachRecord> attach(AttachContext &ctx, const AttachRequest &r) override {
    const auto *tc = r.a.get_if<TcAttach>();
    if (!tc) return wrong_params("cls_bpf");
    // Our other cls_bpf filters: those on this hook place it, every one's handle is taken.
    const HookIndex &index = ctx.index();
    const Hook hook = hook_of(r.spec.type, r.a);
    std::vector<TcSlotPeer> peers;
    std::set<uint32_t> taken{kTcDispatcherHandle};
    for (const HookEntry *e : index.with(Mechanism::Tc)) {
      if (e->dir == r.prog.dir && e->key == r.key) continue;
      taken.insert(e->record.tc_handle);
      if (const NetIfAttach *n = e->record.spec.netif(); n && e->hook == hook)
        peers.push_back({n->priority, e->program, e->key, TcSlot{e->record.tc_priority, e->record.tc_handle}});
    }
    auto slot = choose_tc_slot(tc->priority, r.prog.name, r.key, peers, taken);
    if (!slot)
      return fail(Error{slot.error().code, fmt::format("attach cls_bpf to {}: {}", r.a.target_label(r.spec.type),
                                                       slot.error().message)});
    if (!slot->inexact.empty()) spdlog::warn("program {}: {}", r.prog.name, slot->inexact);
    return attach_tc(r.prog_fd, r.a, *slot, std::move(taken), ctx.pins.root);
  }

  Result<bool> swap(AttachContext &, const SwapRequest &r) override {
    if (auto s = swap_tc(r.from.prog_id, r.new_fd, r.rec); !s) return std::unexpected(s.error());
    return false;
  }

  Result<void> detach(AttachContext &ctx, const ObservedProgram &prog, const AttachRecord &rec) override {
    return detach_tc(prog.prog_id, rec, ctx.pins.root);
  }

  Check in_place(AttachContext &, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &, bool) override {
    // The record has it all (preference, handle): only whether the filter still runs p.
    return Check{tc_in_place(p.prog_id, a), 0, LiveId::None};
  }
};

}  // namespace

std::unique_ptr<Attacher> make_tc_attacher() { return std::make_unique<TcAttacher>(); }

}  // namespace bpfrec
