// The record of one program we own, kept in bpffs next to its pins so that it lives exactly as
// long as they do: across daemon restarts, not across reboots.
#pragma once

#include <string>
#include <unordered_map>

#include "kernel/fs.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// Largest record (JSON bytes + NUL). One attach point takes ~450 bytes, so ~35 per program.
inline constexpr uint32_t kRecordValueSize = 16384;

/// Serialises the persistent fields of `p` (digest, manifest, bytecode sha256, attachments) to JSON.
std::string record_to_json(const ObservedProgram &p);

/// Parses a record written by record_to_json() into `p` (ids are left alone).
/// Errors: malformed JSON or missing fields.
Result<void> record_from_json(const std::string &json, ObservedProgram &p);

/// Writes the record map at PinLayout::record(p.dir), creating and pinning it on first use.
/// One bpf_map_update_elem(), so a reader sees the old or the new record.
/// Errors: the record is too large, or map create/pin/update fail (errno).
Result<void> write_record(const ObservedProgram &p);

/// Reads records, parsing one only when its text differs from what the same directory held
/// earlier in this observation or at the previous one (a no-op reconcile reads every record;
/// parsing them all was a third of its time). The record itself is always read from the kernel.
class RecordCache {
 public:
  /// Reads the record in `p.dir` into `p`. Errors: no record pin (ENOENT), unreadable, or
  /// malformed (record_from_json); a failed read is not cached.
  Result<void> read(ObservedProgram &p);
  /// Ends an observation: forgets the directories that were not read since the last sweep.
  void sweep();

 private:
  struct Entry {
    std::string text;
    ObservedProgram parsed;
  };
  std::unordered_map<std::string, Entry> last_, now_;  // by program directory
};

}  // namespace bpfrec
