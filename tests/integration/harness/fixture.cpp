#include "harness/fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "harness/daemon_api.h"
#include "harness/env.h"
#include "harness/internal.h"
#include "harness/kernel_tools.h"
#include "harness/manifests.h"
#include "harness/process.h"

namespace fs = std::filesystem;

namespace it {

using detail::errno_text;

void ReconcilerTest::SetUp() {
  if (!skip_reason().empty()) GTEST_SKIP() << skip_reason();
  ASSERT_TRUE(fatal_reason().empty()) << fatal_reason();

  work_dir_ = make_temp_dir("bpfrec-it-");
  programs_dir_ = work_dir_ + "/programs.d";
  ASSERT_EQ(::mkdir(programs_dir_.c_str(), 0755), 0) << errno_text("mkdir programs.d");
  log_path_ = work_dir_ + "/daemon.log";
  pin_root_ = "/sys/fs/bpf/" + unique_name("it");
  ASSERT_EQ(::mkdir(pin_root_.c_str(), 0700), 0) << errno_text("mkdir " + pin_root_);

  net_ = std::make_unique<NetnsPair>();
  ASSERT_TRUE(net_->ok()) << net_->error();
  bus_ = std::make_unique<Bus>(work_dir_);
  ASSERT_TRUE(bus_->ok()) << bus_->error();
  ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
  daemon_ = std::make_unique<Daemon>();
}

::testing::AssertionResult ReconcilerTest::start_daemon() {
  // --log-level is an option of the top-level command (CLI11), so it goes before `daemon`.
  std::vector<std::string> args = {"--log-level", "debug", "daemon", "--programs-dir", programs_dir_,
                                   "--pin-root", pin_root_, "--state-dir", work_dir_ + "/state"};
  const auto flags = daemon_flags();
  // The tests that watch one program on a hook (pinned id == the hook's id) ask for one program
  // per interface: where the kernel allows freplace (the VM), `auto` would put it in libxdp's
  // dispatcher as a separate component. test_xdp_shared.cpp tests the dispatcher.
  if (std::find(flags.begin(), flags.end(), "--xdp-mechanism") == flags.end())
    args.insert(args.end(), {"--xdp-mechanism", "single"});
  for (const auto& f : flags) args.push_back(f);
  return daemon_->start(args, log_path_);
}

void ReconcilerTest::TearDown() {
  bool died = false;
  std::string exit_text;
  if (daemon_) {
    died = daemon_->pid() > 0 && !daemon_->alive() && !daemon_->stopped_by_harness();
    exit_text = daemon_->exit_text();
    const std::string how = daemon_->stop();
    if (!died && daemon_->pid() > 0 && how != "exit 0")
      ADD_FAILURE() << "daemon did not exit cleanly on SIGTERM at teardown: " << how;
  }
  if (died)
    ADD_FAILURE() << "the daemon exited on its own during the test (" << exit_text << ")";
  // BPFREC_IT_KEEP_LOGS=1 keeps the daemon's log of passing tests too (to compare with a failure).
  const bool keep_all = std::getenv("BPFREC_IT_KEEP_LOGS") != nullptr;
  if ((HasFailure() || keep_all) && !log_path_.empty() && path_exists(log_path_)) {
    // Keep the whole log (the work dir goes away); on failure print it without libbpf's chatter.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string keep_dir = "/tmp/bpfrec-it-logs";
    ::mkdir(keep_dir.c_str(), 0755);
    const std::string keep = keep_dir + "/" + info->test_suite_name() + "." + info->name() + "." +
                             std::to_string(::getpid()) + ".log";
    std::error_code ec;
    fs::copy_file(log_path_, keep, fs::copy_options::overwrite_existing, ec);
    if (HasFailure()) {
      std::vector<std::string> lines;
      std::stringstream ss(read_file(log_path_));
      std::string line;
      while (std::getline(ss, line))
        if (line.find("debug: libbpf:") == std::string::npos && line.find("debug: libxdp:") == std::string::npos)
          lines.push_back(line);
      constexpr std::size_t kMax = 150;
      std::string excerpt = lines.size() > kMax ? "[... " + std::to_string(lines.size() - kMax) + " lines]\n" : "";
      for (std::size_t i = lines.size() > kMax ? lines.size() - kMax : 0; i < lines.size(); ++i)
        excerpt += lines[i] + "\n";
      std::fprintf(stderr, "---- daemon log without libbpf/libxdp debug lines (full log: %s) ----\n%s"
                   "---- end of daemon log ----\n", keep.c_str(), excerpt.c_str());
    }
  }
  daemon_.reset();
  bus_.reset();
  ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  net_.reset();  // deleting the namespaces detaches whatever XDP/TC is left on the veths
  if (!pin_root_.empty()) remove_tree(pin_root_);  // unpins leftover links (tracepoints, uprobes)
  if (!work_dir_.empty()) remove_tree(work_dir_);
}

void ReconcilerTest::remove_manifest(const std::string& file) {
  ASSERT_EQ(::unlink(manifest_path(file).c_str()), 0) << errno_text("unlink " + file);
}

json ReconcilerTest::describe_or_fail() {
  try {
    return describe();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
    return json::object();
  }
}

std::optional<json> ReconcilerTest::wait_program(const std::string& name,
                                                 const std::function<bool(const json&)>& pred,
                                                 std::chrono::milliseconds timeout) {
  std::optional<json> last;
  const bool ok = wait_until(
      [&] {
        try {
          last = find_program(describe(), name);
        } catch (const std::exception&) {
          last.reset();
        }
        return last && pred(*last);
      },
      timeout, 50ms);
  if (!ok) return std::nullopt;
  return last;
}

std::optional<std::uint32_t> ReconcilerTest::wait_xdp_attached(const std::string& name,
                                                               std::chrono::milliseconds timeout) {
  std::optional<std::uint32_t> id;
  const bool ok = wait_until(
      [&] {
        id = pinned_prog_id(prog_pin(name));
        if (!id) return false;
        const auto ids = xdp_prog_ids(net_->a, net_->if_a);
        return ids.size() == 1 && ids[0] == *id;
      },
      timeout);
  if (!ok) return std::nullopt;
  return id;
}

std::string ReconcilerTest::diag() {
  std::string out = "\n--- diagnostics ---\nDescribe: ";
  try {
    out += describe().dump(2);
  } catch (const std::exception& e) {
    out += e.what();
  }
  if (net_) {
    out += "\nnet show " + net_->a + ": " +
           run_in_netns(net_->a, {"bpftool", "-j", "net", "show", "dev", net_->if_a}).out;
    out += "\ntc filters ingress: " +
           run_in_netns(net_->a, {"tc", "filter", "show", "dev", net_->if_a, "ingress"}).out;
  }
  out += "\npins: " + run({"find", pin_root_}).out;
  out += "\nmanifests: " + run({"ls", "-la", programs_dir_}).out;
  return out;
}

std::string ReconcilerTest::xdp_manifest(const std::string& name, int sample_every,
                                         const std::string& object,
                                         const std::string& function) const {
  const std::string path = object.find('/') == std::string::npos ? obj(object) : object;
  return xdp_manifest_text(name, net_->if_a, net_->path_a(), sample_every, path, function);
}

std::string ReconcilerTest::tc_manifest(const std::string& name, const std::string& direction) const {
  return tc_manifest_text(name, net_->if_a, net_->path_a(), direction);
}

std::string ReconcilerTest::tracepoint_manifest(const std::string& name, const std::string& tp) const {
  return tracepoint_manifest_text(name, tp);
}

std::string ReconcilerTest::uprobe_manifest(const std::string& name, const std::string& type,
                                            const std::string& target,
                                            const std::string& function) const {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"" + type + "\"\n"
         "bpf_function = \"uprobe_count\"\n"
         "bytecode = { path = \"" + obj("uprobe_counter") + "\" }\n"
         "[[program.attach]]\n"
         "target = \"" + target + "\"\n"
         "function = \"" + function + "\"\n";
}

}  // namespace it
