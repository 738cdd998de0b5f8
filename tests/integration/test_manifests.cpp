// Invalid manifests next to a good one, as seen by the daemon and by `bpfman-reconciler check`.
#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include "harness.h"

namespace it {
namespace {

using Manifests = ReconcilerTest;

std::string unknown_key_manifest(const std::string& object) {
  return "[[program]]\n"                           // 1
         "name = \"bad-key\"\n"                    // 2
         "type = \"xdp\"\n"                        // 3
         "bpf_function = \"xdp_count\"\n"          // 4
         "colour = \"red\"\n"                      // 5: unknown key, key at col 1, value at col 10
         "bytecode = { path = \"" + object + "\" }\n"
         "[[program.attach]]\n"
         "interface = \"lo\"\n";
}

std::string syntax_error_manifest() {
  return "[[program]]\n"                   // 1
         "name = \"bad-syntax\"\n"         // 2
         "type = = \"xdp\"\n"              // 3: second '=' is a syntax error
         "bpf_function = \"xdp_count\"\n";  // 4
}

bool has_positioned_error(const std::string& text, const std::string& path, int line) {
  const std::regex re(std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") + ":" +
                      std::to_string(line) + R"(:[0-9]+: error:)");
  return std::regex_search(text, re);
}

TEST_F(Manifests, BadManifestsAreReportedAndDoNotBlockGoodOnes) {
  write_manifest("10-good.toml", xdp_manifest("good-xdp", 1));
  write_manifest("20-unknown-key.toml", unknown_key_manifest(obj("xdp_counter")));
  write_manifest("30-syntax.toml", syntax_error_manifest());
  ASSERT_TRUE(start_daemon());

  const auto id = wait_xdp_attached("good-xdp");
  ASSERT_TRUE(id) << "the good manifest was not applied next to invalid ones" << diag();

  json desc;
  ASSERT_TRUE(wait_until([&] {
    desc = describe_or_fail();
    const auto good = find_program(desc, "good-xdp");
    return good && good->value("state", "") == "attached";
  }, 5s)) << diag();

  const auto good_m = find_manifest(desc, manifest_path("10-good.toml"));
  ASSERT_TRUE(good_m) << desc.dump(2);
  EXPECT_EQ(good_m->value("state", ""), "ok") << good_m->dump();

  const auto unknown = find_manifest(desc, manifest_path("20-unknown-key.toml"));
  ASSERT_TRUE(unknown) << desc.dump(2);
  EXPECT_EQ(unknown->value("state", ""), "invalid") << unknown->dump();
  ASSERT_TRUE((*unknown)["errors"].is_array() && !(*unknown)["errors"].empty()) << unknown->dump();
  {
    const json& e = (*unknown)["errors"][0];
    EXPECT_EQ(e.value("line", 0), 5) << e.dump();
    const int col = e.value("column", 0);
    EXPECT_TRUE(col == 1 || col == 10) << "column should point at the key (1) or its value (10): " << e.dump();
    EXPECT_NE(e.value("message", "").find("colour"), std::string::npos) << "message should name the key: " << e.dump();
  }

  const auto syntax = find_manifest(desc, manifest_path("30-syntax.toml"));
  ASSERT_TRUE(syntax) << desc.dump(2);
  EXPECT_EQ(syntax->value("state", ""), "invalid") << syntax->dump();
  ASSERT_TRUE((*syntax)["errors"].is_array() && !(*syntax)["errors"].empty()) << syntax->dump();
  EXPECT_EQ((*syntax)["errors"][0].value("line", 0), 3) << syntax->dump();
  EXPECT_GE((*syntax)["errors"][0].value("column", 0), 1) << syntax->dump();

  // Neither invalid manifest produced a program.
  EXPECT_FALSE(find_program(desc, "bad-key")) << desc.dump(2);
  EXPECT_FALSE(find_program(desc, "bad-syntax")) << desc.dump(2);
  EXPECT_FALSE(path_exists(pin_dir("bad-key")));
  EXPECT_EQ(xdp_prog_ids(net_->a, net_->if_a), std::vector<std::uint32_t>{*id});

  // Offline validation agrees.
  {
    const auto r = run({reconciler_bin(), "check", manifest_path("20-unknown-key.toml")});
    EXPECT_NE(r.rc, 0) << r.describe();
    EXPECT_TRUE(has_positioned_error(r.out + r.err, manifest_path("20-unknown-key.toml"), 5)) << r.describe();
  }
  {
    const auto r = run({reconciler_bin(), "check", manifest_path("30-syntax.toml")});
    EXPECT_NE(r.rc, 0) << r.describe();
    EXPECT_TRUE(has_positioned_error(r.out + r.err, manifest_path("30-syntax.toml"), 3)) << r.describe();
  }
  {
    const auto r = run({reconciler_bin(), "check", manifest_path("10-good.toml")});
    EXPECT_EQ(r.rc, 0) << r.describe();
  }
  {
    // Several paths: one bad one makes the whole check fail.
    const auto r = run({reconciler_bin(), "check", manifest_path("10-good.toml"), manifest_path("30-syntax.toml")});
    EXPECT_NE(r.rc, 0) << r.describe();
  }

  // Fixing the broken manifest applies it.
  write_manifest("30-syntax.toml", tracepoint_manifest("bad-syntax", "syscalls/sys_enter_openat"));
  const auto fixed = wait_program("bad-syntax", [](const json& p) { return p.value("state", "") == "attached"; });
  EXPECT_TRUE(fixed) << "fixed manifest not applied" << diag();
  if (fixed) {
    const auto m = find_manifest(describe_or_fail(), manifest_path("30-syntax.toml"));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->value("state", ""), "ok") << m->dump();
  }
}

/// Two programs.d directories: programs_dir_ (higher precedence) and lower_ (lower).
class ManifestDirs : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    lower_ = work_dir_ + "/lower.d";
    ASSERT_EQ(::mkdir(lower_.c_str(), 0755), 0);
  }
  std::vector<std::string> daemon_flags() const override { return {"--programs-dir", lower_}; }
  std::string lower_;
};

TEST_F(ManifestDirs, OverrideAndMask) {
  ASSERT_TRUE(start_daemon());
  write_file_atomic(lower_, "prog.toml", xdp_manifest("lower-xdp", 1));
  const auto id = wait_xdp_attached("lower-xdp");
  ASSERT_TRUE(id) << "manifest in the second directory not applied" << diag();

  // Same base name in the higher directory: it wins, the lower one is overridden.
  write_manifest("prog.toml", tracepoint_manifest("upper-tp", "syscalls/sys_enter_openat"));
  EXPECT_TRUE(wait_program("upper-tp", [](const json& p) { return p.value("state", "") == "attached"; }))
      << diag();
  EXPECT_TRUE(wait_until([&] { return xdp_prog_ids(net_->a, net_->if_a).empty(); }, 5s))
      << "overridden manifest's program still attached" << diag();
  {
    const json desc = describe_or_fail();
    const auto up = find_manifest(desc, manifest_path("prog.toml"));
    const auto low = find_manifest(desc, lower_ + "/prog.toml");
    ASSERT_TRUE(up && low) << desc.dump(2);
    EXPECT_EQ(up->value("state", ""), "ok");
    EXPECT_EQ(low->value("state", ""), "overridden") << low->dump();
    EXPECT_FALSE(find_program(desc, "lower-xdp")) << desc.dump(2);
  }

  // Masking: a symlink to /dev/null in the higher directory disables the name everywhere.
  const std::string tmp = programs_dir_ + "/.prog.toml.tmp";
  ASSERT_EQ(::symlink("/dev/null", tmp.c_str()), 0);
  ASSERT_EQ(::rename(tmp.c_str(), manifest_path("prog.toml").c_str()), 0);
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("upper-tp")); }, 5s))
      << "masked manifest's program not removed" << diag();
  EXPECT_TRUE(xdp_prog_ids(net_->a, net_->if_a).empty()) << "mask must not resurrect the lower manifest";
  {
    const json desc = describe_or_fail();
    const auto up = find_manifest(desc, manifest_path("prog.toml"));
    const auto low = find_manifest(desc, lower_ + "/prog.toml");
    ASSERT_TRUE(up && low) << desc.dump(2);
    EXPECT_EQ(up->value("state", ""), "masked") << up->dump();
    EXPECT_EQ(low->value("state", ""), "overridden") << low->dump();
    EXPECT_TRUE(desc.value("programs", json::array()).empty()) << desc.dump(2);
  }

  // Unmask: the lower manifest applies again.
  remove_manifest("prog.toml");
  EXPECT_TRUE(wait_xdp_attached("lower-xdp")) << "lower manifest not re-applied after unmasking" << diag();
}

TEST_F(Manifests, BytecodeSha256IsEnforced) {
  const std::string object = obj("xdp_counter");
  const auto sum = run({"sha256sum", object});
  ASSERT_EQ(sum.rc, 0) << sum.describe();
  const std::string good = sum.out.substr(0, 64);
  const std::string bad(64, '0');
  auto with_sha = [&](const std::string& name, const std::string& sha) {
    std::string m = xdp_manifest(name, 1);
    const std::string from = "bytecode = { path = \"" + object + "\" }";
    m.replace(m.find(from), from.size(), "bytecode = { path = \"" + object + "\", sha256 = \"" + sha + "\" }");
    return m;
  };
  ASSERT_TRUE(start_daemon());
  write_manifest("bad.toml", with_sha("sha-bad", bad));
  // Either a failed program or an invalid manifest is acceptable; silently loading is not.
  std::optional<json> failed;
  std::optional<json> m;
  EXPECT_TRUE(wait_until([&] {
    const json desc = describe_or_fail();
    failed = find_program(desc, "sha-bad");
    if (failed && failed->value("state", "") != "failed") failed.reset();
    m = find_manifest(desc, manifest_path("bad.toml"));
    return failed || (m && m->value("state", "") == "invalid");
  }, 5s)) << "object with a wrong sha256 not rejected" << diag();
  std::string err = failed ? failed->dump() : m ? m->dump() : "";
  EXPECT_NE(err.find("sha256"), std::string::npos) << "error should name the digest: " << err;
  EXPECT_FALSE(pinned_prog_id(prog_pin("sha-bad"))) << "program with a wrong sha256 was loaded";
  EXPECT_TRUE(xdp_prog_ids(net_->a, net_->if_a).empty());

  remove_manifest("bad.toml");
  write_manifest("good.toml", with_sha("sha-good", good));
  EXPECT_TRUE(wait_xdp_attached("sha-good")) << "object with the right sha256 not attached" << diag();
}

}  // namespace
}  // namespace it
