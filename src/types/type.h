// Program types as descriptors. Everything the daemon knows about one program type lives in
// the descriptor file of its family (types/xdp.cpp, tc.cpp, tracepoint.cpp, probe.cpp,
// tracing.cpp, cgroup.cpp, sk_lookup.cpp, netfilter.cpp, lsm.cpp, ...): its manifest name, the
// kernel program type and expected attach type, the ELF sections that name it, the attach keys it
// takes (required and allowed) and how they are parsed, the canonical attach key and the label,
// how the kernel is probed for it, which attacher attaches it, whether its links update in place,
// whether its target is fixed at load.
// The parser, validation, planner, status and the kernel read descriptors; nothing outside this
// folder switches over ProgramType. Adding a type is a descriptor file and a row in registry.cpp
// (bpftrace's PROBE_LIST plus one Attached*Probe per kind is the model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "manifest/manifest.h"

namespace toml {
inline namespace v3 {
class node;
}
}  // namespace toml

namespace bpfrec {

class TomlReader;

/// How the kernel is asked whether it offers a type (kernel/attach_tracing.cpp runs the probe).
enum class ProbeKind {
  None,          ///< not probed: attaching says what is missing
  ProgType,      ///< libbpf_probe_bpf_prog_type(prog_type)
  KprobePmu,     ///< the kprobe PMU (/sys/bus/event_source/devices/kprobe)
  KretprobePmu,  ///< the kprobe PMU and its format/retprobe bit
  Trampoline,    ///< a minimal BPF_PROG_TYPE_TRACING load with expected_attach_type
  Netfilter,     ///< a minimal BPF_PROG_TYPE_NETFILTER load (libbpf 1.1.2 cannot probe it)
  Lsm,           ///< a minimal BPF_PROG_TYPE_LSM load (BPF_LSM_MAC), and `bpf` among the active LSMs
};

/// Which attacher attaches a type's attach points (one per mechanism family; the kernel routes).
enum class AttacherKind {
  Xdp,            ///< the program alone on the hook, or a libxdp dispatcher component
  Tc,             ///< TCX, the TC dispatcher, or cls_bpf (chosen by probing)
  Tracepoint,     ///< perf link on a tracefs event
  Uprobe,         ///< perf link on a uprobe PMU event
  Kprobe,         ///< perf link on a kprobe PMU event
  Trampoline,     ///< tracing link (fentry, fexit, lsm): target bound at load
  RawTracepoint,  ///< raw tracepoint link
  Cgroup,         ///< BPF_LINK_CREATE on a cgroup v2 directory
  NetnsLink,      ///< BPF_LINK_CREATE on a network namespace file (sk_lookup)
  Netfilter,      ///< netfilter link (BPF_NETFILTER) made inside the target network namespace
};

/// One attach key a type takes: its name and how its value is read into the AttachSpec's
/// params, which the parser has made the type's alternative (make_params) before (errors
/// reported through the reader, positioned at the value).
struct AttachKeyRule {
  std::string_view name;
  void (*parse)(TomlReader &r, const toml::node &value, AttachSpec &a);
};

/// Everything about one program type. Descriptors are static and immutable; get one with
/// descriptor() or find_descriptor().
struct TypeDescriptor {
  ProgramType type;
  std::string_view name;  ///< in manifests and status (bpfman's names where bpfman has the type)
  uint32_t prog_type;     ///< BPF_PROG_TYPE_* the program must load as
  /// BPF_* attach type set at load when libbpf's section names none (fentry, fexit, lsm); 0: none.
  uint32_t expected_attach_type = 0;

  /// libbpf section names of this type's family: "xdp" matches "xdp" and "xdp/<anything>";
  /// "cgroup/skb" matches "cgroup/skb" and "cgroup/skb/<anything>".
  std::vector<std::string_view> sections;
  /// Exact sections that look like the family but are not (xdp/devmap: not for an interface).
  std::vector<std::string_view> excluded_sections;
  /// The sections, as error messages list them; empty: "s, s/*" for each of `sections`.
  std::string_view sections_help;

  /// The attach parameters' alternative of this type, with its defaults (AttachParams).
  AttachParams (*make_params)();
  /// The attach keys besides `metadata` (which every type takes), in the order errors list them.
  std::vector<AttachKeyRule> keys;
  /// Keys an attach point needs: each entry is a set of alternatives, one of which must be there.
  std::vector<std::vector<std::string_view>> required;

  /// proceed_on actions (dispatchers) and their defaults; empty for types without one.
  std::vector<std::string> proceed_on_names;
  std::vector<std::string> proceed_on_defaults;

  bool network = false;               ///< attaches to a network interface (globs, netns, @primary)
  bool target_fixed_at_load = false;  ///< the attach target is part of the load (attach_btf_id)
  bool link_updatable = false;        ///< BPF_LINK_UPDATE re-points its link (a swap without a gap)
  bool retprobe = false;              ///< a probe of the function's return (uretprobe, kretprobe)
  /// For target_fixed_at_load types: the attach key that names the target ("function", "hook"),
  /// for messages, and the name that bpf_program__set_attach_target() looks up in the kernel's
  /// BTF for `a` (libbpf 1.1.2 prefixes it by the expected attach type: "bpf_lsm_" for
  /// BPF_LSM_MAC, nothing for fentry/fexit). Part of program_digest().
  std::string_view load_target_key;
  std::string (*load_target)(const AttachSpec &a) = nullptr;
  /// What libbpf puts before load_target() to find the BTF function ("bpf_lsm_"), for messages.
  std::string_view load_target_btf_prefix;

  ProbeKind probe = ProbeKind::None;
  AttacherKind attacher;

  /// The functions below that take an AttachSpec read its params as this type's alternative
  /// (make_params; std::bad_variant_access for another family's, a programming error).
  /// Appends the canonical text of `a`'s fields that change what the kernel does (after the
  /// "<name>\n" line that canonical() writes). Byte-stable: hashed into pin names.
  void (*canonical)(const AttachSpec &a, std::string &out);
  /// Short human form for logs and status: "veth0 (netns /run/netns/blue)".
  std::string (*label)(const AttachSpec &a);

  /// When the program's section fixes one attach value (cgroup_skb/ingress, cgroup/post_bind4):
  /// that value, else nullopt. Null: no section fixes anything for this type.
  std::optional<std::string> (*section_constraint)(std::string_view section) = nullptr;
  /// The attach key the section constrains and its value in `a`, for the error message.
  std::string_view constrained_key;
  std::string (*constrained_value)(const AttachSpec &a) = nullptr;

  /// The kernel attach type (BPF_CGROUP_*) for `a`; set for the Cgroup attacher.
  uint32_t (*kernel_attach_type)(const AttachSpec &a) = nullptr;
};

/// The descriptor of `t`. Every ProgramType has one.
const TypeDescriptor &descriptor(ProgramType t);

/// The descriptor named `name` in manifests, or null.
const TypeDescriptor *find_descriptor(std::string_view name);

/// Every descriptor, in ProgramType order.
const std::vector<const TypeDescriptor *> &all_descriptors();

/// Whether `section` (libbpf's ELF section name, a leading '?' ignored) is one of `d`'s.
bool claims_section(const TypeDescriptor &d, std::string_view section);

// Descriptor files: each defines the descriptors of its family (registry.cpp lists them).
namespace types {
const TypeDescriptor &xdp();
const TypeDescriptor &tc();
const TypeDescriptor &tracepoint();
const TypeDescriptor &raw_tracepoint();
const TypeDescriptor &uprobe();
const TypeDescriptor &uretprobe();
const TypeDescriptor &kprobe();
const TypeDescriptor &kretprobe();
const TypeDescriptor &fentry();
const TypeDescriptor &fexit();
const TypeDescriptor &cgroup_skb();
const TypeDescriptor &cgroup_sock();
const TypeDescriptor &cgroup_sock_addr();
const TypeDescriptor &sockops();
const TypeDescriptor &sk_lookup();
const TypeDescriptor &netfilter();

/// netfilter: the (pf, hooknum) of a hook name ("ipv4_prerouting" -> NFPROTO_IPV4,
/// NF_INET_PRE_ROUTING); nullopt for any other name.
std::optional<std::pair<uint32_t, uint32_t>> netfilter_hook(std::string_view name);
const TypeDescriptor &lsm();
}  // namespace types

}  // namespace bpfrec
