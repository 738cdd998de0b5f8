// Shared XDP hooks: several programs of ours and one attached by xdp-loader on one veth, in
// libxdp's multi-program dispatcher. Needs a kernel that allows freplace (the VM's 6.1); on
// kernels that refuse it (this host's lockdown) the dispatcher tests skip with the reason that
// xdp-loader itself gives, and the fallback is tested instead: an explicit
// `--xdp-mechanism dispatcher` is a clear error in status.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "harness.h"

namespace it {
namespace {

const char* kForeignObject = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o";

/// One component of the dispatcher as `xdp-loader status` prints it (an independent view:
/// libxdp reads the dispatcher's config, we do not ask our daemon).
struct Component {
  unsigned prio = 0;
  std::string name;
  std::uint32_t id = 0;
};

/// Components in run order (" =>  <prio> <name> <id> <tag> <actions>" lines).
std::vector<Component> dispatcher_components(const std::string& ns, const std::string& ifname) {
  std::vector<Component> out;
  const auto r = run_in_netns(ns, {"xdp-loader", "status", ifname});
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string arrow;
    Component c;
    if (!(l >> arrow) || arrow != "=>") continue;
    if (l >> c.prio >> c.name >> c.id) out.push_back(c);
  }
  return out;
}

std::string names(const std::vector<Component>& cs) {
  std::string s;
  for (auto& c : cs) s += (s.empty() ? "" : " ") + std::to_string(c.prio) + ":" + c.name + "#" + std::to_string(c.id);
  return "[" + s + "]";
}

class XdpShared : public ReconcilerTest {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--xdp-mechanism", "auto"}; }

  /// Whether this kernel gives libxdp a dispatcher: xdp-loader loads two programs on the
  /// (still empty) veth-b. Empty when it does; else xdp-loader's reason.
  std::string dispatcher_unavailable() {
    const auto r = run_in_netns(net_->b, {"xdp-loader", "load", "-m", "skb", net_->if_b, kForeignObject, kForeignObject});
    (void)run_in_netns(net_->b, {"xdp-loader", "unload", "--all", net_->if_b});
    if (r.rc == 0) return "";
    return "libxdp's dispatcher is unavailable on this kernel (xdp-loader could not load two programs: " +
           r.err.substr(0, 300) + ")";
  }

  /// An XDP program of ours that counts packets and returns `verdict` (2 pass, 1 drop) at
  /// `priority` in the dispatcher, with optional proceed_on.
  std::string shared_manifest(const std::string& name, int priority, int verdict,
                              const std::string& proceed_on = "") const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"xdp\"\n"
           "bpf_function = \"xdp_verdict\"\n"
           "bytecode = { path = \"" + obj("xdp_verdict") + "\" }\n"
           "global_data = { verdict = " + std::to_string(verdict) + " }\n"
           "[[program.attach]]\n"
           "interface = \"" + net_->if_a + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "mode = \"skb\"\n"
           "priority = " + std::to_string(priority) + "\n" +
           (proceed_on.empty() ? "" : "proceed_on = [" + proceed_on + "]\n");
  }

  /// Waits until the dispatcher on veth-a holds exactly `want` (kernel names, run order).
  bool wait_order(const std::vector<std::string>& want, std::vector<Component>* last = nullptr) {
    std::vector<Component> seen;
    const bool ok = wait_until([&] {
      seen = dispatcher_components(net_->a, net_->if_a);
      std::vector<std::string> got;
      for (auto& c : seen) got.push_back(c.name);
      return got == want;
    }, 30s, 50ms);
    if (last) *last = seen;
    return ok;
  }

  /// Packets counted by program `name` while pinging veth-a `n` times (a drop makes ping fail).
  std::uint64_t counted_during_ping(const std::string& name, int n) {
    const auto before = read_counter(map_pin(name), 0).value_or(0);
    (void)net_->ping_a_from_b(n);
    return read_counter(map_pin(name), 0).value_or(0) - before;
  }
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::uint32_t id_of(const std::vector<Component>& cs, const std::string& name) {
  for (auto& c : cs)
    if (c.name == name) return c.id;
  return 0;
}

// Kernel names are at most 15 characters: "xdp_verdict" for ours; xdp-filter's "xdpfilt_alw_all".
constexpr const char* kOurs = "xdp_verdict";

TEST_F(XdpShared, OrderProceedOnAndAForeignProgramInOneDispatcher) {
  if (auto why = dispatcher_unavailable(); !why.empty()) GTEST_SKIP() << why;
  // The foreign program first, through xdp-loader (same libxdp protocol and lock as ours).
  const auto foreign = run_in_netns(net_->a, {"xdp-loader", "load", "-m", "skb", net_->if_a, kForeignObject});
  ASSERT_EQ(foreign.rc, 0) << foreign.describe();
  auto comps = dispatcher_components(net_->a, net_->if_a);
  ASSERT_EQ(comps.size(), 1u) << names(comps);
  const std::string foreign_name = comps[0].name;
  const std::uint32_t foreign_id = comps[0].id;
  const unsigned foreign_prio = comps[0].prio;

  // A permanent neighbour entry, so that pings while a program drops do not turn into ARP.
  const auto link = run_in_netns(net_->a, {"ip", "-j", "link", "show", net_->if_a});
  const std::string mac = json::parse(link.out, nullptr, false).at(0).value("address", "");
  ASSERT_FALSE(mac.empty()) << link.describe();
  const auto neigh = run_in_netns(net_->b, {"ip", "neigh", "replace", "198.18.0.1", "lladdr", mac, "dev", net_->if_b,
                                            "nud", "permanent"});
  ASSERT_EQ(neigh.rc, 0) << neigh.describe();

  ASSERT_TRUE(start_daemon());
  write_manifest("30-c.toml", shared_manifest("prog-c", 30, 2));
  write_manifest("10-a.toml", shared_manifest("prog-a", 5, 2));
  write_manifest("20-b.toml", shared_manifest("prog-b", 20, 2));
  // Ours by priority, the foreign one at its own (xdp-filter's objects say 10 in their BTF;
  // ours avoid it: libxdp orders equal priorities by name).
  std::vector<std::string> want = {kOurs, kOurs, kOurs};
  want.insert(want.begin() + (foreign_prio < 5 ? 0 : foreign_prio < 20 ? 1 : foreign_prio < 30 ? 2 : 3), foreign_name);
  ASSERT_TRUE(wait_order(want, &comps)) << names(comps) << diag();
  EXPECT_EQ(id_of(comps, foreign_name), foreign_id) << "the foreign component was replaced: " << names(comps);
  for (const char* p : {"prog-a", "prog-b", "prog-c"}) {
    const auto d = describe_or_fail();
    const auto prog = find_program(d, p);
    ASSERT_TRUE(prog) << d.dump();
    EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "xdp_dispatcher") << prog->dump();
  }

  std::printf("[info] dispatcher on %s: %s\n", net_->if_a.c_str(), names(comps).c_str());
  RecordProperty("dispatcher_order", names(comps));

  // A restarted daemon adopts its components: same ids, no dispatcher rebuilt.
  const auto before_restart = comps;
  EXPECT_EQ(stop_daemon(), "exit 0");
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_until([&] {
    const auto d = describe_or_fail();
    return d.value("state", "") == "idle" && find_program(d, "prog-c");
  }, 30s)) << diag();
  comps = dispatcher_components(net_->a, net_->if_a);
  ASSERT_EQ(comps.size(), before_restart.size()) << names(comps);
  for (std::size_t i = 0; i < comps.size(); ++i) EXPECT_EQ(comps[i].id, before_restart[i].id) << names(comps);

  // Every program passes: each counts every ping.
  EXPECT_GE(counted_during_ping("prog-a", 5), 5u);
  EXPECT_GE(counted_during_ping("prog-c", 5), 5u);

  // prog-b drops: prog-a (before it) still counts, prog-c (after it) sees nothing, since
  // proceed_on defaults to pass and dispatcher_return.
  // (The replacement is seen by its new kernel id: its counter need not stay 0, since IPv6
  // neighbour discovery on the fresh veth reaches the hook too.)
  const auto b_old = find_program(describe_or_fail(), "prog-b");
  ASSERT_TRUE(b_old) << diag();
  const auto b_old_id = b_old->value("kernel_id", 0u);
  write_manifest("20-b.toml", shared_manifest("prog-b", 20, 1));
  ASSERT_TRUE(wait_until([&] {
    const auto p = find_program(describe_or_fail(), "prog-b");
    return p && p->value("state", "") == "attached" && p->value("kernel_id", 0u) != b_old_id;
  }, 30s)) << diag();
  ASSERT_TRUE(wait_order(want, &comps)) << names(comps);
  const auto a_before = read_counter(map_pin("prog-a"), 0).value_or(0);
  const auto c_dropped = counted_during_ping("prog-c", 5);
  EXPECT_GE(read_counter(map_pin("prog-a"), 0).value_or(0) - a_before, 5u) << "prog-a runs before prog-b";
  EXPECT_GE(read_counter(map_pin("prog-b"), 0).value_or(0), 5u) << "prog-b saw the packets it dropped";
  EXPECT_EQ(c_dropped, 0u) << "prog-c ran after prog-b dropped: " << names(comps);

  // proceed_on = drop: the dispatcher goes on after prog-b's drop, so prog-c counts again.
  write_manifest("20-b.toml", shared_manifest("prog-b", 20, 1, "\"pass\", \"drop\", \"dispatcher_return\""));
  ASSERT_TRUE(wait_until([&] { return counted_during_ping("prog-c", 2) > 0; }, 30s))
      << "prog-c never counted with prog-b proceed_on = [pass, drop]: " << names(dispatcher_components(net_->a, net_->if_a))
      << diag();
  EXPECT_EQ(id_of(dispatcher_components(net_->a, net_->if_a), foreign_name), foreign_id);

  // Remove and re-add ours in another order; the foreign component stays, with its id.
  for (const auto& [file, name] : std::vector<std::pair<std::string, std::string>>{
           {"20-b.toml", "prog-b"}, {"10-a.toml", "prog-a"}, {"30-c.toml", "prog-c"}}) {
    remove_manifest(file);
    ASSERT_TRUE(wait_until([&] { return !find_program(describe_or_fail(), name); }, 30s)) << diag();
    comps = dispatcher_components(net_->a, net_->if_a);
    EXPECT_EQ(id_of(comps, foreign_name), foreign_id) << "after removing " << name << ": " << names(comps);
  }
  ASSERT_TRUE(wait_order({foreign_name}, &comps)) << names(comps);
  write_manifest("10-a.toml", shared_manifest("prog-a", 5, 2));
  write_manifest("30-c.toml", shared_manifest("prog-c", 30, 2));
  want = {kOurs, kOurs};
  want.insert(want.begin() + (foreign_prio < 5 ? 0 : foreign_prio < 30 ? 1 : 2), foreign_name);
  ASSERT_TRUE(wait_order(want, &comps)) << names(comps) << diag();
  EXPECT_EQ(id_of(comps, foreign_name), foreign_id) << names(comps);

  // The foreign program's owner removes it: ours stay attached.
  const auto unload = run_in_netns(net_->a, {"xdp-loader", "unload", "-i", std::to_string(foreign_id), net_->if_a});
  EXPECT_EQ(unload.rc, 0) << unload.describe();
  ASSERT_TRUE(wait_order({kOurs, kOurs}, &comps)) << names(comps);
  EXPECT_GE(counted_during_ping("prog-c", 3), 3u);

  // Nothing of ours left behind when our manifests go.
  remove_manifest("10-a.toml");
  remove_manifest("30-c.toml");
  ASSERT_TRUE(wait_until([&] { return xdp_prog_ids(net_->a, net_->if_a).empty(); }, 30s))
      << "the hook still holds a dispatcher: " << names(dispatcher_components(net_->a, net_->if_a));
}

// Where freplace is refused there is no dispatcher: the second program fails with the reason,
// and the first keeps running untouched.
TEST_F(XdpShared, SecondProgramWithoutFreplaceFailsAndKeepsTheFirst) {
  if (dispatcher_unavailable().empty()) GTEST_SKIP() << "this kernel allows freplace: both share the hook (see above)";
  ASSERT_TRUE(start_daemon());
  write_manifest("first.toml", xdp_manifest("xdp-first", 1));
  const auto id = wait_xdp_attached("xdp-first");
  ASSERT_TRUE(id) << diag();

  write_manifest("second.toml", xdp_manifest("xdp-second", 1));
  const auto second = wait_program("xdp-second", [](const json& p) {
    const std::string s = p.value("state", "");
    return s == "failed" || s == "partial";
  });
  ASSERT_TRUE(second) << "second XDP program on the same interface did not end up failed/partial "
                         "(freplace is unavailable here, so libxdp cannot share the interface)"
                      << diag();
  ASSERT_FALSE((*second)["attachments"].empty()) << second->dump();
  const json& att = (*second)["attachments"][0];
  EXPECT_EQ(att.value("state", ""), "failed") << second->dump();
  const std::string err = lower(att.value("error", "") + " " + second->value("error", ""));
  RecordProperty("second_program", second->dump());
  std::printf("[info] second XDP program as described: %s\n", second->dump().c_str());
  EXPECT_TRUE(err.find("dispatcher") != std::string::npos && err.find("freplace") != std::string::npos)
      << "error should explain the dispatcher/freplace limitation: " << second->dump();

  // The first program is untouched: same id still the only one on the interface, still counting.
  EXPECT_EQ(xdp_prog_ids(net_->a, net_->if_a), std::vector<std::uint32_t>{*id}) << diag();
  EXPECT_EQ(pinned_prog_id(prog_pin("xdp-first")), id);
  const auto c0 = read_counter(map_pin("xdp-first"), 0).value_or(0);
  EXPECT_EQ(net_->ping_a_from_b(5).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("xdp-first"), 0).value_or(0) >= c0 + 5; }, 2s));
  const auto first = find_program(describe_or_fail(), "xdp-first");
  ASSERT_TRUE(first);
  EXPECT_EQ((*first).value("state", ""), "attached") << first->dump();
  EXPECT_EQ((*first).value("kernel_id", 0u), *id) << first->dump();

  // A reconcile later (nothing changed) must not disturb the first program either.
  EXPECT_EQ(call_reload().rc, 0);
  EXPECT_EQ(xdp_prog_ids(net_->a, net_->if_a), std::vector<std::uint32_t>{*id}) << diag();
}

TEST_F(XdpShared, ExplicitDispatcherWithoutFreplaceIsAClearError) {
  if (dispatcher_unavailable().empty()) GTEST_SKIP() << "this kernel allows freplace: the dispatcher works here";
  ASSERT_TRUE(daemon().start({"daemon", "--programs-dir", programs_dir_, "--pin-root", pin_root_,
                              "--state-dir", work_dir_ + "/state", "--xdp-mechanism", "dispatcher"}, log_path_));
  write_manifest("a.toml", shared_manifest("prog-a", 5, 2));
  const auto p = wait_program("prog-a", [](const json& j) { return !j["attachments"].empty() &&
                                                                     j["attachments"][0].value("state", "") == "failed"; });
  ASSERT_TRUE(p) << diag();
  const std::string err = (*p)["attachments"][0].value("error", "");
  EXPECT_NE(err.find("freplace"), std::string::npos) << p->dump();
  EXPECT_TRUE(xdp_prog_ids(net_->a, net_->if_a).empty()) << "nothing may be attached";
}

}  // namespace
}  // namespace it
