// cls_bpf preferences and handles of our filters (reconcile/tc_slots.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "reconcile/tc_slots.h"

namespace bpfrec {
namespace {

// Run order of the peers on one hook the way the kernel runs them: by preference, and within
// one preference the newest (last added) first.
std::vector<std::string> run_order(const std::vector<TcSlotPeer> &added) {
  std::vector<std::pair<size_t, const TcSlotPeer *>> v;
  for (size_t i = 0; i < added.size(); ++i) v.emplace_back(i, &added[i]);
  std::stable_sort(v.begin(), v.end(), [](auto &a, auto &b) {
    if (a.second->slot.pref != b.second->slot.pref) return a.second->slot.pref < b.second->slot.pref;
    return a.first > b.first;
  });
  std::vector<std::string> out;
  for (auto &[_, p] : v) out.push_back(p->program);
  return out;
}

// Adds `names` (all at `priority`) one after the other, as the daemon would.
Result<std::vector<TcSlotPeer>> add_all(const std::vector<std::string> &names, uint32_t priority = 50) {
  std::vector<TcSlotPeer> peers;
  std::set<uint32_t> taken;
  for (auto &n : names) {
    auto s = choose_tc_slot(priority, n, "k", peers, taken);
    if (!s) return std::unexpected(s.error());
    peers.push_back({priority, n, "k", *s});
    taken.insert(s->handle);
  }
  return peers;
}

TEST(TcSlots, BandsKeepPriorityOrderAndZeroIsValid) {
  EXPECT_EQ(tc_band_base(0), 1u);  // never pref 0 (the kernel would pick one)
  EXPECT_LT(tc_band_base(0) + kTcSubSlots - 1, tc_band_base(1));
  EXPECT_LE(tc_band_base(1000) + kTcSubSlots - 1, 0xffffu);
  auto z = choose_tc_slot(0, "zzz", "k", {}, {});
  auto a = choose_tc_slot(1, "aaa", "k", {}, {});
  ASSERT_TRUE(z && a);
  EXPECT_LT(z->pref, a->pref);
  EXPECT_GE(z->pref, 1u);
}

TEST(TcSlots, EveryOrderOfSixComesOutInNameOrder) {
  std::vector<std::string> names{"alpha", "beta", "tc-a", "tc-b", "tc-c", "x1"};
  auto order = names;
  int orders = 0;
  do {
    auto peers = add_all(order);
    ASSERT_TRUE(peers) << peers.error().message;
    EXPECT_EQ(run_order(*peers), names) << "apply order " << order[0] << "," << order[1] << "," << order[2] << ",...";
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 720);
}

TEST(TcSlots, ManyInAnyOrderAllAttachAndSayWhenTheOrderIsOff) {
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) names.push_back(fmt::format("n{:02}", i));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    auto order = names;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<TcSlotPeer> peers;
    std::set<uint32_t> taken;
    bool exact = true;
    for (auto &n : order) {
      auto s = choose_tc_slot(50, n, "k", peers, taken);
      ASSERT_TRUE(s) << s.error().message;  // always attached
      exact &= s->inexact.empty();
      EXPECT_FALSE(taken.contains(s->handle));
      peers.push_back({50, n, "k", *s});
      taken.insert(s->handle);
    }
    if (exact) {
      EXPECT_EQ(run_order(peers), names) << "trial " << trial << " claims an exact order";
    }
  }
}

TEST(TcSlots, AppendingInNameOrderAndReverse) {
  // What a burst of manifests in file order does: every name after the last.
  std::vector<std::string> names;
  for (int i = 0; i < 9; ++i) names.push_back(fmt::format("p{:02}", i));
  auto up = add_all(names);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(run_order(*up), names);
  for (int i = 9; i < 40; ++i) names.push_back(fmt::format("p{:02}", i));
  auto rev = names;
  std::reverse(rev.begin(), rev.end());
  auto down = add_all(rev);
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_EQ(run_order(*down), names);
  auto more = add_all(names);  // 40 appended: all attach (the tail out of order, and said so)
  ASSERT_TRUE(more) << more.error().message;
}

TEST(TcSlots, HandlesNeverCollide) {
  std::vector<TcSlotPeer> peers;
  std::set<uint32_t> taken;
  for (int i = 0; i < 500; ++i) {
    auto s = choose_tc_slot(static_cast<uint32_t>(i % 3), fmt::format("prog{}", i), "key", {}, taken);
    ASSERT_TRUE(s);
    EXPECT_FALSE(taken.contains(s->handle));
    EXPECT_EQ(s->handle & 0xf0000u, kTcHandleBase);
    taken.insert(s->handle);
  }
  // Same program and key: same first choice, so a restarted daemon picks what it had picked.
  EXPECT_EQ(choose_tc_slot(5, "p", "k", {}, {})->handle, choose_tc_slot(5, "p", "k", {}, {})->handle);
  EXPECT_EQ(next_free_tc_handle(0xffff, {kTcHandleBase | 0xffff}), kTcHandleBase);
}

TEST(TcSlots, OtherPrioritiesAndOldRecordsDoNotConstrain) {
  // A peer at another priority, and one recorded by an older version (pref = priority).
  std::vector<TcSlotPeer> peers{{40, "m", "k", {tc_band_base(40) + 3, kTcHandleBase | 1, ""}},
                                {50, "m", "k", {50, kTcHandleBase | 2, ""}}};
  auto s = choose_tc_slot(50, "a", "k", peers, {});
  ASSERT_TRUE(s);
  EXPECT_GE(s->pref, tc_band_base(50));
  EXPECT_LT(s->pref, tc_band_base(50) + kTcSubSlots);
}

TEST(TcSlots, FullBandStillAttachesAndSaysSo) {
  // Neighbours on the same preference with nothing free between: attached next to them, and the
  // slot says which order it could not keep.
  const uint32_t p = tc_band_base(7) + 10;
  std::vector<TcSlotPeer> peers{{7, "c", "k", {p, kTcHandleBase | 2, ""}}, {7, "a", "k", {p, kTcHandleBase | 1, ""}}};
  auto s = choose_tc_slot(7, "b", "k", peers, {kTcHandleBase | 1, kTcHandleBase | 2});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->pref, p);
  EXPECT_NE(s->inexact.find("priority 7"), std::string::npos) << s->inexact;
  EXPECT_NE(s->inexact.find("b runs just before a"), std::string::npos) << s->inexact;
}

}  // namespace
}  // namespace bpfrec
