// netfilter manifests: `hook` (required, by name), the signed netfilter `priority` and its range,
// `netns`; the canonical key and label.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <climits>

#include "manifest/manifest.h"
#include "types/type.h"

namespace bpfrec {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;
using testing::SizeIs;

constexpr const char *kPath = "/etc/bpfman/programs.d/nf.toml";

// A netfilter program whose attach point holds `attach` (line 7 onwards).
ParsedManifest parse_netfilter(const std::string &attach) {
  return parse_manifest("[[program]]\n"
                        "name = \"count\"\n"
                        "type = \"netfilter\"\n"
                        "bpf_function = \"netfilter_count\"\n"
                        "bytecode = { path = \"/o.bpf.o\" }\n"
                        "[[program.attach]]\n" +
                            attach,
                        kPath);
}

TEST(NetfilterManifest, EveryHookWithDefaults) {
  for (std::string family : {"ipv4", "ipv6"})
    for (std::string h : {"prerouting", "input", "forward", "output", "postrouting"}) {
      const std::string hook = family + "_" + h;
      SCOPED_TRACE(hook);
      auto r = parse_netfilter("hook = \"" + hook + "\"\n");
      ASSERT_THAT(r.errors, IsEmpty());
      const auto &a = std::get<NetfilterAttach>(r.programs.at(0).attach.at(0).params);
      EXPECT_EQ(a.hook, hook);
      EXPECT_EQ(a.priority, 0);  // NF_IP_PRI_FILTER
      EXPECT_EQ(a.netns, "");
      ASSERT_TRUE(types::netfilter_hook(hook));
      EXPECT_EQ(types::netfilter_hook(hook)->first, family == "ipv4" ? 2u : 10u);  // NFPROTO_IPV4/6
    }
  EXPECT_EQ(types::netfilter_hook("ipv4_prerouting")->second, 0u);   // NF_INET_PRE_ROUTING
  EXPECT_EQ(types::netfilter_hook("ipv6_postrouting")->second, 4u);  // NF_INET_POST_ROUTING
}

TEST(NetfilterManifest, PriorityNetnsAndTheirRanges) {
  auto r = parse_netfilter("hook = \"ipv4_input\"\npriority = -150\nnetns = \"/run/netns/blue\"\n");
  ASSERT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(std::get<NetfilterAttach>(r.programs.at(0).attach.at(0).params).priority, -150);
  EXPECT_EQ(r.programs.at(0).attach.at(0).netns(), "/run/netns/blue");

  auto lowest = parse_netfilter("hook = \"ipv4_input\"\npriority = -2147483647\n");
  ASSERT_THAT(lowest.errors, IsEmpty());
  EXPECT_EQ(std::get<NetfilterAttach>(lowest.programs.at(0).attach.at(0).params).priority, INT32_MIN + 1);
  auto highest = parse_netfilter("hook = \"ipv4_input\"\npriority = 2147483646\n");
  ASSERT_THAT(highest.errors, IsEmpty());
  EXPECT_EQ(std::get<NetfilterAttach>(highest.programs.at(0).attach.at(0).params).priority, INT32_MAX - 1);

  // NF_IP_PRI_FIRST and NF_IP_PRI_LAST: refused by the kernel, so by the parser.
  for (std::string p : {"-2147483648", "2147483647", "5000000000"}) {
    SCOPED_TRACE(p);
    auto e = parse_netfilter("hook = \"ipv4_input\"\npriority = " + p + "\n");
    ASSERT_THAT(e.errors, SizeIs(1));
    EXPECT_EQ(e.errors[0].pos.line, 8);
    EXPECT_THAT(e.errors[0].message, HasSubstr("priority"));
  }
  auto rel = parse_netfilter("hook = \"ipv4_input\"\nnetns = \"blue\"\n");
  ASSERT_THAT(rel.errors, SizeIs(1));
  EXPECT_THAT(rel.errors[0].message, HasSubstr("'netns' must be an absolute path"));
}

TEST(NetfilterManifest, HookIsRequiredAndNamed) {
  auto missing = parse_netfilter("priority = 10\n");
  ASSERT_THAT(missing.errors, SizeIs(1));
  EXPECT_THAT(missing.errors[0].message, HasSubstr("[[program.attach]] (type netfilter) needs 'hook'"));

  auto unknown = parse_netfilter("hook = \"ipv4_ingress\"\n");
  ASSERT_THAT(unknown.errors, SizeIs(1));
  EXPECT_EQ(unknown.errors[0].pos.line, 7);
  EXPECT_THAT(unknown.errors[0].message,
              HasSubstr("'hook' = \"ipv4_ingress\" is not one of: ipv4_prerouting, ipv4_input, ipv4_forward, "
                        "ipv4_output, ipv4_postrouting, ipv6_prerouting, ipv6_input, ipv6_forward, ipv6_output, "
                        "ipv6_postrouting"));

  auto iface = parse_netfilter("hook = \"ipv4_input\"\ninterface = \"eth0\"\n");
  ASSERT_THAT(iface.errors, SizeIs(1));
  EXPECT_THAT(iface.errors[0].message, HasSubstr("(expected one of: hook, priority, netns, metadata)"));
}

TEST(NetfilterDescriptor, KernelTypesKeyAndLabel) {
  const TypeDescriptor &d = descriptor(ProgramType::Netfilter);
  EXPECT_EQ(d.name, "netfilter");
  EXPECT_EQ(d.prog_type, 32u);             // BPF_PROG_TYPE_NETFILTER
  EXPECT_EQ(d.expected_attach_type, 45u);  // BPF_NETFILTER
  EXPECT_EQ(d.attacher, AttacherKind::Netfilter);
  EXPECT_EQ(d.probe, ProbeKind::Netfilter);
  EXPECT_FALSE(d.link_updatable);
  EXPECT_TRUE(claims_section(d, "netfilter"));
  AttachSpec a = AttachSpec::of(ProgramType::Netfilter);
  auto &nf = std::get<NetfilterAttach>(a.params);
  nf.hook = "ipv4_prerouting";
  nf.priority = -100;
  EXPECT_EQ(a.canonical(ProgramType::Netfilter), "netfilter\nhook=ipv4_prerouting\nprio=-100\nnetns=");
  EXPECT_EQ(a.target_label(ProgramType::Netfilter), "ipv4_prerouting priority -100");
  nf.netns = "/run/netns/blue";
  EXPECT_EQ(a.target_label(ProgramType::Netfilter), "ipv4_prerouting priority -100 (netns /run/netns/blue)");
}

}  // namespace
}  // namespace bpfrec
