// Interface patterns: `interface` values (names, globs, "@primary") as the parser checks them,
// their expansion against an inventory, interfaces that went away, and how status and the
// planner treat them. Pure: the inventories are made up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "manifest/interface_pattern.h"
#include "reconcile/identity.h"
#include "reconcile/interfaces.h"
#include "reconcile/plan.h"
#include "status/status.h"

namespace bpfrec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---------------------------------------------------------------------------------------------
// The values the manifest accepts.

TEST(InterfaceValue, SelectorOfEachForm) {
  EXPECT_EQ(interface_selector("eth0"), InterfaceSelector::Name);
  EXPECT_EQ(interface_selector("ens*"), InterfaceSelector::Glob);
  EXPECT_EQ(interface_selector("eth?"), InterfaceSelector::Glob);
  EXPECT_EQ(interface_selector("eth[01]"), InterfaceSelector::Glob);
  EXPECT_EQ(interface_selector("a\\b"), InterfaceSelector::Glob);
  EXPECT_EQ(interface_selector("@primary"), InterfaceSelector::Primary);
}

TEST(InterfaceValue, ValidValues) {
  for (const char *v : {"eth0", "lo", "a", "123456789012345", "veth-a", "br.100", "ens*", "*", "eth?", "eth[0-3]",
                        "eth[!0]", "eth[^0]", "eth[]x]", "x[[:digit:]]", "e\\*", "@primary", "???????????????",
                        "*abcdefghijklmno*"})
    EXPECT_EQ(interface_value_error(v), std::nullopt) << v;
}

TEST(InterfaceValue, InvalidValuesSayWhy) {
  struct Case {
    const char *value;
    const char *says;
  };
  const std::vector<Case> cases = {
      {"", "must not be empty"},
      {"1234567890123456", "16 characters, at most 15"},
      {"a/b", "'/' at position 2"},
      {"a:b", "':' at position 2"},
      {"a b", "0x20 at position 2"},
      {"a\tb", "0x09 at position 2"},
      {".", "not a valid interface name"},
      {"..", "not a valid interface name"},
      {"@secondary", "not a known selector (the only one is \"@primary\")"},
      {"@", "not a known selector"},
      {"eth[0", "'[' at position 4 has no closing ']'"},
      {"eth[]", "'[' at position 4 has no closing ']'"},  // a leading ']' is a member
      {"x[[:digit:]", "'[' at position 2 has no closing ']'"},
      {"x[[:digit]]", "\"[:\" at position 3 has no closing \":]\""},
      {"eth\\", "ends with a lone '\\'"},
      {"e*/", "'/' at position 3"},
      {"e[a/]", "'/' at position 4"},
      {"????????????????", "needs at least 16 characters and interface names have at most 15"},
      {"*abcdefghijklmnop*", "needs at least 16 characters"},
      {"*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "at most 64 characters, not 68"},
  };
  for (auto &c : cases) {
    auto err = interface_value_error(c.value);
    ASSERT_TRUE(err) << "accepted: " << c.value;
    EXPECT_THAT(*err, HasSubstr(c.says)) << c.value;
  }
}

TEST(InterfaceValue, ManifestReportsBadGlobAtTheValue) {
  const std::string text =
      "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/x.o\" }\n"
      "[[program.attach]]\ninterface = \"ens[0\"\n";
  auto parsed = parse_manifest(text, "/m/a.toml");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].str(),
            "/m/a.toml:7:13: error: 'interface' = \"ens[0\": '[' at position 4 has no closing ']'");
}

TEST(InterfaceValue, ManifestKeepsPatternsAsWritten) {
  const std::string text =
      "[[program]]\nname = \"p\"\ntype = \"tc\"\nbpf_function = \"f\"\nbytecode = { path = \"/x.o\" }\n"
      "[[program.attach]]\ninterface = \"ens*\"\ndirection = \"ingress\"\n"
      "[[program.attach]]\ninterface = \"@primary\"\ndirection = \"egress\"\n";
  auto parsed = parse_manifest(text, "/m/a.toml");
  ASSERT_THAT(parsed.errors, IsEmpty());
  ASSERT_EQ(parsed.programs[0].attach.size(), 2u);
  EXPECT_EQ(std::get<TcAttach>(parsed.programs[0].attach[0].params).interface, "ens*");
  EXPECT_EQ(std::get<TcAttach>(parsed.programs[0].attach[1].params).interface, "@primary");
}

// ---------------------------------------------------------------------------------------------
// Expansion.

AttachSpec xdp_attach(const std::string &iface, const std::string &netns = "") {
  AttachSpec a = AttachSpec::of(ProgramType::Xdp);
  auto &x = std::get<XdpAttach>(a.params);
  x.interface = iface;
  x.netns = netns;
  x.proceed_on = proceed_on_defaults(ProgramType::Xdp);
  return a;
}

// The parameters of an xdp attach point (std::bad_variant_access, a failed test, otherwise).
const XdpAttach &xdp_of(const AttachSpec &a) { return std::get<XdpAttach>(a.params); }
XdpAttach &xdp_of(AttachSpec &a) { return std::get<XdpAttach>(a.params); }

ProgramSpec program(const std::string &name, std::vector<AttachSpec> attach, ProgramType t = ProgramType::Xdp) {
  ProgramSpec p;
  p.name = name;
  p.type = t;
  p.bpf_function = "f";
  p.bytecode_path = "/obj/x.o";
  p.bytecode_digest = std::string(64, 'a');
  p.manifest = "/m/a.toml";
  p.attach = std::move(attach);
  return p;
}

NetnsInterfaces netns_with(std::vector<std::string> names, std::string primary = "") {
  NetnsInterfaces n;
  n.interfaces.push_back({"lo", true});
  for (auto &s : names) n.interfaces.push_back({s, false});
  n.primary = std::move(primary);
  return n;
}

// "name<-pattern" per attach point (or just "name"), then one line per note.
std::vector<std::string> expanded(const ProgramSpec &p, const InterfaceInventory &inv) {
  DesiredState d;
  d.programs = {p};
  auto notes = expand_interfaces(d, inv);
  std::vector<std::string> out;
  for (auto &spec : d.programs[0].attach) {
    const XdpAttach &a = xdp_of(spec);
    out.push_back(a.interface + (a.interface_pattern.empty() ? "" : "<-" + a.interface_pattern) +
                  (a.netns.empty() ? "" : "@" + a.netns));
  }
  for (auto &n : notes) out.push_back(fmt::format("{}: {}", to_string(n.kind), n.message));
  return out;
}

TEST(ExpandInterfaces, Table) {
  const InterfaceInventory inv = {
      {"", netns_with({"ens3", "ens4", "eth0", "veth12", "br-x"}, "ens4")},
      {"/run/netns/blue", netns_with({"ens9", "gl0"}, "")},
      {"/run/netns/broken", NetnsInterfaces{{}, "", "open netns /run/netns/broken: No such file or directory"}},
  };
  struct Case {
    const char *what;
    std::vector<AttachSpec> attach;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"literal passes through, present or not", {xdp_attach("eth0"), xdp_attach("nope0")}, {"eth0", "nope0"}},
      {"glob in name order", {xdp_attach("ens*")}, {"ens3<-ens*", "ens4<-ens*"}},
      {"glob in another netns", {xdp_attach("ens*", "/run/netns/blue")}, {"ens9<-ens*@/run/netns/blue"}},
      {"? and brackets", {xdp_attach("ens[4-9]"), xdp_attach("veth??")}, {"ens4<-ens[4-9]", "veth12<-veth??"}},
      {"star never matches loopback", {xdp_attach("*", "/run/netns/blue")},
       {"ens9<-*@/run/netns/blue", "gl0<-*@/run/netns/blue"}},
      {"literal lo still allowed", {xdp_attach("lo")}, {"lo"}},
      {"@primary", {xdp_attach("@primary")}, {"ens4<-@primary"}},
      {"@primary without default route", {xdp_attach("@primary", "/run/netns/blue")},
       {"pending: no interface carries a default route"}},
      {"no match is pending", {xdp_attach("wlan*")}, {"pending: no interface matches 'wlan*'"}},
      {"unreadable netns fails", {xdp_attach("ens*", "/run/netns/broken")},
       {"failed: cannot list the interfaces in netns /run/netns/broken: open netns /run/netns/broken: No such file or "
        "directory"}},
      {"netns not inventoried fails", {xdp_attach("ens*", "/run/netns/other")},
       {"failed: the interfaces in netns /run/netns/other were not listed"}},
      {"literal wins over the same hook from a glob", {xdp_attach("ens*"), xdp_attach("ens3")},
       {"ens4<-ens*", "ens3"}},
      {"two globs matching one interface attach it once", {xdp_attach("ens*"), xdp_attach("*3")},
       {"ens3<-ens*", "ens4<-ens*"}},
      {"@primary and a name on the same interface", {xdp_attach("@primary"), xdp_attach("ens4")}, {"ens4"}},
  };
  for (auto &c : cases) EXPECT_EQ(expanded(program("p", c.attach), inv), c.want) << c.what;
}

TEST(ExpandInterfaces, SameGlobWithOtherSettingsIsAnotherAttachPoint) {
  auto a = xdp_attach("ens*"), b = xdp_attach("ens*");
  xdp_of(b).priority = 10;
  EXPECT_EQ(expanded(program("p", {a, b}), {{"", netns_with({"ens3"})}}),
            (std::vector<std::string>{"ens3<-ens*", "ens3<-ens*"}));
}

TEST(ExpandInterfaces, ConcreteKeysIgnoreThePattern) {
  // The attachment on ens3 is the same whether a glob or the name selected it: changing the
  // manifest from one to the other changes nothing in the kernel.
  DesiredState d;
  d.programs = {program("p", {xdp_attach("ens*")})};
  (void)expand_interfaces(d, {{"", netns_with({"ens3"})}});
  EXPECT_EQ(attach_key(ProgramType::Xdp, d.programs[0].attach[0]), attach_key(ProgramType::Xdp, xdp_attach("ens3")));
}

TEST(ExpandInterfaces, LeavesOtherProgramTypesAlone) {
  AttachSpec tp = AttachSpec::of(ProgramType::Tracepoint);
  std::get<TracepointAttach>(tp.params).tracepoint = "syscalls/sys_enter_openat";
  DesiredState d;
  d.programs = {program("t", {tp}, ProgramType::Tracepoint)};
  EXPECT_THAT(expand_interfaces(d, {}), IsEmpty());
  ASSERT_EQ(d.programs[0].attach.size(), 1u);
  EXPECT_EQ(std::get<TracepointAttach>(d.programs[0].attach[0].params).tracepoint, "syscalls/sys_enter_openat");
}

TEST(ExpandInterfaces, NetnsToInventory) {
  DesiredState d;
  d.programs = {program("p", {xdp_attach("eth0", "/run/netns/a"), xdp_attach("ens*", "/run/netns/b"),
                              xdp_attach("@primary", "/run/netns/c")})};
  EXPECT_THAT(pattern_netns(d), ElementsAre("/run/netns/b", "/run/netns/c"));
  EXPECT_THAT(pattern_netns(d, /*primary_only=*/true), ElementsAre("/run/netns/c"));
}

// ---------------------------------------------------------------------------------------------
// Interfaces that go away.

struct Step {
  InterfaceInventory inv;
  std::vector<PatternNote> fresh;
};

Step step(VanishedInterfaces &v, const ProgramSpec &p, InterfaceInventory inv) {
  DesiredState d;
  d.programs = {p};
  auto notes = expand_interfaces(d, inv);
  return {inv, v.update(d, notes, inv)};
}

std::vector<std::string> messages(const std::vector<PatternNote> &notes) {
  std::vector<std::string> out;
  for (auto &n : notes) out.push_back(n.program + ": " + n.message);
  return out;
}

TEST(VanishedInterfaces, ReportsDeletedInterfaceUntilItComesBack) {
  VanishedInterfaces v;
  const auto p = program("p", {xdp_attach("gl*", "/n")});
  EXPECT_THAT(step(v, p, {{"/n", netns_with({"gl0", "gl1"})}}).fresh, IsEmpty());
  EXPECT_THAT(messages(step(v, p, {{"/n", netns_with({"gl1"})}}).fresh), ElementsAre("p: interface gl0 went away"));
  EXPECT_THAT(messages(v.notes()), ElementsAre("p: interface gl0 went away"));
  EXPECT_EQ(xdp_of(v.notes()[0].spec).interface_pattern, "gl*");
  // Reported once, kept while it stays away, even when nothing matches any more.
  EXPECT_EQ(step(v, p, {{"/n", netns_with({})}}).fresh.size(), 1u);  // gl1
  EXPECT_THAT(messages(v.notes()), ElementsAre("p: interface gl0 went away", "p: interface gl1 went away"));
  // Back again: forgotten.
  EXPECT_THAT(step(v, p, {{"/n", netns_with({"gl0"})}}).fresh, IsEmpty());
  EXPECT_THAT(messages(v.notes()), ElementsAre("p: interface gl1 went away"));
}

TEST(VanishedInterfaces, PrimaryMovingReportsTheOldOne) {
  VanishedInterfaces v;
  const auto p = program("p", {xdp_attach("@primary")});
  (void)step(v, p, {{"", netns_with({"pr0", "pr1"}, "pr0")}});
  EXPECT_THAT(messages(step(v, p, {{"", netns_with({"pr0", "pr1"}, "pr1")}}).fresh),
              ElementsAre("p: interface pr0 no longer carries the default route"));
}

TEST(VanishedInterfaces, RemovedPatternIsNotReported) {
  VanishedInterfaces v;
  (void)step(v, program("p", {xdp_attach("gl*")}), {{"", netns_with({"gl0"})}});
  // The manifest now names something else: gl0 did not "go away", it was dropped on purpose.
  EXPECT_THAT(step(v, program("p", {xdp_attach("ens*")}), {{"", netns_with({"gl0"})}}).fresh, IsEmpty());
  (void)step(v, program("p", {xdp_attach("gl*")}), {{"", netns_with({"gl0"})}});
  (void)step(v, program("p", {xdp_attach("gl*")}), {{"", netns_with({})}});
  ASSERT_EQ(v.notes().size(), 1u);
  (void)step(v, program("p", {xdp_attach("ens*")}), {{"", netns_with({})}});
  EXPECT_THAT(v.notes(), IsEmpty());
}

TEST(VanishedInterfaces, KeepsAtMostAFewPerPattern) {
  VanishedInterfaces v;
  const auto p = program("p", {xdp_attach("v*")});
  for (int i = 0; i < 20; ++i) {
    const std::string name = "v" + std::to_string(i);
    (void)step(v, p, {{"", netns_with({name})}});
  }
  (void)step(v, p, {{"", netns_with({})}});
  ASSERT_EQ(v.notes().size(), VanishedInterfaces::kPerPattern);
  EXPECT_EQ(xdp_of(v.notes().back().spec).interface, "v19");
  EXPECT_EQ(xdp_of(v.notes().front().spec).interface, "v" + std::to_string(20 - VanishedInterfaces::kPerPattern));
}

// ---------------------------------------------------------------------------------------------
// Status and plan.

ObservedProgram observed_with(const ProgramSpec &spec) {
  ObservedProgram o;
  o.name = spec.name;
  o.type = std::string(to_string(spec.type));
  o.digest = program_digest(spec);
  o.manifest_name = "a.toml";
  o.manifest_path = spec.manifest;
  o.bytecode_sha256 = spec.bytecode_digest;
  o.prog_id = 7;
  for (auto &a : spec.attach) {
    AttachRecord r;
    r.key = attach_key(spec.type, a);
    r.mechanism = Mechanism::Xdp;
    r.target = a.target_label(spec.type);
    r.spec = a;
    o.attachments[r.key] = r;
  }
  return o;
}

TEST(PatternStatus, NoMatchIsPendingAndNotDegraded) {
  DesiredState d;
  d.manifests = {ManifestEntry{"a.toml", "/m/a.toml", ManifestState::Ok, {}, {}}};
  d.programs = {program("p", {xdp_attach("ens*", "/run/netns/x")})};
  auto notes = expand_interfaces(d, {{"/run/netns/x", netns_with({"eth0"})}});
  ObservedState after;
  after.programs["p"] = observed_with(d.programs[0]);  // loaded, attached nowhere
  auto s = build_status(1, d, after, {}, notes);
  EXPECT_EQ(to_string(s.state), "idle");
  ASSERT_EQ(s.programs.size(), 1u);
  EXPECT_EQ(to_string(s.programs[0].state), "pending");
  ASSERT_EQ(s.programs[0].attachments.size(), 1u);
  const auto &a = s.programs[0].attachments[0];
  EXPECT_EQ(to_string(a.state), "pending");
  EXPECT_EQ(a.target, "ens* (netns /run/netns/x)");
  EXPECT_EQ(a.error, "no interface matches 'ens*'");
  EXPECT_EQ(a.pattern, "ens*");
  auto j = to_json(s);
  EXPECT_EQ(j["programs"][0]["attachments"][0]["pattern"], "ens*");
  EXPECT_THAT(format_status_table(j), HasSubstr("[pending: no interface matches 'ens*']"));
}

TEST(PatternStatus, GoneIsReportedAndNotDegraded) {
  DesiredState d;
  d.manifests = {ManifestEntry{"a.toml", "/m/a.toml", ManifestState::Ok, {}, {}}};
  d.programs = {program("p", {xdp_attach("gl*")})};
  VanishedInterfaces v;
  auto notes = expand_interfaces(d, {{"", netns_with({"gl0", "gl1"})}});
  (void)v.update(d, notes, {{"", netns_with({"gl0", "gl1"})}});
  d.programs = {program("p", {xdp_attach("gl*")})};
  notes = expand_interfaces(d, {{"", netns_with({"gl1"})}});
  (void)v.update(d, notes, {{"", netns_with({"gl1"})}});
  notes.insert(notes.end(), v.notes().begin(), v.notes().end());
  ObservedState after;
  after.programs["p"] = observed_with(d.programs[0]);
  auto s = build_status(2, d, after, {}, notes);
  EXPECT_EQ(to_string(s.state), "idle");
  EXPECT_EQ(to_string(s.programs[0].state), "attached");
  ASSERT_EQ(s.programs[0].attachments.size(), 2u);
  EXPECT_EQ(s.programs[0].attachments[0].target, "gl1");
  EXPECT_EQ(to_string(s.programs[0].attachments[0].state), "attached");
  EXPECT_EQ(s.programs[0].attachments[0].pattern, "gl*");
  EXPECT_EQ(s.programs[0].attachments[1].target, "gl0");
  EXPECT_EQ(to_string(s.programs[0].attachments[1].state), "gone");
  EXPECT_EQ(s.programs[0].attachments[1].error, "interface gl0 went away");
  EXPECT_THAT(format_status_table(to_json(s)), HasSubstr("gl1  [matched 'gl*']"));
}

TEST(PatternStatus, UnreadableNetnsDegrades) {
  DesiredState d;
  d.manifests = {ManifestEntry{"a.toml", "/m/a.toml", ManifestState::Ok, {}, {}}};
  d.programs = {program("p", {xdp_attach("eth0"), xdp_attach("ens*", "/run/netns/gone")})};
  auto notes = expand_interfaces(d, {{"/run/netns/gone", NetnsInterfaces{{}, "", "open netns: ENOENT"}}});
  ObservedState after;
  after.programs["p"] = observed_with(d.programs[0]);
  auto s = build_status(1, d, after, {}, notes);
  EXPECT_EQ(to_string(s.programs[0].state), "partial");
  EXPECT_EQ(to_string(s.state), "degraded");
  EXPECT_EQ(to_string(s.programs[0].attachments[1].state), "failed");
}

TEST(PlanForget, LostAttachmentNoLongerWantedIsForgotten) {
  // ens3 was attached from "ens*" and has been deleted: observe() found it lost.
  DesiredState d;
  d.manifests = {ManifestEntry{"a.toml", "/m/a.toml", ManifestState::Ok, {}, {}}};
  d.programs = {program("p", {xdp_attach("ens*")})};
  const auto before = program("p", {xdp_attach("ens3"), xdp_attach("ens4")});
  ObservedState obs;
  obs.programs["p"] = observed_with(before);
  auto lost = obs.programs["p"].attachments.extract(attach_key(ProgramType::Xdp, xdp_attach("ens3")));
  obs.programs["p"].lost.insert(std::move(lost));
  (void)expand_interfaces(d, {{"", netns_with({"ens4"})}});
  auto changes = plan(d, obs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::Update);
  EXPECT_EQ(changes[0].reason, "attach points went away");
  EXPECT_THAT(changes[0].forget, ElementsAre(attach_key(ProgramType::Xdp, xdp_attach("ens3"))));
  EXPECT_THAT(changes[0].attach, IsEmpty());
  EXPECT_THAT(changes[0].detach, IsEmpty());

  // Still wanted (a literal name that is missing for now): attached again, not forgotten.
  d.programs = {program("p", {xdp_attach("ens3"), xdp_attach("ens4")})};
  changes = plan(d, obs);
  EXPECT_THAT(changes[0].forget, IsEmpty());
  EXPECT_EQ(changes[0].attach.size(), 1u);
}

}  // namespace
}  // namespace bpfrec
