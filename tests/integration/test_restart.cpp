// Restart without disturbance: XDP, TCX, tracepoint and uprobe programs stay attached while the
// daemon is down (SIGTERM or SIGKILL) and are adopted, not re-attached, when it starts again.
// Checked through the kernel: pinned ids, link ids, the hooks sampled every 2 ms in a background
// thread, and counters that keep rising under continuous traffic.
#include <signal.h>

#include <sstream>

#include "harness.h"

#ifndef UPROBE_TARGET_BIN
#error "UPROBE_TARGET_BIN must be defined by the build"
#endif

namespace it {
namespace {

class Restart : public ReconcilerTest {
 protected:
  void restart_keeps_everything(bool sigkill);
};

/// The only link pinned under dir (nullopt when there is not exactly one, or it is not live).
std::optional<RawLink> only_link(const std::string& dir) {
  const auto pins = list_dir(dir);
  if (pins.size() != 1) return std::nullopt;
  return raw_pinned_link(dir + "/" + pins[0]);
}

/// Audit lines ("audit: action=...") the daemon logged after the last "[harness] starting" line.
std::vector<std::string> audit_lines_since_last_start(const std::string& log) {
  std::vector<std::string> lines;
  std::stringstream ss(read_file(log));
  std::string line;
  while (std::getline(ss, line)) {
    if (line.find("[harness] starting") != std::string::npos) lines.clear();
    if (line.find("audit: action=") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

struct Ids {
  std::uint32_t xdp = 0, tc = 0, tp = 0, up = 0;
  std::uint32_t tc_link = 0, tp_link = 0, up_link = 0;
};

void Restart::restart_keeps_everything(bool sigkill) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  write_manifest("10-xdp.toml", xdp_manifest("rs-xdp", 1));
  write_manifest("20-tc.toml", tc_manifest("rs-tc", "ingress"));
  write_manifest("30-tp.toml", tracepoint_manifest("rs-tp", "syscalls/sys_enter_openat"));
  write_manifest("40-up.toml",
                   uprobe_manifest("rs-up", "uprobe", UPROBE_TARGET_BIN, "bpfrec_it_probe_target"));

  Ids ids;
  ASSERT_TRUE(wait_until([&] {
    const auto x = raw_pinned_prog_id(prog_pin("rs-xdp"));
    const auto c = raw_pinned_prog_id(prog_pin("rs-tc"));
    const auto p = raw_pinned_prog_id(prog_pin("rs-tp"));
    const auto u = raw_pinned_prog_id(prog_pin("rs-up"));
    const auto cl = only_link(links_dir("rs-tc"));
    const auto pl = only_link(links_dir("rs-tp"));
    const auto ul = only_link(links_dir("rs-up"));
    if (!x || !c || !p || !u || !cl || !pl || !ul) return false;
    ids = {*x, *c, *p, *u, cl->id, pl->id, ul->id};
    return xdp_ids_netlink(net_->a, net_->if_a) == std::vector<std::uint32_t>{*x} &&
           tcx_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*c} &&
           cl->prog_id == *c && pl->prog_id == *p && ul->prog_id == *u;
  }, 5s)) << "not everything attached" << diag();

  // Continuous traffic: 100 pps from netns b into veth-a (XDP and TCX ingress count it).
  BackgroundCommand ping({"nsenter", "--net=/run/netns/" + net_->b, "--", "ping", "-i", "0.01", "-q",
                          kAddrA});
  auto xdp_count = [&] { return read_counter(map_pin("rs-xdp"), 0); };
  auto tc_count = [&] { return read_counter(map_pin("rs-tc"), 0); };
  ASSERT_TRUE(wait_until([&] { return xdp_count().value_or(0) > 3 && tc_count().value_or(0) > 3; }, 3s))
      << "background ping is not counted" << diag();

  HookSampler sampler({{HookTarget::Xdp, net_->a, net_->if_a},
                       {HookTarget::TcxIngress, net_->a, net_->if_a}},
                      std::chrono::microseconds(2000));
  const auto x0 = xdp_count().value_or(0);
  const auto c0 = tc_count().value_or(0);

  // Down.
  const std::string how = sigkill ? daemon().kill_hard() : stop_daemon();
  EXPECT_EQ(how, sigkill ? "signal 9" : "exit 0");
  std::uint64_t x1 = 0, c1 = 0;
  EXPECT_TRUE(wait_until([&] {
    x1 = xdp_count().value_or(0);
    c1 = tc_count().value_or(0);
    return x1 >= x0 + 10 && c1 >= c0 + 10;  // ~100 ms of traffic while down
  }, 2s)) << "counters did not rise while the daemon was down: xdp " << x0 << " -> " << x1 << ", tc " << c0
          << " -> " << c1;
  {
    const auto tp0 = read_counter(map_pin("rs-tp"), 0).value_or(0);
    const auto up0 = read_counter(map_pin("rs-up"), 0).value_or(0);
    const auto r = run({UPROBE_TARGET_BIN, "7"});
    EXPECT_EQ(r.rc, 0) << r.describe();
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("rs-up"), 0).value_or(0) == up0 + 7; }, 2s))
        << "uprobe did not count 7 calls while the daemon was down";
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("rs-tp"), 0).value_or(0) > tp0; }, 2s))
        << "tracepoint did not count while the daemon was down";
  }
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rs-xdp")), ids.xdp);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rs-tc")), ids.tc);

  // Up again; Reload() returns after a full reconcile, so any re-attach has happened by then.
  ASSERT_TRUE(start_daemon());
  const auto reload = call_reload();
  EXPECT_EQ(reload.rc, 0) << reload.describe();
  std::uint64_t x2 = 0, c2 = 0;
  EXPECT_TRUE(wait_until([&] {
    x2 = xdp_count().value_or(0);
    c2 = tc_count().value_or(0);
    return x2 > x1 && c2 > c1;
  }, 2s)) << "counters did not rise after the restart: xdp " << x1 << " -> " << x2 << ", tc " << c1 << " -> "
          << c2;
  // Let the sampler see the settled state for a little longer, then stop it.
  std::this_thread::sleep_for(50ms);
  sampler.stop();

  // The hooks were never empty and always held the same program.
  for (std::size_t i = 0; i < 2; ++i) {
    const std::uint32_t want = i == 0 ? ids.xdp : ids.tc;
    std::size_t other = 0;
    for (const auto& s : sampler.samples())
      other += !s.ids[i] || *s.ids[i] != std::vector<std::uint32_t>{want};
    EXPECT_EQ(sampler.empty_count(i), 0u) << "hook empty during the restart; " << sampler.timeline(i);
    EXPECT_EQ(other, 0u) << "hook did not hold exactly program " << want << " throughout; "
                         << sampler.timeline(i);
  }
  EXPECT_GT(sampler.samples().size(), 20u) << sampler.rate();
  std::printf("[info] %s restart: hooks sampled %s; xdp %llu -> %llu -> %llu, tc %llu -> %llu -> %llu\n",
              sigkill ? "SIGKILL" : "SIGTERM", sampler.rate().c_str(), (unsigned long long)x0,
              (unsigned long long)x1, (unsigned long long)x2, (unsigned long long)c0, (unsigned long long)c1,
              (unsigned long long)c2);

  // Same programs, same links.
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rs-xdp")), ids.xdp);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rs-tc")), ids.tc);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rs-tp")), ids.tp);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rs-up")), ids.up);
  EXPECT_EQ(only_link(links_dir("rs-tc")).value_or(RawLink{}).id, ids.tc_link) << "TCX link replaced";
  EXPECT_EQ(only_link(links_dir("rs-tp")).value_or(RawLink{}).id, ids.tp_link) << "tracepoint link replaced";
  EXPECT_EQ(only_link(links_dir("rs-up")).value_or(RawLink{}).id, ids.up_link) << "uprobe link replaced";
  EXPECT_EQ(xdp_ids_netlink(net_->a, net_->if_a), std::vector<std::uint32_t>{ids.xdp});
  EXPECT_EQ(tcx_prog_ids(net_->a, net_->if_a, true), std::vector<std::uint32_t>{ids.tc});
  for (const auto id : {ids.tp, ids.up}) EXPECT_EQ(links_of_prog(id).size(), 1u) << all_links().dump();
  {
    const auto r = run({UPROBE_TARGET_BIN, "3"});
    EXPECT_EQ(r.rc, 0);
    const auto up0 = read_counter(map_pin("rs-up"), 0).value_or(0);
    EXPECT_EQ(run({UPROBE_TARGET_BIN, "5"}).rc, 0);
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("rs-up"), 0).value_or(0) == up0 + 5; }, 2s));
  }

  // The daemon agrees, and changed nothing in the kernel after the restart (its audit trail).
  for (const auto& [name, id] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"rs-xdp", ids.xdp}, {"rs-tc", ids.tc}, {"rs-tp", ids.tp}, {"rs-up", ids.up}}) {
    const auto p = wait_program(name, [](const json& q) { return q.value("state", "") == "attached"; });
    ASSERT_TRUE(p) << name << " not attached after the restart" << diag();
    EXPECT_EQ(p->value("kernel_id", 0u), id) << p->dump();
  }
  const auto audit = audit_lines_since_last_start(log_path_);
  EXPECT_TRUE(audit.empty()) << "the restarted daemon changed the kernel although nothing changed:\n"
                             << json(audit).dump(1);
}

TEST_F(Restart, SigtermKeepsProgramsLinksAndTraffic) { restart_keeps_everything(false); }

TEST_F(Restart, SigkillKeepsProgramsLinksAndTraffic) { restart_keeps_everything(true); }

// ---------------------------------------------------------------------------------------------
// Updates without a gap (NEW): a changed program replaces the old one so that the hook is never
// empty (sampled every 1 ms from a background thread), in place for XDP and TCX (never two
// programs on the hook); a changed attach point attaches the new before detaching the old; an
// unchanged neighbour in another manifest keeps its ids.

class Update : public ReconcilerTest {
 protected:
  /// The tests that use a TCX hook (the edited program or its neighbour) skip without TCX.
  bool no_tcx() { return !tcx_prog_ids(net_->a, net_->if_a, true); }

  /// Writes 20-tc.toml (tc_counter as "up-tc" on veth-a ingress) and waits until its pinned
  /// program is the only TCX program there; returns its id.
  std::optional<std::uint32_t> start_tc_counter() {
    write_manifest("20-tc.toml", tc_manifest_g("up-tc", "ingress", 1, obj("tc_counter"), "tc_count"));
    std::optional<std::uint32_t> id;
    if (!wait_until([&] {
          id = raw_pinned_prog_id(prog_pin("up-tc"));
          return id && tcx_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*id};
        }, 5s))
      return std::nullopt;
    return id;
  }

  std::string tc_manifest_g(const std::string& name, const std::string& direction, int sample_every,
                            const std::string& object, const std::string& function) const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"tc\"\n"
           "bpf_function = \"" + function + "\"\n"
           "bytecode = { path = \"" + object + "\" }\n"
           "global_data = { sample_every = " + std::to_string(sample_every) + " }\n"
           "[[program.attach]]\n"
           "interface = \"" + net_->if_a + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "direction = \"" + direction + "\"\n";
  }

  struct Neighbours {
    std::uint32_t tp = 0, tp_link = 0, other = 0, other_link = 0;
  };
  /// A tracepoint program in its own manifest, plus (for XDP edits) a TCX program or (for TC
  /// edits) an XDP program in another manifest; returns their ids once attached.
  std::optional<Neighbours> add_neighbours(bool other_is_tc) {
    write_manifest("50-tp.toml", tracepoint_manifest("nb-tp", "syscalls/sys_enter_openat"));
    if (other_is_tc) write_manifest("60-other.toml", tc_manifest("nb-other", "egress"));
    else write_manifest("60-other.toml", xdp_manifest("nb-other", 1));
    Neighbours n;
    const bool ok = wait_until([&] {
      const auto tp = raw_pinned_prog_id(prog_pin("nb-tp"));
      const auto other = raw_pinned_prog_id(prog_pin("nb-other"));
      const auto tl = list_dir(links_dir("nb-tp"));
      if (!tp || !other || tl.size() != 1) return false;
      const auto l = raw_pinned_link(links_dir("nb-tp") + "/" + tl[0]);
      if (!l) return false;
      n.tp = *tp;
      n.tp_link = l->id;
      n.other = *other;
      if (other_is_tc) {
        const auto ol = list_dir(links_dir("nb-other"));
        if (ol.size() != 1) return false;
        const auto l2 = raw_pinned_link(links_dir("nb-other") + "/" + ol[0]);
        if (!l2) return false;
        n.other_link = l2->id;
        return tcx_prog_ids(net_->a, net_->if_a, false) == std::vector<std::uint32_t>{*other};
      }
      return xdp_ids_netlink(net_->a, net_->if_a) == std::vector<std::uint32_t>{*other};
    }, 5s);
    if (!ok) return std::nullopt;
    return n;
  }

  void expect_neighbours_unchanged(const Neighbours& n, bool other_is_tc) {
    EXPECT_EQ(raw_pinned_prog_id(prog_pin("nb-tp")), n.tp) << "unchanged neighbour was reloaded";
    const auto tl = list_dir(links_dir("nb-tp"));
    ASSERT_EQ(tl.size(), 1u);
    EXPECT_EQ(raw_pinned_link(links_dir("nb-tp") + "/" + tl[0]).value_or(RawLink{}).id, n.tp_link)
        << "unchanged neighbour was re-attached";
    EXPECT_EQ(raw_pinned_prog_id(prog_pin("nb-other")), n.other) << "unchanged neighbour was reloaded";
    if (other_is_tc) {
      const auto ol = list_dir(links_dir("nb-other"));
      ASSERT_EQ(ol.size(), 1u);
      EXPECT_EQ(raw_pinned_link(links_dir("nb-other") + "/" + ol[0]).value_or(RawLink{}).id, n.other_link);
      EXPECT_EQ(tcx_prog_ids(net_->a, net_->if_a, false), std::vector<std::uint32_t>{n.other});
    }
  }

  /// Edits `file` to `after` while sampling `hook` every millisecond; expects a new program id on
  /// the hook, never an empty hook, never two programs (in place). Returns the new id.
  std::optional<std::uint32_t> replace_without_gap(const std::string& name, const std::string& file,
                                                   const std::string& after, HookTarget hook,
                                                   std::uint32_t old_id) {
    auto hook_ids = [&] {
      return hook.kind == HookTarget::Xdp ? xdp_ids_netlink(hook.ns, hook.ifname)
                                          : tcx_prog_ids(hook.ns, hook.ifname, hook.kind == HookTarget::TcxIngress);
    };
    HookSampler sampler({hook}, std::chrono::microseconds(1000));
    std::this_thread::sleep_for(10ms);
    write_manifest(file, after);
    const auto reload = call_reload();
    EXPECT_EQ(reload.rc, 0) << reload.describe();
    std::optional<std::uint32_t> id;
    const bool replaced = wait_until([&] {
      id = raw_pinned_prog_id(prog_pin(name));
      return id && *id != old_id && hook_ids() == std::vector<std::uint32_t>{*id};
    }, 5s);
    std::this_thread::sleep_for(20ms);
    sampler.stop();
    EXPECT_TRUE(replaced) << name << " was not replaced by a new program on " << hook.label() << diag();
    EXPECT_EQ(sampler.empty_count(0), 0u) << "the hook was empty during the replace (a gap); "
                                          << sampler.timeline(0) << "; " << sampler.rate();
    EXPECT_EQ(sampler.error_count(0), 0u) << sampler.timeline(0);
    EXPECT_LE(sampler.max_count(0), 1u) << "two programs on the hook at once: not replaced in place; "
                                        << sampler.timeline(0);
    std::printf("[info] %s replace: %s; %s\n", name.c_str(), sampler.rate().c_str(), sampler.timeline(0).c_str());
    EXPECT_TRUE(wait_until([&] { return !raw_prog(old_id); }, 3s))
        << "old program " << old_id << " still loaded; " << prog_holders(old_id);
    if (!replaced) return std::nullopt;
    return id;
  }

  std::string renamed(const std::string& object, const std::string& from, const std::string& to) {
    const std::string dest = work_dir_ + "/" + to + ".bpf.o";
    EXPECT_TRUE(make_renamed_object(obj(object), from, to, dest));
    return dest;
  }
};

TEST_F(Update, XdpGlobalDataReplacedWithoutGap) {
  if (no_tcx()) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  write_manifest("10-xdp.toml", xdp_manifest("up-xdp", 1));
  const auto id0 = wait_xdp_attached("up-xdp");
  ASSERT_TRUE(id0) << diag();
  const auto nb = add_neighbours(/*other_is_tc=*/true);
  ASSERT_TRUE(nb) << diag();
  const auto id1 = replace_without_gap("up-xdp", "10-xdp.toml", xdp_manifest("up-xdp", 3),
                                       {HookTarget::Xdp, net_->a, net_->if_a}, *id0);
  ASSERT_TRUE(id1);
  EXPECT_EQ(raw_map_u32(map_pin("up-xdp", "xdp_coun_rodata")), 3u) << "new program lacks sample_every = 3";
  expect_neighbours_unchanged(*nb, true);
}

TEST_F(Update, XdpBytecodeAndFunctionReplacedWithoutGap) {
  if (no_tcx()) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  write_manifest("10-xdp.toml", xdp_manifest("up-xdp", 1));
  const auto id0 = wait_xdp_attached("up-xdp");
  ASSERT_TRUE(id0) << diag();
  const auto nb = add_neighbours(true);
  ASSERT_TRUE(nb) << diag();
  const std::string other = renamed("xdp_counter", "xdp_count", "xdp_cnt_b");
  const auto id1 = replace_without_gap("up-xdp", "10-xdp.toml", xdp_manifest("up-xdp", 1, other, "xdp_cnt_b"),
                                       {HookTarget::Xdp, net_->a, net_->if_a}, *id0);
  ASSERT_TRUE(id1);
  EXPECT_EQ(raw_prog(*id1).value_or(RawProg{}).name, "xdp_cnt_b") << "the hook does not run the new function";
  expect_neighbours_unchanged(*nb, true);
}

TEST_F(Update, TcxGlobalDataReplacedInPlaceWithoutGap) {
  if (no_tcx()) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  const auto id0 = start_tc_counter();
  ASSERT_TRUE(id0) << diag();
  const auto nb = add_neighbours(/*other_is_tc=*/false);
  ASSERT_TRUE(nb) << diag();
  const auto links0 = list_dir(links_dir("up-tc"));
  ASSERT_EQ(links0.size(), 1u);
  const auto link0 = raw_pinned_link(links_dir("up-tc") + "/" + links0[0]);
  ASSERT_TRUE(link0);
  const auto id1 = replace_without_gap("up-tc", "20-tc.toml",
                                       tc_manifest_g("up-tc", "ingress", 4, obj("tc_counter"), "tc_count"),
                                       {HookTarget::TcxIngress, net_->a, net_->if_a}, *id0);
  ASSERT_TRUE(id1);
  // In place: BPF_LINK_UPDATE of the same TCX link (README), not a new link.
  EXPECT_EQ(raw_pinned_link(links_dir("up-tc") + "/" + links0[0]).value_or(RawLink{}).id, link0->id)
      << "the TCX link was replaced instead of updated in place";
  EXPECT_EQ(raw_map_u32(map_pin("up-tc", "tc_count_rodata")), 4u)
      << "new program lacks sample_every = 4; maps: " << json(list_dir(pin_dir("up-tc") + "/maps")).dump();
  const auto links = list_dir(links_dir("up-tc"));
  ASSERT_EQ(links.size(), 1u) << json(links).dump();
  EXPECT_EQ(raw_pinned_link(links_dir("up-tc") + "/" + links[0]).value_or(RawLink{}).prog_id, *id1)
      << "the pinned TCX link does not run the new program";
  expect_neighbours_unchanged(*nb, false);
}

TEST_F(Update, TcxBytecodeAndFunctionReplacedInPlaceWithoutGap) {
  if (no_tcx()) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  const auto id0 = start_tc_counter();
  ASSERT_TRUE(id0) << diag();
  const auto nb = add_neighbours(false);
  ASSERT_TRUE(nb) << diag();
  const std::string other = renamed("tc_counter", "tc_count", "tc_cnt_b");
  const auto id1 = replace_without_gap("up-tc", "20-tc.toml", tc_manifest_g("up-tc", "ingress", 1, other, "tc_cnt_b"),
                                       {HookTarget::TcxIngress, net_->a, net_->if_a}, *id0);
  ASSERT_TRUE(id1);
  EXPECT_EQ(raw_prog(*id1).value_or(RawProg{}).name, "tc_cnt_b");
  expect_neighbours_unchanged(*nb, false);
}

/// Samples [old, new] in that order within each sample: if the new hook is attached before the
/// old is detached, no sample can see both empty.
void expect_make_before_break(const HookSampler& s) {
  std::size_t both_empty = 0;
  for (const auto& x : s.samples())
    both_empty += x.ids[0] && x.ids[0]->empty() && x.ids[1] && x.ids[1]->empty();
  EXPECT_EQ(both_empty, 0u) << "old detached before new attached (" << both_empty << " samples with neither); "
                            << s.timeline(0) << "; " << s.timeline(1) << "; " << s.rate();
  std::printf("[info] move: %s; %s; %s\n", s.rate().c_str(), s.timeline(0).c_str(), s.timeline(1).c_str());
}

TEST_F(Update, XdpMovedToAnotherInterfaceAttachesBeforeDetaching) {
  ASSERT_EQ(add_veth(net_->a, "veth-c", net_->b, "veth-d"), "");
  ASSERT_TRUE(start_daemon());
  write_manifest("10-xdp.toml", xdp_manifest("mv-xdp", 1));
  const auto id = wait_xdp_attached("mv-xdp");
  ASSERT_TRUE(id) << diag();
  std::string moved = xdp_manifest("mv-xdp", 1);
  moved.replace(moved.find("interface = \"veth-a\""), 20, "interface = \"veth-c\"");
  HookSampler sampler({{HookTarget::Xdp, net_->a, "veth-a"}, {HookTarget::Xdp, net_->a, "veth-c"}},
                      std::chrono::microseconds(1000));
  std::this_thread::sleep_for(10ms);
  write_manifest("10-xdp.toml", moved);
  EXPECT_EQ(call_reload().rc, 0);
  const bool ok = wait_until([&] {
    return xdp_ids_netlink(net_->a, "veth-c") == std::vector<std::uint32_t>{*id} &&
           xdp_ids_netlink(net_->a, "veth-a") == std::vector<std::uint32_t>{};
  }, 5s);
  std::this_thread::sleep_for(10ms);
  sampler.stop();
  EXPECT_TRUE(ok) << "program " << *id << " not moved from veth-a to veth-c (same program id)" << diag();
  expect_make_before_break(sampler);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("mv-xdp")), id) << "an attach-point change must keep the program";
}

TEST_F(Update, TcDirectionChangeAttachesBeforeDetaching) {
  if (no_tcx()) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  write_manifest("20-tc.toml", tc_manifest("mv-tc", "ingress"));
  std::optional<std::uint32_t> id;
  ASSERT_TRUE(wait_until([&] {
    id = raw_pinned_prog_id(prog_pin("mv-tc"));
    return id && tcx_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*id};
  }, 5s)) << diag();
  HookSampler sampler({{HookTarget::TcxIngress, net_->a, net_->if_a}, {HookTarget::TcxEgress, net_->a, net_->if_a}},
                      std::chrono::microseconds(1000));
  std::this_thread::sleep_for(10ms);
  write_manifest("20-tc.toml", tc_manifest("mv-tc", "egress"));
  EXPECT_EQ(call_reload().rc, 0);
  const bool ok = wait_until([&] {
    return tcx_prog_ids(net_->a, net_->if_a, false) == std::vector<std::uint32_t>{*id} &&
           tcx_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{};
  }, 5s);
  std::this_thread::sleep_for(10ms);
  sampler.stop();
  EXPECT_TRUE(ok) << "program " << *id << " not moved from ingress to egress" << diag();
  expect_make_before_break(sampler);
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("mv-tc")), id);
}

}  // namespace
}  // namespace it
