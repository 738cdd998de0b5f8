// The test fixture: per test one private bus, one netns pair, one programs.d, one pin root and
// one daemon, with helpers to write manifests and wait for the daemon's view.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/bus.h"
#include "harness/common.h"
#include "harness/daemon.h"
#include "harness/files.h"
#include "harness/netns.h"
#include "harness/objects.h"

namespace it {

/// Base of the suite's tests: SetUp makes the bus, netns pair and directories; TearDown stops
/// the daemon (a failure if it died or did not exit cleanly), keeps its log and removes it all.
class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Extra daemon flags (e.g. --tc-mechanism tc); used by start_daemon().
  virtual std::vector<std::string> daemon_flags() const { return {}; }

  /// Starts the daemon on this test's programs.d and pin root (debug log, daemon_flags()).
  ::testing::AssertionResult start_daemon();
  std::string stop_daemon() { return daemon_->stop(); }
  Daemon& daemon() { return *daemon_; }

  void write_manifest(const std::string& file, const std::string& toml) {
    write_file_atomic(programs_dir_, file, toml);
  }
  void remove_manifest(const std::string& file);
  std::string manifest_path(const std::string& file) const { return programs_dir_ + "/" + file; }

  std::string pin_dir(const std::string& prog) const { return pin_root_ + "/" + prog; }
  std::string prog_pin(const std::string& prog) const { return pin_dir(prog) + "/prog"; }
  std::string map_pin(const std::string& prog, const std::string& map = "counts") const {
    return pin_dir(prog) + "/maps/" + map;
  }
  std::string links_dir(const std::string& prog) const { return pin_dir(prog) + "/links"; }

  /// Describe(), or an empty object (with a recorded failure) when the call fails.
  json describe_or_fail();
  /// Waits until Describe lists `name` and pred(program) holds; returns the last program seen.
  std::optional<json> wait_program(const std::string& name,
                                   const std::function<bool(const json&)>& pred,
                                   std::chrono::milliseconds timeout = 5s);
  /// Waits until the program `name` is pinned and its pinned id is the only XDP program on
  /// veth-a in netns a. Returns the id.
  std::optional<std::uint32_t> wait_xdp_attached(const std::string& name,
                                                 std::chrono::milliseconds timeout = 5s);
  /// Lots of context for a failure message: Describe, net show, pins.
  std::string diag();

  /// Standard manifests.
  std::string xdp_manifest(const std::string& name, int sample_every = 1,
                           const std::string& object = "xdp_counter",
                           const std::string& function = "xdp_count") const;
  std::string tc_manifest(const std::string& name, const std::string& direction) const;
  std::string tracepoint_manifest(const std::string& name, const std::string& tp) const;
  std::string uprobe_manifest(const std::string& name, const std::string& type,
                              const std::string& target, const std::string& function) const;
  static std::string obj(const std::string& name) { return bpf_object_path(name); }

  std::string work_dir_;
  std::string programs_dir_;
  std::string pin_root_;
  std::string log_path_;
  std::unique_ptr<NetnsPair> net_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace it
