// XdpDispatcher: a component of libxdp's multi-program dispatcher (needs freplace): a second load
// of the program for this attach point, sharing every map of the pinned program.
#include <bpf/bpf.h>
#include <unistd.h>

#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"
#include "kernel/libbpf_log.h"
#include "kernel/pin_cache.h"
#include "kernel/pinned_object.h"
#include "load/files.h"

namespace bpfrec {
namespace {

/// Swaps side by side: libxdp changes one component by building a new dispatcher, so the new
/// program's component is attached, then the old one's detached.
class XdpDispatcherAttacher final : public Attacher {
 public:
  Mechanism mechanism() const override { return Mechanism::XdpDispatcher; }
  bool swaps_in_place(ProgramType) const override { return false; }

  Result<AttachRecord> attach(AttachContext &ctx, const AttachRequest &r) override {
    const ObservedProgram &prog = r.prog;
    std::vector<uint32_t> map_ids;
    bpf_program *component = nullptr;  // borrowed from obj
    // The bytes the pinned program was loaded from (its record's digest), not the path's now.
    auto code = ctx.bytecode.get(prog.bytecode_sha256, r.spec.bytecode_path);
    if (!code) return std::unexpected(code.error());
    auto obj = open_sharing_pinned_maps(*code, r.spec.bytecode_path, r.spec.bpf_function, prog.dir, &component, &map_ids);
    if (!obj) return std::unexpected(obj.error());
    if (auto t = fix_program_type(component, ProgramType::Xdp); !t) return std::unexpected(t.error());
    std::vector<uint32_t> claimed;
    for (const auto &[k, rec] : prog.attachments)
      if (rec.mechanism == Mechanism::XdpDispatcher && rec.prog_id) claimed.push_back(rec.prog_id);
    recent_libbpf_log().clear();
    auto rec = attach_xdp_component(obj->get(), component, r.a, map_ids, claimed, r.link_pin);
    if (!rec && !recent_libbpf_log().empty()) rec.error().message += "; libxdp: " + recent_libbpf_log().back();
    return rec;
  }

  Result<void> detach(AttachContext &, const ObservedProgram &prog, const AttachRecord &rec) override {
    const std::string pin = PinLayout::link(prog.dir, rec.key);
    UniqueFd component(bpf_obj_get(pin.c_str()));
    if (component.valid())
      if (auto r = detach_xdp(component.get(), rec); !r) return r;
    (void)::unlink(pin.c_str());
    return {};
  }

  Check in_place(AttachContext &ctx, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &xdp_hooks,
                 bool trusted) override {
    // The component is a program pin: its id is fixed while the pin is the same.
    Check c{false, ctx.pins_seen.prog_id(PinLayout::link(p.dir, a.key), trusted), LiveId::Program};
    c.ok = c.live_id != 0 && xdp_in_place(c.live_id, a, xdp_hooks);
    return c;
  }
};

}  // namespace

std::unique_ptr<Attacher> make_xdp_dispatcher_attacher() { return std::make_unique<XdpDispatcherAttacher>(); }

}  // namespace bpfrec
