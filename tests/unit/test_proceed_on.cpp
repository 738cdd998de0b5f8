// proceed_on of TC attach points: the dispatcher's bitmask and what each mechanism honours.
#include <gtest/gtest.h>

#include "reconcile/proceed_on.h"

namespace bpfrec {
namespace {

AttachSpec tc_attach(std::vector<std::string> proceed_on, bool explicit_) {
  AttachSpec a = AttachSpec::of(ProgramType::Tc);
  auto &tc = std::get<TcAttach>(a.params);
  tc.interface = "eth0";
  tc.proceed_on = std::move(proceed_on);
  tc.proceed_on_explicit = explicit_;
  a.pos = {7, 1};
  return a;
}

TEST(ProceedOn, MaskUsesBpfmansBitPerCodePlusOne) {
  EXPECT_EQ(tc_proceed_on_mask({"unspec"}), 1u << 0);
  EXPECT_EQ(tc_proceed_on_mask({"ok"}), 1u << 1);
  EXPECT_EQ(tc_proceed_on_mask({"shot"}), 1u << 3);
  EXPECT_EQ(tc_proceed_on_mask({"trap"}), 1u << 9);
  EXPECT_EQ(tc_proceed_on_mask({"dispatcher_return"}), 1u << 31);
  // The default: pipe (3) and dispatcher_return (30).
  EXPECT_EQ(tc_proceed_on_mask({"pipe", "dispatcher_return"}), (1u << 4) | (1u << 31));
  EXPECT_EQ(tc_proceed_on_mask({"no-such-name"}), 0u);
}

TEST(ProceedOn, DispatcherHonoursAnySet) {
  EXPECT_TRUE(check_tc_proceed_on(Mechanism::TcDispatcher, "m.toml", tc_attach({"ok", "shot"}, true)));
}

TEST(ProceedOn, ImplicitDefaultIsNeverAnError) {
  const auto a = tc_attach({"pipe", "dispatcher_return"}, false);
  EXPECT_TRUE(check_tc_proceed_on(Mechanism::Tcx, "m.toml", a));
  EXPECT_TRUE(check_tc_proceed_on(Mechanism::Tc, "m.toml", a));
}

TEST(ProceedOn, TcxHonoursOnlyUnspec) {
  EXPECT_TRUE(check_tc_proceed_on(Mechanism::Tcx, "m.toml", tc_attach({"unspec"}, true)));
  EXPECT_TRUE(check_tc_proceed_on(Mechanism::Tcx, "m.toml", tc_attach({"unspec", "dispatcher_return"}, true)));
  const auto r = check_tc_proceed_on(Mechanism::Tcx, "m.toml", tc_attach({"pipe", "dispatcher_return"}, true));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("m.toml:7:1: error: proceed_on [pipe, dispatcher_return] cannot be honoured by "
                                    "the tcx mechanism", 0),
            0u)
      << r.error().message;
  EXPECT_FALSE(check_tc_proceed_on(Mechanism::Tcx, "m.toml", tc_attach({"unspec", "ok"}, true)));
}

TEST(ProceedOn, ClsBpfHonoursExactlyWhatGoesOnToTheNextFilter) {
  EXPECT_TRUE(check_tc_proceed_on(Mechanism::Tc, "m.toml",
                                  tc_attach({"repeat", "unspec", "pipe", "queued", "reclassify"}, true)));
  EXPECT_FALSE(check_tc_proceed_on(Mechanism::Tc, "m.toml", tc_attach({"unspec"}, true)));
  EXPECT_FALSE(check_tc_proceed_on(Mechanism::Tc, "m.toml", tc_attach({"pipe"}, true)));
  EXPECT_FALSE(check_tc_proceed_on(Mechanism::Tc, "m.toml",
                                   tc_attach({"unspec", "reclassify", "pipe", "queued", "repeat", "ok"}, true)));
}

}  // namespace
}  // namespace bpfrec
