// sk_lookup manifests: the optional `netns` key, what the type refuses, its canonical key and label.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "types/type.h"

namespace bpfrec {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;
using testing::SizeIs;

constexpr const char *kPath = "/etc/bpfman/programs.d/skl.toml";

// A sk_lookup program whose attach point holds `attach` (line 7 onwards).
ParsedManifest parse_sk_lookup(const std::string &attach) {
  return parse_manifest("[[program]]\n"
                        "name = \"steer\"\n"
                        "type = \"sk_lookup\"\n"
                        "bpf_function = \"sk_lookup_steer\"\n"
                        "bytecode = { path = \"/o.bpf.o\" }\n"
                        "[[program.attach]]\n" +
                            attach,
                        kPath);
}

TEST(SkLookupManifest, NetnsIsOptional) {
  auto r = parse_sk_lookup("netns = \"/run/netns/blue\"\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs, SizeIs(1));
  EXPECT_EQ(r.programs[0].type, ProgramType::SkLookup);
  EXPECT_EQ(r.programs[0].attach.at(0).netns(), "/run/netns/blue");

  auto own = parse_sk_lookup("metadata = { owner = \"ops\" }\n");
  ASSERT_THAT(own.errors, IsEmpty());
  EXPECT_EQ(own.programs.at(0).attach.at(0).netns(), "");
}

TEST(SkLookupManifest, RelativeNetnsAndInterfaceKeysAreErrors) {
  auto rel = parse_sk_lookup("netns = \"blue\"\n");
  ASSERT_THAT(rel.errors, SizeIs(1));
  EXPECT_EQ(rel.errors[0].pos.line, 7);
  EXPECT_THAT(rel.errors[0].message, HasSubstr("'netns' must be an absolute path"));

  auto iface = parse_sk_lookup("interface = \"eth0\"\n");
  ASSERT_THAT(iface.errors, SizeIs(1));
  EXPECT_THAT(iface.errors[0].message,
              HasSubstr("unknown key 'interface' in [[program.attach]] (type sk_lookup) (expected one of: netns, metadata)"));

  auto num = parse_sk_lookup("netns = 3\n");
  ASSERT_THAT(num.errors, SizeIs(1));
  EXPECT_THAT(num.errors[0].message, HasSubstr("netns"));
}

TEST(SkLookupManifest, OneAttachPointPerNetns) {
  auto r = parse_sk_lookup("netns = \"/run/netns/blue\"\n[[program.attach]]\nnetns = \"/run/netns/blue\"\n");
  ASSERT_THAT(r.errors, SizeIs(1));
  EXPECT_THAT(r.errors[0].message, HasSubstr("repeats the one at line 6"));
}

TEST(SkLookupDescriptor, KernelTypesKeyAndLabel) {
  const TypeDescriptor &d = descriptor(ProgramType::SkLookup);
  EXPECT_EQ(d.name, "sk_lookup");
  EXPECT_EQ(d.prog_type, 30u);              // BPF_PROG_TYPE_SK_LOOKUP
  EXPECT_EQ(d.expected_attach_type, 36u);   // BPF_SK_LOOKUP
  EXPECT_EQ(d.attacher, AttacherKind::NetnsLink);
  EXPECT_FALSE(d.network);  // a whole namespace, no interface: no globs, no @primary
  EXPECT_TRUE(claims_section(d, "sk_lookup"));
  EXPECT_TRUE(claims_section(d, "sk_lookup/steer"));
  EXPECT_FALSE(claims_section(d, "sk_lookupx"));
  AttachSpec a = AttachSpec::of(ProgramType::SkLookup);
  auto &n = std::get<NetnsAttach>(a.params);
  n.netns = "/run/netns/blue";
  EXPECT_EQ(a.canonical(ProgramType::SkLookup), "sk_lookup\nnetns=/run/netns/blue");
  EXPECT_EQ(a.target_label(ProgramType::SkLookup), "netns /run/netns/blue");
  n.netns.clear();
  EXPECT_EQ(a.canonical(ProgramType::SkLookup), "sk_lookup\nnetns=");
  EXPECT_EQ(a.target_label(ProgramType::SkLookup), "netns (the daemon's)");
}

}  // namespace
}  // namespace bpfrec
