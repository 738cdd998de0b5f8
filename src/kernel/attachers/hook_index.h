// Our attachments by hook, as the records under the pin root say: built once per observation
// from the records it read (LibbpfKernel::observe_shared()), kept right by the kernel object
// across one apply (every record it writes, every directory it removes or renames), and asked
// by the attachers that must know the other programs of ours on a hook (TCX order, the TC
// dispatcher's members, cls_bpf preferences and handles) instead of reading every record again.
// Pure bookkeeping: no kernel access.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reconcile/state.h"
#include "types/hook.h"

namespace bpfrec {

/// One recorded attachment: the program fields the attachers need and the record itself.
struct HookEntry {
  std::string program;  ///< program name (also for a staging directory)
  std::string dir;      ///< its pin directory (<pin-root>/<name> or a staging directory)
  std::string bytecode_path, bytecode_sha256, bpf_function;  ///< to load it again (TC dispatcher)
  std::string key;      ///< attach key
  AttachRecord record;
  /// hook_of() its spec, by the program's recorded type; nullopt when that type is unknown here
  /// (the entry is then on no hook, but with(mechanism) still lists it).
  std::optional<Hook> hook;
};

/// The hook of recorded attachment `r` of a program whose record names type `type` (the
/// manifest name, ObservedProgram::type); nullopt for a type this version does not know.
std::optional<Hook> hook_of_record(std::string_view type, const AttachRecord &r);

/// Recorded attachments by hook and by mechanism. Pointers it returns stay valid until the next
/// put(), erase(), rename() or clear().
class HookIndex {
 public:
  /// Forgets everything.
  void clear();
  /// Makes the entries of directory `p.dir` exactly `p.attachments` (what its record now says:
  /// call it after the record is written).
  void put(const ObservedProgram &p);
  /// Forgets every entry of directory `dir` (its pins were removed).
  void erase(const std::string &dir);
  /// Directory `from` became `to` (a rename): its entries move there, replacing `to`'s.
  void rename(const std::string &from, const std::string &to);

  /// Every entry on hook `h`, in (directory, key) order.
  std::vector<const HookEntry *> on(const Hook &h) const;
  /// Every entry of mechanism `m`, on any hook, in (directory, key) order.
  std::vector<const HookEntry *> with(Mechanism m) const;
  /// Number of entries.
  size_t size() const { return entries_.size(); }

 private:
  using Ref = std::pair<std::string, std::string>;  // (dir, key)
  void drop(std::map<Ref, HookEntry>::iterator it);
  void add(HookEntry e);
  std::map<Ref, HookEntry> entries_;
  std::map<Hook, std::set<Ref>> by_hook_;
  std::map<Mechanism, std::set<Ref>> by_mechanism_;
};

}  // namespace bpfrec
