// Observed state: what the kernel and the pin root hold for the programs we own. Pure data,
// shared by the planner (pure) and the kernel layer (which fills it in).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace bpfrec {

/// How an attach point is attached.
/// xdp: the program alone on the interface's XDP hook (where freplace is missing);
/// xdp_dispatcher: a component of libxdp's multi-program dispatcher, loaded per attach point;
/// tcx: a TCX bpf_link (kernel >= 6.6); tc: clsact + cls_bpf direct-action filter;
/// perf_link: a perf event (tracepoint, uprobe, kprobe) bound through a bpf_link;
/// link: any other pinned bpf_link (fentry/fexit tracing links, raw tracepoints, cgroups);
/// tc_dispatcher: a slot of our TC dispatcher (cls_bpf + freplace, bpfman's design), where TCX
/// is missing and freplace works.
enum class Mechanism { Xdp, XdpDispatcher, Tcx, Tc, PerfLink, Link, TcDispatcher };
/// Every Mechanism, for parsing names back.
inline constexpr Mechanism kAllMechanisms[] = {Mechanism::Xdp, Mechanism::XdpDispatcher, Mechanism::Tcx,
                                               Mechanism::Tc,  Mechanism::PerfLink,      Mechanism::Link,
                                               Mechanism::TcDispatcher};
std::string_view to_string(Mechanism m);

/// What the kernel offers, as far as the planner needs it to say how a new attach point will
/// be attached (reconcile/steps.h): the mechanism a new XDP and a new TC attach point get
/// (nullopt: not known, e.g. not probed). How a recorded attach point is swapped is known
/// from its record, so nothing else is needed.
struct Capabilities {
  std::optional<Mechanism> xdp;  // Xdp or XdpDispatcher
  std::optional<Mechanism> tc;   // Tcx, TcDispatcher or Tc
};

/// One attachment we made, as recorded at attach time. The fields needed to find and undo it
/// without the daemon's memory: ifindex/netns/mode for libxdp, handle/priority for cls_bpf;
/// TCX and perf links are found by their pin `<pin-root>/<program>/links/<key>`.
struct AttachRecord {
  std::string key;  // attach_key() of the AttachSpec
  Mechanism mechanism = Mechanism::PerfLink;
  std::string target;  // AttachSpec::target_label(), for status and logs
  std::string netns;
  int ifindex = 0;
  uint32_t xdp_flags = 0;   // libxdp mode (enum xdp_attach_mode)
  bool egress = false;      // tc
  uint32_t tc_handle = 0;   // tc
  uint32_t tc_priority = 0; // tc
  uint32_t link_id = 0;     // kernel link id (tcx, perf_link); 0 for netlink attachments
  uint32_t prog_id = 0;     // xdp_dispatcher: the component's own program id (read from its pin)
  std::string resolved;     // uprobe: the file a library-name target resolved to, when attached
  AttachSpec spec;          // as the manifest said it, to re-attach when undoing a change
};

/// One program under the pin root. `record` fields are persisted in the pinned record map;
/// ids are read from the kernel at observation time.
struct ObservedProgram {
  std::string name;
  std::string dir;            // its pin directory (<pin-root>/<name>, or a staging directory)
  std::string type;           // manifest type name ("xdp", ...), for status of kept programs
  std::string digest;         // program_digest() of the spec that was loaded
  std::string manifest_name;  // base name of the manifest that declared it
  std::string manifest_path;
  std::string bytecode_sha256;
  std::string bytecode_path;  // object and function it was loaded from: the TC dispatcher loads
  std::string bpf_function;   // the program again as an extension (empty in older records)
  uint32_t prog_id = 0;
  std::map<std::string, AttachRecord> attachments;  // by key
  /// Attachments the record names that are no longer in place (interface deleted, detached by
  /// another tool), by key. The planner attaches the wanted ones again and drops the others
  /// from the record (ProgramChange::forget).
  std::map<std::string, AttachRecord> lost;
  std::map<std::string, std::string> maps;          // map pin name -> pin path under <dir>/maps
  /// The object's LIBBPF_PIN_BY_NAME maps, shared with the other programs of its map group:
  /// map name -> <pin-root>/_maps/<group>/<map> (also pinned under maps/). Recorded, so that the
  /// group pins can be released once no program's record names them any more.
  std::map<std::string, std::string> shared_maps;
  /// The program whose maps this one was loaded with (map_owner), empty for maps of its own.
  std::string map_owner;
  /// Kernel map ids by map pin name, as recorded at load (status; not re-read at observation).
  std::map<std::string, uint32_t> map_ids;
  bool intact = true;  // record and program pin present and readable
  /// Non-empty when a read of the program's pins failed for another reason than their absence
  /// (its record or maps/ gave EACCES, EIO, ...): what is pinned is not known, so the planner
  /// changes nothing of this program (no replace, detach or remove) while that lasts and
  /// reports it as the program's error. A pin that is really gone makes `intact` false instead.
  std::string unreadable;
};

struct ObservedState {
  std::map<std::string, ObservedProgram> programs;  // by program name
  /// Staging directories left by an interrupted replace: discarded before anything else.
  std::vector<ObservedProgram> stale;
  /// Equal non-zero versions from one observer mean equal observations: the observer found
  /// nothing changed since the observation that first had this version (LibbpfKernel: no change
  /// in the pin root's journal, every attachment check as before). 0: unknown (always new).
  uint64_t version = 0;
};

}  // namespace bpfrec
