// PerfLink: a perf event (tracepoint, uprobe, uretprobe, kprobe, kretprobe) bound to the program
// through a pinned bpf_link (BPF_LINK_CREATE with BPF_PERF_EVENT).
#include "kernel/attach.h"
#include "kernel/attach_tracing.h"
#include "kernel/attachers/attacher.h"
#include "kernel/pin_cache.h"
#include "types/type.h"

namespace bpfrec {
namespace {

/// Swaps side by side: a perf link can neither change program nor be detached while pinned
/// (the kernel has no BPF_LINK_UPDATE or BPF_LINK_DETACH for it), so the new program's link is
/// made, then the old one's removed; both run for a moment.
class PerfLinkAttacher final : public Attacher {
 public:
  Mechanism mechanism() const override { return Mechanism::PerfLink; }
  bool swaps_in_place(ProgramType) const override { return false; }

  Result<AttachRecord> attach(AttachContext &, const AttachRequest &r) override {
    const TypeDescriptor &d = descriptor(r.spec.type);
    switch (d.attacher) {
      case AttacherKind::Tracepoint: return attach_tracepoint(r.prog_fd, r.a, r.link_pin);
      case AttacherKind::Kprobe: return attach_kprobe(r.prog_fd, d.retprobe, r.a, r.link_pin);
      case AttacherKind::Uprobe: {
        // A library name is resolved here, on the node, at every attach (issue 10, point 5).
        const auto *u = r.a.get_if<UprobeAttach>();
        if (!u) return wrong_params("uprobe");
        auto path = resolve_uprobe_target(r.a);
        if (!path)
          return fail(Error{path.error().code, fmt::format("{}:{}:{}: error: uprobe target '{}': {}", r.spec.manifest,
                                                           u->target_pos.line, u->target_pos.column, u->target,
                                                           path.error().message)});
        return attach_uprobe(r.prog_fd, d.retprobe, r.a, *path, r.link_pin);
      }
      default: break;
    }
    return fail("{} programs are not attached through perf links", d.name);
  }

  Result<void> detach(AttachContext &, const ObservedProgram &prog, const AttachRecord &rec) override {
    return detach_pinned_link(PinLayout::link(prog.dir, rec.key));
  }

  Check in_place(AttachContext &ctx, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &,
                 bool trusted) override {
    // A perf link can be neither detached nor given another program while pinned: the same pin
    // is the same link on the same program (pin_cache.h).
    uint32_t prog_id = 0;
    Check c{false, 0, LiveId::Link};
    c.live_id = ctx.pins_seen.perf_link_id(
        PinLayout::link(p.dir, a.key), &prog_id,
        [](const std::string &pin, uint32_t *prog) { return pinned_link_id(pin, prog); }, trusted);
    c.ok = c.live_id != 0 && prog_id == p.prog_id;
    return c;
  }
};

}  // namespace

std::unique_ptr<Attacher> make_perf_link_attacher() { return std::make_unique<PerfLinkAttacher>(); }

}  // namespace bpfrec
