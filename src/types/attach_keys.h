// The attach keys that several program types share (interface, netns, priority, proceed_on,
// function, cgroup, ...): one reader per key, positioned errors through TomlReader. A
// descriptor lists the keys its type takes and points each at one of these (or its own).
#pragma once

#include <string>
#include <string_view>

#include "manifest/manifest.h"
#include "manifest/toml_reader.h"

namespace bpfrec::keys {

/// `interface`: a name, an fnmatch(3) glob or "@primary" (interface_pattern.h).
void interface(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `netns`: an absolute path of a netns file (/run/netns/blue).
void netns(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `priority`: 0..1000, lower runs first (bpfman's range).
void priority(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `proceed_on` for XDP (libxdp's action names) and TC (the TC_ACT_* names).
void xdp_proceed_on(TomlReader &r, const toml::node &v, AttachSpec &a);
void tc_proceed_on(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `direction`: ingress or egress.
void direction(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `function` of a kernel probe: a kernel symbol ([A-Za-z0-9_.]).
void kernel_function(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `function` of a uprobe: any non-empty symbol.
void user_function(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `hook` of an lsm program: an LSM hook name ([A-Za-z0-9_], e.g. "file_open"), without the
/// kernel's "bpf_lsm_" prefix.
void lsm_hook(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `offset`: 0..INT64_MAX bytes (from `function` when both are given).
void offset(TomlReader &r, const toml::node &v, AttachSpec &a);
/// `cgroup`: the absolute path of a cgroup v2 directory, normalized ("/a//b/" -> "/a/b").
void cgroup(TomlReader &r, const toml::node &v, AttachSpec &a);

/// Whether `s` is a kernel symbol or raw tracepoint name: [A-Za-z0-9_.]{1,255}, e.g.
/// "do_sys_openat2", "tcp_v4_connect.cold"; nothing that could walk a tracefs path.
bool valid_kernel_symbol(std::string_view s);

/// The shared canonical text of an interface attach point (xdp, tc): interface, netns,
/// priority and proceed_on (as a set); byte-stable, hashed into pin names.
void interface_canonical(const AttachSpec &a, std::string &out);

}  // namespace bpfrec::keys
