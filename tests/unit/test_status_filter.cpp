// `status --type --metadata` (filter_describe) and per-attach-point metadata in status.
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "status/status.h"

namespace bpfrec {
namespace {

using nlohmann::json;

json doc() {
  return json::parse(R"({"generation": 1, "state": "idle", "manifests": [],
    "programs": [
      {"name": "a", "type": "xdp", "metadata": {"team": "net"},
       "attachments": [{"target": "eth0", "metadata": {"zone": "edge"}},
                       {"target": "eth1", "metadata": {"zone": "core", "team": "sec"}}]},
      {"name": "b", "type": "tc", "metadata": {},
       "attachments": [{"target": "eth0 ingress", "metadata": {"team": "net", "zone": "edge"}}]},
      {"name": "c", "type": "tracepoint", "metadata": {"team": "net"}, "attachments": []}
    ]})");
}

std::vector<std::string> names(const json &d) {
  std::vector<std::string> out;
  for (auto &p : d["programs"]) {
    std::string s = p["name"].get<std::string>() + ":";
    for (auto &a : p["attachments"]) s += a["target"].get<std::string>() + ",";
    out.push_back(s);
  }
  return out;
}

TEST(StatusFilter, ByType) {
  StatusFilter f;
  f.type = "tc";
  EXPECT_EQ(names(filter_describe(doc(), f)), (std::vector<std::string>{"b:eth0 ingress,"}));
  f.type = "kprobe";
  EXPECT_TRUE(filter_describe(doc(), f)["programs"].empty());
}

TEST(StatusFilter, MetadataOfProgramAndAttachment) {
  StatusFilter f;
  f.metadata = {{"team", "net"}};
  // a: eth1 overrides team; b matches by its attachment; c has no attachments and matches itself.
  EXPECT_EQ(names(filter_describe(doc(), f)), (std::vector<std::string>{"a:eth0,", "b:eth0 ingress,", "c:"}));
  f.metadata = {{"team", "net"}, {"zone", "edge"}};
  EXPECT_EQ(names(filter_describe(doc(), f)), (std::vector<std::string>{"a:eth0,", "b:eth0 ingress,"}));
  f.metadata = {{"zone", "core"}};
  EXPECT_EQ(names(filter_describe(doc(), f)), (std::vector<std::string>{"a:eth1,"}));
  f.type = "tc";
  EXPECT_TRUE(filter_describe(doc(), f)["programs"].empty());
  // The rest of the document is left alone.
  EXPECT_EQ(filter_describe(doc(), f)["generation"], 1);
}

TEST(StatusFilter, Selectors) {
  EXPECT_EQ(parse_metadata_selector("k=v"), std::make_pair(std::string("k"), std::string("v")));
  EXPECT_EQ(parse_metadata_selector("k=a=b"), std::make_pair(std::string("k"), std::string("a=b")));
  EXPECT_EQ(parse_metadata_selector("k="), std::make_pair(std::string("k"), std::string()));
  EXPECT_FALSE(parse_metadata_selector("=v"));
  EXPECT_FALSE(parse_metadata_selector("kv"));
}

TEST(AttachMetadata, ParsedShownAndNotPartOfTheKey) {
  const std::string head = "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\n"
                           "bytecode = { path = \"/x.o\" }\n[[program.attach]]\ninterface = \"eth0\"\n";
  auto r = parse_manifest(head + "metadata = { zone = \"edge\", owner = \"netobs\" }\n", "/m.toml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].str();
  const auto &a = r.programs[0].attach[0];
  EXPECT_EQ(a.metadata.at("zone"), "edge");
  EXPECT_EQ(a.metadata.at("owner"), "netobs");
  auto plain = parse_manifest(head, "/m.toml");
  ASSERT_TRUE(plain.errors.empty());
  EXPECT_EQ(a.canonical(ProgramType::Xdp), plain.programs[0].attach[0].canonical(ProgramType::Xdp));
  auto bad = parse_manifest(head + "metadata = { zone = 3 }\n", "/m.toml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].message.find("'metadata.zone' must be a string"), std::string::npos) << bad.errors[0].str();
}

TEST(UprobeTarget, LibraryNamesAreAcceptedAndResolvedLater) {
  auto m = [](const std::string &target) {
    return parse_manifest("[[program]]\nname = \"u\"\ntype = \"uprobe\"\nbpf_function = \"f\"\n"
                          "bytecode = { path = \"/x.o\" }\n[[program.attach]]\ntarget = \"" + target +
                              "\"\nfunction = \"getpid\"\n",
                          "/m.toml");
  };
  auto libc = m("libc");
  ASSERT_TRUE(libc.errors.empty()) << libc.errors[0].str();
  const auto &u = std::get<UprobeAttach>(libc.programs[0].attach[0].params);
  EXPECT_EQ(u.target, "libc");
  EXPECT_EQ(u.target_pos.line, 7u);
  EXPECT_EQ(u.target_pos.column, 10u);
  EXPECT_TRUE(m("/usr/lib/x86_64-linux-gnu/libc.so.6").errors.empty());
  EXPECT_TRUE(m("libssl.so.3").errors.empty());
  for (const char *bad : {"lib/c", "", "lib c", "./libc.so"}) {
    auto r = m(bad);
    ASSERT_EQ(r.errors.size(), 1u) << bad;
    EXPECT_NE(r.errors[0].message.find("or a library name"), std::string::npos) << r.errors[0].str();
  }
}

}  // namespace
}  // namespace bpfrec

namespace bpfrec {
namespace {

DaemonStatus sample_status() {
  DaemonStatus s;
  s.generation = 7;
  s.state = DaemonState::Idle;
  ManifestStatus m;
  m.path = "/etc/bpfman/programs.d/a.toml";
  m.state = ManifestState::Ok;
  s.manifests.push_back(m);
  ProgramStatus p;
  p.name = "a";
  p.type = "xdp";
  p.manifest = m.path;
  p.state = ProgramState::Attached;
  p.kernel_id = 42;
  p.metadata = {{"team", "net \"edge\""}};
  AttachmentStatus a;
  a.target = "eth0";
  a.state = AttachState::Attached;
  a.mechanism = "xdp";
  p.attachments.push_back(a);
  s.programs.push_back(p);
  return s;
}

// Describe()'s text is to_json() with the foreign section, dumped, whatever the cache holds.
TEST(DescribeText, IsToJsonWithForeignDumped) {
  DaemonStatus s = sample_status();
  StatusTextCache cache;
  const json foreign = {{"programs", json::array()}, {"scan_ms", 1.5}};
  json want = to_json(s);
  want["foreign"] = foreign;
  EXPECT_EQ(describe_text(s, foreign, cache), want.dump());
  EXPECT_EQ(cache.generation, 7u);
  // Between reconciles only state, error and reconciling change: they are never cached.
  s.state = DaemonState::Degraded;
  s.error = "reconcile (D-Bus Reload()) not planned: cannot list /x";
  s.reconciling = ReconcileProgress{"manifest change", "2026-12-02T00:00:00Z", 1, 3, "a", 1, false};
  want = to_json(s);
  want["foreign"] = foreign;
  EXPECT_EQ(describe_text(s, foreign, cache), want.dump());
  // A new generation's programs are serialized afresh.
  s.generation = 8;
  s.programs[0].state = ProgramState::Partial;
  want = to_json(s);
  EXPECT_EQ(describe_text(s, nullptr, cache), want.dump()) << "no foreign section when none is given";
  EXPECT_NE(cache.programs.find("partial"), std::string::npos);
}

}  // namespace
}  // namespace bpfrec
