// The executor: applies a plan through the Kernel interface, one program at a time, and reports
// what failed. A failure of one program never stops the others.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernel/kernel.h"
#include "reconcile/plan.h"

namespace bpfrec {

/// One audited kernel change (load, attach, detach, unload) or its failure.
struct AuditEvent {
  std::string action;  // load | attach | detach | unload
  std::string program;
  std::string manifest;
  std::string bytecode_sha256;
  uint32_t prog_id = 0;
  std::string target;     // attach point, for attach/detach
  std::string mechanism;  // for attach/detach
  uint32_t link_id = 0;
  std::string error;  // empty on success
};
using AuditSink = std::function<void(const AuditEvent &)>;

/// Errors of one apply, for status.
struct ApplyReport {
  std::map<std::string, std::string> program_errors;                        // program -> error
  std::map<std::string, std::map<std::string, std::string>> attach_errors;  // program -> attach key -> error
  unsigned changes = 0;  // kernel changes made (loads, attaches, detaches, unloads)
};

/// Applies `changes` (from plan()) to `kernel`. `observed` is the state plan() saw. Every kernel
/// change and failure goes to `audit`. A program whose load fails has its partial pins removed;
/// one whose detach fails keeps its pins so that nothing is left running unowned.
ApplyReport apply(Kernel &kernel, const std::vector<ProgramChange> &changes, const ObservedState &observed,
                  const AuditSink &audit);

}  // namespace bpfrec
