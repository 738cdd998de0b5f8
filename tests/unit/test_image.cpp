// src/image: image references (distribution/reference) and bytecode images in bpfman's format
// read from OCI image layout directories. The layouts are built here, in a temp dir, as
// `skopeo copy docker://REF oci:DIR:TAG` writes them (blobs under their sha256), around the
// project's own BPF objects; layers are made with libarchive. No registry, no root.
#include "image/bytecode_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "image/labels.h"
#include "image/pull.h"
#include "image/reference.h"
#include "util/sha256.h"

#include "temp_dir.h"

namespace bpfrec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::HasSubstr;
using testing_util::TempDir;
using testing_util::write_file;

constexpr const char *kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char *kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char *kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr const char *kOciTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char *kOciTar = "application/vnd.oci.image.layer.v1.tar";
constexpr const char *kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char *kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char *kDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr const char *kDockerTarGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string bpf_obj(std::string_view name) { return slurp(fmt::format("{}/{}.bpf.o", BPF_OBJ_DIR, name)); }

la_ssize_t append_cb(archive *, void *out, const void *buf, size_t n) {
  static_cast<std::string *>(out)->append(static_cast<const char *>(buf), n);
  return static_cast<la_ssize_t>(n);
}

struct WriterDeleter {
  void operator()(archive *a) const { (void)archive_write_free(a); }
};

// `files` written with libarchive: as a tar (pax) of regular files, or (`raw`) the one file's
// bytes alone; gzip'd when `gzip`.
std::string make_archive(const std::vector<std::pair<std::string, std::string>> &files, bool gzip, bool raw) {
  std::string out;
  std::unique_ptr<archive, WriterDeleter> a(archive_write_new());
  EXPECT_EQ(raw ? archive_write_set_format_raw(a.get()) : archive_write_set_format_pax_restricted(a.get()), ARCHIVE_OK);
  if (gzip) {
    EXPECT_EQ(archive_write_add_filter_gzip(a.get()), ARCHIVE_OK);
  }
  EXPECT_EQ(archive_write_open(a.get(), &out, nullptr, append_cb, nullptr), ARCHIVE_OK);
  for (auto &[name, content] : files) {
    archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    EXPECT_EQ(archive_write_header(a.get(), e), ARCHIVE_OK);
    EXPECT_EQ(archive_write_data(a.get(), content.data(), content.size()), static_cast<la_ssize_t>(content.size()));
    archive_entry_free(e);
  }
  EXPECT_EQ(archive_write_close(a.get()), ARCHIVE_OK);
  return out;
}

std::string make_tar(const std::vector<std::pair<std::string, std::string>> &files, bool gzip) {
  return make_archive(files, gzip, /*raw=*/false);
}
// `data` gzip'd (no tar).
std::string make_gzip(const std::string &data) { return make_archive({{"data", data}}, /*gzip=*/true, /*raw=*/true); }

json programs_labels(const json &programs, const json &maps = json::object()) {
  return {{"io.ebpf.programs", programs.dump()}, {"io.ebpf.maps", maps.dump()}};
}

// An OCI image layout under construction: blobs are written under their sha256 as they are made.
class Layout {
 public:
  explicit Layout(std::string dir) : dir_(std::move(dir)) {
    write_file(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }
  const std::string &dir() const { return dir_; }
  std::string blob_path(const json &desc) const {
    return dir_ + "/blobs/sha256/" + desc["digest"].get<std::string>().substr(7);
  }

  json blob(const std::string &media_type, const std::string &content) {
    const std::string hex = sha256_hex(content);
    write_file(dir_ + "/blobs/sha256/" + hex, content);
    return {{"mediaType", media_type}, {"digest", "sha256:" + hex}, {"size", content.size()}};
  }
  json config(const json &labels, bool docker = false) {
    json c = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config", {{"Labels", labels}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
    return blob(docker ? kDockerConfig : kOciConfig, c.dump());
  }
  json manifest(const json &config, const std::vector<json> &layers, bool docker = false) {
    json m = {{"schemaVersion", 2},
              {"mediaType", docker ? kDockerManifest : kOciManifest},
              {"config", config},
              {"layers", layers}};
    return blob(docker ? kDockerManifest : kOciManifest, m.dump());
  }
  // A manifest of one tar+gzip layer holding `object` as `name`, with `labels`.
  json image(const std::string &object, const json &labels, const std::string &name = "bpf_bpfel.o") {
    return manifest(config(labels), {blob(kOciTarGzip, make_tar({{name, object}}, true))});
  }
  json index(const std::vector<std::pair<json, std::string>> &children, bool docker = false) {
    json m = json::array();
    for (auto &[desc, arch] : children) {
      json d = desc;
      d["platform"] = {{"os", "linux"}, {"architecture", arch}};
      m.push_back(d);
    }
    json i = {{"schemaVersion", 2}, {"mediaType", docker ? kDockerList : kOciIndex}, {"manifests", m}};
    return blob(docker ? kDockerList : kOciIndex, i.dump());
  }
  // index.json naming `top` (as skopeo's oci:DIR:TAG names it by `tag`).
  void tag(json top, const std::string &tag = "latest") {
    top["annotations"] = {{"org.opencontainers.image.ref.name", tag}};
    tags_.push_back(top);
    write_file(dir_ + "/index.json", json({{"schemaVersion", 2}, {"manifests", tags_}}).dump());
  }

 private:
  std::string dir_;
  std::vector<json> tags_;
};

class ImageLayoutTest : public ::testing::Test {
 protected:
  TempDir tmp;
  Layout layout{tmp / "layout"};
  const std::string xdp = bpf_obj("xdp_counter");
  const std::string tc = bpf_obj("tc_counter");

  Result<BytecodeImage> read(const ReadImageOptions &o = {}) { return read_bytecode_image(layout.dir(), o); }
  void expect_error(const std::string &want) {
    auto r = read();
    ASSERT_FALSE(r) << "read, wanted an error with: " << want;
    EXPECT_THAT(r.error().message, HasSubstr(want));
    EXPECT_EQ(r.error().kind(), ErrorKind::Invalid) << r.error().message;
  }
};

// --- references -------------------------------------------------------------------------------

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(ImageReference, TagsAndDigestsAreSplitIntoTheirParts) {
  const struct {
    std::string text, registry, repository, tag, digest;
  } cases[] = {
      {"quay.io/bpfman-bytecode/xdp_pass:latest", "quay.io", "bpfman-bytecode/xdp_pass", "latest", ""},
      {"localhost:5000/a/b:v1.2-rc_3", "localhost:5000", "a/b", "v1.2-rc_3", ""},
      {"localhost/x@" + kDigest, "localhost", "x", "", kDigest},
      {"xdp_pass:v1", "", "xdp_pass", "v1", ""},
      {"library/xdp:V1", "", "library/xdp", "V1", ""},
      {"Registry.Example.com:443/a.b/c__d/e--f@" + kDigest, "Registry.Example.com:443", "a.b/c__d/e--f", "", kDigest},
  };
  for (auto &c : cases) {
    auto r = parse_image_reference(c.text);
    ASSERT_TRUE(r) << c.text << ": " << r.error();
    EXPECT_EQ(r->registry, c.registry) << c.text;
    EXPECT_EQ(r->repository, c.repository) << c.text;
    EXPECT_EQ(r->tag, c.tag) << c.text;
    EXPECT_EQ(r->digest, c.digest) << c.text;
    EXPECT_EQ(r->str(), c.text);
  }
}

TEST(ImageReference, MalformedReferencesAreRefusedSayingWhy) {
  const std::pair<std::string, std::string> cases[] = {
      {"quay.io/org/x", "no tag or digest: give NAME:TAG or NAME@sha256:DIGEST"},
      {"quay.io/org/x:v1@" + kDigest, "a tag next to the digest (':v1')"},
      {"quay.io/org/x:", "tag '' must be"},
      {"quay.io/org/x:-v1", "tag '-v1' must be"},
      {"quay.io/org/x:" + std::string(129, 'a'), "must be 1 to 128"},
      {"quay.io/org/x@sha512:" + std::string(128, 'a'), "the digest must be sha256:"},
      {"quay.io/org/x@sha256:" + std::string(64, 'A'), "64 lower-case hex digits"},
      {":v1", "no image name before the tag"},
      {"@" + kDigest, "no image name before the digest"},
      {"quay.io/Org/x:v1", "repository path component 'Org'"},
      {"quay.io:port/x:v1", "'quay.io:port' is not a registry host[:port]"},
      {std::string(256, 'a') + ":v1", "the name is 256 characters long, at most 255"},
  };
  for (auto &[text, want] : cases) {
    auto r = parse_image_reference(text);
    ASSERT_FALSE(r) << text;
    EXPECT_THAT(r.error(), HasSubstr(want)) << text;
  }
}

// --- labels -----------------------------------------------------------------------------------

TEST(ImageLabels, LabelsThatDisagreeWithTheManifestAreErrors) {
  auto labels = labels_from_config({{"config", {{"Labels", programs_labels({{"xdp_count", "xdp"}, {"tc_count", "tcx"}})}}}},
                                   "config");
  ASSERT_TRUE(labels) << labels.error().message;
  EXPECT_TRUE(check_image_labels(*labels, "xdp_count", ProgramType::Xdp));
  EXPECT_TRUE(check_image_labels(*labels, "tc_count", ProgramType::Tc));  // bpfman's tcx is our tc
  auto wrong_type = check_image_labels(*labels, "xdp_count", ProgramType::Kprobe);
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(wrong_type.error().message,
            "the image's labels give bpf_function 'xdp_count' type 'xdp', the manifest type 'kprobe'");
  auto absent = check_image_labels(*labels, "other", ProgramType::Xdp);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().message,
            "the image's labels do not list bpf_function 'other' (they list tc_count (tcx), xdp_count (xdp))");
  ImageLabels unknown;
  unknown.programs = {{"f", "socket_filter"}};
  auto u = check_image_labels(unknown, "f", ProgramType::Xdp);
  ASSERT_FALSE(u);
  EXPECT_THAT(u.error().message, HasSubstr("'socket_filter' is not one this reconciler knows"));
}

TEST(ImageLabels, MalformedLabelsAreRefusedNamingTheLabel) {
  const std::pair<json, std::string> cases[] = {
      {json::object(), "config: no config.Labels"},
      {{{"config", {{"Labels", {{"org.opencontainers.image.title", "x"}}}}}}, "neither label io.ebpf.programs"},
      {{{"config", {{"Labels", {{"io.ebpf.programs", "[1]"}}}}}}, "label io.ebpf.programs is not a JSON object"},
      {{{"config", {{"Labels", {{"io.ebpf.programs", "{}"}}}}}}, "label io.ebpf.programs lists no program"},
      {{{"config", {{"Labels", {{"io.ebpf.programs", R"({"f":1})"}}}}}}, "the value of 'f' is not a string"},
      {{{"config", {{"Labels", {{"io.ebpf.programs", R"({"f":"xdp"})"}, {"io.ebpf.maps", "nope"}}}}}},
       "label io.ebpf.maps is not a JSON object"},
      {{{"config", {{"Labels", {{"io.ebpf.bpf_function_name", "f"}}}}}}, "the legacy io.ebpf.bpf_function_name"},
  };
  for (auto &[config, want] : cases) {
    auto r = labels_from_config(config, "config");
    ASSERT_FALSE(r) << config.dump();
    EXPECT_THAT(r.error().message, HasSubstr(want)) << config.dump();
  }
}

// --- layouts ----------------------------------------------------------------------------------

TEST_F(ImageLayoutTest, OciManifestWithATarGzipLayerGivesTheObjectAndItsLabels) {
  const json m = layout.image(xdp, programs_labels({{"xdp_count", "xdp"}}, {{"xdp_stats_map", "array"}}));
  layout.tag(m, "v1");
  auto img = read();
  ASSERT_TRUE(img) << img.error().message;
  ASSERT_TRUE(img->object.bytes);
  EXPECT_EQ(*img->object.bytes, xdp);
  EXPECT_EQ(img->object.digest, sha256_hex(xdp));
  EXPECT_EQ(img->manifest_digest, m["digest"]);
  EXPECT_EQ(img->index_digest, "");
  EXPECT_EQ(img->form, LayerForm::TarGzip);
  EXPECT_EQ(img->object_path, "bpf_bpfel.o");
  EXPECT_FALSE(img->labels.legacy);
  EXPECT_EQ(img->labels.programs, (std::map<std::string, std::string>{{"xdp_count", "xdp"}}));
  EXPECT_EQ(img->labels.maps, (std::map<std::string, std::string>{{"xdp_stats_map", "array"}}));
  EXPECT_TRUE(check_image_labels(img->labels, "xdp_count", ProgramType::Xdp));
}

TEST_F(ImageLayoutTest, DockerV2ManifestIsRead) {
  const json layer = layout.blob(kDockerTarGzip, make_tar({{"./tc.o", tc}, {"./README", "text"}}, true));
  layout.tag(layout.manifest(layout.config(programs_labels({{"tc_count", "tc"}}), true), {layer}, true));
  auto img = read();
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(*img->object.bytes, tc);
  EXPECT_EQ(img->object_path, "tc.o");
  EXPECT_EQ(img->labels.programs.at("tc_count"), "tc");
}

TEST_F(ImageLayoutTest, AnIndexGivesTheChildOfTheAskedArchitecture) {
  for (bool docker : {false, true}) {
    TempDir t;
    Layout l(t / "layout");
    const json amd64 = l.image(xdp, programs_labels({{"xdp_count", "xdp"}}));
    const json arm64 = l.image(tc, programs_labels({{"tc_count", "tc"}}));
    const json index = l.index({{amd64, "amd64"}, {arm64, "arm64"}}, docker);
    l.tag(index);
    auto a = read_bytecode_image(l.dir(), {.architecture = "amd64"});
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(*a->object.bytes, xdp);
    EXPECT_EQ(a->manifest_digest, amd64["digest"]);
    EXPECT_EQ(a->index_digest, index["digest"]);
    auto b = read_bytecode_image(l.dir(), {.architecture = "arm64"});
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(*b->object.bytes, tc);
    EXPECT_EQ(b->manifest_digest, arm64["digest"]);
    auto none = read_bytecode_image(l.dir(), {.architecture = "s390x"});
    ASSERT_FALSE(none);
    EXPECT_THAT(none.error().message, HasSubstr("no manifest for linux/s390x (it has linux/amd64, linux/arm64)"));
  }
}

TEST(NodeArchitecture, IsTheDefaultAndNamesThisBuildsArchitecture) {
  EXPECT_EQ(ReadImageOptions{}.architecture, node_architecture());
#if defined(__x86_64__)
  EXPECT_EQ(node_architecture(), "amd64");
#elif defined(__aarch64__)
  EXPECT_EQ(node_architecture(), "arm64");
#endif
}

TEST_F(ImageLayoutTest, IndexJsonEntriesArePickedByTheirRefName) {
  const json v1 = layout.image(xdp, programs_labels({{"xdp_count", "xdp"}}));
  const json v2 = layout.image(tc, programs_labels({{"tc_count", "tc"}}));
  layout.tag(v1, "v1");
  layout.tag(v2, "v2");
  auto r = read({.ref_name = "v2"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r->object.bytes, tc);
  expect_error("2 manifests; name the one to read (org.opencontainers.image.ref.name): v1, v2");
  auto missing = read({.ref_name = "v3"});
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("no manifest named 'v3' (it lists: v1, v2)"));
}

TEST_F(ImageLayoutTest, LegacyLabelsAreRead) {
  layout.tag(layout.image(tc, {{"io.ebpf.program_name", "tc_counter"},
                               {"io.ebpf.bpf_function_name", "tc_count"},
                               {"io.ebpf.program_type", "tc"},
                               {"io.ebpf.filename", "tc_counter.bpf.o"}}));
  auto img = read();
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_TRUE(img->labels.legacy);
  EXPECT_EQ(img->labels.programs, (std::map<std::string, std::string>{{"tc_count", "tc"}}));
  EXPECT_EQ(img->labels.program_name, "tc_counter");
  EXPECT_EQ(img->labels.filename, "tc_counter.bpf.o");
  EXPECT_TRUE(check_image_labels(img->labels, "tc_count", ProgramType::Tc));
  EXPECT_FALSE(check_image_labels(img->labels, "tc_count", ProgramType::Xdp));
}

TEST_F(ImageLayoutTest, LabelsThatLieAreCaughtByCheckImageLabels) {
  // The object holds an XDP program; the labels call it a kprobe.
  layout.tag(layout.image(xdp, programs_labels({{"xdp_count", "kprobe"}})));
  auto img = read();
  ASSERT_TRUE(img) << img.error().message;
  auto ok = check_image_labels(img->labels, "xdp_count", ProgramType::Xdp);
  ASSERT_FALSE(ok);
  EXPECT_THAT(ok.error().message, HasSubstr("type 'kprobe', the manifest type 'xdp'"));
}

TEST_F(ImageLayoutTest, ATamperedBlobIsADigestMismatchNamingTheBlob) {
  const json layer = layout.blob(kOciTarGzip, make_tar({{"x.o", xdp}}, true));
  const json config = layout.config(programs_labels({{"xdp_count", "xdp"}}));
  layout.tag(layout.manifest(config, {layer}));
  ASSERT_TRUE(read());
  const std::string original = slurp(layout.blob_path(layer));
  std::string bytes = original;
  bytes[bytes.size() / 2] ^= 1;  // same size, other content
  write_file(layout.blob_path(layer), bytes);
  expect_error(fmt::format("layer blob {}: content has sha256:{}", layer["digest"].get<std::string>(), sha256_hex(bytes)));
  write_file(layout.blob_path(layer), original + "x");
  expect_error(fmt::format("is {} bytes, its descriptor says {}", original.size() + 1, original.size()));
  write_file(layout.blob_path(layer), original);
  ASSERT_TRUE(read());
  // A config altered in place (same size): its labels are not believed.
  std::string c = slurp(layout.blob_path(config));
  const auto at = c.find("xdp\\\"}");
  ASSERT_NE(at, std::string::npos) << c;
  c.replace(at, 3, "tc_");
  write_file(layout.blob_path(config), c);
  expect_error(fmt::format("config blob {}: content has sha256:", config["digest"].get<std::string>()));
}

TEST_F(ImageLayoutTest, ALayerWithoutAnObjectAtItsRootIsRefused) {
  layout.tag(layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}})),
                             {layout.blob(kOciTarGzip, make_tar({{"README", "x"}, {"sub/x.o", xdp}}, true))}));
  expect_error("no .o file at the root of the layer (only under directories: sub/x.o)");
}

TEST_F(ImageLayoutTest, TwoObjectsInALayerAreRefused) {
  layout.tag(layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}})),
                             {layout.blob(kOciTarGzip, make_tar({{"a.o", xdp}, {"./b.o", tc}}, true))}));
  expect_error("2 .o files at the root of the layer (a.o, b.o)");
}

TEST_F(ImageLayoutTest, TwoLayersAreRefused) {
  const json a = layout.blob(kOciTarGzip, make_tar({{"a.o", xdp}}, true));
  const json b = layout.blob(kOciTarGzip, make_tar({{"b.o", tc}}, true));
  layout.tag(layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}})), {a, b}));
  expect_error("2 layers; bpfman's format has exactly one");
}

TEST_F(ImageLayoutTest, AnObjectForAnotherMachineIsRefused) {
  const std::string x86 = slurp("/bin/true").substr(0, 4096);
  ASSERT_TRUE(x86.starts_with("\x7f" "ELF"));
  layout.tag(layout.image(x86, programs_labels({{"main", "xdp"}}), "true.o"));
  expect_error("tar entry 'true.o': ELF e_machine is");
  expect_error("not EM_BPF (247)");
}

TEST_F(ImageLayoutTest, AnObjectOfTheOtherByteOrderIsRefused) {
  std::string swapped = xdp;
  ASSERT_EQ(swapped[5], std::endian::native == std::endian::little ? 1 : 2);
  swapped[5] = swapped[5] == 1 ? 2 : 1;
  std::swap(swapped[18], swapped[19]);  // e_machine, read in the declared order
  std::swap(swapped[16], swapped[17]);
  layout.tag(layout.image(swapped, programs_labels({{"xdp_count", "xdp"}})));
  expect_error(std::endian::native == std::endian::little ? "a big-endian BPF object on a little-endian node"
                                                          : "a little-endian BPF object on a big-endian node");
}

TEST_F(ImageLayoutTest, ALayerOver16MiBIsRefusedBeforeItIsRead) {
  constexpr uint64_t k20MiB = 20u << 20;
  const std::string hex = std::string(64, 'b');
  const json config = layout.config(programs_labels({{"xdp_count", "xdp"}}));
  const json big = {{"mediaType", kOciTarGzip}, {"digest", "sha256:" + hex}, {"size", k20MiB}};
  layout.tag(layout.manifest(config, {big}));
  // No blob file at all: the refusal comes from the descriptor, before any open.
  expect_error(fmt::format("layer blob sha256:{}: its descriptor gives {} bytes, more than the {} accepted", hex,
                           k20MiB, kMaxBytecodeBytes));
  // A sparse 20 MiB blob under a descriptor that claims 1000 bytes: refused by its size, unread.
  TempDir t;
  Layout lying(t / "layout");
  const std::string path = lying.dir() + "/blobs/sha256/" + hex;
  write_file(path, "");
  fs::resize_file(path, k20MiB);
  const json small = {{"mediaType", kOciTarGzip}, {"digest", "sha256:" + hex}, {"size", 1000}};
  lying.tag(lying.manifest(lying.config(programs_labels({{"xdp_count", "xdp"}})), {small}));
  auto r = read_bytecode_image(lying.dir());
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr(fmt::format("is {} bytes, its descriptor says 1000", k20MiB)));
}

TEST_F(ImageLayoutTest, ATarEntryOver16MiBIsRefusedBeforeItIsRead) {
  // 17 MiB of zeros gzip to a small layer; the entry's header says its size.
  const std::string zeros(17u << 20, '\0');
  layout.tag(layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}})),
                             {layout.blob(kOciTarGzip, make_tar({{"big.o", zeros}}, true))}));
  expect_error(fmt::format("tar entry 'big.o' is {} bytes, more than the {} accepted", zeros.size(), kMaxBytecodeBytes));
}

TEST_F(ImageLayoutTest, BareGzipdAndPlainTarLayersAreRead) {
  const struct {
    std::string layer;
    const char *media_type;
    LayerForm form;
    const char *path;
  } cases[] = {
      {xdp, "application/octet-stream", LayerForm::Elf, ""},
      {make_gzip(xdp), kOciTarGzip, LayerForm::GzipElf, ""},
      {make_tar({{"x.o", xdp}}, false), kOciTar, LayerForm::Tar, "x.o"},
  };
  for (auto &c : cases) {
    TempDir t;
    Layout l(t / "layout");
    l.tag(l.manifest(l.config(programs_labels({{"xdp_count", "xdp"}})), {l.blob(c.media_type, c.layer)}));
    auto img = read_bytecode_image(l.dir());
    ASSERT_TRUE(img) << to_string(c.form) << ": " << img.error().message;
    EXPECT_EQ(img->form, c.form);
    EXPECT_EQ(*img->object.bytes, xdp);
    EXPECT_EQ(img->object_path, c.path);
  }
}

TEST_F(ImageLayoutTest, ALayerThatIsNeitherTarNorElfIsRefused) {
  layout.tag(layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}})),
                             {layout.blob(kOciTarGzip, make_gzip("just text, no ELF"))}));
  expect_error("neither a tar archive nor an ELF object");
}

TEST(ImageLayout, ADirectoryThatIsNoLayoutIsNotFound) {
  TempDir t;
  auto r = read_bytecode_image(t.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::NotFound);
  EXPECT_THAT(r.error().message, HasSubstr("(not an OCI image layout)"));
}

}  // namespace
}  // namespace bpfrec

// --- pulls: skopeo's command line and its dir: output ---------------------------------------

namespace bpfrec {
namespace {

TEST(SkopeoPull, ArgvCopiesEveryPlatformToADirWithoutRetries) {
  auto ref = parse_image_reference("quay.io/org/xdp@" + kDigest);
  ASSERT_TRUE(ref);
  EXPECT_EQ(skopeo_pull_argv({"skopeo", "/var/lib/kubelet/config.json", "/state/pulls/1/tmp"}, *ref, "/state/pulls/1/image"),
            (std::vector<std::string>{"skopeo", "--tmpdir", "/state/pulls/1/tmp", "copy", "--quiet", "--retry-times",
                                      "0", "--multi-arch", "all", "--src-authfile", "/var/lib/kubelet/config.json",
                                      "docker://quay.io/org/xdp@" + kDigest, "dir:/state/pulls/1/image"}));
  auto tag = parse_image_reference("localhost:5000/x:v1");
  ASSERT_TRUE(tag);
  EXPECT_EQ(skopeo_pull_argv({"/usr/bin/skopeo", "", ""}, *tag, "/d"),
            (std::vector<std::string>{"/usr/bin/skopeo", "copy", "--quiet", "--retry-times", "0", "--multi-arch", "all",
                                      "docker://localhost:5000/x:v1", "dir:/d"}));
}

TEST(SkopeoPull, ATransientUnitWrapsTheCommandWithNetworkAndWithoutCapabilities) {
  const std::vector<std::string> argv = systemd_run_argv(
      {"bpfman-reconciler-pull-1-2.service", "/var/lib/bpfman-reconciler/pulls/2", 90'500'000, "pull x"},
      {"skopeo", "copy", "docker://x:1", "dir:/d"});
  auto at = [&](const std::string &a) { return std::find(argv.begin(), argv.end(), a); };
  ASSERT_GE(argv.size(), 12u);
  EXPECT_EQ(argv[0], "systemd-run");
  for (const char *flag : {"--wait", "--pipe", "--collect", "--quiet", "--service-type=exec",
                           "--unit=bpfman-reconciler-pull-1-2.service", "--description=pull x"})
    EXPECT_NE(at(flag), argv.end()) << flag;
  for (const char *prop : {"CapabilityBoundingSet=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=tmpfs",
                           "ReadWritePaths=/var/lib/bpfman-reconciler/pulls/2",
                           "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RuntimeMaxSec=91"}) {
    const auto p = at(prop);
    ASSERT_NE(p, argv.end()) << prop;
    EXPECT_EQ(*(p - 1), "-p") << prop;
  }
  // The command follows "--", unchanged, last.
  const auto dashes = at("--");
  ASSERT_NE(dashes, argv.end());
  EXPECT_EQ(std::vector<std::string>(dashes + 1, argv.end()),
            (std::vector<std::string>{"skopeo", "copy", "docker://x:1", "dir:/d"}));
}

// The transient unit's properties as a unit file, scored by systemd-analyze security (offline):
// what the pull may do stays small, and it is the only part of the daemon with IP sockets.
TEST(SkopeoPull, TheTransientUnitsExposureIsLow) {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0) GTEST_SKIP() << "systemd-analyze not found";
  const std::vector<std::string> argv = systemd_run_argv(
      {"bpfman-reconciler-pull-1-1.service", "/var/lib/bpfman-reconciler/pulls/1", 120'000'000, ""},
      {"/usr/bin/skopeo", "copy", "docker://x:1", "dir:/var/lib/bpfman-reconciler/pulls/1/image"});
  std::string unit = "[Service]\nType=exec\nExecStart=/usr/bin/skopeo copy docker://x:1 dir:/d\n";
  for (size_t i = 0; i + 1 < argv.size() && argv[i] != "--"; ++i)
    if (argv[i] == "-p") unit += argv[i + 1] + "\n";
  TempDir tmp;
  const std::string path = tmp / "bpfman-reconciler-pull-1-1.service";
  write_file(path, unit);
  FILE *p = ::popen(("systemd-analyze security --offline=yes --no-pager " + path + " 2>&1").c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  const auto at = out.find("Overall exposure level for bpfman-reconciler-pull-1-1.service: ");
  ASSERT_NE(at, std::string::npos) << out;
  const double exposure = std::stod(out.substr(at + std::string("Overall exposure level for bpfman-reconciler-pull-1-1.service: ").size()));
  std::fprintf(stderr, "[systemd] exposure of a transient pull unit: %.1f\n", exposure);
  EXPECT_LE(exposure, 2.0) << out;
  EXPECT_NE(unit.find("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"), std::string::npos);
  EXPECT_NE(unit.find("CapabilityBoundingSet=\n"), std::string::npos);
}

TEST(SkopeoPull, TheTransientUnitGetsTheDaemonsProxyAndContainersSettings) {
  const std::map<std::string, std::string> env = {{"HTTPS_PROXY", "http://proxy.example:3128"},
                                                  {"NO_PROXY", ".cluster.local,10.0.0.0/8"},
                                                  {"CONTAINERS_REGISTRIES_CONF", "/etc/bpfman/registries.conf"},
                                                  {"PATH", "/usr/bin"}};
  const auto picked = pull_environment([&](const char *name) -> const char * {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  EXPECT_EQ(picked, (std::vector<std::string>{"HTTPS_PROXY=http://proxy.example:3128", "NO_PROXY=.cluster.local,10.0.0.0/8",
                                              "CONTAINERS_REGISTRIES_CONF=/etc/bpfman/registries.conf"}));
  const auto argv = systemd_run_argv({"u.service", "/w", 1'000'000, "", picked}, {"skopeo"});
  const auto dashes = std::find(argv.begin(), argv.end(), "--");
  for (const auto &e : picked) EXPECT_NE(std::find(argv.begin(), dashes, "--setenv=" + e), dashes) << e;
}

TEST(SkopeoPull, AuthfileIsTheGivenOneElseTheKubeletsWhenItExists) {
  TempDir tmp;
  const std::string kubelet = tmp / "config.json";
  EXPECT_EQ(effective_authfile("/etc/auth.json", kubelet), "/etc/auth.json");
  EXPECT_EQ(effective_authfile("", kubelet), "") << "no kubelet file: skopeo's own lookup";
  write_file(kubelet, "{}");
  EXPECT_EQ(effective_authfile("", kubelet), kubelet);
}

// The directory `skopeo copy docker://REF dir:OUT` writes for the image `top` of `layout`
// (containers-image's directory transport 1.1): manifest.json, each index child as
// <hex>.manifest.json, every other blob as <hex>, and its `version` file.
void write_dir_transport(const Layout &layout, const json &top, const std::vector<json> &children,
                         const std::string &out) {
  fs::create_directories(out);
  for (const auto &e : fs::directory_iterator(layout.dir() + "/blobs/sha256"))
    fs::copy_file(e.path(), out + "/" + e.path().filename().string());
  fs::rename(layout.blob_path(top), out + "/manifest.json");
  fs::remove(out + "/" + top["digest"].get<std::string>().substr(7));
  for (const auto &c : children) {
    const std::string hex = c["digest"].get<std::string>().substr(7);
    fs::rename(out + "/" + hex, out + "/" + hex + ".manifest.json");
  }
  write_file(out + "/version", "Directory Transport Version: 1.1\n");
}

TEST_F(ImageLayoutTest, APulledDirGivesTheObjectAndTheRegistrysDigest) {
  const json m = layout.image(xdp, programs_labels({{"xdp_count", "xdp"}}));
  const std::string out = tmp / "pulled";
  write_dir_transport(layout, m, {}, out);
  auto ref = parse_image_reference("quay.io/org/xdp@" + m["digest"].get<std::string>());
  ASSERT_TRUE(ref);
  auto p = read_pulled_dir(out, *ref);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->digest, m["digest"]);
  EXPECT_EQ(*p->image.object.bytes, xdp);
  EXPECT_EQ(p->image.labels.programs.at("xdp_count"), "xdp");
}

TEST_F(ImageLayoutTest, APulledDockerListGivesTheNodesChildAndTheListsDigest) {
  const json amd64 = layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}}), true),
                                     {layout.blob(kDockerTarGzip, make_tar({{"a.o", xdp}}, true))}, true);
  const json arm64 = layout.manifest(layout.config(programs_labels({{"tc_count", "tc"}}), true),
                                     {layout.blob(kDockerTarGzip, make_tar({{"b.o", tc}}, true))}, true);
  const json list = layout.index({{amd64, "amd64"}, {arm64, "arm64"}}, /*docker=*/true);
  const std::string out = tmp / "pulled";
  write_dir_transport(layout, list, {amd64, arm64}, out);
  auto ref = parse_image_reference("quay.io/org/xdp:v1");
  ASSERT_TRUE(ref);
  auto p = read_pulled_dir(out, *ref, {.architecture = "arm64"});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->digest, list["digest"]) << "a tag records the list's digest, as the registry serves it";
  EXPECT_EQ(*p->image.object.bytes, tc);
  EXPECT_EQ(p->image.manifest_digest, arm64["digest"]);
}

TEST_F(ImageLayoutTest, APulledDirWithAnotherDigestOrNoManifestIsRefused) {
  const json m = layout.image(xdp, programs_labels({{"xdp_count", "xdp"}}));
  const std::string out = tmp / "pulled";
  write_dir_transport(layout, m, {}, out);
  auto ref = parse_image_reference("quay.io/org/xdp@" + kDigest);
  ASSERT_TRUE(ref);
  auto p = read_pulled_dir(out, *ref);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind(), ErrorKind::Invalid);
  EXPECT_THAT(p.error().message, HasSubstr("the manifest's digest is " + m["digest"].get<std::string>() + ", not the " +
                                           kDigest + " asked for"));
  auto none = read_pulled_dir(tmp / "nothing", *ref);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::NotFound) << none.error().message;
}

TEST_F(ImageLayoutTest, APulledDirWithATamperedBlobIsADigestMismatch) {
  const json layer = layout.blob(kOciTarGzip, make_tar({{"x.o", xdp}}, true));
  const json m = layout.manifest(layout.config(programs_labels({{"xdp_count", "xdp"}})), {layer});
  const std::string out = tmp / "pulled";
  write_dir_transport(layout, m, {}, out);
  const std::string hex = layer["digest"].get<std::string>().substr(7);
  std::string bytes = make_tar({{"x.o", tc}}, true);
  bytes.resize(layer["size"].get<size_t>(), '\0');
  write_file(out + "/" + hex, bytes);
  auto ref = parse_image_reference("quay.io/org/xdp:v1");
  ASSERT_TRUE(ref);
  auto p = read_pulled_dir(out, *ref);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind(), ErrorKind::Invalid);
  EXPECT_THAT(p.error().message, HasSubstr(hex)) << p.error().message;
}

}  // namespace
}  // namespace bpfrec
