// Pins AttachSpec::canonical() and target_label() of a representative attach point of every
// program type, parsed from manifest text by the real parser. canonical() is hashed into pin
// names (attach_key()): a changed byte re-creates every attachment of that type on upgrade, so
// the expected strings here are written out literally and must not change.
#include "manifest/manifest.h"
#include "reconcile/identity.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bpfrec {
namespace {

struct Pin {
  std::string_view type;
  std::string_view attach;  // the body of one [[program.attach]] table
  std::string_view canonical;
  std::string_view label;
  std::string_view key;     // attach_key(): the first 16 hex digits of sha256(canonical)
  // program_digest() of the program (bytecode digest empty): covers load_target() of fentry,
  // fexit and lsm, whose attach target is part of the load.
  std::string_view digest;
};

// clang-format off
const Pin kPins[] = {
    {"xdp", "interface = \"eth0\"",
     "xdp\nif=eth0\nnetns=\nprio=50\nproceed=dispatcher_return,pass,\nmode=auto",
     "eth0", "8f2999bb5604e987",
     "8c891f45664362eaa95bafb29ac54a526a36703a43f61bc7d4a90b07c3f9e0d2"},
    {"xdp", "interface = \"veth*\"\nnetns = \"/run/netns/blue\"\npriority = 10\nproceed_on = [\"pass\", \"drop\"]\nmode = \"skb\"\nmetadata = { owner = \"x\" }",
     "xdp\nif=veth*\nnetns=/run/netns/blue\nprio=10\nproceed=drop,pass,\nmode=skb",
     "veth* (netns /run/netns/blue)", "b1f7849b0ba6ab7b",
     "8c891f45664362eaa95bafb29ac54a526a36703a43f61bc7d4a90b07c3f9e0d2"},
    {"xdp", "interface = \"@primary\"\nmode = \"native\"",
     "xdp\nif=@primary\nnetns=\nprio=50\nproceed=dispatcher_return,pass,\nmode=native",
     "@primary", "26d398849574ebdc",
     "8c891f45664362eaa95bafb29ac54a526a36703a43f61bc7d4a90b07c3f9e0d2"},
    {"tc", "interface = \"eth0\"\ndirection = \"ingress\"",
     "tc\nif=eth0\nnetns=\nprio=50\nproceed=dispatcher_return,pipe,\ndir=ingress",
     "eth0 ingress", "77ce6aaf58dd1cce",
     "c482f2dcb2fdbcb48ee345dc97130d12615a33f54c440fffcc03117599c11411"},
    {"tc", "interface = \"eth1\"\ndirection = \"egress\"\nnetns = \"/run/netns/red\"\npriority = 1000\nproceed_on = [\"shot\", \"ok\", \"dispatcher_return\"]",
     "tc\nif=eth1\nnetns=/run/netns/red\nprio=1000\nproceed=dispatcher_return,ok,shot,\ndir=egress",
     "eth1 egress (netns /run/netns/red)", "a0508c0736351b08",
     "c482f2dcb2fdbcb48ee345dc97130d12615a33f54c440fffcc03117599c11411"},
    {"tracepoint", "tracepoint = \"syscalls/sys_enter_openat\"",
     "tracepoint\ntp=syscalls/sys_enter_openat",
     "syscalls/sys_enter_openat", "ca9c91af4658cc8b",
     "2ebc3880f025ff4c3f3920798f766016db00710c5a89d17ec4270eddd2a587ff"},
    {"raw_tracepoint", "tracepoint = \"sys_enter\"",
     "raw_tracepoint\nraw_tp=sys_enter",
     "sys_enter", "b4b4ee867d2dfa16",
     "a8feef17f4dd21f4a2efeb8e30e9a532ab77a3ea306e60587caf3e2eff449959"},
    {"uprobe", "target = \"/usr/bin/bash\"\nfunction = \"readline\"",
     "uprobe\ntarget=/usr/bin/bash\nfn=readline\noff=\npid=",
     "/usr/bin/bash:readline", "c16cd37e972fa37e",
     "128f0f5fd89aeefe5e4b7512386c5e66f0c124af9bef80fefc29e7ee7d0ddbce"},
    {"uprobe", "target = \"libc\"\nfunction = \"malloc\"\noffset = 16\npid = 42",
     "uprobe\ntarget=libc\nfn=malloc\noff=16\npid=42",
     "libc:malloc+0x10 (pid 42)", "e8ad2d9650db0042",
     "128f0f5fd89aeefe5e4b7512386c5e66f0c124af9bef80fefc29e7ee7d0ddbce"},
    {"uprobe", "target = \"/usr/lib/libfoo.so\"\noffset = 4096",
     "uprobe\ntarget=/usr/lib/libfoo.so\nfn=\noff=4096\npid=",
     "/usr/lib/libfoo.so:+0x1000", "c74c3fae3c7231f9",
     "128f0f5fd89aeefe5e4b7512386c5e66f0c124af9bef80fefc29e7ee7d0ddbce"},
    {"uretprobe", "target = \"libc\"\nfunction = \"free\"\npid = 7",
     "uretprobe\ntarget=libc\nfn=free\noff=\npid=7",
     "libc:free (pid 7)", "289776bc98fdf011",
     "adc95a5716bf2b5354d3e35854eae9b9b817208b5576e350f3659ca05707a1f0"},
    {"kprobe", "function = \"do_sys_openat2\"",
     "kprobe\nfn=do_sys_openat2\noff=",
     "do_sys_openat2", "a07251e936034852",
     "2b35489be822a5fbb4e991767eeb55f2bfaae04254d43471b5dc0a1c4701d5a2"},
    {"kprobe", "function = \"tcp_v4_connect.cold\"\noffset = 8",
     "kprobe\nfn=tcp_v4_connect.cold\noff=8",
     "tcp_v4_connect.cold+0x8", "dc6c6c001d180242",
     "2b35489be822a5fbb4e991767eeb55f2bfaae04254d43471b5dc0a1c4701d5a2"},
    {"kretprobe", "function = \"do_sys_openat2\"",
     "kretprobe\nfn=do_sys_openat2\noff=",
     "do_sys_openat2", "db579634bfcf7479",
     "25b7aed388e483e7cbd1ffb5b25e4604aa038ad0c303a28a0103e4357ac2a7e0"},
    {"fentry", "function = \"do_unlinkat\"",
     "fentry\nfn=do_unlinkat",
     "do_unlinkat", "d38982ca8ca607fc",
     "481bf1f46f29e659056cea5f756245c33fea12652f2fd08e54d2b2a61b09a709"},
    {"fexit", "function = \"do_unlinkat\"",
     "fexit\nfn=do_unlinkat",
     "do_unlinkat", "2a492dd99d8a0fa3",
     "6e40a242fdcc1c84ac42fe7949277ec7c9bcd29889bd26809ac18a8ed39d4eb2"},
    {"cgroup_skb", "cgroup = \"/sys/fs/cgroup//app.slice/\"\ndirection = \"egress\"",
     "cgroup_skb\ncgroup=/sys/fs/cgroup/app.slice\ndir=egress",
     "/sys/fs/cgroup/app.slice egress", "6f0858332b2fd687",
     "0527f0e5afed318be6c30d14ba728855fb50524baf74107044c6f28ea235bbae"},
    {"cgroup_skb", "cgroup = \"/sys/fs/cgroup\"\ndirection = \"ingress\"",
     "cgroup_skb\ncgroup=/sys/fs/cgroup\ndir=ingress",
     "/sys/fs/cgroup ingress", "38294dc66f503687",
     "0527f0e5afed318be6c30d14ba728855fb50524baf74107044c6f28ea235bbae"},
    {"cgroup_sock", "cgroup = \"/sys/fs/cgroup/app.slice\"",
     "cgroup_sock\ncgroup=/sys/fs/cgroup/app.slice\nattach=sock_create",
     "/sys/fs/cgroup/app.slice sock_create", "ecb50557a0d2d41f",
     "89908dfa9f6d8e7288ef6a17e13c064386c0b229469afaf736bbd20a0d338206"},
    {"cgroup_sock", "cgroup = \"/sys/fs/cgroup/app.slice\"\nattach_type = \"post_bind6\"",
     "cgroup_sock\ncgroup=/sys/fs/cgroup/app.slice\nattach=post_bind6",
     "/sys/fs/cgroup/app.slice post_bind6", "a0fa8ecac27107c9",
     "89908dfa9f6d8e7288ef6a17e13c064386c0b229469afaf736bbd20a0d338206"},
    {"cgroup_sock_addr", "cgroup = \"/sys/fs/cgroup/a\"\nattach_type = \"connect4\"",
     "cgroup_sock_addr\ncgroup=/sys/fs/cgroup/a\nattach=connect4",
     "/sys/fs/cgroup/a connect4", "9c91cafa07a0dd31",
     "7f34c66bd5c531e42c50b136930b02670bb760dcb4e3c2634366e5d64eae9fcd"},
    {"cgroup_sock_addr", "cgroup = \"/sys/fs/cgroup/a\"\nattach_type = \"getsockname6\"",
     "cgroup_sock_addr\ncgroup=/sys/fs/cgroup/a\nattach=getsockname6",
     "/sys/fs/cgroup/a getsockname6", "074ff75a6ef5cb50",
     "7f34c66bd5c531e42c50b136930b02670bb760dcb4e3c2634366e5d64eae9fcd"},
    {"sockops", "cgroup = \"/sys/fs/cgroup/db.slice\"",
     "sockops\ncgroup=/sys/fs/cgroup/db.slice",
     "/sys/fs/cgroup/db.slice", "3053ef87234c6c03",
     "0e54d63c1fb24c9f446877efc8ae397e90c702eda5dd6ce9f0f5217fc8179dfb"},
    {"sk_lookup", "metadata = { a = \"b\" }",
     "sk_lookup\nnetns=",
     "netns (the daemon's)", "5d26f0676845d334",
     "82e18b70fa14a2e0f9d4e15a40b0ec4dbc7201b626d61af3a94f493e43e6204f"},
    {"sk_lookup", "netns = \"/run/netns/blue\"",
     "sk_lookup\nnetns=/run/netns/blue",
     "netns /run/netns/blue", "83bcd25ff7891458",
     "82e18b70fa14a2e0f9d4e15a40b0ec4dbc7201b626d61af3a94f493e43e6204f"},
    {"netfilter", "hook = \"ipv4_prerouting\"",
     "netfilter\nhook=ipv4_prerouting\nprio=0\nnetns=",
     "ipv4_prerouting priority 0", "e8938020991a89cd",
     "c348cb85a7afd292500ec9c26646d69e0d4f90ca26b83d66404769b08edfc6b3"},
    {"netfilter", "hook = \"ipv6_output\"\npriority = -100\nnetns = \"/run/netns/blue\"",
     "netfilter\nhook=ipv6_output\nprio=-100\nnetns=/run/netns/blue",
     "ipv6_output priority -100 (netns /run/netns/blue)", "0a4c10da6d95981a",
     "c348cb85a7afd292500ec9c26646d69e0d4f90ca26b83d66404769b08edfc6b3"},
    {"lsm", "hook = \"file_open\"",
     "lsm\nhook=file_open",
     "file_open", "5d79f4678f9cc125",
     "92dc5068839a247874af5b67bcd20115267c4c99df2d1b7aaf6f40e7996220a3"},
};
// clang-format on

ProgramSpec parse_one(const Pin &p) {
  auto text = fmt::format(
      "[[program]]\nname = \"p\"\ntype = \"{}\"\nbpf_function = \"f\"\nbytecode = {{ path = \"/o.bpf.o\" }}\n"
      "[[program.attach]]\n{}\n",
      p.type, p.attach);
  auto m = parse_manifest(text, "/etc/bpfman/programs.d/pin.toml");
  std::string errors;
  for (auto &e : m.errors) errors += e.str() + "\n";
  EXPECT_EQ(errors, "") << text;
  if (m.programs.size() != 1 || m.programs[0].attach.size() != 1) {
    ADD_FAILURE() << "expected one program with one attach point:\n" << text;
    return {};
  }
  return m.programs[0];
}

TEST(CanonicalPinTest, EveryTypeKeepsItsCanonicalTextAndLabel) {
  for (const auto &pin : kPins) {
    SCOPED_TRACE(fmt::format("type {} attach {{{}}}", pin.type, pin.attach));
    ProgramSpec p = parse_one(pin);
    if (p.attach.empty()) continue;
    const AttachSpec &a = p.attach[0];
    EXPECT_EQ(a.canonical(p.type), pin.canonical);
    EXPECT_EQ(a.target_label(p.type), pin.label);
    EXPECT_EQ(attach_key(p.type, a), pin.key);
    EXPECT_EQ(program_digest(p), pin.digest);
  }
}

TEST(CanonicalPinTest, EveryProgramTypeIsPinned) {
  std::set<std::string_view> pinned;
  for (const auto &pin : kPins) pinned.insert(pin.type);
  for (auto t : all_program_types()) EXPECT_TRUE(pinned.count(to_string(t))) << to_string(t) << " has no pin";
}

}  // namespace
}  // namespace bpfrec
