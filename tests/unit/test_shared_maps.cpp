// Shared maps (issue 10, points 2 and 3): `map_group` in manifests, its place in the program
// digest, the map definition check before a group pin is reused, and which group pins an
// apply may release.
#include "manifest/manifest.h"
#include "reconcile/identity.h"
#include "reconcile/shared_maps.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bpfrec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPath[] = "/etc/bpfman/programs.d/20-net.toml";

std::string program(const std::string &extra) {
  return "[[program]]\nname = \"p\"\ntype = \"tracepoint\"\nbpf_function = \"f\"\nbytecode = { path = \"/x.o\" }\n" +
         extra + "[[program.attach]]\ntracepoint = \"a/b\"\n";
}

TEST(MapGroup, DefaultsToTheManifestsBaseName) {
  auto r = parse_manifest(program(""), kPath);
  ASSERT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.programs[0].map_group, "20-net");
  EXPECT_FALSE(r.programs[0].map_group_explicit);
  EXPECT_EQ(default_map_group("/a/b/x.v2.toml"), "x_v2");  // bpffs refuses dots
  EXPECT_EQ(default_map_group("/a/b/UPPER case.toml"), "UPPER_case");
  EXPECT_EQ(default_map_group("/a/b/plain"), "plain");
}

TEST(MapGroup, ExplicitGroupIsANameWithItsPosition) {
  auto r = parse_manifest(program("map_group = \"team-1\"\n"), kPath);
  ASSERT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.programs[0].map_group, "team-1");
  EXPECT_TRUE(r.programs[0].map_group_explicit);
  EXPECT_EQ(r.programs[0].map_group_pos.line, 6u);
  EXPECT_EQ(r.programs[0].map_group_pos.column, 13u);
}

TEST(MapGroup, InvalidValuesArePositionedErrors) {
  std::vector<std::string> got;
  for (const char *bad : {"\"Team\"", "\"a/b\"", "\"_maps\"", "\"\"", "\"a.b\"", "3"})
    for (auto &e : parse_manifest(program(std::string("map_group = ") + bad + "\n"), kPath).errors) got.push_back(e.str());
  ASSERT_EQ(got.size(), 6u);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_THAT(got[i], HasSubstr(std::string(kPath) + ":6:13: error: 'map_group' = ")) << got[i];
  EXPECT_THAT(got[0], HasSubstr("must match [a-z0-9][a-z0-9_-]{0,62}"));
  EXPECT_EQ(got[5], std::string(kPath) + ":6:13: error: 'map_group' must be a string, not an integer");
}

TEST(MapGroup, InTheDigestOnlyWhenNamed) {
  // Programs pinned before map_group existed have the digest of a default group: unchanged.
  ProgramSpec p;
  p.type = ProgramType::Tracepoint;
  p.bpf_function = "f";
  p.bytecode_digest = "ab";
  const std::string before = program_digest(p);
  p.map_group = "20-net";
  EXPECT_EQ(program_digest(p), before);
  p.map_group = "renamed-file";  // a renamed manifest replaces nothing
  EXPECT_EQ(program_digest(p), before);
  p.map_group_explicit = true;
  const std::string named = program_digest(p);
  EXPECT_NE(named, before);
  p.map_group = "other";
  EXPECT_NE(program_digest(p), named);
}

TEST(MapDefMismatch, ComparesWhatLibbpfComparesAndSaysWhat) {
  const MapDef a{2, 4, 8, 4, 0};
  EXPECT_EQ(map_def_mismatch(a, a), "");
  MapDef b = a;
  b.max_entries = 8;
  EXPECT_EQ(map_def_mismatch(a, b), "max_entries 4 (pinned) vs 8 (this object)");
  b.value_size = 16;
  b.flags = 0x400;
  b.type = 1;
  EXPECT_EQ(map_def_mismatch(a, b),
            "type 2 (pinned) vs 1 (this object), value_size 8 (pinned) vs 16 (this object), max_entries 4 (pinned) "
            "vs 8 (this object), map_flags 0x0 (pinned) vs 0x400 (this object)");
  MapDef k = a;
  k.key_size = 8;
  EXPECT_EQ(map_def_mismatch(a, k), "key_size 4 (pinned) vs 8 (this object)");
  // A perf event array of max_entries 0 is sized to the CPUs by libbpf: not compared.
  const MapDef perf_pinned{4, 4, 4, 2, 0}, perf_obj{4, 4, 4, 0, 0};
  EXPECT_EQ(map_def_mismatch(perf_pinned, perf_obj), "");
}

TEST(UnusedSharedPins, PinsNoRecordNames) {
  ObservedProgram a, b;
  a.shared_maps = {{"counts", "/r/_maps/g/counts"}};
  b.shared_maps = {{"counts", "/r/_maps/h/counts"}, {"cfg", "/r/_maps/h/cfg"}};
  const std::vector<std::string> pins = {"/r/_maps/g/counts", "/r/_maps/g/old", "/r/_maps/h/cfg", "/r/_maps/h/counts",
                                         "/r/_maps/x/counts"};
  EXPECT_THAT(unused_shared_pins(pins, {a, b}), ElementsAre("/r/_maps/g/old", "/r/_maps/x/counts"));
  EXPECT_THAT(unused_shared_pins(pins, {}), ::testing::SizeIs(5));
  EXPECT_THAT(unused_shared_pins({}, {a}), IsEmpty());
}

}  // namespace
}  // namespace bpfrec
