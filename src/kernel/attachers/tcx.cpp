// Tcx: a TCX link (Linux 6.6+), placed among our links on the hook by priority (tc_shared.h).
#include <map>

#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"
#include "kernel/attachers/hook_index.h"
#include "kernel/tc_shared.h"

namespace bpfrec {
namespace {

// Our TCX links on hook `h` (kernel link id -> priority, program), from the hook index and the
// pinned links. Only the links recorded on the same hook (netns, interface, direction) are
// opened. A link recorded under an interface's old name is left out, and ordered as if it
// were foreign.
std::map<uint32_t, TcxPeer> tcx_peers(const HookIndex &index, const Hook &h) {
  std::map<uint32_t, TcxPeer> peers;
  for (const HookEntry *e : index.on(h))
    if (e->record.mechanism == Mechanism::Tcx)
      if (const NetIfAttach *n = e->record.spec.netif())
        if (uint32_t id = pinned_link_id(PinLayout::link(e->dir, e->key))) peers[id] = TcxPeer{n->priority, e->program};
  return peers;
}

/// Swaps in place: BPF_LINK_UPDATE points the same link (same id, same place in the hook's
/// order) at the new program, and the pin moves to the new program's directory.
class TcxAttacher final : public PinnedLinkAttacher {
 public:
  Mechanism mechanism() const override { return Mechanism::Tcx; }
  bool swaps_in_place(ProgramType) const override { return true; }

  Result<AttachRecord> attach(AttachContext &ctx, const AttachRequest &r) override {
    return attach_tcx_ordered(r.prog_fd, r.prog.name, r.a, r.link_pin, tcx_peers(ctx.index(), hook_of(r.spec.type, r.a)));
  }

  Check in_place(AttachContext &, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &, bool) override {
    // The link must run this program: after an interrupted replace a link pinned here can run
    // the staged one. A TCX link can be detached (or lose its device) while pinned: asked
    // every time.
    uint32_t prog_id = 0;
    Check c{false, pinned_link_id(PinLayout::link(p.dir, a.key), &prog_id), LiveId::Link};
    c.ok = c.live_id != 0 && prog_id == p.prog_id;
    return c;
  }
};

}  // namespace

std::unique_ptr<Attacher> make_tcx_attacher() { return std::make_unique<TcxAttacher>(); }

}  // namespace bpfrec
