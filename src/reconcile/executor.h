// The executor: applies a plan through the Kernel interface, one program at a time, and reports
// what failed. A failure of one program never stops the others.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "reconcile/kernel_port.h"
#include "reconcile/plan.h"

namespace bpfrec {

/// One audited kernel change (load, attach, detach, unload) or its failure.
struct AuditEvent {
  /// load | attach | replace (a swap) | detach | commit | unload | unpin, or undo-<step kind>
  /// (undo-swap, undo-attach, undo-detach, undo-unload) for a step run as an undo.
  std::string action;
  std::string program;
  std::string manifest;
  std::string bytecode_sha256;
  uint32_t prog_id = 0;
  std::string target;     // attach point, for attach/detach
  std::string mechanism;  // for attach/detach
  uint32_t link_id = 0;
  std::string error;  // empty on success
  /// load: where the bytes came from, the manifest's bytecode.image reference and the digest
  /// it resolved to (issue 14 point 6); empty for path bytecode and the other actions.
  std::string image, image_digest;
};
using AuditSink = std::function<void(const AuditEvent &)>;

/// The audit event as one log line: `audit: action=... program=... result=ok|failed error="..."`.
/// Quoted values escape `\`, `"` and control characters (a verifier log's newlines become
/// `\n`), so that one event is one line, one journal record.
std::string audit_line(const AuditEvent &e);

/// An attach point that failed and waits for its next try (reconcile/backoff.h), for status.
struct AttachRetry {
  unsigned failures = 0;   // failures in a row
  std::string next_retry;  // wall-clock time of the next try, RFC 3339 UTC
};

/// Errors of one apply, for status. Error::code keeps the errno (ENODEV: interface missing).
struct ApplyReport {
  std::map<std::string, std::string> program_errors;                  // program -> error
  std::map<std::string, std::map<std::string, Error>> attach_errors;  // program -> attach key -> error
  unsigned changes = 0;  // kernel changes made (loads, attaches, swaps, detaches, unloads)
  std::map<std::string, std::map<std::string, AttachRetry>> retries;  // program -> attach key -> retry (set by the daemon)
};

/// Applies `changes` (from plan()) to `kernel`. `observed` is the state plan() saw. Every kernel
/// change and failure goes to `audit`. Each change is run as its typed steps (steps_for(),
/// reconcile/steps.h), in order; a failed step does what its OnFailure says, and undos run in
/// reverse order of the steps done, each failed undo reported in program_errors and audited
/// (`undo-<kind>`). Per program, all or nothing where it matters:
/// - Create: a failed load leaves no pins; failed attach points are reported (program partial).
/// - Replace: the new program is loaded into a staging directory and moved onto each hook with
///   Kernel::swap() (the hook is never empty), then committed in one rename. If the load, a
///   swap or the commit fails, what was done is undone in reverse order (swaps back, new attach
///   points detached, the staged load dropped) and the previous program stays as it was, less
///   the attach points the new spec drops if the commit failed ("replace failed, previous
///   program kept: ..."). A program gone from the kernel (prog_id 0) is removed, then created.
/// - Update: attach points on a new hook are attached before the old ones are detached; an
///   attach point whose hook stays the same (only priority, proceed_on or mode changed) is
///   detached first and, if the new attach fails, attached again as it was. A new attach point
///   that Kernel::check_attach() refuses up front is reported and its hook keeps the old one.
///   Lost attach points that are no longer wanted (ProgramChange::forget) are detached first:
///   their pins go and the record drops them. Not all or nothing: a failed attach point is
///   reported and the others go on.
/// - Remove: a program whose detach fails keeps its pins, so nothing runs unowned.
/// Hooks are compared as values (hook_of(), types/hook.h), never by label.
/// Staging directories of an interrupted replace (observed.stale) are discarded first; at the
/// end, shared map pins that no program's record names any more are unpinned (audit action
/// `unpin`, the pin as target).
ApplyReport apply(Kernel &kernel, const std::vector<ProgramChange> &changes, const ObservedState &observed,
                  const AuditSink &audit);

class Applier;

/// apply() in steps, for a caller that must go back to its event loop between them (the daemon
/// serves D-Bus, signals and the watchdog while a long apply runs: issue 11). One step is one
/// staging directory discarded (ObservedState::stale, first) or one program's change, exactly
/// as apply() does it, so what apply() promises per program holds after every step: stopping
/// between two steps (SIGTERM, or a newer plan taking over) leaves the pins consistent, and the
/// next reconcile observes what was done and plans the rest. A Keep without a stale record
/// does nothing and is no step. apply() is an Execution run to the end.
/// `changes` and `observed` are borrowed: they must outlive the Execution and stay unchanged.
/// Not thread-safe (the Kernel is not).
class Execution {
 public:
  Execution(Kernel &kernel, const std::vector<ProgramChange> &changes, const ObservedState &observed,
            AuditSink audit);
  ~Execution();
  Execution(const Execution &) = delete;
  Execution &operator=(const Execution &) = delete;

  /// Steps in all, and steps run so far.
  size_t total() const { return total_; }
  size_t done() const { return done_; }
  bool finished() const { return done_ == total_; }
  /// Runs the next step. Does nothing when finished().
  void step();
  /// Runs steps until finished() or until `budget` has passed since the call; at least one
  /// step when not finished (a single step is never cut: a kernel call cannot be). Returns the
  /// number of steps run.
  size_t run_for(std::chrono::steady_clock::duration budget);
  /// The changes whose step has run (a prefix of `changes`; Keeps without a step included),
  /// for record_attempts(): the ones not run yet were not tried.
  std::span<const ProgramChange> applied() const { return {changes_.data(), next_change_}; }
  /// Name of the program the next step changes ("" for a staging directory or when finished).
  std::string next_program() const;
  /// Errors and change count of the steps run so far.
  const ApplyReport &report() const { return report_; }

 private:
  /// Moves next_change_ past the changes without a step.
  void skip_noops();
  /// Once finished: Kernel::release_unused_shared_maps(), each release audited (`unpin`).
  void release_shared_maps();
  /// The kernel work of one program's change (a step).
  void apply_change(Applier &a, const ProgramChange &c);

  Kernel &kernel_;
  const std::vector<ProgramChange> &changes_;
  const ObservedState &observed_;
  AuditSink audit_;
  ApplyReport report_;
  std::unique_ptr<Applier> applier_;  // refers to audit_ and report_
  Capabilities caps_;                 // Kernel::capabilities(), asked once
  size_t next_stale_ = 0, next_change_ = 0, done_ = 0, total_ = 0;
};

}  // namespace bpfrec
