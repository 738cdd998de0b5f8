// Backoff of failing attach points and the judgement of link events: pure logic.
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cstring>

#include <gtest/gtest.h>

#include "reconcile/backoff.h"
#include "reconcile/executor.h"
#include "reconcile/identity.h"
#include "kernel/link_event.h"
#include "reconcile/plan.h"

namespace bpfrec {
namespace {

constexpr uint64_t kS = 1'000'000;

TEST(Backoff, DelayDoublesFromOneSecondUpToFiveMinutes) {
  const uint64_t i = AttachBackoff::kInitialUsec, m = AttachBackoff::kMaxUsec;
  EXPECT_EQ(backoff_delay_usec(0, i, m), 0u);
  EXPECT_EQ(backoff_delay_usec(1, i, m), 1 * kS);
  EXPECT_EQ(backoff_delay_usec(2, i, m), 2 * kS);
  EXPECT_EQ(backoff_delay_usec(3, i, m), 4 * kS);
  EXPECT_EQ(backoff_delay_usec(9, i, m), 256 * kS);
  EXPECT_EQ(backoff_delay_usec(10, i, m), 300 * kS);
  EXPECT_EQ(backoff_delay_usec(1000, i, m), 300 * kS) << "capped, no overflow";
  EXPECT_EQ(backoff_delay_usec(64, 100'000, 5 * kS), 5 * kS);
}

TEST(Backoff, WaitsUntilTheNextRetryAndForgetsOnSuccess) {
  AttachBackoff b;
  const AttachId id{"p", "k1"};
  EXPECT_FALSE(b.waiting(id, 0));
  EXPECT_FALSE(b.next_retry());
  b.failed(id, Error{EINVAL, "boom"}, 10 * kS);
  EXPECT_TRUE(b.waiting(id, 10 * kS));
  EXPECT_TRUE(b.waiting(id, 11 * kS - 1));
  EXPECT_FALSE(b.waiting(id, 11 * kS));
  b.failed(id, Error{EINVAL, "boom again"}, 11 * kS);
  ASSERT_TRUE(b.find(id));
  EXPECT_EQ(b.find(id)->failures, 2u);
  EXPECT_EQ(b.find(id)->error.message, "boom again");
  EXPECT_EQ(b.next_retry(), 13 * kS);
  b.failed({"q", "k2"}, Error{}, 11 * kS);
  EXPECT_EQ(b.next_retry(), 12 * kS) << "the earliest of all";
  b.succeeded(id);
  EXPECT_FALSE(b.find(id));
  b.retain({});
  EXPECT_EQ(b.size(), 0u);
}

ProgramSpec xdp(const std::string &name, std::vector<std::pair<std::string, XdpMode>> ifaces_modes) {
  ProgramSpec p;
  p.name = name;
  p.type = ProgramType::Xdp;
  p.bpf_function = "xdp_count";
  p.bytecode_digest = std::string(64, 'a');
  p.manifest = "/m/a.toml";
  for (auto &[i, mode] : ifaces_modes) {
    AttachSpec a = AttachSpec::of(ProgramType::Xdp);
    auto &x = std::get<XdpAttach>(a.params);
    x.interface = i;
    x.mode = mode;
    x.proceed_on = proceed_on_defaults(ProgramType::Xdp);
    p.attach.push_back(a);
  }
  return p;
}

TEST(Backoff, DeferredAttachPointsAreNotTriedAndKeepTheirHook) {
  // Observed: p on eth0 in skb mode. Desired: eth0 in hw mode (same hook) and eth1.
  const ProgramSpec old_spec = xdp("p", {{"eth0", XdpMode::Skb}});
  const ProgramSpec spec = xdp("p", {{"eth0", XdpMode::Hw}, {"eth1", XdpMode::Skb}});
  ObservedState obs;
  ObservedProgram o;
  o.name = "p";
  o.digest = program_digest(spec);
  const std::string old_key = attach_key(old_spec.type, old_spec.attach[0]);
  AttachRecord rec;
  rec.key = old_key;
  rec.mechanism = Mechanism::Xdp;
  rec.target = old_spec.attach[0].target_label(old_spec.type);
  rec.spec = old_spec.attach[0];  // as every record has: the hook is read from it, not from the label
  o.attachments[old_key] = rec;
  obs.programs["p"] = o;
  DesiredState desired;
  desired.programs.push_back(spec);
  auto changes = plan(desired, obs);
  ASSERT_EQ(changes.size(), 1u);
  ASSERT_EQ(changes[0].kind, ChangeKind::Update);
  ASSERT_EQ(changes[0].attach.size(), 2u);
  ASSERT_EQ(changes[0].detach.size(), 1u);

  const std::string hw_key = attach_key(spec.type, spec.attach[0]);
  AttachBackoff b;
  b.failed({"p", hw_key}, Error{EOPNOTSUPP, "hw: not supported"}, 100 * kS);
  auto deferred = defer_backed_off(changes, obs, b, 100 * kS + 10);
  ASSERT_EQ(deferred.size(), 1u);
  EXPECT_EQ(deferred[0], (AttachId{"p", hw_key}));
  EXPECT_EQ(changes[0].attach, std::vector<std::string>{attach_key(spec.type, spec.attach[1])}) << "eth1 is tried";
  EXPECT_TRUE(changes[0].detach.empty()) << "the skb attach point on eth0 stays while hw waits";

  // Its time has come: tried again, with the old one on the same hook detached first.
  auto again = plan(desired, obs);
  EXPECT_TRUE(defer_backed_off(again, obs, b, 101 * kS).empty());
  EXPECT_EQ(again[0].attach.size(), 2u);
  EXPECT_EQ(again[0].detach.size(), 1u);
}

TEST(Backoff, RecordAttemptsCountsFailuresButNotMissingInterfaces) {
  const ProgramSpec spec = xdp("p", {{"a", XdpMode::Skb}, {"b", XdpMode::Skb}, {"c", XdpMode::Skb}});
  ProgramChange c;
  c.kind = ChangeKind::Update;
  c.name = "p";
  c.desired = &spec;
  for (auto &a : spec.attach) c.attach.push_back(attach_key(spec.type, a));
  ApplyReport r;
  r.attach_errors["p"][c.attach[0]] = Error{ENOSPC, "record full"};
  r.attach_errors["p"][c.attach[1]] = Error{ENODEV, "no such interface"};
  AttachBackoff b;
  b.failed({"p", c.attach[2]}, Error{EBUSY, "busy"}, 0);
  record_attempts(b, std::vector<ProgramChange>{c}, r, 5 * kS);
  ASSERT_TRUE(b.find({"p", c.attach[0]}));
  EXPECT_EQ(b.find({"p", c.attach[0]})->next_retry_usec, 6 * kS);
  EXPECT_FALSE(b.find({"p", c.attach[1]})) << "pending: attached when the interface appears, never delayed";
  EXPECT_FALSE(b.find({"p", c.attach[2]})) << "attached now: failures forgotten";
}

TEST(Backoff, ReplaceStartsOver) {
  const ProgramSpec spec = xdp("p", {{"a", XdpMode::Skb}});
  ProgramChange c;
  c.kind = ChangeKind::Replace;
  c.name = "p";
  c.desired = &spec;
  c.attach.push_back(attach_key(spec.type, spec.attach[0]));
  std::vector<ProgramChange> changes{c};
  AttachBackoff b;
  b.failed({"p", c.attach[0]}, Error{}, 0);
  EXPECT_TRUE(defer_backed_off(changes, {}, b, 1).empty());
  EXPECT_EQ(changes[0].attach.size(), 1u);
  EXPECT_EQ(b.size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Link events.

// IF_OPER_DOWN and IF_OPER_UP (RFC 2863 operstates, <linux/if.h>, which clashes with <net/if.h>).
constexpr uint8_t IF_OPER_DOWN = 2, IF_OPER_UP = 6;

RtnlLink link(int ifindex, const std::string &name, bool up, std::optional<uint32_t> xdp = 0,
             uint8_t oper = IF_OPER_DOWN) {
  RtnlLink m;
  m.ifindex = ifindex;
  m.name = name;
  m.flags = up ? IFF_UP : 0;
  m.operstate = oper;
  m.has_xdp = xdp.has_value();
  m.xdp_prog_id = xdp.value_or(0);
  return m;
}

TEST(LinkEvents, WhatMattersAndWhatDoesNot) {
  LinkTable t;
  t.seed(link(2, "veth-a", true, 0, IF_OPER_UP));
  EXPECT_FALSE(t.judge(link(2, "veth-a", true, 0, IF_OPER_UP))) << "nothing changed (e.g. statistics, MTU)";
  EXPECT_EQ(t.judge(link(7, "rg0", false)), "new interface rg0");
  EXPECT_EQ(t.judge(link(7, "rg1", false)), "interface rg0 renamed to rg1");
  EXPECT_EQ(t.judge(link(7, "rg1", true)), "interface rg1 up");
  EXPECT_EQ(t.judge(link(7, "rg1", true, 0, IF_OPER_UP)), "interface rg1 operstate 2 -> 6");
  // Our own XDP attach and its undo on rg1: not a reason to reconcile.
  EXPECT_FALSE(t.judge(link(7, "rg1", true, 42, IF_OPER_UP), {"rg1"}));
  EXPECT_FALSE(t.judge(link(7, "rg1", true, 0, IF_OPER_UP), {"rg1"}));
  // The same change made by someone else: drift.
  EXPECT_EQ(t.judge(link(7, "rg1", true, 43, IF_OPER_UP), {"veth-a"}), "XDP program on rg1 changed (0 -> 43)");
  // A message without IFLA_XDP says nothing about XDP.
  EXPECT_FALSE(t.judge(link(7, "rg1", true, std::nullopt, IF_OPER_UP)));
  // Even on an interface of ours, a change other than XDP matters.
  EXPECT_EQ(t.judge(link(7, "rg1", false, 43, IF_OPER_UP), {"rg1"}), "interface rg1 down");
  RtnlLink del = link(7, "rg1", false);
  del.deleted = true;
  EXPECT_EQ(t.judge(del), "interface rg1 deleted");
  EXPECT_EQ(t.judge(link(7, "rg1", false)), "new interface rg1") << "the same ifindex again is a new interface";
}

TEST(LinkEvents, ParsesNewlinkWithNestedXdp) {
  alignas(NLMSG_ALIGNTO) unsigned char buf[512] = {};
  auto *h = reinterpret_cast<nlmsghdr *>(buf);
  h->nlmsg_type = RTM_NEWLINK;
  auto *ifi = static_cast<ifinfomsg *>(NLMSG_DATA(h));
  ifi->ifi_index = 9;
  ifi->ifi_flags = IFF_UP;
  unsigned len = NLMSG_LENGTH(sizeof(ifinfomsg));
  auto put = [&](rtattr *at, unsigned short type, const void *data, unsigned short n) {
    at->rta_type = type;
    at->rta_len = RTA_LENGTH(n);
    std::memcpy(RTA_DATA(at), data, n);
    return RTA_ALIGN(at->rta_len);
  };
  len += put(reinterpret_cast<rtattr *>(buf + len), IFLA_IFNAME, "rg3", 4);
  const uint8_t oper = IF_OPER_UP;
  len += put(reinterpret_cast<rtattr *>(buf + len), IFLA_OPERSTATE, &oper, 1);
  auto *xdp = reinterpret_cast<rtattr *>(buf + len);
  xdp->rta_type = IFLA_XDP;
  unsigned inner = RTA_LENGTH(0);
  const uint8_t attached = XDP_ATTACHED_SKB;
  inner += put(reinterpret_cast<rtattr *>(reinterpret_cast<unsigned char *>(xdp) + inner), IFLA_XDP_ATTACHED,
               &attached, 1);
  const uint32_t id = 77;
  inner += put(reinterpret_cast<rtattr *>(reinterpret_cast<unsigned char *>(xdp) + inner), IFLA_XDP_PROG_ID, &id, 4);
  xdp->rta_len = static_cast<unsigned short>(inner);
  len += RTA_ALIGN(inner);
  h->nlmsg_len = len;
  auto m = parse_rtnl_link(h);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->ifindex, 9);
  EXPECT_EQ(m->name, "rg3");
  EXPECT_EQ(m->operstate, IF_OPER_UP);
  EXPECT_TRUE(m->has_xdp);
  EXPECT_EQ(m->xdp_prog_id, 77u);
  EXPECT_EQ(m->xdp_mode, XDP_ATTACHED_SKB);
  EXPECT_FALSE(m->deleted);
  h->nlmsg_type = RTM_DELLINK;
  EXPECT_TRUE(parse_rtnl_link(h)->deleted);
  h->nlmsg_type = RTM_NEWLINK;
  h->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg)) - 1;
  EXPECT_FALSE(parse_rtnl_link(h)) << "truncated";
  h->nlmsg_type = RTM_NEWROUTE;
  h->nlmsg_len = len;
  EXPECT_FALSE(parse_rtnl_link(h)) << "not a link message";
}

TEST(AuditLine, OneEventIsOneLine) {
  AuditEvent e{"load", "p", "/m/a.toml", "abc", 0};
  e.error = "load program 'p': Permission denied\n0: (b7) r0 = 0\n1: (95) exit\n\"quoted\" \\ \x01";
  const std::string line = audit_line(e);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line,
            "audit: action=load program=p manifest=/m/a.toml sha256=abc prog_id=0 result=failed error=\"load program "
            "'p': Permission denied\\n0: (b7) r0 = 0\\n1: (95) exit\\n\\\"quoted\\\" \\\\ \\x01\"");
  AuditEvent ok{"attach", "p", "/m/a.toml", "abc", 5};
  ok.target = "veth0 (netns /run/netns/x)";
  ok.mechanism = "xdp";
  EXPECT_EQ(audit_line(ok), "audit: action=attach program=p manifest=/m/a.toml sha256=abc prog_id=5 "
                            "target=\"veth0 (netns /run/netns/x)\" mechanism=xdp link_id=0 result=ok");
}

}  // namespace
}  // namespace bpfrec
