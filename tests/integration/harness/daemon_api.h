// The daemon's D-Bus API as a client sees it, through busctl --system (DBUS_SYSTEM_BUS_ADDRESS
// is set by the fixture): names, Describe, properties, Reload, and lookups in Describe's answer.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "harness/common.h"
#include "harness/process.h"

namespace it {

/// The daemon's bus name.
inline constexpr const char* kService = "io.bpfman.Reconciler1";
/// The manager object's path.
inline constexpr const char* kManagerPath = "/io/bpfman/Reconciler1";
/// The manager object's interface (Describe, Reload, Generation...).
inline constexpr const char* kManagerIface = "io.bpfman.Reconciler1.Manager";
/// The interface of the per-program objects.
inline constexpr const char* kProgramIface = "io.bpfman.Reconciler1.Program";
/// The per-program objects' paths start with this.
inline constexpr const char* kProgramPathPrefix = "/io/bpfman/Reconciler1/program/";

/// Describe() parsed; throws std::runtime_error with busctl's output when the call fails.
json describe();
/// The property's busctl JSON "data", nullopt when the call fails.
std::optional<json> get_property(const std::string& path, const std::string& iface,
                                 const std::string& prop);
/// Reload() on the manager (waits up to 60 s for the answer).
CmdResult call_reload();
/// Every object path the daemon exports (busctl tree).
std::vector<std::string> object_paths();

/// The element of desc["programs"] named name, nullopt if absent.
std::optional<json> find_program(const json& desc, const std::string& name);
/// The element of desc["manifests"] whose path is path (or ends with "/" + path).
std::optional<json> find_manifest(const json& desc, const std::string& path);

}  // namespace it
