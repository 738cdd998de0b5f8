// The process-wide environment of the suite, set up once in main(): the private mount namespace,
// the reasons to skip or fail, the daemon binary, unique names and fixed host paths.
#pragma once

#include <string>

#include "harness/common.h"

#ifndef RECONCILER_BIN
#error "RECONCILER_BIN must be defined by the build"
#endif
#ifndef BPF_OBJ_DIR
#error "BPF_OBJ_DIR must be defined by the build"
#endif

namespace it {

/// Where Debian's xdp-tools installs its BPF objects (xdpfilt_*.o: foreign XDP programs).
inline constexpr const char* kXdpToolsObjDir = "/usr/lib/x86_64-linux-gnu/bpf";
/// The host's libc (a uprobe target: malloc).
inline constexpr const char* kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";

/// Sets up the private mount namespace and checks the tools. Must run before any thread exists.
void setup_process_environment();
/// Non-empty when the suite cannot run here (not root, tool missing...): tests skip with it.
const std::string& skip_reason();
/// Non-empty when something the suite is supposed to test is missing (daemon binary, objects).
const std::string& fatal_reason();
/// The daemon binary: $BPFREC_IT_RECONCILER if set (to test an installed build), else the one
/// the build made (RECONCILER_BIN).
const std::string& reconciler_bin();
/// A name unique to this process and call: "<prefix><pid>x<n>".
std::string unique_name(const std::string& prefix);

}  // namespace it
