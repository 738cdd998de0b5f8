// parse_manifest(): the schema of manifest v1, its defaults and every positioned diagnostic.
#include "manifest/manifest.h"
#include "reconcile/identity.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace bpfrec {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kPath[] = "/etc/bpfman/programs.d/test.toml";

// Raw strings below start with a newline for readability; drop it so that line 1 of the TOML text
// is the first line after R"(.
std::string toml(std::string_view s) {
  if (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return std::string(s);
}

// parse() and errors_of() drop one leading newline too (see toml()).
ParsedManifest parse(std::string_view text) { return parse_manifest(toml(text), kPath); }

std::vector<std::string> errors_of(std::string_view text) {
  std::vector<std::string> out;
  for (auto &e : parse(text).errors) out.push_back(e.str());
  return out;
}

// The rendered form of a diagnostic in kPath.
std::string at(uint32_t line, uint32_t col, std::string_view msg) {
  return fmt::format("{}:{}:{}: error: {}", kPath, line, col, msg);
}

// The parameters of attach point `a` as family `P` (std::bad_variant_access, which fails the
// test, when they are another family's).
template <class P>
const P &as(const AttachSpec &a) {
  return std::get<P>(a.params);
}
template <class P>
P &as(AttachSpec &a) {
  return std::get<P>(a.params);
}

void expect_pos(SourcePos p, uint32_t line, uint32_t col) {
  EXPECT_EQ(p.line, line);
  EXPECT_EQ(p.column, col);
}

// Lines 1-5: a complete [[program]] of `type`, without attach points.
std::string program(std::string_view type, std::string_view name = "p") {
  return fmt::format(
      "[[program]]\n"
      "name = \"{}\"\n"
      "type = \"{}\"\n"
      "bpf_function = \"f\"\n"
      "bytecode = {{ path = \"/o.bpf.o\" }}\n",
      name, type);
}

// The keys an attach point of `type` needs, one per line.
std::string required_attach_keys(std::string_view type) {
  if (type == "xdp") return "interface = \"eth0\"\n";
  if (type == "tc") return "interface = \"eth0\"\ndirection = \"ingress\"\n";
  if (type == "tracepoint") return "tracepoint = \"sched/sched_switch\"\n";
  if (type == "kprobe" || type == "kretprobe" || type == "fentry" || type == "fexit")
    return "function = \"do_sys_openat2\"\n";
  if (type == "cgroup_skb") return "cgroup = \"/sys/fs/cgroup/app\"\ndirection = \"ingress\"\n";
  if (type == "cgroup_sock") return "cgroup = \"/sys/fs/cgroup/app\"\n";
  if (type == "cgroup_sock_addr") return "cgroup = \"/sys/fs/cgroup/app\"\nattach_type = \"connect4\"\n";
  if (type == "sockops") return "cgroup = \"/sys/fs/cgroup/app\"\n";
  if (type == "lsm") return "hook = \"file_open\"\n";
  if (type == "raw_tracepoint") return "tracepoint = \"sys_enter\"\n";
  return "target = \"/usr/bin/bash\"\nfunction = \"readline\"\n";
}

// A one-program manifest of `type` whose attach point has the line `extra` on line 7
// (line 6 is [[program.attach]]), followed by the keys that type needs.
std::string attach_case(std::string_view type, std::string_view extra) {
  return program(type) + "[[program.attach]]\n" + std::string(extra) + "\n" + required_attach_keys(type);
}

// A one-program manifest of `type` with the program-level line `extra` on line 6.
std::string program_case(std::string_view type, std::string_view extra) {
  return program(type) + std::string(extra) + "\n[[program.attach]]\n" + required_attach_keys(type);
}

// ---------------------------------------------------------------------------------------------
// Valid manifests

constexpr char kSha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const std::string kFull = toml(R"(
# Every program type, with every attach key it accepts.
[[program]]
name = "xdp-all"
type = "xdp"
bpf_function = "xdp_count"
bytecode = { path = "/usr/lib/bpf/xdp_counter.bpf.o", sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }
global_data = { sample_every = 4, key = "0x0aFF" }
metadata = { owner = "net-team", ticket = "NET-1" }

[[program.attach]]
interface = "eth0"
netns = "/run/netns/blue"
priority = 10
proceed_on = ["drop", "pass", "dispatcher_return"]
mode = "native"

[[program.attach]]
interface = "eth1"
mode = "skb"

[[program]]
name = "tc_egress"
type = "tc"
bpf_function = "tc_count"

[program.bytecode]
path = "/usr/lib/bpf/tc_counter.bpf.o"

[[program.attach]]
interface = "veth1"
netns = "/run/netns/red"
priority = 1000
proceed_on = ["ok", "shot"]
direction = "egress"

[[program]]
name = "tp0"
type = "tracepoint"
bpf_function = "tracepoint_count"
bytecode = { path = "/usr/lib/bpf/tracepoint_counter.bpf.o" }

[[program.attach]]
tracepoint = "syscalls/sys_enter_openat"

[[program.attach]]
tracepoint = "sched/sched_switch"

[[program]]
name = "uprobe-malloc"
type = "uprobe"
bpf_function = "uprobe_count"
bytecode = { path = "/usr/lib/bpf/uprobe_counter.bpf.o" }

[[program.attach]]
target = "/usr/lib/x86_64-linux-gnu/libc.so.6"
function = "malloc"
offset = 16
pid = 4242

[[program]]
name = "9-uretprobe"
type = "uretprobe"
bpf_function = "uprobe_count"
bytecode = { path = "/usr/lib/bpf/uprobe_counter.bpf.o" }

[[program.attach]]
target = "/usr/bin/bash"
offset = 0x1000
)");

// The override named `name` (order is checked separately, see GlobalDataKeepsFileOrder).
const GlobalValue &global(const ProgramSpec &p, std::string_view name) {
  for (auto &g : p.global_data)
    if (g.name == name) return g;
  throw std::runtime_error(fmt::format("no global_data {}", name));
}

TEST(ParseManifest, FullManifestOfEveryType) {
  auto r = parse_manifest(kFull, kPath);
  ASSERT_THAT(r.errors, IsEmpty()) << r.errors.front().str();
  ASSERT_THAT(r.programs, SizeIs(5));

  const auto &x = r.programs[0];
  EXPECT_EQ(x.name, "xdp-all");
  EXPECT_EQ(x.type, ProgramType::Xdp);
  EXPECT_EQ(x.bpf_function, "xdp_count");
  EXPECT_EQ(x.bytecode_path, "/usr/lib/bpf/xdp_counter.bpf.o");
  EXPECT_EQ(x.bytecode_sha256, kSha);
  EXPECT_EQ(x.bytecode_digest, "") << "only load_desired() reads the file";
  EXPECT_EQ(x.manifest, kPath);
  ASSERT_THAT(x.global_data, SizeIs(2));
  const auto &sample = global(x, "sample_every");
  EXPECT_EQ(std::get<int64_t>(sample.value), 4);
  expect_pos(sample.pos, 7, 32);
  const auto &key = global(x, "key");
  EXPECT_EQ(std::get<std::vector<uint8_t>>(key.value), (std::vector<uint8_t>{0x0a, 0xff}));
  expect_pos(key.pos, 7, 41);
  EXPECT_EQ(x.metadata, (std::map<std::string, std::string>{{"owner", "net-team"}, {"ticket", "NET-1"}}));
  ASSERT_THAT(x.attach, SizeIs(2));
  const auto &xa = as<XdpAttach>(x.attach[0]);
  EXPECT_EQ(xa.interface, "eth0");
  EXPECT_EQ(xa.netns, "/run/netns/blue");
  EXPECT_EQ(xa.priority, 10u);
  EXPECT_THAT(xa.proceed_on, ElementsAre("drop", "pass", "dispatcher_return"));
  EXPECT_TRUE(xa.proceed_on_explicit);
  EXPECT_EQ(xa.mode, XdpMode::Native);
  expect_pos(x.attach[0].pos, 10, 1);
  EXPECT_EQ(as<XdpAttach>(x.attach[1]).interface, "eth1");
  EXPECT_EQ(as<XdpAttach>(x.attach[1]).mode, XdpMode::Skb);
  expect_pos(x.attach[1].pos, 17, 1);

  const auto &t = r.programs[1];
  EXPECT_EQ(t.name, "tc_egress");
  EXPECT_EQ(t.type, ProgramType::Tc);
  EXPECT_EQ(t.bytecode_path, "/usr/lib/bpf/tc_counter.bpf.o");
  EXPECT_EQ(t.bytecode_sha256, "");
  EXPECT_THAT(t.global_data, IsEmpty());
  EXPECT_THAT(t.metadata, IsEmpty());
  ASSERT_THAT(t.attach, SizeIs(1));
  const auto &ta = as<TcAttach>(t.attach[0]);
  EXPECT_EQ(ta.interface, "veth1");
  EXPECT_EQ(ta.netns, "/run/netns/red");
  EXPECT_EQ(ta.priority, 1000u);
  EXPECT_THAT(ta.proceed_on, ElementsAre("ok", "shot"));
  EXPECT_EQ(ta.direction, TcDirection::Egress);

  const auto &tp = r.programs[2];
  EXPECT_EQ(tp.type, ProgramType::Tracepoint);
  ASSERT_THAT(tp.attach, SizeIs(2));
  EXPECT_EQ(as<TracepointAttach>(tp.attach[0]).tracepoint, "syscalls/sys_enter_openat");
  EXPECT_EQ(as<TracepointAttach>(tp.attach[1]).tracepoint, "sched/sched_switch");

  const auto &u = r.programs[3];
  EXPECT_EQ(u.type, ProgramType::Uprobe);
  ASSERT_THAT(u.attach, SizeIs(1));
  const auto &ua = as<UprobeAttach>(u.attach[0]);
  EXPECT_EQ(ua.target, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(ua.function, "malloc");
  EXPECT_EQ(ua.offset, std::optional<uint64_t>(16));
  EXPECT_EQ(ua.pid, std::optional<int32_t>(4242));

  const auto &ur = r.programs[4];
  EXPECT_EQ(ur.name, "9-uretprobe");
  EXPECT_EQ(ur.type, ProgramType::Uretprobe);
  ASSERT_THAT(ur.attach, SizeIs(1));
  const auto &ura = as<UprobeAttach>(ur.attach[0]);
  EXPECT_EQ(ura.target, "/usr/bin/bash");
  EXPECT_EQ(ura.function, "");
  EXPECT_EQ(ura.offset, std::optional<uint64_t>(0x1000));
  EXPECT_EQ(ura.pid, std::nullopt);
}

TEST(ParseManifest, RecordsPositionsOfTablesAndKeys) {
  auto r = parse_manifest(kFull, kPath);
  ASSERT_THAT(r.programs, SizeIs(5));
  const auto &x = r.programs[0];
  expect_pos(x.pos, 2, 1);
  expect_pos(x.name_pos, 3, 8);
  expect_pos(x.type_pos, 4, 8);
  expect_pos(x.function_pos, 5, 16);
  expect_pos(x.bytecode_pos, 6, 21);  // the path value
  expect_pos(x.sha256_pos, 6, 64);
  // [program.bytecode] as a sub-table: the position is still the path value.
  expect_pos(r.programs[1].pos, 21, 1);
  expect_pos(r.programs[1].bytecode_pos, 27, 8);
  expect_pos(r.programs[1].sha256_pos, 0, 0);
  expect_pos(r.programs[1].attach[0].pos, 29, 1);
}

TEST(ParseManifest, DefaultsForXdp) {
  auto r = parse(program("xdp") + "[[program.attach]]\ninterface = \"eth0\"\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs, SizeIs(1));
  ASSERT_THAT(r.programs[0].attach, SizeIs(1));
  const auto &a = as<XdpAttach>(r.programs[0].attach[0]);
  EXPECT_EQ(a.priority, 50u);
  EXPECT_THAT(a.proceed_on, ElementsAre("pass", "dispatcher_return"));
  EXPECT_FALSE(a.proceed_on_explicit);
  EXPECT_EQ(a.mode, XdpMode::Auto);
  EXPECT_EQ(a.netns, "");
}

TEST(ParseManifest, DefaultsForTc) {
  auto r = parse(program("tc") + "[[program.attach]]\ninterface = \"eth0\"\ndirection = \"ingress\"\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs, SizeIs(1));
  const auto &a = as<TcAttach>(r.programs[0].attach.at(0));
  EXPECT_EQ(a.priority, 50u);
  EXPECT_THAT(a.proceed_on, ElementsAre("pipe", "dispatcher_return"));
  EXPECT_FALSE(a.proceed_on_explicit);
  EXPECT_EQ(a.direction, TcDirection::Ingress);
  EXPECT_EQ(a.netns, "");
}

TEST(ParseManifest, DefaultsForTracingTypes) {
  for (std::string_view type : {"tracepoint", "uprobe", "uretprobe"}) {
    SCOPED_TRACE(type);
    auto r = parse(program(type) + "[[program.attach]]\n" + required_attach_keys(type));
    ASSERT_THAT(r.errors, IsEmpty());
    const auto &a = r.programs.at(0).attach.at(0);
    EXPECT_EQ(a.netif(), nullptr);  // no proceed_on at all
    if (type == "tracepoint") {
      EXPECT_NE(a.get_if<TracepointAttach>(), nullptr);
    } else {
      EXPECT_EQ(as<UprobeAttach>(a).pid, std::nullopt);
      EXPECT_EQ(as<UprobeAttach>(a).offset, std::nullopt);
    }
    EXPECT_THAT(r.programs[0].global_data, IsEmpty());
  }
}

TEST(ParseManifest, ExplicitEmptyProceedOnIsKept) {
  auto r = parse(attach_case("xdp", "proceed_on = []"));
  ASSERT_THAT(r.errors, IsEmpty());
  const auto &a = as<XdpAttach>(r.programs.at(0).attach.at(0));
  EXPECT_THAT(a.proceed_on, IsEmpty());
  EXPECT_TRUE(a.proceed_on_explicit);
}

TEST(ParseManifest, EveryXdpModeAndProceedOnName) {
  const std::pair<const char *, XdpMode> modes[] = {
      {"auto", XdpMode::Auto}, {"native", XdpMode::Native}, {"skb", XdpMode::Skb}, {"hw", XdpMode::Hw}};
  for (auto [text, mode] : modes) {
    auto r = parse(attach_case("xdp", fmt::format("mode = \"{}\"", text)));
    ASSERT_THAT(r.errors, IsEmpty()) << text;
    EXPECT_EQ(as<XdpAttach>(r.programs.at(0).attach.at(0)).mode, mode);
    EXPECT_EQ(to_string(mode), text);
  }
  for (auto type : {ProgramType::Xdp, ProgramType::Tc}) {
    std::string list;
    for (auto &n : proceed_on_names(type)) list += fmt::format("\"{}\", ", n);
    auto r = parse(attach_case(to_string(type), "proceed_on = [" + list + "]"));
    ASSERT_THAT(r.errors, IsEmpty()) << to_string(type);
    ASSERT_NE(r.programs.at(0).attach.at(0).netif(), nullptr);
    EXPECT_EQ(r.programs.at(0).attach.at(0).netif()->proceed_on, proceed_on_names(type));
  }
}

TEST(ParseManifest, SeveralProgramsInOneFileKeepFileOrder) {
  auto r = parse(program("xdp", "zeta") + "[[program.attach]]\ninterface = \"eth0\"\n" + program("tracepoint", "alpha") +
                 "[[program.attach]]\ntracepoint = \"a/b\"\n" + program("xdp", "mid") +
                 "[[program.attach]]\ninterface = \"eth1\"\n");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs, SizeIs(3));
  EXPECT_EQ(r.programs[0].name, "zeta");
  EXPECT_EQ(r.programs[1].name, "alpha");
  EXPECT_EQ(r.programs[1].type, ProgramType::Tracepoint);
  EXPECT_EQ(r.programs[2].name, "mid");
  expect_pos(r.programs[1].pos, 8, 1);
  expect_pos(r.programs[2].pos, 15, 1);
  for (auto &p : r.programs) EXPECT_THAT(p.attach, SizeIs(1)) << p.name;
}

TEST(ParseManifest, InlineArrayOfProgramTables) {
  auto r = parse(R"(program = [{ name = "a", type = "xdp", bpf_function = "f", bytecode = { path = "/x.o" }, attach = [{ interface = "eth0" }] }])");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs, SizeIs(1));
  EXPECT_EQ(as<XdpAttach>(r.programs[0].attach.at(0)).interface, "eth0");
  expect_pos(r.programs[0].pos, 1, 12);
}

TEST(ParseManifest, RelativeBytecodePathIsResolvedAgainstTheManifestDirectory) {
  struct Case {
    std::string_view manifest, bytecode, expected;
  } cases[] = {
      {"/etc/bpfman/programs.d/a.toml", "xdp.bpf.o", "/etc/bpfman/programs.d/xdp.bpf.o"},
      {"/etc/bpfman/programs.d/a.toml", "./bpf/xdp.bpf.o", "/etc/bpfman/programs.d/bpf/xdp.bpf.o"},
      {"/etc/bpfman/programs.d/a.toml", "../../../usr/lib/x.o", "/usr/lib/x.o"},
      {"/etc/bpfman/programs.d/a.toml", "/abs//dir/./x.o", "/abs/dir/x.o"},
      {"/run/p.d/b.toml", "sub/../x.o", "/run/p.d/x.o"},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("{} + {}", c.manifest, c.bytecode));
    auto text = fmt::format(
        "[[program]]\nname = \"a\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = {{ path = \"{}\" }}\n"
        "[[program.attach]]\ninterface = \"eth0\"\n",
        c.bytecode);
    auto r = parse_manifest(text, std::string(c.manifest));
    ASSERT_THAT(r.errors, IsEmpty());
    EXPECT_EQ(r.programs.at(0).bytecode_path, c.expected);
    EXPECT_EQ(r.programs.at(0).manifest, c.manifest);
  }
}

// Issue 14: `bytecode = { image, pull_policy }`, bpfman's names for the policies; IfNotPresent
// by default; a sha256 next to an image pins the object the image holds.
TEST(ParseManifest, ImageBytecodeWithEveryPullPolicy) {
  struct Case {
    std::string_view policy_key;
    PullPolicy expected;
  } cases[] = {{"", PullPolicy::IfNotPresent},
               {", pull_policy = \"Always\"", PullPolicy::Always},
               {", pull_policy = \"IfNotPresent\"", PullPolicy::IfNotPresent},
               {", pull_policy = \"Never\"", PullPolicy::Never}};
  for (auto &c : cases) {
    SCOPED_TRACE(c.policy_key);
    auto text = fmt::format(
        "[[program]]\nname = \"a\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
        "bytecode = {{ image = \"127.0.0.1:5000/bpfman-bytecode/xdp_pass:v1\"{} }}\n"
        "[[program.attach]]\ninterface = \"eth0\"\n",
        c.policy_key);
    auto r = parse_manifest(text, "/etc/bpfman/programs.d/a.toml");
    ASSERT_THAT(r.errors, IsEmpty());
    const auto &p = r.programs.at(0);
    EXPECT_EQ(p.bytecode_image, "127.0.0.1:5000/bpfman-bytecode/xdp_pass:v1");
    EXPECT_EQ(p.bytecode_path, "");
    EXPECT_EQ(p.pull_policy, c.expected);
  }
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto r = parse_manifest("[[program]]\nname = \"a\"\ntype = \"tracepoint\"\nbpf_function = \"f\"\n"
                          "bytecode = { image = \"quay.io/bpfman-bytecode/go-tracepoint-counter@" + digest +
                              "\", sha256 = \"" + std::string(kSha) + "\" }\n"
                          "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_kill\"\n",
                          "/etc/bpfman/programs.d/a.toml");
  ASSERT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.programs.at(0).bytecode_image, "quay.io/bpfman-bytecode/go-tracepoint-counter@" + digest);
  EXPECT_EQ(r.programs.at(0).bytecode_sha256, kSha);
  for (auto p : {PullPolicy::Always, PullPolicy::IfNotPresent, PullPolicy::Never})
    EXPECT_EQ(pull_policy_from_string(to_string(p)), p);
  EXPECT_EQ(pull_policy_from_string("ifnotpresent"), std::nullopt);
}

TEST(ParseManifest, RelativeManifestPathStillGivesAbsoluteBytecodePath) {
  // manifest.h: "bytecode_path: absolute (relative paths are resolved against the manifest's dir)".
  // With a relative manifest path (as `check foo.toml` passes it) parent_path() is empty and the
  // bytecode path stays relative.
  auto text = fmt::format("[[program]]\nname = \"a\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                          "bytecode = {{ path = \"x.bpf.o\" }}\n[[program.attach]]\ninterface = \"eth0\"\n");
  auto rel = parse_manifest(text, "foo.toml");
  ASSERT_THAT(rel.errors, IsEmpty());
  EXPECT_TRUE(rel.programs[0].bytecode_path.ends_with("/x.bpf.o"));
}

// ---------------------------------------------------------------------------------------------
// Diagnostics: one table row per error kind, with the exact rendered diagnostics.

struct ErrorCase {
  const char *name;
  std::string text;
  std::vector<std::string> expected;
};

void PrintTo(const ErrorCase &c, std::ostream *os) { *os << c.name; }

class ManifestError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ManifestError, IsReportedAtItsPosition) {
  const auto &c = GetParam();
  auto r = parse(c.text);
  std::vector<std::string> got;
  for (auto &e : r.errors) got.push_back(e.str());
  EXPECT_THAT(got, ElementsAreArray(c.expected)) << "manifest:\n" << c.text;
  EXPECT_THAT(r.programs, IsEmpty()) << "a manifest with errors yields no programs";
  for (auto &e : r.errors) EXPECT_EQ(e.path, kPath);
}

const std::string kUnknownInProgram =
    "(expected one of: name, type, bpf_function, bytecode, global_data, metadata, map_group, map_owner, attach)";
const std::string kXdpKeys = "(expected one of: interface, netns, priority, proceed_on, mode, metadata)";
const std::string kTcKeys = "(expected one of: interface, netns, priority, proceed_on, direction, metadata)";
const std::string kProbeKeys = "(expected one of: target, function, offset, pid, metadata)";
const std::string kTypes =
    "xdp, tc, tracepoint, uprobe, uretprobe, kprobe, kretprobe, fentry, fexit, cgroup_skb, cgroup_sock, "
    "raw_tracepoint, cgroup_sock_addr, sockops, sk_lookup, netfilter, lsm";

std::vector<ErrorCase> error_cases() {
  return {
      // --- unknown keys, positioned at the key
      {"UnknownTopLevelKey", "version = 1\n" + program("xdp") + "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(1, 1, "unknown key 'version' in the manifest (expected one of: program)")}},
      {"UnknownTopLevelTable", program("xdp") + "[[program.attach]]\ninterface = \"eth0\"\n[settings]\nx = 1\n",
       {at(8, 2, "unknown key 'settings' in the manifest (expected one of: program)")}},
      {"UnknownProgramKey", program_case("xdp", "colour = \"red\""),
       {at(6, 1, "unknown key 'colour' in [[program]] " + kUnknownInProgram)}},
      {"MisspeltProgramKeyAlsoMissesTheKey",
       "[[program]]\nnmae = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
       "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(1, 1, "[[program]] needs 'name'"), at(2, 1, "unknown key 'nmae' in [[program]] " + kUnknownInProgram)}},
      {"UnknownBytecodeKey",
       "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\", sha = \"ab\" }\n"
       "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 27, "unknown key 'sha' in bytecode (expected one of: path, image, pull_policy, sha256)")}},
      {"UnknownAttachKey", attach_case("xdp", "iface = \"eth1\""),
       {at(7, 1, "unknown key 'iface' in [[program.attach]] (type xdp) " + kXdpKeys)}},

      // --- keys that do not apply to the type
      {"TracepointInXdpAttach", attach_case("xdp", "tracepoint = \"a/b\""),
       {at(7, 1, "unknown key 'tracepoint' in [[program.attach]] (type xdp) " + kXdpKeys)}},
      {"DirectionInXdpAttach", attach_case("xdp", "direction = \"egress\""),
       {at(7, 1, "unknown key 'direction' in [[program.attach]] (type xdp) " + kXdpKeys)}},
      {"ModeInTcAttach", attach_case("tc", "mode = \"skb\""),
       {at(7, 1, "unknown key 'mode' in [[program.attach]] (type tc) " + kTcKeys)}},
      {"InterfaceInTracepointAttach", attach_case("tracepoint", "interface = \"eth0\""),
       {at(7, 1,
           "unknown key 'interface' in [[program.attach]] (type tracepoint) (expected one of: tracepoint, metadata)")}},
      {"PriorityInUprobeAttach", attach_case("uprobe", "priority = 1"),
       {at(7, 1, "unknown key 'priority' in [[program.attach]] (type uprobe) " + kProbeKeys)}},
      {"NetnsInUretprobeAttach", attach_case("uretprobe", "netns = \"/run/netns/a\""),
       {at(7, 1, "unknown key 'netns' in [[program.attach]] (type uretprobe) " + kProbeKeys)}},
      {"PidInTcAttach", attach_case("tc", "pid = 1"),
       {at(7, 1, "unknown key 'pid' in [[program.attach]] (type tc) " + kTcKeys)}},

      // --- wrong types, positioned at the value
      {"NameNotAString", "[[program]]\nname = 5\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                         "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(2, 8, "'name' must be a string, not an integer")}},
      {"TypeNotAString", "[[program]]\nname = \"p\"\ntype = [\"xdp\"]\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                         "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(3, 8, "'type' must be a string, not an array")}},
      {"BpfFunctionNotAString", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = true\n"
                                "bytecode = { path = \"/o\" }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(4, 16, "'bpf_function' must be a string, not a boolean")}},
      {"BytecodeNotATable", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = \"/o.bpf.o\"\n"
                            "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 12, "'bytecode' must be a table, not a string")}},
      {"BytecodePathNotAString", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = 1.5 }\n"
                                 "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 21, "'path' must be a string, not a float")}},
      {"Sha256NotAString", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                           "bytecode = { path = \"/o\", sha256 = 1 }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 36, "'sha256' must be a string, not an integer")}},
      {"GlobalDataNotATable", program_case("xdp", "global_data = 1.5"),
       {at(6, 15, "'global_data' must be a table, not a float")}},
      {"GlobalDataValueBoolean", program_case("xdp", "global_data = { x = true }"),
       {at(6, 21, "global_data 'x' must be an integer or a \"0x..\" string, not a boolean")}},
      {"GlobalDataValueTable", program_case("xdp", "global_data = { x = { y = 1 } }"),
       {at(6, 21, "global_data 'x' must be an integer or a \"0x..\" string, not a table")}},
      {"MetadataNotATable", program_case("xdp", "metadata = \"x\""),
       {at(6, 12, "'metadata' must be a table, not a string")}},
      {"MetadataValueNotAString", program_case("xdp", "metadata = { owner = 1 }"),
       {at(6, 22, "'metadata.owner' must be a string, not an integer")}},
      {"AttachNotAnArrayOfTables",
       "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\nattach = \"eth0\"\n",
       {at(6, 1, "'attach' must be an array of tables ([[program.attach]])")}},
      {"AttachSingleTable", program("xdp") + "[program.attach]\ninterface = \"eth0\"\n",
       {at(6, 10, "'attach' must be an array of tables ([[program.attach]])")}},
      {"ProgramSingleTable", "[program]\nname = \"p\"\n",
       {at(1, 2, "'program' must be an array of tables ([[program]])")}},
      {"ProgramNotATable", "program = \"p\"\n", {at(1, 1, "'program' must be an array of tables ([[program]])")}},
      // An empty array is not an array of tables for toml++ (leave 'attach' out for a load-only
      // program).
      {"AttachEmptyArray", program("xdp") + "attach = []\n",
       {at(6, 1, "'attach' must be an array of tables ([[program.attach]])")}},
      {"ProgramEmptyArray", "program = []\n", {at(1, 1, "'program' must be an array of tables ([[program]])")}},
      {"PriorityString", attach_case("xdp", "priority = \"high\""),
       {at(7, 12, "'priority' must be an integer, not a string")}},
      {"PriorityFloat", attach_case("tc", "priority = 1.5"), {at(7, 12, "'priority' must be an integer, not a float")}},
      {"InterfaceNotAString", program("xdp") + "[[program.attach]]\ninterface = 3\n",
       {at(7, 13, "'interface' must be a string, not an integer")}},
      {"ProceedOnString", attach_case("xdp", "proceed_on = \"pass\""),
       {at(7, 14, "'proceed_on' must be an array of strings, not a string")}},
      {"ProceedOnElementInteger", attach_case("xdp", "proceed_on = [\"pass\", 2]"),
       {at(7, 23, "'proceed_on' must be a string, not an integer")}},
      {"PidString", attach_case("uprobe", "pid = \"1\""), {at(7, 7, "'pid' must be an integer, not a string")}},
      {"OffsetDate", attach_case("uprobe", "offset = 1979-05-27"), {at(7, 10, "'offset' must be an integer, not a date")}},

      // --- out-of-range integers
      {"PriorityMinusOne", attach_case("xdp", "priority = -1"), {at(7, 12, "'priority' = -1 is out of range 0..1000")}},
      {"Priority1001", attach_case("xdp", "priority = 1001"), {at(7, 12, "'priority' = 1001 is out of range 0..1000")}},
      {"PriorityNegativeTc", attach_case("tc", "priority = -5"), {at(7, 12, "'priority' = -5 is out of range 0..1000")}},
      {"PidZero", attach_case("uprobe", "pid = 0"), {at(7, 7, "'pid' = 0 is out of range 1..2147483647")}},
      {"PidNegative", attach_case("uretprobe", "pid = -1"), {at(7, 7, "'pid' = -1 is out of range 1..2147483647")}},
      {"PidTooLarge", attach_case("uprobe", "pid = 2147483648"),
       {at(7, 7, "'pid' = 2147483648 is out of range 1..2147483647")}},
      {"OffsetNegative", attach_case("uprobe", "offset = -1"),
       {at(7, 10, "'offset' = -1 is out of range 0..9223372036854775807")}},

      // --- invalid values
      {"UnknownType", "[[program]]\nname = \"p\"\ntype = \"kfunc\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                      "[[program.attach]]\nfunction = \"x\"\n",
       {at(3, 8, "'type' = \"kfunc\" is not one of: " + kTypes + "")}},
      {"TypeIsCaseSensitive", "[[program]]\nname = \"p\"\ntype = \"XDP\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                              "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(3, 8, "'type' = \"XDP\" is not one of: " + kTypes + "")}},
      {"EmptyBpfFunction", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"\"\nbytecode = { path = \"/o\" }\n"
                           "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(4, 16, "'bpf_function' must not be empty")}},
      {"EmptyBytecodePath", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"\" }\n"
                            "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 21, "'path' must not be empty")}},
      {"InterfaceTooLong", program("xdp") + "[[program.attach]]\ninterface = \"abcdefghijklmnop\"\n",
       {at(7, 13, "'interface' = \"abcdefghijklmnop\" is not a valid interface name: 16 characters, at most 15")}},
      {"InterfaceWithSlash", program("tc") + "[[program.attach]]\ninterface = \"a/b\"\ndirection = \"egress\"\n",
       {at(7, 13, "'interface' = \"a/b\": '/' at position 2 cannot be part of an interface name (no '/', ':' or white "
                  "space)")}},
      {"InterfaceEmpty", program("xdp") + "[[program.attach]]\ninterface = \"\"\n",
       {at(7, 13, "'interface' must not be empty")}},
      {"NetnsRelative", attach_case("xdp", "netns = \"run/netns/blue\""),
       {at(7, 9, "'netns' must be an absolute path such as /run/netns/blue")}},
      {"ModeUnknown", attach_case("xdp", "mode = \"generic\""),
       {at(7, 8, "'mode' = \"generic\" is not one of: auto, native, skb, hw")}},
      {"DirectionUnknown", program("tc") + "[[program.attach]]\ninterface = \"eth0\"\ndirection = \"both\"\n",
       {at(8, 13, "'direction' = \"both\" is not one of: ingress, egress")}},
      {"TargetRelative", program("uprobe") + "[[program.attach]]\ntarget = \"bin/bash\"\nfunction = \"main\"\n",
       {at(7, 10, "'target' must be an absolute path of a binary or library, or a library name such as \"libc\" "
                  "(letters, digits, '.', '_', '+', '-'; no '/')")}},
      {"FunctionEmpty", program("uprobe") + "[[program.attach]]\ntarget = \"/bin/bash\"\nfunction = \"\"\n",
       {at(8, 12, "'function' must not be empty")}},

      // --- proceed_on names and duplicates, positioned at the element
      {"ProceedOnTcNameInXdp", attach_case("xdp", "proceed_on = [\"pipe\"]"),
       {at(7, 15, "unknown xdp proceed_on action 'pipe' (expected one of: aborted, drop, pass, tx, redirect, "
                  "dispatcher_return)")}},
      {"ProceedOnXdpNameInTc", attach_case("tc", "proceed_on = [\"ok\", \"tx\"]"),
       {at(7, 21, "unknown tc proceed_on action 'tx' (expected one of: unspec, ok, reclassify, shot, pipe, stolen, "
                  "queued, repeat, redirect, trap, dispatcher_return)")}},
      {"ProceedOnDuplicate", attach_case("xdp", "proceed_on = [\"pass\", \"drop\", \"pass\"]"),
       {at(7, 31, "proceed_on action 'pass' is listed twice")}},

      // --- missing required keys, positioned at the enclosing table
      {"MissingType", "[[program]]\nname = \"p\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                      "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(1, 1, "[[program]] needs 'type'")}},
      {"MissingName", "# comment\n[[program]]\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                      "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(2, 1, "[[program]] needs 'name'")}},
      {"MissingBpfFunction", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbytecode = { path = \"/o\" }\n"
                             "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(1, 1, "[[program]] needs 'bpf_function'")}},
      {"MissingBytecode", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                          "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(1, 1, "[[program]] needs 'bytecode'")}},
      {"MissingBytecodePath", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                              "bytecode = { sha256 = \"" + std::string(kSha) + "\" }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 12, "'bytecode' needs 'path' or 'image'")}},
      {"MissingBytecodePathSubTable", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                                      "[program.bytecode]\nsha256 = \"" + std::string(kSha) + "\"\n"
                                      "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 1, "'bytecode' needs 'path' or 'image'")}},
      // --- image bytecode (issue 14), positioned at the value
      {"ImageAndPath", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                       "bytecode = { path = \"/o\", image = \"quay.io/b/x:v1\" }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 35, "'bytecode' takes 'path' or 'image', not both")}},
      {"ImageWithoutTagOrDigest", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                                  "bytecode = { image = \"quay.io/b/x\" }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 22, "'image': 'quay.io/b/x': no tag or digest: give NAME:TAG or NAME@sha256:DIGEST (an implicit "
                  "':latest' moves)")}},
      {"ImageDigestNotSha256Hex", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                                  "bytecode = { image = \"quay.io/b/x@sha256:ABC\" }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 22, "'image': 'quay.io/b/x@sha256:ABC': the digest must be sha256: and 64 lower-case hex digits, got 3 "
                  "characters after sha256:")}},
      {"PullPolicyUnknown", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                            "bytecode = { image = \"quay.io/b/x:v1\", pull_policy = \"always\" }\n"
                            "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 54, "'pull_policy' must be Always, IfNotPresent or Never, not 'always'")}},
      {"PullPolicyWithPath", "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                             "bytecode = { path = \"/o\", pull_policy = \"Never\" }\n[[program.attach]]\ninterface = \"eth0\"\n",
       {at(5, 41, "'pull_policy' applies to 'image' bytecode only")}},
      {"FentryWithoutAttach", program("fentry"),
       {at(1, 1, "type fentry takes exactly one [[program.attach]]: its function is bound when the program is loaded")}},
      {"EmptyProgramTable", "[[program]]\n",
       {at(1, 1, "[[program]] needs 'type'"), at(1, 1, "[[program]] needs 'name'"),
        at(1, 1, "[[program]] needs 'bpf_function'"), at(1, 1, "[[program]] needs 'bytecode'")}},
      {"XdpMissingInterface", program("xdp") + "[[program.attach]]\nmode = \"skb\"\n",
       {at(6, 1, "[[program.attach]] (type xdp) needs 'interface'")}},
      {"TcMissingInterface", program("tc") + "[[program.attach]]\ndirection = \"egress\"\n",
       {at(6, 1, "[[program.attach]] (type tc) needs 'interface'")}},
      {"TcMissingDirection", program("tc") + "[[program.attach]]\ninterface = \"eth0\"\n",
       {at(6, 1, "[[program.attach]] (type tc) needs 'direction'")}},
      {"TcMissingBoth", program("tc") + "[[program.attach]]\npriority = 3\n",
       {at(6, 1, "[[program.attach]] (type tc) needs 'interface'"),
        at(6, 1, "[[program.attach]] (type tc) needs 'direction'")}},
      {"TracepointMissing", program("tracepoint") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type tracepoint) needs 'tracepoint'")}},
      {"UprobeMissingTarget", program("uprobe") + "[[program.attach]]\nfunction = \"main\"\n",
       {at(6, 1, "[[program.attach]] (type uprobe) needs 'target'")}},
      {"UprobeMissingFunctionAndOffset", program("uprobe") + "[[program.attach]]\ntarget = \"/bin/bash\"\npid = 7\n",
       {at(6, 1, "[[program.attach]] (type uprobe) needs 'function' or 'offset'")}},
      {"UretprobeMissingEverything", program("uretprobe") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type uretprobe) needs 'target'"),
        at(6, 1, "[[program.attach]] (type uretprobe) needs 'function' or 'offset'")}},

      // --- duplicates
      {"DuplicateProgramName",
       program("xdp", "same") + "[[program.attach]]\ninterface = \"eth0\"\n" + program("xdp", "same") +
           "[[program.attach]]\ninterface = \"eth1\"\n",
       {at(9, 8, "duplicate program name 'same' (first declared at line 2)")}},
      {"RepeatedAttachPoint", program("xdp") + "[[program.attach]]\ninterface = \"eth0\"\n[[program.attach]]\n"
                                               "interface = \"eth0\"\n",
       {at(8, 1, "this attach point repeats the one at line 6")}},
      {"RepeatedAttachPointWithDefaultsSpelledOut",
       program("xdp") + "[[program.attach]]\ninterface = \"eth0\"\n[[program.attach]]\ninterface = \"eth0\"\n"
                        "priority = 50\nmode = \"auto\"\nproceed_on = [\"dispatcher_return\", \"pass\"]\n",
       {at(8, 1, "this attach point repeats the one at line 6")}},
      {"RepeatedTracepoint", program("tracepoint") + "[[program.attach]]\ntracepoint = \"a/b\"\n[[program.attach]]\n"
                                                     "tracepoint = \"a/c\"\n[[program.attach]]\ntracepoint = \"a/b\"\n",
       {at(10, 1, "this attach point repeats the one at line 6")}},

      // --- empty manifests
      {"EmptyText", "", {at(1, 1, "the manifest declares no [[program]]")}},
      {"OnlyComments", "# nothing here\n\n# still nothing\n", {at(1, 1, "the manifest declares no [[program]]")}},
  };
}

INSTANTIATE_TEST_SUITE_P(AllKinds, ManifestError, ::testing::ValuesIn(error_cases()),
                         [](const ::testing::TestParamInfo<ErrorCase> &i) { return std::string(i.param.name); });

// kprobe, kretprobe, fentry, fexit, cgroup_skb, cgroup_sock, raw_tracepoint.
std::vector<ErrorCase> kernel_and_cgroup_error_cases() {
  const std::string kFn = "(expected one of: function, metadata)";
  const std::string kSkb = "(expected one of: cgroup, direction, metadata)";
  const std::string kSock = "(expected one of: cgroup, attach_type, metadata)";
  return {
      // --- keys that do not apply to the type
      {"OffsetInKretprobe", attach_case("kretprobe", "offset = 8"),
       {at(7, 1, "unknown key 'offset' in [[program.attach]] (type kretprobe) " + kFn)}},
      {"TargetInKprobe", attach_case("kprobe", "target = \"/bin/sh\""),
       {at(7, 1, "unknown key 'target' in [[program.attach]] (type kprobe) (expected one of: function, offset, metadata)")}},
      {"PidInKprobe", attach_case("kprobe", "pid = 1"),
       {at(7, 1, "unknown key 'pid' in [[program.attach]] (type kprobe) (expected one of: function, offset, metadata)")}},
      {"OffsetInFentry", attach_case("fentry", "offset = 0"),
       {at(7, 1, "unknown key 'offset' in [[program.attach]] (type fentry) " + kFn)}},
      {"TracepointInFexit", attach_case("fexit", "tracepoint = \"a/b\""),
       {at(7, 1, "unknown key 'tracepoint' in [[program.attach]] (type fexit) " + kFn)}},
      {"InterfaceInCgroupSkb", attach_case("cgroup_skb", "interface = \"eth0\""),
       {at(7, 1, "unknown key 'interface' in [[program.attach]] (type cgroup_skb) " + kSkb)}},
      {"AttachTypeInCgroupSkb", attach_case("cgroup_skb", "attach_type = \"sock_create\""),
       {at(7, 1, "unknown key 'attach_type' in [[program.attach]] (type cgroup_skb) " + kSkb)}},
      {"DirectionInCgroupSock", attach_case("cgroup_sock", "direction = \"egress\""),
       {at(7, 1, "unknown key 'direction' in [[program.attach]] (type cgroup_sock) " + kSock)}},
      {"CgroupInTc", attach_case("tc", "cgroup = \"/sys/fs/cgroup\""),
       {at(7, 1, "unknown key 'cgroup' in [[program.attach]] (type tc) " + kTcKeys)}},
      {"FunctionInRawTracepoint", attach_case("raw_tracepoint", "function = \"f\""),
       {at(7, 1, "unknown key 'function' in [[program.attach]] (type raw_tracepoint) (expected one of: tracepoint, metadata)")}},

      // --- missing keys, at the table
      {"KprobeWithOnlyOffset", program("kprobe") + "[[program.attach]]\noffset = 4\n",
       {at(6, 1, "[[program.attach]] (type kprobe) needs 'function'")}},
      {"FexitEmptyAttach", program("fexit") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type fexit) needs 'function'")}},
      {"CgroupSkbMissingEverything", program("cgroup_skb") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type cgroup_skb) needs 'cgroup'"),
        at(6, 1, "[[program.attach]] (type cgroup_skb) needs 'direction'")}},
      {"CgroupSockMissingCgroup", program("cgroup_sock") + "[[program.attach]]\nattach_type = \"sock_create\"\n",
       {at(6, 1, "[[program.attach]] (type cgroup_sock) needs 'cgroup'")}},
      {"RawTracepointMissingName", program("raw_tracepoint") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type raw_tracepoint) needs 'tracepoint'")}},

      // --- invalid values, at the value
      {"KernelFunctionWithSlash", program("fexit") + "[[program.attach]]\nfunction = \"../x\"\n",
       {at(7, 12, "'function' = \"../x\" is not a kernel symbol name (letters, digits, '_', '.')")}},
      {"KernelFunctionWithSpace", program("kprobe") + "[[program.attach]]\nfunction = \"a b\"\n",
       {at(7, 12, "'function' = \"a b\" is not a kernel symbol name (letters, digits, '_', '.')")}},
      {"KprobeOffsetNegative", attach_case("kprobe", "offset = -4"),
       {at(7, 10, "'offset' = -4 is out of range 0..9223372036854775807")}},
      {"CgroupRelative", program("cgroup_sock") + "[[program.attach]]\ncgroup = \"app.slice\"\n",
       {at(7, 10, "'cgroup' must be the absolute path of a cgroup v2 directory, e.g. /sys/fs/cgroup/app.slice")}},
      {"CgroupNotAString", program("cgroup_sock") + "[[program.attach]]\ncgroup = 1\n",
       {at(7, 10, "'cgroup' must be a string, not an integer")}},
      {"UnknownSockAttachType", attach_case("cgroup_sock", "attach_type = \"connect4\""),
       {at(7, 15, "'attach_type' = \"connect4\" is not one of: sock_create, sock_release, post_bind4, post_bind6")}},
      {"CgroupSkbBadDirection",
       program("cgroup_skb") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a\"\ndirection = \"both\"\n",
       {at(8, 13, "'direction' = \"both\" is not one of: ingress, egress")}},
      {"RawTracepointWithCategory", program("raw_tracepoint") + "[[program.attach]]\ntracepoint = \"syscalls/sys_enter\"\n",
       {at(7, 14, "'tracepoint' = \"syscalls/sys_enter\" must be a raw tracepoint name such as \"sys_enter\" "
                  "(letters, digits, '_', '.')")}},

      // --- attach points
      {"FentryTakesOneAttachPoint",
       program("fentry") + "[[program.attach]]\nfunction = \"a\"\n[[program.attach]]\nfunction = \"b\"\n",
       {at(8, 1, "type fentry takes exactly one [[program.attach]]: its function is fixed when the program is loaded "
                 "(declare another [[program]] for another function)")}},
      {"RepeatedCgroupAfterNormalization",
       program("cgroup_skb") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a/\"\ndirection = \"egress\"\n"
                               "[[program.attach]]\ncgroup = \"/sys/fs/cgroup//a\"\ndirection = \"egress\"\n",
       {at(9, 1, "this attach point repeats the one at line 6")}},
      {"RepeatedKprobe", program("kprobe") + "[[program.attach]]\nfunction = \"f\"\n[[program.attach]]\nfunction = \"f\"\n",
       {at(8, 1, "this attach point repeats the one at line 6")}},
  };
}

INSTANTIATE_TEST_SUITE_P(KernelAndCgroupTypes, ManifestError, ::testing::ValuesIn(kernel_and_cgroup_error_cases()),
                         [](const ::testing::TestParamInfo<ErrorCase> &i) { return std::string(i.param.name); });

TEST(ParseManifest, KernelAndCgroupTypesWithEveryKey) {
  auto r = parse(R"(
[[program]]
name = "kp"
type = "kprobe"
bpf_function = "kprobe_count"
bytecode = { path = "/o.bpf.o" }
[[program.attach]]
function = "do_sys_openat2"
offset = 16
[[program.attach]]
function = "__x64_sys_getpid"

[[program]]
name = "fx"
type = "fexit"
bpf_function = "fexit_count"
bytecode = { path = "/o.bpf.o" }
[[program.attach]]
function = "do_unlinkat"

[[program]]
name = "skb"
type = "cgroup_skb"
bpf_function = "cgroup_skb_egress_count"
bytecode = { path = "/o.bpf.o" }
[[program.attach]]
cgroup = "/sys/fs/cgroup//app.slice/"
direction = "egress"

[[program]]
name = "sock"
type = "cgroup_sock"
bpf_function = "cgroup_sock_create_count"
bytecode = { path = "/o.bpf.o" }
[[program.attach]]
cgroup = "/sys/fs/cgroup"
[[program.attach]]
cgroup = "/sys/fs/cgroup"
attach_type = "post_bind4"

[[program]]
name = "raw"
type = "raw_tracepoint"
bpf_function = "raw_tp_count"
bytecode = { path = "/o.bpf.o" }
[[program.attach]]
tracepoint = "sched_switch"
)");
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs, SizeIs(5));
  const auto &kp = r.programs[0];
  EXPECT_EQ(kp.type, ProgramType::Kprobe);
  ASSERT_THAT(kp.attach, SizeIs(2));
  EXPECT_EQ(as<KprobeAttach>(kp.attach[0]).function, "do_sys_openat2");
  EXPECT_EQ(as<KprobeAttach>(kp.attach[0]).offset, 16u);
  EXPECT_EQ(as<KprobeAttach>(kp.attach[1]).offset, std::nullopt);
  EXPECT_EQ(r.programs[1].type, ProgramType::Fexit);
  EXPECT_EQ(as<TracingAttach>(r.programs[1].attach.at(0)).function, "do_unlinkat");
  const auto &skb = r.programs[2];
  EXPECT_EQ(skb.type, ProgramType::CgroupSkb);
  EXPECT_EQ(as<CgroupAttach>(skb.attach.at(0)).cgroup, "/sys/fs/cgroup/app.slice");  // normalized
  EXPECT_EQ(as<CgroupAttach>(skb.attach.at(0)).direction, TcDirection::Egress);
  const auto &sock = r.programs[3];
  ASSERT_THAT(sock.attach, SizeIs(2));
  EXPECT_EQ(as<CgroupAttach>(sock.attach[0]).attach_type, "sock_create");  // the default
  EXPECT_EQ(as<CgroupAttach>(sock.attach[1]).attach_type, "post_bind4");
  EXPECT_EQ(r.programs[4].type, ProgramType::RawTracepoint);
  EXPECT_EQ(as<TracepointAttach>(r.programs[4].attach.at(0)).tracepoint, "sched_switch");
  for (auto &p : r.programs)
    for (auto &a : p.attach) EXPECT_EQ(a.netif(), nullptr) << p.name << ": no proceed_on at all";
}

TEST(ParseManifest, EveryCgroupSockAttachType) {
  for (auto &name : cgroup_sock_attach_names()) {
    SCOPED_TRACE(name);
    auto r = parse(attach_case("cgroup_sock", "attach_type = \"" + name + "\""));
    ASSERT_THAT(r.errors, IsEmpty());
    EXPECT_EQ(as<CgroupAttach>(r.programs.at(0).attach.at(0)).attach_type, name);
  }
}

// cgroup_sock_addr: `cgroup` and `attach_type` (bpftool's names) are both required.
const std::vector<std::string> kSockAddrNames{"connect4",     "connect6",     "bind4",        "bind6",
                                              "sendmsg4",     "sendmsg6",     "recvmsg4",     "recvmsg6",
                                              "getpeername4", "getpeername6", "getsockname4", "getsockname6"};

std::vector<ErrorCase> sock_addr_error_cases() {
  const std::string kKeys = "(expected one of: cgroup, attach_type, metadata)";
  return {
      {"SockAddrMissingEverything", program("cgroup_sock_addr") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type cgroup_sock_addr) needs 'cgroup'"),
        at(6, 1, "[[program.attach]] (type cgroup_sock_addr) needs 'attach_type'")}},
      {"SockAddrMissingAttachType", program("cgroup_sock_addr") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a\"\n",
       {at(6, 1, "[[program.attach]] (type cgroup_sock_addr) needs 'attach_type'")}},
      {"SockAddrMissingCgroup", program("cgroup_sock_addr") + "[[program.attach]]\nattach_type = \"bind6\"\n",
       {at(6, 1, "[[program.attach]] (type cgroup_sock_addr) needs 'cgroup'")}},
      {"SockAddrBadAttachType",
       program("cgroup_sock_addr") + "[[program.attach]]\nattach_type = \"sock_create\"\ncgroup = \"/sys/fs/cgroup/a\"\n",
       {at(7, 15, "'attach_type' = \"sock_create\" is not one of: connect4, connect6, bind4, bind6, sendmsg4, "
                  "sendmsg6, recvmsg4, recvmsg6, getpeername4, getpeername6, getsockname4, getsockname6")}},
      {"SockAddrAttachTypeNotAString",
       program("cgroup_sock_addr") + "[[program.attach]]\nattach_type = 4\ncgroup = \"/sys/fs/cgroup/a\"\n",
       {at(7, 15, "'attach_type' must be a string, not an integer")}},
      {"DirectionInSockAddr", attach_case("cgroup_sock_addr", "direction = \"egress\""),
       {at(7, 1, "unknown key 'direction' in [[program.attach]] (type cgroup_sock_addr) " + kKeys)}},
      {"RepeatedSockAddrAttachPoint",
       program("cgroup_sock_addr") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a/\"\nattach_type = \"connect4\"\n"
                                     "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a\"\nattach_type = \"connect4\"\n",
       {at(9, 1, "this attach point repeats the one at line 6")}},
  };
}

INSTANTIATE_TEST_SUITE_P(CgroupSockAddr, ManifestError, ::testing::ValuesIn(sock_addr_error_cases()),
                         [](const ::testing::TestParamInfo<ErrorCase> &i) { return std::string(i.param.name); });

TEST(ParseManifest, EveryCgroupSockAddrAttachType) {
  for (auto &name : kSockAddrNames) {
    SCOPED_TRACE(name);
    auto r = parse(program("cgroup_sock_addr") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup//app/\"\nattach_type = \"" +
                   name + "\"\n");
    ASSERT_THAT(r.errors, IsEmpty());
    EXPECT_EQ(r.programs.at(0).type, ProgramType::CgroupSockAddr);
    const auto &a = r.programs.at(0).attach.at(0);
    EXPECT_EQ(as<CgroupAttach>(a).attach_type, name);
    EXPECT_EQ(as<CgroupAttach>(a).cgroup, "/sys/fs/cgroup/app");
    EXPECT_EQ(a.target_label(ProgramType::CgroupSockAddr), "/sys/fs/cgroup/app " + name);
  }
}

TEST(ParseManifest, SockAddrAttachTypesOnOneCgroupAreDistinctAttachPoints) {
  std::string text = program("cgroup_sock_addr");
  for (auto &name : kSockAddrNames)
    text += "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/app\"\nattach_type = \"" + name + "\"\n";
  auto r = parse(text);
  ASSERT_THAT(r.errors, IsEmpty());
  ASSERT_THAT(r.programs.at(0).attach, SizeIs(kSockAddrNames.size()));
  std::vector<std::string> keys;
  for (auto &a : r.programs[0].attach) keys.push_back(attach_key(ProgramType::CgroupSockAddr, a));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  AttachSpec c = AttachSpec::of(ProgramType::CgroupSockAddr);
  as<CgroupAttach>(c).cgroup = "/sys/fs/cgroup/x";
  as<CgroupAttach>(c).attach_type = "getpeername6";
  EXPECT_EQ(c.canonical(ProgramType::CgroupSockAddr), "cgroup_sock_addr\ncgroup=/sys/fs/cgroup/x\nattach=getpeername6");
}

// sockops: `cgroup` only (the attach type is BPF_CGROUP_SOCK_OPS).
std::vector<ErrorCase> sockops_error_cases() {
  const std::string kKeys = "(expected one of: cgroup, metadata)";
  return {
      {"SockopsMissingCgroup", program("sockops") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type sockops) needs 'cgroup'")}},
      {"AttachTypeInSockops", attach_case("sockops", "attach_type = \"connect4\""),
       {at(7, 1, "unknown key 'attach_type' in [[program.attach]] (type sockops) " + kKeys)}},
      {"SockopsRelativeCgroup", program("sockops") + "[[program.attach]]\ncgroup = \"app.slice\"\n",
       {at(7, 10, "'cgroup' must be the absolute path of a cgroup v2 directory, e.g. /sys/fs/cgroup/app.slice")}},
      {"RepeatedSockopsCgroup",
       program("sockops") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a/\"\n[[program.attach]]\ncgroup = \"/sys/fs/cgroup//a\"\n",
       {at(8, 1, "this attach point repeats the one at line 6")}},
  };
}

INSTANTIATE_TEST_SUITE_P(Sockops, ManifestError, ::testing::ValuesIn(sockops_error_cases()),
                         [](const ::testing::TestParamInfo<ErrorCase> &i) { return std::string(i.param.name); });

TEST(ParseManifest, SockopsOnTwoCgroups) {
  auto r = parse(program("sockops") + "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/a/\"\n"
                                      "[[program.attach]]\ncgroup = \"/sys/fs/cgroup/b\"\nmetadata = { k = \"v\" }\n");
  ASSERT_THAT(r.errors, IsEmpty());
  const auto &p = r.programs.at(0);
  EXPECT_EQ(p.type, ProgramType::Sockops);
  ASSERT_THAT(p.attach, SizeIs(2));
  EXPECT_EQ(as<CgroupAttach>(p.attach[0]).cgroup, "/sys/fs/cgroup/a");
  EXPECT_EQ(p.attach[0].target_label(ProgramType::Sockops), "/sys/fs/cgroup/a");
  EXPECT_EQ(p.attach[0].canonical(ProgramType::Sockops), "sockops\ncgroup=/sys/fs/cgroup/a");
  EXPECT_NE(attach_key(ProgramType::Sockops, p.attach[0]), attach_key(ProgramType::Sockops, p.attach[1]));
}

// lsm: `hook` only (required), bound at load like fentry's function: exactly one attach point.
std::vector<ErrorCase> lsm_error_cases() {
  const std::string kKeys = "(expected one of: hook, metadata)";
  return {
      {"LsmWithoutAttach", program("lsm"),
       {at(1, 1, "type lsm takes exactly one [[program.attach]]: its hook is bound when the program is loaded")}},
      {"LsmMissingHook", program("lsm") + "[[program.attach]]\n",
       {at(6, 1, "[[program.attach]] (type lsm) needs 'hook'")}},
      {"FunctionInLsm", attach_case("lsm", "function = \"file_open\""),
       {at(7, 1, "unknown key 'function' in [[program.attach]] (type lsm) " + kKeys)}},
      {"LsmTakesOneAttachPoint",
       program("lsm") + "[[program.attach]]\nhook = \"file_open\"\n[[program.attach]]\nhook = \"bprm_check_security\"\n",
       {at(8, 1, "type lsm takes exactly one [[program.attach]]: its hook is fixed when the program is loaded "
                 "(declare another [[program]] for another hook)")}},
      {"LsmEmptyHook", program("lsm") + "[[program.attach]]\nhook = \"\"\n", {at(7, 8, "'hook' must not be empty")}},
      {"LsmHookWithSlash", program("lsm") + "[[program.attach]]\nhook = \"file/open\"\n",
       {at(7, 8, "'hook' = \"file/open\" is not an LSM hook name (letters, digits, '_'; e.g. file_open)")}},
      {"LsmHookWithDot", program("lsm") + "[[program.attach]]\nhook = \"file_open.cold\"\n",
       {at(7, 8, "'hook' = \"file_open.cold\" is not an LSM hook name (letters, digits, '_'; e.g. file_open)")}},
      {"LsmHookWithPrefix", program("lsm") + "[[program.attach]]\nhook = \"bpf_lsm_file_open\"\n",
       {at(7, 8, "'hook' = \"bpf_lsm_file_open\": name the hook without the kernel's bpf_lsm_ prefix (\"file_open\")")}},
      {"LsmHookNotAString", program("lsm") + "[[program.attach]]\nhook = 3\n",
       {at(7, 8, "'hook' must be a string, not an integer")}},
  };
}

INSTANTIATE_TEST_SUITE_P(Lsm, ManifestError, ::testing::ValuesIn(lsm_error_cases()),
                         [](const ::testing::TestParamInfo<ErrorCase> &i) { return std::string(i.param.name); });

TEST(ParseManifest, LsmHook) {
  auto r = parse(program("lsm") + "[[program.attach]]\nhook = \"file_open\"\nmetadata = { k = \"v\" }\n");
  ASSERT_THAT(r.errors, IsEmpty());
  const auto &p = r.programs.at(0);
  EXPECT_EQ(p.type, ProgramType::Lsm);
  EXPECT_TRUE(target_fixed_at_load(p.type));
  ASSERT_THAT(p.attach, SizeIs(1));
  EXPECT_EQ(as<LsmAttach>(p.attach[0]).hook, "file_open");
  EXPECT_EQ(p.attach[0].get_if<TracingAttach>(), nullptr);  // no `function`
  EXPECT_EQ(p.attach[0].target_label(ProgramType::Lsm), "file_open");
  EXPECT_EQ(p.attach[0].canonical(ProgramType::Lsm), "lsm\nhook=file_open");
  // The hook is bound at load, like fentry's function: another hook is another program.
  ProgramSpec q = p;
  as<LsmAttach>(q.attach[0]).hook = "bprm_check_security";
  EXPECT_NE(program_digest(p), program_digest(q));
}

TEST(ManifestErrors, TomlSyntaxErrorIsPositionedByTomlpp) {
  auto r = parse("[[program]]\nname = \"unterminated\ntype = \"xdp\"\n");
  ASSERT_THAT(r.errors, SizeIs(1));
  EXPECT_EQ(r.errors[0].path, kPath);
  expect_pos(r.errors[0].pos, 2, 21);  // the end of line 2, where the string should have closed
  EXPECT_THAT(r.errors[0].message, HasSubstr("parsing string"));
  EXPECT_THAT(r.programs, IsEmpty());

  auto redefined = parse("[[program]]\nname = \"a\"\nname = \"b\"\n");
  ASSERT_THAT(redefined.errors, SizeIs(1));
  expect_pos(redefined.errors[0].pos, 3, 8);
  EXPECT_THAT(redefined.errors[0].message, HasSubstr("redefine"));
  EXPECT_THAT(redefined.errors[0].str(), testing::StartsWith(std::string(kPath) + ":3:8: error: "));

  auto garbage = parse_manifest("\n\n   = 1\n", kPath);
  ASSERT_THAT(garbage.errors, SizeIs(1));
  EXPECT_EQ(garbage.errors[0].pos.line, 3u);
}

TEST(ManifestErrors, InvalidNamesAreRejected) {
  const std::string too_long(64, 'a');
  for (std::string bad : {std::string("Upper"), std::string("-lead"), std::string("_lead"), std::string("a.b"),
                          std::string("a b"), std::string("a/b"), std::string(""), std::string("é"), too_long}) {
    SCOPED_TRACE(bad);
    auto text = "[[program]]\nname = \"" + bad + "\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n"
                "[[program.attach]]\ninterface = \"eth0\"\n";
    EXPECT_THAT(errors_of(text),
                ElementsAre(at(2, 8, "'name' = \"" + bad + "\" must match [a-z0-9][a-z0-9_-]{0,62}")));
  }
}

TEST(ManifestErrors, TracepointMustBeCategorySlashName) {
  for (std::string_view bad : {"sys_enter_openat", "/sys_enter", "syscalls/", "a/b/c", "", "/"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(errors_of(program("tracepoint") + "[[program.attach]]\ntracepoint = \"" + std::string(bad) + "\"\n"),
                ElementsAre(at(7, 14, fmt::format("'tracepoint' = \"{}\" must be \"category/name\"", bad))));
  }
}

TEST(ManifestErrors, Sha256MustBe64LowerCaseHexDigits) {
  std::string upper(kSha);
  upper[10] = 'A';
  for (std::string bad : {upper, std::string(kSha).substr(1), std::string(kSha) + "0", std::string(64, 'g'),
                          std::string(""), "sha256:" + std::string(kSha).substr(7)}) {
    SCOPED_TRACE(bad);
    auto text = "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o.bpf.o\", sha256 = \"" +
                bad + "\" }\n[[program.attach]]\ninterface = \"eth0\"\n";
    EXPECT_THAT(errors_of(text), ElementsAre(at(5, 42, "'sha256' must be 64 lower-case hex digits")));
  }
}

TEST(ManifestErrors, GlobalDataStringsMustBeEvenLengthHex) {
  for (std::string_view bad : {"0x", "0x1", "0x123", "0xzz", "12", "", "x0", "0x 1", "00ff"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(errors_of(program_case("xdp", fmt::format("global_data = {{ x = \"{}\" }}", bad))),
                ElementsAre(at(6, 21, fmt::format("global_data 'x' = \"{}\" must be an integer or \"0x\" followed by an "
                                                  "even number of hex digits",
                                                  bad))));
  }
}

TEST(ParseManifest, GlobalDataHexAndIntegers) {
  auto r = parse(program_case("xdp", R"(global_data = { a = "0x00", b = "0XdeadBEEF", c = -7, d = 0x10 })"));
  ASSERT_THAT(r.errors, IsEmpty());
  const auto &g = r.programs.at(0).global_data;
  ASSERT_THAT(g, SizeIs(4));
  EXPECT_EQ(std::get<std::vector<uint8_t>>(g[0].value), (std::vector<uint8_t>{0}));
  EXPECT_EQ(std::get<std::vector<uint8_t>>(g[1].value), (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(std::get<int64_t>(g[2].value), -7);
  EXPECT_EQ(std::get<int64_t>(g[3].value), 16);
}

TEST(ParseManifest, GlobalDataKeepsFileOrder) {
  // manifest.h: `std::vector<GlobalValue> global_data;  // in file order`.
  auto r = parse(program_case("xdp", "global_data = { zeta = 1, alpha = 2, mid = 3 }"));
  ASSERT_THAT(r.errors, IsEmpty());
  std::vector<std::string> order;
  for (auto &g : r.programs.at(0).global_data) order.push_back(g.name);
  EXPECT_THAT(order, ElementsAre("zeta", "alpha", "mid"));
}

TEST(ManifestErrors, AllErrorsOfAFileAreReportedSortedByPosition) {
  // Generated out of order: 'type' is read first, attach keys before the missing-key checks.
  auto text = R"(
[[program]]
name = "Bad Name"
bpf_function = ""
type = "xdp"
bytecode = { path = "/o", sha256 = "xyz" }
extra = 1

[[program.attach]]
priority = 1001
proceed_on = ["pass", "pass"]

[[program]]
name = "ok"
type = "nope"
)";
  EXPECT_THAT(errors_of(text),
              ElementsAre(at(2, 8, "'name' = \"Bad Name\" must match [a-z0-9][a-z0-9_-]{0,62}"),
                          at(3, 16, "'bpf_function' must not be empty"),
                          at(5, 36, "'sha256' must be 64 lower-case hex digits"),
                          at(6, 1, "unknown key 'extra' in [[program]] " + kUnknownInProgram),
                          at(8, 1, "[[program.attach]] (type xdp) needs 'interface'"),
                          at(9, 12, "'priority' = 1001 is out of range 0..1000"),
                          at(10, 23, "proceed_on action 'pass' is listed twice"),
                          at(12, 1, "[[program]] needs 'bpf_function'"), at(12, 1, "[[program]] needs 'bytecode'"),
                          at(14, 8, "'type' = \"nope\" is not one of: " + kTypes + "")));
}

TEST(Manifest, ProgramWithoutAttachPointsIsLoadOnly) {
  for (const char *type : {"xdp", "tc", "tracepoint", "uprobe", "kprobe", "cgroup_skb", "raw_tracepoint"}) {
    auto r = parse(program(type));
    EXPECT_THAT(r.errors, IsEmpty()) << type;
    ASSERT_THAT(r.programs, SizeIs(1));
    EXPECT_THAT(r.programs[0].attach, IsEmpty());
  }
}

TEST(ManifestErrors, OneBadProgramDropsTheWholeFile) {
  auto r = parse(program("xdp", "good") + "[[program.attach]]\ninterface = \"eth0\"\n" + program("xdp", "bad") +
                 "[[program.attach]]\ninterface = \"eth0\"\npriority = 1001\n");
  EXPECT_THAT(r.errors, SizeIs(1));
  EXPECT_THAT(r.programs, IsEmpty());
}

TEST(ManifestErrors, DistinctAttachPointsAreNotRepeats) {
  auto base = program("xdp") + "[[program.attach]]\ninterface = \"eth0\"\n[[program.attach]]\ninterface = \"eth0\"\n";
  for (std::string_view differs : {"priority = 51", "mode = \"skb\"", "netns = \"/run/netns/x\"",
                                   "proceed_on = [\"pass\"]"}) {
    SCOPED_TRACE(differs);
    EXPECT_THAT(errors_of(base + std::string(differs) + "\n"), IsEmpty());
  }
  EXPECT_THAT(errors_of(program("tc") + "[[program.attach]]\ninterface = \"eth0\"\ndirection = \"ingress\"\n"
                                        "[[program.attach]]\ninterface = \"eth0\"\ndirection = \"egress\"\n"),
              IsEmpty());
  EXPECT_THAT(errors_of(program("uprobe") + "[[program.attach]]\ntarget = \"/bin/a\"\nfunction = \"f\"\n"
                                            "[[program.attach]]\ntarget = \"/bin/a\"\nfunction = \"f\"\npid = 9\n"),
              IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// Names, enums, canonical keys and labels

TEST(ValidProgramName, FollowsTheRegex) {
  for (std::string ok : {std::string("a"), std::string("0"), std::string("a_-9"), std::string("xdp-counter"),
                         std::string("9lives"), std::string(63, 'z'), "a" + std::string(62, '-')})
    EXPECT_TRUE(valid_program_name(ok)) << ok;
  for (std::string bad : {std::string(""), std::string(64, 'z'), std::string("A"), std::string("-a"),
                          std::string("_a"), std::string("a.b"), std::string("a:b"), std::string("a\n"),
                          std::string("aB"), std::string("a\0b", 3)})
    EXPECT_FALSE(valid_program_name(bad)) << bad;
}

// The canonical text is hashed into attachment pin names (attach_key()): pins made by an earlier
// daemon must keep their names, so the exact bytes are fixed here.
TEST(AttachCanonical, ExactBytes) {
  AttachSpec x = AttachSpec::of(ProgramType::Xdp);
  NetIfAttach &n = as<XdpAttach>(x);
  n.interface = "eth0";
  n.netns = "/run/netns/a";
  n.priority = 7;
  n.proceed_on = {"pass", "dispatcher_return"};
  as<XdpAttach>(x).mode = XdpMode::Skb;
  EXPECT_EQ(x.canonical(ProgramType::Xdp), "xdp\nif=eth0\nnetns=/run/netns/a\nprio=7\nproceed=dispatcher_return,pass,\nmode=skb");
  AttachSpec tc = AttachSpec::of(ProgramType::Tc);
  static_cast<NetIfAttach &>(as<TcAttach>(tc)) = n;
  as<TcAttach>(tc).direction = TcDirection::Egress;
  EXPECT_EQ(tc.canonical(ProgramType::Tc), "tc\nif=eth0\nnetns=/run/netns/a\nprio=7\nproceed=dispatcher_return,pass,\ndir=egress");
  AttachSpec tp = AttachSpec::of(ProgramType::Tracepoint);
  as<TracepointAttach>(tp).tracepoint = "syscalls/sys_enter_openat";
  EXPECT_EQ(tp.canonical(ProgramType::Tracepoint), "tracepoint\ntp=syscalls/sys_enter_openat");
  AttachSpec u = AttachSpec::of(ProgramType::Uprobe);
  as<UprobeAttach>(u).target = "/usr/lib/libc.so.6";
  as<UprobeAttach>(u).function = "malloc";
  EXPECT_EQ(u.canonical(ProgramType::Uprobe), "uprobe\ntarget=/usr/lib/libc.so.6\nfn=malloc\noff=\npid=");
  as<UprobeAttach>(u).offset = 16;
  as<UprobeAttach>(u).pid = 42;
  EXPECT_EQ(u.canonical(ProgramType::Uretprobe), "uretprobe\ntarget=/usr/lib/libc.so.6\nfn=malloc\noff=16\npid=42");
  AttachSpec k = AttachSpec::of(ProgramType::Kprobe);
  as<KprobeAttach>(k).function = "malloc";
  as<KprobeAttach>(k).offset = 16;
  EXPECT_EQ(k.canonical(ProgramType::Kprobe), "kprobe\nfn=malloc\noff=16");
  AttachSpec c = AttachSpec::of(ProgramType::CgroupSock);
  as<CgroupAttach>(c).cgroup = "/sys/fs/cgroup/x";
  EXPECT_EQ(c.canonical(ProgramType::CgroupSock), "cgroup_sock\ncgroup=/sys/fs/cgroup/x\nattach=sock_create");
}

TEST(ProgramTypes, NamesRoundTrip) {
  for (auto t : all_program_types()) EXPECT_EQ(program_type_from_string(to_string(t)), t);
  EXPECT_THAT(all_program_types(), SizeIs(17));
  EXPECT_EQ(program_type_from_string("kfunc"), std::nullopt);
  EXPECT_EQ(program_type_from_string("raw_tp"), std::nullopt);
  EXPECT_EQ(program_type_from_string(""), std::nullopt);
  EXPECT_TRUE(is_network_type(ProgramType::Xdp));
  EXPECT_TRUE(is_network_type(ProgramType::Tc));
  EXPECT_FALSE(is_network_type(ProgramType::Tracepoint));
  EXPECT_FALSE(is_network_type(ProgramType::Uprobe));
  EXPECT_FALSE(is_network_type(ProgramType::Uretprobe));
  for (auto t : all_program_types()) {
    EXPECT_EQ(target_fixed_at_load(t), t == ProgramType::Fentry || t == ProgramType::Fexit || t == ProgramType::Lsm)
        << to_string(t);
    EXPECT_EQ(is_network_type(t), t == ProgramType::Xdp || t == ProgramType::Tc) << to_string(t);
  }
  EXPECT_EQ(to_string(TcDirection::Ingress), "ingress");
  EXPECT_EQ(to_string(TcDirection::Egress), "egress");
  EXPECT_THAT(proceed_on_defaults(ProgramType::Xdp), ElementsAre("pass", "dispatcher_return"));
  EXPECT_THAT(proceed_on_defaults(ProgramType::Tc), ElementsAre("pipe", "dispatcher_return"));
  EXPECT_THAT(proceed_on_defaults(ProgramType::Uprobe), IsEmpty());
  EXPECT_THAT(proceed_on_names(ProgramType::Tracepoint), IsEmpty());
}

TEST(DiagnosticStr, WithAndWithoutPosition) {
  EXPECT_EQ((Diagnostic{"/a/b.toml", {3, 7}, "boom"}).str(), "/a/b.toml:3:7: error: boom");
  EXPECT_EQ((Diagnostic{"/a/b.toml", {}, "boom"}).str(), "/a/b.toml: error: boom");
}

// An attach point of `t` (xdp or tc) on eth0 in netns blue.
AttachSpec net_attach(ProgramType t) {
  AttachSpec a = AttachSpec::of(t);
  NetIfAttach &n = *a.netif();
  n.interface = "eth0";
  n.netns = "/run/netns/blue";
  n.priority = 20;
  n.proceed_on = {"pass", "drop", "dispatcher_return"};
  return a;
}

// A uprobe (or uretprobe) attach point with every key.
AttachSpec probe_attach() {
  AttachSpec a = AttachSpec::of(ProgramType::Uprobe);
  auto &u = as<UprobeAttach>(a);
  u.target = "/usr/bin/bash";
  u.function = "readline";
  u.offset = 8;
  u.pid = 100;
  return a;
}

TEST(AttachCanonical, ProceedOnOrderDoesNotMatter) {
  for (auto t : {ProgramType::Xdp, ProgramType::Tc}) {
    auto a = net_attach(t), b = net_attach(t);
    b.netif()->proceed_on = {"dispatcher_return", "pass", "drop"};
    EXPECT_EQ(a.canonical(t), b.canonical(t));
    b.netif()->proceed_on_explicit = true;  // how the set was given does not matter either
    b.pos = {99, 3};               // nor where
    EXPECT_EQ(a.canonical(t), b.canonical(t));
  }
}

TEST(AttachCanonical, DiffersWhenAnyNetworkFieldDiffers) {
  using Mutate = void (*)(AttachSpec &);
  struct Case {
    const char *field;
    Mutate mutate;
    std::vector<ProgramType> types;
  } cases[] = {
      {"interface", [](AttachSpec &a) { a.netif()->interface = "eth1"; }, {ProgramType::Xdp, ProgramType::Tc}},
      {"netns", [](AttachSpec &a) { a.netif()->netns = ""; }, {ProgramType::Xdp, ProgramType::Tc}},
      {"priority", [](AttachSpec &a) { a.netif()->priority = 21; }, {ProgramType::Xdp, ProgramType::Tc}},
      {"proceed_on subset", [](AttachSpec &a) { a.netif()->proceed_on.pop_back(); }, {ProgramType::Xdp, ProgramType::Tc}},
      {"proceed_on other", [](AttachSpec &a) { a.netif()->proceed_on[1] = "tx"; }, {ProgramType::Xdp, ProgramType::Tc}},
      {"mode", [](AttachSpec &a) { as<XdpAttach>(a).mode = XdpMode::Skb; }, {ProgramType::Xdp}},
      {"direction", [](AttachSpec &a) { as<TcAttach>(a).direction = TcDirection::Egress; }, {ProgramType::Tc}},
  };
  for (auto &c : cases)
    for (auto t : c.types) {
      SCOPED_TRACE(fmt::format("{} / {}", c.field, to_string(t)));
      auto a = net_attach(t), b = net_attach(t);
      c.mutate(b);
      EXPECT_NE(a.canonical(t), b.canonical(t));
    }
}

TEST(AttachCanonical, DiffersWhenAnyProbeFieldDiffers) {
  using Mutate = void (*)(AttachSpec &);
  std::pair<const char *, Mutate> cases[] = {
      {"target", [](AttachSpec &a) { as<UprobeAttach>(a).target = "/usr/bin/zsh"; }},
      {"function", [](AttachSpec &a) { as<UprobeAttach>(a).function = "main"; }},
      {"no function", [](AttachSpec &a) { as<UprobeAttach>(a).function.clear(); }},
      {"offset", [](AttachSpec &a) { as<UprobeAttach>(a).offset = 9; }},
      {"no offset", [](AttachSpec &a) { as<UprobeAttach>(a).offset.reset(); }},
      {"pid", [](AttachSpec &a) { as<UprobeAttach>(a).pid = 101; }},
      {"no pid", [](AttachSpec &a) { as<UprobeAttach>(a).pid.reset(); }},
  };
  for (auto t : {ProgramType::Uprobe, ProgramType::Uretprobe})
    for (auto &[field, mutate] : cases) {
      SCOPED_TRACE(fmt::format("{} / {}", field, to_string(t)));
      auto a = probe_attach(), b = probe_attach();
      mutate(b);
      EXPECT_NE(a.canonical(t), b.canonical(t));
    }
  AttachSpec tp1 = AttachSpec::of(ProgramType::Tracepoint), tp2 = tp1;
  as<TracepointAttach>(tp1).tracepoint = "sched/sched_switch";
  as<TracepointAttach>(tp2).tracepoint = "sched/sched_wakeup";
  EXPECT_NE(tp1.canonical(ProgramType::Tracepoint), tp2.canonical(ProgramType::Tracepoint));
  as<TracepointAttach>(tp2).tracepoint = as<TracepointAttach>(tp1).tracepoint;
  EXPECT_EQ(tp1.canonical(ProgramType::Tracepoint), tp2.canonical(ProgramType::Tracepoint));
}

TEST(AttachCanonical, DiffersByProgramType) {
  EXPECT_NE(net_attach(ProgramType::Xdp).canonical(ProgramType::Xdp),
            net_attach(ProgramType::Tc).canonical(ProgramType::Tc));
  auto p = probe_attach();
  EXPECT_NE(p.canonical(ProgramType::Uprobe), p.canonical(ProgramType::Uretprobe));
}

TEST(AttachCanonical, FieldValuesDoNotRunTogether) {
  // "a" + "bc" must not equal "ab" + "c" across neighbouring fields.
  AttachSpec a = probe_attach(), b = probe_attach();
  as<UprobeAttach>(a).target = "/x";
  as<UprobeAttach>(a).function = "yz";
  as<UprobeAttach>(b).target = "/xy";
  as<UprobeAttach>(b).function = "z";
  EXPECT_NE(a.canonical(ProgramType::Uprobe), b.canonical(ProgramType::Uprobe));
}

TEST(AttachTargetLabel, HumanForms) {
  auto n = net_attach(ProgramType::Xdp);
  EXPECT_EQ(n.target_label(ProgramType::Xdp), "eth0 (netns /run/netns/blue)");
  n.netif()->netns.clear();
  EXPECT_EQ(n.target_label(ProgramType::Xdp), "eth0");
  auto tc = net_attach(ProgramType::Tc);
  tc.netif()->netns.clear();
  as<TcAttach>(tc).direction = TcDirection::Egress;
  EXPECT_EQ(tc.target_label(ProgramType::Tc), "eth0 egress");
  AttachSpec tp = AttachSpec::of(ProgramType::Tracepoint);
  as<TracepointAttach>(tp).tracepoint = "syscalls/sys_enter_openat";
  EXPECT_EQ(tp.target_label(ProgramType::Tracepoint), "syscalls/sys_enter_openat");
  auto p = probe_attach();
  EXPECT_EQ(p.target_label(ProgramType::Uprobe), "/usr/bin/bash:readline+0x8 (pid 100)");
  as<UprobeAttach>(p).function.clear();
  as<UprobeAttach>(p).offset = 0x1000;
  as<UprobeAttach>(p).pid.reset();
  EXPECT_EQ(p.target_label(ProgramType::Uretprobe), "/usr/bin/bash:+0x1000");
}

}  // namespace
}  // namespace bpfrec

namespace bpfrec {
namespace {

// ---------------------------------------------------------------------------------------------
// kprobe, kretprobe, fentry, fexit, cgroup_skb, cgroup_sock, raw_tracepoint: keys and digests

struct CanonicalCase {
  const char *what;
  ProgramType type;
  void (*mutate)(AttachSpec &);
};

// An attach point of `t` with the same values in whichever keys its family has: function
// do_sys_openat2 at offset 8, cgroup /sys/fs/cgroup/app (ingress, sock_create), tracepoint
// sys_enter.
AttachSpec kernel_attach(ProgramType t) {
  AttachSpec a = AttachSpec::of(t);
  if (auto *k = a.get_if<KprobeAttach>()) k->function = "do_sys_openat2", k->offset = 8;
  if (auto *u = a.get_if<UprobeAttach>()) u->function = "do_sys_openat2", u->offset = 8;
  if (auto *f = a.get_if<TracingAttach>()) f->function = "do_sys_openat2";
  if (auto *c = a.get_if<CgroupAttach>()) {
    c->cgroup = "/sys/fs/cgroup/app";
    c->direction = TcDirection::Ingress;
    c->attach_type = "sock_create";
  }
  if (auto *tp = a.get_if<TracepointAttach>()) tp->tracepoint = "sys_enter";
  return a;
}

TEST(AttachCanonical, DiffersWhenAnyKernelOrCgroupFieldDiffers) {
  const CanonicalCase cases[] = {
      {"function", ProgramType::Kprobe, [](AttachSpec &a) { as<KprobeAttach>(a).function = "vfs_read"; }},
      {"offset", ProgramType::Kprobe, [](AttachSpec &a) { as<KprobeAttach>(a).offset = 9; }},
      {"no offset", ProgramType::Kprobe, [](AttachSpec &a) { as<KprobeAttach>(a).offset.reset(); }},
      {"function", ProgramType::Kretprobe, [](AttachSpec &a) { as<KprobeAttach>(a).function = "vfs_read"; }},
      {"function", ProgramType::Fentry, [](AttachSpec &a) { as<TracingAttach>(a).function = "vfs_read"; }},
      {"function", ProgramType::Fexit, [](AttachSpec &a) { as<TracingAttach>(a).function = "vfs_read"; }},
      {"cgroup", ProgramType::CgroupSkb, [](AttachSpec &a) { as<CgroupAttach>(a).cgroup = "/sys/fs/cgroup/other"; }},
      {"direction", ProgramType::CgroupSkb, [](AttachSpec &a) { as<CgroupAttach>(a).direction = TcDirection::Egress; }},
      {"cgroup", ProgramType::CgroupSock, [](AttachSpec &a) { as<CgroupAttach>(a).cgroup = "/sys/fs/cgroup/other"; }},
      {"attach_type", ProgramType::CgroupSock, [](AttachSpec &a) { as<CgroupAttach>(a).attach_type = "post_bind6"; }},
      {"tracepoint", ProgramType::RawTracepoint, [](AttachSpec &a) { as<TracepointAttach>(a).tracepoint = "sys_exit"; }},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("{} / {}", c.what, to_string(c.type)));
    auto a = kernel_attach(c.type), b = kernel_attach(c.type);
    c.mutate(b);
    EXPECT_NE(a.canonical(c.type), b.canonical(c.type));
  }
}

TEST(AttachCanonical, FieldsThatDoNotApplyDoNotCount) {
  // Within a family's parameters: a cgroup_sock has no direction, a cgroup_skb no attach_type.
  const CanonicalCase same[] = {
      {"direction", ProgramType::CgroupSock, [](AttachSpec &a) { as<CgroupAttach>(a).direction = TcDirection::Egress; }},
      {"attach_type", ProgramType::CgroupSkb, [](AttachSpec &a) { as<CgroupAttach>(a).attach_type = "post_bind4"; }},
  };
  for (auto &c : same) {
    SCOPED_TRACE(fmt::format("{} / {}", c.what, to_string(c.type)));
    auto a = kernel_attach(c.type), b = kernel_attach(c.type);
    c.mutate(b);
    EXPECT_EQ(a.canonical(c.type), b.canonical(c.type));
  }
  // Across families the parameters do not hold the keys at all: a kprobe has no cgroup, a raw
  // tracepoint no function, an fentry no tracepoint.
  EXPECT_EQ(AttachSpec::of(ProgramType::Kprobe).get_if<CgroupAttach>(), nullptr);
  EXPECT_EQ(AttachSpec::of(ProgramType::RawTracepoint).get_if<TracingAttach>(), nullptr);
  EXPECT_EQ(AttachSpec::of(ProgramType::RawTracepoint).get_if<KprobeAttach>(), nullptr);
  EXPECT_EQ(AttachSpec::of(ProgramType::Fentry).get_if<TracepointAttach>(), nullptr);
}

TEST(AttachCanonical, EveryTypeHasItsOwnKey) {
  std::vector<std::string> keys;
  for (auto t : all_program_types()) keys.push_back(attach_key(t, kernel_attach(t)));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
}

TEST(AttachTargetLabel, KernelAndCgroupForms) {
  auto a = kernel_attach(ProgramType::Kprobe);
  EXPECT_EQ(a.target_label(ProgramType::Kprobe), "do_sys_openat2+0x8");
  as<KprobeAttach>(a).offset.reset();
  EXPECT_EQ(a.target_label(ProgramType::Kretprobe), "do_sys_openat2");
  EXPECT_EQ(kernel_attach(ProgramType::Fentry).target_label(ProgramType::Fentry), "do_sys_openat2");
  EXPECT_EQ(kernel_attach(ProgramType::CgroupSkb).target_label(ProgramType::CgroupSkb), "/sys/fs/cgroup/app ingress");
  EXPECT_EQ(kernel_attach(ProgramType::CgroupSock).target_label(ProgramType::CgroupSock),
            "/sys/fs/cgroup/app sock_create");
  EXPECT_EQ(kernel_attach(ProgramType::RawTracepoint).target_label(ProgramType::RawTracepoint), "sys_enter");
}

TEST(ProgramDigest, FentryAndFexitFunctionIsPartOfTheProgram) {
  // The function is bound at load (attach_btf_id): another function is another program.
  for (auto t : all_program_types()) {
    SCOPED_TRACE(to_string(t));
    ProgramSpec p;
    p.type = t;
    p.bpf_function = "f";
    p.bytecode_digest = "ab";
    p.attach = {kernel_attach(t)};
    if (auto *l = p.attach[0].get_if<LsmAttach>()) l->hook = "file_open";
    ProgramSpec q = p;
    AttachSpec &b = q.attach[0];
    if (auto *k = b.get_if<KprobeAttach>()) k->function = "vfs_read";
    if (auto *u = b.get_if<UprobeAttach>()) u->function = "vfs_read";
    if (auto *f = b.get_if<TracingAttach>()) f->function = "vfs_read";
    if (auto *l = b.get_if<LsmAttach>()) l->hook = "bprm_check_security";  // lsm's load target
    if (target_fixed_at_load(t)) EXPECT_NE(program_digest(p), program_digest(q));
    else EXPECT_EQ(program_digest(p), program_digest(q));
  }
}

TEST(ProgramDigest, UnchangedForTypesThatExistedBefore) {
  // Programs pinned by an earlier version must not be replaced on upgrade: the digest text of
  // the first five types is what it was (v1 without a load_target line).
  ProgramSpec p;
  p.type = ProgramType::Uprobe;
  p.bpf_function = "uprobe_count";
  p.bytecode_digest = "00";
  p.attach = {kernel_attach(ProgramType::Uprobe)};
  ProgramSpec q = p;
  q.attach.clear();
  EXPECT_EQ(program_digest(p), program_digest(q));
}

}  // namespace
}  // namespace bpfrec

namespace bpfrec {
namespace {

// bpfman accepts priority 0..1000 and runs 0 first (issue 10).
TEST(ManifestCompat, PriorityZeroIsAccepted) {
  for (const char *type : {"xdp", "tc"}) {
    const std::string text = std::string("[[program]]\nname = \"p\"\ntype = \"") + type +
                             "\"\nbpf_function = \"f\"\nbytecode = { path = \"/x.o\" }\n[[program.attach]]\n"
                             "interface = \"eth0\"\npriority = 0\n" +
                             (std::string(type) == "tc" ? "direction = \"ingress\"\n" : "");
    auto r = parse_manifest(text, "/etc/bpfman/programs.d/p.toml");
    ASSERT_TRUE(r.errors.empty()) << type << ": " << r.errors[0].str();
    ASSERT_NE(r.programs[0].attach[0].netif(), nullptr) << type;
    EXPECT_EQ(r.programs[0].attach[0].netif()->priority, 0u);
  }
}

}  // namespace
}  // namespace bpfrec
