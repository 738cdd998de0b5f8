// Checks of a parsed program against its bytecode object. Pure: the object is described by
// ObjectInfo (see object_info.h), so tests can feed any shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/manifest.h"
#include "manifest/object_info.h"

namespace bpfrec {

/// The kernel program type (`enum bpf_prog_type`) that a manifest type requires:
/// xdp -> BPF_PROG_TYPE_XDP, tc -> BPF_PROG_TYPE_SCHED_CLS, tracepoint -> BPF_PROG_TYPE_TRACEPOINT,
/// uprobe/uretprobe -> BPF_PROG_TYPE_KPROBE (libbpf's SEC("uprobe") maps to KPROBE).
uint32_t required_prog_type(ProgramType t);

/// The libbpf sections (SEC names) a type accepts, where the program type alone does not tell
/// (kprobe and uprobe are both BPF_PROG_TYPE_KPROBE; fentry and fexit both TRACING, told apart by
/// the expected attach type that the section sets). "x/*" means "x/" followed by anything.
/// Empty: any section of required_prog_type() (xdp, tc, tracepoint, uprobe, uretprobe).
std::vector<std::string> required_sections(ProgramType t);

/// The only attach point a section allows, when it fixes one at load (expected_attach_type):
/// cgroup_skb/ingress -> "ingress" (direction), cgroup/sock -> "sock_create" (attach_type), ...
/// nullopt when any attach point of the type will do (cgroup/skb, other types).
std::optional<std::string> section_attach_constraint(ProgramType t, std::string_view section);

/// Returns diagnostics for: a bpf_function the object lacks (listing what it has), a function
/// whose section gives another program type than `type`, global_data names not in .rodata/.data,
/// integers that do not fit the variable's BTF size and signedness, and byte strings of the wrong
/// length. Positions come from the spec.
std::vector<Diagnostic> validate_against_object(const ProgramSpec &p, const ObjectInfo &obj);

/// Encodes an integer override little-endian into `size` bytes (x86_64 and BPF are little-endian).
/// Returns false when the value does not fit `size` bytes with that signedness.
bool encode_integer(int64_t value, uint32_t size, bool is_signed, std::vector<uint8_t> &out);

}  // namespace bpfrec
