// The exact audit of a pin root after a settle: every pin, map, link and hook checked against
// the kernel, and no leaked programs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/common.h"

namespace it {

/// What a pin root must hold exactly after a settle, program by program.
struct ExpectedProgram {
  std::string name;
  enum Kind { Tracepoint, Xdp, Tcx } kind = Tracepoint;
  std::size_t link_pins = 1;                   ///< pins under links/ (tracepoint, tcx)
  std::optional<std::uint32_t> sample_every;   ///< expected first u32 of the *_rodata pin
  std::string ns, ifname;                      ///< xdp/tcx: where it must be attached
  bool ingress = true;                         ///< tcx
};

/// Checks the pin root against `expected` through the kernel only: the directory holds exactly
/// the expected program dirs (nothing else, no staging or temp names), each exactly
/// {prog, maps, links, record}; the program pin is a live program, every map pin is one of its
/// maps and every one of its maps is pinned; links/ holds exactly link_pins live links of that
/// program (and `bpftool -j link show` lists each); XDP/TCX hooks hold exactly the pinned ids;
/// ids are distinct; and the kernel's list of programs named like `kernel_names` equals the
/// pinned set (no leaked or duplicate programs; waits up to `settle` for deferred frees).
/// An empty `kernel_names` skips the kernel-wide search. Returns the problems found (empty: good).
std::vector<std::string> check_pin_root_exact(const std::string& pin_root,
                                              const std::vector<ExpectedProgram>& expected,
                                              const std::vector<std::string>& kernel_names,
                                              std::chrono::milliseconds settle = 3s);

}  // namespace it
