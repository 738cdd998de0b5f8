// Control: Reload(), SIGHUP, the Generation property, and restart with adoption.
#include <signal.h>

#include "harness.h"

namespace it {
namespace {

using Control = ReconcilerTest;

std::optional<std::uint64_t> generation() {
  const auto g = get_property(kManagerPath, kManagerIface, "Generation");
  if (!g || !g->is_number()) return std::nullopt;
  return g->get<std::uint64_t>();
}

TEST_F(Control, ReloadAndSighupReconcile) {
  ASSERT_TRUE(start_daemon());
  const auto g0 = generation();
  ASSERT_TRUE(g0) << "Generation property unreadable";
  EXPECT_EQ(get_property(kManagerPath, kManagerIface, "State").value_or(json()), "idle");

  // Reload() returns after its reconcile: the generation has already moved on return.
  const auto r = call_reload();
  ASSERT_EQ(r.rc, 0) << r.describe();
  const auto g1 = generation();
  ASSERT_TRUE(g1);
  EXPECT_GT(*g1, *g0) << "Reload() returned before a reconcile was counted";
  EXPECT_GE(describe_or_fail().value("generation", std::uint64_t{0}), *g1);

  // Reload() returning means the manifest written just before is applied (no waiting here).
  write_manifest("xdp.toml", xdp_manifest("reload-xdp", 1));
  const auto r2 = call_reload();
  ASSERT_EQ(r2.rc, 0) << r2.describe();
  const auto pinned = pinned_prog_id(prog_pin("reload-xdp"));
  EXPECT_TRUE(pinned) << "program not pinned when Reload() returned" << diag();
  if (pinned) {
    EXPECT_EQ(xdp_prog_ids(net_->a, net_->if_a), std::vector<std::uint32_t>{*pinned})
        << "program not attached when Reload() returned" << diag();
  }

  // SIGHUP triggers a reconcile too (and does not kill the daemon).
  const auto g2 = generation();
  ASSERT_TRUE(g2);
  ASSERT_EQ(::kill(daemon().pid(), SIGHUP), 0);
  EXPECT_TRUE(wait_until([&] { return generation().value_or(0) > *g2; }, 3s))
      << "Generation did not move after SIGHUP (was " << *g2 << ")";
  EXPECT_TRUE(daemon().alive()) << "daemon died on SIGHUP: " << daemon().exit_text();

  // A reconcile with nothing changed keeps the program (same id).
  if (pinned) {
    EXPECT_EQ(call_reload().rc, 0);
    EXPECT_EQ(pinned_prog_id(prog_pin("reload-xdp")), pinned) << "no-op reconcile reloaded the program";
  }
}

TEST_F(Control, RestartAdoptsInsteadOfReloading) {
  ASSERT_TRUE(start_daemon());
  write_manifest("xdp.toml", xdp_manifest("keep-xdp", 1));
  write_manifest("tp.toml", tracepoint_manifest("keep-tp", "syscalls/sys_enter_openat"));
  const auto xdp_id = wait_xdp_attached("keep-xdp");
  ASSERT_TRUE(xdp_id) << diag();
  std::optional<std::uint32_t> tp_id;
  ASSERT_TRUE(wait_until([&] {
    tp_id = pinned_prog_id(prog_pin("keep-tp"));
    return tp_id && links_of_prog(*tp_id).size() == 1;
  }, 5s)) << diag();
  const auto tp_link = links_of_prog(*tp_id)[0].value("id", 0u);

  // SIGTERM: exit 0, programs stay.
  const std::string how = stop_daemon();
  EXPECT_EQ(how, "exit 0") << "SIGTERM must exit 0";
  EXPECT_EQ(xdp_prog_ids(net_->a, net_->if_a), std::vector<std::uint32_t>{*xdp_id})
      << "XDP program detached by SIGTERM";
  const auto links = links_of_prog(*tp_id);
  ASSERT_EQ(links.size(), 1u) << "tracepoint link gone after SIGTERM: " << all_links().dump();
  EXPECT_EQ(links[0].value("id", 0u), tp_link);
  EXPECT_EQ(pinned_prog_id(prog_pin("keep-xdp")), xdp_id);
  EXPECT_EQ(pinned_prog_id(prog_pin("keep-tp")), tp_id);
  {
    // Still working while the daemon is down.
    const auto c0 = read_counter(map_pin("keep-tp"), 0).value_or(0);
    ASSERT_EQ(run({"cat", "/etc/hostname"}).rc, 0);
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("keep-tp"), 0).value_or(0) > c0; }, 2s));
    const auto x0 = read_counter(map_pin("keep-xdp"), 0).value_or(0);
    EXPECT_EQ(net_->ping_a_from_b(3).rc, 0);
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("keep-xdp"), 0).value_or(0) >= x0 + 3; }, 2s));
  }

  // Start again: the same kernel objects are adopted, nothing is reloaded or re-attached.
  ASSERT_TRUE(start_daemon());
  const auto px = wait_program("keep-xdp", [](const json& p) { return p.value("state", "") == "attached"; });
  const auto pt = wait_program("keep-tp", [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(px && pt) << diag();
  EXPECT_EQ(px->value("kernel_id", 0u), *xdp_id) << px->dump();
  EXPECT_EQ(pt->value("kernel_id", 0u), *tp_id) << pt->dump();
  // Give a (wrong) re-attach a chance to show up, then check the kernel.
  EXPECT_EQ(call_reload().rc, 0);
  EXPECT_EQ(xdp_prog_ids(net_->a, net_->if_a), std::vector<std::uint32_t>{*xdp_id}) << diag();
  EXPECT_EQ(pinned_prog_id(prog_pin("keep-xdp")), xdp_id);
  EXPECT_EQ(pinned_prog_id(prog_pin("keep-tp")), tp_id);
  const auto links2 = links_of_prog(*tp_id);
  ASSERT_EQ(links2.size(), 1u) << all_links().dump();
  EXPECT_EQ(links2[0].value("id", 0u), tp_link) << "tracepoint re-attached instead of adopted";
}

TEST_F(Control, RestartWithManifestRemovedWhileDown) {
  ASSERT_TRUE(start_daemon());
  write_manifest("xdp.toml", xdp_manifest("gone-xdp", 1));
  const auto id = wait_xdp_attached("gone-xdp");
  ASSERT_TRUE(id) << diag();
  EXPECT_EQ(stop_daemon(), "exit 0");
  remove_manifest("xdp.toml");
  ASSERT_TRUE(start_daemon());
  // The startup reconcile removes what it finds pinned but no longer declared.
  EXPECT_TRUE(wait_until([&] { return xdp_prog_ids(net_->a, net_->if_a).empty(); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("gone-xdp")); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id); }, 2s)) << "program still loaded" << " " << prog_holders(*id);
}

}  // namespace
}  // namespace it
