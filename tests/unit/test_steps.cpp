// Typed plan steps (reconcile/steps.h): steps_for() per ChangeKind, the continuity a replace
// gets from each recorded mechanism, the JSON `plan --json` prints, and the executor running
// steps with a fake Kernel: undo in reverse order, failed undos reported, per-step policies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_kernel.h"
#include "reconcile/executor.h"
#include "reconcile/identity.h"
#include "reconcile/plan.h"
#include "reconcile/steps.h"

namespace bpfrec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// An attach point of `t` (xdp or tc) at interface `name`, with the type's proceed_on defaults.
AttachSpec netif_of(ProgramType t, const std::string &name, uint32_t priority) {
  AttachSpec a = AttachSpec::of(t);
  NetIfAttach &n = *a.netif();
  n.interface = name;
  n.priority = priority;
  n.proceed_on = proceed_on_defaults(t);
  return a;
}

AttachSpec iface(const std::string &name, uint32_t priority = 50) { return netif_of(ProgramType::Xdp, name, priority); }
AttachSpec tc_iface(const std::string &name, uint32_t priority = 50) { return netif_of(ProgramType::Tc, name, priority); }

// A tracepoint or raw_tracepoint attach point.
AttachSpec tracepoint(const std::string &tp) {
  AttachSpec a = AttachSpec::of(ProgramType::Tracepoint);
  std::get<TracepointAttach>(a.params).tracepoint = tp;
  return a;
}

// A cgroup_skb attach point (ingress).
AttachSpec cgroup(const std::string &path) {
  AttachSpec a = AttachSpec::of(ProgramType::CgroupSkb);
  std::get<CgroupAttach>(a.params).cgroup = path;
  return a;
}

ProgramSpec program(ProgramType t, std::vector<AttachSpec> attach, const std::string &name = "p") {
  ProgramSpec p;
  p.name = name;
  p.type = t;
  p.bpf_function = "f";
  p.bytecode_path = "/obj/p.o";
  p.bytecode_digest = std::string(64, 'a');
  p.manifest = "/m/p.toml";
  p.attach = std::move(attach);
  return p;
}

// The change plan() makes from `observed` (or nothing) to `desired`.
ProgramChange change_of(const ProgramSpec &desired, const ObservedProgram *observed, DesiredState &d,
                        ObservedState &obs) {
  d.manifests = {ManifestEntry{"p.toml", desired.manifest, ManifestState::Ok, {}, {}}};
  d.programs = {desired};
  if (observed) obs.programs[observed->name] = *observed;
  auto changes = plan(d, obs);
  EXPECT_EQ(changes.size(), 1u);
  return changes.empty() ? ProgramChange{} : changes[0];
}

// One step as "kind side target [continuity] policy", its undo after " | undo ".
std::string show(const Step &s, bool undo = false) {
  std::string out = fmt::format("{} {}", to_string(s.kind), to_string(s.side));
  if (!s.target.empty()) out += " " + s.target;
  if (s.continuity != Continuity::None) out += fmt::format(" [{}]", to_string(s.continuity));
  if (!undo) out += fmt::format(" {}", to_string(s.on_failure));
  if (s.needs_detached) out += " needs_detached";
  for (auto &u : s.undo) out += " | undo " + show(u, true);
  return out;
}

std::vector<std::string> show(const std::vector<Step> &steps) {
  std::vector<std::string> out;
  for (auto &s : steps) out.push_back(show(s));
  return out;
}

TEST(Steps, CreateLoadsThenAttachesEachWantedAttachPoint) {
  ProgramSpec spec = program(ProgramType::Xdp, {iface("a"), iface("b")});
  ProgramChange c;
  c.kind = ChangeKind::Create;
  c.name = "p";
  c.desired = &spec;
  c.attach = {attach_key(ProgramType::Xdp, spec.attach[1])};  // a is backed off
  const Capabilities caps{Mechanism::XdpDispatcher, Mechanism::Tcx};
  const auto steps = steps_for(c, nullptr, caps);
  EXPECT_THAT(show(steps), ElementsAre("load live stop | undo unload live needs_detached",
                                       "attach live b continue | undo detach live b"));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[1].attach, &spec.attach[1]);
  EXPECT_EQ(steps[1].mechanism, Mechanism::XdpDispatcher);
  EXPECT_EQ(steps[1].hook, hook_of(ProgramType::Xdp, spec.attach[1]));
  // Unknown capabilities: the mechanism is left to the kernel.
  EXPECT_EQ(steps_for(c, nullptr, Capabilities{})[1].mechanism, std::nullopt);
}

TEST(Steps, ReplaceOverXdpAloneSwapsWithoutAGapThenCommits) {
  ProgramSpec old = program(ProgramType::Xdp, {iface("a"), iface("b")});
  const ObservedProgram obs = running(old, Mechanism::Xdp);
  ProgramSpec spec = old;
  spec.bytecode_digest = std::string(64, 'b');
  spec.attach = {iface("a"), iface("c")};  // b dropped, c new
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(spec, &obs, d, o);
  ASSERT_EQ(c.kind, ChangeKind::Replace);
  const auto steps = steps_for(c, &o.programs.at("p"), Capabilities{});
  EXPECT_THAT(show(steps), ElementsAre("load_staged staged stop | undo unload staged needs_detached",
                                       "swap staged a [gapless] undo | undo swap live a [gapless]",
                                       "attach staged c continue | undo detach staged c",
                                       "detach live b continue",  // dropped by the new spec
                                       "commit staged undo"));
  EXPECT_EQ(steps[1].mechanism, Mechanism::Xdp);
}

TEST(Steps, ReplaceContinuityFollowsTheRecordedMechanism) {
  struct Case {
    ProgramType type;
    AttachSpec at;
    Mechanism m;
    Continuity want;
  };
  const std::vector<Case> cases = {
      {ProgramType::Xdp, iface("a"), Mechanism::Xdp, Continuity::Gapless},
      {ProgramType::Xdp, iface("a"), Mechanism::XdpDispatcher, Continuity::Overlap},
      {ProgramType::Tc, tc_iface("a"), Mechanism::Tcx, Continuity::Gapless},
      {ProgramType::Tc, tc_iface("a"), Mechanism::Tc, Continuity::Gapless},
      {ProgramType::Tc, tc_iface("a"), Mechanism::TcDispatcher, Continuity::Gapless},
      {ProgramType::Tracepoint, tracepoint("syscalls/sys_enter_openat"), Mechanism::PerfLink, Continuity::Overlap},
      {ProgramType::RawTracepoint, tracepoint("sys_enter"), Mechanism::Link, Continuity::Overlap},
      {ProgramType::CgroupSkb, cgroup("/sys/fs/cgroup/x"), Mechanism::Link, Continuity::Gapless},
  };
  for (auto &k : cases) {
    ProgramSpec old = program(k.type, {k.at});
    const ObservedProgram obs = running(old, k.m);
    ProgramSpec spec = old;
    spec.bytecode_digest = std::string(64, 'b');
    DesiredState d;
    ObservedState o;
    const ProgramChange c = change_of(spec, &obs, d, o);
    const auto steps = steps_for(c, &o.programs.at("p"), Capabilities{});
    const std::string what = fmt::format("{} over {}", to_string(k.type), to_string(k.m));
    ASSERT_EQ(steps.size(), 3u) << what;
    EXPECT_EQ(steps[1].kind, StepKind::Swap) << what;
    EXPECT_EQ(steps[1].continuity, k.want) << what << ": " << to_string(steps[1].continuity);
    EXPECT_EQ(steps[1].mechanism, k.m) << what;
  }
}

TEST(Steps, ReplaceOfAProgramGoneFromTheKernelRemovesThenCreates) {
  ProgramSpec old = program(ProgramType::Xdp, {iface("a")});
  ObservedProgram obs = running(old, Mechanism::Xdp, /*id=*/0);
  obs.intact = false;
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(old, &obs, d, o);
  ASSERT_EQ(c.kind, ChangeKind::Replace);
  EXPECT_THAT(show(steps_for(c, &o.programs.at("p"), Capabilities{})),
              ElementsAre("detach live a continue", "unload live stop needs_detached",
                          "load live stop | undo unload live needs_detached",
                          "attach live a continue | undo detach live a"));
}

TEST(Steps, UpdateOfOnlyThePriorityDetachesThenAttachesAndUndoesWithThePreviousSpec) {
  ProgramSpec old = program(ProgramType::Tc, {tc_iface("a", 10)});
  const ObservedProgram obs = running(old, Mechanism::Tcx);
  ProgramSpec spec = program(ProgramType::Tc, {tc_iface("a", 20)});
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(spec, &obs, d, o);
  ASSERT_EQ(c.kind, ChangeKind::Update);
  const ObservedProgram &seen = o.programs.at("p");
  const auto steps = steps_for(c, &seen, Capabilities{std::nullopt, Mechanism::Tcx});
  EXPECT_THAT(show(steps), ElementsAre("detach live a ingress [gap] continue | undo attach live a ingress",
                                       "attach live a ingress [gap] restore | undo detach live a ingress"));
  ASSERT_EQ(steps.size(), 2u);
  // The undo of the detach attaches the previous spec (priority 10), taken from the record.
  ASSERT_EQ(steps[0].undo.size(), 1u);
  ASSERT_NE(steps[0].undo[0].attach, nullptr);
  EXPECT_EQ(steps[0].undo[0].attach, &seen.attachments.begin()->second.spec);
  EXPECT_EQ(std::get<TcAttach>(steps[0].undo[0].attach->params).priority, 10u);
  EXPECT_EQ(steps[0].undo[0].key, seen.attachments.begin()->first);
  EXPECT_EQ(std::get<TcAttach>(steps[1].attach->params).priority, 20u);
  EXPECT_THAT(steps[1].restores, ElementsAre(0u));
  EXPECT_EQ(steps[1].mechanism, Mechanism::Tcx);
}

TEST(Steps, UpdateOnANewHookAttachesBeforeItDetaches) {
  ProgramSpec old = program(ProgramType::Xdp, {iface("a")});
  const ObservedProgram obs = running(old, Mechanism::Xdp);
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(program(ProgramType::Xdp, {iface("b")}), &obs, d, o);
  EXPECT_THAT(show(steps_for(c, &o.programs.at("p"), Capabilities{})),
              ElementsAre("attach live b continue | undo detach live b",
                          "detach live a continue | undo attach live a"));
}

TEST(Steps, UpdateRefusedByTheKernelKeepsTheAttachPointOnItsHook) {
  ProgramSpec old = program(ProgramType::Tc, {tc_iface("a", 10), tc_iface("b", 10)});
  const ObservedProgram obs = running(old, Mechanism::Tcx);
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(program(ProgramType::Tc, {tc_iface("a", 20), tc_iface("b", 20)}), &obs, d, o);
  ASSERT_EQ(c.attach.size(), 2u);
  const std::set<std::string> refused = {attach_key(ProgramType::Tc, tc_iface("a", 20))};
  EXPECT_THAT(show(steps_for(c, &o.programs.at("p"), Capabilities{}, refused)),
              ElementsAre("detach live b ingress [gap] continue | undo attach live b ingress",
                          "attach live b ingress [gap] restore | undo detach live b ingress"));
}

TEST(Steps, UpdateForgetsLostAttachPointsFirstAndRewritesAStaleRecordLast) {
  ProgramSpec old = program(ProgramType::Xdp, {iface("a"), iface("gone")});
  ObservedProgram obs = running(old, Mechanism::Xdp);
  const std::string gone = attach_key(ProgramType::Xdp, iface("gone"));
  obs.lost[gone] = obs.attachments.at(gone);
  obs.attachments.erase(gone);
  ProgramSpec spec = program(ProgramType::Xdp, {iface("a"), iface("b")});
  spec.manifest = "/m/moved.toml";
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(spec, &obs, d, o);
  EXPECT_THAT(show(steps_for(c, &o.programs.at("p"), Capabilities{})),
              ElementsAre("forget live gone continue", "attach live b continue | undo detach live b",
                          "relocate live continue"));
}

TEST(Steps, RemoveDetachesEverythingThenUnloadsOnlyWhenNothingIsLeft) {
  const ObservedProgram obs = running(program(ProgramType::Xdp, {iface("a"), iface("b")}), Mechanism::Xdp);
  ProgramChange c;
  c.kind = ChangeKind::Remove;
  c.name = "p";
  auto steps = show(steps_for(c, &obs, Capabilities{}));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back(), "unload live stop needs_detached");
  steps.pop_back();  // the detaches come in attach key order
  EXPECT_THAT(steps, ::testing::UnorderedElementsAre("detach live a continue", "detach live b continue"));
}

TEST(Steps, KeepIsNothingOrARecordRewrite) {
  ProgramSpec spec = program(ProgramType::Xdp, {iface("a")});
  ProgramChange c;
  c.kind = ChangeKind::Keep;
  c.name = "p";
  c.desired = &spec;
  EXPECT_THAT(steps_for(c, nullptr, Capabilities{}), IsEmpty());
  c.record_stale = true;
  EXPECT_THAT(show(steps_for(c, nullptr, Capabilities{})), ElementsAre("relocate live continue"));
}

TEST(Steps, AStaleStagingDirectoryIsDetachedThenUnloaded) {
  ObservedProgram stale = running(program(ProgramType::Xdp, {iface("a")}), Mechanism::Xdp);
  stale.dir = "/pins/_staging-p";
  EXPECT_THAT(show(steps_for_stale(stale)), ElementsAre("detach staged a continue", "unload staged continue"));
}

TEST(Steps, JsonNamesKindHookMechanismContinuityAndUndo) {
  ProgramSpec old = program(ProgramType::Tc, {tc_iface("a")});
  auto &tc = std::get<TcAttach>(old.attach[0].params);
  tc.direction = TcDirection::Egress;
  tc.netns = "/run/netns/blue";
  const ObservedProgram obs = running(old, Mechanism::Tcx);
  ProgramSpec spec = old;
  spec.bytecode_digest = std::string(64, 'b');
  DesiredState d;
  ObservedState o;
  const ProgramChange c = change_of(spec, &obs, d, o);
  const auto j = steps_to_json(steps_for(c, &o.programs.at("p"), Capabilities{}));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u) << j.dump(2);
  EXPECT_EQ(j[0]["kind"], "load_staged");
  const auto &swap = j[1];
  EXPECT_EQ(swap["kind"], "swap") << swap.dump(2);
  EXPECT_EQ(swap["program"], "p");
  EXPECT_EQ(swap["side"], "staged");
  EXPECT_EQ(swap["key"], attach_key(ProgramType::Tc, old.attach[0]));
  EXPECT_EQ(swap["target"], "a egress (netns /run/netns/blue)");
  EXPECT_EQ(swap["hook"]["family"], "tc");
  EXPECT_EQ(swap["hook"]["object"], "a");
  EXPECT_EQ(swap["hook"]["netns"], "/run/netns/blue");
  EXPECT_EQ(swap["hook"]["point"], 1);
  EXPECT_EQ(swap["mechanism"], "tcx");
  EXPECT_EQ(swap["continuity"], "gapless");
  EXPECT_EQ(swap["on_failure"], "undo");
  ASSERT_EQ(swap["undo"].size(), 1u);
  EXPECT_EQ(swap["undo"][0]["kind"], "swap");
  EXPECT_EQ(swap["undo"][0]["side"], "live");
  EXPECT_FALSE(swap["undo"][0].contains("on_failure"));
  EXPECT_EQ(j[2]["kind"], "commit");
  EXPECT_TRUE(j[2]["undo"].empty());
  EXPECT_FALSE(j[2].contains("continuity"));
}

// The executor, with the fake Kernel of fake_kernel.h.

struct Applied {
  ApplyReport report;
  std::vector<AuditEvent> audit;
  std::vector<std::string> actions() const {
    std::vector<std::string> out;
    for (auto &e : audit) out.push_back(e.action + (e.error.empty() ? "" : " failed"));
    return out;
  }
};

Applied apply_desired(FakeKernel &k, const std::vector<ProgramSpec> &programs) {
  DesiredState d;
  d.manifests = {ManifestEntry{"p.toml", "/m/p.toml", ManifestState::Ok, {}, {}}};
  d.programs = programs;
  const ObservedState obs = k.snapshot();
  const auto changes = plan(d, obs);
  Applied out;
  out.report = apply(k, changes, obs, [&](const AuditEvent &e) { out.audit.push_back(e); });
  return out;
}

// A FakeKernel holding program "p" (id 100) of `spec`; the call log starts empty.
FakeKernel holding(const ProgramSpec &spec) {
  FakeKernel k;
  (void)apply_desired(k, {spec});
  k.calls.clear();
  return k;
}

ProgramSpec rebuilt(ProgramSpec spec, std::vector<AttachSpec> attach) {
  spec.bytecode_digest = std::string(64, 'c');
  spec.attach = std::move(attach);
  return spec;
}

TEST(StepExecutor, TheSecondSwapOfThreeFailingUndoesTheFirstAndDropsTheStagedLoad) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a"), iface("b"), iface("c")});
  FakeKernel k = holding(spec);
  k.fail_once.insert("swap b 100->101");
  const auto r = apply_desired(k, {rebuilt(spec, spec.attach)});
  EXPECT_THAT(k.calls, ElementsAre("load-staged p", "swap a 100->101", "swap b 100->101", "swap a 101->100",
                                   "unload-staged p"));
  EXPECT_EQ(k.state.programs.at("p").prog_id, 100u);
  EXPECT_EQ(k.state.programs.at("p").attachments.size(), 3u);
  EXPECT_TRUE(k.staging.empty());
  EXPECT_EQ(r.report.program_errors.at("p"), "replace failed, previous program kept: swap: Input/output error");
  EXPECT_THAT(r.actions(), ElementsAre("load", "replace", "replace failed", "undo-swap", "undo-unload"));
}

TEST(StepExecutor, UndoRunsInReverseOrderOfTheStepsDone) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a"), iface("c")});
  FakeKernel k = holding(spec);
  k.fail_once.insert("swap c 100->101");
  (void)apply_desired(k, {rebuilt(spec, {iface("a"), iface("x"), iface("c")})});
  // x was attached after a was swapped: it is detached before a is swapped back.
  EXPECT_THAT(k.calls, ElementsAre("load-staged p", "swap a 100->101", "attach p x", "swap c 100->101", "detach p x",
                                   "swap a 101->100", "unload-staged p"));
  EXPECT_EQ(k.state.programs.at("p").attachments.size(), 2u);
  EXPECT_TRUE(k.staging.empty());
}

TEST(StepExecutor, AnUndoThatFailsIsReportedAndKeepsThePinsOfWhatStillRuns) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a"), iface("b"), iface("c")});
  FakeKernel k = holding(spec);
  k.fail_once = {"swap b 100->101", "swap a 101->100"};
  const auto r = apply_desired(k, {rebuilt(spec, spec.attach)});
  // The staged program still runs at a: its pins stay (no unload), for the next apply to find.
  EXPECT_THAT(k.calls, ElementsAre("load-staged p", "swap a 100->101", "swap b 100->101", "swap a 101->100"));
  EXPECT_EQ(k.staging.count("p"), 1u);
  const std::string &err = r.report.program_errors.at("p");
  EXPECT_THAT(err, HasSubstr("replace failed: swap: Input/output error"));
  EXPECT_THAT(err, HasSubstr("undo swap a: swap: Input/output error"));
  EXPECT_THAT(err, HasSubstr("undo unload: could not detach every attach point; pins kept"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("previous program kept")));
  EXPECT_THAT(r.actions(), ElementsAre("load", "replace", "replace failed", "undo-swap failed"));
}

TEST(StepExecutor, AFailedCommitIsUndoneSoTheHooksStayWithTheLiveDirectory) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a"), iface("b")});
  FakeKernel k = holding(spec);
  k.fail_once.insert("commit p");
  const auto r = apply_desired(k, {rebuilt(spec, {iface("a"), iface("c")})});
  EXPECT_THAT(k.calls, ElementsAre("load-staged p", "swap a 100->101", "attach p c", "detach p b", "commit p",
                                   "detach p c", "swap a 101->100", "unload-staged p"));
  EXPECT_TRUE(k.staging.empty());
  EXPECT_EQ(k.state.programs.at("p").prog_id, 100u);
  EXPECT_EQ(k.state.programs.at("p").attachments.size(), 1u);  // b, which the new spec drops, stays detached
  EXPECT_EQ(r.report.program_errors.at("p"), "replace failed, previous program kept: commit: Input/output error");
}

TEST(StepExecutor, ANewAttachOnTheSameHookThatFailsPutsThePreviousOneBack) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a", 10)});
  FakeKernel k = holding(spec);
  k.fail_once.insert("attach p a");
  ProgramSpec changed = spec;
  std::get<XdpAttach>(changed.attach[0].params).priority = 20;
  const auto r = apply_desired(k, {changed});
  EXPECT_THAT(k.calls, ElementsAre("detach p a", "attach p a", "attach p a"));
  const auto &atts = k.state.programs.at("p").attachments;
  ASSERT_EQ(atts.size(), 1u);
  EXPECT_EQ(atts.begin()->first, attach_key(ProgramType::Xdp, spec.attach[0]));  // the previous one
  EXPECT_EQ(std::get<XdpAttach>(atts.begin()->second.spec.params).priority, 10u);
  EXPECT_THAT(r.actions(), ElementsAre("detach", "attach failed", "undo-attach"));
  EXPECT_EQ(r.report.attach_errors.at("p").count(attach_key(ProgramType::Xdp, changed.attach[0])), 1u);
  EXPECT_FALSE(r.report.program_errors.contains("p"));
}

TEST(StepExecutor, ARestoreThatFailsIsReported) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a", 10)});
  FakeKernel k = holding(spec);
  k.fail_once = {"attach p a", "attach p a"};
  ProgramSpec changed = spec;
  std::get<XdpAttach>(changed.attach[0].params).priority = 20;
  const auto r = apply_desired(k, {changed});
  EXPECT_THAT(k.calls, ElementsAre("detach p a", "attach p a", "attach p a"));
  EXPECT_THAT(r.report.program_errors.at("p"), HasSubstr("undo attach a: attach: Input/output error"));
  EXPECT_THAT(r.actions(), ElementsAre("detach", "attach failed", "undo-attach failed"));
}

TEST(StepExecutor, UpdateReportsAFailedAttachPointAndGoesOn) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a")});
  FakeKernel k = holding(spec);
  k.fail_once.insert("attach p b");
  const auto r = apply_desired(k, {program(ProgramType::Xdp, {iface("b"), iface("c")})});
  // Not all or nothing: c is attached and a detached although b failed; nothing is undone.
  EXPECT_THAT(k.calls, ElementsAre("attach p b", "attach p c", "detach p a"));
  EXPECT_EQ(r.report.attach_errors.at("p").count(attach_key(ProgramType::Xdp, iface("b"))), 1u);
  EXPECT_FALSE(r.report.program_errors.contains("p"));
}

TEST(StepExecutor, AnAttachPointTheKernelRefusesUpFrontLeavesItsHookAlone) {
  const ProgramSpec spec = program(ProgramType::Xdp, {iface("a", 10)});
  FakeKernel k = holding(spec);
  k.refuse_target = "a";
  ProgramSpec changed = spec;
  std::get<XdpAttach>(changed.attach[0].params).priority = 20;
  const auto r = apply_desired(k, {changed});
  EXPECT_THAT(k.calls, IsEmpty());
  EXPECT_THAT(r.actions(), ElementsAre("attach failed"));
  EXPECT_EQ(r.report.attach_errors.at("p").at(attach_key(ProgramType::Xdp, changed.attach[0])).message,
            "proceed_on cannot be honoured");
  EXPECT_EQ(k.state.programs.at("p").attachments.size(), 1u);
}

}  // namespace
}  // namespace bpfrec
