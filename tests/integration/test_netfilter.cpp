// netfilter (Linux 6.4+): a netfilter link at ipv4 prerouting inside a network namespace the
// test made; real packets (ping on that namespace's loopback) raise the program's counter, and
// its NF_DROP verdict (global_data drop = 1) stops them. Kernels without netfilter links skip
// with the reason the daemon probed and reported in status.
#include "harness.h"

namespace it {
namespace {

constexpr std::uint32_t kLinkNetfilter = 10;  // BPF_LINK_TYPE_NETFILTER (Linux 6.4)
constexpr const char* kUnavailable = "programs are not available on this kernel: ";

std::string netfilter_manifest(const std::string& name, const std::string& netns_path, const std::string& hook,
                               bool drop) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"netfilter\"\n"
         "bpf_function = \"netfilter_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("netfilter_count") + "\" }\n" +
         (drop ? "global_data = { drop = 1 }\n" : "") +
         "[[program.attach]]\n"
         "hook = \"" + hook + "\"\n"
         "priority = -100\n"
         "netns = \"" + netns_path + "\"\n";
}

class Netfilter : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const auto up = run_in_netns(net_->a, {"ip", "link", "set", "lo", "up"});
    ASSERT_EQ(up.rc, 0) << up.describe();
  }

  /// Waits until `name` is attached or failed; skips (with the daemon's reason) when the kernel
  /// lacks netfilter programs.
  std::optional<json> wait_attached(const std::string& name) {
    auto p = wait_program(name, [](const json& prog) {
      const auto s = prog.value("state", "");
      return s == "attached" || s == "failed" || s == "partial";
    });
    if (p && p->value("state", "") == "failed" && p->value("error", "").find(kUnavailable) != std::string::npos)
      skip_reason_ = p->value("error", "");
    return p;
  }

  CmdResult ping_lo(int count) {
    return run_in_netns(net_->a, {"ping", "-c", std::to_string(count), "-i", "0.2", "-W", "1", "-q", "127.0.0.1"});
  }

  std::string skip_reason_;
};

TEST_F(Netfilter, CountsLoopbackPacketsAtIpv4Prerouting) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "nf-count";
  write_manifest("nf.toml", netfilter_manifest(name, net_->path_a(), "ipv4_prerouting", false));
  const auto p = wait_attached(name);
  ASSERT_TRUE(p) << diag();
  if (!skip_reason_.empty()) {
    EXPECT_FALSE(path_exists(pin_dir(name))) << "an unavailable type must leave no pins";
    GTEST_SKIP() << skip_reason_;
  }
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");
  EXPECT_EQ((*p)["attachments"][0].value("target", ""), "ipv4_prerouting priority -100 (netns " + net_->path_a() + ")");
  const auto pins = list_dir(links_dir(name));
  ASSERT_EQ(pins.size(), 1u) << diag();
  const auto link = raw_pinned_link(links_dir(name) + "/" + pins[0]);
  const auto prog = raw_pinned_prog_id(prog_pin(name));
  ASSERT_TRUE(link && prog) << diag();
  EXPECT_EQ(link->prog_id, *prog);
  EXPECT_EQ(link->type, kLinkNetfilter);

  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  const auto ping = ping_lo(3);
  ASSERT_EQ(ping.rc, 0) << ping.describe();
  // Each echo request and reply passes prerouting on lo: at least 6 packets.
  const auto c1 = read_counter(map_pin(name), 0).value_or(0);
  EXPECT_GE(c1, *c0 + 6) << "counted " << c1 - *c0 << " packets for 3 pings on lo";
  // Another namespace's packets are not this hook's: pings on netns b's own loopback.
  const auto up_b = run_in_netns(net_->b, {"ip", "link", "set", "lo", "up"});
  ASSERT_EQ(up_b.rc, 0) << up_b.describe();
  const auto other = run_in_netns(net_->b, {"ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", "127.0.0.1"});
  EXPECT_EQ(other.rc, 0) << other.describe();
  EXPECT_EQ(read_counter(map_pin(name), 0).value_or(0), c1) << "only netns a's prerouting counts";

  remove_manifest("nf.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return links_of_prog(*prog).empty(); }, 5s)) << all_links().dump();
}

TEST_F(Netfilter, DropVerdictStopsPacketsUntilTheManifestGoes) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "nf-drop";
  write_manifest("nf.toml", netfilter_manifest(name, net_->path_a(), "ipv4_input", true));
  const auto p = wait_attached(name);
  ASSERT_TRUE(p) << diag();
  if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  const auto dropped = ping_lo(2);
  EXPECT_NE(dropped.rc, 0) << "ping got through an NF_DROP at ipv4_input: " << dropped.describe();
  EXPECT_GE(read_counter(map_pin(name), 0).value_or(0), 2u);
  remove_manifest("nf.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  const auto ok = ping_lo(2);
  EXPECT_EQ(ok.rc, 0) << "the hook is gone, packets pass again: " << ok.describe();
}

}  // namespace
}  // namespace it
