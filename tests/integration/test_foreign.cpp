// Others' programs are not ours: a foreign XDP program on another interface, a foreign cls_bpf
// filter next to ours (cls_bpf and TCX), and a second daemon instance with its own pin root, bus
// and programs.d. Ours are added, replaced and removed; the others keep their ids throughout.
#include <atomic>
#include <mutex>

#include "harness.h"

namespace it {
namespace {

class Foreign : public ReconcilerTest {
 protected:
  std::string tc_manifest_g(const std::string& name, const std::string& direction, int sample_every) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"tc\"\n"
           "bpf_function = \"tc_count\"\n"
           "bytecode = { path = \"" + obj("tc_counter") + "\" }\n"
           "global_data = { sample_every = " + std::to_string(sample_every) + " }\n"
           "[[program.attach]]\n"
           "interface = \"" + net_->if_a + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "direction = \"" + direction + "\"\n";
  }

  /// Adds our XDP (veth-a), TC (veth-a ingress) and tracepoint programs, replaces the XDP and TC
  /// ones (global_data), then removes everything; checks each step through the kernel.
  void churn_ours() {
    write_manifest("xdp.toml", xdp_manifest("our-xdp", 1));
    write_manifest("tc.toml", tc_manifest_g("our-tc", "ingress", 1));
    write_manifest("tp.toml", tracepoint_manifest("our-tp", "syscalls/sys_enter_openat"));
    ASSERT_EQ(call_reload().rc, 0);
    const auto x0 = wait_xdp_attached("our-xdp");
    ASSERT_TRUE(x0) << diag();
    ASSERT_TRUE(wait_program("our-tc", [](const json& q) { return q.value("state", "") == "attached"; })) << diag();
    const auto c0 = raw_pinned_prog_id(prog_pin("our-tc"));
    ASSERT_TRUE(c0);
    write_manifest("xdp.toml", xdp_manifest("our-xdp", 2));
    write_manifest("tc.toml", tc_manifest_g("our-tc", "ingress", 2));
    ASSERT_EQ(call_reload().rc, 0);
    EXPECT_TRUE(wait_until([&] {
      const auto x = raw_pinned_prog_id(prog_pin("our-xdp"));
      const auto c = raw_pinned_prog_id(prog_pin("our-tc"));
      return x && c && *x != *x0 && *c != *c0;
    }, 5s)) << "our programs were not replaced" << diag();
    remove_manifest("xdp.toml");
    remove_manifest("tc.toml");
    remove_manifest("tp.toml");
    ASSERT_EQ(call_reload().rc, 0);
    EXPECT_TRUE(wait_until([&] { return list_dir(pin_root_).empty(); }, 5s)) << diag();
    EXPECT_EQ(xdp_ids_netlink(net_->a, net_->if_a), std::vector<std::uint32_t>{}) << diag();
  }
};

class ForeignLegacyTc : public Foreign {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--tc-mechanism", "tc"}; }
};

TEST_F(Foreign, XdpProgramOnAnotherInterfaceIsNeverTouched) {
  const std::string object = std::string(kXdpToolsObjDir) + "/xdpfilt_alw_all.o";
  std::string how;
  CmdResult r;
  if (path_exists(object)) {
    r = run_in_netns(net_->b, {"xdp-loader", "load", "-m", "skb", net_->if_b, object});
    if (r.rc == 0) how = "xdp-loader load -m skb";
  }
  if (how.empty()) {  // no xdp-tools, or it refused: bpftool
    const std::string pin = "/sys/fs/bpf/" + unique_name("foreign-xdp");
    auto l = run({"bpftool", "prog", "load", obj("xdp_counter"), pin});
    ASSERT_EQ(l.rc, 0) << l.describe() << "; xdp-loader: " << r.describe();
    l = run_in_netns(net_->b, {"bpftool", "net", "attach", "xdpgeneric", "pinned", pin, "dev", net_->if_b});
    ASSERT_EQ(l.rc, 0) << l.describe();
    ::unlink(pin.c_str());  // the hook holds it now
    how = "bpftool net attach xdpgeneric (xdp-loader: " + r.describe() + ")";
  }
  const auto foreign = xdp_ids_netlink(net_->b, net_->if_b);
  ASSERT_TRUE(foreign && foreign->size() == 1) << how << ": nothing on veth-b";
  std::printf("[info] foreign XDP program %u on veth-b via %s\n", (*foreign)[0], how.c_str());

  ASSERT_TRUE(start_daemon());
  HookSampler sampler({{HookTarget::Xdp, net_->b, net_->if_b}}, std::chrono::microseconds(2000));
  churn_ours();
  sampler.stop();
  std::size_t other = 0;
  for (const auto& s : sampler.samples()) other += s.ids[0] != *foreign;
  EXPECT_EQ(other, 0u) << "the foreign program on veth-b changed while ours came and went; " << sampler.timeline(0);
  EXPECT_EQ(xdp_ids_netlink(net_->b, net_->if_b), *foreign);
  EXPECT_TRUE(raw_prog((*foreign)[0])) << "foreign program unloaded";
}

/// Watches the foreign cls_bpf filter and the clsact qdisc from a background thread (tc -j).
class ForeignFilterWatch {
 public:
  ForeignFilterWatch(std::string ns, std::string ifname, std::uint32_t id)
      : ns_(std::move(ns)), if_(std::move(ifname)), id_(id), thread_([this] { loop(); }) {}
  ~ForeignFilterWatch() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int samples = 0;
  std::vector<std::string> problems;

 private:
  void loop() {
    while (!stop_) {
      ++samples;
      if (!has_clsact(ns_, if_)) problems.push_back("sample " + std::to_string(samples) + ": no clsact qdisc");
      bool found = false;
      for (const auto& f : cls_bpf_filters(ns_, if_, true)) {
        const json& o = f["options"];
        if (o.contains("prog") && o["prog"].value("id", 0u) == id_) found = f.value("pref", 0) == 7;
      }
      if (!found) problems.push_back("sample " + std::to_string(samples) + ": foreign filter (pref 7) missing");
      if (problems.size() > 20) break;
      std::this_thread::sleep_for(2ms);
    }
  }
  std::string ns_, if_;
  std::uint32_t id_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void foreign_filter_survives(Foreign& t, NetnsPair& net, const std::function<void()>& churn) {
  auto r = run_in_netns(net.a, {"tc", "qdisc", "add", "dev", net.if_a, "clsact"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  r = run_in_netns(net.a, {"tc", "filter", "add", "dev", net.if_a, "ingress", "pref", "7", "bpf", "da", "obj",
                           std::string(BPF_OBJ_DIR) + "/tc_counter.bpf.o", "sec", "tc"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  const auto filters = cls_bpf_filters(net.a, net.if_a, true);
  ASSERT_EQ(filters.size(), 1u);
  const std::uint32_t id = filters[0]["options"]["prog"].value("id", 0u);
  ASSERT_NE(id, 0u) << filters[0].dump();
  (void)t;

  ForeignFilterWatch watch(net.a, net.if_a, id);
  churn();
  watch.stop();
  std::string text;
  for (const auto& p : watch.problems) text += "\n  - " + p;
  EXPECT_TRUE(watch.problems.empty()) << "over " << watch.samples << " samples:" << text;
  // The watch really ran during the churn. A sample is two `tc` runs: ~5 ms here, ~1 s under
  // qemu TCG (tests/vm), where the whole churn takes ~5 samples.
  EXPECT_GE(watch.samples, 3);
  EXPECT_TRUE(has_clsact(net.a, net.if_a)) << "the clsact qdisc was deleted";
  const auto after = cls_bpf_filters(net.a, net.if_a, true);
  ASSERT_EQ(after.size(), 1u) << "expected only the foreign filter left: " << json(after).dump();
  EXPECT_EQ(after[0]["options"]["prog"].value("id", 0u), id);
  EXPECT_EQ(after[0].value("pref", 0), 7);
}

TEST_F(ForeignLegacyTc, ClsBpfFilterNextToOursSurvives) {
  ASSERT_TRUE(start_daemon());
  foreign_filter_survives(*this, *net_, [&] { churn_ours(); });
}

TEST_F(Foreign, ClsBpfFilterNextToOurTcxLinkSurvives) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  foreign_filter_survives(*this, *net_, [&] { churn_ours(); });
}

// ---------------------------------------------------------------------------------------------

TEST_F(Foreign, SecondInstanceWithItsOwnPinRootAndBus) {
  const bool tcx = tcx_prog_ids(net_->a, net_->if_a, true).has_value();
  const std::string dir2 = work_dir_ + "/second";
  ASSERT_EQ(::mkdir(dir2.c_str(), 0755), 0);
  const std::string programs2 = dir2 + "/programs.d";
  ASSERT_EQ(::mkdir(programs2.c_str(), 0755), 0);
  const std::string pin_root2 = "/sys/fs/bpf/" + unique_name("it2nd");
  ASSERT_EQ(::mkdir(pin_root2.c_str(), 0700), 0);
  struct Cleanup {
    std::string p;
    ~Cleanup() { remove_tree(p); }
  } cleanup{pin_root2};
  Bus bus2(dir2);
  ASSERT_TRUE(bus2.ok()) << bus2.error();
  Daemon d2;
  const std::string log2 = dir2 + "/daemon.log";

  // The same program names in both instances: only the pin roots tell them apart.
  const std::string tc_name = "tc";
  write_manifest("xdp.toml", xdp_manifest("xdp", 1));
  write_manifest("tp.toml", tracepoint_manifest("tp", "syscalls/sys_enter_openat"));
  if (tcx) write_manifest("tc.toml", tc_manifest(tc_name, "ingress"));
  std::string xdp_b = xdp_manifest("xdp", 1);
  xdp_b.replace(xdp_b.find("interface = \"veth-a\""), 20, "interface = \"veth-b\"");
  xdp_b.replace(xdp_b.find(net_->path_a()), net_->path_a().size(), net_->path_b());
  write_file_atomic(programs2, "xdp.toml", xdp_b);
  write_file_atomic(programs2, "tp.toml", tracepoint_manifest("tp", "syscalls/sys_enter_openat"));
  if (tcx) write_file_atomic(programs2, "tc.toml", tc_manifest(tc_name, "ingress"));

  ASSERT_TRUE(start_daemon());
  {
    ScopedBusAddress on2(bus2.address());
    ASSERT_TRUE(d2.start({"--log-level", "debug", "daemon", "--programs-dir", programs2, "--pin-root", pin_root2,
                          "--state-dir", work_dir_ + "/state2", "--check-interval", "1", "--xdp-mechanism", "single"},
                         log2))
        << read_file(log2);
    ASSERT_EQ(call_reload().rc, 0);
  }
  ASSERT_EQ(call_reload().rc, 0);

  struct Snapshot {
    std::vector<std::string> tree;
    std::uint32_t xdp = 0, tp = 0, tc = 0, tp_link = 0, tc_link = 0;
  };
  auto snapshot = [&](const std::string& root) {
    Snapshot s;
    s.tree = list_tree(root);
    s.xdp = raw_pinned_prog_id(root + "/xdp/prog").value_or(0);
    s.tp = raw_pinned_prog_id(root + "/tp/prog").value_or(0);
    for (const auto& l : list_dir(root + "/tp/links")) s.tp_link = raw_pinned_link(root + "/tp/links/" + l).value_or(RawLink{}).id;
    if (tcx) {
      s.tc = raw_pinned_prog_id(root + "/" + tc_name + "/prog").value_or(0);
      for (const auto& l : list_dir(root + "/" + tc_name + "/links"))
        s.tc_link = raw_pinned_link(root + "/" + tc_name + "/links/" + l).value_or(RawLink{}).id;
    }
    return s;
  };
  auto expect_intact = [&](const std::string& root, const Snapshot& s, const std::string& xdp_ns,
                           const std::string& xdp_if, const std::string& who) {
    const Snapshot now = snapshot(root);
    EXPECT_EQ(now.tree, s.tree) << who << ": pins changed";
    EXPECT_EQ(now.xdp, s.xdp) << who;
    EXPECT_EQ(now.tp, s.tp) << who;
    EXPECT_EQ(now.tp_link, s.tp_link) << who;
    EXPECT_EQ(xdp_ids_netlink(xdp_ns, xdp_if), std::vector<std::uint32_t>{s.xdp}) << who << ": XDP on " << xdp_if;
    EXPECT_EQ(links_of_prog(s.tp).size(), 1u) << who;
    if (tcx) {
      EXPECT_EQ(now.tc, s.tc) << who;
      EXPECT_EQ(now.tc_link, s.tc_link) << who;
      const auto hook = tcx_prog_ids(net_->a, net_->if_a, true).value_or(std::vector<std::uint32_t>{});
      EXPECT_EQ(std::count(hook.begin(), hook.end(), s.tc), 1) << who << ": TCX hook " << json(hook).dump();
    }
  };

  Snapshot one, two;
  ASSERT_TRUE(wait_until([&] {
    one = snapshot(pin_root_);
    two = snapshot(pin_root2);
    const bool both = one.xdp && one.tp && two.xdp && two.tp && one.tp_link && two.tp_link &&
                      (!tcx || (one.tc && two.tc && one.tc_link && two.tc_link));
    return both && xdp_ids_netlink(net_->a, net_->if_a) == std::vector<std::uint32_t>{one.xdp} &&
           xdp_ids_netlink(net_->b, net_->if_b) == std::vector<std::uint32_t>{two.xdp};
  }, 5s)) << "both instances not attached; second instance's log:\n" << read_file(log2).substr(0, 4000) << diag();
  if (tcx) {
    const auto hook = tcx_prog_ids(net_->a, net_->if_a, true).value_or(std::vector<std::uint32_t>{});
    EXPECT_EQ(hook.size(), 2u) << "both instances' TCX programs on veth-a ingress: " << json(hook).dump();
  }

  // Instance 1 removes everything: instance 2 untouched (and its periodic check sees no drift).
  HookSampler sampler({{HookTarget::Xdp, net_->b, net_->if_b}}, std::chrono::microseconds(2000));
  remove_manifest("xdp.toml");
  remove_manifest("tp.toml");
  if (tcx) remove_manifest("tc.toml");
  ASSERT_EQ(call_reload().rc, 0);
  EXPECT_TRUE(wait_until([&] { return list_dir(pin_root_).empty(); }, 5s)) << diag();
  EXPECT_TRUE(xdp_ids_netlink(net_->a, net_->if_a).value_or(std::vector<std::uint32_t>{1}).empty());
  std::this_thread::sleep_for(1500ms);  // one periodic check of instance 2 (interval 1 s)
  sampler.stop();
  EXPECT_EQ(sampler.empty_count(0), 0u) << sampler.timeline(0);
  expect_intact(pin_root2, two, net_->b, net_->if_b, "instance 2 after instance 1 removed its programs");

  // Instance 1 adds its programs back; instance 2 removes all of its own: instance 1 untouched.
  write_manifest("xdp.toml", xdp_manifest("xdp", 1));
  write_manifest("tp.toml", tracepoint_manifest("tp", "syscalls/sys_enter_openat"));
  if (tcx) write_manifest("tc.toml", tc_manifest(tc_name, "ingress"));
  ASSERT_EQ(call_reload().rc, 0);
  ASSERT_TRUE(wait_until([&] {
    one = snapshot(pin_root_);
    return one.xdp && one.tp && one.tp_link && (!tcx || one.tc_link) &&
           xdp_ids_netlink(net_->a, net_->if_a) == std::vector<std::uint32_t>{one.xdp};
  }, 5s)) << diag();
  ::unlink((programs2 + "/xdp.toml").c_str());
  ::unlink((programs2 + "/tp.toml").c_str());
  ::unlink((programs2 + "/tc.toml").c_str());
  {
    ScopedBusAddress on2(bus2.address());
    ASSERT_EQ(call_reload().rc, 0);
  }
  EXPECT_TRUE(wait_until([&] { return list_dir(pin_root2).empty(); }, 5s)) << json(list_tree(pin_root2)).dump();
  EXPECT_TRUE(xdp_ids_netlink(net_->b, net_->if_b).value_or(std::vector<std::uint32_t>{1}).empty());
  EXPECT_EQ(call_reload().rc, 0);
  expect_intact(pin_root_, one, net_->a, net_->if_a, "instance 1 after instance 2 removed its programs");
  EXPECT_EQ(d2.stop(), "exit 0");
}

}  // namespace
}  // namespace it
