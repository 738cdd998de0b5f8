// Manifest format v1: the desired state of one program, as read from a TOML file.
//
// Everything here is pure: parse_manifest() turns text into ProgramSpecs and positioned
// diagnostics without touching the file system or the kernel. The checks that need the bytecode
// object (bpf_function exists, its section matches `type`, global_data names and sizes) live in
// validate.h; the directory rules (precedence, masking) in discovery.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bpfrec {

/// A position in a manifest file; 1-based like toml++'s source_position. 0 means unknown.
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;
};

/// One positioned problem in a manifest: rendered as "path:line:col: error: message".
struct Diagnostic {
  std::string path;
  SourcePos pos;
  std::string message;

  std::string str() const;
};

/// Program types of manifest v1 (bpfman's names, plus cgroup_skb, cgroup_sock and
/// raw_tracepoint, which bpfman does not offer; their names are libbpf's section prefixes).
enum class ProgramType {
  Xdp,
  Tc,
  Tracepoint,
  Uprobe,
  Uretprobe,
  Kprobe,
  Kretprobe,
  Fentry,
  Fexit,
  CgroupSkb,
  CgroupSock,
  RawTracepoint,
  CgroupSockAddr,
  Sockops,
  SkLookup,
  Netfilter,
  Lsm,
};

/// Every ProgramType, in declaration order.
const std::vector<ProgramType> &all_program_types();

/// XDP attach modes; `Auto` lets the kernel pick native and fall back to generic (skb).
enum class XdpMode { Auto, Native, Skb, Hw };

/// When image bytecode is pulled (bpfman's ImagePullPolicy names, as Kubernetes has them):
/// Always: resolved again at the daemon's start, on Reload() and when the manifest changes (the
/// stored digest runs meanwhile); IfNotPresent: pulled only when the store lacks the reference;
/// Never: only what the store holds.
enum class PullPolicy { Always, IfNotPresent, Never };
std::string_view to_string(PullPolicy p);
/// "Always", "IfNotPresent", "Never" (case as bpfman and Kubernetes spell them); nullopt otherwise.
std::optional<PullPolicy> pull_policy_from_string(std::string_view s);

enum class TcDirection { Ingress, Egress };

std::string_view to_string(ProgramType t);
std::string_view to_string(XdpMode m);
std::string_view to_string(TcDirection d);
std::optional<ProgramType> program_type_from_string(std::string_view s);

/// True for types that attach to a network interface (xdp, tc).
bool is_network_type(ProgramType t);

/// True for fentry, fexit and lsm: the kernel function (lsm: the hook's bpf_lsm_<hook>) is the
/// program's attach target at LOAD time (attach_btf_id, checked by the verifier), so the program
/// takes exactly one attach point and a changed `function` (`hook`) means loading the program
/// again (it is part of program_digest()).
bool target_fixed_at_load(ProgramType t);

/// cgroup_sock attach types, by bpftool's names (bpftool-cgroup(8)): sock_create
/// (BPF_CGROUP_INET_SOCK_CREATE), sock_release (BPF_CGROUP_INET_SOCK_RELEASE, Linux 5.9),
/// post_bind4 and post_bind6 (BPF_CGROUP_INET4/6_POST_BIND).
const std::vector<std::string> &cgroup_sock_attach_names();

/// bpfman's proceed-on names. XDP: aborted, drop, pass, tx, redirect, dispatcher_return
/// (default pass, dispatcher_return). TC: unspec, ok, reclassify, shot, pipe, stolen, queued,
/// repeat, redirect, trap, dispatcher_return (default pipe, dispatcher_return).
const std::vector<std::string> &proceed_on_names(ProgramType t);
const std::vector<std::string> &proceed_on_defaults(ProgramType t);

/// The attach parameters of xdp and tc: a network interface in a network namespace, and the
/// dispatcher's order (priority, proceed_on).
struct NetIfAttach {
  std::string interface;  // a name, a glob or "@primary" as written (see interface_pattern.h)
  /// Set by expand_interfaces() on the concrete attach points it makes from a glob or
  /// "@primary": that pattern, for status. Not part of canonical(): the attachment is the same
  /// whichever pattern selected its interface.
  std::string interface_pattern;
  std::string netns;  // path of a netns file (e.g. /run/netns/blue); empty = the daemon's netns
  uint32_t priority = 50;               // 0..1000 (bpfman), lower runs first
  std::vector<std::string> proceed_on;  // defaults filled in by the parser
  bool proceed_on_explicit = false;     // the manifest named proceed_on
};

/// xdp: an interface and the XDP mode.
struct XdpAttach : NetIfAttach {
  XdpMode mode = XdpMode::Auto;
};

/// tc: an interface and its ingress or egress.
struct TcAttach : NetIfAttach {
  TcDirection direction = TcDirection::Ingress;
};

/// tracepoint: "category/name"; raw_tracepoint: the raw tracepoint's name ("sys_enter").
struct TracepointAttach {
  std::string tracepoint;
};

/// uprobe, uretprobe: a function and/or offset in a binary or library, optionally of one process.
struct UprobeAttach {
  std::string target;              // binary or library path, or a library name ("libc")
  SourcePos target_pos;            // of the target value, for resolution errors at attach
  std::string function;            // symbol; may be empty when offset is given
  std::optional<uint64_t> offset;  // relative to function when both are given
  std::optional<int32_t> pid;      // only this process; default all
};

/// kprobe, kretprobe: a kernel function, and an offset into it (kprobe only).
struct KprobeAttach {
  std::string function;
  std::optional<uint64_t> offset;
};

/// fentry, fexit: the kernel function, bound at load (target_fixed_at_load()).
struct TracingAttach {
  std::string function;
};

/// cgroup_skb (cgroup, direction), cgroup_sock and cgroup_sock_addr (cgroup, attach_type),
/// sockops (cgroup).
struct CgroupAttach {
  std::string cgroup;  // absolute path of a cgroup v2 directory, normalized
  TcDirection direction = TcDirection::Ingress;  // cgroup_skb
  std::string attach_type = "sock_create";       // cgroup_sock: one of cgroup_sock_attach_names();
                                                 // cgroup_sock_addr: connect4, bind6, ... (required)
};

/// sk_lookup: a network namespace.
struct NetnsAttach {
  std::string netns;  // path of a netns file; empty = the daemon's netns
};

/// netfilter: the hook by name ("ipv4_prerouting"), the netfilter priority (signed, lower runs
/// first; default 0 = NF_IP_PRI_FILTER, INT32_MIN and INT32_MAX are refused by the kernel) and
/// the network namespace.
struct NetfilterAttach {
  std::string hook;
  int32_t priority = 0;
  std::string netns;  // empty = the daemon's netns
};

/// lsm: the LSM hook ("file_open"); the program runs at bpf_lsm_<hook>.
struct LsmAttach {
  std::string hook;
};

/// The type-specific parameters of an attach point: one alternative per type family. The
/// descriptor of the program's type names its alternative (TypeDescriptor::make_params) and
/// the parser makes that one before reading the keys.
using AttachParams = std::variant<XdpAttach, TcAttach, TracepointAttach, UprobeAttach, KprobeAttach,
                                  TracingAttach, CgroupAttach, NetnsAttach, NetfilterAttach, LsmAttach>;

/// One attach point of a program: the parameters of its type family and what every type has.
struct AttachSpec {
  /// The parameters; the alternative is the program type's (AttachSpec::of(t) makes it; a
  /// default-constructed AttachSpec holds xdp's).
  AttachParams params;

  /// Free strings shown with this attachment in status (bpfman's link metadata); not part of
  /// canonical(): changing them changes nothing in the kernel.
  std::map<std::string, std::string> metadata;

  SourcePos pos;  // of the [[program.attach]] table

  /// An attach point of type `t` with the parameters' defaults (descriptor(t).make_params()).
  static AttachSpec of(ProgramType t);

  /// The parameters as `P`, or null when they are another family's.
  template <class P>
  const P *get_if() const {
    return std::get_if<P>(&params);
  }
  template <class P>
  P *get_if() {
    return std::get_if<P>(&params);
  }
  /// The interface part of an xdp or tc attach point; null for every other family.
  const NetIfAttach *netif() const;
  NetIfAttach *netif();
  /// netif(), or for every other family an empty NetIfAttach (no interface, no pattern, the
  /// daemon's netns): for code that reads interface fields of attach points of any type.
  const NetIfAttach &netif_or_none() const;
  /// The network namespace file the attach point names (xdp, tc, sk_lookup, netfilter); empty
  /// for the daemon's namespace and for families without one.
  const std::string &netns() const;

  /// Canonical, stable text of every field that changes what the kernel does; equal keys mean
  /// the same attachment. Used to diff attach points by identity. `params` must be `t`'s
  /// alternative (std::bad_variant_access otherwise: a programming error).
  std::string canonical(ProgramType t) const;
  /// Short human form for logs and status: "veth0 (netns /run/netns/blue)", "syscalls/sys_enter_openat".
  std::string target_label(ProgramType t) const;
};

/// A global variable override: an integer (sized from BTF at validation) or raw bytes ("0x..").
struct GlobalValue {
  std::string name;
  std::variant<int64_t, std::vector<uint8_t>> value;
  SourcePos pos;  // of the value
};

/// One [[program]] of a manifest.
struct ProgramSpec {
  std::string name;
  ProgramType type = ProgramType::Xdp;
  std::string bpf_function;
  std::string bytecode_path;     // absolute (relative paths are resolved against the manifest's dir)
  /// `bytecode.image`: the image reference, NAME:TAG or NAME@sha256:HEX (ImageReference::str()
  /// of what parse_image_reference() read); empty for path bytecode. load_desired() then sets
  /// bytecode_path to the object's copy in the bytecode store.
  std::string bytecode_image;
  PullPolicy pull_policy = PullPolicy::IfNotPresent;  // `bytecode.pull_policy`, image bytecode only
  /// Image bytecode, filled by load_desired() from the image store: the manifest digest the
  /// reference resolved to ("sha256:<hex>", the registry's) and when it was pulled (RFC 3339 UTC).
  std::string image_digest, image_pulled_at;
  std::string bytecode_sha256;   // as declared (lower-case hex), empty if not declared
  std::string bytecode_digest;   // actual sha256 of the file; filled by load_desired()
  // The bytes whose sha256 is bytecode_digest, as load_desired() read them: what is inspected
  // and loaded (never the path again: it may hold other bytes by then). Null if not read.
  std::shared_ptr<const std::string> bytecode_bytes;
  std::vector<GlobalValue> global_data;  // in file order
  std::map<std::string, std::string> metadata;
  std::vector<AttachSpec> attach;
  /// Where the object's LIBBPF_PIN_BY_NAME maps are shared: <pin-root>/_maps/<map_group>/<map>.
  /// The `map_group` key (a name, like `name`), else default_map_group() of the manifest, so the
  /// programs of one manifest share by default (issue 10, point 2; bpfman shares such maps too).
  std::string map_group;
  /// The manifest named `map_group`: only then is it part of program_digest(), so programs
  /// pinned before the key existed keep their digest (and are not replaced on upgrade).
  bool map_group_explicit = false;
  /// `map_owner`: the program whose maps this one uses, every one of them (bpfman's
  /// map_owner_id): the object's maps are reused from <pin-root>/<map_owner>/maps/<map>. Empty:
  /// the program has maps of its own. Part of program_digest() when set.
  std::string map_owner;

  std::string manifest;  // path of the manifest file
  SourcePos pos;         // of the [[program]] table
  // Positions of individual keys, for errors found after parsing (validation, duplicates).
  SourcePos name_pos, type_pos, function_pos, bytecode_pos, sha256_pos, map_group_pos, map_owner_pos, pull_policy_pos;
};

/// Result of parsing one manifest's text: programs when no errors, else diagnostics.
struct ParsedManifest {
  std::vector<ProgramSpec> programs;
  std::vector<Diagnostic> errors;
};

/// Parses manifest text. `path` is used for diagnostics and to resolve relative bytecode paths.
/// Never throws: TOML syntax errors and schema errors (unknown keys, wrong types, out-of-range
/// values, missing required keys, keys that do not apply to the type) become diagnostics
/// positioned from toml++'s source regions.
ParsedManifest parse_manifest(std::string_view text, const std::string &path);

/// True when `name` matches [a-z0-9][a-z0-9_-]{0,62} (fits a bpffs directory and a D-Bus path).
bool valid_program_name(std::string_view name);

/// The map group of a manifest that names none: its file's base name without `.toml`, with
/// every character a bpffs directory name or a map group cannot hold ('.', '/', white space,
/// control characters) as '_'; e.g. "/etc/bpfman/programs.d/10-net.v2.toml" -> "10-net_v2".
std::string default_map_group(const std::string &manifest_path);

}  // namespace bpfrec
