#include "reconcile/steps.h"

#include <algorithm>
#include <map>

#include "reconcile/identity.h"

namespace bpfrec {

std::string_view to_string(StepKind k) {
  switch (k) {
    case StepKind::LoadStaged: return "load_staged";
    case StepKind::Load: return "load";
    case StepKind::Swap: return "swap";
    case StepKind::Attach: return "attach";
    case StepKind::Detach: return "detach";
    case StepKind::Forget: return "forget";
    case StepKind::Commit: return "commit";
    case StepKind::Unload: return "unload";
    case StepKind::Relocate: return "relocate";
  }
  return "?";
}

std::string_view to_string(Side s) { return s == Side::Live ? "live" : "staged"; }

std::string_view to_string(Continuity c) {
  switch (c) {
    case Continuity::None: return "none";
    case Continuity::Gapless: return "gapless";
    case Continuity::Overlap: return "overlap";
    case Continuity::Gap: return "gap";
  }
  return "?";
}

std::string_view to_string(OnFailure f) {
  switch (f) {
    case OnFailure::Continue: return "continue";
    case OnFailure::Stop: return "stop";
    case OnFailure::Restore: return "restore";
    case OnFailure::Undo: return "undo";
  }
  return "?";
}

std::optional<Mechanism> mechanism_for(const Hook &h, const Capabilities &caps) {
  switch (h.family) {
    case AttacherKind::Xdp: return caps.xdp;
    case AttacherKind::Tc: return caps.tc;
    case AttacherKind::Tracepoint:
    case AttacherKind::Uprobe:
    case AttacherKind::Kprobe: return Mechanism::PerfLink;
    case AttacherKind::RawTracepoint:
    case AttacherKind::Trampoline:
    case AttacherKind::Cgroup:
    case AttacherKind::NetnsLink:
    case AttacherKind::Netfilter: return Mechanism::Link;
  }
  return std::nullopt;
}

Continuity swap_continuity(Mechanism m, ProgramType t) {
  switch (m) {
    case Mechanism::Xdp:
    case Mechanism::Tc:
    case Mechanism::Tcx:
    case Mechanism::TcDispatcher: return Continuity::Gapless;
    case Mechanism::Link: return descriptor(t).link_updatable ? Continuity::Gapless : Continuity::Overlap;
    case Mechanism::PerfLink:
    case Mechanism::XdpDispatcher: return Continuity::Overlap;
  }
  return Continuity::Overlap;
}

namespace {

// The program type an observed program's record names, if it is a known one.
std::optional<ProgramType> type_of(const ObservedProgram &p) {
  if (const TypeDescriptor *d = find_descriptor(p.type)) return d->type;
  return std::nullopt;
}

Step make(StepKind k, const std::string &program, Side side, OnFailure f = OnFailure::Continue) {
  Step s;
  s.kind = k;
  s.program = program;
  s.side = side;
  s.on_failure = f;
  return s;
}

// A step on recorded attach point `r` of a program of type `t` (when known).
Step on_record(StepKind k, const std::string &program, Side side, const AttachRecord &r, std::optional<ProgramType> t) {
  Step s = make(k, program, side);
  s.key = r.key;
  s.target = r.target;
  s.mechanism = r.mechanism;
  if (t) s.hook = hook_of(*t, r.spec);
  return s;
}

// A step on attach point `a` of `spec` (Attach, Swap).
Step on_spec(StepKind k, const ProgramSpec &spec, Side side, const AttachSpec &a) {
  Step s = make(k, spec.name, side);
  s.key = attach_key(spec.type, a);
  s.target = a.target_label(spec.type);
  s.hook = hook_of(spec.type, a);
  s.attach = &a;
  return s;
}

// The undo of an Attach: the same attach point, detached.
Step detach_of(const Step &attach) {
  Step d = make(StepKind::Detach, attach.program, attach.side);
  d.key = attach.key;
  d.target = attach.target;
  d.hook = attach.hook;
  d.mechanism = attach.mechanism;
  return d;
}

// The undo of a Detach of recorded attach point `r` (same program type `t`): `r` attached again
// as the manifest had it.
Step reattach_of(const Step &detach, const AttachRecord &r, ProgramType t) {
  Step a = make(StepKind::Attach, detach.program, detach.side);
  a.key = r.key;
  a.target = r.spec.target_label(t);
  a.hook = detach.hook;
  a.mechanism = r.mechanism;
  a.attach = &r.spec;
  return a;
}

Step unload(const std::string &program, Side side, bool needs_detached, OnFailure f) {
  Step u = make(StepKind::Unload, program, side, f);
  u.needs_detached = needs_detached;
  return u;
}

bool wanted(const std::vector<std::string> &keys, const std::string &key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

void add_create(std::vector<Step> &out, const ProgramSpec &spec, const std::vector<std::string> &keys,
                const Capabilities &caps) {
  Step load = make(StepKind::Load, spec.name, Side::Live, OnFailure::Stop);
  load.undo.push_back(unload(spec.name, Side::Live, /*needs_detached=*/true, OnFailure::Continue));
  out.push_back(std::move(load));
  for (auto &a : spec.attach) {
    Step at = on_spec(StepKind::Attach, spec, Side::Live, a);
    if (!wanted(keys, at.key)) continue;
    at.mechanism = mechanism_for(*at.hook, caps);
    at.undo.push_back(detach_of(at));
    out.push_back(std::move(at));
  }
}

// Detach everything, then unload, only if every detach worked (nothing runs unowned).
void add_remove(std::vector<Step> &out, const std::string &name, const ObservedProgram &obs) {
  const auto t = type_of(obs);
  for (auto &[_, r] : obs.attachments) out.push_back(on_record(StepKind::Detach, name, Side::Live, r, t));
  out.push_back(unload(name, Side::Live, /*needs_detached=*/true, OnFailure::Stop));
}

void add_replace(std::vector<Step> &out, const ProgramSpec &spec, const ObservedProgram &old, const Capabilities &caps) {
  Step load = make(StepKind::LoadStaged, spec.name, Side::Staged, OnFailure::Stop);
  load.undo.push_back(unload(spec.name, Side::Staged, /*needs_detached=*/true, OnFailure::Continue));
  out.push_back(std::move(load));
  // The old program's attach points that no Swap takes: detached before the commit.
  std::map<std::string, const AttachRecord *> rest;
  for (auto &[k, r] : old.attachments) rest.emplace(k, &r);
  for (auto &a : spec.attach) {
    const std::string key = attach_key(spec.type, a);
    if (auto it = rest.find(key); it != rest.end()) {
      Step s = on_spec(StepKind::Swap, spec, Side::Staged, a);
      s.mechanism = it->second->mechanism;
      s.continuity = swap_continuity(it->second->mechanism, spec.type);
      s.on_failure = OnFailure::Undo;
      Step back = s;
      back.side = Side::Live;
      back.on_failure = OnFailure::Continue;
      s.undo.push_back(std::move(back));
      out.push_back(std::move(s));
      rest.erase(it);
    } else {
      Step at = on_spec(StepKind::Attach, spec, Side::Staged, a);
      at.mechanism = mechanism_for(*at.hook, caps);
      at.undo.push_back(detach_of(at));
      out.push_back(std::move(at));
    }
  }
  // No undo for these: the new spec drops them, and attaching the previous program again would
  // take the new spec's bytecode (the TC dispatcher loads its extension from it).
  const auto t = type_of(old);
  const size_t first_detach = out.size();
  for (auto &[_, r] : rest) out.push_back(on_record(StepKind::Detach, spec.name, Side::Live, *r, t));
  // A new attach point on a hook that an old one leaves: both run until the detach.
  for (size_t i = 1; i < first_detach; ++i) {
    if (out[i].kind != StepKind::Attach) continue;
    for (size_t j = first_detach; j < out.size(); ++j)
      if (out[j].hook && out[j].hook == out[i].hook) out[i].continuity = out[j].continuity = Continuity::Overlap;
  }
  out.push_back(make(StepKind::Commit, spec.name, Side::Staged, OnFailure::Undo));
}

void add_update(std::vector<Step> &out, const ProgramChange &c, const ObservedProgram &obs, const Capabilities &caps,
                const std::set<std::string> &refused) {
  const ProgramSpec &spec = *c.desired;
  for (auto &k : c.forget)
    if (auto it = obs.lost.find(k); it != obs.lost.end())
      out.push_back(on_record(StepKind::Forget, c.name, Side::Live, it->second, spec.type));
  // A refused new attach point keeps whatever runs on its hook now.
  std::set<Hook> kept_hooks, wanted_hooks;
  for (auto &a : spec.attach) {
    const std::string key = attach_key(spec.type, a);
    if (!wanted(c.attach, key)) continue;
    (refused.contains(key) ? kept_hooks : wanted_hooks).insert(hook_of(spec.type, a));
  }
  std::vector<const AttachRecord *> same_hook, other;
  for (auto &k : c.detach) {
    auto it = obs.attachments.find(k);
    if (it == obs.attachments.end()) continue;  // nothing to detach
    const Hook h = hook_of(spec.type, it->second.spec);
    if (kept_hooks.contains(h)) continue;
    (wanted_hooks.contains(h) ? same_hook : other).push_back(&it->second);
  }
  std::map<Hook, std::vector<size_t>> detached_on;
  for (auto *r : same_hook) {
    Step d = on_record(StepKind::Detach, c.name, Side::Live, *r, spec.type);
    d.continuity = Continuity::Gap;
    d.undo.push_back(reattach_of(d, *r, spec.type));
    detached_on[*d.hook].push_back(out.size());
    out.push_back(std::move(d));
  }
  for (auto &a : spec.attach) {
    Step at = on_spec(StepKind::Attach, spec, Side::Live, a);
    if (!wanted(c.attach, at.key) || refused.contains(at.key)) continue;
    at.mechanism = mechanism_for(*at.hook, caps);
    at.undo.push_back(detach_of(at));
    if (auto it = detached_on.find(*at.hook); it != detached_on.end()) {
      at.on_failure = OnFailure::Restore;
      at.restores = it->second;
      at.continuity = Continuity::Gap;
    }
    out.push_back(std::move(at));
  }
  for (auto *r : other) {
    Step d = on_record(StepKind::Detach, c.name, Side::Live, *r, spec.type);
    d.undo.push_back(reattach_of(d, *r, spec.type));
    out.push_back(std::move(d));
  }
}

}  // namespace

std::vector<Step> steps_for(const ProgramChange &c, const ObservedProgram *observed, const Capabilities &caps,
                            const std::set<std::string> &refused) {
  std::vector<Step> out;
  const ObservedProgram none;
  const ObservedProgram &obs = observed ? *observed : none;
  switch (c.kind) {
    case ChangeKind::Create: add_create(out, *c.desired, c.attach, caps); break;
    case ChangeKind::Replace:
      // A program that is gone from the kernel cannot be swapped from: start over.
      if (obs.prog_id == 0) {
        add_remove(out, c.name, obs);
        add_create(out, *c.desired, c.attach, caps);
      } else {
        add_replace(out, *c.desired, obs, caps);
      }
      break;
    case ChangeKind::Update:
      add_update(out, c, obs, caps, refused);
      if (c.record_stale) out.push_back(make(StepKind::Relocate, c.name, Side::Live));
      break;
    case ChangeKind::Remove: add_remove(out, c.name, obs); break;
    case ChangeKind::Keep:
      if (c.record_stale && c.desired) out.push_back(make(StepKind::Relocate, c.name, Side::Live));
      break;
  }
  return out;
}

std::vector<Step> steps_for_stale(const ObservedProgram &stale) {
  std::vector<Step> out;
  const auto t = type_of(stale);
  for (auto &[_, r] : stale.attachments) out.push_back(on_record(StepKind::Detach, stale.name, Side::Staged, r, t));
  out.push_back(unload(stale.name, Side::Staged, /*needs_detached=*/false, OnFailure::Continue));
  return out;
}

namespace {

nlohmann::ordered_json hook_json(const Hook &h) {
  nlohmann::ordered_json j = {{"family", to_string(h.family)}};
  if (!h.netns.empty()) j["netns"] = h.netns;
  if (!h.object.empty()) j["object"] = h.object;
  if (!h.symbol.empty()) j["symbol"] = h.symbol;
  if (h.offset) j["offset"] = h.offset;
  if (h.pid) j["pid"] = *h.pid;
  if (h.point) j["point"] = h.point;
  if (h.priority) j["priority"] = h.priority;
  return j;
}

nlohmann::ordered_json step_json(const Step &s, bool is_undo) {
  nlohmann::ordered_json j = {{"kind", to_string(s.kind)}, {"program", s.program}, {"side", to_string(s.side)}};
  if (!s.key.empty()) j["key"] = s.key;
  if (!s.target.empty()) j["target"] = s.target;
  if (s.hook) j["hook"] = hook_json(*s.hook);
  if (s.mechanism) j["mechanism"] = to_string(*s.mechanism);
  if (s.continuity != Continuity::None) j["continuity"] = to_string(s.continuity);
  if (!is_undo) j["on_failure"] = to_string(s.on_failure);
  if (!s.restores.empty()) j["restores"] = s.restores;
  if (s.needs_detached) j["needs_detached"] = true;
  if (!is_undo) {
    j["undo"] = nlohmann::ordered_json::array();
    for (auto &u : s.undo) j["undo"].push_back(step_json(u, true));
  }
  return j;
}

}  // namespace

nlohmann::ordered_json steps_to_json(const std::vector<Step> &steps) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (auto &s : steps) out.push_back(step_json(s, false));
  return out;
}

}  // namespace bpfrec
