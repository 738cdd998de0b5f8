// sockops: a program on a test cgroup counts the TCP callbacks of real loopback connections made
// by a process in the cgroup (inside a test netns); a process outside adds nothing; the counts
// stop with the manifest removed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>

#include "cgroup_child.h"
#include "harness.h"

namespace it {
namespace {

constexpr std::uint32_t kLinkCgroup = 3;  // BPF_LINK_TYPE_CGROUP
constexpr int kPort = 40003;
constexpr const char* kUnavailable = "programs are not available on this kernel: ";

/// In the child: a listener on 127.0.0.1:kPort, then `n` TCP connections to it, each accepted
/// and closed. Returns "ok" or what failed.
std::string connect_n(int n) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(kPort);
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 8) != 0)
    return std::string("listen: ") + std::strerror(errno);
  for (int i = 0; i < n; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return std::string("connect: ") + std::strerror(errno);
    const int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) return std::string("accept: ") + std::strerror(errno);
    ::close(s);
    ::close(c);
  }
  ::close(l);
  return "ok";
}

class Sockops : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cgroup_ = std::make_unique<ScratchCgroup>();
    if (!cgroup_->error().empty()) GTEST_SKIP() << cgroup_->error();
    const auto up = run_in_netns(net_->a, {"ip", "link", "set", "lo", "up"});
    ASSERT_EQ(up.rc, 0) << up.describe();
  }
  void TearDown() override {
    ReconcilerTest::TearDown();
    cgroup_.reset();
  }

  std::string connections(bool in_cgroup, int n) {
    const auto r = run_child_in(in_cgroup ? cgroup_->path() : "", net_->path_a(), [n] { return connect_n(n); });
    return r.ok ? r.text : "child failed: " + r.text;
  }

  /// counts[0..2]: TCP connect, active established, passive established (~0 when unreadable).
  std::array<std::uint64_t, 3> counts() {
    std::array<std::uint64_t, 3> c{};
    for (std::uint32_t i = 0; i < 3; ++i) c[i] = read_counter(map_pin("ops"), i).value_or(~0ull);
    return c;
  }

  std::unique_ptr<ScratchCgroup> cgroup_;
};

TEST_F(Sockops, CountsTheCgroupsTcpConnections) {
  ASSERT_TRUE(start_daemon());
  write_manifest("ops.toml", "[[program]]\n"
                             "name = \"ops\"\n"
                             "type = \"sockops\"\n"
                             "bpf_function = \"sockops_count\"\n"
                             "bytecode = { path = \"" + obj("sockops_counter") + "\" }\n"
                             "[[program.attach]]\n"
                             "cgroup = \"" + cgroup_->path() + "\"\n");
  const auto p = wait_program("ops", [](const json& j) {
    const auto s = j.value("state", "");
    return s == "attached" || s == "failed" || s == "partial";
  });
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");
  const auto pins = list_dir(links_dir("ops"));
  ASSERT_EQ(pins.size(), 1u) << diag();
  const auto link = raw_pinned_link(links_dir("ops") + "/" + pins[0]);
  const auto prog = raw_pinned_prog_id(prog_pin("ops"));
  ASSERT_TRUE(link && prog) << diag();
  EXPECT_EQ(link->prog_id, *prog);
  EXPECT_EQ(link->type, kLinkCgroup);
  const auto show = run({"bpftool", "-j", "cgroup", "show", cgroup_->path()});
  ASSERT_EQ(show.rc, 0) << show.describe();
  const auto shown = json::parse(show.out, nullptr, false);
  bool found = false;
  for (const auto& e : shown.is_array() ? shown : json::array())
    if (e.value("id", 0u) == *prog) {
      const auto t = e.value("attach_type", "");
      found = t == "cgroup_sock_ops" || t == "sock_ops";  // bpftool 7.1: libbpf's name
    }
  EXPECT_TRUE(found) << show.out;

  const auto c0 = counts();
  ASSERT_NE(c0[0], ~0ull) << diag();
  ASSERT_EQ(connections(false, 2), "ok");
  EXPECT_EQ(counts(), c0) << "connections outside the cgroup count nothing";
  ASSERT_EQ(connections(true, 3), "ok");
  const auto c1 = counts();
  EXPECT_EQ(c1[0], c0[0] + 3) << "BPF_SOCK_OPS_TCP_CONNECT_CB";
  EXPECT_EQ(c1[1], c0[1] + 3) << "BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB";
  EXPECT_EQ(c1[2], c0[2] + 3) << "BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB (the listener is in the cgroup too)";

  remove_manifest("ops.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("ops")); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return links_of_prog(*prog).empty(); }, 5s)) << all_links().dump();
  const auto after = run({"bpftool", "-j", "cgroup", "show", cgroup_->path()});
  EXPECT_EQ(after.out.find("\"id\""), std::string::npos) << "programs left on the cgroup: " << after.out;
}

}  // namespace
}  // namespace it
