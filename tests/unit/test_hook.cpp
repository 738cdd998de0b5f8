// hook_of(): the hook of an attach point as a value. Attach points that differ only in what a
// hook's program does (priority, proceed_on, mode, metadata) have one hook; ones that differ in
// where they run do not.
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "types/hook.h"

namespace bpfrec {
namespace {

// The first attach point of the one program in `toml` (a [[program]] without its attach table
// header), which must parse.
AttachSpec attach_of(const std::string &type, const std::string &attach, ProgramType *t = nullptr) {
  auto r = parse_manifest("[[program]]\nname = \"p\"\ntype = \"" + type +
                              "\"\nbpf_function = \"f\"\nbytecode = { path = \"/o.bpf.o\" }\n[[program.attach]]\n" +
                              attach,
                          "/etc/bpfman/programs.d/h.toml");
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].message);
  if (r.programs.empty()) return {};
  if (t) *t = r.programs[0].type;
  return r.programs[0].attach.at(0);
}

Hook hook(const std::string &type, const std::string &attach) {
  ProgramType t{};
  AttachSpec a = attach_of(type, attach, &t);
  return hook_of(t, a);
}

TEST(Hook, WhatAProgramDoesThereIsNotPartOfTheHook) {
  EXPECT_EQ(hook("xdp", "interface = \"veth0\"\npriority = 10\n"),
            hook("xdp", "interface = \"veth0\"\npriority = 90\nproceed_on = [\"drop\"]\nmode = \"skb\"\n"));
  EXPECT_EQ(hook("tc", "interface = \"veth0\"\ndirection = \"egress\"\npriority = 1\n"),
            hook("tc", "interface = \"veth0\"\ndirection = \"egress\"\npriority = 2\n"));
  EXPECT_EQ(hook("tracepoint", "tracepoint = \"syscalls/sys_enter_openat\"\nmetadata = { a = \"b\" }\n"),
            hook("tracepoint", "tracepoint = \"syscalls/sys_enter_openat\"\n"));
}

TEST(Hook, WhereItRunsIsPartOfTheHook) {
  EXPECT_NE(hook("xdp", "interface = \"veth0\"\n"), hook("xdp", "interface = \"veth1\"\n"));
  EXPECT_NE(hook("xdp", "interface = \"veth0\"\n"), hook("xdp", "interface = \"veth0\"\nnetns = \"/run/netns/blue\"\n"));
  EXPECT_NE(hook("tc", "interface = \"veth0\"\ndirection = \"ingress\"\n"),
            hook("tc", "interface = \"veth0\"\ndirection = \"egress\"\n"));
  EXPECT_NE(hook("uprobe", "target = \"/bin/sh\"\nfunction = \"main\"\n"),
            hook("uprobe", "target = \"/bin/sh\"\nfunction = \"main\"\npid = 1\n"));
  EXPECT_NE(hook("kprobe", "function = \"do_sys_openat2\"\n"), hook("kretprobe", "function = \"do_sys_openat2\"\n"));
  EXPECT_NE(hook("cgroup_sock_addr", "cgroup = \"/sys/fs/cgroup\"\nattach_type = \"connect4\"\n"),
            hook("cgroup_sock_addr", "cgroup = \"/sys/fs/cgroup\"\nattach_type = \"connect6\"\n"));
  EXPECT_NE(hook("netfilter", "hook = \"ipv4_input\"\npriority = 1\n"),
            hook("netfilter", "hook = \"ipv4_input\"\npriority = 2\n"));
}

TEST(Hook, ExclusiveOnlyWhereAMechanismMayMakeIt) {
  EXPECT_TRUE(hook_may_be_exclusive(hook("xdp", "interface = \"veth0\"\n")));
  EXPECT_TRUE(hook_may_be_exclusive(hook("tc", "interface = \"veth0\"\ndirection = \"ingress\"\n")));
  EXPECT_FALSE(hook_may_be_exclusive(hook("tracepoint", "tracepoint = \"syscalls/sys_enter_openat\"\n")));
  EXPECT_FALSE(hook_may_be_exclusive(hook("kprobe", "function = \"do_sys_openat2\"\n")));
}

}  // namespace
}  // namespace bpfrec
