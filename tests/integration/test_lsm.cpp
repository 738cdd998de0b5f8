// lsm: a program on the LSM hook file_open counts the opens of one process exactly (its pid set
// through global_data), never denies any, and goes away with its manifest; an unknown hook fails
// its program with the hook's name. Where the kernel has no usable bpf LSM (lockdown refuses
// BPF_PROG_TYPE_LSM; `bpf` is not an active LSM) the tests skip with the daemon's probed reason.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

namespace it {
namespace {

constexpr std::uint32_t kLinkTracing = 2;  // BPF_LINK_TYPE_TRACING
constexpr const char* kUnavailable = "programs are not available on this kernel: ";
constexpr int kOpens = 17;

/// A forked child that waits for go(), then opens /dev/null `kOpens` times and exits: its pid is
/// known before the program is attached, and nothing else runs in it. Closing without go() makes
/// it exit without opening anything.
class OpeningChild {
 public:
  OpeningChild() {
    if (::pipe2(go_, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(go_[1]);
      char c;
      if (::read(go_[0], &c, 1) == 1)
        for (int i = 0; i < kOpens; ++i) ::close(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      ::_exit(0);
    }
    ::close(go_[0]);
  }
  ~OpeningChild() { finish(false); }
  pid_t pid() const { return pid_; }
  /// Lets the child open its files (or not) and waits for it; true when it exited 0.
  bool finish(bool open_files) {
    if (pid_ <= 0) return false;
    if (open_files) (void)!::write(go_[1], "g", 1);
    ::close(go_[1]);
    int status = 0;
    const bool ok = ::waitpid(pid_, &status, 0) == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    pid_ = -1;
    return ok;
  }

 private:
  int go_[2] = {-1, -1};
  pid_t pid_ = -1;
};

class Lsm : public ReconcilerTest {
 protected:
  std::string manifest(const std::string& name, const std::string& hook, pid_t pid) {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"lsm\"\n"
           "bpf_function = \"lsm_count\"\n"
           "bytecode = { path = \"" + obj("lsm_counter") + "\" }\n"
           "global_data = { target_pid = " + std::to_string(pid) + " }\n"
           "[[program.attach]]\n"
           "hook = \"" + hook + "\"\n";
  }
  std::optional<json> wait_settled(const std::string& name) {
    return wait_program(name, [](const json& p) {
      const auto s = p.value("state", "");
      return s == "attached" || s == "failed" || s == "partial";
    });
  }
};

TEST_F(Lsm, FileOpenCountsOneProcessExactly) {
  OpeningChild child;
  ASSERT_GT(child.pid(), 0) << "fork failed";
  ASSERT_TRUE(start_daemon());
  write_manifest("lsm.toml", manifest("lsm-open", "file_open", child.pid()));
  const auto p = wait_settled("lsm-open");
  ASSERT_TRUE(p) << diag();
  const std::string error = p->value("error", "");
  if (p->value("state", "") == "failed" && error.find(kUnavailable) != std::string::npos) {
    EXPECT_FALSE(path_exists(pin_dir("lsm-open"))) << "an unavailable type must leave no pins";
    GTEST_SKIP() << error;
  }
  ASSERT_EQ(p->value("state", ""), "attached") << p->dump() << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump();
  EXPECT_EQ((*p)["attachments"][0].value("mechanism", ""), "link");
  EXPECT_EQ((*p)["attachments"][0].value("target", ""), "file_open");
  const auto pins = list_dir(links_dir("lsm-open"));
  ASSERT_EQ(pins.size(), 1u) << diag();
  const auto link = raw_pinned_link(links_dir("lsm-open") + "/" + pins[0]);
  const auto prog = raw_pinned_prog_id(prog_pin("lsm-open"));
  ASSERT_TRUE(link && prog) << diag();
  EXPECT_EQ(link->prog_id, *prog);
  EXPECT_EQ(link->type, kLinkTracing);

  const auto all0 = read_counter(map_pin("lsm-open"), 0);
  const auto mine0 = read_counter(map_pin("lsm-open"), 1);
  ASSERT_TRUE(all0 && mine0) << diag();
  EXPECT_EQ(*mine0, 0u);
  ASSERT_TRUE(child.finish(true)) << "the child did not exit cleanly";
  EXPECT_EQ(read_counter(map_pin("lsm-open"), 1).value_or(0), static_cast<std::uint64_t>(kOpens))
      << "file_open calls of the target process";
  // Opens of every other process count in [0] only; ours (the child is gone) too.
  for (int i = 0; i < 5; ++i) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << "open denied";
    ::close(fd);
  }
  EXPECT_GE(read_counter(map_pin("lsm-open"), 0).value_or(0), *all0 + kOpens + 5);
  EXPECT_EQ(read_counter(map_pin("lsm-open"), 1).value_or(0), static_cast<std::uint64_t>(kOpens));

  remove_manifest("lsm.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("lsm-open")); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return links_of_prog(*prog).empty(); }, 5s)) << all_links().dump();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*prog); }, 5s)) << prog_holders(*prog);
}

TEST_F(Lsm, UnknownHookFailsTheProgramNamingIt) {
  ASSERT_TRUE(start_daemon());
  write_manifest("lsm.toml", manifest("lsm-nope", "no_such_hook", 0));
  const auto p = wait_settled("lsm-nope");
  ASSERT_TRUE(p) << diag();
  const std::string error = p->value("error", "");
  if (error.find(kUnavailable) != std::string::npos) GTEST_SKIP() << error;
  EXPECT_EQ(p->value("state", ""), "failed") << p->dump();
  EXPECT_NE(error.find("bpf_lsm_no_such_hook"), std::string::npos) << p->dump();
  EXPECT_FALSE(path_exists(links_dir("lsm-nope")) && !list_dir(links_dir("lsm-nope")).empty()) << diag();
  EXPECT_TRUE(daemon().alive());
}

}  // namespace
}  // namespace it
