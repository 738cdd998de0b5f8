#include "harness/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "harness/daemon_api.h"
#include "harness/env.h"
#include "harness/internal.h"
#include "harness/process.h"

namespace it {

using detail::errno_text;

namespace {

std::string wait_text(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

Daemon::~Daemon() { stop(2s); }

::testing::AssertionResult Daemon::start(const std::vector<std::string>& args,
                                         const std::string& log) {
  if (pid_ > 0 && alive()) return ::testing::AssertionFailure() << "daemon already running";
  pid_ = -1;
  stopped_ = false;
  exit_text_.clear();
  std::vector<std::string> argv = prefix_;
  argv.push_back(reconciler_bin());
  argv.insert(argv.end(), args.begin(), args.end());
  std::string cmdline;
  for (const auto& a : argv) cmdline += a + " ";
  {
    std::ofstream out(log, std::ios::app);
    out << "==== [harness] starting: " << cmdline << "\n";
  }
  std::vector<char*> cargs;
  for (const auto& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
  cargs.push_back(nullptr);
  const int logfd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (logfd < 0) return ::testing::AssertionFailure() << errno_text("open " + log);

  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(logfd, 1);
    ::dup2(logfd, 2);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    for (const auto& [name, value] : env_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
    ::execvp(cargs[0], cargs.data());
    std::fprintf(stderr, "exec %s: %s\n", cargs[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(logfd);
  if (pid_ < 0) return ::testing::AssertionFailure() << errno_text("fork");

  CmdResult last;
  const bool up = wait_until(
      [&] {
        if (!alive()) return true;  // stop waiting; reported below
        // Started as systemd sees it (READY=1): the first reconcile is complete (Generation 1).
        // Describe() answers earlier, while that reconcile is applied in slices.
        last = run({"busctl", "--system", "get-property", kService, kManagerPath, kManagerIface, "Generation"}, 5s);
        return last.rc == 0 && last.out.rfind("t ", 0) == 0 && last.out != "t 0\n";
      },
      10s, 50ms);
  if (!alive())
    return ::testing::AssertionFailure()
           << "daemon exited during start-up (" << exit_text_ << "); command: " << cmdline;
  if (!up)
    return ::testing::AssertionFailure()
           << "no first reconcile (Generation >= 1) on the bus within 10 s; last busctl: " << last.describe();
  return ::testing::AssertionSuccess();
}

bool Daemon::alive() {
  if (pid_ <= 0) return false;
  if (!exit_text_.empty()) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    exit_text_ = wait_text(status);
    return false;
  }
  return r == 0;
}

std::string Daemon::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return "not running";
  if (!alive()) return exit_text_;
  stopped_ = true;
  ::kill(pid_, SIGTERM);
  if (!wait_until([&] { return !alive(); }, timeout)) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    exit_text_ = "did not exit on SIGTERM within " + std::to_string(timeout.count()) +
                 " ms; killed (" + wait_text(status) + ")";
  }
  return exit_text_;
}

std::string Daemon::kill_hard() {
  if (pid_ <= 0) return "not running";
  if (!alive()) return exit_text_;
  stopped_ = true;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = status;
  exit_text_ = wait_text(status);
  return exit_text_;
}

}  // namespace it
