// Typed plan steps (issue 12, point 3): what the executor does for one program's change, as
// data. steps_for() turns a ProgramChange into steps, each with its undo and its failure
// policy; the executor (executor.h) runs them and undoes in reverse order on failure; `plan
// --json` prints them, so a user sees whether a change swaps without a gap, runs both programs
// for a moment, or detaches then attaches. The shape of bpfman's Go rewrite (manager/doc.go,
// operation/run.go): builders emit actions, one executor runs them. Pure: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconcile/plan.h"
#include "reconcile/state.h"
#include "types/hook.h"

namespace bpfrec {

/// What a step does. The audit action of each (forward) step is in brackets.
enum class StepKind {
  LoadStaged,  ///< load the new program into its staging directory [load]
  Load,        ///< load the program into its live directory [load]
  Swap,        ///< move an attach point from one load of the program to the other (Kernel::swap) [replace]
  Attach,      ///< attach an attach point [attach]
  Detach,      ///< detach an attach point [detach]
  Forget,      ///< remove what is left of a lost attach point and drop it from the record [detach]
  Commit,      ///< make the staged program the live one (one rename) [commit]
  Unload,      ///< remove every pin of a program (its attachments must be gone) [unload]
  Relocate,    ///< rewrite the record: the manifest moved (no kernel change, not audited)
};
std::string_view to_string(StepKind k);

/// Which load of the program a step acts on: the live one (<pin-root>/<name>) or the one in the
/// staging directory (a replace's new load, or a stale staging directory being discarded).
/// A Swap moves the attach point *to* its side, from the other.
enum class Side { Live, Staged };
std::string_view to_string(Side s);

/// What the hook sees while the step (and its pair) runs.
/// - Gapless: one kernel operation replaces the program in place (XDP_FLAGS_REPLACE, cls_bpf
///   BPF_TC_F_REPLACE, a TCX or updatable bpf_link's BPF_LINK_UPDATE, a TC dispatcher rebuilt
///   and swapped in); the hook always runs exactly one of the two.
/// - Overlap: the new one is attached beside the old one, then the old one is detached (perf
///   links, links that cannot be updated, a libxdp dispatcher component): both run for a moment.
/// - Gap: the attach point is detached, then attached again on the same hook (only priority,
///   proceed_on or mode changed): for a moment neither runs.
/// - None: nothing is handed over (a hook gained or lost).
enum class Continuity { None, Gapless, Overlap, Gap };
std::string_view to_string(Continuity c);

/// What the executor does when the step fails (the step's own error is reported in every case).
/// - Continue: go on with the next step (an attach point that fails leaves its program partial).
/// - Stop: stop the change; nothing is undone (a load that failed left no pins; an unload
///   refused or failed keeps the pins).
/// - Restore: run the undo of the earlier steps listed in Step::restores (reverse order), then go
///   on (an attach on a hook whose previous attach point was detached first puts that one back).
/// - Undo: run the undo of every step of the change done so far, in reverse order, report the
///   change as failed ("<kind> failed, previous program kept: <error>") and stop.
/// Every undo that fails is reported (ApplyReport::program_errors, audit `undo-<kind>`); the
/// other undos still run.
enum class OnFailure { Continue, Stop, Restore, Undo };
std::string_view to_string(OnFailure f);

/// One step of one program's change.
struct Step {
  StepKind kind = StepKind::Attach;
  std::string program;
  Side side = Side::Live;
  /// The attach point (Swap, Attach, Detach, Forget): its attach key, its hook (nullopt when the
  /// program type of a record is unknown), its label (audit, plan output).
  std::string key;
  std::optional<Hook> hook;
  std::string target;
  /// Swap, Attach: the attach point to attach, borrowed from the change's ProgramSpec or from an
  /// observed record (an undo that puts a previous attach point back).
  const AttachSpec *attach = nullptr;
  /// How the attach point is (Detach, Forget, Swap: from the record) or will be attached
  /// (Attach: Capabilities; nullopt when the kernel decides at attach time).
  std::optional<Mechanism> mechanism;
  Continuity continuity = Continuity::None;
  OnFailure on_failure = OnFailure::Continue;
  /// OnFailure::Restore: indices (into the change's steps, all before this one) whose undo runs.
  std::vector<size_t> restores;
  /// Unload: refused while the program still holds attachments ("could not detach every attach
  /// point; pins kept"), so that nothing runs unowned.
  bool needs_detached = false;
  /// What puts the step back: empty or one step. LoadStaged: Unload of the staged directory;
  /// Load: Unload; Swap: a Swap back; Attach: Detach; Detach of an attach point whose hook the
  /// change attaches again: Attach of the previous attach point. Commit has none: it is the
  /// point of no return. Undo steps are run without a failure policy of their own.
  std::vector<Step> undo;
};

/// The steps of `change`. `observed`: the program as plan() saw it (null for Create), whose
/// records the steps borrow AttachSpecs from, as they borrow from change.desired: both must
/// outlive the steps. `refused`: attach keys that Kernel::check_attach() refused (Update only):
/// they get no Attach step, and the attach points on their hooks stay (no Detach).
/// Per kind, exactly what the executor has always done (executor.h, apply()):
/// - Create: Load (Stop), then Attach of each wanted attach point (Continue).
/// - Replace: LoadStaged (Stop); for each attach point in manifest order a Swap (Undo) where
///   the old program has that key, else an Attach (Continue); Detach of the old program's other
///   attach points (Continue, no undo: the new spec drops them); Commit (Undo).
///   Replace of a program gone from the kernel (observed prog_id 0): the Remove steps, then
///   the Create steps (the Load runs only when the Unload did).
/// - Update: Forget of each lost key (Continue); Detach of the attach points on a hook that a
///   wanted one takes (Gap; undo: Attach of the previous spec); Attach of each wanted attach
///   point (Restore of the same-hook detaches when it fails, else Continue); Detach of the rest.
///   Relocate when the record is stale.
/// - Remove: Detach of every attach point (Continue), Unload (needs_detached, Stop).
/// - Keep: Relocate when the record is stale and the program is declared; else nothing.
std::vector<Step> steps_for(const ProgramChange &change, const ObservedProgram *observed, const Capabilities &caps,
                            const std::set<std::string> &refused = {});

/// The steps that discard a staging directory left by an interrupted replace (ObservedState::
/// stale): Detach of each attach point it holds, then Unload (all Continue, side Staged).
std::vector<Step> steps_for_stale(const ObservedProgram &stale);

/// The mechanism a new attach point on `h` would get: perf links for tracepoints and probes,
/// a bpf_link for the link families, caps.xdp / caps.tc for XDP and TC (nullopt: unknown).
std::optional<Mechanism> mechanism_for(const Hook &h, const Capabilities &caps);

/// How a Swap of a recorded attach point hands over its hook (Gapless or Overlap), from the
/// record's mechanism and, for a bpf_link, descriptor(t).link_updatable (cf. LibbpfKernel::swap).
Continuity swap_continuity(Mechanism m, ProgramType t);

/// The steps as `plan --json` prints them: [{"kind", "program", "side", "key", "target", "hook":
/// {...}, "mechanism", "continuity", "on_failure", "undo": [...]}, ...]; fields that do not apply
/// to a step are left out.
nlohmann::ordered_json steps_to_json(const std::vector<Step> &steps);

}  // namespace bpfrec
