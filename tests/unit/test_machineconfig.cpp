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

#include "machineconfig/daemon_image.h"
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
using ::testing::Not;

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

// Image bytecode: the manifest is carried as it is (each node pulls the image), no object with
// it; a tag is warned about at its position, or pinned with a resolver.
const std::string kImageManifest =
    "[[program]]\nname = \"i\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
    "bytecode = { image = \"quay.io/org/tp:v1\", pull_policy = \"IfNotPresent\" } # moving\n"
    "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\n"
    "[[program]]\nname = \"d\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
    "bytecode = { image = \"quay.io/org/tp@sha256:" + std::string(64, 'b') + "\" }\n"
    "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\n";

TEST(MachineConfig, ImageManifestsAreCarriedAsTheyAreAndATagIsWarnedAbout) {
  TempDir tmp;
  write_file(tmp / "i.toml", kImageManifest);
  std::vector<std::string> warnings;
  auto files = manifest_files({tmp / "i.toml"}, {}, &warnings);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->size(), 1u) << "no object file for image bytecode";
  EXPECT_EQ((*files)[0].path, "/etc/bpfman/programs.d/i.toml");
  EXPECT_EQ((*files)[0].contents, kImageManifest);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], ::testing::StartsWith(tmp / "i.toml" + ":5:22: warning: image 'quay.io/org/tp:v1' is a tag"));
}

TEST(MachineConfig, ResolveTagsPinsATagToItsDigestAndReportsResolverErrors) {
  TempDir tmp;
  write_file(tmp / "i.toml", kImageManifest);
  const std::string digest = "sha256:" + std::string(64, 'c');
  std::vector<std::string> asked, warnings;
  auto files = manifest_files({tmp / "i.toml"}, [&](const ImageReference &ref) -> Result<std::string> {
    asked.push_back(ref.str());
    return digest;
  }, &warnings);
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_THAT(asked, ::testing::ElementsAre("quay.io/org/tp:v1")) << "a digest reference is not resolved";
  EXPECT_TRUE(warnings.empty());
  std::string want = kImageManifest;
  want.replace(want.find("quay.io/org/tp:v1"), std::string("quay.io/org/tp:v1").size(), "quay.io/org/tp@" + digest);
  EXPECT_EQ((*files)[0].contents, want) << "only the reference changes; comments and pull_policy stay";

  auto refused = manifest_files({tmp / "i.toml"}, [](const ImageReference &) -> Result<std::string> {
    return fail("manifest unknown");
  });
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message,
              ::testing::HasSubstr(":5:22: error: resolving the tag of 'quay.io/org/tp:v1': manifest unknown"));
}

// --- the daemon itself from an image (machineconfig --daemon-image) ----------------------------

const std::string kDigest = "sha256:" + std::string(64, '0');
// The reference machineconfig/render uses for the committed example.
const std::string kExampleImage = "registry.example.com/bpfman/bpfman-reconciler@" + kDigest;

TEST(DaemonImage, DigestReferencesAreParsed) {
  for (const std::string name : {"bpfman-reconciler", "quay.io/org/bpfman-reconciler", "localhost/x",
                                 "localhost:5000/a/b", "registry.example.com:443/a.b/c_d/e__f/g--h",
                                 "Registry.Example.com/x"}) {
    auto r = parse_digest_reference(name + "@" + kDigest);
    ASSERT_TRUE(r) << name << ": " << r.error().message;
    EXPECT_EQ(r->name, name);
    EXPECT_EQ(r->digest, kDigest);
    EXPECT_EQ(r->str(), name + "@" + kDigest);
  }
}

TEST(DaemonImage, ReferencesNotPinnedByDigestAreRefusedSayingWhy) {
  const std::pair<std::string, std::string> cases[] = {
      {"quay.io/org/x", "not pinned by digest: give NAME@sha256:DIGEST"},
      {"quay.io/org/x:latest", "not pinned by digest"},
      {"quay.io/org/x:v1@" + kDigest, "a tag next to the digest (':v1')"},
      {"quay.io/org/x@sha512:" + std::string(128, 'a'), "the digest must be sha256:"},
      {"quay.io/org/x@sha256:" + std::string(63, 'a'), "got 63 characters after sha256:"},
      {"quay.io/org/x@sha256:" + std::string(64, 'A'), "64 lower-case hex digits"},
      {"quay.io/Org/x@" + kDigest, "repository path component 'Org'"},
      {"quay.io/org//x@" + kDigest, "repository path component ''"},
      {"quay.io/-x@" + kDigest, "repository path component '-x'"},
      {"quay.io:port/x@" + kDigest, "'quay.io:port' is not a registry host[:port]"},
      {"@" + kDigest, "no image name before the digest"},
  };
  for (auto &[text, want] : cases) {
    auto r = parse_digest_reference(text);
    ASSERT_FALSE(r) << text;
    EXPECT_THAT(r.error().message, HasSubstr(want)) << text;
  }
}

TEST(DaemonImage, ShippedTextsAreTheUnitsOfTheTree) {
  const std::string units = std::string(SOURCE_DIR) + "/units/";
  EXPECT_EQ(shipped_daemon_unit(), slurp(units + "bpfman-reconciler.service"));
  EXPECT_EQ(shipped_dbus_policy(), slurp(units + "io.bpfman.Reconciler1.conf"));
  EXPECT_EQ(shipped_tmpfiles(), slurp(units + "bpfman-reconciler.conf"));
}

// The parts, rendered and decoded as Ignition would write them.
struct RenderedImage {
  std::map<std::string, std::pair<int, std::string>> files;
  std::map<std::string, std::string> units;
};
RenderedImage render_image(const std::string &image) {
  RenderedImage out;
  auto ref = parse_digest_reference(image);
  EXPECT_TRUE(ref) << ref.error().message;
  if (!ref) return out;
  auto parts = daemon_image_parts(*ref, shipped_daemon_unit(), shipped_dbus_policy(), shipped_tmpfiles());
  EXPECT_TRUE(parts) << parts.error().message;
  if (!parts) return out;
  MachineConfigSpec spec;
  spec.files = parts->first;
  spec.units = parts->second;
  auto yaml = render_checked(spec, false);
  EXPECT_TRUE(yaml) << yaml.error().message;
  if (!yaml) return out;
  out.files = decode_files(*yaml);
  for (const auto &u : YAML::Load(*yaml)["spec"]["config"]["systemd"]["units"]) {
    EXPECT_TRUE(u["enabled"].as<bool>()) << u["name"].as<std::string>();
    out.units[u["name"].as<std::string>()] = u["contents"].as<std::string>();
  }
  return out;
}

TEST(DaemonImage, FetchUnitPullsThatDigestAndTheDaemonFollowsIt) {
  const RenderedImage r = render_image(kExampleImage);
  ASSERT_EQ(r.units.size(), 2u);
  const std::string &fetch = r.units.at(kFetchUnitName);
  EXPECT_THAT(fetch, HasSubstr("\nType=oneshot\nRemainAfterExit=yes\n"));
  EXPECT_THAT(fetch, HasSubstr("\nWants=network-online.target\nAfter=network-online.target\n"));
  EXPECT_THAT(fetch, HasSubstr("\nExecStart=" + std::string(kNodeFetchScript) + " " + kExampleImage + "\n"));
  EXPECT_THAT(fetch, HasSubstr("\nWantedBy=multi-user.target\n"));

  // The daemon unit is units/'s, with the binary in /usr/local/bin, restarted with the fetch unit
  // (PartOf=) but not stopped by a failed fetch (Wants=, not Requires=).
  std::string daemon = r.units.at("bpfman-reconciler.service");
  EXPECT_THAT(daemon, HasSubstr("\nExecStart=/usr/local/bin/bpfman-reconciler daemon\n"));
  const std::string deps = std::string("\nWants=") + kFetchUnitName + "\nPartOf=" + kFetchUnitName + "\nAfter=" +
                           kFetchUnitName + "\n";
  EXPECT_THAT(daemon, Not(HasSubstr("\nRequires=")));
  ASSERT_THAT(daemon, HasSubstr(deps));
  EXPECT_LT(daemon.find(deps), daemon.find("[Service]")) << "in the [Unit] section";
  // Nothing else differs from units/.
  const auto comment = daemon.rfind("\n# The binary is installed from ", daemon.find(deps));
  ASSERT_NE(comment, std::string::npos);
  daemon.erase(comment, daemon.find(deps) + deps.size() - comment - 1);
  daemon.replace(daemon.find("ExecStart=/usr/local/bin/"), std::strlen("ExecStart=/usr/local/bin/"), "ExecStart=/usr/bin/");
  EXPECT_EQ(daemon, shipped_daemon_unit());

  ASSERT_TRUE(r.files.contains(kNodeFetchScript));
  EXPECT_EQ(r.files.at(kNodeFetchScript).first, 0755);
  EXPECT_EQ(r.files.at("/etc/dbus-1/system.d/io.bpfman.Reconciler1.conf").second, shipped_dbus_policy());
  EXPECT_EQ(r.files.at("/etc/tmpfiles.d/bpfman-reconciler.conf").second, shipped_tmpfiles());
}

TEST(DaemonImage, AnotherDigestChangesTheFetchUnitOnly) {
  const RenderedImage a = render_image(kExampleImage);
  const RenderedImage b = render_image("registry.example.com/bpfman/bpfman-reconciler@sha256:" + std::string(64, 'f'));
  EXPECT_EQ(a.files, b.files);
  ASSERT_EQ(a.units.size(), b.units.size());
  for (auto &[name, text] : a.units)
    if (name == kFetchUnitName) EXPECT_NE(text, b.units.at(name));
    else EXPECT_EQ(text, b.units.at(name)) << name << " must not change with the digest";
}

TEST(DaemonImage, DaemonUnitWithoutTheShippedExecStartIsRefused) {
  auto ref = parse_digest_reference(kExampleImage);
  ASSERT_TRUE(ref);
  auto r = daemon_image_parts(*ref, "[Unit]\nDescription=x\n[Service]\nExecStart=/opt/bin/x daemon\n", "", "");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("no \"ExecStart=/usr/bin/bpfman-reconciler ...\" line"));
}

// The fetch script is POSIX sh that shellcheck finds nothing in (it runs as root on every node).
TEST(DaemonImage, FetchScriptIsCleanPosixSh) {
  if (std::system("command -v shellcheck >/dev/null 2>&1") != 0) GTEST_SKIP() << "shellcheck is not installed";
  const RenderedImage r = render_image(kExampleImage);
  ASSERT_TRUE(r.files.contains(kNodeFetchScript));
  TempDir tmp;
  write_file(tmp / "fetch-image", r.files.at(kNodeFetchScript).second);
  EXPECT_EQ(std::system(("sh -n " + tmp / "fetch-image").c_str()), 0);
  EXPECT_EQ(std::system(("shellcheck --shell=sh " + tmp / "fetch-image").c_str()), 0) << "see shellcheck's output above";
}

// machineconfig/50-bpfman-reconciler-image.yaml is what machineconfig/render makes with
// --daemon-image and the examples: it must not go stale either.
TEST(MachineConfig, CommittedImageMachineConfigIsUpToDate) {
  TempDir tmp;
  auto files = manifest_files({copy_examples(tmp)});
  ASSERT_TRUE(files) << files.error().message;
  auto ref = parse_digest_reference(kExampleImage);
  ASSERT_TRUE(ref);
  auto parts = daemon_image_parts(*ref, shipped_daemon_unit(), shipped_dbus_policy(), shipped_tmpfiles());
  ASSERT_TRUE(parts) << parts.error().message;
  MachineConfigSpec spec;
  spec.name = "50-bpfman-reconciler";
  spec.files = *files;
  spec.files.insert(spec.files.end(), parts->first.begin(), parts->first.end());
  spec.units = parts->second;
  auto yaml = render_checked(spec, false);
  ASSERT_TRUE(yaml) << yaml.error().message;
  const std::string committed = slurp(std::string(SOURCE_DIR) + "/machineconfig/50-bpfman-reconciler-image.yaml");
  EXPECT_TRUE(*yaml == committed) << "machineconfig/50-bpfman-reconciler-image.yaml is out of date: run machineconfig/render\n"
                                  << first_difference(*yaml, committed);
}

}  // namespace
}  // namespace bpfrec
