// The status document: what the daemon reports over D-Bus (Describe(), properties) and what
// `status` prints. Built from desired state, observed state and the last apply's errors; pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "manifest/desired.h"
#include "reconcile/executor.h"
#include "reconcile/interfaces.h"
#include "reconcile/state.h"

namespace bpfrec {

/// An attach point's state: attached | pending (the interface does not exist yet, or no
/// interface matches the pattern) | gone (an interface the pattern matched went away: reported,
/// not an error) | failed. Strings only at the JSON / D-Bus edge (to_string).
enum class AttachState { Attached, Pending, Gone, Failed };

/// A program's state: attached | pending (loaded; its only attach points are patterns that
/// match no interface yet) | partial (some attach points failed or pending) | failed (not
/// loaded) | kept (its manifest is invalid, its pins cannot be read, or it is a map owner no
/// manifest declares while programs use its maps: error "kept: maps used by a, b") | loaded
/// (loaded and pinned; the manifest declares no attach point: a load-only program).
enum class ProgramState { Attached, Pending, Partial, Failed, Kept, Loaded };

/// The daemon's state: starting (no reconcile finished yet) | idle | degraded.
enum class DaemonState { Starting, Idle, Degraded };

std::string_view to_string(AttachState s);
std::string_view to_string(ProgramState s);
std::string_view to_string(DaemonState s);

struct AttachmentStatus {
  std::string target;
  AttachState state = AttachState::Failed;
  std::string mechanism;  // to_string(Mechanism), empty when not attached
  uint32_t link_id = 0;
  uint32_t prog_id = 0;   // the program running here when it is not the program's own (an XDP dispatcher component)
  std::string error;
  /// What kind of failure `error` is (util/result.h) when an attach made it; nullopt for
  /// errors of our own ("not attached", a pattern that matched nothing).
  std::optional<ErrorKind> error_kind;
  std::string pattern;  // the glob or "@primary" that selected the interface; empty for a name
  unsigned failures = 0;   // failed: tries in a row that failed (0 otherwise)
  std::string next_retry;  // failed: when it is tried again (RFC 3339 UTC), empty otherwise
  std::string resolved;  // uprobe: the file a library-name target resolved to on this node
  std::map<std::string, std::string> metadata;  // the attach point's own metadata
};

/// One map of a program, for status: where it is pinned, its kernel id, and every program of
/// ours that uses that same map (by id; the program itself included).
struct MapStatus {
  std::string name;   // pin name (a '.' of libbpf's internal maps is '_')
  std::string pin;    // the shared pin (<pin-root>/_maps/<group>/<map>) of a shared map, else <dir>/maps/<name>
  uint32_t id = 0;    // kernel map id, 0 when unknown (records written before ids were recorded)
  std::string group;  // the map group of a LIBBPF_PIN_BY_NAME map, empty otherwise
  std::vector<std::string> programs;  // programs using this map, by name
};

struct ProgramStatus {
  std::string name;
  std::string type;
  std::string manifest;
  ProgramState state = ProgramState::Failed;
  std::string error;
  uint32_t kernel_id = 0;
  std::string bytecode_sha256;
  /// Where the bytecode comes from: the manifest's `bytecode.path`, or its `bytecode.image`
  /// reference (issue 14); for a program no manifest declares, the path its record names.
  std::string bytecode_ref;
  /// Image bytecode: the manifest digest the reference resolved to, and when it was pulled
  /// (RFC 3339 UTC); empty for path bytecode.
  std::string image_digest, image_pulled_at;
  std::map<std::string, std::string> maps;  // map name -> pin path (the shared pin of a shared map)
  std::vector<MapStatus> map_info;          // by name
  std::map<std::string, std::string> metadata;
  std::vector<AttachmentStatus> attachments;
};

struct ManifestStatus {
  std::string path;
  ManifestState state = ManifestState::Ok;
  std::vector<Diagnostic> errors;
};

/// A reconcile whose plan is being applied: the daemon applies it in slices of a few tens of
/// milliseconds and answers D-Bus between them (daemon.h), so Describe() shows it while it runs.
/// The rest of the status document is the last completed reconcile's.
struct ReconcileProgress {
  std::string why;           // what asked for it ("manifest change", "D-Bus Reload()", ...)
  std::string since;         // when it began, RFC 3339 UTC
  size_t steps_done = 0;     // steps of the current plan run so far (executor.h: Execution)
  size_t steps_total = 0;    // steps of the current plan
  std::string next;          // the program the next step changes ("" for a staging directory)
  unsigned plans = 1;        // plans made: 1 + the times a change arrived and the plan was made again
  bool replan = false;       // a change arrived: after the current step the rest is planned again
};

struct DaemonStatus {
  uint64_t generation = 0;
  DaemonState state = DaemonState::Starting;
  std::vector<ManifestStatus> manifests;
  std::vector<ProgramStatus> programs;  // by name
  /// Set by the daemon while a reconcile's plan is applied; build_status() leaves it empty.
  std::optional<ReconcileProgress> reconciling;
  /// Why the last reconcile ended without a new status (the pin root could not be read, a
  /// step threw); the rest of the document is then the last completed reconcile's. Set by the
  /// daemon; build_status() leaves it empty.
  std::string error;
};

/// Combines the inputs of one reconcile into the status document. `desired` is expanded
/// (expand_interfaces()); `after` is observed after the apply; `report` holds the errors of
/// that apply; `notes` are the interface patterns without a concrete attach point (no match,
/// gone, failed), listed after each program's attach points. State is "degraded" when a
/// manifest is invalid or a program is not fully attached, else "idle"; a pattern that matches
/// nothing and an interface that went away do not degrade it (they are expected on a fleet).
DaemonStatus build_status(uint64_t generation, const DesiredState &desired, const ObservedState &after,
                          const ApplyReport &report, const std::vector<PatternNote> &notes = {});

/// The Describe() JSON document (see README "D-Bus reference").
nlohmann::json to_json(const DaemonStatus &s);

/// The serialized manifests and programs of one generation's status: between two reconciles
/// they do not change (only state, error and reconciling do; daemon.h), and they are most of the
/// Describe() document's cost (~25 ms of JSON at 500 programs).
struct StatusTextCache {
  bool valid = false;
  uint64_t generation = 0;
  std::string manifests, programs;
};

/// to_json(s) with `foreign` (null: none) as its `foreign` section, serialized: the same text as
/// `to_json(s)` plus that key, dumped. The manifests and programs come from `cache` when it
/// holds s.generation's; the caller must not change s.manifests or s.programs without a new
/// generation.
std::string describe_text(const DaemonStatus &s, const nlohmann::json &foreign, StatusTextCache &cache);

/// Human-readable table for `bpfman-reconciler status`, from a Describe() document.
std::string format_status_table(const nlohmann::json &describe);

/// The `foreign` section of a Describe() document as a table (`status --all`): every program
/// on the node that is not ours, with its links, hooks, pins and owner.
std::string format_foreign_table(const nlohmann::json &describe);

/// What `status --type T --metadata k=v ...` keeps (bpfman's `list --program-type` and
/// `--metadata-selector`).
struct StatusFilter {
  std::string type;                                         // empty: any type
  std::vector<std::pair<std::string, std::string>> metadata;  // every pair must match
};

/// Parses "k=v" (the first '=' splits; k non-empty). nullopt when malformed.
std::optional<std::pair<std::string, std::string>> parse_metadata_selector(const std::string &kv);

/// `describe` with only the programs that `f` selects: the type must match, and every selector
/// pair must be in the program's metadata or in the attachment's own (an attachment's metadata
/// overrides its program's for the same key). A program is kept with the attachments that match;
/// a program without attachments matches on its own metadata. Manifests and everything else stay
/// as they are.
nlohmann::json filter_describe(const nlohmann::json &describe, const StatusFilter &f);

}  // namespace bpfrec
