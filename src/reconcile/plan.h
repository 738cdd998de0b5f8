// The planner: a pure diff of desired against observed state (no I/O), in the shape of bpfman's
// plan/apply split and systemd-networkd's reload (keep what did not change).
#pragma once

#include <string>
#include <vector>

#include "manifest/desired.h"
#include "reconcile/state.h"

namespace bpfrec {

enum class ChangeKind {
  Create,   // not loaded: load, pin, attach every attach point
  Replace,  // loaded from another digest (or its pins are broken): unload the old, create the new
  Update,   // same program: attach new attach points, detach ones no longer wanted
  Remove,   // no manifest asks for it: detach, unpin, unload
  Keep,     // nothing to do in the kernel
};
std::string_view to_string(ChangeKind k);

/// What the executor must do for one program.
struct ProgramChange {
  ChangeKind kind = ChangeKind::Keep;
  std::string name;
  const ProgramSpec *desired = nullptr;  // borrowed from the DesiredState; null for Remove
  std::vector<std::string> attach;       // attach keys to attach (Create/Replace: all)
  std::vector<std::string> detach;       // attach keys to detach (Remove: all)
  /// Update: lost attach keys (ObservedProgram::lost) no longer wanted, e.g. an interface a
  /// glob matched was deleted: remove what is left of them (pins) and drop them from the record.
  std::vector<std::string> forget;
  std::string reason;                    // one line for logs and `plan` output
  bool kept_last_good = false;           // Keep because its manifest is invalid now
  bool record_stale = false;             // Keep/Update: the manifest moved; rewrite the record
  /// Keep: no manifest declares it, but these programs use its maps (map_owner): it stays
  /// until the last of them goes (issue 10, point 3).
  std::vector<std::string> kept_for;
  /// Keep: the program cannot be planned (a map_owner that no manifest declares); reported as
  /// the program's error, nothing changes in the kernel.
  std::string error;
};

/// Diffs `desired` against `observed`. Programs whose manifest is Invalid now, and waiting
/// programs (DesiredState::waiting: their image is not in the store), are kept as they are
/// (last known good) instead of removed. Map owners (`map_owner`): a program no manifest
/// declares is kept while a program declared or kept uses its maps (kept_for); a program whose
/// owner is neither declared nor loaded, or is itself a dependent, is not loaded (error); the
/// dependents of an owner that is loaded again are loaded again too (their maps change). Result
/// order: Remove, Replace, Create, Update, Keep, each by program name with dependents after the
/// others, so hooks are freed before new programs take them and owners load first.
std::vector<ProgramChange> plan(const DesiredState &desired, const ObservedState &observed);

/// True when any change needs the kernel (anything but Keep without a stale record).
bool plan_changes_anything(const std::vector<ProgramChange> &changes);

}  // namespace bpfrec
