// Shared TC hooks: several of our programs on one hook, ordered by priority, next to a program
// that is not ours.
//  - TCX (host kernel): kernel order (BPF_PROG_QUERY) follows priority; a foreign TCX link keeps
//    its id and stays attached across our add, remove and priority change; a TC_ACT_SHOT in the
//    middle stops the later ones from counting.
//  - cls_bpf chain (--tc-mechanism tc): filter preferences in priority order; the same packet proof.
//  - TC dispatcher (--tc-mechanism dispatcher): skips where freplace is refused (this host, under
//    lockdown), runs in the VM (Debian 6.1): proceed_on decides whether a later program counts.
//  - proceed_on that the mechanism cannot honour: a positioned error in status, nothing attached.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include <cstring>
#include <thread>

#include "tc_verdict.h"

namespace it {
namespace {

constexpr std::uint32_t kTcxIngress = 46;

/// Program ids and link ids on the TCX ingress hook of ifname in netns ns (Linux 6.6 query).
struct TcxHook {
  std::vector<std::uint32_t> progs, links;
};
std::optional<TcxHook> tcx_hook(const std::string& ns, const std::string& ifname) {
  std::optional<TcxHook> out;
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const bool entered = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (!entered) return;
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    std::uint32_t progs[64] = {}, links[64] = {};
    // union bpf_attr's query of Linux 6.6: link_ids at offset 40.
    alignas(8) unsigned char attr[128] = {};
    const std::uint32_t type = kTcxIngress, count = 64;
    const std::uint64_t pp = reinterpret_cast<std::uintptr_t>(progs), lp = reinterpret_cast<std::uintptr_t>(links);
    std::memcpy(attr + 0, &ifindex, 4);
    std::memcpy(attr + 4, &type, 4);
    std::memcpy(attr + 16, &pp, 8);
    std::memcpy(attr + 24, &count, 4);
    std::memcpy(attr + 40, &lp, 8);
    if (::syscall(SYS_bpf, BPF_PROG_QUERY, attr, sizeof attr) != 0) return;
    std::uint32_t n = 0;
    std::memcpy(&n, attr + 24, 4);
    n = std::min<std::uint32_t>(n, 64);
    out = TcxHook{{progs, progs + n}, {links, links + n}};
  });
  t.join();
  return out;
}

using TcShared = TcVerdictTest;

class TcSharedLegacy : public TcShared {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--tc-mechanism", "tc"}; }
};

class TcSharedDispatcher : public TcShared {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--tc-mechanism", "dispatcher"}; }
};

/// "Each program marked 1 saw the same packets (at least one: ARP and retries add some, and
/// ping gives up early when every request is dropped), each marked 0 saw none."
::testing::AssertionResult ran(const std::vector<std::uint64_t>& counts, const std::vector<int>& pattern) {
  std::uint64_t seen = 0;
  bool ok = counts.size() == pattern.size();
  for (std::size_t i = 0; ok && i < counts.size(); ++i) {
    if (pattern[i] == 0) ok = counts[i] == 0;
    else if (seen == 0) ok = (seen = counts[i]) >= 1;
    else ok = counts[i] == seen;
  }
  std::string text;
  for (auto c : counts) text += (text.empty() ? "" : ", ") + std::to_string(c);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "packets counted per program {" << text << "} do not match the run pattern";
}

std::string join_ids(const std::vector<std::uint32_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return "[" + s + "]";
}

TEST_F(TcShared, TcxOrderByPriorityWithForeignLinkUntouched) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX (BPF_PROG_QUERY for BPF_TCX_INGRESS failed)";
  ForeignTcx foreign(net_->a, net_->if_a, obj("tc_counter"));
  ASSERT_TRUE(foreign.error.empty()) << foreign.error;
  ASSERT_NE(foreign.link_id, 0u);
  auto foreign_intact = [&](const TcxHook& h) {
    return !h.links.empty() && h.links[0] == foreign.link_id && h.progs[0] == foreign.prog_id;
  };
  ASSERT_TRUE(start_daemon());

  // Names sort against priority, so the order cannot come from the order of the applies.
  write_manifest("a.toml", verdict_manifest("tc-a", 30, kUnspec));
  ASSERT_TRUE(wait_attached("tc-a")) << diag();
  write_manifest("b.toml", verdict_manifest("tc-b", 10, kUnspec));
  ASSERT_TRUE(wait_attached("tc-b")) << diag();
  write_manifest("c.toml", verdict_manifest("tc-c", 20, kUnspec));
  const auto c = wait_attached("tc-c");
  ASSERT_TRUE(c) << diag();
  EXPECT_EQ((*c)["attachments"][0].value("mechanism", ""), "tcx") << c->dump();

  auto order_is = [&](const std::vector<std::string>& names) {
    std::vector<std::uint32_t> want{foreign.prog_id};
    for (auto& n : names) want.push_back(id_of(n));
    const auto h = tcx_hook(net_->a, net_->if_a);
    return h && h->progs == want && foreign_intact(*h);
  };
  auto hook_text = [&] {
    const auto h = tcx_hook(net_->a, net_->if_a);
    return h ? "progs " + join_ids(h->progs) + " links " + join_ids(h->links) : std::string("query failed");
  };
  EXPECT_TRUE(wait_until([&] { return order_is({"tc-b", "tc-c", "tc-a"}); }, 5s))
      << "want foreign " << foreign.prog_id << ", tc-b " << id_of("tc-b") << ", tc-c " << id_of("tc-c") << ", tc-a "
      << id_of("tc-a") << "; hook " << hook_text() << diag();

  // All return TC_ACT_UNSPEC (TCX_NEXT): every program sees every packet.
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 1}));

  // tc-c (priority 20) now drops: tc-b before it counts, tc-a after it does not.
  write_manifest("c.toml", verdict_manifest("tc-c", 20, kShot));
  ASSERT_TRUE(wait_until([&] { return order_is({"tc-b", "tc-c", "tc-a"}) && raw_pinned_map_id(map_pin("tc-c")) &&
                                      wait_attached("tc-c"); }, 10s)) << hook_text() << diag();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 0})) << hook_text();

  // A priority change re-positions the link: tc-a to 5 goes first of ours, still after the
  // foreign link.
  write_manifest("a.toml", verdict_manifest("tc-a", 5, kUnspec));
  EXPECT_TRUE(wait_until([&] { return order_is({"tc-a", "tc-b", "tc-c"}); }, 10s)) << hook_text() << diag();
  EXPECT_TRUE(ran(counted({"tc-a", "tc-b", "tc-c"}), {1, 1, 1})) << hook_text();

  // Removing one of ours leaves the others in order, the foreign link in place.
  remove_manifest("b.toml");
  EXPECT_TRUE(wait_until([&] { return order_is({"tc-a", "tc-c"}); }, 10s)) << hook_text() << diag();
  remove_manifest("a.toml");
  remove_manifest("c.toml");
  EXPECT_TRUE(wait_until([&] {
    const auto h = tcx_hook(net_->a, net_->if_a);
    return h && h->links == std::vector<std::uint32_t>{foreign.link_id};
  }, 10s)) << "only the foreign link must be left: " << hook_text() << diag();
  EXPECT_TRUE(raw_pinned_link(foreign.link_pin)) << "foreign link pin gone";
}

TEST_F(TcShared, TcxRefusesProceedOnItCannotHonour) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  write_manifest("p.toml", verdict_manifest("tc-p", 10, kUnspec, "ingress", "[\"ok\", \"pipe\"]"));
  const auto p = wait_program("tc-p", [](const json& j) {
    return !j["attachments"].empty() && !j["attachments"][0].value("error", "").empty();
  }, 10s);
  ASSERT_TRUE(p) << diag();
  const std::string err = (*p)["attachments"][0].value("error", "");
  EXPECT_NE(err.find(manifest_path("p.toml") + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("cannot be honoured by the tcx mechanism"), std::string::npos) << err;
  EXPECT_EQ((*p)["attachments"][0].value("state", ""), "failed") << p->dump();
  EXPECT_TRUE(tcx_prog_ids(net_->a, net_->if_a, true).value_or(std::vector<std::uint32_t>{1}).empty())
      << "attached despite a proceed_on TCX cannot honour";
  // proceed_on = ["unspec"] is what TCX does: accepted.
  write_manifest("p.toml", verdict_manifest("tc-p", 10, kUnspec, "ingress", "[\"unspec\"]"));
  const auto ok = wait_attached("tc-p");
  ASSERT_TRUE(ok) << diag();
  EXPECT_EQ((*ok)["attachments"][0].value("mechanism", ""), "tcx");
  const auto link = tcx_hook(net_->a, net_->if_a);
  ASSERT_TRUE(link && link->links.size() == 1u);

  // Changing it to something TCX cannot honour is refused up front: the running link stays
  // (same link id), it is not detached and re-attached on every reconcile.
  write_manifest("p.toml", verdict_manifest("tc-p", 10, kUnspec, "ingress", "[\"shot\"]"));
  const auto refused = wait_program("tc-p", [](const json& j) {
    return j["attachments"][0].value("error", "").find("cannot be honoured") != std::string::npos;
  }, 10s);
  ASSERT_TRUE(refused) << diag();
  EXPECT_EQ(call_reload().rc, 0);
  std::this_thread::sleep_for(300ms);
  const auto after = tcx_hook(net_->a, net_->if_a);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->links, link->links) << "the running link was replaced or removed";
  EXPECT_EQ(after->progs, std::vector<std::uint32_t>{id_of("tc-p")});
}

/// cls_bpf filter preferences on veth-a ingress with the program id of each, in run order.
std::vector<std::pair<std::uint32_t, std::uint32_t>> cls_bpf_chain(const std::string& ns, const std::string& ifname) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (const auto& f : cls_bpf_filters(ns, ifname, true)) {
    const json& o = f["options"];
    if (o.contains("prog") && o["prog"].contains("id"))
      out.emplace_back(f.value("pref", 0u), o["prog"]["id"].get<std::uint32_t>());
  }
  std::stable_sort(out.begin(), out.end());
  return out;
}

TEST_F(TcSharedLegacy, ClsBpfChainByPriority) {
  ASSERT_TRUE(start_daemon());
  write_manifest("a.toml", verdict_manifest("tc-a", 30, kUnspec));
  write_manifest("b.toml", verdict_manifest("tc-b", 10, kUnspec));
  write_manifest("c.toml", verdict_manifest("tc-c", 20, kShot));
  for (auto n : {"tc-a", "tc-b", "tc-c"}) ASSERT_TRUE(wait_attached(n)) << n << diag();
  const auto chain = cls_bpf_chain(net_->a, net_->if_a);
  // Filter preference 1 + 64 * priority + 32: the first program of its priority sits in the
  // middle of that priority's band (reconcile/tc_slots.h).
  auto pref = [](std::uint32_t priority) { return 1 + 64 * priority + 32; };
  const decltype(chain) want{{pref(10), id_of("tc-b")}, {pref(20), id_of("tc-c")}, {pref(30), id_of("tc-a")}};
  EXPECT_EQ(chain, want);
  EXPECT_EQ(wait_attached("tc-a").value_or(json::object())["attachments"][0].value("mechanism", ""), "tc");
  // tc-c drops: tc-b (priority 10) counts, tc-a (priority 30) never sees the packets.
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 0}));

  // proceed_on ["unspec"] is not what cls_bpf does (pipe and others go on too): refused.
  write_manifest("d.toml", verdict_manifest("tc-d", 40, kUnspec, "ingress", "[\"unspec\"]"));
  const auto d = wait_program("tc-d", [](const json& j) {
    return !j["attachments"].empty() && !j["attachments"][0].value("error", "").empty();
  }, 10s);
  ASSERT_TRUE(d) << diag();
  EXPECT_NE((*d)["attachments"][0].value("error", "").find("cannot be honoured by the tc mechanism"),
            std::string::npos) << d->dump();
  EXPECT_EQ(cls_bpf_chain(net_->a, net_->if_a).size(), 3u);
}

TEST_F(TcSharedDispatcher, ProceedOnDecidesWhetherLaterProgramsRun) {
  ASSERT_TRUE(start_daemon());
  // With the default proceed_on (pipe, dispatcher_return), a program that returns TC_ACT_PIPE
  // lets the next one run. tc-c (priority 20) drops: the dispatcher returns its TC_ACT_SHOT, so
  // tc-a (priority 30) never runs.
  write_manifest("a.toml", verdict_manifest("tc-a", 30, kPipe));
  write_manifest("b.toml", verdict_manifest("tc-b", 10, kPipe));
  write_manifest("c.toml", verdict_manifest("tc-c", 20, kShot));
  std::optional<json> a;
  ASSERT_TRUE(wait_until([&] {
    a = wait_program("tc-a", [](const json& j) {
      return j.value("state", "") == "attached" || !j["attachments"][0].value("error", "").empty();
    }, 1s);
    return a.has_value();
  }, 15s)) << diag();
  {
    const std::string err = (*a)["attachments"][0].value("error", "");
    if (err.find("TC dispatcher:") != std::string::npos) GTEST_SKIP() << "no TC dispatcher here: " << err;
  }
  for (auto n : {"tc-a", "tc-b", "tc-c"}) ASSERT_TRUE(wait_attached(n)) << n << diag();
  EXPECT_EQ(wait_attached("tc-b").value_or(json::object())["attachments"][0].value("mechanism", ""), "tc_dispatcher");
  // One filter of ours on the hook: the dispatcher.
  {
    const auto filters = cls_bpf_filters(net_->a, net_->if_a, true);
    ASSERT_EQ(filters.size(), 1u) << json(filters).dump();
    EXPECT_EQ(filters[0].value("pref", 0u), 50u) << filters[0].dump();
    const auto id = filters[0]["options"]["prog"].value("id", 0u);
    const auto info = raw_prog(id);
    ASSERT_TRUE(info) << filters[0].dump();
    EXPECT_EQ(info->name, "tc_dispatcher");
  }
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 0})) << diag();

  // proceed_on = ["shot"] on tc-c: its drop now lets tc-a run (tc-a's pipe proceeds too, and
  // after the last slot the dispatcher returns TC_ACT_UNSPEC: the packets pass).
  write_manifest("c.toml", verdict_manifest("tc-c", 20, kShot, "ingress", "[\"shot\"]"));
  ASSERT_TRUE(wait_until([&] {
    const auto p = wait_program("tc-c", [](const json& j) { return j.value("state", "") == "attached"; }, 1s);
    return p && counted({"tc-a"})[0] >= 1;
  }, 15s)) << diag();
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 1}));

  // A restarted daemon adopts the dispatcher: same filter program, nothing rebuilt.
  const auto disp_before = cls_bpf_filters(net_->a, net_->if_a, true);
  ASSERT_EQ(disp_before.size(), 1u);
  stop_daemon();
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_attached("tc-a")) << diag();
  const auto disp_after = cls_bpf_filters(net_->a, net_->if_a, true);
  ASSERT_EQ(disp_after.size(), 1u);
  EXPECT_EQ(disp_after[0]["options"]["prog"].value("id", 0u), disp_before[0]["options"]["prog"].value("id", 1u))
      << "the restarted daemon rebuilt the dispatcher instead of adopting it";
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 1}));

  // Replacing a program (global_data changed) swaps its slot in a new dispatcher; tc-a, last,
  // now returns TC_ACT_UNSPEC (not in its proceed_on: the dispatcher returns it, packets pass).
  const auto old_a = id_of("tc-a");
  write_manifest("a.toml", verdict_manifest("tc-a", 30, kUnspec));
  ASSERT_TRUE(wait_until([&] { return id_of("tc-a") != old_a && id_of("tc-a") != 0 && wait_attached("tc-a"); }, 15s))
      << diag();
  EXPECT_EQ(cls_bpf_filters(net_->a, net_->if_a, true).size(), 1u);
  EXPECT_TRUE(ran(counted({"tc-b", "tc-c", "tc-a"}), {1, 1, 1})) << diag();

  // Remove and re-add in another order; the dispatcher follows.
  remove_manifest("b.toml");
  ASSERT_TRUE(wait_until([&] { return !path_exists(pin_dir("tc-b")); }, 10s)) << diag();
  EXPECT_TRUE(ran(counted({"tc-c", "tc-a"}), {1, 1}));
  remove_manifest("c.toml");
  ASSERT_TRUE(wait_until([&] { return !path_exists(pin_dir("tc-c")); }, 10s)) << diag();
  // tc-b comes back after tc-a, whose TC_ACT_UNSPEC (since the replace) is not in its
  // proceed_on: the dispatcher returns it, and tc-b never runs ...
  write_manifest("b.toml", verdict_manifest("tc-b", 40, kShot));
  ASSERT_TRUE(wait_attached("tc-b")) << diag();
  EXPECT_TRUE(ran(counted({"tc-a", "tc-b"}), {1, 0}));
  // ... until tc-a's proceed_on names unspec.
  write_manifest("a.toml", verdict_manifest("tc-a", 30, kUnspec, "ingress", "[\"unspec\"]"));
  ASSERT_TRUE(wait_until([&] { return counted({"tc-b"})[0] >= 1; }, 15s)) << diag();
  EXPECT_TRUE(ran(counted({"tc-a", "tc-b"}), {1, 1}));
  EXPECT_EQ(cls_bpf_filters(net_->a, net_->if_a, true).size(), 1u);

  remove_manifest("a.toml");
  remove_manifest("b.toml");
  EXPECT_TRUE(wait_until([&] { return cls_bpf_filters(net_->a, net_->if_a, true).empty(); }, 10s))
      << "the dispatcher filter must go with our last program" << diag();
  EXPECT_TRUE(list_dir(pin_root_ + "/_dispatchers").empty()) << diag();
}

}  // namespace
}  // namespace it
