// kprobe, kretprobe, fentry, fexit, raw_tracepoint, cgroup_skb, cgroup_sock: pinned links that
// fire on real events (syscalls, sockets and packets of a process in a test cgroup). Types this
// kernel lacks skip with the reason the daemon probed and reported in status.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/magic.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "cgroup_child.h"
#include "harness.h"

namespace it {
namespace {

// BPF_LINK_TYPE_* (uapi/linux/bpf.h)
constexpr std::uint32_t kLinkRawTracepoint = 1, kLinkTracing = 2, kLinkCgroup = 3, kLinkPerfEvent = 7;

// The kernel function the kprobe/fentry tests probe: what getpid(2) calls (task_tgid_vnr() is an
// inline wrapper of it), in the kernel's BTF on Debian's 6.1 and the host's 6.18 (the syscall
// wrapper __x64_sys_getpid is in kallsyms but not in BTF, so fentry cannot use it).
constexpr const char* kProbedFunction = "__task_pid_nr_ns";
constexpr const char* kUnavailable = "programs are not available on this kernel: ";

std::string program_manifest(const std::string& name, const std::string& type, const std::string& function,
                             const std::string& object, const std::string& attach) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"" + type + "\"\n"
         "bpf_function = \"" + function + "\"\n"
         "bytecode = { path = \"" + std::string(BPF_OBJ_DIR) + "/" + object + ".bpf.o\" }\n"
         "[[program.attach]]\n" + attach;
}

void trigger_getpid(int n) {
  for (int i = 0; i < n; ++i) (void)::syscall(SYS_getpid);
}

class Types : public ReconcilerTest {
 protected:
  /// Waits until `name` is attached or failed; returns the program from Describe.
  std::optional<json> wait_settled(const std::string& name) {
    return wait_program(name, [](const json& p) {
      const auto s = p.value("state", "");
      return s == "attached" || s == "failed" || s == "partial";
    });
  }

  /// The one link pinned under links/ of `name`, checked against the program pin.
  std::optional<RawLink> the_link(const std::string& name, std::string& why) {
    const auto pins = list_dir(links_dir(name));
    if (pins.size() != 1) {
      why = "expected one link pin under " + links_dir(name) + ", found " + std::to_string(pins.size());
      return std::nullopt;
    }
    auto link = raw_pinned_link(links_dir(name) + "/" + pins[0]);
    const auto prog = raw_pinned_prog_id(prog_pin(name));
    if (!link || !prog || link->prog_id != *prog) {
      why = "the link pin does not run the pinned program";
      return std::nullopt;
    }
    return link;
  }

  void expect_removed(const std::string& file, const std::string& name, std::uint32_t prog_id) {
    remove_manifest(file);
    EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << pin_dir(name) << diag();
    EXPECT_TRUE(wait_until([&] { return links_of_prog(prog_id).empty(); }, 5s)) << all_links().dump();
    EXPECT_TRUE(wait_until([&] { return !prog_listed(prog_id); }, 5s)) << prog_holders(prog_id);
  }

  /// Attaches `type` (a kernel-function type) on kProbedFunction, then checks that it counts
  /// getpid() calls through a link of `link_type` and goes away with its manifest. Skips with
  /// the daemon's probed reason when the kernel lacks the type.
  void run_kernel_function_case(const std::string& type, std::uint32_t link_type, const std::string& mechanism) {
    ASSERT_TRUE(start_daemon());
    const std::string name = type + "-getpid";
    write_manifest(name + ".toml", program_manifest(name, type, type + "_count", "kprobe_counter",
                                                    "function = \"" + std::string(kProbedFunction) + "\"\n"));
    const auto p = wait_settled(name);
    ASSERT_TRUE(p) << diag();
    const std::string error = p->value("error", "");
    if (p->value("state", "") == "failed" && error.find(kUnavailable) != std::string::npos) {
      // The probe must agree with what the kernel shows: a kprobe PMU means kprobes work.
      if (type == "kprobe" || type == "kretprobe") {
        ASSERT_FALSE(path_exists("/sys/bus/event_source/devices/kprobe/type"))
            << "the kprobe PMU exists, yet the daemon reports: " << error;
      }
      EXPECT_EQ(describe_or_fail().value("state", ""), "degraded");
      EXPECT_FALSE(path_exists(pin_dir(name))) << "an unavailable type must leave no pins";
      GTEST_SKIP() << error;
    }
    ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
    ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
    EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), mechanism);
    EXPECT_EQ((*p)["attachments"][0].value("target", ""), kProbedFunction);
    std::string why;
    const auto link = the_link(name, why);
    ASSERT_TRUE(link) << why << diag();
    EXPECT_EQ(link->type, link_type);

    const auto c0 = read_counter(map_pin(name), 0);
    ASSERT_TRUE(c0) << diag();
    trigger_getpid(25);
    // Every process's getpid() counts, so at least ours.
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 25; }, 3s))
        << type << " counted " << read_counter(map_pin(name), 0).value_or(0) - *c0 << " of 25 getpid() calls";
    expect_removed(name + ".toml", name, link->prog_id);
  }
};

TEST_F(Types, KprobeCountsGetpid) { run_kernel_function_case("kprobe", kLinkPerfEvent, "perf_link"); }
TEST_F(Types, KretprobeCountsGetpid) { run_kernel_function_case("kretprobe", kLinkPerfEvent, "perf_link"); }
TEST_F(Types, FentryCountsGetpid) { run_kernel_function_case("fentry", kLinkTracing, "link"); }
TEST_F(Types, FexitCountsGetpid) { run_kernel_function_case("fexit", kLinkTracing, "link"); }

TEST_F(Types, RawTracepointCountsSyscalls) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "raw-sys-enter";
  write_manifest("raw.toml", program_manifest(name, "raw_tracepoint", "raw_tp_count", "raw_tp_counter",
                                              "tracepoint = \"sys_enter\"\n"));
  const auto p = wait_settled(name);
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");
  std::string why;
  const auto link = the_link(name, why);
  ASSERT_TRUE(link) << why << diag();
  EXPECT_EQ(link->type, kLinkRawTracepoint);
  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  trigger_getpid(10);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 10; }, 3s))
      << "sys_enter counter did not grow by 10";
  expect_removed("raw.toml", name, link->prog_id);
}

TEST_F(Types, UnknownRawTracepointIsAFailedAttachPoint) {
  ASSERT_TRUE(start_daemon());
  write_manifest("raw.toml", program_manifest("raw-nope", "raw_tracepoint", "raw_tp_count", "raw_tp_counter",
                                              "tracepoint = \"no_such_raw_tracepoint\"\n"));
  const auto p = wait_settled("raw-nope");
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  EXPECT_NE(p->value("state", ""), "attached") << p->dump();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("state", ""), "failed") << p->dump();
  EXPECT_NE((*p)["attachments"][0].value("error", "").find("no_such_raw_tracepoint"), std::string::npos) << p->dump();
  EXPECT_TRUE(daemon().alive());
}

// ---------------------------------------------------------------------------------------------
// cgroups

/// The cgroup each test makes (cgroup_child.h).
using TestCgroup = ScratchCgroup;

struct SocketRun {
  bool ok = false;
  std::string error;
};

/// Forks a child that (optionally) joins `cgroup`, enters network namespace `netns_path`, creates
/// `extra_sockets` UDP sockets and closes them, then sends `datagrams` UDP datagrams of
/// `payload` bytes to itself on 127.0.0.1 and receives them. Exactly 1 + extra_sockets inet
/// sockets are created, and `datagrams` packets leave and enter its one bound socket.
SocketRun run_socket_child(const std::string& cgroup, const std::string& netns_path, int extra_sockets,
                           int datagrams, int payload) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {false, "pipe2 failed"};
  const pid_t pid = ::fork();
  if (pid < 0) return {false, "fork failed"};
  if (pid == 0) {
    ::close(pipefd[0]);
    auto die = [&](const char* what) {
      char buf[256];
      const int n = std::snprintf(buf, sizeof buf, "%s: %s", what, std::strerror(errno));
      (void)!::write(pipefd[1], buf, static_cast<size_t>(n));
      ::_exit(1);
    };
    if (!cgroup.empty()) {
      const int fd = ::open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) die("open cgroup.procs");
      if (::write(fd, "0", 1) != 1) die("join cgroup");  // "0": the writing process
      ::close(fd);
    }
    const int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) die("setns");
    for (int i = 0; i < extra_sockets; ++i) {
      const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s < 0) die("socket");
      ::close(s);
    }
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind 127.0.0.1");
    socklen_t len = sizeof addr;
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");
    std::vector<char> buf(static_cast<size_t>(payload), 'x');
    for (int i = 0; i < datagrams; ++i) {
      if (::sendto(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("sendto");
      if (::recv(s, buf.data(), buf.size(), 0) < 0) die("recv");
    }
    ::_exit(0);
  }
  ::close(pipefd[1]);
  char buf[256] = {};
  const ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, ""};
  return {false, n > 0 ? std::string(buf, static_cast<size_t>(n)) : "child failed"};
}

class CgroupTypes : public Types {
 protected:
  void SetUp() override {
    Types::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cgroup_ = std::make_unique<TestCgroup>();
    if (!cgroup_->error().empty()) GTEST_SKIP() << cgroup_->error();
    // The child's loopback lives in our own test netns.
    const auto up = run_in_netns(net_->a, {"ip", "link", "set", "lo", "up"});
    ASSERT_EQ(up.rc, 0) << up.describe();
  }
  void TearDown() override {
    Types::TearDown();
    cgroup_.reset();  // after the daemon is gone: links no longer hold it (rmdir works anyway)
  }

  std::string cgroup_skb(const std::string& name, const std::string& direction) {
    return program_manifest(name, "cgroup_skb", "cgroup_skb_" + direction + "_count", "cgroup_counter",
                            "cgroup = \"" + cgroup_->path() + "\"\ndirection = \"" + direction + "\"\n");
  }

  std::unique_ptr<TestCgroup> cgroup_;
};

TEST_F(CgroupTypes, SkbAndSockCountOnlyTheCgroupsTraffic) {
  ASSERT_TRUE(start_daemon());
  write_manifest("in.toml", cgroup_skb("cg-in", "ingress"));
  write_manifest("out.toml", cgroup_skb("cg-out", "egress"));
  write_manifest("sock.toml", program_manifest("cg-sock", "cgroup_sock", "cgroup_sock_create_count", "cgroup_counter",
                                               "cgroup = \"" + cgroup_->path() + "\"\n"));
  std::map<std::string, RawLink> links;
  for (const char* n : {"cg-in", "cg-out", "cg-sock"}) {
    const auto p = wait_settled(n);
    ASSERT_TRUE(p) << n << diag();
    if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
    ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
    EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");
    std::string why;
    const auto link = the_link(n, why);
    ASSERT_TRUE(link) << n << ": " << why << diag();
    EXPECT_EQ(link->type, kLinkCgroup) << n;
    links[n] = *link;
  }
  // The kernel lists all three on the cgroup.
  const auto show = run({"bpftool", "-j", "cgroup", "show", cgroup_->path()});
  ASSERT_EQ(show.rc, 0) << show.describe();
  for (auto& [n, l] : links)
    EXPECT_NE(show.out.find("\"id\":" + std::to_string(l.prog_id)), std::string::npos) << n << ": " << show.out;

  auto counts = [&] {
    return std::tuple(read_counter(map_pin("cg-in"), 0).value_or(~0ull), read_counter(map_pin("cg-out"), 0).value_or(~0ull),
                      read_counter(map_pin("cg-sock"), 0).value_or(~0ull));
  };
  const auto [in0, out0, sock0] = counts();
  ASSERT_NE(in0, ~0ull) << diag();

  // Outside the cgroup: nothing counts.
  auto r = run_socket_child("", net_->path_a(), 2, 4, 100);
  ASSERT_TRUE(r.ok) << r.error;
  auto [in1, out1, sock1] = counts();
  EXPECT_EQ(in1, in0);
  EXPECT_EQ(out1, out0);
  EXPECT_EQ(sock1, sock0);

  // Inside: 3 sockets created, 7 datagrams out and in, exactly.
  r = run_socket_child(cgroup_->path(), net_->path_a(), 2, 7, 100);
  ASSERT_TRUE(r.ok) << r.error;
  auto [in2, out2, sock2] = counts();
  EXPECT_EQ(in2, in1 + 7) << "cgroup_skb ingress";
  EXPECT_EQ(out2, out1 + 7) << "cgroup_skb egress";
  EXPECT_EQ(sock2, sock1 + 3) << "cgroup/sock_create";
  // Bytes at the cgroup hooks: the IP packet (20 + 8 + 100 bytes).
  EXPECT_GE(read_counter(map_pin("cg-out"), 1).value_or(0), 7u * 128u);

  for (auto& [n, l] : links) {
    const std::string file = n == "cg-in" ? "in.toml" : n == "cg-out" ? "out.toml" : "sock.toml";
    expect_removed(file, n, l.prog_id);
  }
  const auto after = run({"bpftool", "-j", "cgroup", "show", cgroup_->path()});
  EXPECT_EQ(after.out.find("\"id\""), std::string::npos) << "programs left on the cgroup: " << after.out;
}

TEST_F(CgroupTypes, ForeignCgroupProgramIsLeftAlone) {
  // Another loader's program on the same cgroup and hook (attached with bpftool, multi) keeps
  // running while ours comes and goes.
  const std::string foreign_pin = "/sys/fs/bpf/" + unique_name("foreign-cg");
  const auto load = run({"bpftool", "prog", "loadall", obj("cgroup_counter"), foreign_pin});
  ASSERT_EQ(load.rc, 0) << load.describe();
  std::string foreign_prog;
  for (const auto& f : list_dir(foreign_pin))
    if (f.find("ingress") != std::string::npos) foreign_prog = foreign_pin + "/" + f;
  ASSERT_FALSE(foreign_prog.empty()) << "bpftool pinned no ingress program under " << foreign_pin;
  const auto foreign_id = raw_pinned_prog_id(foreign_prog);
  ASSERT_TRUE(foreign_id) << foreign_prog;
  const auto att = run({"bpftool", "cgroup", "attach", cgroup_->path(), "ingress", "pinned", foreign_prog, "multi"});
  ASSERT_EQ(att.rc, 0) << att.describe();

  ASSERT_TRUE(start_daemon());
  write_manifest("in.toml", cgroup_skb("cg-in", "ingress"));
  const auto p = wait_settled("cg-in");
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  const auto our_id = raw_pinned_prog_id(prog_pin("cg-in"));
  ASSERT_TRUE(our_id);
  auto listed = [&](std::uint32_t id) {
    return run({"bpftool", "-j", "cgroup", "show", cgroup_->path()}).out.find("\"id\":" + std::to_string(id)) !=
           std::string::npos;
  };
  EXPECT_TRUE(listed(*foreign_id));
  EXPECT_TRUE(listed(*our_id));
  const auto r = run_socket_child(cgroup_->path(), net_->path_a(), 0, 3, 10);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(read_counter(map_pin("cg-in"), 0).value_or(0), 3u) << "ours ran after the foreign program allowed";

  remove_manifest("in.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("cg-in")); }, 5s)) << diag();
  EXPECT_TRUE(listed(*foreign_id)) << "the foreign program was detached";
  EXPECT_FALSE(listed(*our_id));
  (void)run({"bpftool", "cgroup", "detach", cgroup_->path(), "ingress", "pinned", foreign_prog});
  remove_tree(foreign_pin);
}

TEST_F(CgroupTypes, NotACgroupIsAFailedAttachPoint) {
  ASSERT_TRUE(start_daemon());
  write_manifest("in.toml", program_manifest("cg-bad", "cgroup_skb", "cgroup_skb_ingress_count", "cgroup_counter",
                                             "cgroup = \"" + work_dir_ + "\"\ndirection = \"ingress\"\n"));
  const auto p = wait_settled("cg-bad");
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("state", ""), "failed") << p->dump();
  EXPECT_NE((*p)["attachments"][0].value("error", "").find("is not a cgroup v2 directory"), std::string::npos)
      << p->dump();
}

class CgroupDrift : public CgroupTypes {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--check-interval", "1"}; }
};

// A cgroup removed and made again (a service restarted by systemd): the kernel detached our link
// with the old cgroup; the periodic check sees the link dead and attaches to the new directory.
TEST_F(CgroupDrift, RemovedAndRecreatedCgroupIsAttachedAgain) {
  ASSERT_TRUE(start_daemon());
  write_manifest("in.toml", cgroup_skb("cg-in", "ingress"));
  const auto p = wait_settled("cg-in");
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  std::string why;
  const auto first = the_link("cg-in", why);
  ASSERT_TRUE(first) << why;
  ASSERT_EQ(::rmdir(cgroup_->path().c_str()), 0) << std::strerror(errno);
  ASSERT_EQ(::mkdir(cgroup_->path().c_str(), 0755), 0) << std::strerror(errno);
  std::optional<RawLink> again;
  EXPECT_TRUE(wait_until([&] {
    again = the_link("cg-in", why);
    return again && again->id != first->id &&
           run({"bpftool", "-j", "cgroup", "show", cgroup_->path()}).out.find(
               "\"id\":" + std::to_string(first->prog_id)) != std::string::npos;
  }, 15s)) << "not attached to the new cgroup: " << why << diag();
  const auto c0 = read_counter(map_pin("cg-in"), 0);
  ASSERT_TRUE(c0);
  const auto r = run_socket_child(cgroup_->path(), net_->path_a(), 0, 3, 10);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(read_counter(map_pin("cg-in"), 0).value_or(0), *c0 + 3);
}

// ---------------------------------------------------------------------------------------------
// A type the kernel lacks: reported in status, the others keep running.

TEST_F(Types, UnavailableTypeIsReportedWhileOthersRun) {
  ASSERT_TRUE(start_daemon());
  write_manifest("raw.toml", program_manifest("raw-ok", "raw_tracepoint", "raw_tp_count", "raw_tp_counter",
                                              "tracepoint = \"sys_enter\"\n"));
  write_manifest("kp.toml", program_manifest("kp", "kprobe", "kprobe_count", "kprobe_counter",
                                             "function = \"" + std::string(kProbedFunction) + "\"\n"));
  write_manifest("fe.toml", program_manifest("fe", "fentry", "fentry_count", "kprobe_counter",
                                             "function = \"" + std::string(kProbedFunction) + "\"\n"));
  const auto raw = wait_settled("raw-ok");
  const auto kp = wait_settled("kp");
  const auto fe = wait_settled("fe");
  ASSERT_TRUE(raw && kp && fe) << diag();
  ASSERT_EQ(raw->value("state", ""), "attached") << raw->dump() << diag();
  std::vector<json> unavailable;
  for (const auto& p : {*kp, *fe})
    if (p.value("error", "").find(kUnavailable) != std::string::npos) unavailable.push_back(p);
  if (unavailable.empty()) GTEST_SKIP() << "kprobe and fentry are both available on this kernel";
  for (const auto& p : unavailable) {
    SCOPED_TRACE(p.value("name", ""));
    EXPECT_EQ(p.value("state", ""), "failed");
    // "<type> programs are not available on this kernel: <probed reason>"
    EXPECT_EQ(p.value("error", "").rfind(p.value("type", "") + " " + kUnavailable, 0), 0u) << p.dump();
    EXPECT_FALSE(path_exists(pin_dir(p.value("name", ""))));
    const auto obj = get_property(std::string(kProgramPathPrefix) + p.value("name", ""), kProgramIface, "Error");
    ASSERT_TRUE(obj);
  }
  EXPECT_EQ(describe_or_fail().value("state", ""), "degraded");
  // The other program runs, and keeps running through a reload.
  const auto c0 = read_counter(map_pin("raw-ok"), 0);
  ASSERT_TRUE(c0);
  trigger_getpid(5);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("raw-ok"), 0).value_or(0) >= *c0 + 5; }, 3s));
  const auto id = raw_pinned_prog_id(prog_pin("raw-ok"));
  ASSERT_EQ(call_reload().rc, 0);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("raw-ok")), id) << "a reload must not touch the running program";
  EXPECT_TRUE(daemon().alive());
}

// fentry/fexit bind their function at load: changing it replaces the program (new kernel id),
// and the new program is attached before the old one goes.
TEST_F(Types, FentryFunctionChangeReloadsTheProgram) {
  ASSERT_TRUE(start_daemon());
  write_manifest("fe.toml", program_manifest("fe", "fentry", "fentry_count", "kprobe_counter",
                                             "function = \"" + std::string(kProbedFunction) + "\"\n"));
  const auto p = wait_settled("fe");
  ASSERT_TRUE(p) << diag();
  if (p->value("error", "").find(kUnavailable) != std::string::npos) GTEST_SKIP() << p->value("error", "");
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  const auto id1 = raw_pinned_prog_id(prog_pin("fe"));
  ASSERT_TRUE(id1);
  write_manifest("fe.toml", program_manifest("fe", "fentry", "fentry_count", "kprobe_counter",
                                             "function = \"do_sys_openat2\"\n"));
  std::optional<std::uint32_t> id2;
  ASSERT_TRUE(wait_until([&] {
    id2 = raw_pinned_prog_id(prog_pin("fe"));
    const auto d = find_program(describe_or_fail(), "fe");
    return id2 && *id2 != *id1 && d && d->value("state", "") == "attached";
  }, 5s)) << diag();
  const auto c0 = read_counter(map_pin("fe"), 0);
  ASSERT_TRUE(c0);
  for (int i = 0; i < 5; ++i) ::close(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("fe"), 0).value_or(0) >= *c0 + 5; }, 3s));
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id1); }, 5s)) << prog_holders(*id1);
}

}  // namespace
}  // namespace it
