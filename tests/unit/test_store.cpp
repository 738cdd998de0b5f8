// The state directory's stores (store/object_store.h, store/image_store.h) on /tmp, and image
// bytecode resolved by load_desired() from them (issue 14): resolved, waiting for a pull,
// failed, Never, labels that disagree with the manifest, and the planner keeping what runs.
#include "store/image_store.h"
#include "store/object_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "load/desired.h"
#include "load/files.h"
#include "reconcile/plan.h"
#include "temp_dir.h"
#include "util/sha256.h"

namespace bpfrec {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::TempDir;
using testing_util::write_file;

std::string bpf_obj(std::string_view name) { return fmt::format("{}/{}.bpf.o", BPF_OBJ_DIR, name); }

Bytecode bytes_of(std::string s) {
  Bytecode b;
  b.digest = sha256_hex(s);
  b.bytes = std::make_shared<const std::string>(std::move(s));
  return b;
}

TEST(ObjectStore, PutGetAndCollect) {
  TempDir tmp;
  ObjectStore store(tmp / "state/bytecode/sha256");
  ASSERT_TRUE(store.open());
  const Bytecode a = bytes_of("object a"), b = bytes_of("object b");
  ASSERT_TRUE(store.put(a));
  ASSERT_TRUE(store.put(b));
  ASSERT_TRUE(store.put(a));  // again: same name, same bytes, nothing written
  struct stat st {};
  ASSERT_EQ(::stat(store.path_of(a.digest).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  auto got = store.get(a.digest);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got->bytes, "object a");
  EXPECT_EQ(got->digest, a.digest);

  auto listed = store.list();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 2u);
  write_file(tmp / "state/bytecode/sha256/README", "not an object");  // left alone
  auto removed = store.collect({b.digest});
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_FALSE(fs::exists(store.path_of(a.digest)));
  EXPECT_TRUE(fs::exists(store.path_of(b.digest)));
  EXPECT_TRUE(fs::exists(tmp / "state/bytecode/sha256/README"));
  auto gone = store.get(a.digest);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind(), ErrorKind::NotFound);
}

TEST(ObjectStore, CorruptCopyIsRemovedNotReturned) {
  TempDir tmp;
  ObjectStore store(tmp / "objects");
  ASSERT_TRUE(store.open());
  const Bytecode a = bytes_of("the reviewed object");
  ASSERT_TRUE(store.put(a));
  write_file(store.path_of(a.digest), "other bytes");  // a disk error, or someone's edit
  auto got = store.get(a.digest);
  ASSERT_FALSE(got);
  EXPECT_THAT(got.error().message, HasSubstr("is corrupt"));
  EXPECT_FALSE(fs::exists(store.path_of(a.digest)));
}

TEST(ObjectStore, OpenRemovesTemporaryFilesOfACrash) {
  TempDir tmp;
  write_file(tmp / "objects/.tmp-abc-123", "half");
  ObjectStore store(tmp / "objects");
  ASSERT_TRUE(store.open());
  EXPECT_FALSE(fs::exists(tmp / "objects/.tmp-abc-123"));
}

// After a restart the in-memory BytecodeStore is empty: the disk copy gives the recorded
// bytes even when the path now holds others (issue 14: the path-bytecode race).
TEST(BytecodeStore, DiskCopyWinsOverAChangedPathAfterARestart) {
  TempDir tmp;
  ObjectStore disk(tmp / "objects");
  ASSERT_TRUE(disk.open());
  const std::string path = tmp / "prog.o";
  write_file(path, "version 1");
  auto v1 = read_bytecode(path);
  ASSERT_TRUE(v1);
  {
    BytecodeStore mem;
    mem.set_disk(&disk);
    ASSERT_TRUE(mem.put(*v1));
  }
  write_file(path, "version 2");
  BytecodeStore restarted;
  restarted.set_disk(&disk);
  auto got = restarted.get(v1->digest, path);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got->bytes, "version 1");
  // Without the disk copy the changed path is refused, as before.
  BytecodeStore memory_only;
  auto refused = memory_only.get(v1->digest, path);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("changed since it was loaded"));
}

ImageEntry entry_for(const std::string &reference, const std::string &object_sha256,
                     std::map<std::string, std::string> programs) {
  ImageEntry e;
  e.reference = reference;
  e.digest = "sha256:" + std::string(64, 'd');
  e.object_sha256 = object_sha256;
  e.object_path = "xdp_counter.bpf.o";
  e.pulled_at = "2026-12-04T05:00:00Z";
  e.labels.programs = std::move(programs);
  e.labels.maps = {{"counts", "array"}};
  return e;
}

TEST(ImageStore, EntriesSurviveAReopen) {
  TempDir tmp;
  const std::string ref = "127.0.0.1:5000/bytecode/xdp:v1";
  {
    ImageStore store(tmp / "images");
    ASSERT_TRUE(store.open());
    ASSERT_TRUE(store.put(entry_for(ref, std::string(64, 'a'), {{"xdp_count", "xdp"}})));
  }
  ImageStore again(tmp / "images");
  auto skipped = again.open();
  ASSERT_TRUE(skipped);
  EXPECT_THAT(*skipped, IsEmpty());
  const ImageEntry *e = again.find(ref);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->digest, "sha256:" + std::string(64, 'd'));
  EXPECT_EQ(e->object_sha256, std::string(64, 'a'));
  EXPECT_EQ(e->labels.programs.at("xdp_count"), "xdp");
  EXPECT_EQ(e->labels.maps.at("counts"), "array");
  EXPECT_EQ(e->pulled_at, "2026-12-04T05:00:00Z");
  EXPECT_EQ(again.objects(), std::set<std::string>{std::string(64, 'a')});
  auto removed = again.collect({});
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 1u);
  EXPECT_EQ(again.find(ref), nullptr);
  EXPECT_FALSE(fs::exists(again.path_of(ref)));
}

TEST(ImageStore, MalformedOrMisplacedEntriesAreSkippedAndListed) {
  TempDir tmp;
  ImageStore store(tmp / "images");
  ASSERT_TRUE(store.open());
  const std::string ref = "quay.io/x/y:v1";
  write_file(store.path_of(ref), "{ not json");
  // A good entry under another reference's name.
  write_file(store.path_of("quay.io/x/z:v2"), image_entry_to_json(entry_for(ref, std::string(64, 'b'), {{"f", "xdp"}})));
  auto skipped = store.open();
  ASSERT_TRUE(skipped);
  ASSERT_EQ(skipped->size(), 2u);
  EXPECT_THAT((*skipped)[0] + (*skipped)[1], HasSubstr("belongs in"));
  EXPECT_TRUE(store.entries().empty());
}

// --- load_desired() with image bytecode --------------------------------------------------

constexpr std::string_view kRef = "127.0.0.1:5000/bytecode/xdp_counter:v1";

// Line 5: the bytecode table (image value at column 22).
std::string image_manifest(std::string_view name, std::string_view policy = "", std::string_view ref = kRef) {
  return fmt::format(
      "[[program]]\n"
      "name = \"{}\"\n"
      "type = \"xdp\"\n"
      "bpf_function = \"xdp_count\"\n"
      "bytecode = {{ image = \"{}\"{} }}\n"
      "[[program.attach]]\n"
      "interface = \"eth0\"\n",
      name, ref, policy.empty() ? "" : fmt::format(", pull_policy = \"{}\"", policy));
}

class ImageDesiredTest : public testing_util::ProgramsDirsTest {
 protected:
  ObjectStore objects{tmp / "state/bytecode/sha256"};
  ImageStore images{tmp / "state/images"};
  ImageSources sources{&images, &objects, {}};

  void SetUp() override {
    ProgramsDirsTest::SetUp();
    ASSERT_TRUE(objects.open());
    ASSERT_TRUE(images.open());
  }
  // Stores the real xdp_counter object as the image `ref` with `programs` labels.
  std::string pulled(std::map<std::string, std::string> programs = {{"xdp_count", "xdp"}},
                     std::string ref = std::string(kRef)) {
    auto code = read_bytecode(bpf_obj("xdp_counter"));
    EXPECT_TRUE(code);
    EXPECT_TRUE(objects.put(*code));
    EXPECT_TRUE(images.put(entry_for(ref, code->digest, std::move(programs))));
    return code->digest;
  }
};

TEST_F(ImageDesiredTest, PulledImageIsLoadedFromTheStoreCopy) {
  const std::string digest = pulled();
  write_file(etc + "/10-img.toml", image_manifest("img"));
  auto d = load_desired(dirs, {}, nullptr, &sources);
  ASSERT_EQ(d.programs.size(), 1u);
  EXPECT_THAT(d.waiting, IsEmpty());
  EXPECT_THAT(d.pulls, IsEmpty());
  const ProgramSpec &p = d.programs[0];
  EXPECT_EQ(p.bytecode_path, objects.path_of(digest));
  EXPECT_EQ(p.bytecode_digest, digest);
  EXPECT_EQ(p.image_digest, "sha256:" + std::string(64, 'd'));
  EXPECT_EQ(p.image_pulled_at, "2026-12-04T05:00:00Z");
  ASSERT_TRUE(p.bytecode_bytes);
}

TEST_F(ImageDesiredTest, ImageNotInTheStoreWaitsForItsPullAndOthersGoOn) {
  write_file(etc + "/10-img.toml", image_manifest("img"));
  write_file(etc + "/20-path.toml",
             fmt::format("[[program]]\nname = \"path\"\ntype = \"xdp\"\nbpf_function = \"xdp_count\"\n"
                         "bytecode = {{ path = \"{}\" }}\n[[program.attach]]\ninterface = \"eth1\"\n",
                         bpf_obj("xdp_counter")));
  auto d = load_desired(dirs, {}, nullptr, &sources);
  ASSERT_EQ(d.programs.size(), 1u);
  EXPECT_EQ(d.programs[0].name, "path");
  ASSERT_EQ(d.waiting.size(), 1u);
  EXPECT_EQ(d.waiting[0].name, "img");
  EXPECT_FALSE(d.waiting[0].failed);
  EXPECT_EQ(d.waiting[0].reason, fmt::format("pulling {}", kRef));
  EXPECT_THAT(d.pulls, ElementsAre(std::string(kRef)));
  for (auto &m : d.manifests) EXPECT_EQ(m.state, ManifestState::Ok) << m.path;

  sources.failed[std::string(kRef)] = "pull 127.0.0.1:5000/...: connection refused";
  d = load_desired(dirs, {}, nullptr, &sources);
  ASSERT_EQ(d.waiting.size(), 1u);
  EXPECT_TRUE(d.waiting[0].failed);
  EXPECT_EQ(d.waiting[0].reason, "pull 127.0.0.1:5000/...: connection refused");
  EXPECT_THAT(d.pulls, IsEmpty());  // retried by the daemon's timer, not by every reconcile
}

TEST_F(ImageDesiredTest, NeverPullsAndFailsWhenTheStoreLacksIt) {
  write_file(etc + "/10-img.toml", image_manifest("img", "Never"));
  auto d = load_desired(dirs, {}, nullptr, &sources);
  ASSERT_EQ(d.waiting.size(), 1u);
  EXPECT_TRUE(d.waiting[0].failed);
  EXPECT_THAT(d.waiting[0].reason, HasSubstr("pull_policy is Never"));
  EXPECT_THAT(d.pulls, IsEmpty());
  pulled();
  d = load_desired(dirs, {}, nullptr, &sources);
  EXPECT_EQ(d.programs.size(), 1u);  // a stored image is used, whatever the policy
}

TEST_F(ImageDesiredTest, LabelsThatDisagreeAreAnErrorAtBytecode) {
  pulled({{"xdp_count", "tc"}});
  const std::string path = etc + "/10-img.toml";
  write_file(path, image_manifest("img"));
  auto d = load_desired(dirs, {}, nullptr, &sources);
  EXPECT_THAT(d.programs, IsEmpty());
  ASSERT_EQ(d.manifests.size(), 1u);
  EXPECT_EQ(d.manifests[0].state, ManifestState::Invalid);
  ASSERT_EQ(d.manifests[0].errors.size(), 1u);
  EXPECT_EQ(d.manifests[0].errors[0].pos.line, 5u);
  EXPECT_EQ(d.manifests[0].errors[0].pos.column, 22u);
  EXPECT_THAT(d.manifests[0].errors[0].message, HasSubstr(fmt::format("image {}: ", kRef)));
}

TEST_F(ImageDesiredTest, WithoutStoresImageProgramsAreNotCheckedOffline) {
  write_file(etc + "/10-img.toml", image_manifest("img"));
  auto d = load_desired(dirs);
  EXPECT_THAT(d.programs, IsEmpty());
  ASSERT_EQ(d.waiting.size(), 1u);
  EXPECT_FALSE(d.waiting[0].failed);
  EXPECT_THAT(d.pulls, IsEmpty());
  EXPECT_EQ(d.manifests[0].state, ManifestState::Ok);
}

// A program whose new image is not pulled yet keeps running: the plan keeps it.
TEST(PlanWaiting, RunningProgramWhoseImageIsPulledIsKept) {
  DesiredState d;
  d.manifests.push_back({"10-img.toml", "/etc/bpfman/programs.d/10-img.toml", ManifestState::Ok, {}, {}, {}});
  d.waiting.push_back({"img", "/etc/bpfman/programs.d/10-img.toml", std::string(kRef), ProgramType::Xdp, false, true,
                       fmt::format("pulling {}", kRef)});
  ObservedState o;
  ObservedProgram running;
  running.name = "img";
  running.manifest_name = "10-img.toml";
  running.intact = true;
  o.programs.emplace("img", running);
  auto changes = plan(d, o);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::Keep);
  EXPECT_TRUE(changes[0].kept_last_good);
  EXPECT_THAT(changes[0].reason, HasSubstr("pulling"));
  // Without the waiting entry the same observation is removed.
  d.waiting.clear();
  changes = plan(d, o);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::Remove);
}

}  // namespace
}  // namespace bpfrec
