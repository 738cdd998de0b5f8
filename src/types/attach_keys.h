// The attach keys that several program types share (interface, netns, priority, proceed_on,
// function, cgroup, ...): one reader per key, positioned errors through TomlReader. A
// descriptor lists the keys its type takes and points each at one of these (or its own).
// Keys that several families' parameters hold are templates on the family's struct `P`: they
// store into AttachSpec::params as `P`, which the parser made (descriptor's make_params).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "manifest/manifest.h"
#include "manifest/toml_reader.h"

namespace bpfrec::keys {

/// make_params of a descriptor whose attach parameters are `P`.
template <class P>
AttachParams make() {
  return AttachParams{std::in_place_type<P>};
}

/// The parameters of `a` as `P`, the alternative its descriptor made: a descriptor reads and
/// writes only its own alternative (std::bad_variant_access otherwise, a programming error).
template <class P>
P &params(AttachSpec &a) {
  return std::get<P>(a.params);
}
template <class P>
const P &params(const AttachSpec &a) {
  return std::get<P>(a.params);
}

/// Value readers: the value when valid, else nullopt after an error through `r`.
/// `interface`: a name, an fnmatch(3) glob or "@primary" (interface_pattern.h).
std::optional<std::string> read_interface(TomlReader &r, const toml::node &v);
/// `netns`: an absolute path of a netns file (/run/netns/blue).
std::optional<std::string> read_netns(TomlReader &r, const toml::node &v);
/// `priority`: 0..1000, lower runs first (bpfman's range).
std::optional<uint32_t> read_priority(TomlReader &r, const toml::node &v);
/// `direction`: ingress or egress.
std::optional<TcDirection> read_direction(TomlReader &r, const toml::node &v);
/// `function` of a kernel probe: a kernel symbol ([A-Za-z0-9_.]).
std::optional<std::string> read_kernel_function(TomlReader &r, const toml::node &v);
/// `offset`: 0..INT64_MAX bytes (from `function` when both are given).
std::optional<uint64_t> read_offset(TomlReader &r, const toml::node &v);

/// `interface`, `priority` of an xdp or tc attach point (P: XdpAttach or TcAttach).
template <class P>
void interface(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = read_interface(r, v)) params<P>(a).interface = std::move(*s);
}
template <class P>
void priority(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto n = read_priority(r, v)) params<P>(a).priority = *n;
}
/// `netns` of any family whose parameters have one.
template <class P>
void netns(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = read_netns(r, v)) params<P>(a).netns = std::move(*s);
}
/// `direction` (tc, cgroup_skb).
template <class P>
void direction(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto d = read_direction(r, v)) params<P>(a).direction = *d;
}
/// `function` of a kernel function (kprobe, kretprobe, fentry, fexit).
template <class P>
void kernel_function(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = read_kernel_function(r, v)) params<P>(a).function = std::move(*s);
}
/// `offset` (uprobe, kprobe).
template <class P>
void offset(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto n = read_offset(r, v)) params<P>(a).offset = *n;
}

/// `proceed_on` for XDP (libxdp's action names) and TC (the TC_ACT_* names).
void xdp_proceed_on(TomlReader &r, const toml::node &v, AttachSpec &a);
void tc_proceed_on(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `function` of a uprobe: any non-empty symbol.
void user_function(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `hook` of an lsm program: an LSM hook name ([A-Za-z0-9_], e.g. "file_open"), without the
/// kernel's "bpf_lsm_" prefix.
void lsm_hook(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `cgroup`: the absolute path of a cgroup v2 directory, normalized ("/a//b/" -> "/a/b").
void cgroup(TomlReader &r, const toml::node &v, AttachSpec &a);

/// Whether `s` is a kernel symbol or raw tracepoint name: [A-Za-z0-9_.]{1,255}, e.g.
/// "do_sys_openat2", "tcp_v4_connect.cold"; nothing that could walk a tracefs path.
bool valid_kernel_symbol(std::string_view s);

/// The shared canonical text of an interface attach point (xdp, tc): interface, netns,
/// priority and proceed_on (as a set); byte-stable, hashed into pin names.
void interface_canonical(const NetIfAttach &a, std::string &out);

}  // namespace bpfrec::keys
