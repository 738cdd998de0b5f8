// Tc: clsact + one cls_bpf direct-action filter per program (where TCX is missing and the TC
// dispatcher cannot be used), at a preference that keeps our filters on the hook in priority
// order (reconcile/tc_slots.h).
#include <set>

#include <spdlog/spdlog.h>

#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"
#include "kernel/attachers/hook_index.h"
#include "kernel/tc_shared.h"
#include "reconcile/tc_slots.h"

namespace bpfrec {
namespace {

/// Swaps in place: the filter at the same preference and handle is replaced
/// (BPF_TC_F_REPLACE) while it still runs the old program (swap_tc()).
class TcAttacher final : public Attacher {
 public:
  Mechanism mechanism() const override { return Mechanism::Tc; }
  bool swaps_in_place(ProgramType) const override { return true; }

  Result<AttachRecord> attach(AttachContext &ctx, const AttachRequest &r) override {
    // Our other cls_bpf filters: those on this hook place it, every one's handle is taken.
    const HookIndex &index = ctx.index();
    const Hook hook = hook_of(r.spec.type, r.a);
    std::vector<TcSlotPeer> peers;
    std::set<uint32_t> taken{kTcDispatcherHandle};
    for (const HookEntry *e : index.with(Mechanism::Tc)) {
      if (e->dir == r.prog.dir && e->key == r.key) continue;
      taken.insert(e->record.tc_handle);
      if (e->hook == hook)
        peers.push_back({e->record.spec.priority, e->program, e->key, TcSlot{e->record.tc_priority, e->record.tc_handle}});
    }
    auto slot = choose_tc_slot(r.a.priority, r.prog.name, r.key, peers, taken);
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
