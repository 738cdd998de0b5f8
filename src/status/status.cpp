#include "status/status.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "reconcile/identity.h"

namespace bpfrec {

std::string_view to_string(AttachState s) {
  switch (s) {
    case AttachState::Attached: return "attached";
    case AttachState::Pending: return "pending";
    case AttachState::Gone: return "gone";
    case AttachState::Failed: return "failed";
  }
  return "?";
}

std::string_view to_string(ProgramState s) {
  switch (s) {
    case ProgramState::Attached: return "attached";
    case ProgramState::Pending: return "pending";
    case ProgramState::Partial: return "partial";
    case ProgramState::Failed: return "failed";
    case ProgramState::Kept: return "kept";
    case ProgramState::Loaded: return "loaded";
  }
  return "?";
}

std::string_view to_string(DaemonState s) {
  switch (s) {
    case DaemonState::Starting: return "starting";
    case DaemonState::Idle: return "idle";
    case DaemonState::Degraded: return "degraded";
  }
  return "?";
}

using nlohmann::json;

namespace {

// The program error of `prog` in `report`, "" for none.
std::string program_error(const ApplyReport &report, const std::string &prog) {
  auto it = report.program_errors.find(prog);
  return it == report.program_errors.end() ? std::string() : it->second;
}

// The attach error of (`prog`, `key`) in `report`, nullptr for none.
const Error *attach_error(const ApplyReport &report, const std::string &prog, const std::string &key) {
  auto it = report.attach_errors.find(prog);
  if (it == report.attach_errors.end()) return nullptr;
  auto jt = it->second.find(key);
  return jt == it->second.end() ? nullptr : &jt->second;
}

// Attachment status from a record (the program is attached there).
AttachmentStatus attached_status(const AttachRecord &r) {
  AttachmentStatus as;
  as.target = r.target;
  as.state = AttachState::Attached;
  as.mechanism = to_string(r.mechanism);
  as.link_id = r.link_id;
  as.prog_id = r.prog_id;
  as.resolved = r.resolved;
  return as;
}

// A declared program: its attach points as the kernel has them after the apply, the errors and
// retries of the report, and the pattern notes (globs, @primary). Sets `degraded` when the
// program is not as declared.
ProgramStatus declared_status(const ProgramSpec &spec, const ObservedState &after, const ApplyReport &report,
                              const std::vector<PatternNote> &notes, bool &degraded) {
  ProgramStatus p;
  p.name = spec.name;
  p.type = to_string(spec.type);
  p.manifest = spec.manifest;
  p.metadata = spec.metadata;
  p.bytecode_sha256 = spec.bytecode_digest;
  p.bytecode_ref = spec.bytecode_image.empty() ? spec.bytecode_path : spec.bytecode_image;
  p.image_digest = spec.image_digest;
  p.image_pulled_at = spec.image_pulled_at;
  p.error = program_error(report, spec.name);
  auto it = after.programs.find(spec.name);
  const ObservedProgram *obs = it != after.programs.end() && it->second.intact ? &it->second : nullptr;
  // A program observed with another digest is the old one still in place after a failed replace.
  if (obs && obs->digest != program_digest(spec)) {
    if (p.error.empty()) p.error = "the running program is an older version";
    obs = nullptr;
  }
  size_t attached = 0;
  for (auto &a : spec.attach) {
    const std::string key = attach_key(spec.type, a);
    AttachmentStatus as;
    if (obs && obs->attachments.contains(key)) {
      as = attached_status(obs->attachments.at(key));
      ++attached;
    } else if (const Error *e = attach_error(report, spec.name, key)) {
      // A missing interface is expected on a fleet: it is attached when it appears.
      as.state = e->kind() == ErrorKind::Missing ? AttachState::Pending : AttachState::Failed;
      as.error = e->message;
      as.error_kind = e->kind();
      if (auto rt = report.retries.find(spec.name); rt != report.retries.end())
        if (auto r = rt->second.find(key); r != rt->second.end()) {
          as.failures = r->second.failures;
          as.next_retry = r->second.next_retry;
        }
    } else {
      as.state = AttachState::Failed;
      as.error = obs ? "not attached" : "program not loaded";
    }
    as.target = a.target_label(spec.type);  // as declared (the record's label is the same)
    if (const NetIfAttach *n = a.netif()) as.pattern = n->interface_pattern;
    as.metadata = a.metadata;
    p.attachments.push_back(std::move(as));
  }
  bool pattern_failed = false, pattern_pending = false, any_note = false;
  for (auto &n : notes) {
    if (n.program != spec.name) continue;
    any_note = true;
    pattern_failed |= n.kind == PatternNote::Failed;
    pattern_pending |= n.kind == PatternNote::NoMatch;
    AttachmentStatus as;
    as.target = n.spec.target_label(spec.type);
    as.state = n.kind == PatternNote::NoMatch ? AttachState::Pending
             : n.kind == PatternNote::Gone  ? AttachState::Gone
                                            : AttachState::Failed;
    as.error = n.message;
    if (const NetIfAttach *i = n.spec.netif())
      as.pattern = n.kind == PatternNote::Gone ? i->interface_pattern : i->interface;
    p.attachments.push_back(std::move(as));
  }
  if (obs) {
    p.kernel_id = obs->prog_id;
    p.maps = obs->maps;
  }
  if (!obs) p.state = ProgramState::Failed;
  else if (attached < spec.attach.size() || pattern_failed) p.state = ProgramState::Partial;
  else if (spec.attach.empty() && pattern_pending) p.state = ProgramState::Pending;
  else if (spec.attach.empty() && !any_note) p.state = ProgramState::Loaded;  // declares no attach point
  else p.state = ProgramState::Attached;
  if (p.state == ProgramState::Failed && p.error.empty()) p.error = "not loaded";
  // Pins that cannot be read: the planner left the program as it was (its error says why).
  if (it != after.programs.end() && !it->second.unreadable.empty()) p.state = ProgramState::Kept;
  degraded |= p.state != ProgramState::Attached && p.state != ProgramState::Pending && p.state != ProgramState::Loaded;
  return p;
}

// A program under the pin root that no manifest declares: kept (its manifest is invalid or
// unreadable, or it owns maps that declared programs use) or failed (its removal failed). Sets
// `degraded` unless it is kept for its dependents.
ProgramStatus undeclared_status(const std::string &name, const ObservedProgram &obs, const DesiredState &desired,
                                const ObservedState &after, const ApplyReport &report, bool &degraded) {
  ProgramStatus p;
  p.name = name;
  p.type = obs.type;
  p.manifest = obs.manifest_path;
  p.kernel_id = obs.prog_id;
  p.maps = obs.maps;
  p.bytecode_sha256 = obs.bytecode_sha256;
  p.bytecode_ref = obs.bytecode_path;
  p.error = program_error(report, name);
  bool invalid = desired.unreadable_directory() != nullptr;
  for (auto &m : desired.manifests) invalid |= m.name == obs.manifest_name && m.state == ManifestState::Invalid;
  // A map owner whose manifest went stays while programs use its maps (plan()'s kept_for).
  std::vector<std::string> dependents;
  for (auto &d : desired.programs)
    if (d.map_owner == name) dependents.push_back(d.name);
  for (auto &[dn, d] : after.programs)
    if (d.map_owner == name && std::find(dependents.begin(), dependents.end(), dn) == dependents.end())
      dependents.push_back(dn);
  std::sort(dependents.begin(), dependents.end());
  const bool owner_kept = !invalid && !dependents.empty() && p.error.empty();
  p.state = (invalid || owner_kept) && p.error.empty() ? ProgramState::Kept : ProgramState::Failed;
  if (owner_kept) p.error = fmt::format("kept: maps used by {}", fmt::join(dependents, ", "));
  if (!obs.unreadable.empty()) p.state = ProgramState::Kept;  // not removed while its pins cannot be read
  if (p.state == ProgramState::Failed && p.error.empty()) p.error = "no manifest declares it, and removing it failed";
  for (auto &[key, r] : obs.attachments) p.attachments.push_back(attached_status(r));
  degraded |= !owner_kept;  // kept for its dependents: as asked, not a degradation
  return p;
}

// Per map of each program: its shared pin and the programs of ours that use it (one map id).
void add_map_status(std::map<std::string, ProgramStatus> &progs, const ObservedState &after) {
  std::map<uint32_t, std::vector<std::string>> users;
  for (auto &[name, obs] : after.programs)
    for (auto &[_, id] : obs.map_ids)
      if (id) users[id].push_back(name);
  for (auto &[name, p] : progs) {
    auto it = after.programs.find(name);
    if (it == after.programs.end() || p.maps.empty()) continue;
    const ObservedProgram &obs = it->second;
    for (auto &[m, path] : p.maps) {
      MapStatus ms;
      ms.name = m;
      ms.pin = path;
      if (auto sm = obs.shared_maps.find(m); sm != obs.shared_maps.end()) {
        ms.pin = sm->second;
        ms.group = std::filesystem::path(sm->second).parent_path().filename().string();
        path = sm->second;
      }
      if (auto id = obs.map_ids.find(m); id != obs.map_ids.end()) ms.id = id->second;
      if (ms.id) ms.programs = users[ms.id];
      else ms.programs = {name};
      p.map_info.push_back(std::move(ms));
    }
  }
}

}  // namespace

DaemonStatus build_status(uint64_t generation, const DesiredState &desired, const ObservedState &after,
                          const ApplyReport &report, const std::vector<PatternNote> &notes) {
  DaemonStatus s;
  s.generation = generation;
  bool degraded = false;
  for (auto &m : desired.manifests) {
    s.manifests.push_back({m.path, m.state, m.errors});
    degraded |= m.state == ManifestState::Invalid || m.state == ManifestState::Unreadable;
  }
  std::map<std::string, ProgramStatus> progs;
  for (auto &spec : desired.programs) progs.emplace(spec.name, declared_status(spec, after, report, notes, degraded));
  // Image bytecode not in the store: pending while it is pulled, failed when the pull failed;
  // a version that runs is kept (its attachments as they are), and says why.
  for (auto &w : desired.waiting) {
    if (progs.contains(w.name)) continue;  // a duplicate name: the first declaration shows
    auto it = after.programs.find(w.name);
    ProgramStatus p;
    if (it != after.programs.end()) {
      bool its_own = false;  // kept while pulled: degraded only when the pull failed (below)
      p = undeclared_status(w.name, it->second, desired, after, report, its_own);
      if (p.error.empty() || p.state != ProgramState::Failed) {
        p.state = ProgramState::Kept;
        p.error = w.reason;
      }
    } else {
      p.name = w.name;
      p.type = to_string(w.type);
      p.manifest = w.manifest;
      p.state = w.failed ? ProgramState::Failed : ProgramState::Pending;
      p.error = w.reason;
    }
    p.bytecode_ref = w.reference;
    degraded |= w.failed;
    progs.emplace(w.name, std::move(p));
  }
  for (auto &[name, obs] : after.programs)
    if (!progs.contains(name)) progs.emplace(name, undeclared_status(name, obs, desired, after, report, degraded));
  add_map_status(progs, after);
  for (auto &[_, p] : progs) s.programs.push_back(std::move(p));
  s.state = degraded ? DaemonState::Degraded : DaemonState::Idle;
  return s;
}

namespace {
json manifests_json(const DaemonStatus &s) {
  json manifests = json::array();
  for (auto &m : s.manifests) {
    json errs = json::array();
    for (auto &e : m.errors) errs.push_back({{"line", e.pos.line}, {"column", e.pos.column}, {"message", e.message}});
    manifests.push_back({{"path", m.path}, {"state", to_string(m.state)}, {"errors", errs}});
  }
  return manifests;
}

json programs_json(const DaemonStatus &s) {
  json programs = json::array();
  for (auto &p : s.programs) {
    json atts = json::array();
    for (auto &a : p.attachments)
      atts.push_back({{"target", a.target}, {"state", to_string(a.state)}, {"mechanism", a.mechanism}, {"link_id", a.link_id},
                      {"prog_id", a.prog_id},
                      {"error", a.error}, {"error_kind", a.error_kind ? to_string(*a.error_kind) : ""}, {"pattern", a.pattern}, {"failures", a.failures},
                      {"next_retry", a.next_retry}, {"resolved", a.resolved}, {"metadata", a.metadata}});
    json maps = json::array();
    for (auto &m : p.map_info)
      maps.push_back({{"name", m.name}, {"pin", m.pin}, {"id", m.id}, {"group", m.group}, {"programs", m.programs}});
    programs.push_back({{"name", p.name},
                        {"type", p.type},
                        {"manifest", p.manifest},
                        {"state", to_string(p.state)},
                        {"error", p.error},
                        {"kernel_id", p.kernel_id},
                        {"bytecode_sha256", p.bytecode_sha256},
                        {"bytecode_ref", p.bytecode_ref},
                        {"image_digest", p.image_digest},
                        {"image_pulled_at", p.image_pulled_at},
                        {"maps", p.maps},
                        {"map_info", maps},
                        {"metadata", p.metadata},
                        {"attachments", atts}});
  }
  return programs;
}

json reconciling_json(const DaemonStatus &s) {
  json reconciling = nullptr;
  if (const auto &r = s.reconciling)
    reconciling = {{"why", r->why},           {"since", r->since}, {"steps_done", r->steps_done},
                   {"steps_total", r->steps_total}, {"next", r->next},   {"plans", r->plans},
                   {"replan", r->replan}};
  return reconciling;
}
}  // namespace

json to_json(const DaemonStatus &s) {
  return {{"generation", s.generation},   {"state", to_string(s.state)},
          {"error", s.error},             {"reconciling", reconciling_json(s)},
          {"manifests", manifests_json(s)}, {"programs", programs_json(s)}};
}

std::string describe_text(const DaemonStatus &s, const json &foreign, StatusTextCache &cache) {
  if (!cache.valid || cache.generation != s.generation) {
    cache.manifests = manifests_json(s).dump();
    cache.programs = programs_json(s).dump();
    cache.generation = s.generation;
    cache.valid = true;
  }
  // The keys in the order nlohmann::json's object (a std::map) dumps them, as to_json() gives.
  std::string out;
  out.reserve(cache.manifests.size() + cache.programs.size() + 1024);
  out += "{\"error\":";
  out += json(s.error).dump();
  if (!foreign.is_null()) {
    out += ",\"foreign\":";
    out += foreign.dump();
  }
  out += ",\"generation\":";
  out += std::to_string(s.generation);
  out += ",\"manifests\":";
  out += cache.manifests;
  out += ",\"programs\":";
  out += cache.programs;
  out += ",\"reconciling\":";
  out += reconciling_json(s).dump();
  out += ",\"state\":";
  out += json(to_string(s.state)).dump();
  out += '}';
  return out;
}

std::string format_status_table(const json &d) {
  std::string out = fmt::format("State: {}   Generation: {}\n", d.value("state", "?"), d.value("generation", 0));
  if (const std::string e = d.value("error", ""); !e.empty()) out += fmt::format("Error: {}\n", e);
  if (auto it = d.find("reconciling"); it != d.end() && it->is_object())
    out += fmt::format("Reconciling ({}) since {}: {} of {} steps done; programs below are as of generation {}\n",
                       it->value("why", ""), it->value("since", ""), it->value("steps_done", 0u),
                       it->value("steps_total", 0u), d.value("generation", 0));
  out += fmt::format("\n{:<24} {:<11} {:<9} {:>8}  {:<14} {:>7}  {}\n", "PROGRAM", "TYPE", "STATE", "PROG-ID",
                     "MECHANISM", "LINK-ID", "ATTACH POINT");
  for (auto &p : d.value("programs", json::array())) {
    auto atts = p.value("attachments", json::array());
    bool first = true;
    auto prog_cols = [&]() {
      return first ? fmt::format("{:<24} {:<11} {:<9} {:>8}", p.value("name", ""), p.value("type", ""),
                                 p.value("state", ""), p.value("kernel_id", 0u))
                   : fmt::format("{:<24} {:<11} {:<9} {:>8}", "", "", "", "");
    };
    if (atts.empty()) out += prog_cols() + "\n";
    for (auto &a : atts) {
      std::string tail = a.value("target", "");
      if (a.value("state", "") == "attached" && !a.value("pattern", "").empty())
        tail += fmt::format("  [matched '{}']", a.value("pattern", ""));
      if (a.value("state", "") != "attached") tail += fmt::format("  [{}: {}]", a.value("state", ""), a.value("error", ""));
      if (a.value("prog_id", 0u)) tail += fmt::format("  (component prog id {})", a.value("prog_id", 0u));
      if (!a.value("resolved", "").empty()) tail += fmt::format("  -> {}", a.value("resolved", ""));
      out += fmt::format("{}  {:<14} {:>7}  {}\n", prog_cols(), a.value("mechanism", "-"), a.value("link_id", 0u), tail);
      first = false;
    }
    if (!p.value("error", "").empty()) out += fmt::format("{:<24} error: {}\n", "", p.value("error", ""));
  }
  // Every map once (by id, else by pin), with the programs that use it.
  std::vector<std::string> map_rows;
  std::set<std::string> seen_maps;
  for (auto &p : d.value("programs", json::array()))
    for (auto &m : p.value("map_info", json::array())) {
      const uint32_t id = m.value("id", 0u);
      if (!seen_maps.insert(id ? std::to_string(id) : m.value("pin", "")).second) continue;
      std::vector<std::string> users = m.value("programs", std::vector<std::string>{});
      map_rows.push_back(fmt::format("{:>8}  {:<20} {}  [{}]\n", id, m.value("name", ""), m.value("pin", ""),
                                     fmt::join(users, ", ")));
    }
  if (!map_rows.empty()) {
    out += fmt::format("\n{:>8}  {:<20} {}  [{}]\n", "MAP-ID", "MAP", "PIN", "PROGRAMS");
    for (auto &r : map_rows) out += r;
  }
  bool header = false;
  for (auto &m : d.value("manifests", json::array())) {
    if (m.value("state", "") == "ok") continue;
    if (!header) out += "\nMANIFESTS NOT APPLIED\n";
    header = true;
    out += fmt::format("{} ({})\n", m.value("path", ""), m.value("state", ""));
    for (auto &e : m.value("errors", json::array()))
      out += fmt::format("  {}:{}:{}: error: {}\n", m.value("path", ""), e.value("line", 0), e.value("column", 0),
                         e.value("message", ""));
  }
  return out;
}

std::string format_foreign_table(const json &d) {
  const json f = d.value("foreign", json::object());
  const auto progs = f.value("programs", json::array());
  std::string out = fmt::format("\nOTHER BPF PROGRAMS ON THIS NODE: {} (of {} programs, scanned in {:.1f} ms{})\n",
                                progs.size(), f.value("programs_seen", 0u), f.value("scan_ms", 0.0),
                                f.value("truncated", false) ? ", list truncated" : "");
  if (progs.empty()) return out;
  out += fmt::format("{:>8}  {:<16} {:<16} {:<16} {:>6}  {:<20} {}\n", "PROG-ID", "TYPE", "NAME", "TAG", "UID", "OWNER",
                     "LINKS / HOOKS / PINS");
  for (const auto &p : progs) {
    std::vector<std::string> where;
    for (const auto &l : p.value("links", json::array()))
      where.push_back(fmt::format("link {} {}", l.value("id", 0u), l.value("hook", "")));
    for (const auto &h : p.value("hooks", json::array())) where.push_back(h.get<std::string>());
    for (const auto &pin : p.value("pins", json::array())) where.push_back("pinned " + pin.get<std::string>());
    std::vector<uint32_t> maps = p.value("map_ids", std::vector<uint32_t>{});
    if (!maps.empty()) where.push_back(fmt::format("maps {}", fmt::join(maps, ",")));
    out += fmt::format("{:>8}  {:<16} {:<16} {:<16} {:>6}  {:<20} {}\n", p.value("id", 0u), p.value("type", ""),
                       p.value("name", ""), p.value("tag", ""), p.value("uid", 0u),
                       p.value("owner", "").empty() ? "-" : p.value("owner", ""), fmt::join(where, "; "));
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> parse_metadata_selector(const std::string &kv) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

json filter_describe(const json &d, const StatusFilter &f) {
  json out = d;
  json programs = json::array();
  auto value_of = [](const json &md, const std::string &k) -> const json * {
    if (!md.is_object()) return nullptr;
    auto it = md.find(k);
    return it == md.end() ? nullptr : &*it;
  };
  for (const auto &p : d.value("programs", json::array())) {
    if (!f.type.empty() && p.value("type", "") != f.type) continue;
    const json pmd = p.value("metadata", json::object());
    auto matches = [&](const json &amd) {
      for (const auto &[k, v] : f.metadata) {
        const json *got = value_of(amd, k);
        if (!got) got = value_of(pmd, k);
        if (!got || !got->is_string() || got->get<std::string>() != v) return false;
      }
      return true;
    };
    json q = p;
    json atts = json::array();
    for (const auto &a : p.value("attachments", json::array()))
      if (matches(a.value("metadata", json::object()))) atts.push_back(a);
    const bool program_matches = matches(json::object());
    if (atts.empty() && !(program_matches && p.value("attachments", json::array()).empty())) continue;
    q["attachments"] = std::move(atts);
    programs.push_back(std::move(q));
  }
  out["programs"] = std::move(programs);
  return out;
}

}  // namespace bpfrec
