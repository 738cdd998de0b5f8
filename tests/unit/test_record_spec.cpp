// The attach point in a program's record (src/kernel/record.h): one flat JSON object with every
// family's keys, as records of every version have it, read back into the alternative of the
// program's type. Pure: record_to_json() and record_from_json() only, nothing is pinned.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernel/record.h"
#include "manifest/manifest.h"
#include "reconcile/identity.h"
#include "types/hook.h"

namespace bpfrec {
namespace {

struct Case {
  std::string_view type;
  std::string_view attach;  // the body of one [[program.attach]] table
};

const Case kCases[] = {
    {"xdp", "interface = \"veth0\"\nnetns = \"/run/netns/blue\"\npriority = 10\nproceed_on = [\"drop\"]\nmode = \"skb\""},
    {"tc", "interface = \"eth1\"\ndirection = \"egress\"\npriority = 1000\nproceed_on = [\"ok\"]"},
    {"tracepoint", "tracepoint = \"syscalls/sys_enter_openat\""},
    {"raw_tracepoint", "tracepoint = \"sys_enter\""},
    {"uprobe", "target = \"libc\"\nfunction = \"malloc\"\noffset = 16\npid = 42"},
    {"uretprobe", "target = \"/usr/bin/bash\"\noffset = 4096"},
    {"kprobe", "function = \"do_sys_openat2\"\noffset = 8"},
    {"kretprobe", "function = \"vfs_read\""},
    {"fentry", "function = \"do_unlinkat\""},
    {"fexit", "function = \"do_unlinkat\""},
    {"cgroup_skb", "cgroup = \"/sys/fs/cgroup/app\"\ndirection = \"egress\""},
    {"cgroup_sock", "cgroup = \"/sys/fs/cgroup/app\"\nattach_type = \"post_bind6\""},
    {"cgroup_sock_addr", "cgroup = \"/sys/fs/cgroup/app\"\nattach_type = \"connect4\""},
    {"sockops", "cgroup = \"/sys/fs/cgroup/app\""},
    {"sk_lookup", "netns = \"/run/netns/blue\""},
    {"netfilter", "hook = \"ipv4_input\"\npriority = -150\nnetns = \"/run/netns/blue\""},
    {"lsm", "hook = \"file_open\""},
};

ProgramSpec parse_one(const Case &c) {
  const std::string text = fmt::format(
      "[[program]]\nname = \"p\"\ntype = \"{}\"\nbpf_function = \"f\"\nbytecode = {{ path = \"/x.o\" }}\n"
      "[[program.attach]]\n{}\n",
      c.type, c.attach);
  auto r = parse_manifest(text, "/m/p.toml");
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r.programs.empty() ? ProgramSpec{} : r.programs[0];
}

TEST(RecordSpec, EveryTypeReadsBackItsAttachPoint) {
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.type);
    const ProgramSpec spec = parse_one(c);
    ASSERT_EQ(spec.attach.size(), 1u);
    const AttachSpec &a = spec.attach[0];
    ObservedProgram p;
    p.type = std::string(c.type);
    AttachRecord rec;
    rec.key = attach_key(spec.type, a);
    rec.spec = a;
    p.attachments[rec.key] = rec;
    ObservedProgram back;
    ASSERT_TRUE(record_from_json(record_to_json(p), back).has_value());
    ASSERT_EQ(back.attachments.size(), 1u);
    const AttachSpec &b = back.attachments.begin()->second.spec;
    EXPECT_EQ(b.params.index(), a.params.index()) << "the family of the program's type";
    EXPECT_EQ(b.canonical(spec.type), a.canonical(spec.type));
    EXPECT_EQ(b.target_label(spec.type), a.target_label(spec.type));
    EXPECT_EQ(hook_of(spec.type, b), hook_of(spec.type, a));
    if (const NetIfAttach *n = a.netif()) {
      EXPECT_EQ(b.netif()->proceed_on, n->proceed_on);
      EXPECT_EQ(b.netif()->proceed_on_explicit, n->proceed_on_explicit);
    }
  }
}

TEST(RecordSpec, KeepsTheFlatKeysOfEarlierRecords) {
  // A daemon of an earlier version reads these keys with at(): each must be in every record.
  const std::vector<std::string> always = {"interface", "netns",  "priority",   "proceed_on", "proceed_on_explicit",
                                           "mode",      "egress", "tracepoint", "target",     "function"};
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.type);
    const ProgramSpec spec = parse_one(c);
    ASSERT_EQ(spec.attach.size(), 1u);
    ObservedProgram p;
    p.type = std::string(c.type);
    AttachRecord rec;
    rec.key = "k";
    rec.spec = spec.attach[0];
    p.attachments["k"] = rec;
    const auto j = nlohmann::json::parse(record_to_json(p)).at("attachments").at("k").at("spec");
    for (const auto &key : always) EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(RecordSpec, AnEarlierRecordOfATcProgramReadsAsTc) {
  // Written by the daemon before AttachSpec::params: the same keys, read by the program's type.
  const std::string text = R"({"version":1,"type":"tc","prog_id":7,"digest":"d","manifest_name":"m.toml",
    "manifest_path":"/m/m.toml","bytecode_sha256":"00","attachments":{"k":{"mechanism":"tcx","target":"eth0 egress",
    "netns":"","ifindex":2,"xdp_flags":0,"egress":true,"tc_handle":0,"tc_priority":0,"spec":{"interface":"eth0",
    "netns":"","priority":20,"proceed_on":["pipe","dispatcher_return"],"proceed_on_explicit":false,"mode":"auto",
    "egress":true,"tracepoint":"","target":"","function":""}}}})";
  ObservedProgram p;
  ASSERT_TRUE(record_from_json(text, p).has_value());
  const AttachSpec &a = p.attachments.at("k").spec;
  const auto *tc = a.get_if<TcAttach>();
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(tc->interface, "eth0");
  EXPECT_EQ(tc->priority, 20u);
  EXPECT_EQ(tc->direction, TcDirection::Egress);
  EXPECT_EQ(a.canonical(ProgramType::Tc), "tc\nif=eth0\nnetns=\nprio=20\nproceed=dispatcher_return,pipe,\ndir=egress");
}

}  // namespace
}  // namespace bpfrec
