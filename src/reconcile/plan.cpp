#include "reconcile/plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

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
    if (it != observed.programs.end() && !it->second.unreadable.empty()) {
      // What is pinned is not known: nothing of it is changed until it can be read again.
      c.kind = ChangeKind::Keep;
      c.kept_last_good = true;
      c.error = fmt::format("its pins cannot be read ({}): nothing of it is changed until they can",
                            it->second.unreadable);
      c.reason = c.error;
    } else if (it == observed.programs.end()) {
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
    if (!obs.unreadable.empty()) {
      c.kind = ChangeKind::Keep;
      c.kept_last_good = true;
      c.error = fmt::format("its pins cannot be read ({}): it is not removed until they can", obs.unreadable);
      c.reason = c.error;
    } else if (auto w = std::find_if(desired.waiting.begin(), desired.waiting.end(),
                                     [&](const WaitingProgram &wp) { return wp.name == name; });
               w != desired.waiting.end()) {
      // Its image is not in the store (yet): what runs stays until the new bytes are there.
      c.kind = ChangeKind::Keep;
      c.kept_last_good = true;
      c.reason = fmt::format("{}; keeping the running program", w->reason);
    } else if (std::find(invalid.begin(), invalid.end(), obs.manifest_name) != invalid.end()) {
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

  // Map owners (issue 10, point 3).
  std::map<std::string, const ProgramSpec *> by_name;
  for (const auto &spec : desired.programs) by_name.emplace(spec.name, &spec);
  std::map<std::string, ProgramChange *> change_of;
  for (auto &c : out) change_of[c.name] = &c;
  auto at_owner = [](const ProgramSpec &s) {
    return fmt::format("{}:{}:{}: error: ", s.manifest, s.map_owner_pos.line, s.map_owner_pos.column);
  };
  for (auto &c : out) {
    if (!c.desired || c.desired->map_owner.empty()) continue;
    const ProgramSpec &spec = *c.desired;
    const std::string &owner = spec.map_owner;
    auto o = by_name.find(owner);
    std::string error;
    if (o == by_name.end() && !observed.programs.contains(owner))
      error = fmt::format("{}map_owner '{}' is not declared in any manifest", at_owner(spec), owner);
    else if (o != by_name.end() && !o->second->map_owner.empty())
      error = fmt::format("{}map_owner '{}' takes its own maps from '{}': name '{}' as the map owner", at_owner(spec),
                          owner, o->second->map_owner, o->second->map_owner);
    if (!error.empty()) {
      // Nothing to load it with; a dependent already loaded keeps running as it is.
      c.kind = ChangeKind::Keep;
      c.attach.clear();
      c.detach.clear();
      c.forget.clear();
      c.error = error;
      c.reason = error;
      continue;
    }
    // The owner is loaded again (new maps): so is the dependent, onto those maps.
    auto oc = change_of.find(owner);
    const bool owner_reloads =
        oc != change_of.end() && (oc->second->kind == ChangeKind::Replace || oc->second->kind == ChangeKind::Create);
    auto obs = observed.programs.find(c.name);
    if (owner_reloads && obs != observed.programs.end() &&
        (c.kind == ChangeKind::Keep || c.kind == ChangeKind::Update)) {
      c.kind = ChangeKind::Replace;
      c.attach.clear();
      for (auto &a : spec.attach) c.attach.push_back(attach_key(spec.type, a));
      c.detach.clear();
      for (auto &[k, _] : obs->second.attachments) c.detach.push_back(k);
      c.forget.clear();
      c.reason = fmt::format("map owner {} is loaded again: its maps change", owner);
    }
  }
  for (auto &c : out) {
    if (c.kind != ChangeKind::Remove) continue;
    for (const auto &spec : desired.programs)
      if (spec.map_owner == c.name) c.kept_for.push_back(spec.name);
    for (const auto &k : out)
      if (k.kind == ChangeKind::Keep && k.kept_last_good && observed.programs.contains(k.name) &&
          observed.programs.at(k.name).map_owner == c.name)
        c.kept_for.push_back(k.name);
    if (c.kept_for.empty()) continue;
    std::sort(c.kept_for.begin(), c.kept_for.end());
    c.kind = ChangeKind::Keep;
    c.detach.clear();
    c.reason = fmt::format("kept: maps used by {}", fmt::join(c.kept_for, ", "));
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
  auto dependent = [](const ProgramChange &c) { return c.desired && !c.desired->map_owner.empty(); };
  std::stable_sort(out.begin(), out.end(), [&](const ProgramChange &a, const ProgramChange &b) {
    return std::tuple(rank(a.kind), dependent(a), a.name) < std::tuple(rank(b.kind), dependent(b), b.name);
  });
  return out;
}

bool plan_changes_anything(const std::vector<ProgramChange> &changes) {
  return std::any_of(changes.begin(), changes.end(),
                     [](const ProgramChange &c) { return c.kind != ChangeKind::Keep || c.record_stale; });
}

}  // namespace bpfrec
