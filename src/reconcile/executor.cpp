#include "reconcile/executor.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "reconcile/identity.h"
#include "reconcile/steps.h"

namespace bpfrec {
namespace {

std::string base_name(const std::string &path) { return std::filesystem::path(path).filename().string(); }

// The audit action of a step: the forward step's own (load, attach, replace, detach, commit,
// unload), or `undo-<kind>` when it runs as an undo.
std::string action_of(const Step &s, bool as_undo) {
  if (as_undo) return "undo-" + std::string(to_string(s.kind));
  switch (s.kind) {
    case StepKind::LoadStaged:
    case StepKind::Load: return "load";
    case StepKind::Swap: return "replace";
    case StepKind::Attach: return "attach";
    case StepKind::Detach:
    case StepKind::Forget: return "detach";
    case StepKind::Commit: return "commit";
    case StepKind::Unload: return "unload";
    case StepKind::Relocate: return "relocate";
  }
  return "?";
}

}  // namespace

// Runs the steps of one program's change (steps.h) through the Kernel, with their audit events
// and report entries (declared in executor.h for Execution's pointer only).
class Applier {
 public:
  Applier(Kernel &k, const AuditSink &audit, ApplyReport &report) : kernel_(k), audit_(audit), report_(report) {}

  // New attach points of an Update that the kernel refuses up front (e.g. a proceed_on the
  // mechanism cannot honour): reported and audited (`attach`, failed); their keys.
  std::set<std::string> refusals(const ProgramSpec &spec, const std::vector<std::string> &attach_keys,
                                 const ObservedProgram &obs) {
    std::set<std::string> refused;
    for (auto &a : spec.attach) {
      const std::string key = attach_key(spec.type, a);
      if (std::find(attach_keys.begin(), attach_keys.end(), key) == attach_keys.end()) continue;
      if (auto c = kernel_.check_attach(spec, a); !c) {
        refused.insert(key);
        report_.attach_errors[spec.name][key] = c.error();
        AuditEvent e = event("attach", obs);
        e.target = a.target_label(spec.type);
        e.error = c.error().message;
        audit_(e);
      }
    }
    return refused;
  }

  // Runs `steps` in order on `live` and `staged` (either may be loaded by a step); `spec` is the
  // change's ProgramSpec (null for Remove and a stale staging directory), `what` names the change
  // in the error of an undone one ("replace failed, ..."). On a failure, the step's OnFailure
  // says what follows (steps.h); the undos run in reverse order and each failed one is reported.
  void run(std::string_view what, const std::vector<Step> &steps, const ProgramSpec *spec, ObservedProgram &live,
           std::optional<ObservedProgram> &staged) {
    std::vector<size_t> done;
    std::vector<bool> undone(steps.size(), false);
    const std::string &name = steps.empty() ? live.name : steps.front().program;
    // Runs the undo of step j (once), and returns the failures as text.
    auto undo = [&](size_t j, std::vector<std::string> &failures) {
      if (undone[j]) return;
      undone[j] = true;
      for (auto &u : steps[j].undo)
        if (auto r = run_step(u, /*as_undo=*/true, spec, live, staged); !r)
          failures.push_back(fmt::format("undo {}{}{}: {}", to_string(u.kind), u.target.empty() ? "" : " ", u.target,
                                         r.error().message));
    };
    auto report_undo_failures = [&](const std::vector<std::string> &failures) {
      if (failures.empty()) return;
      std::string &err = report_.program_errors[name];
      for (auto &f : failures) err += (err.empty() ? "" : "; ") + f;
    };
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step &s = steps[i];
      auto r = run_step(s, /*as_undo=*/false, spec, live, staged);
      if (r) {
        done.push_back(i);
        continue;
      }
      std::vector<std::string> failures;
      switch (s.on_failure) {
        case OnFailure::Continue: continue;
        case OnFailure::Stop: return;
        case OnFailure::Restore:
          for (auto j = s.restores.rbegin(); j != s.restores.rend(); ++j)
            if (std::find(done.begin(), done.end(), *j) != done.end()) undo(*j, failures);
          report_undo_failures(failures);
          continue;
        case OnFailure::Undo:
          for (auto j = done.rbegin(); j != done.rend(); ++j) undo(*j, failures);
          report_.program_errors[name] =
              failures.empty() ? fmt::format("{} failed, previous program kept: {}", what, r.error().message)
                               : fmt::format("{} failed: {}", what, r.error().message);
          report_undo_failures(failures);
          return;
      }
    }
  }

 private:
  // One step; its audit event and report entries. Errors: the kernel's, or a refused Unload.
  Result<void> run_step(const Step &s, bool as_undo, const ProgramSpec *spec, ObservedProgram &live,
                        std::optional<ObservedProgram> &staged) {
    const std::string action = action_of(s, as_undo);
    if (!staged && s.kind != StepKind::LoadStaged && (s.side == Side::Staged || s.kind == StepKind::Swap))
      return fail("{}: no staged program", to_string(s.kind));  // a plan bug, not a kernel state
    ObservedProgram &p = s.side == Side::Staged && s.kind != StepKind::LoadStaged ? *staged : live;
    switch (s.kind) {
      case StepKind::LoadStaged:
      case StepKind::Load: {
        auto loaded = load(*spec, s.kind == StepKind::LoadStaged);
        if (!loaded) return std::unexpected(loaded.error());
        if (s.kind == StepKind::Load) live = std::move(*loaded);
        else staged = std::move(*loaded);
        return {};
      }
      case StepKind::Swap: {
        ObservedProgram &from = s.side == Side::Staged ? live : *staged;
        return swap(action, from, p, *spec, *s.attach);
      }
      case StepKind::Attach: return attach(action, p, *spec, *s.attach);
      case StepKind::Detach: return detach(action, p, s.key);
      case StepKind::Forget: {
        auto node = p.lost.extract(s.key);
        if (node.empty()) return {};
        p.attachments.insert(std::move(node));  // where Kernel::detach() looks for it
        return detach(action, p, s.key);
      }
      case StepKind::Commit: return commit(action, p);
      case StepKind::Unload:
        if (s.needs_detached && !p.attachments.empty()) {
          Error e{0, "could not detach every attach point; pins kept"};
          if (!as_undo) report_.program_errors[p.name] = e.message;
          return std::unexpected(e);
        }
        return unload(action, p, as_undo);
      case StepKind::Relocate: return relocate(p, *spec);
    }
    return {};
  }

  Result<ObservedProgram> load(const ProgramSpec &spec, bool staged) {
    auto loaded = kernel_.load(spec, staged);
    AuditEvent e{"load", spec.name, spec.manifest, spec.bytecode_digest};
    e.image = spec.bytecode_image;
    e.image_digest = spec.image_digest;
    if (!loaded) {
      e.error = loaded.error().message;
      report_.program_errors[spec.name] = e.error;
      audit_(e);
      return loaded;
    }
    ++report_.changes;
    e.prog_id = loaded->prog_id;
    audit_(e);
    return loaded;
  }

  Result<void> attach(const std::string &action, ObservedProgram &obs, const ProgramSpec &spec, const AttachSpec &a) {
    AuditEvent e = event(action, obs);
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
    if (!r) return std::unexpected(r.error());
    return {};
  }

  Result<void> swap(const std::string &action, ObservedProgram &from, ObservedProgram &to, const ProgramSpec &spec,
                    const AttachSpec &a) {
    const std::string key = attach_key(spec.type, a);
    AuditEvent e = event(action, to);
    e.target = a.target_label(spec.type);
    if (from.attachments.contains(key)) e.mechanism = to_string(from.attachments.at(key).mechanism);
    auto r = kernel_.swap(from, to, spec, a);
    if (!r) {
      e.error = fmt::format("{} (from program id {})", r.error().message, from.prog_id);
      report_.attach_errors[spec.name][key] = r.error();
    } else {
      ++report_.changes;
      if (to.attachments.contains(key)) e.link_id = to.attachments.at(key).link_id;
    }
    audit_(e);
    return r;
  }

  Result<void> detach(const std::string &action, ObservedProgram &obs, const std::string &key) {
    auto it = obs.attachments.find(key);
    if (it == obs.attachments.end()) return {};
    AuditEvent e = event(action, obs);
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
    return r;
  }

  Result<void> commit(const std::string &action, ObservedProgram &staged) {
    AuditEvent e = event(action, staged);
    auto r = kernel_.commit(staged);
    if (!r) e.error = r.error().message;
    else ++report_.changes;
    audit_(e);
    return r;
  }

  // An unload that fails is the program's error, unless it undoes something: the undo's
  // failure is reported with the change's.
  Result<void> unload(const std::string &action, const ObservedProgram &obs, bool as_undo) {
    AuditEvent e = event(action, obs);
    auto r = kernel_.unload(obs);
    if (!r) {
      e.error = r.error().message;
      if (!as_undo) report_.program_errors[obs.name] = e.error;
    } else {
      ++report_.changes;
    }
    audit_(e);
    return r;
  }

  Result<void> relocate(ObservedProgram &obs, const ProgramSpec &spec) {
    obs.manifest_path = spec.manifest;
    obs.manifest_name = base_name(spec.manifest);
    auto r = kernel_.save(obs);
    if (!r) report_.program_errors[obs.name] = r.error().message;
    return r;
  }

  AuditEvent event(const std::string &action, const ObservedProgram &obs) {
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
  if (!e.image.empty()) line += fmt::format(" image={} image_digest={}", audit_quoted(e.image), e.image_digest);
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
      applier_(std::make_unique<Applier>(kernel_, audit_, report_)), caps_(kernel_.capabilities()) {
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
    const ObservedProgram &stale = observed_.stale[next_stale_++];
    ObservedProgram none;
    std::optional<ObservedProgram> staged = stale;
    a.run("discard", steps_for_stale(stale), nullptr, none, staged);
  } else {
    apply_change(a, changes_[next_change_++]);
  }
  ++done_;
  skip_noops();
  if (finished()) release_shared_maps();
}

void Execution::apply_change(Applier &a, const ProgramChange &c) {
  auto it = observed_.programs.find(c.name);
  const ObservedProgram *seen = it != observed_.programs.end() ? &it->second : nullptr;
  ObservedProgram live = seen ? *seen : ObservedProgram{};
  std::optional<ObservedProgram> staged;
  // A kernel question asked before any step, so that a refused attach point keeps its hook.
  std::set<std::string> refused;
  if (c.kind == ChangeKind::Update) refused = a.refusals(*c.desired, c.attach, live);
  a.run(to_string(c.kind), steps_for(c, seen, caps_, refused), c.desired, live, staged);
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
