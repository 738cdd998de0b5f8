// Link: the other pinned bpf_links, one per attach point: tracing links (fentry, fexit, lsm),
// raw tracepoint links, cgroup links, netns links (sk_lookup) and netfilter links. How the link
// is made depends on the type's attacher family (types/type.h AttacherKind); everything after
// is the same for all of them: a link pin under <dir>/links/<key>.
#include "kernel/attach.h"
#include "kernel/attach_netfilter.h"
#include "kernel/attach_netns.h"
#include "kernel/attach_tracing.h"
#include "kernel/attachers/attacher.h"
#include "types/type.h"

namespace bpfrec {
namespace {

/// Swaps in place where the link type takes BPF_LINK_UPDATE (the type's link_updatable: cgroup
/// links): the same link runs the new program and its pin moves to the new directory. Tracing,
/// raw tracepoint, netns and netfilter links swap side by side: the new link is made, then the
/// old one detached.
class LinkAttacher final : public PinnedLinkAttacher {
 public:
  Mechanism mechanism() const override { return Mechanism::Link; }
  bool swaps_in_place(ProgramType t) const override { return link_updatable(t); }

  Result<AttachRecord> attach(AttachContext &, const AttachRequest &r) override {
    const ProgramType t = r.spec.type;
    switch (descriptor(t).attacher) {
      case AttacherKind::Trampoline: return attach_trampoline(r.prog_fd, t, r.a, r.link_pin);
      case AttacherKind::RawTracepoint: return attach_raw_tracepoint(r.prog_fd, r.a, r.link_pin);
      case AttacherKind::Cgroup: return attach_cgroup(r.prog_fd, t, r.a, r.link_pin);
      case AttacherKind::NetnsLink: return attach_netns_link(r.prog_fd, t, r.a, r.link_pin);
      case AttacherKind::Netfilter: return attach_netfilter(r.prog_fd, r.a, r.link_pin);
      default: break;
    }
    return fail("{} programs are not attached through a bpf_link of their own", descriptor(t).name);
  }

  Check in_place(AttachContext &, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &, bool) override {
    // Asked every time: a cgroup or netns link outlives its cgroup or namespace, pinned.
    uint32_t prog_id = 0;
    Check c{false, pinned_live_link_id(PinLayout::link(p.dir, a.key), &prog_id), LiveId::Link};
    c.ok = c.live_id != 0 && prog_id == p.prog_id;
    return c;
  }
};

}  // namespace

std::unique_ptr<Attacher> make_link_attacher() { return std::make_unique<LinkAttacher>(); }

}  // namespace bpfrec
