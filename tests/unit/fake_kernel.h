// A Kernel for unit tests of the executor: keeps state in memory, logs every call and can be
// told to fail (shared by test_plan.cpp and test_steps.cpp).
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reconcile/identity.h"
#include "reconcile/kernel_port.h"

namespace bpfrec {
namespace {

// A Kernel that keeps state in memory and can be told to fail.
class FakeKernel : public Kernel {
 public:
  ObservedState state;
  std::map<std::string, ObservedProgram> staging;
  std::vector<std::string> calls;
  std::string fail_load, fail_attach_target, fail_detach_key, fail_swap_target;
  /// Calls (as logged in `calls`, e.g. "swap a 101->100") that fail once, with EIO.
  std::multiset<std::string> fail_once;
  /// check_attach() refuses attach points at this interface.
  std::string refuse_target;
  uint32_t next_id = 100;

  // The interface of an xdp or tc attach point; "" for every other family.
  static std::string interface(const AttachSpec &a) { return a.netif() ? a.netif()->interface : ""; }

  Result<void> check_attach(const ProgramSpec &, const AttachSpec &a) override {
    if (!refuse_target.empty() && interface(a) == refuse_target) return fail("proceed_on cannot be honoured");
    return {};
  }

  /// What observe() returns when it does not fail: `state` plus the staging loads as `stale`.
  ObservedState snapshot() const {
    ObservedState s = state;
    for (auto &[_, p] : staging) s.stale.push_back(p);
    return s;
  }
  Result<ObservedState> observe() override { return snapshot(); }
  Result<ObservedProgram> load(const ProgramSpec &spec, bool staged) override {
    if (note(std::string(staged ? "load-staged " : "load ") + spec.name)) return fail_errno(EIO, "load");
    if (spec.name == fail_load) return fail("verifier says no");
    ObservedProgram p;
    p.name = spec.name;
    p.dir = (staged ? "/pins/_staging-" : "/pins/") + spec.name;
    p.type = std::string(to_string(spec.type));
    p.digest = program_digest(spec);
    p.manifest_path = spec.manifest;
    p.manifest_name = std::filesystem::path(spec.manifest).filename().string();
    p.bytecode_sha256 = spec.bytecode_digest;
    p.prog_id = next_id++;
    store(p);
    return p;
  }
  Result<AttachRecord> attach(ObservedProgram &prog, const ProgramSpec &spec, const AttachSpec &a) override {
    if (note("attach " + prog.name + " " + interface(a))) return fail_errno(EIO, "attach");
    if (interface(a) == fail_attach_target) return fail_errno(ENODEV, "interface {}", interface(a));
    AttachRecord r;
    r.key = attach_key(spec.type, a);
    r.target = a.target_label(spec.type);
    r.spec = a;
    prog.attachments[r.key] = r;
    store(prog);
    return r;
  }
  Result<void> swap(ObservedProgram &from, ObservedProgram &to, const ProgramSpec &spec, const AttachSpec &a) override {
    if (note(fmt::format("swap {} {}->{}", interface(a), from.prog_id, to.prog_id))) return fail_errno(EIO, "swap");
    if (interface(a) == fail_swap_target) return fail("EBUSY");
    const std::string key = attach_key(spec.type, a);
    to.attachments[key] = from.attachments.at(key);
    from.attachments.erase(key);
    store(from);
    store(to);
    return {};
  }
  Result<void> detach(ObservedProgram &prog, const std::string &key) override {
    if (note("detach " + prog.name + " " + prog.attachments[key].target)) return fail_errno(EIO, "detach");
    if (key == fail_detach_key) return fail("EBUSY");
    prog.attachments.erase(key);
    store(prog);
    return {};
  }
  Result<void> unload(const ObservedProgram &prog) override {
    if (note(std::string(staged(prog) ? "unload-staged " : "unload ") + prog.name)) return fail_errno(EIO, "unload");
    if (staged(prog)) staging.erase(prog.name);
    else state.programs.erase(prog.name);
    return {};
  }
  Result<void> commit(ObservedProgram &prog) override {
    if (note("commit " + prog.name)) return fail_errno(EIO, "commit");
    staging.erase(prog.name);
    prog.dir = "/pins/" + prog.name;
    state.programs[prog.name] = prog;
    return {};
  }
  Result<void> save(const ObservedProgram &prog) override {
    store(prog);
    return {};
  }

 private:
  // Logs a call; true when it is to fail (fail_once).
  bool note(std::string call) {
    calls.push_back(call);
    auto it = fail_once.find(call);
    if (it == fail_once.end()) return false;
    fail_once.erase(it);
    return true;
  }
  static bool staged(const ObservedProgram &p) { return p.dir.find("/_staging-") != std::string::npos; }
  void store(const ObservedProgram &p) { (staged(p) ? staging : state.programs)[p.name] = p; }
};

/// What the kernel holds after `spec` was applied with every attach point by mechanism `m`:
/// the program as load() and attach() above record it, with prog_id `id`.
inline ObservedProgram running(const ProgramSpec &spec, Mechanism m = Mechanism::Xdp, uint32_t id = 10) {
  ObservedProgram o;
  o.name = spec.name;
  o.dir = "/pins/" + spec.name;
  o.type = std::string(to_string(spec.type));
  o.digest = program_digest(spec);
  o.manifest_name = std::filesystem::path(spec.manifest).filename().string();
  o.manifest_path = spec.manifest;
  o.bytecode_sha256 = spec.bytecode_digest;
  o.prog_id = id;
  for (auto &a : spec.attach) {
    AttachRecord r;
    r.key = attach_key(spec.type, a);
    r.mechanism = m;
    r.target = a.target_label(spec.type);
    r.spec = a;
    o.attachments[r.key] = r;
  }
  return o;
}

}  // namespace
}  // namespace bpfrec
