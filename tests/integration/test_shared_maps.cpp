// Shared maps (issue 10, points 2 and 3): LIBBPF_PIN_BY_NAME maps are one map per map group,
// pinned at <pin-root>/_maps/<group>/<map>; map_owner takes every map of another program. Checked through the kernel: the programs' own map id lists
// (BPF_OBJ_GET_INFO_BY_FD), counters both programs write, a tool (bpftool) writing the shared
// pin, and the pins that stay or go.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "harness.h"

namespace it {
namespace {

using SharedMaps = ReconcilerTest;

// One program of bpf/shared_counter.bpf.c on a syscall tracepoint. `group`: a map_group line.
std::string shared_program(const std::string& name, const std::string& function, const std::string& tracepoint,
                           const std::string& group = "", const std::string& object = "shared_counter") {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tracepoint\"\n"
         "bpf_function = \"" + function + "\"\n"
         "bytecode = { path = \"" + bpf_object_path(object) + "\" }\n" +
         (group.empty() ? "" : "map_group = \"" + group + "\"\n") +
         "[[program.attach]]\n"
         "tracepoint = \"" + tracepoint + "\"\n";
}

constexpr const char* kTpA = "syscalls/sys_enter_getppid";  // count_a, slot 1
constexpr const char* kTpB = "syscalls/sys_enter_getpgid";  // count_b, slot 2

void call_a(int n) {
  for (int i = 0; i < n; ++i) (void)::syscall(SYS_getppid);
}
void call_b(int n) {
  for (int i = 0; i < n; ++i) (void)::syscall(SYS_getpgid, 0);
}

bool has_map(std::uint32_t prog_id, std::uint32_t map_id) {
  const auto p = raw_prog(prog_id);
  return p && std::find(p->map_ids.begin(), p->map_ids.end(), map_id) != p->map_ids.end();
}

bool attached(const json& j) { return j.value("state", "") == "attached"; }

// The map_info entry of program `p` named `map`, or an empty object.
json map_info(const json& p, const std::string& map) {
  for (auto& m : p.value("map_info", json::array()))
    if (m.value("name", "") == map) return m;
  return json::object();
}

TEST_F(SharedMaps, ProgramsOfOneManifestShareOneMap) {
  ASSERT_TRUE(start_daemon());
  write_manifest("grp.toml", shared_program("sm-a", "count_a", kTpA) + shared_program("sm-b", "count_b", kTpB));
  ASSERT_TRUE(wait_program("sm-a", attached, 10s)) << diag();
  ASSERT_TRUE(wait_program("sm-b", attached, 10s)) << diag();

  // One map: the group pin, the second pin under each program's maps/, and what each program
  // itself references in the kernel are all one map id.
  const std::string shared = pin_root_ + "/_maps/grp/shared_counts";
  const auto id = raw_pinned_map_id(shared);
  ASSERT_TRUE(id) << "no shared pin " << shared << "\n" << diag();
  const auto a = raw_pinned_prog_id(prog_pin("sm-a")), b = raw_pinned_prog_id(prog_pin("sm-b"));
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(has_map(*a, *id)) << "sm-a does not use map " << *id;
  EXPECT_TRUE(has_map(*b, *id)) << "sm-b does not use map " << *id;
  EXPECT_EQ(raw_pinned_map_id(map_pin("sm-a", "shared_counts")), id);
  EXPECT_EQ(raw_pinned_map_id(map_pin("sm-b", "shared_counts")), id);
  // A map without the flag stays one per program.
  const auto own_a = raw_pinned_map_id(map_pin("sm-a", "own_counts"));
  const auto own_b = raw_pinned_map_id(map_pin("sm-b", "own_counts"));
  ASSERT_TRUE(own_a && own_b);
  EXPECT_NE(*own_a, *own_b);
  EXPECT_TRUE(has_map(*a, *own_a));
  EXPECT_FALSE(has_map(*b, *own_a));
  EXPECT_EQ(list_dir(pin_root_ + "/_maps"), std::vector<std::string>{"grp"});

  // Both programs count into that one map.
  const auto a0 = read_counter(shared, 1).value_or(0), b0 = read_counter(shared, 2).value_or(0);
  const auto all0 = read_counter(shared, 0).value_or(0);
  call_a(50);
  call_b(70);
  EXPECT_TRUE(wait_until([&] { return read_counter(shared, 1).value_or(0) >= a0 + 50; }, 2s))
      << "sm-a counted " << read_counter(shared, 1).value_or(0) - a0 << " of 50 in the shared map";
  EXPECT_TRUE(wait_until([&] { return read_counter(shared, 2).value_or(0) >= b0 + 70; }, 2s))
      << "sm-b counted " << read_counter(shared, 2).value_or(0) - b0 << " of 70 in the shared map";
  EXPECT_GE(read_counter(shared, 0).value_or(0), all0 + 120);

  // Status: per map its pin, id and every program that uses it.
  const auto d = describe_or_fail();
  const auto pa = find_program(d, "sm-a");
  ASSERT_TRUE(pa);
  const json sm = map_info(*pa, "shared_counts");
  EXPECT_EQ(sm.value("pin", ""), shared) << pa->dump();
  EXPECT_EQ(sm.value("id", 0u), *id) << pa->dump();
  EXPECT_EQ(sm.value("group", ""), "grp") << pa->dump();
  EXPECT_EQ(sm["programs"], json({"sm-a", "sm-b"})) << pa->dump();
  EXPECT_EQ(map_info(*pa, "own_counts")["programs"], json({"sm-a"})) << pa->dump();
  EXPECT_EQ((*pa)["maps"].value("shared_counts", ""), shared) << pa->dump();
  const auto table = run({reconciler_bin(), "status"});
  EXPECT_NE(table.out.find(shared + "  [sm-a, sm-b]"), std::string::npos) << table.out;

  // A tool writes the shared pin (slot 3: the step each event adds); both programs see it.
  ASSERT_EQ(run({"bpftool", "map", "update", "pinned", shared, "key", "3", "0", "0", "0", "value", "0xe8", "0x03", "0",
                 "0", "0", "0", "0", "0"}).rc, 0);
  const auto a1 = read_counter(shared, 1).value_or(0), b1 = read_counter(shared, 2).value_or(0);
  call_a(1);
  call_b(1);
  EXPECT_TRUE(wait_until([&] { return read_counter(shared, 1).value_or(0) >= a1 + 1000; }, 2s));
  EXPECT_TRUE(wait_until([&] { return read_counter(shared, 2).value_or(0) >= b1 + 1000; }, 2s));
  EXPECT_EQ((read_counter(shared, 1).value_or(0) - a1) % 1000, 0u) << "sm-a did not add the tool's step";
  EXPECT_EQ((read_counter(shared, 2).value_or(0) - b1) % 1000, 0u) << "sm-b did not add the tool's step";

  // A restarted daemon keeps everything as it is: same programs, same shared map.
  ASSERT_EQ(stop_daemon(), "exit 0");
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("sm-b", attached, 10s)) << diag();
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("sm-a")), a);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("sm-b")), b);
  EXPECT_EQ(raw_pinned_map_id(shared), id);

  // One program goes: the map stays for the other, which still counts into it.
  write_manifest("grp.toml", shared_program("sm-a", "count_a", kTpA));
  ASSERT_TRUE(wait_until([&] { return !path_exists(pin_dir("sm-b")); }, 10s)) << diag();
  EXPECT_EQ(raw_pinned_map_id(shared), id);
  const auto a2 = read_counter(shared, 1).value_or(0);
  call_a(3);
  EXPECT_TRUE(wait_until([&] { return read_counter(shared, 1).value_or(0) >= a2 + 3000; }, 2s));

  // The last program goes: its group pin and the group directory go with it.
  remove_manifest("grp.toml");
  ASSERT_TRUE(wait_until([&] { return !path_exists(pin_dir("sm-a")); }, 10s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(shared) && !path_exists(pin_root_ + "/_maps"); }, 5s))
      << "left: " << testing::PrintToString(list_tree(pin_root_));
  EXPECT_NE(read_file(log_path_).find("action=unpin"), std::string::npos);
}

TEST_F(SharedMaps, ManifestsShareByGroupAndAMismatchIsAPositionedError) {
  ASSERT_TRUE(start_daemon());
  write_manifest("m1.toml", shared_program("g-a", "count_a", kTpA, "team"));
  write_manifest("m2.toml", shared_program("g-b", "count_b", kTpB, "team"));
  write_manifest("m3.toml", shared_program("g-c", "count_a", kTpA));  // default group: "m3"
  for (const char* n : {"g-a", "g-b", "g-c"}) ASSERT_TRUE(wait_program(n, attached, 10s)) << n << "\n" << diag();
  const std::string team = pin_root_ + "/_maps/team/shared_counts";
  const auto team_id = raw_pinned_map_id(team);
  const auto m3_id = raw_pinned_map_id(pin_root_ + "/_maps/m3/shared_counts");
  ASSERT_TRUE(team_id && m3_id) << testing::PrintToString(list_tree(pin_root_));
  EXPECT_NE(*team_id, *m3_id);
  const auto a = raw_pinned_prog_id(prog_pin("g-a")), b = raw_pinned_prog_id(prog_pin("g-b"));
  const auto c = raw_pinned_prog_id(prog_pin("g-c"));
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(has_map(*a, *team_id));
  EXPECT_TRUE(has_map(*b, *team_id));
  EXPECT_FALSE(has_map(*c, *team_id));
  EXPECT_TRUE(has_map(*c, *m3_id));
  // g-a and g-c run on the same tracepoint, into different maps.
  const auto t0 = read_counter(team, 1).value_or(0);
  const auto m0 = read_counter(pin_root_ + "/_maps/m3/shared_counts", 1).value_or(0);
  call_a(40);
  EXPECT_TRUE(wait_until([&] { return read_counter(team, 1).value_or(0) >= t0 + 40; }, 2s));
  EXPECT_TRUE(wait_until([&] {
    return read_counter(pin_root_ + "/_maps/m3/shared_counts", 1).value_or(0) >= m0 + 40;
  }, 2s));

  // The same map defined otherwise (max_entries 8) in the group: a positioned error naming the
  // map, the group and what differs; the group's programs keep running, nothing is pinned.
  write_manifest("m4.toml", shared_program("g-big", "count_b", kTpB, "team", "shared_counter_big"));
  const auto big = wait_program("g-big", [](const json& j) { return j.value("state", "") == "failed"; }, 10s);
  ASSERT_TRUE(big) << diag();
  const std::string err = big->value("error", "");
  EXPECT_NE(err.find(manifest_path("m4.toml") + ":6:13: error: map 'shared_counts' of map group 'team'"),
            std::string::npos) << err;
  EXPECT_NE(err.find("max_entries 4 (pinned) vs 8 (this object)"), std::string::npos) << err;
  EXPECT_FALSE(path_exists(pin_dir("g-big")));
  EXPECT_EQ(raw_pinned_map_id(team), team_id);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("g-a")), a);
  EXPECT_TRUE(wait_program("g-a", attached, 1s));
  const auto t1 = read_counter(team, 1).value_or(0);
  call_a(10);
  EXPECT_TRUE(wait_until([&] { return read_counter(team, 1).value_or(0) >= t1 + 10; }, 2s));
  remove_manifest("m4.toml");

  // The group pin lives while any program of the group does.
  remove_manifest("m1.toml");
  ASSERT_TRUE(wait_until([&] { return !path_exists(pin_dir("g-a")); }, 10s)) << diag();
  EXPECT_EQ(raw_pinned_map_id(team), team_id);
  remove_manifest("m2.toml");
  ASSERT_TRUE(wait_until([&] { return !path_exists(pin_dir("g-b")); }, 10s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_root_ + "/_maps/team"); }, 5s))
      << testing::PrintToString(list_tree(pin_root_));
  EXPECT_TRUE(path_exists(pin_root_ + "/_maps/m3/shared_counts"));
}


// map_owner (issue 10, point 3): a program that takes every map of another program.
std::string owned_program(const std::string& name, const std::string& function, const std::string& tracepoint,
                          const std::string& owner, const std::string& object = "shared_counter") {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tracepoint\"\n"
         "bpf_function = \"" + function + "\"\n"
         "bytecode = { path = \"" + bpf_object_path(object) + "\" }\n"
         "map_owner = \"" + owner + "\"\n"
         "[[program.attach]]\n"
         "tracepoint = \"" + tracepoint + "\"\n";
}

TEST_F(SharedMaps, MapOwnerSharesEveryMapAndIsKeptForItsDependents) {
  ASSERT_TRUE(start_daemon());
  write_manifest("owner.toml", shared_program("mo-owner", "count_a", kTpA));
  write_manifest("dep.toml", owned_program("mo-dep", "count_b", kTpB, "mo-owner"));
  ASSERT_TRUE(wait_program("mo-owner", attached, 10s)) << diag();
  ASSERT_TRUE(wait_program("mo-dep", attached, 10s)) << diag();
  const auto o = raw_pinned_prog_id(prog_pin("mo-owner")), d = raw_pinned_prog_id(prog_pin("mo-dep"));
  ASSERT_TRUE(o && d);
  // Every map is the owner's, the one without LIBBPF_PIN_BY_NAME included.
  const auto own = raw_pinned_map_id(map_pin("mo-owner", "own_counts"));
  const auto shared = raw_pinned_map_id(map_pin("mo-owner", "shared_counts"));
  ASSERT_TRUE(own && shared);
  EXPECT_TRUE(has_map(*d, *own));
  EXPECT_TRUE(has_map(*d, *shared));
  EXPECT_EQ(raw_pinned_map_id(map_pin("mo-dep", "own_counts")), own);
  const auto p = raw_prog(*d);
  ASSERT_TRUE(p);
  for (auto id : p->map_ids) EXPECT_TRUE(has_map(*o, id)) << "mo-dep uses map " << id << " that mo-owner does not";
  // Both count into the owner's own_counts (one slot, every event of both programs).
  const std::string counts = map_pin("mo-owner", "own_counts");
  const auto c0 = read_counter(counts, 0).value_or(0);
  const auto b0 = read_counter(map_pin("mo-owner", "shared_counts"), 2).value_or(0);
  call_a(30);
  call_b(40);
  EXPECT_TRUE(wait_until([&] { return read_counter(counts, 0).value_or(0) >= c0 + 70; }, 2s))
      << "owner's own_counts rose by " << read_counter(counts, 0).value_or(0) - c0 << " of 70";
  EXPECT_GE(read_counter(map_pin("mo-owner", "shared_counts"), 2).value_or(0), b0 + 40);
  const auto desc = describe_or_fail();
  const auto pd = find_program(desc, "mo-dep");
  ASSERT_TRUE(pd);
  EXPECT_EQ(map_info(*pd, "own_counts")["programs"], json({"mo-dep", "mo-owner"})) << pd->dump();
  EXPECT_EQ(map_info(*pd, "own_counts").value("id", 0u), *own) << pd->dump();

  // An owner no manifest declares: a positioned error at map_owner, nothing loaded.
  write_manifest("nobody.toml", owned_program("mo-orphan", "count_b", kTpB, "mo-nobody"));
  const auto orphan = wait_program("mo-orphan", [](const json& j) { return j.value("state", "") == "failed"; }, 10s);
  ASSERT_TRUE(orphan) << diag();
  EXPECT_NE(orphan->value("error", "").find(manifest_path("nobody.toml") +
                                            ":6:13: error: map_owner 'mo-nobody' is not declared in any manifest"),
            std::string::npos) << orphan->dump();
  EXPECT_FALSE(path_exists(pin_dir("mo-orphan")));
  // An owner without the maps the object needs: every missing one named.
  write_manifest("wrong.toml", owned_program("mo-wrong", "tracepoint_count", kTpB, "mo-owner", "tracepoint_counter"));
  const auto wrong = wait_program("mo-wrong", [](const json& j) { return j.value("state", "") == "failed"; }, 10s);
  ASSERT_TRUE(wrong) << diag();
  const std::string werr = wrong->value("error", "");
  EXPECT_NE(werr.find(manifest_path("wrong.toml") + ":6:13: error: map_owner 'mo-owner' has no map named counts"),
            std::string::npos) << werr;
  EXPECT_FALSE(path_exists(pin_dir("mo-wrong")));
  remove_manifest("nobody.toml");
  remove_manifest("wrong.toml");

  // The owner's manifest goes: it is kept, with the reason, while its dependent lives.
  remove_manifest("owner.toml");
  const auto kept = wait_program("mo-owner", [](const json& j) { return j.value("state", "") == "kept"; }, 10s);
  ASSERT_TRUE(kept) << diag();
  EXPECT_EQ(kept->value("error", ""), "kept: maps used by mo-dep") << kept->dump();
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("mo-owner")), o);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("mo-dep")), d);
  const auto c1 = read_counter(counts, 0).value_or(0);
  call_b(20);
  EXPECT_TRUE(wait_until([&] { return read_counter(counts, 0).value_or(0) >= c1 + 20; }, 2s));
  // The last dependent goes: the owner goes with it.
  remove_manifest("dep.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("mo-dep")) && !path_exists(pin_dir("mo-owner")); }, 10s))
      << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_root_ + "/_maps"); }, 5s))
      << testing::PrintToString(list_tree(pin_root_));
}

}  // namespace
}  // namespace it
