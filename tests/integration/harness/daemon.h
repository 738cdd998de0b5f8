// The daemon under test as a child process: one run of `bpfman-reconciler daemon`, started,
// watched, stopped or killed from the outside.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness/common.h"

namespace it {

/// One run of `bpfman-reconciler daemon`, output appended to a log file.
class Daemon {
 public:
  Daemon() = default;
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Starts the process and waits (up to 10 s) until it is started as systemd would see it: the
  /// bus name answers and the first reconcile is complete (Generation >= 1).
  ::testing::AssertionResult start(const std::vector<std::string>& args, const std::string& log);
  /// SIGTERM, waits up to `timeout`, then SIGKILL. Returns the wait status text ("exit 0",
  /// "signal 9", "not running").
  std::string stop(std::chrono::milliseconds timeout = 5s);
  /// Whether it is still running (reaps it if it exited; the status is kept).
  bool alive();
  pid_t pid() const { return pid_; }
  /// Exit status text once it has exited ("exit N" / "signal N"), empty while running.
  const std::string& exit_text() const { return exit_text_; }
  int exit_status() const { return status_; }
  /// Whether the last run ended through stop() rather than on its own.
  bool stopped_by_harness() const { return stopped_; }
  /// SIGKILL (no chance to clean up) and reap. Returns the wait status text ("signal 9").
  std::string kill_hard();
  /// For the next start()s: argv put before the daemon's (e.g. {"setpriv", "--bounding-set=...",
  /// "--"}); empty (the default) runs the daemon directly.
  void set_command_prefix(std::vector<std::string> prefix) { prefix_ = std::move(prefix); }
  /// For the next start()s: environment changes made in the child only (value nullopt: unset).
  void set_environment(std::vector<std::pair<std::string, std::optional<std::string>>> env) {
    env_ = std::move(env);
  }

 private:
  std::vector<std::string> prefix_;
  std::vector<std::pair<std::string, std::optional<std::string>>> env_;
  pid_t pid_ = -1;
  bool stopped_ = false;
  int status_ = 0;
  std::string exit_text_;
};

}  // namespace it
