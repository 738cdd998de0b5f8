// Interface patterns: `interface = "gl*"` and `interface = "@primary"` follow the interfaces of
// a namespace as they come and go (rtnetlink link and route events; these tests run with
// --check-interval 30 so that only events can explain a change within a second). Everything is
// checked through the kernel (RTM_GETLINK, BPF_PROG_QUERY, pins); status only for what it
// reports (pending, gone, idle).
#include <cstdio>

#include "harness.h"

namespace it {
namespace {

class Globs : public ReconcilerTest {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--check-interval", "30"}; }

  std::string xdp_pattern_manifest(const std::string& name, const std::string& iface) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"xdp\"\n"
           "bpf_function = \"xdp_count\"\n"
           "bytecode = { path = \"" + obj("xdp_counter") + "\" }\n"
           "[[program.attach]]\n"
           "interface = \"" + iface + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "mode = \"skb\"\n";
  }

  std::string tc_pattern_manifest(const std::string& name, const std::string& iface) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"tc\"\n"
           "bpf_function = \"tc_count\"\n"
           "bytecode = { path = \"" + obj("tc_counter") + "\" }\n"
           "[[program.attach]]\n"
           "interface = \"" + iface + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "direction = \"ingress\"\n";
  }

  /// Creates a veth pair `name` (netns a) / `peer` (netns b), down, no addresses.
  CmdResult add_link(const std::string& name, const std::string& peer) {
    return run({"ip", "link", "add", name, "netns", net_->a, "type", "veth", "peer", "name", peer, "netns", net_->b});
  }

  /// Waits until the XDP hook of `ifname` in netns a holds exactly `want` (nullopt: the
  /// interface does not exist); polls raw rtnetlink every millisecond. Returns ms waited, or -1.
  double wait_xdp(const std::string& ifname, const std::optional<std::vector<std::uint32_t>>& want,
                  std::chrono::steady_clock::time_point t0, std::chrono::milliseconds timeout = 1s) {
    const bool ok = wait_until([&] { return xdp_ids_netlink(net_->a, ifname) == want; }, timeout, 1ms);
    if (!ok) return -1;
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  /// The attachment of `prog` whose target starts with `target` + " " or equals it.
  static std::optional<json> attachment(const json& prog, const std::string& target) {
    for (const auto& a : prog.value("attachments", json::array())) {
      const std::string t = a.value("target", "");
      if (t == target || t.rfind(target + " ", 0) == 0) return a;
    }
    return std::nullopt;
  }

  static bool attachment_is(const json& prog, const std::string& target, const std::string& state) {
    auto a = attachment(prog, target);
    return a && a->value("state", "") == state;
  }

  std::string manager_state() {
    auto v = get_property(kManagerPath, kManagerIface, "State");
    return v ? v->dump() : "(no answer)";
  }

  int count_in_log(const std::string& needle) {
    const std::string log = read_file(log_path_);
    int n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  }
};

TEST_F(Globs, GlobAttachesVethCreatedLaterWithinASecond) {
  ASSERT_TRUE(start_daemon());
  write_manifest("gl.toml", xdp_pattern_manifest("gl-xdp", "gl*"));

  // Loaded, attached nowhere: pending, and the daemon is idle (not degraded).
  auto p = wait_program("gl-xdp", [&](const json& q) { return q.value("state", "") == "pending"; });
  ASSERT_TRUE(p) << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u) << p->dump(1);
  EXPECT_EQ((*p)["attachments"][0].value("state", ""), "pending") << p->dump(1);
  EXPECT_EQ((*p)["attachments"][0].value("error", ""), "no interface matches 'gl*'") << p->dump(1);
  EXPECT_EQ((*p)["attachments"][0].value("pattern", ""), "gl*") << p->dump(1);
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle") << diag();
  const auto id = raw_pinned_prog_id(prog_pin("gl-xdp"));
  ASSERT_TRUE(id) << "program not pinned while pending" << diag();
  // veth-a is in the same netns and does not match.
  EXPECT_EQ(xdp_ids_netlink(net_->a, net_->if_a), std::vector<std::uint32_t>{});

  // A matching interface appears: attached through the link event, within a second.
  auto t0 = std::chrono::steady_clock::now();
  auto r = add_link("gl0", "glp0");
  ASSERT_EQ(r.rc, 0) << r.describe();
  const double ms0 = wait_xdp("gl0", std::vector<std::uint32_t>{*id}, t0);
  EXPECT_GE(ms0, 0) << "XDP not attached on gl0 within 1 s of its creation; hook: "
                    << json(xdp_ids_netlink(net_->a, "gl0").value_or(std::vector<std::uint32_t>{})).dump() << diag();
  std::printf("[info] glob: XDP attached on gl0 %.1f ms after `ip link add`\n", ms0);
  EXPECT_EQ(xdp_ids_netlink(net_->a, net_->if_a), std::vector<std::uint32_t>{}) << "veth-a does not match gl*";
  EXPECT_EQ(xdp_mode(net_->a, "gl0"), "generic");

  t0 = std::chrono::steady_clock::now();
  r = add_link("gl1", "glp1");
  ASSERT_EQ(r.rc, 0) << r.describe();
  const double ms1 = wait_xdp("gl1", std::vector<std::uint32_t>{*id}, t0);
  EXPECT_GE(ms1, 0) << "XDP not attached on gl1 within 1 s" << diag();
  std::printf("[info] glob: XDP attached on gl1 %.1f ms after `ip link add`\n", ms1);
  p = wait_program("gl-xdp", [&](const json& q) {
    return q.value("state", "") == "attached" && attachment_is(q, "gl0", "attached") &&
           attachment_is(q, "gl1", "attached");
  });
  ASSERT_TRUE(p) << diag();
  EXPECT_EQ(attachment(*p, "gl0")->value("pattern", ""), "gl*");
  EXPECT_EQ(attachment(*p, "gl0")->value("mechanism", ""), "xdp");
  EXPECT_FALSE(attachment(*p, "gl*")) << "the pattern itself is not listed once it matches: " << p->dump(1);

  // gl0 goes away: reported (gone), not an error; gl1 is not touched at all.
  HookSampler sampler({{HookTarget::Xdp, net_->a, "gl1"}}, std::chrono::microseconds(1000));
  r = run({"ip", "-n", net_->a, "link", "del", "gl0"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  p = wait_program("gl-xdp", [&](const json& q) { return attachment_is(q, "gl0", "gone"); }, 2s);
  sampler.stop();
  ASSERT_TRUE(p) << "gl0 not reported gone" << diag();
  EXPECT_EQ(attachment(*p, "gl0")->value("error", ""), "interface gl0 went away") << p->dump(1);
  EXPECT_EQ(p->value("state", ""), "attached") << p->dump(1);
  EXPECT_TRUE(attachment_is(*p, "gl1", "attached")) << p->dump(1);
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle") << diag();
  EXPECT_EQ(manager_state(), "\"idle\"");
  EXPECT_EQ(sampler.empty_count(0), 0u) << "gl1 lost its program while gl0 went away: " << sampler.timeline(0);
  EXPECT_EQ(sampler.error_count(0), 0u) << sampler.timeline(0);
  EXPECT_EQ(xdp_ids_netlink(net_->a, "gl1"), std::vector<std::uint32_t>{*id});
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("gl-xdp")), id) << "the program must stay loaded, same id";

  // Both gone: pending again, both reported, still idle.
  r = run({"ip", "-n", net_->a, "link", "del", "gl1"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  p = wait_program("gl-xdp", [&](const json& q) {
    return q.value("state", "") == "pending" && attachment_is(q, "gl0", "gone") && attachment_is(q, "gl1", "gone") &&
           attachment_is(q, "gl*", "pending");
  }, 2s);
  ASSERT_TRUE(p) << diag();
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle") << diag();

  // The record forgets the deleted interfaces at once: further reconciles neither warn about
  // them again nor fail.
  for (int i = 0; i < 3; ++i) {
    auto rr = call_reload();
    ASSERT_EQ(rr.rc, 0) << rr.describe();
  }
  EXPECT_LE(count_in_log("no longer attached at gl0"), 1) << read_file(log_path_);
  EXPECT_EQ(count_in_log("result=failed"), 0) << read_file(log_path_);
  EXPECT_EQ(count_in_log("interface gl0 went away; reported, not an error"), 1) << read_file(log_path_);
}

TEST_F(Globs, TcxGlobFollowsInterfacesAndDropsDeadLinks) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  write_manifest("gl.toml", tc_pattern_manifest("gl-tc", "gl*"));
  ASSERT_TRUE(wait_program("gl-tc", [&](const json& q) { return q.value("state", "") == "pending"; })) << diag();
  const auto id = raw_pinned_prog_id(prog_pin("gl-tc"));
  ASSERT_TRUE(id) << diag();

  const auto t0 = std::chrono::steady_clock::now();
  auto r = add_link("gl0", "glp0");
  ASSERT_EQ(r.rc, 0) << r.describe();
  const bool attached = wait_until([&] {
    return tcx_prog_ids(net_->a, "gl0", true) == std::vector<std::uint32_t>{*id} &&
           list_dir(links_dir("gl-tc")).size() == 1;
  }, 1s, 1ms);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(attached) << "TCX not attached on gl0 within 1 s" << diag();
  std::printf("[info] glob: TCX attached on gl0 %.1f ms after `ip link add`\n", ms);
  EXPECT_EQ(tcx_prog_ids(net_->a, net_->if_a, true), std::vector<std::uint32_t>{}) << "veth-a does not match";

  // Deleting the interface leaves a defunct TCX link pinned: the daemon removes the pin.
  r = run({"ip", "-n", net_->a, "link", "del", "gl0"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  EXPECT_TRUE(wait_until([&] { return list_dir(links_dir("gl-tc")).empty(); }, 1s))
      << "link pin of the deleted interface kept: " << json(list_dir(links_dir("gl-tc"))).dump() << diag();
  auto p = wait_program("gl-tc", [&](const json& q) { return attachment_is(q, "gl0", "gone"); }, 2s);
  ASSERT_TRUE(p) << diag();
  EXPECT_EQ(p->value("state", ""), "pending");
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle") << diag();
  EXPECT_EQ(count_in_log("result=failed"), 0) << read_file(log_path_);

  // And it comes back: attached again, reported attached (the gone note is dropped).
  r = add_link("gl0", "glp0");
  ASSERT_EQ(r.rc, 0) << r.describe();
  EXPECT_TRUE(wait_until([&] { return tcx_prog_ids(net_->a, "gl0", true) == std::vector<std::uint32_t>{*id}; }, 1s,
                         1ms))
      << diag();
  p = wait_program("gl-tc", [&](const json& q) {
    return q.value("state", "") == "attached" && q["attachments"].size() == 1 && attachment_is(q, "gl0", "attached");
  });
  EXPECT_TRUE(p) << diag();
}

TEST_F(Globs, PrimaryFollowsTheDefaultRoute) {
  // Two uplinks in netns a, each to netns b.
  for (auto [name, peer, mine, theirs] : {std::tuple{"pr0", "prp0", "198.18.1.1", "198.18.1.2"},
                                          std::tuple{"pr1", "prp1", "198.18.2.1", "198.18.2.2"}}) {
    const auto err = add_veth(net_->a, name, net_->b, peer, mine, theirs);
    ASSERT_EQ(err, "") << err;
  }
  ASSERT_TRUE(start_daemon());
  write_manifest("pr.toml", xdp_pattern_manifest("pr-xdp", "@primary"));
  auto p = wait_program("pr-xdp", [&](const json& q) { return q.value("state", "") == "pending"; });
  ASSERT_TRUE(p) << diag();
  EXPECT_EQ((*p)["attachments"][0].value("error", ""), "no interface carries a default route") << p->dump(1);
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle");
  const auto id = raw_pinned_prog_id(prog_pin("pr-xdp"));
  ASSERT_TRUE(id) << diag();
  const std::vector<std::uint32_t> ours{*id}, none{};

  // A default route appears via pr0: the program lands there (route event), within a second.
  auto t0 = std::chrono::steady_clock::now();
  auto r = run({"ip", "-n", net_->a, "route", "add", "default", "via", "198.18.1.2", "dev", "pr0"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  double ms = wait_xdp("pr0", ours, t0);
  EXPECT_GE(ms, 0) << "not attached on pr0 within 1 s of the default route" << diag();
  std::printf("[info] @primary: XDP attached on pr0 %.1f ms after the default route was added\n", ms);
  EXPECT_EQ(xdp_ids_netlink(net_->a, "pr1"), none);

  // The default route moves to pr1: so does the program.
  t0 = std::chrono::steady_clock::now();
  r = run({"ip", "-n", net_->a, "route", "replace", "default", "via", "198.18.2.2", "dev", "pr1"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  ms = wait_xdp("pr1", ours, t0);
  EXPECT_GE(ms, 0) << "not attached on pr1 within 1 s of the route change" << diag();
  EXPECT_GE(wait_xdp("pr0", none, t0), 0) << "still on pr0" << diag();
  std::printf("[info] @primary: XDP moved to pr1 %.1f ms after `ip route replace default`\n", ms);
  p = wait_program("pr-xdp", [&](const json& q) {
    return attachment_is(q, "pr1", "attached") && attachment_is(q, "pr0", "gone");
  });
  ASSERT_TRUE(p) << diag();
  EXPECT_EQ(attachment(*p, "pr1")->value("pattern", ""), "@primary");
  EXPECT_EQ(attachment(*p, "pr0")->value("error", ""), "interface pr0 no longer carries the default route");
  EXPECT_EQ(p->value("state", ""), "attached");
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle");

  // The lowest metric wins across families: an IPv6 default route via pr0 with a lower metric
  // than the IPv4 one via pr1 takes the program back to pr0.
  if (!path_exists("/proc/sys/net/ipv6"))
    GTEST_SKIP() << "the IPv4 steps passed; the IPv6 step needs a kernel with IPv6 (no /proc/sys/net/ipv6)";
  r = run({"ip", "-n", net_->a, "route", "replace", "default", "via", "198.18.2.2", "dev", "pr1", "metric", "200"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  r = run({"ip", "-n", net_->a, "route", "del", "default", "via", "198.18.2.2", "dev", "pr1", "metric", "0"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  t0 = std::chrono::steady_clock::now();
  r = run({"ip", "-n", net_->a, "-6", "route", "add", "default", "dev", "pr0", "metric", "100"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  ms = wait_xdp("pr0", ours, t0);
  EXPECT_GE(ms, 0) << "IPv6 default route with the lower metric did not win" << diag()
                   << run({"ip", "-n", net_->a, "-d", "route", "show", "table", "all"}).out;
  EXPECT_GE(wait_xdp("pr1", none, t0), 0) << "still on pr1" << diag();

  // No default route at all: pending, and the interfaces are reported as no longer primary.
  r = run({"ip", "-n", net_->a, "-6", "route", "del", "default", "dev", "pr0"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  r = run({"ip", "-n", net_->a, "route", "del", "default"});
  ASSERT_EQ(r.rc, 0) << r.describe();
  t0 = std::chrono::steady_clock::now();
  EXPECT_GE(wait_xdp("pr0", none, t0), 0) << diag();
  p = wait_program("pr-xdp", [&](const json& q) { return q.value("state", "") == "pending"; });
  ASSERT_TRUE(p) << diag();
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle");
  EXPECT_EQ(count_in_log("result=failed"), 0) << read_file(log_path_);
}

TEST_F(Globs, NoMatchIsPendingAndPlanSaysSo) {
  ASSERT_TRUE(start_daemon());
  write_manifest("nm.toml", xdp_pattern_manifest("nm-xdp", "zz*"));
  auto p = wait_program("nm-xdp", [&](const json& q) { return q.value("state", "") == "pending"; });
  ASSERT_TRUE(p) << diag();
  ASSERT_EQ((*p)["attachments"].size(), 1u);
  EXPECT_EQ((*p)["attachments"][0].value("target", ""), "zz* (netns " + net_->path_a() + ")");
  EXPECT_EQ((*p)["attachments"][0].value("error", ""), "no interface matches 'zz*'");
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle");
  EXPECT_EQ(manager_state(), "\"idle\"");
  auto state = get_property(std::string(kProgramPathPrefix) + "nm_2dxdp", kProgramIface, "State");
  EXPECT_TRUE(state && *state == "pending") << (state ? state->dump() : "(no answer)");

  // `plan` agrees: nothing to change, one pattern pending.
  auto r = run({reconciler_bin(), "plan", "--programs-dir", programs_dir_, "--pin-root", pin_root_});
  EXPECT_EQ(r.rc, 0) << r.describe();
  EXPECT_NE(r.out.find("pending nm-xdp  (attach point 'zz* (netns " + net_->path_a() + ")': no interface matches 'zz*')"),
            std::string::npos)
      << r.describe();
  // `status` shows it.
  r = run({reconciler_bin(), "status"});
  EXPECT_NE(r.out.find("[pending: no interface matches 'zz*']"), std::string::npos) << r.describe();

  // A bad glob is a positioned error, and the program stays as it was.
  write_manifest("nm.toml", xdp_pattern_manifest("nm-xdp", "zz[0"));
  r = run({reconciler_bin(), "check", manifest_path("nm.toml")});
  EXPECT_EQ(r.rc, 1) << r.describe();
  EXPECT_NE(r.err.find(manifest_path("nm.toml") + ":7:13: error: 'interface' = \"zz[0\": '[' at position 3 has no "
                                                  "closing ']'"),
            std::string::npos)
      << r.describe();
  p = wait_program("nm-xdp", [&](const json& q) { return q.value("state", "") == "kept"; });
  EXPECT_TRUE(p) << diag();
}

}  // namespace
}  // namespace it
