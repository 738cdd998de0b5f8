// sk_lookup: a netns link that steers real TCP connections (bpf_sk_assign) to a listener of
// the test's choosing, inside a network namespace the test made; and a netns link whose
// namespace is gone is reported as detached, not as attached.
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstring>

#include "harness.h"

namespace it {
namespace {

constexpr std::uint32_t kLinkNetns = 5;  // BPF_LINK_TYPE_NETNS
constexpr int kSteeredPort = 7007;       // STEER_FROM_PORT in bpf/sk_lookup_steer.bpf.c
constexpr int kListenerPort = 7008;      // where the listener really is
constexpr const char* kUnavailable = "programs are not available on this kernel: ";

std::string sk_lookup_manifest(const std::string& name, const std::string& netns_path) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"sk_lookup\"\n"
         "bpf_function = \"sk_lookup_steer\"\n"
         "bytecode = { path = \"" + bpf_object_path("sk_lookup_steer") + "\" }\n"
         "[[program.attach]]\n"
         "netns = \"" + netns_path + "\"\n";
}

long sys_bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

/// In a child that entered `netns_path`: a TCP listener on 127.0.0.1:kListenerPort; a connect
/// to kSteeredPort before the listener is in the sockmap (must be refused: nothing listens
/// there); the listener's fd put in slot 0 of the sockmap pinned at `sockmap_pin`; a connect to
/// kSteeredPort again, which the listener must accept, the accepted socket's local port being
/// kSteeredPort. Returns "" on success, else what went wrong.
std::string steer_in_child(const std::string& netns_path, const std::string& sockmap_pin) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return "pipe2 failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(pipefd[0]);
    auto die = [&](const std::string& what, bool with_errno = true) {
      std::string m = what + (with_errno ? std::string(": ") + std::strerror(errno) : std::string());
      (void)!::write(pipefd[1], m.data(), m.size());
      ::_exit(1);
    };
    const int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) die("setns " + netns_path);
    auto addr_of = [](int port) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      return a;
    };
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    (void)::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in la = addr_of(kListenerPort);
    if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&la), sizeof la) != 0 || ::listen(l, 4) != 0)
      die("listen on 127.0.0.1:" + std::to_string(kListenerPort));
    sockaddr_in steered = addr_of(kSteeredPort);
    {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(c, reinterpret_cast<sockaddr*>(&steered), sizeof steered) == 0)
        die("a connect to port 7007 succeeded before the listener was in the sockmap", false);
      if (errno != ECONNREFUSED) die("connect to 7007 before the sockmap insert: expected ECONNREFUSED");
      ::close(c);
    }
    bpf_attr get{};
    get.pathname = reinterpret_cast<std::uint64_t>(sockmap_pin.c_str());
    const int map = static_cast<int>(sys_bpf(BPF_OBJ_GET, get));
    if (map < 0) die("BPF_OBJ_GET " + sockmap_pin);
    std::uint32_t key = 0;
    std::uint64_t value = static_cast<std::uint64_t>(l);
    bpf_attr upd{};
    upd.map_fd = static_cast<std::uint32_t>(map);
    upd.key = reinterpret_cast<std::uint64_t>(&key);
    upd.value = reinterpret_cast<std::uint64_t>(&value);
    upd.flags = BPF_ANY;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, upd) != 0) die("insert the listener into the sockmap");
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(c, reinterpret_cast<sockaddr*>(&steered), sizeof steered) != 0)
      die("connect to 127.0.0.1:7007 with the listener in the sockmap");
    pollfd p{l, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) die("the 7008 listener saw no connection within 2 s", false);
    const int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) die("accept");
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&local), &len) != 0) die("getsockname");
    if (ntohs(local.sin_port) != kSteeredPort)
      die("the accepted connection's local port is " + std::to_string(ntohs(local.sin_port)) + ", not 7007", false);
    char byte = 'x';
    if (::send(c, &byte, 1, 0) != 1 || ::recv(s, &byte, 1, 0) != 1 || byte != 'x') die("one byte through the steered connection");
    ::_exit(0);
  }
  ::close(pipefd[1]);
  char buf[512] = {};
  const ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "child failed";
}

class SkLookup : public ReconcilerTest {
 protected:
  // The periodic check finds a link whose namespace went away without a manifest change.
  std::vector<std::string> daemon_flags() const override { return {"--check-interval", "1"}; }

  std::optional<json> wait_settled(const std::string& name) {
    return wait_program(name, [](const json& p) {
      const auto s = p.value("state", "");
      return s == "attached" || s == "failed" || s == "partial";
    });
  }

  /// Waits until `name` settles; skips when the daemon probed the type as unavailable.
  std::optional<json> attached_or_skip(const std::string& name) {
    auto p = wait_settled(name);
    if (p && p->value("state", "") == "failed" && p->value("error", "").find(kUnavailable) != std::string::npos)
      return std::nullopt;
    return p;
  }

  /// The one link pinned under links/ of `name`.
  std::string the_link_pin(const std::string& name) {
    const auto pins = list_dir(links_dir(name));
    return pins.size() == 1 ? links_dir(name) + "/" + pins[0] : std::string();
  }
};

TEST_F(SkLookup, SteersConnectionsToTheSockmapListener) {
  ASSERT_TRUE(start_daemon());
  const auto up = run_in_netns(net_->a, {"ip", "link", "set", "lo", "up"});
  ASSERT_EQ(up.rc, 0) << up.describe();
  const std::string name = "sk-lookup-steer";
  write_manifest("skl.toml", sk_lookup_manifest(name, net_->path_a()));
  const auto p = attached_or_skip(name);
  if (!p) GTEST_SKIP() << "sk_lookup unavailable: " << wait_settled(name)->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");
  EXPECT_EQ((*p)["attachments"][0].value("target", ""), "netns " + net_->path_a());

  const std::string pin = the_link_pin(name);
  ASSERT_FALSE(pin.empty()) << "expected one link pin under " << links_dir(name) << diag();
  const auto link = raw_pinned_link(pin);
  const auto prog = raw_pinned_prog_id(prog_pin(name));
  ASSERT_TRUE(link && prog) << diag();
  EXPECT_EQ(link->prog_id, *prog);
  EXPECT_EQ(link->type, kLinkNetns);
  const auto info = pinned_link_info(pin);
  ASSERT_TRUE(info) << pin;
  EXPECT_NE(info->value("netns_ino", 0u), 0u) << info->dump();

  ASSERT_TRUE(path_exists(map_pin(name, "steer_to"))) << list_dir(pin_dir(name) + "/maps").size() << diag();
  const auto err = steer_in_child(net_->path_a(), map_pin(name, "steer_to"));
  EXPECT_EQ(err, "") << diag();
  EXPECT_EQ(read_counter(map_pin(name), 0).value_or(0), 1u) << "steered connections counted";

  remove_manifest("skl.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return links_of_prog(*prog).empty(); }, 5s)) << all_links().dump();
}

TEST_F(SkLookup, LinkOfAGoneNetnsIsDetached) {
  ASSERT_TRUE(start_daemon());
  const std::string ns = unique_name("skl");
  const auto add = run({"ip", "netns", "add", ns});
  ASSERT_EQ(add.rc, 0) << add.describe();
  const std::string name = "sk-lookup-gone";
  write_manifest("skl.toml", sk_lookup_manifest(name, "/run/netns/" + ns));
  const auto p = attached_or_skip(name);
  if (!p) {
    (void)run({"ip", "netns", "del", ns});
    GTEST_SKIP() << "sk_lookup unavailable";
  }
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  const std::string pin = the_link_pin(name);
  ASSERT_FALSE(pin.empty()) << diag();

  const auto del = run({"ip", "netns", "del", ns});
  ASSERT_EQ(del.rc, 0) << del.describe();
  // The namespace is freed asynchronously (cleanup_net): wait for the kernel to say so.
  EXPECT_TRUE(wait_until([&] {
    const auto info = pinned_link_info(pin);
    return !info || info->value("netns_ino", 1u) == 0u;
  }, 10s, 100ms)) << pinned_link_info(pin).value_or(json()).dump();
  // The daemon must not report it attached: the periodic check sees netns_ino 0, and attaching
  // again fails (the namespace file is gone).
  const auto q = wait_program(name, [](const json& prog) { return prog.value("state", "") != "attached"; }, 10s);
  ASSERT_TRUE(q) << describe_or_fail().dump() << diag();
  ASSERT_EQ((*q)["attachments"].size(), 1u) << q->dump();
  EXPECT_EQ((*q)["attachments"][0].value("state", ""), "failed") << q->dump();
  EXPECT_NE((*q)["attachments"][0].value("error", "").find("/run/netns/" + ns), std::string::npos) << q->dump();
  EXPECT_EQ((*q)["attachments"][0].value("error_kind", ""), "not_found") << q->dump();
}

}  // namespace
}  // namespace it
