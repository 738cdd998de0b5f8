#include "reconcile/plan.h"

#include <algorithm>
#include <set>

#include "reconcile/identity.h"

namespace bpfrec {

std::string_view to_string(ChangeKind k) {
  switch (k) {
    case ChangeKind::Create: return "create";
    case ChangeKind::Replace: return "replace";
    case ChangeKind::Update: return "update";
    case ChangeKind::Remove: return "remove";
    case ChangeKind::Keep: return "keep";
  }
  return "?";
}

std::vector<ProgramChange> plan(const DesiredState &desired, const ObservedState &observed) {
  std::vector<ProgramChange> out;
  const auto invalid = desired.invalid_manifest_names();
  const ManifestEntry *unreadable = desired.unreadable_directory();
  std::set<std::string> wanted;

  for (const auto &spec : desired.programs) {
    wanted.insert(spec.name);
    ProgramChange c;
    c.name = spec.name;
    c.desired = &spec;
    std::vector<std::string> keys;
    for (auto &a : spec.attach) keys.push_back(attach_key(spec.type, a));

    auto it = observed.programs.find(spec.name);
    if (it == observed.programs.end()) {
      c.kind = ChangeKind::Create;
      c.attach = keys;
      c.reason = "new program";
    } else if (const auto &obs = it->second; !obs.intact || obs.digest != program_digest(spec)) {
      c.kind = ChangeKind::Replace;
      c.attach = keys;
      for (auto &[k, _] : obs.attachments) c.detach.push_back(k);
      c.reason = !obs.intact                                 ? "pins are incomplete"
                 : obs.bytecode_sha256 != spec.bytecode_digest ? "bytecode changed"
                                                               : "bpf_function, type, global_data or the fentry/fexit function changed";
    } else {
      for (auto &k : keys)
        if (!obs.attachments.contains(k)) c.attach.push_back(k);
      for (auto &[k, _] : obs.attachments)
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) c.detach.push_back(k);
      for (auto &[k, _] : obs.lost)
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) c.forget.push_back(k);
      const bool moved = !c.attach.empty() || !c.detach.empty();
      c.kind = moved || !c.forget.empty() ? ChangeKind::Update : ChangeKind::Keep;
      c.reason = moved ? "attach points changed" : c.forget.empty() ? "unchanged" : "attach points went away";
      c.record_stale = obs.manifest_path != spec.manifest;
    }
    out.push_back(std::move(c));
  }

  for (const auto &[name, obs] : observed.programs) {
    if (wanted.contains(name)) continue;
    ProgramChange c;
    c.name = name;
    if (std::find(invalid.begin(), invalid.end(), obs.manifest_name) != invalid.end()) {
      c.kind = ChangeKind::Keep;
      c.kept_last_good = true;
      c.reason = "manifest " + obs.manifest_name + " is invalid; keeping the last good program";
    } else if (unreadable) {
      // The directory may still declare it: a listing that failed is not an empty one.
      c.kind = ChangeKind::Keep;
      c.kept_last_good = true;
      c.reason = "manifest directory " + unreadable->path + " cannot be read; keeping the last good program";
    } else {
      c.kind = ChangeKind::Remove;
      for (auto &[k, _] : obs.attachments) c.detach.push_back(k);
      c.reason = "no manifest declares it";
    }
    out.push_back(std::move(c));
  }

  auto rank = [](ChangeKind k) {
    switch (k) {
      case ChangeKind::Remove: return 0;
      case ChangeKind::Replace: return 1;
      case ChangeKind::Create: return 2;
      case ChangeKind::Update: return 3;
      case ChangeKind::Keep: return 4;
    }
    return 5;
  };
  std::stable_sort(out.begin(), out.end(), [&](const ProgramChange &a, const ProgramChange &b) {
    return std::pair(rank(a.kind), a.name) < std::pair(rank(b.kind), b.name);
  });
  return out;
}

bool plan_changes_anything(const std::vector<ProgramChange> &changes) {
  return std::any_of(changes.begin(), changes.end(),
                     [](const ProgramChange &c) { return c.kind != ChangeKind::Keep || c.record_stale; });
}

}  // namespace bpfrec
