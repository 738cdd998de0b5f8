// Xdp: the program alone on an interface's XDP hook (where libxdp's dispatcher cannot be used:
// freplace refused, or --xdp-mechanism single).
#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"

namespace bpfrec {
namespace {

/// Swaps in place: XDP_FLAGS_REPLACE with the old program's fd (the kernel refuses when the
/// hook no longer runs it), so the hook is never empty (swap_xdp()).
class XdpAttacher final : public Attacher {
 public:
  Mechanism mechanism() const override { return Mechanism::Xdp; }
  bool swaps_in_place(ProgramType) const override { return true; }

  Result<AttachRecord> attach(AttachContext &, const AttachRequest &r) override {
    return attach_xdp(r.prog_fd, r.a, r.why);
  }

  Result<bool> swap(AttachContext &, const SwapRequest &r) override {
    if (auto s = swap_xdp(r.old_fd, r.new_fd, r.a, r.rec); !s) return std::unexpected(s.error());
    return false;
  }

  Result<void> detach(AttachContext &, const ObservedProgram &prog, const AttachRecord &rec) override {
    // Another attach point of ours on the same hook (e.g. only its priority changed) keeps the
    // program there: forget this record without touching the hook.
    for (const auto &[k, other] : prog.attachments)
      if (k != rec.key && other.mechanism == Mechanism::Xdp && other.netns == rec.netns && other.ifindex == rec.ifindex)
        return {};
    auto fd = open_prog(prog);
    if (!fd) return std::unexpected(fd.error());
    return detach_xdp(fd->get(), rec);
  }

  Check in_place(AttachContext &, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &xdp_hooks,
                 bool) override {
    // The record has it all: nothing to show besides whether the hook still runs the program.
    return Check{p.prog_id != 0 && xdp_in_place(p.prog_id, a, xdp_hooks), 0, LiveId::None};
  }
};

}  // namespace

std::unique_ptr<Attacher> make_xdp_attacher() { return std::make_unique<XdpAttacher>(); }

}  // namespace bpfrec
