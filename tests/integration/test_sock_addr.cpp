// cgroup_sock_addr: a connect4 program that rewrites 127.0.0.1:kPortA to 127.0.0.1:kPortB for
// the sockets of a test cgroup, proved by real TCP connections on the loopback of a test netns:
// a client in the cgroup reaches the listener on B, a client outside reaches A, and removing the
// manifest restores A for the cgroup too.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "cgroup_child.h"
#include "harness.h"

namespace it {
namespace {

constexpr std::uint32_t kLinkCgroup = 3;  // BPF_LINK_TYPE_CGROUP
constexpr int kPortA = 40001, kPortB = 40002;
constexpr const char* kUnavailable = "programs are not available on this kernel: ";

/// In the child: listeners on 127.0.0.1:kPortA and :kPortB, one TCP connect to :kPortA; returns
/// which listener took the connection ("A" or "B") and the port getpeername() reports
/// ("B peer=40002"), or what failed.
std::string connect_to_a() {
  auto listener = [](int port) {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 4) != 0) return -1;
    return s;
  };
  const int la = listener(kPortA), lb = listener(kPortB);
  if (la < 0 || lb < 0) return std::string("listen: ") + std::strerror(errno);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(kPortA);
  if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    return std::string("connect: ") + std::strerror(errno);
  pollfd p[2] = {{la, POLLIN, 0}, {lb, POLLIN, 0}};
  if (::poll(p, 2, 3000) <= 0) return "no listener took the connection";
  std::string which = (p[0].revents & POLLIN) ? "A" : "B";
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return "getpeername failed";
  return which + " peer=" + std::to_string(ntohs(peer.sin_port));
}

class SockAddr : public ReconcilerTest {
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

  std::string manifest(const std::string& name) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"cgroup_sock_addr\"\n"
           "bpf_function = \"connect4_rewrite\"\n"
           "bytecode = { path = \"" + obj("sock_addr_rewrite") + "\" }\n"
           "global_data = { from_port = " + std::to_string(kPortA) + ", to_port = " + std::to_string(kPortB) + " }\n"
           "[[program.attach]]\n"
           "cgroup = \"" + cgroup_->path() + "\"\n"
           "attach_type = \"connect4\"\n";
  }

  std::string connect_from(bool in_cgroup) {
    const auto r = run_child_in(in_cgroup ? cgroup_->path() : "", net_->path_a(), connect_to_a);
    return r.ok ? r.text : "child failed: " + r.text;
  }

  std::unique_ptr<ScratchCgroup> cgroup_;
};

TEST_F(SockAddr, Connect4RewritesOnlyTheCgroupsConnections) {
  // Before anything is attached, A is A for everyone.
  ASSERT_EQ(connect_from(true), "A peer=40001");

  ASSERT_TRUE(start_daemon());
  write_manifest("rewrite.toml", manifest("rewrite"));
  const auto p = wait_program("rewrite", [](const json& j) {
    const auto s = j.value("state", "");
    return s == "attached" || s == "failed" || s == "partial";
  });
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");

  const auto pins = list_dir(links_dir("rewrite"));
  ASSERT_EQ(pins.size(), 1u) << diag();
  const auto link = raw_pinned_link(links_dir("rewrite") + "/" + pins[0]);
  const auto prog = raw_pinned_prog_id(prog_pin("rewrite"));
  ASSERT_TRUE(link && prog) << diag();
  EXPECT_EQ(link->prog_id, *prog);
  EXPECT_EQ(link->type, kLinkCgroup);
  // The kernel has it on the cgroup as connect4 (bpftool 7.1 prints libbpf's name of
  // BPF_CGROUP_INET4_CONNECT; older ones printed "connect4").
  const auto show = run({"bpftool", "-j", "cgroup", "show", cgroup_->path()});
  ASSERT_EQ(show.rc, 0) << show.describe();
  const auto shown = json::parse(show.out, nullptr, false);
  bool found = false;
  for (const auto& e : shown.is_array() ? shown : json::array())
    if (e.value("id", 0u) == *prog) {
      const auto t = e.value("attach_type", "");
      found = t == "cgroup_inet4_connect" || t == "connect4";
    }
  EXPECT_TRUE(found) << show.out;

  const auto c0 = read_counter(map_pin("rewrite"), 0);
  ASSERT_TRUE(c0) << diag();
  EXPECT_EQ(connect_from(true), "B peer=40002") << "a client in the cgroup is sent to B";
  EXPECT_EQ(connect_from(false), "A peer=40001") << "a client outside the cgroup is not rewritten";
  EXPECT_EQ(connect_from(true), "B peer=40002");
  EXPECT_EQ(read_counter(map_pin("rewrite"), 0).value_or(0), *c0 + 2) << "two connects rewritten";

  remove_manifest("rewrite.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("rewrite")); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return links_of_prog(*prog).empty(); }, 5s)) << all_links().dump();
  EXPECT_EQ(connect_from(true), "A peer=40001") << "detached: the cgroup's connects go to A again";
}

// The section fixes the attach type at load: a connect4 program declared as bind4 is refused
// when the manifest is checked, before anything reaches the kernel.
TEST_F(SockAddr, AttachTypeOtherThanTheSectionsIsRefused) {
  ASSERT_TRUE(start_daemon());
  std::string text = manifest("wrong");
  text.replace(text.find("\"connect4\"\n"), 11, "\"bind4\"\n");
  write_manifest("wrong.toml", text);
  std::optional<json> m;
  ASSERT_TRUE(wait_until([&] {
    m = find_manifest(describe_or_fail(), "wrong.toml");
    return m && m->dump().find("attaches only as connect4") != std::string::npos;
  }, 5s)) << (m ? m->dump() : "no manifest in Describe") << diag();
  EXPECT_FALSE(path_exists(pin_dir("wrong")));
}

}  // namespace
}  // namespace it
