#include "reconcile/executor.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "reconcile/identity.h"

namespace bpfrec {
namespace {

std::string base_name(const std::string &path) { return std::filesystem::path(path).filename().string(); }

}  // namespace

// What one step does to the kernel (declared in executor.h for Execution's pointer only).
class Applier {
 public:
  Applier(Kernel &k, const AuditSink &audit, ApplyReport &report) : kernel_(k), audit_(audit), report_(report) {}

  // Detaches everything and removes the pins. False when something could not be detached.
  bool remove(ObservedProgram &obs) {
    bool ok = true;
    for (auto &k : keys_of(obs)) ok = detach(obs, k) && ok;
    if (!ok) {
      report_.program_errors[obs.name] = "could not detach every attach point; pins kept";
      return false;
    }
    return unload(obs);
  }

  void create(const ProgramSpec &spec, const std::vector<std::string> &keys) {
    auto loaded = load(spec, /*staged=*/false);
    if (!loaded) return;
    for (auto &a : spec.attach)
      if (wanted(keys, spec, a)) (void)attach(*loaded, spec, a);
  }

  // Replaces `old` by a new load of `spec` without emptying any hook that both use.
  void replace(ObservedProgram &old, const ProgramSpec &spec) {
    auto staged = load(spec, /*staged=*/true);
    if (!staged) return;  // the old program is untouched
    std::vector<const AttachSpec *> swapped, added;
    std::string failure;
    for (auto &a : spec.attach) {
      const std::string key = attach_key(spec.type, a);
      if (old.attachments.contains(key)) {
        if (!swap(old, *staged, spec, a)) {
          failure = report_.attach_errors[spec.name][key].message;
          break;
        }
        swapped.push_back(&a);
      } else if (attach(*staged, spec, a)) {
        added.push_back(&a);
      }
    }
    if (!failure.empty()) {
      // Undo: the previous program goes back where it was and the new one is dropped.
      for (auto *a : swapped) (void)swap(*staged, old, spec, *a);
      for (auto *a : added) (void)detach(*staged, attach_key(spec.type, *a));
      (void)unload(*staged);
      report_.program_errors[spec.name] = "replace failed, previous program kept: " + failure;
      return;
    }
    for (auto &k : keys_of(old)) (void)detach(old, k);  // attach points the new spec dropped
    AuditEvent e = event("commit", *staged);
    if (auto r = kernel_.commit(*staged); !r) {
      e.error = r.error().message;
      report_.program_errors[spec.name] = e.error;
    } else {
      ++report_.changes;
    }
    audit_(e);
  }

  void update(ObservedProgram &obs, const ProgramSpec &spec, const std::vector<std::string> &attach_keys,
              const std::vector<std::string> &detach_keys) {
    // Hooks are identified by the attach point's label (interface, direction, netns; tracepoint;
    // binary, symbol, pid): the parts a key change can keep.
    // New attach points the kernel refuses up front (e.g. a proceed_on the mechanism cannot
    // honour): reported, and the attach point they would replace on the same hook stays.
    std::set<std::string> refused;  // attach keys
    std::set<std::string> kept_hooks;
    for (auto &a : spec.attach) {
      if (!wanted(attach_keys, spec, a)) continue;
      if (auto c = kernel_.check_attach(spec, a); !c) {
        const std::string key = attach_key(spec.type, a);
        refused.insert(key);
        kept_hooks.insert(a.target_label(spec.type));
        report_.attach_errors[spec.name][key] = c.error();
        AuditEvent e = event("attach", obs);
        e.target = a.target_label(spec.type);
        e.error = c.error().message;
        audit_(e);
      }
    }
    std::vector<std::string> same_hook, other;
    for (auto &k : detach_keys) {
      const std::string target = obs.attachments.contains(k) ? obs.attachments.at(k).target : "";
      if (kept_hooks.contains(target)) continue;
      bool same = false;
      for (auto &a : spec.attach)
        same |= wanted(attach_keys, spec, a) && a.target_label(spec.type) == target;
      (same ? same_hook : other).push_back(k);
    }
    std::map<std::string, AttachSpec> previous;
    for (auto &k : same_hook) {
      previous[obs.attachments.at(k).target] = obs.attachments.at(k).spec;
      (void)detach(obs, k);
    }
    for (auto &a : spec.attach) {
      if (!wanted(attach_keys, spec, a) || refused.contains(attach_key(spec.type, a))) continue;
      if (attach(obs, spec, a)) continue;
      // Put the attach point back as it was, rather than leave its hook without us.
      auto prev = previous.find(a.target_label(spec.type));
      if (prev != previous.end()) (void)attach(obs, spec, prev->second);
    }
    for (auto &k : other) (void)detach(obs, k);
  }

  // Removes what is left of lost attachments (e.g. the pin of a TCX link whose interface was
  // deleted) and drops them from the record.
  void forget(ObservedProgram &obs, const std::vector<std::string> &keys) {
    for (auto &k : keys) {
      auto node = obs.lost.extract(k);
      if (node.empty()) continue;
      obs.attachments.insert(std::move(node));  // where Kernel::detach() looks for it
      (void)detach(obs, k);
    }
  }

  // Discards a staging directory left by an interrupted replace.
  void discard(ObservedProgram &stale) {
    for (auto &k : keys_of(stale)) (void)detach(stale, k);
    (void)unload(stale);
  }

  void relocate(ObservedProgram &obs, const ProgramSpec &spec) {
    obs.manifest_path = spec.manifest;
    obs.manifest_name = base_name(spec.manifest);
    if (auto r = kernel_.save(obs); !r) report_.program_errors[obs.name] = r.error().message;
  }

 private:
  static std::vector<std::string> keys_of(const ObservedProgram &p) {
    std::vector<std::string> keys;
    for (auto &[k, _] : p.attachments) keys.push_back(k);
    return keys;
  }

  static bool wanted(const std::vector<std::string> &keys, const ProgramSpec &spec, const AttachSpec &a) {
    return std::find(keys.begin(), keys.end(), attach_key(spec.type, a)) != keys.end();
  }

  std::optional<ObservedProgram> load(const ProgramSpec &spec, bool staged) {
    auto loaded = kernel_.load(spec, staged);
    AuditEvent e{"load", spec.name, spec.manifest, spec.bytecode_digest};
    if (!loaded) {
      e.error = loaded.error().message;
      report_.program_errors[spec.name] = e.error;
      audit_(e);
      return std::nullopt;
    }
    ++report_.changes;
    e.prog_id = loaded->prog_id;
    audit_(e);
    return *loaded;
  }

  bool attach(ObservedProgram &obs, const ProgramSpec &spec, const AttachSpec &a) {
    AuditEvent e = event("attach", obs);
    e.target = a.target_label(spec.type);
    auto r = kernel_.attach(obs, spec, a);
    if (!r) {
      e.error = r.error().message;
      report_.attach_errors[spec.name][attach_key(spec.type, a)] = r.error();
    } else {
      ++report_.changes;
      report_.attach_errors[spec.name].erase(attach_key(spec.type, a));
      e.mechanism = to_string(r->mechanism);
      e.link_id = r->link_id;
    }
    audit_(e);
    return r.has_value();
  }

  bool swap(ObservedProgram &from, ObservedProgram &to, const ProgramSpec &spec, const AttachSpec &a) {
    const std::string key = attach_key(spec.type, a);
    AuditEvent e = event("replace", to);
    e.target = a.target_label(spec.type);
    if (from.attachments.contains(key)) e.mechanism = to_string(from.attachments.at(key).mechanism);
    e.error = "";
    auto r = kernel_.swap(from, to, spec, a);
    if (!r) {
      e.error = fmt::format("{} (from program id {})", r.error().message, from.prog_id);
      report_.attach_errors[spec.name][key] = r.error();
    } else {
      ++report_.changes;
      if (to.attachments.contains(key)) e.link_id = to.attachments.at(key).link_id;
    }
    audit_(e);
    return r.has_value();
  }

  bool detach(ObservedProgram &obs, const std::string &key) {
    auto it = obs.attachments.find(key);
    if (it == obs.attachments.end()) return true;
    AuditEvent e = event("detach", obs);
    e.target = it->second.target;
    e.mechanism = to_string(it->second.mechanism);
    e.link_id = it->second.link_id;
    auto r = kernel_.detach(obs, key);
    if (!r) {
      e.error = r.error().message;
      report_.attach_errors[obs.name][key] = r.error();
    } else {
      ++report_.changes;
    }
    audit_(e);
    return r.has_value();
  }

  bool unload(const ObservedProgram &obs) {
    AuditEvent e = event("unload", obs);
    if (auto r = kernel_.unload(obs); !r) {
      e.error = r.error().message;
      report_.program_errors[obs.name] = e.error;
      audit_(e);
      return false;
    }
    ++report_.changes;
    audit_(e);
    return true;
  }

  AuditEvent event(const char *action, const ObservedProgram &obs) {
    return AuditEvent{action, obs.name, obs.manifest_path, obs.bytecode_sha256, obs.prog_id};
  }

  Kernel &kernel_;
  const AuditSink &audit_;
  ApplyReport &report_;
};

namespace {

// A value inside "..." of an audit line.
std::string audit_quoted(std::string_view v) {
  std::string out;
  out.reserve(v.size() + 2);
  out += '"';
  for (unsigned char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

}  // namespace

std::string audit_line(const AuditEvent &e) {
  std::string line = fmt::format("audit: action={} program={} manifest={} sha256={} prog_id={}", e.action, e.program,
                                 e.manifest, e.bytecode_sha256, e.prog_id);
  if (!e.target.empty()) line += " target=" + audit_quoted(e.target);
  if (!e.mechanism.empty()) line += fmt::format(" mechanism={} link_id={}", e.mechanism, e.link_id);
  line += e.error.empty() ? " result=ok" : " result=failed error=" + audit_quoted(e.error);
  return line;
}

namespace {

// Whether the change makes the executor do anything (a step).
bool has_step(const ProgramChange &c) { return c.kind != ChangeKind::Keep || (c.record_stale && c.desired); }

}  // namespace

Execution::Execution(Kernel &kernel, const std::vector<ProgramChange> &changes, const ObservedState &observed,
                     AuditSink audit)
    : kernel_(kernel), changes_(changes), observed_(observed), audit_(std::move(audit)),
      applier_(std::make_unique<Applier>(kernel_, audit_, report_)) {
  total_ = observed.stale.size() + static_cast<size_t>(std::count_if(changes.begin(), changes.end(), has_step));
  // A kept program's reason (e.g. "kept: maps used by ..."): reported without a step.
  for (const auto &c : changes)
    if (c.kind == ChangeKind::Keep && !c.error.empty()) report_.program_errors[c.name] = c.error;
  skip_noops();
  if (finished()) release_shared_maps();
}

void Execution::release_shared_maps() {
  // Shared map pins whose last program went (its record is gone with its pins). An execution
  // stopped before its end (a replan) leaves this to a later one that changes something.
  for (const auto &r : kernel_.release_unused_shared_maps(report_.changes > 0 || !observed_.stale.empty())) {
    AuditEvent e{"unpin", "", "", "", 0};
    e.target = r.pin;
    e.error = r.error;
    if (e.error.empty()) ++report_.changes;
    audit_(e);
  }
}

Execution::~Execution() = default;

void Execution::skip_noops() {
  while (next_change_ < changes_.size() && !has_step(changes_[next_change_])) ++next_change_;
}

std::string Execution::next_program() const {
  if (next_stale_ < observed_.stale.size() || next_change_ >= changes_.size()) return "";
  return changes_[next_change_].name;
}

void Execution::step() {
  if (finished()) return;
  Applier &a = *applier_;
  if (next_stale_ < observed_.stale.size()) {
    ObservedProgram stale = observed_.stale[next_stale_++];
    a.discard(stale);
  } else {
    apply_change(a, changes_[next_change_++]);
  }
  ++done_;
  skip_noops();
  if (finished()) release_shared_maps();
}

void Execution::apply_change(Applier &a, const ProgramChange &c) {
  auto it = observed_.programs.find(c.name);
  ObservedProgram obs = it != observed_.programs.end() ? it->second : ObservedProgram{};
  switch (c.kind) {
    case ChangeKind::Remove: (void)a.remove(obs); break;
    case ChangeKind::Replace:
      // A program that is gone from the kernel cannot be swapped from: start over.
      if (obs.prog_id == 0) {
        if (a.remove(obs)) a.create(*c.desired, c.attach);
      } else {
        a.replace(obs, *c.desired);
      }
      break;
    case ChangeKind::Create: a.create(*c.desired, c.attach); break;
    case ChangeKind::Update:
      a.forget(obs, c.forget);
      a.update(obs, *c.desired, c.attach, c.detach);
      if (c.record_stale) a.relocate(obs, *c.desired);
      break;
    case ChangeKind::Keep:
      if (c.record_stale && c.desired) a.relocate(obs, *c.desired);
      break;
  }
}

size_t Execution::run_for(std::chrono::steady_clock::duration budget) {
  const auto t0 = std::chrono::steady_clock::now();
  size_t n = 0;
  do {
    if (finished()) break;
    step();
    ++n;
  } while (std::chrono::steady_clock::now() - t0 < budget);
  return n;
}

ApplyReport apply(Kernel &kernel, const std::vector<ProgramChange> &changes, const ObservedState &observed,
                  const AuditSink &audit) {
  Execution x(kernel, changes, observed, audit);
  while (!x.finished()) x.step();
  return x.report();
}

}  // namespace bpfrec
