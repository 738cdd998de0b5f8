// Planner, executor and status: pure logic, with a fake Kernel that records calls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_kernel.h"
#include "reconcile/executor.h"
#include "reconcile/identity.h"
#include "reconcile/plan.h"
#include "status/status.h"

namespace bpfrec {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

ProgramSpec xdp_spec(const std::string &name, std::vector<std::string> ifaces, const std::string &manifest = "/m/a.toml") {
  ProgramSpec p;
  p.name = name;
  p.type = ProgramType::Xdp;
  p.bpf_function = "xdp_count";
  p.bytecode_path = "/obj/xdp.o";
  p.bytecode_digest = std::string(64, 'a');
  p.manifest = manifest;
  for (auto &i : ifaces) {
    AttachSpec a = AttachSpec::of(ProgramType::Xdp);
    auto &x = std::get<XdpAttach>(a.params);
    x.interface = i;
    x.proceed_on = proceed_on_defaults(ProgramType::Xdp);
    p.attach.push_back(a);
  }
  return p;
}

// The parameters of an xdp attach point (std::bad_variant_access, a failed test, otherwise).
XdpAttach &xdp_of(AttachSpec &a) { return std::get<XdpAttach>(a.params); }

ManifestEntry manifest(const std::string &path, ManifestState st = ManifestState::Ok) {
  return ManifestEntry{std::filesystem::path(path).filename().string(), path, st, {}, {}};
}

std::vector<std::string> summary(const std::vector<ProgramChange> &changes) {
  std::vector<std::string> out;
  for (auto &c : changes)
    out.push_back(fmt::format("{} {} +{} -{}", to_string(c.kind), c.name, c.attach.size(), c.detach.size()));
  return out;
}

struct PlanCase {
  const char *what;
  std::function<void(ProgramSpec &)> edit;  // applied to the desired copy of an observed program
  const char *expect;
};

TEST(Plan, EachFieldChangeGivesTheRightAction) {
  const std::vector<PlanCase> cases = {
      {"nothing", [](ProgramSpec &) {}, "keep p +0 -0"},
      {"bytecode", [](ProgramSpec &p) { p.bytecode_digest = std::string(64, 'b'); }, "replace p +2 -2"},
      {"function", [](ProgramSpec &p) { p.bpf_function = "other"; }, "replace p +2 -2"},
      {"type",
       [](ProgramSpec &p) {
         // A tc manifest's attach points, on the same interfaces.
         p.type = ProgramType::Tc;
         for (auto &a : p.attach) {
           AttachSpec tc = AttachSpec::of(ProgramType::Tc);
           static_cast<NetIfAttach &>(std::get<TcAttach>(tc.params)) = *a.netif();
           a = tc;
         }
       },
       "replace p +2 -2"},
      {"global_data", [](ProgramSpec &p) { p.global_data.push_back({"sample_every", int64_t{4}, {}}); },
       "replace p +2 -2"},
      {"metadata", [](ProgramSpec &p) { p.metadata["owner"] = "x"; }, "keep p +0 -0"},
      {"priority", [](ProgramSpec &p) { xdp_of(p.attach[0]).priority = 10; }, "update p +1 -1"},
      {"proceed_on", [](ProgramSpec &p) { xdp_of(p.attach[0]).proceed_on = {"drop"}; }, "update p +1 -1"},
      {"proceed_on order", [](ProgramSpec &p) { auto &on = xdp_of(p.attach[0]).proceed_on; std::reverse(on.begin(), on.end()); },
       "keep p +0 -0"},
      {"mode", [](ProgramSpec &p) { xdp_of(p.attach[1]).mode = XdpMode::Skb; }, "update p +1 -1"},
      {"netns", [](ProgramSpec &p) { xdp_of(p.attach[1]).netns = "/run/netns/x"; }, "update p +1 -1"},
      {"added attach", [](ProgramSpec &p) { p.attach.push_back(p.attach[0]), xdp_of(p.attach.back()).interface = "eth9"; },
       "update p +1 -0"},
      {"removed attach", [](ProgramSpec &p) { p.attach.pop_back(); }, "update p +0 -1"},
  };
  for (auto &c : cases) {
    ProgramSpec base = xdp_spec("p", {"eth0", "eth1"});
    ObservedState obs;
    obs.programs["p"] = running(base);
    DesiredState d;
    d.manifests = {manifest("/m/a.toml")};
    ProgramSpec changed = base;
    c.edit(changed);
    d.programs = {changed};
    EXPECT_THAT(summary(plan(d, obs)), ElementsAre(c.expect)) << c.what;
  }
}

// Issue 12, point 4: pins that could not be read are not "missing": nothing of the program is
// replaced, detached or removed, whatever the manifests say, and the plan says why.
TEST(Plan, UnreadablePinsBlockEveryChangeOfThatProgram) {
  ProgramSpec base = xdp_spec("p", {"eth0", "eth1"});
  ProgramSpec other = xdp_spec("q", {"eth2"});
  for (const char *what : {"bytecode", "attach", "undeclared"}) {
    ObservedState obs;
    obs.programs["p"] = running(base);
    obs.programs["p"].unreadable = "cannot list /sys/fs/bpf/x/p/maps: Permission denied";
    obs.programs["q"] = running(other, Mechanism::Xdp, 11);
    DesiredState d;
    d.manifests = {manifest("/m/a.toml")};
    ProgramSpec changed = base;
    if (std::string(what) == "bytecode") changed.bytecode_digest = std::string(64, 'b');
    if (std::string(what) == "attach") changed.attach.pop_back();
    d.programs = {other};
    if (std::string(what) != "undeclared") d.programs.push_back(changed);
    const auto changes = plan(d, obs);
    ASSERT_THAT(summary(changes), ElementsAre("keep p +0 -0", "keep q +0 -0")) << what;
    EXPECT_NE(changes[0].error.find("Permission denied"), std::string::npos) << what << ": " << changes[0].error;
    EXPECT_TRUE(changes[1].error.empty()) << what;
    EXPECT_FALSE(plan_changes_anything(changes)) << what;
  }
}

TEST(Plan, OrderIsRemoveReplaceCreateUpdateKeep) {
  ObservedState obs;
  auto keep = xdp_spec("keep", {"a"}), upd = xdp_spec("upd", {"a"}), rep = xdp_spec("rep", {"a"}),
       gone = xdp_spec("gone", {"a"});
  for (auto *s : {&keep, &upd, &rep, &gone}) obs.programs[s->name] = running(*s);
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  auto upd2 = upd;
  xdp_of(upd2.attach[0]).interface = "b";
  auto rep2 = rep;
  rep2.bpf_function = "f2";
  d.programs = {keep, upd2, rep2, xdp_spec("new", {"a"})};
  EXPECT_THAT(summary(plan(d, obs)),
              ElementsAre("remove gone +0 -1", "replace rep +1 -1", "create new +1 -0", "update upd +1 -1", "keep keep +0 -0"));
}

TEST(Plan, InvalidManifestKeepsLastKnownGood) {
  ObservedState obs;
  obs.programs["p"] = running(xdp_spec("p", {"a"}, "/etc/x/a.toml"));
  obs.programs["q"] = running(xdp_spec("q", {"a"}, "/etc/x/b.toml"));
  DesiredState d;
  d.manifests = {manifest("/etc/x/a.toml", ManifestState::Invalid)};  // b.toml was deleted
  auto changes = plan(d, obs);
  EXPECT_THAT(summary(changes), ElementsAre("remove q +0 -1", "keep p +0 -0"));
  EXPECT_TRUE(changes[1].kept_last_good);
  EXPECT_FALSE(plan_changes_anything({changes[1]}));
}

// Issue 11 bug 7: a manifest directory that cannot be listed read as empty, and every program
// was removed. With an Unreadable entry nothing is removed; declared programs still apply.
TEST(Plan, UnreadableDirectoryRemovesNothing) {
  ObservedState obs;
  obs.programs["p"] = running(xdp_spec("p", {"a"}, "/etc/x/a.toml"));
  obs.programs["q"] = running(xdp_spec("q", {"a"}, "/usr/lib/x/b.toml"));
  DesiredState d;
  d.manifests = {manifest("/etc/x", ManifestState::Unreadable), manifest("/run/x/c.toml")};
  d.programs = {xdp_spec("n", {"a"}, "/run/x/c.toml")};
  auto changes = plan(d, obs);
  EXPECT_THAT(summary(changes), ElementsAre("create n +1 -0", "keep p +0 -0", "keep q +0 -0"));
  EXPECT_TRUE(changes[1].kept_last_good);
  EXPECT_EQ(changes[1].reason, "manifest directory /etc/x cannot be read; keeping the last good program");
}

TEST(Plan, ManifestMovedIsAKeepWithAStaleRecord) {
  auto spec = xdp_spec("p", {"a"}, "/usr/lib/x/a.toml");
  ObservedState obs;
  obs.programs["p"] = running(spec);
  spec.manifest = "/etc/x/a.toml";
  DesiredState d;
  d.manifests = {manifest(spec.manifest)};
  d.programs = {spec};
  auto changes = plan(d, obs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::Keep);
  EXPECT_TRUE(changes[0].record_stale);
  EXPECT_TRUE(plan_changes_anything(changes));
}

TEST(Plan, BrokenPinsAreReplaced) {
  auto spec = xdp_spec("p", {"a"});
  ObservedState obs;
  obs.programs["p"] = running(spec);
  obs.programs["p"].intact = false;
  DesiredState d;
  d.manifests = {manifest(spec.manifest)};
  d.programs = {spec};
  auto changes = plan(d, obs);
  EXPECT_THAT(summary(changes), ElementsAre("replace p +1 -1"));
  EXPECT_EQ(changes[0].reason, "pins are incomplete");
}

TEST(Identity, DigestIgnoresGlobalDataOrderAndMetadata) {
  auto a = xdp_spec("p", {"a"});
  auto b = a;
  a.global_data = {{"x", int64_t{1}, {}}, {"y", int64_t{2}, {}}};
  b.global_data = {{"y", int64_t{2}, {}}, {"x", int64_t{1}, {}}};
  b.metadata["k"] = "v";
  EXPECT_EQ(program_digest(a), program_digest(b));
  b.global_data[0].value = int64_t{3};
  EXPECT_NE(program_digest(a), program_digest(b));
  EXPECT_EQ(attach_key(ProgramType::Xdp, a.attach[0]).size(), 16u);
}

struct Reconciled {
  ApplyReport report;
  DaemonStatus status;
  std::vector<AuditEvent> audit;
};

Reconciled reconcile(FakeKernel &k, const DesiredState &d) {
  Reconciled r;
  auto obs = k.snapshot();
  auto changes = plan(d, obs);
  r.report = apply(k, changes, obs, [&](const AuditEvent &e) { r.audit.push_back(e); });
  r.status = build_status(1, d, k.snapshot(), r.report);
  return r;
}

TEST(Executor, CreatesThenLeavesUnchangedProgramsAlone) {
  FakeKernel k;
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  d.programs = {xdp_spec("p", {"a", "b"})};
  auto r = reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("load p", "attach p a", "attach p b"));
  EXPECT_EQ(r.report.changes, 3u);
  EXPECT_EQ(to_string(r.status.state), "idle");
  ASSERT_EQ(r.status.programs.size(), 1u);
  EXPECT_EQ(to_string(r.status.programs[0].state), "attached");
  EXPECT_EQ(r.status.programs[0].kernel_id, 100u);
  EXPECT_EQ(r.audit.size(), 3u);
  k.calls.clear();
  r = reconcile(k, d);
  EXPECT_THAT(k.calls, IsEmpty());
  EXPECT_EQ(r.report.changes, 0u);
}

TEST(Executor, AFailedAttachIsPartialAndRetriedNextTime) {
  FakeKernel k;
  k.fail_attach_target = "b";
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  d.programs = {xdp_spec("p", {"a", "b"})};
  auto r = reconcile(k, d);
  ASSERT_EQ(r.status.programs.size(), 1u);
  EXPECT_EQ(to_string(r.status.programs[0].state), "partial");
  // A missing interface is pending, not failed: it is attached when it appears.
  EXPECT_EQ(to_string(r.status.programs[0].attachments[1].state), "pending");
  EXPECT_EQ(r.status.programs[0].attachments[1].error, "interface b: No such device");
  EXPECT_EQ(to_string(r.status.state), "degraded");
  ASSERT_EQ(r.audit.size(), 3u);
  EXPECT_EQ(r.audit[2].error, "interface b: No such device");
  k.fail_attach_target.clear();
  k.calls.clear();
  r = reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("attach p b"));
  EXPECT_EQ(to_string(r.status.programs[0].state), "attached");
}

TEST(Executor, ALoadFailureDoesNotStopOthers) {
  FakeKernel k;
  k.fail_load = "bad";
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  d.programs = {xdp_spec("bad", {"a"}), xdp_spec("good", {"a"})};
  auto r = reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("load bad", "load good", "attach good a"));
  ASSERT_EQ(r.status.programs.size(), 2u);
  EXPECT_EQ(to_string(r.status.programs[0].state), "failed");
  EXPECT_EQ(r.status.programs[0].error, "verifier says no");
  EXPECT_EQ(to_string(r.status.programs[1].state), "attached");
}

TEST(Executor, RemovalDetachesBeforeUnloadAndKeepsPinsWhenDetachFails) {
  FakeKernel k;
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  d.programs = {xdp_spec("p", {"a"})};
  reconcile(k, d);
  k.fail_detach_key = attach_key(ProgramType::Xdp, d.programs[0].attach[0]);
  k.calls.clear();
  DesiredState empty;
  auto r = reconcile(k, empty);
  EXPECT_THAT(k.calls, ElementsAre("detach p a"));  // no unload: the program is still attached
  ASSERT_EQ(r.status.programs.size(), 1u);
  EXPECT_EQ(to_string(r.status.programs[0].state), "failed");
  k.fail_detach_key.clear();
  k.calls.clear();
  r = reconcile(k, empty);
  EXPECT_THAT(k.calls, ElementsAre("detach p a", "unload p"));
  EXPECT_THAT(r.status.programs, IsEmpty());
}

// A FakeKernel holding program "p" (id 100) attached at `ifaces`, with the desired state that
// produced it; the call log starts empty.
struct Running {
  FakeKernel k;
  DesiredState d;
  explicit Running(std::vector<std::string> ifaces) {
    d.manifests = {manifest("/m/a.toml")};
    d.programs = {xdp_spec("p", std::move(ifaces))};
    reconcile(k, d);
    k.calls.clear();
  }
  ProgramSpec &spec() { return d.programs[0]; }
};

TEST(Executor, ReplaceSwapsEveryHookThenCommits) {
  Running run({"a", "b"});
  auto &k = run.k;
  auto &d = run.d;
  d.programs[0].bytecode_digest = std::string(64, 'c');
  d.programs[0].attach.pop_back();  // b is dropped,
  AttachSpec c = d.programs[0].attach[0];
  xdp_of(c).interface = "c";  // c is new
  d.programs[0].attach.push_back(c);
  auto r = reconcile(k, d);
  // The new program takes over a before anything is detached; b goes only after; one commit.
  EXPECT_THAT(k.calls, ElementsAre("load-staged p", "swap a 100->101", "attach p c", "detach p b", "commit p"));
  ASSERT_EQ(r.status.programs.size(), 1u);
  EXPECT_EQ(to_string(r.status.programs[0].state), "attached");
  EXPECT_EQ(r.status.programs[0].kernel_id, 101u);
  EXPECT_TRUE(k.staging.empty());
}

TEST(Executor, AFailedSwapKeepsThePreviousProgram) {
  Running run({"a", "b"});
  auto &k = run.k;
  auto &d = run.d;
  k.fail_swap_target = "b";
  d.programs[0].bpf_function = "other";
  auto r = reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("load-staged p", "swap a 100->101", "swap b 100->101", "swap a 101->100",
                                   "unload-staged p"));
  EXPECT_EQ(k.state.programs.at("p").prog_id, 100u);
  EXPECT_EQ(k.state.programs.at("p").attachments.size(), 2u);
  EXPECT_TRUE(k.staging.empty());
  ASSERT_EQ(r.status.programs.size(), 1u);
  EXPECT_EQ(to_string(r.status.programs[0].state), "failed");
  EXPECT_NE(r.status.programs[0].error.find("previous program kept"), std::string::npos);
}

TEST(Executor, AFailedStagedLoadLeavesTheProgramAlone) {
  Running run({"a"});
  auto &k = run.k;
  auto &d = run.d;
  k.fail_load = "p";
  d.programs[0].bytecode_digest = std::string(64, 'd');
  reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("load-staged p"));
  EXPECT_EQ(k.state.programs.at("p").prog_id, 100u);
  EXPECT_EQ(k.state.programs.at("p").attachments.size(), 1u);
}

TEST(Executor, NewHookIsAttachedBeforeTheOldIsDetached) {
  Running run({"a"});
  auto &k = run.k;
  auto &d = run.d;
  xdp_of(d.programs[0].attach[0]).interface = "b";
  reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("attach p b", "detach p a"));
}

TEST(Executor, SameHookIsDetachedFirstAndRestoredWhenTheNewAttachFails) {
  Running run({"a"});
  auto &k = run.k;
  auto &d = run.d;
  xdp_of(d.programs[0].attach[0]).mode = XdpMode::Skb;  // same hook, new key
  reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("detach p a", "attach p a"));
}

TEST(Executor, StaleStagingIsDiscardedFirst) {
  FakeKernel k;
  ObservedProgram stale;
  stale.name = "p";
  stale.dir = "/pins/_staging-p";
  stale.prog_id = 7;
  AttachRecord r;
  r.key = "k";
  r.target = "a";
  stale.attachments["k"] = r;
  k.staging["p"] = stale;
  DesiredState d;
  reconcile(k, d);
  EXPECT_THAT(k.calls, ElementsAre("detach p a", "unload-staged p"));
  EXPECT_TRUE(k.staging.empty());
}

// The daemon applies a plan step by step (Execution) and may stop after any step: SIGTERM, or
// a change that makes it plan again. A step is one program (or one staging directory).
TEST(Execution, StepsOneProgramAtATimeInPlanOrder) {
  FakeKernel k;
  ObservedProgram stale;
  stale.name = "old";
  stale.dir = "/pins/_staging-old";
  k.staging["old"] = stale;
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  d.programs = {xdp_spec("p1", {"a"}), xdp_spec("p2", {"b"}), xdp_spec("p3", {"c", "d"})};
  auto obs = k.snapshot();
  auto changes = plan(d, obs);
  std::vector<AuditEvent> audit;
  Execution x(k, changes, obs, [&](const AuditEvent &e) { audit.push_back(e); });
  EXPECT_EQ(x.total(), 4u);  // the staging directory, then three creates
  EXPECT_EQ(x.done(), 0u);
  EXPECT_EQ(x.next_program(), "");  // the staging directory comes first
  x.step();
  EXPECT_THAT(k.calls, ElementsAre("unload-staged old"));
  EXPECT_EQ(x.next_program(), "p1");
  EXPECT_TRUE(x.applied().empty());
  x.step();
  EXPECT_THAT(k.calls, ElementsAre("unload-staged old", "load p1", "attach p1 a"));
  ASSERT_EQ(x.applied().size(), 1u);
  EXPECT_EQ(x.applied()[0].name, "p1");
  EXPECT_EQ(x.done(), 2u);
  EXPECT_FALSE(x.finished());
  EXPECT_EQ(x.report().changes, 3u);  // unload, load, attach
  // A budget of zero still runs one step: a slice always moves.
  EXPECT_EQ(x.run_for(std::chrono::steady_clock::duration::zero()), 1u);
  EXPECT_EQ(x.next_program(), "p3");
  EXPECT_EQ(x.run_for(std::chrono::hours(1)), 1u);
  EXPECT_TRUE(x.finished());
  EXPECT_EQ(x.next_program(), "");
  EXPECT_EQ(x.run_for(std::chrono::hours(1)), 0u);
  x.step();  // nothing left: does nothing
  EXPECT_EQ(x.done(), 4u);
  EXPECT_EQ(x.report().changes, 8u);
  EXPECT_EQ(audit.size(), 8u);
}

TEST(Execution, KeepsAreNoSteps) {
  FakeKernel k;
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  d.programs = {xdp_spec("p1", {"a"}), xdp_spec("p2", {"b"})};
  reconcile(k, d);
  d.programs.push_back(xdp_spec("p3", {"c"}));
  auto obs = k.snapshot();
  auto changes = plan(d, obs);
  Execution x(k, changes, obs, [](const AuditEvent &) {});
  EXPECT_EQ(x.total(), 1u);
  EXPECT_EQ(x.next_program(), "p3");
  x.step();
  EXPECT_TRUE(x.finished());
  // applied() covers every change up to the last step run, the Keeps before it included.
  EXPECT_EQ(x.applied().size(), changes.size());
}

TEST(Execution, StoppedMidPlanThenPlannedAgainConvergesWithNothingTwice) {
  FakeKernel k;
  DesiredState d;
  d.manifests = {manifest("/m/a.toml")};
  for (int i = 0; i < 6; ++i) d.programs.push_back(xdp_spec("p" + std::to_string(i), {"if" + std::to_string(i)}));
  {
    auto obs = k.snapshot();
    auto changes = plan(d, obs);
    Execution x(k, changes, obs, [](const AuditEvent &) {});
    x.step();
    x.step();
    // Dropped here: the desired state changes (p5 goes, p0 moves to another interface).
  }
  EXPECT_EQ(k.state.programs.size(), 2u);
  d.programs.pop_back();
  d.programs[0] = xdp_spec("p0", {"other"});
  k.calls.clear();
  auto obs = k.snapshot();
  auto changes = plan(d, obs);
  Execution x(k, changes, obs, [](const AuditEvent &) {});
  while (!x.finished()) x.step();
  // p1 is not loaded again; p0 is updated in place; p5 is never created.
  for (auto &c : k.calls) {
    EXPECT_EQ(c.find("load p1"), std::string::npos) << c;
    EXPECT_EQ(c.find("p5"), std::string::npos) << c;
  }
  EXPECT_THAT(k.calls, Contains("attach p0 other"));
  EXPECT_EQ(k.state.programs.size(), 5u);
  k.calls.clear();
  reconcile(k, d);
  EXPECT_THAT(k.calls, IsEmpty());
}

TEST(Status, JsonShowsAReconcileInProgress) {
  DaemonStatus s;
  EXPECT_TRUE(to_json(s)["reconciling"].is_null());
  s.reconciling = ReconcileProgress{"manifest change", "2026-12-01T21:00:00.000Z", 12, 200, "f12", 1, false};
  auto j = to_json(s);
  EXPECT_EQ(j["reconciling"]["steps_done"], 12);
  EXPECT_EQ(j["reconciling"]["steps_total"], 200);
  EXPECT_EQ(j["reconciling"]["why"], "manifest change");
  EXPECT_EQ(j["reconciling"]["next"], "f12");
  auto table = format_status_table(j);
  EXPECT_NE(table.find("12 of 200 steps"), std::string::npos) << table;
}

TEST(Status, JsonHasTheDescribeShape) {
  FakeKernel k;
  DesiredState d;
  d.manifests = {manifest("/m/a.toml"), manifest("/m/b.toml", ManifestState::Invalid)};
  d.manifests[1].errors.push_back({"/m/b.toml", {4, 9}, "unknown key 'x'"});
  d.programs = {xdp_spec("p", {"a"})};
  auto j = to_json(reconcile(k, d).status);
  EXPECT_EQ(j["state"], "degraded");
  EXPECT_EQ(j["generation"], 1);
  EXPECT_EQ(j["manifests"][1]["state"], "invalid");
  EXPECT_EQ(j["manifests"][1]["errors"][0]["line"], 4);
  EXPECT_EQ(j["manifests"][1]["errors"][0]["column"], 9);
  EXPECT_EQ(j["programs"][0]["name"], "p");
  EXPECT_EQ(j["programs"][0]["attachments"][0]["state"], "attached");
  EXPECT_EQ(j["programs"][0]["kernel_id"], 100);
  auto table = format_status_table(j);
  EXPECT_NE(table.find("/m/b.toml:4:9: error: unknown key 'x'"), std::string::npos) << table;
}

}  // namespace
}  // namespace bpfrec
