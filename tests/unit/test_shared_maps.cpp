// Shared maps (issue 10, points 2 and 3): `map_group` in manifests, its place in the program
// digest, the map definition check before a group pin is reused, and which group pins an
// apply may release.
#include "manifest/manifest.h"
#include "reconcile/identity.h"
#include "reconcile/plan.h"
#include "reconcile/shared_maps.h"
#include "status/status.h"

#include <filesystem>

#include <fmt/format.h>

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

namespace bpfrec {
namespace {

std::string owned(const std::string &extra) {
  return "[[program]]\nname = \"dep\"\ntype = \"tracepoint\"\nbpf_function = \"f\"\nbytecode = { path = \"/x.o\" }\n"
         "map_owner = \"owner\"\n" + extra + "[[program.attach]]\ntracepoint = \"a/b\"\n";
}

TEST(MapOwner, ParsedWithItsPositionAndInTheDigest) {
  auto r = parse_manifest(owned(""), "/m/dep.toml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  EXPECT_EQ(r.programs[0].map_owner, "owner");
  EXPECT_EQ(r.programs[0].map_owner_pos.line, 6u);
  EXPECT_EQ(r.programs[0].map_owner_pos.column, 13u);
  ProgramSpec q = r.programs[0];
  q.map_owner.clear();
  EXPECT_NE(program_digest(r.programs[0]), program_digest(q));
}

TEST(MapOwner, RefusedWithGroupGlobalsItselfOrNoName) {
  auto errs = [](const std::string &text) {
    std::vector<std::string> out;
    for (auto &e : parse_manifest(text, "/m/dep.toml").errors) out.push_back(e.str());
    return out;
  };
  EXPECT_THAT(errs(owned("map_group = \"g\"\n")),
              ElementsAre("/m/dep.toml:7:13: error: 'map_group' does not apply with 'map_owner': every map is the owner's"));
  EXPECT_THAT(errs(owned("global_data = { x = 1 }\n")),
              ElementsAre("/m/dep.toml:7:15: error: 'global_data' does not apply with 'map_owner': .rodata and .data "
                          "are the owner's maps"));
  std::string self = owned("");
  self.replace(self.find("\"owner\""), 7, "\"dep\"");
  EXPECT_THAT(errs(self), ElementsAre("/m/dep.toml:6:13: error: 'map_owner' = \"dep\" names this program itself"));
  std::string bad = owned("");
  bad.replace(bad.find("\"owner\""), 7, "\"Owner!\"");
  EXPECT_THAT(errs(bad), ElementsAre(HasSubstr("/m/dep.toml:6:13: error: 'map_owner' = \"Owner!\" is not a program name")));
}

ProgramSpec tp_spec(const std::string &name, const std::string &owner = "", const std::string &manifest = "") {
  ProgramSpec p;
  p.name = name;
  p.type = ProgramType::Tracepoint;
  p.bpf_function = "f";
  p.bytecode_digest = std::string(64, 'a');
  p.manifest = manifest.empty() ? "/m/" + name + ".toml" : manifest;
  p.map_owner = owner;
  p.map_owner_pos = {6, 13};
  AttachSpec a = AttachSpec::of(ProgramType::Tracepoint);
  std::get<TracepointAttach>(a.params).tracepoint = "a/b";
  p.attach.push_back(a);
  return p;
}

ObservedProgram loaded(const ProgramSpec &spec) {
  ObservedProgram o;
  o.name = spec.name;
  o.digest = program_digest(spec);
  o.manifest_name = std::filesystem::path(spec.manifest).filename().string();
  o.manifest_path = spec.manifest;
  o.bytecode_sha256 = spec.bytecode_digest;
  o.prog_id = 7;
  o.map_owner = spec.map_owner;
  AttachRecord r;
  r.key = attach_key(spec.type, spec.attach[0]);
  o.attachments[r.key] = r;
  return o;
}

const ProgramChange &change(const std::vector<ProgramChange> &cs, const std::string &name) {
  for (auto &c : cs)
    if (c.name == name) return c;
  static ProgramChange none;
  return none;
}

TEST(MapOwnerPlan, OwnerIsKeptWhileDependentsLiveThenRemoved) {
  const ProgramSpec owner = tp_spec("owner"), dep = tp_spec("dep", "owner");
  ObservedState obs;
  obs.programs = {{"owner", loaded(owner)}, {"dep", loaded(dep)}};
  DesiredState d;
  d.manifests = {ManifestEntry{"dep.toml", "/m/dep.toml", ManifestState::Ok, {}, {}}};
  d.programs = {dep};  // owner.toml went
  auto cs = plan(d, obs);
  EXPECT_EQ(change(cs, "owner").kind, ChangeKind::Keep);
  EXPECT_THAT(change(cs, "owner").kept_for, ElementsAre("dep"));
  EXPECT_EQ(change(cs, "owner").reason, "kept: maps used by dep");
  EXPECT_THAT(change(cs, "owner").detach, IsEmpty());
  EXPECT_EQ(change(cs, "dep").kind, ChangeKind::Keep);
  // Status says so, and it is no degradation.
  auto st = build_status(1, d, obs, ApplyReport{});
  ASSERT_EQ(st.programs.size(), 2u);
  EXPECT_EQ(st.programs[1].name, "owner");
  EXPECT_EQ(to_string(st.programs[1].state), "kept");
  EXPECT_EQ(st.programs[1].error, "kept: maps used by dep");
  EXPECT_EQ(to_string(st.state), "idle");
  // The dependent's manifest invalid: it is kept, and so is its owner.
  d.manifests[0].state = ManifestState::Invalid;
  d.programs.clear();
  cs = plan(d, obs);
  EXPECT_EQ(change(cs, "owner").kind, ChangeKind::Keep);
  EXPECT_TRUE(change(cs, "dep").kept_last_good);
  // The last dependent goes: both are removed.
  d.manifests.clear();
  cs = plan(d, obs);
  EXPECT_EQ(change(cs, "owner").kind, ChangeKind::Remove);
  EXPECT_EQ(change(cs, "dep").kind, ChangeKind::Remove);
}

TEST(MapOwnerPlan, UndeclaredOwnerIsAPositionedErrorAndOwnersLoadFirst) {
  DesiredState d;
  d.programs = {tp_spec("a-dep", "z-owner"), tp_spec("z-owner"), tp_spec("orphan", "nobody"),
                tp_spec("chain", "a-dep")};
  auto cs = plan(d, ObservedState{});
  std::vector<std::string> order;
  for (auto &c : cs) order.push_back(fmt::format("{} {}", to_string(c.kind), c.name));
  EXPECT_THAT(order, ElementsAre("create z-owner", "create a-dep", "keep chain", "keep orphan"));
  EXPECT_EQ(change(cs, "orphan").error, "/m/orphan.toml:6:13: error: map_owner 'nobody' is not declared in any manifest");
  EXPECT_EQ(change(cs, "chain").error,
            "/m/chain.toml:6:13: error: map_owner 'a-dep' takes its own maps from 'z-owner': name 'z-owner' as the "
            "map owner");
  // A loaded owner that no manifest declares any more still counts.
  ObservedState obs;
  obs.programs = {{"nobody", loaded(tp_spec("nobody"))}};
  EXPECT_EQ(change(plan(d, obs), "orphan").kind, ChangeKind::Create);
}

TEST(MapOwnerPlan, DependentsAreLoadedAgainWithTheirOwner) {
  ProgramSpec owner = tp_spec("owner");
  const ProgramSpec dep = tp_spec("dep", "owner");
  ObservedState obs;
  obs.programs = {{"owner", loaded(owner)}, {"dep", loaded(dep)}};
  owner.bytecode_digest = std::string(64, 'b');
  DesiredState d;
  d.programs = {dep, owner};
  auto cs = plan(d, obs);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].name, "owner");
  EXPECT_EQ(cs[0].kind, ChangeKind::Replace);
  EXPECT_EQ(cs[1].name, "dep");
  EXPECT_EQ(cs[1].kind, ChangeKind::Replace);
  EXPECT_EQ(cs[1].reason, "map owner owner is loaded again: its maps change");
}

}  // namespace
}  // namespace bpfrec
