// The record of one program we own, kept in bpffs next to its pins so that it lives exactly as
// long as they do: across daemon restarts, not across reboots.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "kernel/fs.h"
#include "kernel/pin_cache.h"
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
/// parsing them all was a third of its time). A record whose pin has the same identity
/// (pin_cache.h: the same map) as when it was last read, and that this process has not written
/// since (write_record() tells every cache), is not read from the kernel again: only the daemon
/// writes records, so that proves its text unchanged without copying 16 KiB out of the map.
class RecordCache {
 public:
  RecordCache();
  ~RecordCache();
  RecordCache(const RecordCache &) = delete;
  RecordCache &operator=(const RecordCache &) = delete;

  /// Reads the record in `p.dir` into `p`. Errors: no record pin (ENOENT), unreadable, or
  /// malformed (record_from_json); a failed read is not cached.
  Result<void> read(ObservedProgram &p);
  /// Keeps `dir`'s entry over the next sweep() without reading it (the observer knows it is
  /// unchanged: pin_journal.h), so that later reads in this observation (all_records()) find it.
  void keep(const std::string &dir);
  /// Ends an observation: forgets the directories that were not read since the last sweep.
  void sweep();
  /// Called by write_record(): the record in `dir` must be read from the kernel next time.
  static void written(const std::string &dir);

 private:
  struct Entry {
    std::string text;
    ObservedProgram parsed;
    PinIdentity id;
  };
  void mark(const std::string &dir);
  std::unordered_map<std::string, Entry> last_, now_;  // by program directory
  std::mutex mu_;  // guards dirty_: written() may come from another thread
  std::unordered_set<std::string> dirty_;  // directories written since they were read
};

}  // namespace bpfrec
