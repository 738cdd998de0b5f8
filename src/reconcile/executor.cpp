#include "reconcile/executor.h"

#include <algorithm>
#include <filesystem>

#include "reconcile/identity.h"

namespace bpfrec {
namespace {

class Applier {
 public:
  Applier(Kernel &k, const AuditSink &audit, ApplyReport &report) : kernel_(k), audit_(audit), report_(report) {}

  // Detaches everything and removes the pins. False when something could not be detached.
  bool remove(ObservedProgram &obs) {
    bool ok = true;
    std::vector<std::string> keys;
    for (auto &[k, _] : obs.attachments) keys.push_back(k);
    for (auto &k : keys) ok = detach(obs, k) && ok;
    if (!ok) {
      report_.program_errors[obs.name] = "could not detach every attach point; pins kept";
      return false;
    }
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

  void create(const ProgramSpec &spec, const std::vector<std::string> &keys) {
    auto loaded = kernel_.load(spec);
    AuditEvent e{"load", spec.name, spec.manifest, spec.bytecode_digest};
    if (!loaded) {
      e.error = loaded.error().message;
      report_.program_errors[spec.name] = e.error;
      audit_(e);
      // Remove whatever pins the failed load left behind.
      ObservedProgram partial;
      partial.name = spec.name;
      (void)kernel_.unload(partial);
      return;
    }
    ++report_.changes;
    e.prog_id = loaded->prog_id;
    audit_(e);
    attach_all(*loaded, spec, keys);
  }

  void attach_all(ObservedProgram &obs, const ProgramSpec &spec, const std::vector<std::string> &keys) {
    for (auto &a : spec.attach) {
      const std::string key = attach_key(spec.type, a);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
      AuditEvent e = event("attach", obs);
      e.target = a.target_label(spec.type);
      auto r = kernel_.attach(obs, spec, a);
      if (!r) {
        e.error = r.error().message;
        report_.attach_errors[spec.name][key] = e.error;
      } else {
        ++report_.changes;
        e.mechanism = to_string(r->mechanism);
        e.link_id = r->link_id;
      }
      audit_(e);
    }
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
      report_.attach_errors[obs.name][key] = e.error;
    } else {
      ++report_.changes;
    }
    audit_(e);
    return r.has_value();
  }

 private:
  AuditEvent event(const char *action, const ObservedProgram &obs) {
    return AuditEvent{action, obs.name, obs.manifest_path, obs.bytecode_sha256, obs.prog_id};
  }

  Kernel &kernel_;
  const AuditSink &audit_;
  ApplyReport &report_;
};

}  // namespace

ApplyReport apply(Kernel &kernel, const std::vector<ProgramChange> &changes, const ObservedState &observed,
                  const AuditSink &audit) {
  ApplyReport report;
  Applier a(kernel, audit, report);
  for (const auto &c : changes) {
    auto it = observed.programs.find(c.name);
    ObservedProgram obs = it != observed.programs.end() ? it->second : ObservedProgram{};
    switch (c.kind) {
      case ChangeKind::Remove: (void)a.remove(obs); break;
      case ChangeKind::Replace:
        if (a.remove(obs)) a.create(*c.desired, c.attach);
        break;
      case ChangeKind::Create: a.create(*c.desired, c.attach); break;
      case ChangeKind::Update:
        for (auto &k : c.detach) (void)a.detach(obs, k);
        if (c.record_stale) {
          obs.manifest_path = c.desired->manifest;
          obs.manifest_name = std::filesystem::path(c.desired->manifest).filename().string();
        }
        a.attach_all(obs, *c.desired, c.attach);
        if (c.record_stale) (void)kernel.save(obs);
        break;
      case ChangeKind::Keep:
        if (c.record_stale && c.desired) {
          obs.manifest_path = c.desired->manifest;
          obs.manifest_name = std::filesystem::path(c.desired->manifest).filename().string();
          (void)kernel.save(obs);
        }
        break;
    }
  }
  return report;
}

}  // namespace bpfrec
