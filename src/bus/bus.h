// The D-Bus face of the daemon: io.bpfman.Reconciler1 on the system bus.
//   /io/bpfman/Reconciler1                  io.bpfman.Reconciler1.Manager
//       Reload()                            reconcile now; answered when done (asynchronously:
//                                           the loop goes on meanwhile); root only
//       Describe() -> s                     the status document as JSON; anyone; answered
//                                           during a reconcile too ("reconciling")
//       State (s), Generation (t)           emit PropertiesChanged after each reconcile
//       Reconciling (b)                     a plan is being applied; emits PropertiesChanged
//   /io/bpfman/Reconciler1/program/<name>   io.bpfman.Reconciler1.Program (one per program;
//       Name, Type, State, Error, KernelId, Manifest   <name> is sd_bus_path_encode()d)
#pragma once

#include <systemd/sd-bus.h>

#include <cstddef>
#include <string>
#include <vector>

#include "status/status.h"
#include "util/sd_ptr.h"

namespace bpfrec {

inline constexpr const char *kBusName = "io.bpfman.Reconciler1";
inline constexpr const char *kManagerPath = "/io/bpfman/Reconciler1";
inline constexpr const char *kManagerInterface = "io.bpfman.Reconciler1.Manager";
inline constexpr const char *kProgramPrefix = "/io/bpfman/Reconciler1/program";
inline constexpr const char *kProgramInterface = "io.bpfman.Reconciler1.Program";

/// Largest string a reply may carry: dbus-daemon's default max_message_size is 32 MiB
/// (bus/config-parser.c, the system bus does not change it), less room for the header.
inline constexpr size_t kMaxReplyBytes = (32u << 20) - (64u << 10);

/// What the bus objects read and call: the daemon implements it (daemon/daemon.h), so the bus
/// layer does not depend on the daemon's class. Every call is made from the daemon's one loop
/// thread, between two slices of a reconcile.
class BusService {
 public:
  virtual ~BusService() = default;
  /// The status document as of the last reconcile (and the one in progress, if any).
  virtual const DaemonStatus &status() const = 0;
  /// Whether a plan is being applied.
  virtual bool reconciling() const = 0;
  /// The pin root, for the foreign-program scan of Describe().
  virtual const std::string &pin_root() const = 0;
  /// Reload(): reconcile and answer `call` once a reconcile that began after it has completed.
  virtual void reload_call(sd_bus_message *call) = 0;
};

/// Registers the Manager object and the per-program fallback vtable + node enumerator on `bus`;
/// the slots are appended to `slots`. Errors: negative errno from sd-bus.
int register_manager(sd_bus *bus, BusService *service, std::vector<SlotPtr> &slots);
int register_programs(sd_bus *bus, BusService *service, std::vector<SlotPtr> &slots);

/// Object path of a program: kProgramPrefix + "/" + sd_bus_path_encode(name).
std::string program_object_path(const std::string &name);

}  // namespace bpfrec
