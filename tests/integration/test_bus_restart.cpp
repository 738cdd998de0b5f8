// The system bus goes away under the daemon (issue 11, bug 4): `kill -9` of the dbus-daemon,
// then a new one on the same socket. The daemon must stay up, keep every program attached,
// log that it lost the bus, connect again, take its name back and serve Describe() and
// Reload() as before. Checked through the kernel (the XDP hook) and through busctl only.
#include "harness.h"

namespace it {
namespace {

class BusRestart : public ReconcilerTest {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--check-interval", "0"}; }

  int count_in_log(const std::string& needle) {
    const std::string log = read_file(log_path_);
    int n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  }

  bool describe_answers() {
    const auto r = run({"busctl", "--system", "--timeout=1", "call", kService, kManagerPath, kManagerIface,
                        "Describe"}, 3s);
    return r.rc == 0;
  }
};

TEST_F(BusRestart, NameObjectsAndMethodsComeBackAfterTheBusIsKilledAndRestarted) {
  ASSERT_TRUE(start_daemon());
  write_manifest("10-xdp.toml", xdp_manifest("busr-xdp"));
  const auto id = wait_xdp_attached("busr-xdp");
  ASSERT_TRUE(id) << diag();
  const auto gen0 = get_property(kManagerPath, kManagerIface, "Generation");
  ASSERT_TRUE(gen0) << diag();

  // Twice in a row: the second loss must be handled like the first.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    bus_->kill_hard();
    // While there is no bus, the daemon keeps running and the program stays attached.
    std::this_thread::sleep_for(1500ms);
    ASSERT_TRUE(daemon().alive()) << "the daemon exited when the bus went away: " << daemon().exit_text();
    EXPECT_EQ(xdp_ids_netlink(net_->a, net_->if_a), std::vector<std::uint32_t>{*id});

    bus_->restart();
    ASSERT_TRUE(bus_->ok()) << bus_->error();
    // The name is owned again and Describe() answers within a few seconds of the bus's return.
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until([&] { return describe_answers(); }, 10s, 100ms))
        << "Describe() does not answer 10 s after the bus came back\n" << read_file(log_path_);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[info] bus restart %d: Describe() answers %.2f s after the new dbus-daemon started\n", round, s);
    EXPECT_LT(s, 6.0) << "the reconnect backoff is capped at 5 s";

    // Objects: the manager and the program's object are there again.
    const auto paths = object_paths();
    EXPECT_NE(std::find(paths.begin(), paths.end(), kManagerPath), paths.end()) << json(paths).dump();
    EXPECT_NE(std::find(paths.begin(), paths.end(), std::string(kProgramPathPrefix) + "busr_2dxdp"), paths.end())
        << json(paths).dump();
    auto st = get_property(std::string(kProgramPathPrefix) + "busr_2dxdp", kProgramIface, "State");
    ASSERT_TRUE(st);
    EXPECT_EQ(st->get<std::string>(), "attached");

    // Reload() works and reconciles (the generation moves on), with the program untouched.
    const auto r = call_reload();
    ASSERT_EQ(r.rc, 0) << r.describe();
    const auto gen = get_property(kManagerPath, kManagerIface, "Generation");
    ASSERT_TRUE(gen);
    EXPECT_GT(gen->get<std::uint64_t>(), gen0->get<std::uint64_t>());
    EXPECT_EQ(xdp_ids_netlink(net_->a, net_->if_a), std::vector<std::uint32_t>{*id});
    EXPECT_EQ(raw_pinned_prog_id(prog_pin("busr-xdp")), id);
  }

  // A manifest change after the reconnect is applied and visible on the bus.
  write_manifest("20-tp.toml", tracepoint_manifest("busr-tp", "syscalls/sys_enter_getpid"));
  auto p = wait_program("busr-tp", [](const json& q) { return q.value("state", "") == "attached"; });
  EXPECT_TRUE(p) << diag();

  // Logged: each loss once, each reconnect once.
  EXPECT_EQ(count_in_log("lost the system bus"), 2) << read_file(log_path_);
  EXPECT_EQ(count_in_log("connected to the system bus again"), 2) << read_file(log_path_);
}

}  // namespace
}  // namespace it
