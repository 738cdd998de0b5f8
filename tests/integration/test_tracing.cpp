// Tracepoints and uprobes: perf links pinned under <pin-root>/<name>/links/.
#include "harness.h"

#ifndef UPROBE_TARGET_BIN
#error "UPROBE_TARGET_BIN must be defined by the build"
#endif

namespace it {
namespace {

using Tracing = ReconcilerTest;

bool is_perf_link(const json& l) {
  const json& t = l["type"];
  return (t.is_string() && t == "perf_event") || (t.is_number() && t.get<int>() == 7);
}

/// Waits until `name` is pinned, and exactly one perf_event link of its program exists and is
/// pinned under links/. Returns the program id.
std::optional<std::uint32_t> wait_perf_attached(const std::string& prog_pin,
                                                const std::string& links_dir, std::string& why) {
  std::optional<std::uint32_t> id;
  const bool ok = wait_until([&] {
    id = pinned_prog_id(prog_pin);
    if (!id) {
      why = "no program pinned at " + prog_pin;
      return false;
    }
    const auto links = links_of_prog(*id);
    if (links.size() != 1 || !is_perf_link(links[0])) {
      why = "expected one perf_event link for prog " + std::to_string(*id) + ", links: " + all_links().dump();
      return false;
    }
    const auto pins = list_dir(links_dir);
    if (pins.size() != 1) {
      why = "expected one link pin under " + links_dir;
      return false;
    }
    const auto pinned = pinned_link_info(links_dir + "/" + pins[0]);
    if (!pinned || pinned->value("id", 0u) != links[0].value("id", 0u)) {
      why = "link pin is not the perf link of the program";
      return false;
    }
    return true;
  }, 5s);
  if (!ok) return std::nullopt;
  return id;
}

void expect_gone(const std::string& pin_dir, std::uint32_t id) {
  EXPECT_TRUE(wait_until([&] { return links_of_prog(id).empty(); }, 5s))
      << "perf link of prog " << id << " still exists: " << all_links().dump();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir); }, 5s)) << pin_dir << " still exists";
  EXPECT_TRUE(wait_until([&] { return !prog_listed(id); }, 2s)) << "program " << id << " still loaded" << " " << prog_holders(id);
}

TEST_F(Tracing, TracepointOpenatCountsAndDetaches) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "tp-openat";
  write_manifest("tp.toml", tracepoint_manifest(name, "syscalls/sys_enter_openat"));

  std::string why;
  const auto id = wait_perf_attached(prog_pin(name), links_dir(name), why);
  ASSERT_TRUE(id) << why << diag();

  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(run({"cat", "/etc/hostname"}).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 3; }, 2s))
      << "openat counter did not grow";

  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << diag();
  EXPECT_EQ((*prog)["type"], "tracepoint");
  EXPECT_EQ((*prog).value("kernel_id", 0u), *id);
  ASSERT_EQ((*prog)["attachments"].size(), 1u) << prog->dump();
  EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "perf_link") << prog->dump();

  remove_manifest("tp.toml");
  expect_gone(pin_dir(name), *id);
}

TEST_F(Tracing, UprobeAndUretprobeCountExactCalls) {
  ASSERT_TRUE(path_exists(UPROBE_TARGET_BIN)) << UPROBE_TARGET_BIN;
  ASSERT_TRUE(start_daemon());
  write_manifest("up.toml", uprobe_manifest("up-entry", "uprobe", UPROBE_TARGET_BIN, "bpfrec_it_probe_target"));
  write_manifest("uret.toml",
                 uprobe_manifest("up-return", "uretprobe", UPROBE_TARGET_BIN, "bpfrec_it_probe_target"));
  std::string why;
  const auto id_entry = wait_perf_attached(prog_pin("up-entry"), links_dir("up-entry"), why);
  ASSERT_TRUE(id_entry) << why << diag();
  const auto id_ret = wait_perf_attached(prog_pin("up-return"), links_dir("up-return"), why);
  ASSERT_TRUE(id_ret) << why << diag();

  const auto e0 = read_counter(map_pin("up-entry"), 0);
  const auto r0 = read_counter(map_pin("up-return"), 0);
  ASSERT_TRUE(e0 && r0) << diag();
  const auto helper = run({UPROBE_TARGET_BIN, "7"});
  ASSERT_EQ(helper.rc, 0) << helper.describe();
  // The probes fire synchronously in the helper; the counts must be exact.
  EXPECT_EQ(read_counter(map_pin("up-entry"), 0).value_or(0), *e0 + 7) << "uprobe count";
  EXPECT_EQ(read_counter(map_pin("up-return"), 0).value_or(0), *r0 + 7) << "uretprobe count";

  for (const char* n : {"up-entry", "up-return"}) {
    const auto prog = wait_program(n, [](const json& p) { return p.value("state", "") == "attached"; });
    ASSERT_TRUE(prog) << n << diag();
    ASSERT_EQ((*prog)["attachments"].size(), 1u) << prog->dump();
    EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "perf_link") << prog->dump();
  }
  EXPECT_EQ(find_program(describe_or_fail(), "up-return").value_or(json::object()).value("type", ""), "uretprobe");

  remove_manifest("up.toml");
  remove_manifest("uret.toml");
  expect_gone(pin_dir("up-entry"), *id_entry);
  expect_gone(pin_dir("up-return"), *id_ret);
  // Detached for real: the helper no longer moves anything (the pinned maps are gone with the
  // pins, so check through the kernel instead: no links of either program remain).
  EXPECT_EQ(run({UPROBE_TARGET_BIN, "3"}).rc, 0);
}

TEST_F(Tracing, UprobeOnLibcMalloc) {
  if (!path_exists(kLibc)) GTEST_SKIP() << kLibc << " missing";
  ASSERT_TRUE(start_daemon());
  const std::string name = "libc-malloc";
  write_manifest("malloc.toml", uprobe_manifest(name, "uprobe", kLibc, "malloc"));
  std::string why;
  const auto id = wait_perf_attached(prog_pin(name), links_dir(name), why);
  ASSERT_TRUE(id) << why << diag();
  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  ASSERT_EQ(run({"ls", "-la", "/"}).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) > *c0; }, 2s))
      << "malloc uprobe did not count";
  remove_manifest("malloc.toml");
  expect_gone(pin_dir(name), *id);
}

}  // namespace
}  // namespace it
