// Child processes: one-shot commands with captured output (also inside a netns), long-running
// background commands, and polling until a condition holds.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "harness/common.h"

namespace it {

/// What a finished command left: exit status and captured output.
struct CmdResult {
  int rc = -1;  ///< exit status, or 128+signal, or -1 when it could not be started
  std::string out;
  std::string err;
  /// "rc=N\nstdout:...\nstderr:..." for failure messages.
  std::string describe() const;
};

/// Runs argv (PATH lookup), captures stdout and stderr; kills it after `timeout`.
CmdResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s);
/// Runs argv inside the network namespace /run/netns/<ns> (nsenter --net; /sys stays ours).
CmdResult run_in_netns(const std::string& ns, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = 30s);
/// Polls pred every `step` until it returns true or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 20ms);

/// A long-running command (e.g. ping) with PR_SET_PDEATHSIG; SIGTERM + reap on destruction.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::vector<std::string>& argv, const std::string& log = "/dev/null");
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  /// Whether it is still running (reaps it once it has exited).
  bool alive();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace it
