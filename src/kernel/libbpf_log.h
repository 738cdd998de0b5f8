// What libbpf and libxdp print, kept for error messages: a failed load ends with the verifier's
// log there, a failed libxdp attach with libxdp's reason. install_libbpf_logging() (kernel.h)
// routes both libraries' output here and to spdlog at debug level.
#pragma once

#include <deque>
#include <string>

namespace bpfrec {

/// The last lines (at most 8, newest last) that libbpf and libxdp printed in this process.
/// Clear it before a call whose log an error should carry. Not thread-safe: the libraries are
/// only called from the reconcile thread.
std::deque<std::string> &recent_libbpf_log();

}  // namespace bpfrec
