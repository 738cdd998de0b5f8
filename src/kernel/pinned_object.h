// A second load of a pinned program's object that shares the pinned program's maps: what a
// dispatcher component needs (libxdp's XDP dispatcher, our TC dispatcher), one per attach point.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "manifest/object_info.h"
#include "util/result.h"

namespace bpfrec {

/// Pin name of a map under <dir>/maps: bpffs refuses names with '.' (EPERM), which libbpf's
/// internal maps have ("xdp_coun.rodata"); those are pinned as "xdp_coun_rodata".
std::string map_pin_name(const bpf_map *m);

/// Before the load: gives `prog` the program type (and expected attach type) that the manifest's
/// `type` needs where libbpf 1.1.2 inferred none from its section (section_fit() in
/// manifest/validate.h: "classifier/x", "xdp/x", a name of the user's own), as bpfman takes the
/// type from the user. Sections libbpf types are left as libbpf opened them.
/// Errors: the section does not fit `type` (validation refuses such manifests first).
Result<void> fix_program_type(bpf_program *prog, ProgramType type);

/// Opens `code` (the bytes of the object at `path`; keep it alive while the object is) with only `function` set to autoload (returned in `*prog`,
/// borrowed from the object) and every map reusing the map pinned in program directory `dir`
/// (<dir>/maps/<map_pin_name>), so the copy shares counters and .rodata with the pinned program.
/// Not loaded: the caller sets type and attach target (or hands it to libxdp) first.
/// `map_ids`, when given, receives the kernel ids of those maps.
/// Errors: the object cannot be opened, has no such function, or a map has no pin.
Result<BpfObjectPtr> open_sharing_pinned_maps(const Bytecode &code, const std::string &path, const std::string &function,
                                              const std::string &dir, bpf_program **prog,
                                              std::vector<uint32_t> *map_ids = nullptr);

}  // namespace bpfrec
