// The MachineConfig renderer: encodings, golden output for the examples, a byte-for-byte round
// trip through the YAML, and what a MachineConfig must refuse.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "machineconfig/machineconfig.h"
#include "manifest/manifest.h"
#include "file_digest.h"
#include "temp_dir.h"

namespace bpfrec {
namespace {

namespace fs = std::filesystem;
using testing_util::TempDir;
using testing_util::write_file;
using ::testing::HasSubstr;

const std::string kData = std::string(TEST_DATA_DIR) + "/machineconfig";
const std::string kExamples = std::string(SOURCE_DIR) + "/examples/programs.d";

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "line N: got ... / want ..." for the first line where two renderings differ.
std::string first_difference(const std::string &got, const std::string &want) {
  std::istringstream a(got), b(want);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ga = static_cast<bool>(std::getline(a, la)), gb = static_cast<bool>(std::getline(b, lb));
    if (!ga && !gb) return "no difference";
    if (!ga || !gb || la != lb)
      return "line " + std::to_string(line) + ":\n  got:  " + la.substr(0, 160) + "\n  want: " + lb.substr(0, 160);
  }
}

// The examples, with their installed bytecode paths pointed at the checked-in objects.
std::string copy_examples(const TempDir &tmp) {
  const std::string dir = tmp / "programs.d";
  for (auto &e : fs::directory_iterator(kExamples)) {
    std::string text = slurp(e.path());
    for (size_t at; (at = text.find("/usr/lib/bpfman-reconciler/bpf/")) != std::string::npos;)
      text.replace(at, std::strlen("/usr/lib/bpfman-reconciler/bpf/"), kData + "/bpf/");
    write_file(dir + "/" + e.path().filename().string(), text);
  }
  return dir;
}

// path -> (mode, decoded contents) of every storage.files entry, as Ignition would write them.
std::map<std::string, std::pair<int, std::string>> decode_files(const std::string &yaml) {
  std::map<std::string, std::pair<int, std::string>> out;
  YAML::Node mc = YAML::Load(yaml);
  EXPECT_EQ(mc["apiVersion"].as<std::string>(), "machineconfiguration.openshift.io/v1");
  EXPECT_EQ(mc["spec"]["config"]["ignition"]["version"].as<std::string>(), "3.4.0");
  for (const auto &f : mc["spec"]["config"]["storage"]["files"]) {
    const std::string src = f["contents"]["source"].as<std::string>();
    EXPECT_EQ(f["contents"]["compression"].as<std::string>(), "gzip");
    EXPECT_TRUE(src.starts_with("data:;base64,")) << src.substr(0, 40);
    auto gz = base64_decode(src.substr(std::strlen("data:;base64,")));
    EXPECT_TRUE(gz) << gz.error().message;
    auto raw = gz ? gunzip_bytes(*gz) : Result<std::string>(fail("no data"));
    EXPECT_TRUE(raw) << raw.error().message;
    out[f["path"].as<std::string>()] = {f["mode"].as<int>(), raw ? *raw : ""};
  }
  return out;
}

TEST(MachineConfigEncoding, GzipAndBase64RoundTripAndAreDeterministic) {
  std::string data(100000, '\0');
  std::mt19937 rng(7);
  for (auto &c : data) c = static_cast<char>(rng());
  for (std::string in : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), data}) {
    EXPECT_EQ(gzip_bytes(in), gzip_bytes(in));
    auto b = base64_decode(base64_encode(gzip_bytes(in)));
    ASSERT_TRUE(b) << b.error().message;
    auto back = gunzip_bytes(*b);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, in);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("a!c="));
  EXPECT_FALSE(gunzip_bytes("not gzip"));
  EXPECT_EQ(data_url("x").rfind("data:;base64,H4sI", 0), 0u);  // gzip magic 1f 8b
}

TEST(MachineConfig, GoldenOutputForTheExamples) {
  TempDir tmp;
  auto files = manifest_files({copy_examples(tmp)});
  ASSERT_TRUE(files) << files.error().message;
  MachineConfigSpec spec;
  spec.name = "50-bpfman-examples";
  spec.files = *files;
  auto yaml = render_checked(spec, false);
  ASSERT_TRUE(yaml) << yaml.error().message;
  const std::string golden = kData + "/examples.golden.yaml";
  if (std::getenv("BPFREC_UPDATE_GOLDEN")) std::ofstream(golden, std::ios::binary) << *yaml;
  const std::string expected = slurp(golden);
  EXPECT_TRUE(*yaml == expected) << "regenerate with BPFREC_UPDATE_GOLDEN=1 if the change is intended\n"
                                 << first_difference(*yaml, expected);
}

// machineconfig/50-bpfman-reconciler.yaml is what machineconfig/render makes of units/ and the
// examples: render the same here and compare, so the committed file cannot go stale.
TEST(MachineConfig, CommittedMachineConfigIsUpToDate) {
  TempDir tmp;
  auto files = manifest_files({copy_examples(tmp)});
  ASSERT_TRUE(files) << files.error().message;
  const std::string units = std::string(SOURCE_DIR) + "/units/";
  MachineConfigSpec spec;
  spec.name = "50-bpfman-reconciler";
  spec.files = {{"/etc/dbus-1/system.d/io.bpfman.Reconciler1.conf", slurp(units + "io.bpfman.Reconciler1.conf"), 0644},
                {"/etc/tmpfiles.d/bpfman-reconciler.conf", slurp(units + "bpfman-reconciler.conf"), 0644}};
  spec.files.insert(spec.files.begin(), files->begin(), files->end());
  spec.units = {{"bpfman-reconciler.service", slurp(units + "bpfman-reconciler.service"), true}};
  auto yaml = render_checked(spec, false);
  ASSERT_TRUE(yaml) << yaml.error().message;
  const std::string committed = slurp(std::string(SOURCE_DIR) + "/machineconfig/50-bpfman-reconciler.yaml");
  EXPECT_TRUE(*yaml == committed) << "machineconfig/50-bpfman-reconciler.yaml is out of date: run machineconfig/render\n"
                                  << first_difference(*yaml, committed);
}

TEST(MachineConfig, RoundTripIsByteForByte) {
  TempDir tmp;
  const std::string dir = copy_examples(tmp);
  auto files = manifest_files({dir});
  ASSERT_TRUE(files) << files.error().message;
  MachineConfigSpec spec;
  spec.files = *files;
  std::string binary(3000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  spec.files.push_back({"/etc/bpfman/blob.bin", binary, 0600});
  spec.units.push_back({"bpfman-reconciler.service", slurp(std::string(SOURCE_DIR) + "/units/bpfman-reconciler.service")});
  auto yaml = render_checked(spec, false);
  ASSERT_TRUE(yaml) << yaml.error().message;
  auto decoded = decode_files(*yaml);

  // Objects arrive byte for byte, each under /etc/bpfman/bytecode.
  for (auto &obj : fs::directory_iterator(kData + "/bpf")) {
    const std::string node = "/etc/bpfman/bytecode/" + obj.path().filename().string();
    ASSERT_TRUE(decoded.contains(node)) << node;
    EXPECT_EQ(decoded[node].second, slurp(obj.path())) << node;
    EXPECT_EQ(decoded[node].first, 0644);
  }
  EXPECT_EQ(decoded["/etc/bpfman/blob.bin"].second, binary);
  EXPECT_EQ(decoded["/etc/bpfman/blob.bin"].first, 0600);

  // Manifests arrive as written except for the bytecode, which points at the node copy and pins
  // its sha256; the result is a valid manifest.
  for (auto &m : fs::directory_iterator(dir)) {
    const std::string node = "/etc/bpfman/programs.d/" + m.path().filename().string();
    ASSERT_TRUE(decoded.contains(node)) << node;
    std::string expect = slurp(m.path());
    const std::string got = decoded[node].second;
    auto parsed = parse_manifest(got, node);
    ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].str();
    for (auto &p : parsed.programs) {
      ASSERT_TRUE(p.bytecode_path.starts_with("/etc/bpfman/bytecode/")) << p.bytecode_path;
      const std::string src = kData + "/bpf/" + fs::path(p.bytecode_path).filename().string();
      EXPECT_EQ(p.bytecode_sha256, *sha256_file(src));
      const std::string from = "{ path = \"" + src + "\" }";
      const std::string to = "{ path = \"" + p.bytecode_path + "\", sha256 = \"" + p.bytecode_sha256 + "\" }";
      if (auto at = expect.find(from); at != std::string::npos) expect.replace(at, from.size(), to);
    }
    EXPECT_EQ(got, expect) << node;
  }
  YAML::Node units = YAML::Load(*yaml)["spec"]["config"]["systemd"]["units"];
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0]["contents"].as<std::string>(), spec.units[0].contents);
  EXPECT_TRUE(units[0]["enabled"].as<bool>());
}

TEST(MachineConfig, SubTableBytecodeWithCommentIsRewritten) {
  TempDir tmp;
  const std::string obj = kData + "/bpf/tracepoint_counter.bpf.o";
  write_file(tmp / "a.toml", "[[program]]\nname = \"t\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
                             "[program.bytecode]\npath = \"" + obj + "\" # the counter\n"
                             "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\n");
  auto files = manifest_files({tmp / "a.toml"});
  ASSERT_TRUE(files) << files.error().message;
  const std::string sha = *sha256_file(obj);
  EXPECT_EQ((*files)[0].contents,
            "[[program]]\nname = \"t\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
            "[program.bytecode]\npath = \"/etc/bpfman/bytecode/tracepoint_counter.bpf.o\" # the counter\nsha256 = \"" +
                sha + "\"\n[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\n");
}

TEST(MachineConfig, OverOneMebibyteIsRefusedUnlessForced) {
  MachineConfigSpec spec;
  std::string big(2 * 1024 * 1024, '\0');
  std::mt19937 rng(1);
  for (auto &c : big) c = static_cast<char>(rng());  // incompressible
  spec.files.push_back({"/etc/bpfman/big.bin", big, 0644});
  auto r = render_checked(spec, false);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("1.5 MiB"));
  EXPECT_THAT(r.error().message, HasSubstr("--force"));
  EXPECT_TRUE(render_checked(spec, true));
}

TEST(MachineConfig, RefusesWhatAMachineConfigCannotCarry) {
  MachineConfigSpec spec;
  spec.files.push_back({"/usr/local/bin/tool", "x", 04755});
  auto r = render_checked(spec, false);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("setuid"));
  spec.files = {{"relative/path", "x", 0644}};
  EXPECT_FALSE(render_checked(spec, false));
  spec.files = {{"/a", "x", 0644}, {"/a", "y", 0644}};
  EXPECT_FALSE(render_checked(spec, false));

  TempDir tmp;
  write_file(tmp / "real.toml", "");
  fs::create_symlink(tmp / "real.toml", tmp / "link.toml");
  auto s = manifest_files({tmp / "link.toml"});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("symlink"));
}

TEST(MachineConfig, InvalidManifestsAreRefusedWithPositions) {
  TempDir tmp;
  write_file(tmp / "bad.toml", "[[program]]\nnme = \"x\"\n");
  auto r = manifest_files({tmp / "bad.toml"});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr(tmp / "bad.toml:2:1: error: unknown key 'nme'"));
}

TEST(MachineConfig, SameBaseNameDifferentObjectsGetDistinctNodePaths) {
  TempDir tmp;
  fs::create_directories(tmp / "x");
  fs::create_directories(tmp / "y");
  fs::copy_file(kData + "/bpf/tracepoint_counter.bpf.o", tmp / "x/p.o");
  fs::copy_file(kData + "/bpf/uprobe_counter.bpf.o", tmp / "y/p.o");
  write_file(tmp / "a.toml", "[[program]]\nname = \"a\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
                             "bytecode = { path = \"x/p.o\" }\n[[program.attach]]\ntracepoint = \"a/b\"\n"
                             "[[program]]\nname = \"b\"\ntype = \"uprobe\"\nbpf_function = \"uprobe_count\"\n"
                             "bytecode = { path = \"y/p.o\" }\n[[program.attach]]\ntarget = \"/bin/true\"\n"
                             "function = \"main\"\n");
  auto files = manifest_files({tmp / "a.toml"});
  ASSERT_TRUE(files) << files.error().message;
  std::vector<std::string> paths;
  for (auto &f : *files) paths.push_back(f.path);
  const std::string sha_b = sha256_file(tmp / "y/p.o")->substr(0, 12);
  EXPECT_THAT(paths, ::testing::ElementsAre("/etc/bpfman/programs.d/a.toml", "/etc/bpfman/bytecode/p.o",
                                            "/etc/bpfman/bytecode/" + sha_b + "-p.o"));
}

}  // namespace
}  // namespace bpfrec
