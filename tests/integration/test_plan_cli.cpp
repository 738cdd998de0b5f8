// `bpfman-reconciler plan --programs-dir DIR --pin-root ROOT [--json]`: exit 2 when something
// would change, 0 when nothing would, 1 on error; names each program, its action and (--json) its
// steps; changes nothing in the kernel (ids, links, pins and hooks identical before and after).
#include <map>
#include <sstream>
#include <sys/stat.h>

#include "harness.h"

namespace it {
namespace {

class PlanCli : public ReconcilerTest {
 protected:
  CmdResult plan(bool as_json, const std::string& pin_root = "") {
    std::vector<std::string> argv = {reconciler_bin(), "plan", "--programs-dir", programs_dir_, "--pin-root",
                                     pin_root.empty() ? pin_root_ : pin_root};
    if (as_json) argv.push_back("--json");
    return run(argv);
  }

  /// program -> action from `plan --json`; fails the test when the output is not that shape.
  std::map<std::string, std::string> plan_json_actions(const CmdResult& r) {
    std::map<std::string, std::string> out;
    json j;
    try {
      j = json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "plan --json output is not JSON (" << e.what() << "): " << r.describe();
      return out;
    }
    if (!j.is_array()) {
      ADD_FAILURE() << "plan --json: expected an array: " << r.out;
      return out;
    }
    for (const auto& c : j) {
      if (!c.contains("program") || !c.contains("action")) {
        ADD_FAILURE() << "plan --json entry without program/action: " << c.dump();
        continue;
      }
      out[c["program"].get<std::string>()] = c["action"].get<std::string>();
    }
    return out;
  }

  /// The steps of `program` in `plan --json` output (null when it is not there).
  static json steps_of(const CmdResult& r, const std::string& program) {
    const json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array()) return nullptr;
    for (const auto& c : j)
      if (c.value("program", "") == program) return c.value("steps", json());
    return nullptr;
  }

  static std::vector<std::string> kinds(const json& steps) {
    std::vector<std::string> out;
    if (steps.is_array())
      for (const auto& s : steps) out.push_back(s.value("kind", "?"));
    return out;
  }

  /// Everything plan must not change: the pin tree, every pinned program/link id, the hooks.
  std::string kernel_snapshot() {
    json s;
    s["tree"] = list_tree(pin_root_);
    for (const auto& p : list_dir(pin_root_)) {
      s["prog"][p] = raw_pinned_prog_id(prog_pin(p)).value_or(0);
      for (const auto& l : list_dir(links_dir(p)))
        s["link"][p + "/" + l] = raw_pinned_link(links_dir(p) + "/" + l).value_or(RawLink{}).id;
      for (const auto& m : list_dir(pin_dir(p) + "/maps"))
        s["map"][p + "/" + m] = raw_pinned_map_id(pin_dir(p) + "/maps/" + m).value_or(0);
    }
    s["xdp"] = xdp_ids_netlink(net_->a, net_->if_a).value_or(std::vector<std::uint32_t>{});
    s["tcx_in"] = tcx_prog_ids(net_->a, net_->if_a, true).value_or(std::vector<std::uint32_t>{});
    s["tcx_out"] = tcx_prog_ids(net_->a, net_->if_a, false).value_or(std::vector<std::uint32_t>{});
    return s.dump();
  }

  static bool line_names(const std::string& out, const std::string& action, const std::string& program) {
    std::stringstream ss(out);
    std::string line;
    while (std::getline(ss, line))
      if (line.starts_with(action) && line.find(" " + program + " ") != std::string::npos) return true;
    return false;
  }
};

TEST_F(PlanCli, NothingAppliedYetMeansCreatesAndExit2) {
  write_manifest("xdp.toml", xdp_manifest("pl-xdp", 1));
  write_manifest("tp.toml", tracepoint_manifest("pl-tp", "syscalls/sys_enter_openat"));
  const std::string before = kernel_snapshot();
  const auto r = plan(false);
  EXPECT_EQ(r.rc, 2) << r.describe();
  EXPECT_TRUE(line_names(r.out, "create", "pl-xdp")) << r.out;
  EXPECT_TRUE(line_names(r.out, "create", "pl-tp")) << r.out;
  const auto j = plan(true);
  EXPECT_EQ(j.rc, 2) << j.describe();
  const auto actions = plan_json_actions(j);
  EXPECT_EQ(actions, (std::map<std::string, std::string>{{"pl-xdp", "create"}, {"pl-tp", "create"}})) << j.out;
  EXPECT_EQ(kernel_snapshot(), before) << "plan changed the kernel or the pins";
  EXPECT_TRUE(list_dir(pin_root_).empty());
  // A pin root that does not exist yet (first boot) is not an error: everything is a create.
  const auto fresh = plan(false, "/sys/fs/bpf/" + unique_name("nonexistent"));
  EXPECT_EQ(fresh.rc, 2) << fresh.describe();
}

TEST_F(PlanCli, AfterApplyExit0ThenEachActionNamedAndNothingChanged) {
  const bool tcx = tcx_prog_ids(net_->a, net_->if_a, true).has_value();
  write_manifest("xdp.toml", xdp_manifest("pl-xdp", 1));
  write_manifest("tp.toml", tracepoint_manifest("pl-tp", "syscalls/sys_enter_openat"));
  write_manifest("tc.toml", tc_manifest("pl-tc", "ingress"));
  ASSERT_TRUE(start_daemon());
  ASSERT_EQ(call_reload().rc, 0);
  for (const char* n : {"pl-xdp", "pl-tp", "pl-tc"})
    ASSERT_TRUE(wait_program(n, [](const json& q) { return q.value("state", "") == "attached"; })) << n << diag();

  // Everything applied: exit 0, and nothing but "keep" in the JSON.
  {
    const std::string before = kernel_snapshot();
    const auto r = plan(false);
    EXPECT_EQ(r.rc, 0) << r.describe();
    const auto j = plan(true);
    EXPECT_EQ(j.rc, 0) << j.describe();
    for (const auto& [program, action] : plan_json_actions(j)) EXPECT_EQ(action, "keep") << program << ": " << j.out;
    EXPECT_EQ(kernel_snapshot(), before) << "plan changed the kernel or the pins";
  }

  // Daemon down; edits of every kind.
  EXPECT_EQ(stop_daemon(), "exit 0");
  write_manifest("xdp.toml", xdp_manifest("pl-xdp", 2));                    // replace
  remove_manifest("tp.toml");                                               // remove
  write_manifest("tc.toml", tc_manifest("pl-tc", "ingress") +               // update (new attach point)
                                "[[program.attach]]\n"
                                "interface = \"" + net_->if_a + "\"\n"
                                "netns = \"" + net_->path_a() + "\"\n"
                                "direction = \"egress\"\n");
  write_manifest("new.toml", tracepoint_manifest("pl-new", "syscalls/sys_enter_openat"));  // create
  const std::string before = kernel_snapshot();
  const auto r = plan(false);
  EXPECT_EQ(r.rc, 2) << r.describe();
  EXPECT_TRUE(line_names(r.out, "replace", "pl-xdp")) << r.out;
  EXPECT_TRUE(line_names(r.out, "remove", "pl-tp")) << r.out;
  EXPECT_TRUE(line_names(r.out, "update", "pl-tc")) << r.out;
  EXPECT_TRUE(line_names(r.out, "create", "pl-new")) << r.out;
  const auto j = plan(true);
  EXPECT_EQ(j.rc, 2) << j.describe();
  EXPECT_EQ(plan_json_actions(j), (std::map<std::string, std::string>{
                                      {"pl-xdp", "replace"}, {"pl-tp", "remove"}, {"pl-tc", "update"},
                                      {"pl-new", "create"}}))
      << j.out;
  // The steps (issue 12, point 3): a replace swaps each hook and commits; how the XDP hook is
  // handed over follows from the mechanism that holds it now (its record).
  {
    const json xdp = steps_of(j, "pl-xdp");
    EXPECT_EQ(kinds(xdp), (std::vector<std::string>{"load_staged", "swap", "commit"})) << j.out;
    if (kinds(xdp).size() == 3) {
      const json& swap = xdp[1];
      const std::string mech = swap.value("mechanism", "");
      EXPECT_TRUE(mech == "xdp" || mech == "xdp_dispatcher") << swap.dump();
      EXPECT_EQ(swap.value("continuity", ""), mech == "xdp" ? "gapless" : "overlap") << swap.dump();
      EXPECT_EQ(swap.value("on_failure", ""), "undo") << swap.dump();
      ASSERT_TRUE(swap.contains("undo") && swap["undo"].size() == 1) << swap.dump();
      EXPECT_EQ(swap["undo"][0].value("kind", ""), "swap");
      EXPECT_EQ(swap["undo"][0].value("side", ""), "live");
      EXPECT_EQ(swap["hook"].value("family", ""), "xdp") << swap.dump();
      EXPECT_EQ(swap["hook"].value("object", ""), net_->if_a) << swap.dump();
    }
    EXPECT_EQ(kinds(steps_of(j, "pl-tp")), (std::vector<std::string>{"detach", "unload"})) << j.out;
    EXPECT_EQ(steps_of(j, "pl-tp")[0].value("mechanism", ""), "perf_link") << j.out;
    EXPECT_EQ(kinds(steps_of(j, "pl-tc")), (std::vector<std::string>{"attach"})) << j.out;
    // A new TC attach point's mechanism comes from the kernel's probed capabilities: TCX where
    // the kernel has it, else the TC dispatcher or cls_bpf (freplace decides).
    if (!steps_of(j, "pl-tc").empty()) {
      const std::string mech = steps_of(j, "pl-tc")[0].value("mechanism", "");
      if (tcx) EXPECT_EQ(mech, "tcx") << j.out;
      else EXPECT_TRUE(mech == "tc" || mech == "tc_dispatcher") << j.out;
    }
    EXPECT_EQ(kinds(steps_of(j, "pl-new")), (std::vector<std::string>{"load", "attach"})) << j.out;
  }

  // Applying it makes the plan empty again.
  ASSERT_TRUE(start_daemon());
  ASSERT_EQ(call_reload().rc, 0);
  const auto r2 = plan(false);
  EXPECT_EQ(r2.rc, 0) << r2.describe();
}

TEST_F(PlanCli, UnreadablePinRootIsAnError) {
  if (run({"which", "setpriv"}).rc != 0) GTEST_SKIP() << "setpriv (util-linux) not installed";
  write_manifest("tp.toml", tracepoint_manifest("pl-tp", "syscalls/sys_enter_openat"));
  ASSERT_EQ(::chmod(work_dir_.c_str(), 0755), 0);  // manifests readable, pin root (0700 root) not
  ASSERT_EQ(::chmod(programs_dir_.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(manifest_path("tp.toml").c_str(), 0644), 0);
  auto as_nobody = [&] {
    return run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", reconciler_bin(), "plan",
                "--programs-dir", programs_dir_, "--pin-root", pin_root_});
  };
  // (1) The pin root itself is unreadable (its parent /sys/fs/bpf searchable for a moment).
  struct stat st{};
  ASSERT_EQ(::stat("/sys/fs/bpf", &st), 0);
  ASSERT_EQ(::chmod("/sys/fs/bpf", 0711), 0);
  const auto direct = as_nobody();
  ::chmod("/sys/fs/bpf", st.st_mode & 07777);
  EXPECT_EQ(direct.rc, 1) << "pin root 0700 root, parent searchable: " << direct.describe();
  // (2) As usual, /sys/fs/bpf itself is root-only (mode 0700): the pin root cannot even be
  // stat()ed, which is not the same as "does not exist".
  const auto r = as_nobody();
  EXPECT_EQ(r.rc, 1) << "plan as nobody with /sys/fs/bpf mode 0700 (stat of the pin root: EACCES): "
                     << r.describe();
  EXPECT_NE(r.err.find(pin_root_), std::string::npos) << "the error should name the pin root: " << r.describe();
  const auto j = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", reconciler_bin(), "plan",
                      "--programs-dir", programs_dir_, "--pin-root", pin_root_, "--json"});
  EXPECT_EQ(j.rc, 1) << j.describe();
}

TEST_F(PlanCli, PinRootNotOnBpffsIsAnError) {
  // The daemon refuses such a pin root ("not on a bpffs"); a plan against it can only be wrong
  // (it would claim every program is new), so it should fail the same way.
  write_manifest("tp.toml", tracepoint_manifest("pl-tp", "syscalls/sys_enter_openat"));
  const std::string not_bpffs = work_dir_ + "/pins-on-tmp";
  ASSERT_EQ(::mkdir(not_bpffs.c_str(), 0700), 0);
  const auto r = plan(false, not_bpffs);
  EXPECT_EQ(r.rc, 1) << "plan against a pin root on " << "/tmp (not bpffs): " << r.describe();
}

}  // namespace
}  // namespace it
