// Interface patterns: turning the globs and "@primary" of xdp/tc attach points into concrete
// attach points, one per matching interface, from an inventory of the node's interfaces. Pure:
// the inventory is read from the kernel by kernel/inventory.h.
//
// The planner only ever sees concrete attach points, so attach_key() names one interface: an
// interface that starts or stops matching adds or removes exactly that attachment.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "manifest/desired.h"
#include "manifest/manifest.h"

namespace bpfrec {

/// One interface of a network namespace.
struct InterfaceEntry {
  std::string name;
  bool loopback = false;  // IFF_LOOPBACK: never matched by a glob
};

/// What one network namespace holds, as read from the kernel.
struct NetnsInterfaces {
  std::vector<InterfaceEntry> interfaces;
  std::string primary;  // the interface that carries the default route; empty: no default route
  std::string error;    // non-empty: the namespace could not be read (then the rest is empty)
};

/// Per netns path ("" = the daemon's own namespace).
using InterfaceInventory = std::map<std::string, NetnsInterfaces>;

/// An attach point with a pattern that has no concrete attach point behind it, for status and
/// logs. Not an error unless `kind` is Failed.
struct PatternNote {
  enum Kind {
    NoMatch,  // no interface matches the pattern now: pending, attached when one appears
    Gone,     // an interface the pattern matched went away or stopped matching
    Failed,   // the pattern's network namespace could not be read
  };
  Kind kind = NoMatch;
  std::string program;
  ProgramType type = ProgramType::Xdp;
  /// NoMatch, Failed: the pattern attach point as written. Gone: the concrete attach point that
  /// went away (interface_pattern set).
  AttachSpec spec;
  std::string message;  // "no interface matches 'ens*'", "interface ens3 went away", ...
};
std::string_view to_string(PatternNote::Kind k);

/// Network namespaces whose inventory expand_interfaces() needs for `desired`: those of attach
/// points with a glob or "@primary". `primary_only`: just those of "@primary" ones (where a
/// default-route change matters).
std::set<std::string> pattern_netns(const DesiredState &desired, bool primary_only = false);

/// Replaces every xdp/tc attach point whose `interface` is a glob or "@primary" by one concrete
/// attach point per matching interface of its netns in `inventory`, in name order, with
/// `interface` = the name and `interface_pattern` = the pattern; everything else is copied.
/// Globs match with fnmatch(3) (flags 0) and never match a loopback interface; "@primary"
/// matches NetnsInterfaces::primary. A concrete attach point equal to one already in the
/// program (same attach_key) is dropped, so "eth0" and "eth*" on the same hook attach once.
/// Literal names pass through unchanged (a missing one stays pending, as before).
/// Returns a NoMatch note per pattern that matched nothing, and a Failed note per pattern whose
/// netns is missing from `inventory` or could not be read.
std::vector<PatternNote> expand_interfaces(DesiredState &desired, const InterfaceInventory &inventory);

/// Remembers the concrete attach points that patterns produced, to report the ones that go
/// away (an interface deleted, renamed, or no longer carrying the default route).
class VanishedInterfaces {
 public:
  /// At most this many Gone notes are kept per pattern attach point (the oldest are dropped).
  static constexpr size_t kPerPattern = 8;

  /// Compares the concrete attach points of `expanded` (expand_interfaces() output, and its
  /// `notes`) with those of the previous call. Returns the attach points that went away since
  /// then while their pattern attach point is still in the manifests: to log. A Gone note is
  /// forgotten when its interface matches again or its pattern attach point is gone.
  std::vector<PatternNote> update(const DesiredState &expanded, const std::vector<PatternNote> &notes,
                                  const InterfaceInventory &inventory);
  /// The Gone notes kept, oldest first.
  const std::vector<PatternNote> &notes() const { return gone_; }

 private:
  // The concrete attach points one pattern attach point produced.
  struct Produced {
    std::string program;
    ProgramType type = ProgramType::Xdp;
    std::map<std::string, AttachSpec> by_key;  // attach key -> concrete attach point
  };
  // By pattern id: program name + canonical() of the pattern attach point.
  std::map<std::string, Produced> previous_;
  std::vector<PatternNote> gone_;
};

}  // namespace bpfrec
