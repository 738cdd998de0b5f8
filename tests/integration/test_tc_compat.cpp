// bpfman compatibility on the cls_bpf mechanism (--tc-mechanism tc), issue 10:
//  - equal priorities on one hook both attach, in name order (distinct filter preferences and
//    handles), and priority 0 runs first;
//  - a foreign classic `ingress` qdisc is refused with an error naming it, left alone, and no
//    other attachment of ours is disturbed;
//  - the clsact qdisc the daemon created goes with its last cls_bpf filter; one that somebody
//    else created stays.
// Checked with `tc filter show`, `tc qdisc show` and packets in each direction (counters).
#include <set>

#include "tc_verdict.h"

namespace it {
namespace {

class TcCompat : public TcVerdictTest {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--tc-mechanism", "tc"}; }

  /// `tc qdisc show dev IF` in netns ns, as text.
  std::string qdiscs(const std::string& ns, const std::string& ifname) {
    return run_in_netns(ns, {"tc", "qdisc", "show", "dev", ifname}).out;
  }
};

/// (pref, handle, prog id) of every cls_bpf filter on the hook, in run order (pref, then the
/// order tc lists them in: the kernel's own order within one preference).
struct Filter {
  std::uint32_t pref = 0;
  std::uint32_t handle = 0;
  std::uint32_t prog = 0;
};
std::vector<Filter> chain(const std::string& ns, const std::string& ifname, bool ingress) {
  std::vector<Filter> out;
  for (const auto& f : cls_bpf_filters(ns, ifname, ingress)) {
    const json& o = f["options"];
    if (!o.contains("prog") || !o["prog"].contains("id")) continue;
    Filter x;
    x.pref = f.value("pref", 0u);
    const std::string h = o.value("handle", "0");
    x.handle = static_cast<std::uint32_t>(std::strtoul(h.c_str(), nullptr, 16));
    x.prog = o["prog"]["id"].get<std::uint32_t>();
    out.push_back(x);
  }
  std::stable_sort(out.begin(), out.end(), [](const Filter& a, const Filter& b) { return a.pref < b.pref; });
  return out;
}
std::string show(const std::vector<Filter>& c) {
  std::string s;
  for (auto& f : c) s += " {pref " + std::to_string(f.pref) + " handle " + std::to_string(f.handle) + " prog " +
                         std::to_string(f.prog) + "}";
  return s;
}

TEST_F(TcCompat, EqualPrioritiesBothAttachInNameOrder) {
  ASSERT_TRUE(start_daemon());
  // Applied in reverse name order, so the order on the hook cannot come from the order of the
  // applies. Both at priority 50: tc-b drops, so tc-a (before it by name) counts and tc-c
  // (after it) sees nothing.
  write_manifest("c.toml", verdict_manifest("tc-c", 50, kUnspec));
  ASSERT_TRUE(wait_attached("tc-c")) << diag();
  write_manifest("b.toml", verdict_manifest("tc-b", 50, kShot));
  ASSERT_TRUE(wait_attached("tc-b")) << diag();
  write_manifest("a.toml", verdict_manifest("tc-a", 50, kUnspec));
  ASSERT_TRUE(wait_attached("tc-a")) << diag();

  const auto c = chain(net_->a, net_->if_a, true);
  ASSERT_EQ(c.size(), 3u) << show(c) << diag();
  EXPECT_EQ(c[0].prog, id_of("tc-a")) << show(c);
  EXPECT_EQ(c[1].prog, id_of("tc-b")) << show(c);
  EXPECT_EQ(c[2].prog, id_of("tc-c")) << show(c);
  std::set<std::uint32_t> handles;
  for (auto& f : c) handles.insert(f.handle);
  EXPECT_EQ(handles.size(), 3u) << "handles collide:" << show(c);

  const auto n = counted({"tc-a", "tc-b", "tc-c"});
  EXPECT_GE(n[0], 5u) << show(c);
  EXPECT_EQ(n[1], n[0]) << show(c);
  EXPECT_EQ(n[2], 0u) << "tc-c ran after tc-b dropped:" << show(c);

  // Priority 0 is accepted and runs before everything else: a dropping program at 0 starves all.
  write_manifest("z.toml", verdict_manifest("tc-zero", 0, kShot));
  ASSERT_TRUE(wait_attached("tc-zero")) << diag();
  const auto c0 = chain(net_->a, net_->if_a, true);
  ASSERT_EQ(c0.size(), 4u) << show(c0);
  EXPECT_EQ(c0[0].prog, id_of("tc-zero")) << show(c0);
  EXPECT_GE(c0[0].pref, 1u);
  const auto n0 = counted({"tc-zero", "tc-a", "tc-b", "tc-c"});
  EXPECT_GE(n0[0], 5u);
  EXPECT_EQ(n0[1] + n0[2] + n0[3], 0u) << show(c0);
}

TEST_F(TcCompat, ForeignIngressQdiscIsRefusedAndLeftAlone) {
  // Another of ours elsewhere (veth-b in netns b) that must keep running.
  write_manifest("other.toml", tc_manifest_text("tc-other", net_->if_b, net_->path_b(), "ingress"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("tc-other", [](const json& p) { return p.value("state", "") == "attached"; }, 10s))
      << diag();
  const auto other_filters = chain(net_->b, net_->if_b, true);
  ASSERT_EQ(other_filters.size(), 1u) << show(other_filters);

  // The classic ingress qdisc, as `tc qdisc add dev X ingress` makes it.
  ASSERT_EQ(run_in_netns(net_->a, {"tc", "qdisc", "add", "dev", net_->if_a, "ingress"}).rc, 0);
  const std::string before = qdiscs(net_->a, net_->if_a);
  ASSERT_NE(before.find("qdisc ingress ffff:"), std::string::npos) << before;

  for (const std::string dir : {"egress", "ingress"}) {
    const std::string name = "tc-" + dir;
    write_manifest(name + ".toml", verdict_manifest(name, 50, kUnspec, dir));
    const auto p = wait_program(name, [](const json& j) {
      return !j["attachments"].empty() && !j["attachments"][0].value("error", "").empty();
    }, 10s);
    ASSERT_TRUE(p) << dir << diag();
    EXPECT_EQ((*p)["attachments"][0].value("state", ""), "failed") << p->dump();
    const std::string err = (*p)["attachments"][0].value("error", "");
    EXPECT_NE(err.find("'ingress' qdisc"), std::string::npos) << err;
    EXPECT_NE(err.find(net_->if_a), std::string::npos) << err;
    // Nothing attached, no packets counted in either direction.
    EXPECT_TRUE(chain(net_->a, net_->if_a, true).empty()) << show(chain(net_->a, net_->if_a, true));
    EXPECT_TRUE(chain(net_->a, net_->if_a, false).empty());
    (void)net_->ping_a_from_b(3);
    EXPECT_EQ(count(name), 0u) << dir << ": counted packets although it is reported not attached";
    remove_manifest(name + ".toml");
  }
  // The qdisc is left as it was; ours elsewhere untouched and still counting.
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("tc-ingress")); }, 5s)) << diag();
  EXPECT_EQ(qdiscs(net_->a, net_->if_a), before);
  EXPECT_EQ(chain(net_->b, net_->if_b, true).size(), 1u);
  EXPECT_EQ(chain(net_->b, net_->if_b, true)[0].prog, other_filters[0].prog);
  const auto o0 = count("tc-other");
  // veth-b ingress sees the echo replies from netns a.
  (void)net_->ping_a_from_b(3);
  EXPECT_TRUE(wait_until([&] { return count("tc-other") >= o0 + 3; }, 2s)) << count("tc-other") - o0;
}

TEST_F(TcCompat, ClsactWeCreatedGoesWithOurLastFilter) {
  ASSERT_TRUE(start_daemon());
  ASSERT_FALSE(has_clsact(net_->a, net_->if_a)) << qdiscs(net_->a, net_->if_a);
  write_manifest("in.toml", verdict_manifest("tc-in", 50, kUnspec, "ingress"));
  write_manifest("out.toml", verdict_manifest("tc-out", 50, kUnspec, "egress"));
  ASSERT_TRUE(wait_attached("tc-in")) << diag();
  ASSERT_TRUE(wait_attached("tc-out")) << diag();
  ASSERT_TRUE(has_clsact(net_->a, net_->if_a));
  // Each direction counts its own packets: 5 requests in, 5 replies out.
  const auto n = counted({"tc-in", "tc-out"});
  EXPECT_GE(n[0], 5u);
  EXPECT_GE(n[1], 5u);

  // One of two goes: the qdisc stays for the other.
  remove_manifest("in.toml");
  EXPECT_TRUE(wait_until([&] { return chain(net_->a, net_->if_a, true).empty(); }, 5s)) << diag();
  EXPECT_TRUE(has_clsact(net_->a, net_->if_a));
  EXPECT_EQ(chain(net_->a, net_->if_a, false).size(), 1u);
  // The last one goes: so does the clsact qdisc the daemon made.
  remove_manifest("out.toml");
  EXPECT_TRUE(wait_until([&] { return !has_clsact(net_->a, net_->if_a); }, 5s)) << qdiscs(net_->a, net_->if_a);

  // A clsact somebody else made stays, filters gone or not.
  ASSERT_EQ(run_in_netns(net_->b, {"tc", "qdisc", "add", "dev", net_->if_b, "clsact"}).rc, 0);
  write_manifest("b.toml", tc_manifest_text("tc-b", net_->if_b, net_->path_b(), "ingress"));
  ASSERT_TRUE(wait_attached("tc-b")) << diag();
  remove_manifest("b.toml");
  EXPECT_TRUE(wait_until([&] { return chain(net_->b, net_->if_b, true).empty(); }, 5s)) << diag();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(has_clsact(net_->b, net_->if_b)) << "removed a clsact qdisc the daemon did not create";
}

}  // namespace
}  // namespace it
