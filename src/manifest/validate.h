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

/// The kernel program type (`enum bpf_prog_type`) that a manifest type requires: its
/// descriptor's prog_type (src/types/*.cpp), e.g. xdp -> BPF_PROG_TYPE_XDP, tc ->
/// BPF_PROG_TYPE_SCHED_CLS, uprobe/uretprobe -> BPF_PROG_TYPE_KPROBE (libbpf's SEC("uprobe") maps
/// to KPROBE).
uint32_t required_prog_type(ProgramType t);

/// The manifest types an ELF section names, by bpfman's rule (go-bpfman platform/ebpf
/// inferProgramType and sectionFamily, which the Go rewrite of bpfman took over): the first
/// '/'-component of the section (a leading '?' dropped) names a family, and every type of the
/// family may be declared for it, because the kernel program type is the same and the rest is
/// chosen at attach time. Each type's descriptor lists the sections it claims (`sections`,
/// src/types/*.cpp, one file per type family):
///   xdp, xdp.frags                                  -> xdp
///   tc, classifier, tcx                             -> tc
///   tracepoint, tp                                  -> tracepoint
///   kprobe, kretprobe, ksyscall, kretsyscall        -> kprobe, kretprobe
///   uprobe, uretprobe, uprobe.s, uretprobe.s        -> uprobe, uretprobe
///   fentry, fentry.s -> fentry;  fexit, fexit.s -> fexit
///   raw_tracepoint, raw_tp                          -> raw_tracepoint
///   cgroup_skb, cgroup/skb                          -> cgroup_skb
///   cgroup/sock, cgroup/sock_create, cgroup/sock_release, cgroup/post_bind4, cgroup/post_bind6
///                                                   -> cgroup_sock
///   cgroup/connect4, cgroup/bind6, ... (one per attach type)  -> cgroup_sock_addr
///   sockops -> sockops;  sk_lookup -> sk_lookup;  netfilter -> netfilter;  lsm, lsm.s -> lsm
/// Both "xdp" and "xdp/anything" count (libbpf 1.x knows only the exact "xdp", "classifier" and
/// "tc"; libbpf 0.x and bpfman's aya loader took any suffix). "xdp/devmap" and "xdp/cpumap" are
/// not xdp programs an interface takes (libbpf fixes another expected attach type). nullopt: the
/// section names none of these (e.g. "socket", "tp_btf/x", "my_prog").
std::optional<std::vector<ProgramType>> section_types(std::string_view section);

/// How a program's section fits the manifest's `type`, and what the loader must do about it.
struct SectionFit {
  /// Empty when it fits; else the reason, to follow "bpf_function 'f' is in section \"S\" ".
  std::string error;
  /// libbpf 1.1.2 infers no program type from the section (e.g. "classifier/x", "xdp/x"): the
  /// loader sets required_prog_type() (bpf_program__set_type) and `expected_attach_type`
  /// (fentry BPF_TRACE_FENTRY, fexit BPF_TRACE_FEXIT, else 0) before the load.
  bool set_type = false;
  uint32_t expected_attach_type = 0;
};

/// The section rule. `libbpf_type` is the program type libbpf gave the section at open
/// (bpf_program__type(), BPF_PROG_TYPE_UNSPEC when it knows none). Fits when:
/// - section_types() names a family that holds `declared` (and libbpf, where it infers a type,
///   infers required_prog_type(declared)); or
/// - the section names no family and libbpf infers no type: the manifest's type decides.
/// Refused when the section names another family, or libbpf types a section outside the
/// families (e.g. "socket", "tp_btf/x", "kprobe.multi/x", "xdp/devmap"). Pure.
SectionFit section_fit(std::string_view section, uint32_t libbpf_type, ProgramType declared);

/// The only attach point a section allows, when it fixes one at load (expected_attach_type):
/// cgroup_skb/ingress -> "ingress" (direction), cgroup/sock -> "sock_create" (attach_type), ...;
/// a cgroup_sock program in a section that names no type is loaded with expected attach type 0,
/// which the kernel turns into BPF_CGROUP_INET_SOCK_CREATE: "sock_create".
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
