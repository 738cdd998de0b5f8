// Crash safety and churn.
//
// Crash: a reconcile of ~30-40 tracepoint programs across four manifests plus an XDP and a TCX
// program, with programs added, changed (global_data) and removed; SIGKILL at a random moment
// 0..200 ms after the manifests are written; restart; after Reload() the kernel holds exactly
// the desired programs, nothing else under the pin root, and no program of ours is loaded that
// is not pinned. Programs are loaded from copies of the example objects whose functions are
// renamed to names unique to this process, so the kernel's whole program list can be searched
// for leaks without ever seeing another loader's (or another test run's) programs.
//
// Churn: one manifest rewritten 1000 times within ~2 s; the final state equals the last content,
// nothing leaked, and the number of reconciles (Generation) is far below 1000 (coalescing).
#include <signal.h>

#include <cstdlib>
#include <random>
#include <set>

#include "harness.h"

namespace it {
namespace {

std::string hex(std::uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, v);
  return std::string(buf).substr(0, static_cast<std::size_t>(digits));
}

class Crash : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::random_device rd;
    const std::uint32_t tag = rd() & 0x0fffffffu;
    // Same lengths as the originals (tracepoint_count 16, xdp_count 9, tc_count 8).
    tp_fn_ = "tk" + hex(tag, 8) + "_crash";
    xdp_fn_ = "x" + hex(tag, 8);
    tc_fn_ = "t" + hex(tag, 7);
    tp_obj_ = work_dir_ + "/tp.bpf.o";
    xdp_obj_ = work_dir_ + "/xdp.bpf.o";
    tc_obj_ = work_dir_ + "/tc.bpf.o";
    ASSERT_TRUE(make_renamed_object(obj("tracepoint_counter"), "tracepoint_count", tp_fn_, tp_obj_));
    ASSERT_TRUE(make_renamed_object(obj("xdp_counter"), "xdp_count", xdp_fn_, xdp_obj_));
    ASSERT_TRUE(make_renamed_object(obj("tc_counter"), "tc_count", tc_fn_, tc_obj_));
  }

  std::vector<std::string> kernel_names() const { return {tp_fn_, xdp_fn_, tc_fn_}; }

  std::string tp_program(const std::string& name, std::uint32_t sample_every, const std::string& tp) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"tracepoint\"\n"
           "bpf_function = \"" + tp_fn_ + "\"\n"
           "bytecode = { path = \"" + tp_obj_ + "\" }\n"
           "global_data = { sample_every = " + std::to_string(sample_every) + " }\n"
           "[[program.attach]]\n"
           "tracepoint = \"" + tp + "\"\n";
  }
  std::string tc_program(const std::string& name, std::uint32_t sample_every) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"tc\"\n"
           "bpf_function = \"" + tc_fn_ + "\"\n"
           "bytecode = { path = \"" + tc_obj_ + "\" }\n"
           "global_data = { sample_every = " + std::to_string(sample_every) + " }\n"
           "[[program.attach]]\n"
           "interface = \"" + net_->if_a + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "direction = \"ingress\"\n";
  }

  /// Fails (with every problem) unless the pin root and kernel match `want` exactly.
  ::testing::AssertionResult matches(const std::vector<ExpectedProgram>& want) {
    const auto problems = check_pin_root_exact(pin_root_, want, kernel_names());
    if (problems.empty()) return ::testing::AssertionSuccess();
    auto r = ::testing::AssertionFailure();
    for (const auto& p : problems) r << "\n  - " << p;
    return r;
  }

  std::string tp_fn_, xdp_fn_, tc_fn_;
  std::string tp_obj_, xdp_obj_, tc_obj_;
};

std::optional<std::uint64_t> generation() {
  const auto g = get_property(kManagerPath, kManagerIface, "Generation");
  if (!g || !g->is_number()) return std::nullopt;
  return g->get<std::uint64_t>();
}

/// The desired state of one trial.
struct Desired {
  static constexpr int kManifests = 4;
  static constexpr int kPerManifest = 10;
  // tracepoint program (m, i) -> sample_every, 0 = absent
  std::uint32_t tp[kManifests][kPerManifest] = {};
  std::uint32_t xdp = 0;  // 0 = absent
  std::uint32_t tc = 0;
};

TEST_F(Crash, SigkillDuringLargeReconcileLeavesExactlyTheDesiredState) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  int trials = 50;
  if (const char* e = std::getenv("BPFREC_IT_CRASH_TRIALS")) trials = std::max(1, std::atoi(e));
  std::mt19937 rng(std::random_device{}());
  std::printf("[info] crash test: %d trials, programs %s/%s/%s\n", trials, tp_fn_.c_str(), xdp_fn_.c_str(),
              tc_fn_.c_str());
  const char* tracepoints[] = {"syscalls/sys_enter_getppid", "syscalls/sys_enter_getpgid",
                               "syscalls/sys_enter_sched_yield", "syscalls/sys_exit_getppid"};

  ASSERT_TRUE(start_daemon());
  Desired d;
  // Start large: ~75 % of the pool, then every trial adds, removes and changes a few programs.
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto se = [&] { return static_cast<std::uint32_t>(std::uniform_int_distribution<int>(1, 5)(rng)); };
  for (auto& m : d.tp)
    for (auto& v : m) v = chance(0.75) ? se() : 0;
  d.xdp = se();
  d.tc = se();

  // BPFREC_IT_CRASH_KINDS=tp,tc,xdp (default all) narrows the programs, to isolate a failure.
  const std::string kinds = std::getenv("BPFREC_IT_CRASH_KINDS") ? std::getenv("BPFREC_IT_CRASH_KINDS") : "tp,tc,xdp";
  if (kinds.find("xdp") == std::string::npos) d.xdp = 0;
  if (kinds.find("tc") == std::string::npos) d.tc = 0;
  if (kinds.find("tp") == std::string::npos)
    for (auto& m : d.tp)
      for (auto& v : m) v = 0;
  int before = 0, during = 0, after = 0;
  int done = 0;  // where the kill landed, from the killed run's log
  double max_settle_ms = 0;
  const auto t_start = std::chrono::steady_clock::now();
  for (int trial = 0; trial < trials && !HasFailure(); ++trial) {
    if (trial > 0) {
      for (auto& m : d.tp)
        for (auto& v : m) {
          if (chance(0.07)) v = v ? 0 : se();             // add or remove
          else if (v && chance(0.07)) v = v % 5 + 1;       // change global_data: replace
        }
      if (chance(0.35)) d.xdp = d.xdp && chance(0.3) ? 0 : (d.xdp % 5 + 1);
      if (chance(0.35)) d.tc = d.tc && chance(0.3) ? 0 : (d.tc % 5 + 1);
      if (kinds.find("xdp") == std::string::npos) d.xdp = 0;
      if (kinds.find("tc") == std::string::npos) d.tc = 0;
      if (kinds.find("tp") == std::string::npos)
        for (auto& m : d.tp)
          for (auto& v : m) v = 0;
    }
    // Write every manifest (an absent manifest file = all its programs removed).
    std::vector<ExpectedProgram> want;
    for (int m = 0; m < Desired::kManifests; ++m) {
      std::string content;
      for (int i = 0; i < Desired::kPerManifest; ++i) {
        if (!d.tp[m][i]) continue;
        const std::string name = "c" + std::to_string(m) + "-p" + std::to_string(i);
        content += tp_program(name, d.tp[m][i], tracepoints[m]);
        ExpectedProgram e;
        e.name = name;
        e.kind = ExpectedProgram::Tracepoint;
        e.sample_every = d.tp[m][i];
        want.push_back(e);
      }
      const std::string file = "m" + std::to_string(m) + ".toml";
      if (content.empty()) {
        if (path_exists(manifest_path(file))) remove_manifest(file);
      } else {
        write_manifest(file, content);
      }
    }
    if (d.xdp) {
      write_manifest("x.toml", xdp_manifest("c-xdp", static_cast<int>(d.xdp), xdp_obj_, xdp_fn_));
      ExpectedProgram e;
      e.name = "c-xdp";
      e.kind = ExpectedProgram::Xdp;
      e.sample_every = d.xdp;
      e.ns = net_->a;
      e.ifname = net_->if_a;
      want.push_back(e);
    } else if (path_exists(manifest_path("x.toml"))) {
      remove_manifest("x.toml");
    }
    if (d.tc) {
      write_manifest("t.toml", tc_program("c-tc", d.tc));
      ExpectedProgram e;
      e.name = "c-tc";
      e.kind = ExpectedProgram::Tcx;
      e.sample_every = d.tc;
      e.ns = net_->a;
      e.ifname = net_->if_a;
      want.push_back(e);
    } else if (path_exists(manifest_path("t.toml"))) {
      remove_manifest("t.toml");
    }
    const std::size_t log_offset = read_file(log_path_).size();

    // Kill at a random moment of the reconcile those writes trigger.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 200)(rng)));
    ASSERT_EQ(daemon().kill_hard(), "signal 9") << "trial " << trial;
    {
      const std::string seg = read_file(log_path_).substr(log_offset);
      if (seg.find("reconciled (") != std::string::npos) ++after;
      else if (seg.find("audit:") != std::string::npos || seg.find("plan:") != std::string::npos) ++during;
      else ++before;
    }

    // Restart and settle: Reload() returns after its reconcile.
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(start_daemon()) << "trial " << trial;
    const auto reload = call_reload();
    ASSERT_EQ(reload.rc, 0) << "trial " << trial << ": " << reload.describe();
    max_settle_ms = std::max(max_settle_ms,
                             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());

    ASSERT_TRUE(matches(want)) << "trial " << trial << " (" << want.size()
                               << " programs desired): the kernel does not hold exactly the desired state"
                               << diag();
    // The daemon's own view agrees (secondary to the kernel checks above).
    const json desc = describe_or_fail();
    EXPECT_EQ(desc.value("state", ""), "idle") << "trial " << trial << ": " << desc.dump(1).substr(0, 3000);
    std::size_t attached = 0;
    for (const auto& p : desc.value("programs", json::array())) attached += p.value("state", "") == "attached";
    EXPECT_EQ(attached, want.size()) << "trial " << trial;
    if (!HasFailure()) ++done;
  }
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("[info] crash test: %d of %d trials passed in %.1f s (%.0f ms per trial); SIGKILL landed before "
              "the reconcile started %d, during it %d, after it %d; slowest restart+settle %.0f ms\n",
              done, trials, total_s, 1000 * total_s / std::max(1, before + during + after), before, during, after,
              max_settle_ms);
  RecordProperty("trials", trials);

  // Negative controls: the checker does see a stray directory and an unpinned program of ours.
  if (!HasFailure()) {
    std::vector<ExpectedProgram> now;
    for (const auto& n : list_dir(pin_root_)) {
      ExpectedProgram e;
      e.name = n;
      now.push_back(e);
    }
    const std::string stray = pin_root_ + "/_staging-zz";
    ASSERT_EQ(::mkdir(stray.c_str(), 0700), 0);
    EXPECT_FALSE(check_pin_root_exact(pin_root_, now, kernel_names(), 0ms).empty())
        << "checker missed " << stray;
    ::rmdir(stray.c_str());
    const std::string leak = "/sys/fs/bpf/" + unique_name("leak");
    const auto r = run({"bpftool", "prog", "load", tp_obj_, leak});
    ASSERT_EQ(r.rc, 0) << r.describe();
    bool found = false;
    for (const auto& p : check_pin_root_exact(pin_root_, {}, kernel_names(), 0ms))
      found |= p.find("(leak)") != std::string::npos;
    EXPECT_TRUE(found) << "checker missed a program loaded outside the pin root";
    ::unlink(leak.c_str());
  }
  RecordProperty("kill_before", before);
  RecordProperty("kill_during", during);
  RecordProperty("kill_after", after);
}

TEST_F(Crash, ChurnThousandRewritesCoalesceAndLeaveTheLastContent) {
  ASSERT_TRUE(start_daemon());
  const auto g0 = generation();
  ASSERT_TRUE(g0);
  auto content = [&](int i) {
    std::string s = tp_program("ch-a", static_cast<std::uint32_t>(1 + i % 4), "syscalls/sys_enter_getppid");
    if (i % 2 == 1) s += tp_program("ch-b", static_cast<std::uint32_t>(1 + i % 5), "syscalls/sys_enter_getppid");
    return s;
  };
  constexpr int kWrites = 1000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kWrites; ++i) {
    write_manifest("churn.toml", content(i));
    std::this_thread::sleep_for(2ms);
  }
  const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The last content (i = 999): ch-a with sample_every 4, ch-b with sample_every 5.
  std::vector<ExpectedProgram> want(2);
  want[0].name = "ch-a";
  want[0].sample_every = 4;
  want[1].name = "ch-b";
  want[1].sample_every = 5;
  // Without Reload(): the inotify-driven reconciles alone must reach the final state.
  EXPECT_TRUE(wait_until([&] { return check_pin_root_exact(pin_root_, want, kernel_names(), 0ms).empty(); }, 5s))
      << "the last content was not applied within 5 s of the last write" << matches(want).message() << diag();
  const auto settled = std::chrono::steady_clock::now();
  const auto reload = call_reload();
  ASSERT_EQ(reload.rc, 0) << reload.describe();
  const auto g1 = generation();
  ASSERT_TRUE(g1);
  const std::uint64_t reconciles = *g1 - *g0 - 1;  // minus the Reload() just made
  EXPECT_TRUE(matches(want)) << diag();
  std::printf("[info] churn: %d rewrites in %.2f s, settled %.0f ms after the last write; %llu reconciles "
              "(Generation %llu -> %llu, minus 1 Reload)\n",
              kWrites, write_s, std::chrono::duration<double, std::milli>(settled - t0).count() - write_s * 1000,
              (unsigned long long)reconciles, (unsigned long long)*g0, (unsigned long long)*g1);
  RecordProperty("churn_reconciles", static_cast<int>(reconciles));
  EXPECT_LE(reconciles, 50u) << "bursts of manifest writes are not coalesced";
  EXPECT_GE(reconciles, 1u);
}

/// The replace of one XDP or TCX program, killed in a narrow random window after the edit (the
/// reconcile starts 10 ms after it; an XDP replace takes ~20-40 ms, a TCX one a few ms): 30 trials.
class CrashHook : public Crash {
 protected:
  void run_trials(bool xdp) {
    if (!xdp && !tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
    std::mt19937 rng(std::random_device{}());
    ASSERT_TRUE(start_daemon());
    const std::string name = xdp ? "h-xdp" : "h-tc";
    const std::string file = "h.toml";
    auto manifest = [&](std::uint32_t se) {
      return xdp ? xdp_manifest(name, static_cast<int>(se), xdp_obj_, xdp_fn_) : tc_program(name, se);
    };
    ExpectedProgram e;
    e.name = name;
    e.kind = xdp ? ExpectedProgram::Xdp : ExpectedProgram::Tcx;
    e.ns = net_->a;
    e.ifname = net_->if_a;
    int trials = 30, during = 0;
    for (int trial = 0; trial < trials && !HasFailure(); ++trial) {
      const std::uint32_t se = static_cast<std::uint32_t>(trial % 5 + 1);
      write_manifest(file, manifest(se));
      const std::size_t log_offset = read_file(log_path_).size();
      std::this_thread::sleep_for(std::chrono::microseconds(xdp ? std::uniform_int_distribution<int>(0, 60000)(rng) : std::uniform_int_distribution<int>(8000, 20000)(rng)));
      ASSERT_EQ(daemon().kill_hard(), "signal 9");
      {
        const std::string seg = read_file(log_path_).substr(log_offset);
        during += seg.find("plan: replace") != std::string::npos && seg.find("reconciled (") == std::string::npos;
      }
      ASSERT_TRUE(start_daemon());
      ASSERT_EQ(call_reload().rc, 0);
      e.sample_every = se;
      ASSERT_TRUE(matches({e})) << "trial " << trial << " (sample_every " << se << ")" << diag();
    }
    std::printf("[info] %s replace killed mid-reconcile in %d of %d trials\n", xdp ? "XDP" : "TCX", during, trials);
  }
};

TEST_F(CrashHook, SigkillDuringXdpReplace) { run_trials(true); }
TEST_F(CrashHook, SigkillDuringTcxReplace) { run_trials(false); }

}  // namespace
}  // namespace it
