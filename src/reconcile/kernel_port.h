// The kernel as the executor sees it: the port that reconcile owns (the executor drives it, unit
// tests of pure logic implement it with a fake); kernel/kernel.h makes the real one
// (LibbpfKernel: libbpf, libxdp, raw bpf(2) where libbpf 1.1.2 is too old).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// A shared map pin that release_unused_shared_maps() removed (or failed to: `error`).
struct ReleasedPin {
  std::string pin;
  std::string error;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  /// Reads every program under the pin root: its record, its program pin (-> prog_id), its map
  /// pins, and keeps only the attachments that are still in place in the kernel (a link pin that
  /// is live; an XDP or cls_bpf hook that still runs our program). Staging directories of an
  /// interrupted replace are listed in `stale`. Read-only. A program whose pins are unreadable
  /// is returned with intact = false (a partial observation: the planner keeps that program as
  /// it is, changes of the others go ahead). Errors: a pin root that cannot be listed (any
  /// errno but ENOENT, which reads as empty), e.g. "cannot list /sys/fs/bpf/x: Permission
  /// denied": nothing is known of what is pinned and no plan may be made (an empty reading
  /// would create every program again, and a create starts by clearing its directory).
  [[nodiscard]] virtual Result<ObservedState> observe() = 0;

  /// observe(), shared: an observer that can tell that nothing changed since its last
  /// observation (ObservedState::version) returns that same state again instead of a copy.
  /// Errors: as observe().
  [[nodiscard]] virtual Result<std::shared_ptr<const ObservedState>> observe_shared() {
    auto st = observe();
    if (!st) return std::unexpected(st.error());
    return std::make_shared<const ObservedState>(std::move(*st));
  }

  /// Loads `spec`'s bpf_function (only that program of the object) with its global_data, pins the
  /// program and every map in <pin-root>/<name> (or, `staged`, in its staging directory), and
  /// writes the record. Errors carry libbpf's last log lines (verifier).
  virtual Result<ObservedProgram> load(const ProgramSpec &spec, bool staged) = 0;

  /// Attaches the loaded program `prog` at `a`; on success updates prog.attachments and the record.
  virtual Result<AttachRecord> attach(ObservedProgram &prog, const ProgramSpec &spec, const AttachSpec &a) = 0;

  /// Whether `a` can be attached the way the manifest asks, known without touching the hook
  /// (e.g. a TC proceed_on the chosen mechanism cannot honour). The executor asks before it
  /// detaches an attach point that `a` replaces on the same hook, so a refused change leaves
  /// the running one alone. Errors: what attach() would fail with.
  virtual Result<void> check_attach(const ProgramSpec &, const AttachSpec &) { return {}; }

  /// Moves attachment `key` from `from` to `to` (another load of the same program name) without
  /// leaving the hook empty: XDP replace, TCX link update, cls_bpf replace, or (perf links)
  /// attach the new then detach the old. Both records are updated.
  virtual Result<void> swap(ObservedProgram &from, ObservedProgram &to, const ProgramSpec &spec,
                            const AttachSpec &a) = 0;

  /// Detaches one attachment we made; an attachment that is already gone (interface deleted,
  /// detached by hand) is not an error. Updates prog.attachments and the record.
  virtual Result<void> detach(ObservedProgram &prog, const std::string &key) = 0;

  /// Removes every pin of `prog` (program, maps, links, record) and its directory; the kernel
  /// frees the objects once nothing else holds them. Attachments must be detached first.
  virtual Result<void> unload(const ObservedProgram &prog) = 0;

  /// Makes the staged program `staged` the live one: exchanges the directories in one rename and
  /// removes the previous program's pins. `staged.dir` becomes the live directory.
  virtual Result<void> commit(ObservedProgram &staged) = 0;

  /// What the planner may know of this kernel to say how new attach points will be attached
  /// (plan --json; reconcile/steps.h). Cheap: each probe runs once per process. The default
  /// knows nothing (every field nullopt), which only makes `mechanism` unknown in the steps of
  /// new XDP and TC attach points; behaviour does not depend on it.
  virtual Capabilities capabilities() { return {}; }

  /// Rewrites the record (e.g. the manifest moved).
  virtual Result<void> save(const ObservedProgram &prog) = 0;

  /// Unpins the shared map pins (<pin-root>/_maps/<group>/<map>) that no program's record names
  /// any more, and removes group directories left empty. Looks only when `changed` (the apply
  /// changed something) or on the first call of the process (a daemon killed mid-apply); nothing
  /// is released while some program's record cannot be read.
  virtual std::vector<ReleasedPin> release_unused_shared_maps(bool /*changed*/) { return {}; }
};

}  // namespace bpfrec
