// Shared maps (issue 10, points 2 and 3): the pure rules. A map marked LIBBPF_PIN_BY_NAME is
// pinned once per map group under <pin-root>/_maps/<group>/<map> and reused by every program of
// the group; before a load reuses a pin, its definition must match the object's (libbpf's own
// check, map_is_reuse_compat(): type, key and value size, max_entries, flags); a group pin goes
// once no program's record names it.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "reconcile/state.h"

namespace bpfrec {

/// What libbpf compares before it reuses a pinned map (libbpf 1.1 map_is_reuse_compat()).
struct MapDef {
  uint32_t type = 0;  // enum bpf_map_type
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;  // map_flags
};

/// How `pinned` (the kernel's map) differs from `object` (the object's definition), as
/// "max_entries 4 (pinned) vs 8 (this object)", comma-separated; empty when compatible. A
/// PERF_EVENT_ARRAY whose object leaves max_entries 0 takes the number of CPUs (as libbpf), so
/// max_entries is not compared then.
std::string map_def_mismatch(const MapDef &pinned, const MapDef &object);

/// The shared map pins (paths under <pin-root>/_maps) that no record in `records` names in its
/// shared_maps, i.e. that the end of an apply may unpin. `pins` are every pin found there.
std::vector<std::string> unused_shared_pins(const std::vector<std::string> &pins,
                                            const std::vector<ObservedProgram> &records);

}  // namespace bpfrec
