// A cgroup v2 directory made for one test, and a forked child that runs a piece of socket code
// inside it (and inside one of the test's network namespaces): what the cgroup socket program
// tests (cgroup_sock_addr, sockops) need to make their programs fire on real sockets.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "harness.h"

namespace it {

/// A cgroup v2 directory made for one test (under the host's cgroup2 mount, or a cgroup2 mounted
/// in the test's private mount namespace); removed on destruction once empty.
class ScratchCgroup {
 public:
  ScratchCgroup() {
    std::string root = cgroup2_mount();
    if (root.empty()) {
      // The suite runs in its own mount namespace: a private cgroup2 mount is invisible outside.
      root = "/run/bpfrec-it-cgroup2";
      ::mkdir(root.c_str(), 0755);
      if (::mount("cgroup2", root.c_str(), "cgroup2", 0, nullptr) != 0) {
        error_ = "no cgroup2 mounted, and mounting one failed: " + std::string(std::strerror(errno));
        return;
      }
    }
    path_ = root + "/" + unique_name("bpfrec-it-");
    if (::mkdir(path_.c_str(), 0755) != 0) {
      error_ = "mkdir " + path_ + ": " + std::strerror(errno);
      path_.clear();
    }
  }
  ~ScratchCgroup() {
    if (!path_.empty()) (void)wait_until([&] { return ::rmdir(path_.c_str()) == 0 || errno == ENOENT; }, 2s);
  }
  ScratchCgroup(const ScratchCgroup&) = delete;
  ScratchCgroup& operator=(const ScratchCgroup&) = delete;

  /// Non-empty when no cgroup could be made (the test skips with it).
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

  /// The first cgroup2 mount in /proc/self/mountinfo whose root is "/" ("" when there is none).
  static std::string cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      const auto dash = line.find(" - ");
      if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
      std::istringstream f(line);
      std::string id, parent, dev, root, mnt;
      f >> id >> parent >> dev >> root >> mnt;
      if (root == "/") return mnt;
    }
    return {};
  }

 private:
  std::string path_;
  std::string error_;
};

/// What a child run reported: ok when the body ran to its end; `text` is what it returned (or
/// why it failed).
struct ChildRun {
  bool ok = false;
  std::string text;
};

/// Forks a child that joins `cgroup` (none when empty), enters the network namespace file
/// `netns_path`, runs `body` and sends back what it returns (up to 4 KiB). `body` runs in the
/// child only: it may block, but must not touch the test's state.
inline ChildRun run_child_in(const std::string& cgroup, const std::string& netns_path,
                             const std::function<std::string()>& body) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {false, "pipe2 failed"};
  const pid_t pid = ::fork();
  if (pid < 0) return {false, "fork failed"};
  if (pid == 0) {
    ::close(pipefd[0]);
    auto die = [&](const char* what) {
      const std::string msg = std::string(what) + ": " + std::strerror(errno);
      (void)!::write(pipefd[1], msg.data(), msg.size());
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
    const std::string out = body();
    (void)!::write(pipefd[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok && text.empty()) text = "child failed";
  return {ok, text};
}

}  // namespace it
