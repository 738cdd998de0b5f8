// TcDispatcher: a slot of our TC dispatcher (cls_bpf + freplace, bpfman's design;
// kernel/tc_dispatcher.cpp), where TCX is missing and freplace works.
#include <initializer_list>

#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"
#include "kernel/attachers/hook_index.h"
#include "kernel/netns.h"
#include "kernel/tc_shared.h"
#include "load/files.h"

namespace bpfrec {
namespace {

// The hook of a TC attach point: every attachment of the TC mechanisms is one of a tc program.
Hook tc_hook(const AttachSpec &a) { return hook_of(ProgramType::Tc, a); }

// The dispatcher members of hook `h`: the TcDispatcher attachments of the hook index, with the
// programs in `current` (by directory) taken as given instead of as recorded.
std::vector<TcDispatcherMember> dispatcher_members(AttachContext &ctx, const Hook &h,
                                                   std::initializer_list<const ObservedProgram *> current) {
  std::vector<TcDispatcherMember> out;
  auto add = [&](const std::string &program, const std::string &key, const std::string &dir,
                 const std::string &path, const std::string &sha, const std::string &function, const AttachRecord &rec) {
    const NetIfAttach *n = rec.spec.netif();
    if (!n) return;  // a dispatcher member is a tc attach point: its record holds TcAttach
    out.push_back(TcDispatcherMember{program, key, dir, path, ctx.bytecode.get(sha, path), function, n->priority,
                                     n->proceed_on});
  };
  for (const HookEntry *e : ctx.index().on(h)) {
    if (e->record.mechanism != Mechanism::TcDispatcher) continue;
    bool given = false;
    for (const auto *c : current) given |= c->dir == e->dir;
    if (!given) add(e->program, e->key, e->dir, e->bytecode_path, e->bytecode_sha256, e->bpf_function, e->record);
  }
  for (const auto *c : current)
    for (const auto &[k, rec] : c->attachments)
      if (rec.mechanism == Mechanism::TcDispatcher && tc_hook(rec.spec) == h)
        add(c->name, k, c->dir, c->bytecode_path, c->bytecode_sha256, c->bpf_function, rec);
  return out;
}

/// Swaps in place by a dispatcher rebuild: a new dispatcher with the new program in the old
/// one's slot is built beside the running one and swapped in with one cls_bpf replace
/// (tc_dispatcher_sync()); the hook never runs neither.
class TcDispatcherAttacher final : public Attacher {
 public:
  Mechanism mechanism() const override { return Mechanism::TcDispatcher; }
  bool swaps_in_place(ProgramType) const override { return true; }

  Result<AttachRecord> attach(AttachContext &ctx, const AttachRequest &r) override {
    const auto *tc = r.a.get_if<TcAttach>();
    if (!tc) return wrong_params("tc dispatcher");
    AttachRecord rec;
    rec.key = r.key;
    rec.mechanism = Mechanism::TcDispatcher;
    rec.target = r.a.target_label(r.spec.type);
    rec.netns = tc->netns;
    rec.egress = tc->direction == TcDirection::Egress;
    rec.tc_handle = kTcDispatcherHandle;
    rec.tc_priority = kTcDispatcherPriority;
    rec.spec = r.a;
    if (auto idx = ifindex_in(tc->netns, tc->interface); idx) rec.ifindex = *idx;
    else return std::unexpected(idx.error());
    ObservedProgram with = r.prog;
    with.attachments[r.key] = rec;
    auto ids = tc_dispatcher_sync(ctx.pins.root, r.a, dispatcher_members(ctx, tc_hook(r.a), {&with}));
    if (!ids) return std::unexpected(ids.error());
    rec.link_id = (*ids)[r.prog.name + "-" + r.key];
    return rec;
  }

  Result<bool> swap(AttachContext &ctx, const SwapRequest &r) override {
    // A new dispatcher with `to` in the slot of `from`, swapped in atomically.
    ObservedProgram without = r.from;
    without.attachments.erase(r.key);
    auto ids = tc_dispatcher_sync(ctx.pins.root, r.rec.spec,
                                  dispatcher_members(ctx, tc_hook(r.rec.spec), {&without, &r.to}));
    if (!ids) return std::unexpected(ids.error());
    r.to.attachments[r.key].link_id = (*ids)[r.to.name + "-" + r.key];
    return true;
  }

  Result<void> detach(AttachContext &ctx, const ObservedProgram &prog, const AttachRecord &rec) override {
    ObservedProgram without = prog;
    without.attachments.erase(rec.key);
    auto ids = tc_dispatcher_sync(ctx.pins.root, rec.spec, dispatcher_members(ctx, tc_hook(rec.spec), {&without}));
    // The namespace or interface is gone, and the dispatcher with it.
    if (!ids && ids.error().code != ENOENT && ids.error().code != ENODEV) return std::unexpected(ids.error());
    return {};
  }

  Check in_place(AttachContext &ctx, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &, bool) override {
    Check c{false, 0, LiveId::Link};
    c.ok = tc_dispatcher_in_place(ctx.pins.root, p.name, a, &c.live_id);
    return c;
  }
};

}  // namespace

std::unique_ptr<Attacher> make_tc_dispatcher_attacher() { return std::make_unique<TcDispatcherAttacher>(); }

}  // namespace bpfrec
