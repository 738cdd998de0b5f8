// load_desired() / load_files(): manifests read from temporary programs.d trees, checked against
// the real objects built in bpf/ (inspected with libbpf, never loaded).
#include "load/desired.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>


#include "file_digest.h"
#include "temp_dir.h"

namespace bpfrec {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

using testing_util::TempDir;
using testing_util::write_file;

std::string bpf_obj(std::string_view name) { return fmt::format("{}/{}.bpf.o", BPF_OBJ_DIR, name); }

std::string digest_of(const std::string &path) {
  auto d = sha256_file(path);
  EXPECT_TRUE(d) << d.error().message;
  return d ? *d : std::string();
}

// A one-program manifest. Line 2: name (value at column 8); line 4: bpf_function (column 16);
// line 5: bytecode (path value at column 21); line 6: `extra`; then one attach point.
std::string manifest(std::string_view name, std::string_view type, std::string_view function,
                     std::string_view bytecode, std::string_view extra = "") {
  return fmt::format(
      "[[program]]\n"
      "name = \"{}\"\n"
      "type = \"{}\"\n"
      "bpf_function = \"{}\"\n"
      "bytecode = {{ path = \"{}\" }}\n"
      "{}\n"
      "[[program.attach]]\n"
      "{}\n",
      name, type, function, bytecode, extra,
      type == "xdp" ? "interface = \"eth0\"" : type == "tc" ? "interface = \"eth0\"\ndirection = \"egress\""
                                                           : "tracepoint = \"sched/sched_switch\"");
}

std::string xdp_manifest(std::string_view name, std::string_view extra = "") {
  return manifest(name, "xdp", "xdp_count", bpf_obj("xdp_counter"), extra);
}

// With the bytecode as a sub-table: line 6 `path = "..."` (value at column 8), line 7
// `sha256 = "..."` (value at column 10).
std::string xdp_manifest_with_sha(std::string_view name, const std::string &object, std::string_view sha) {
  return fmt::format(
      "[[program]]\n"
      "name = \"{}\"\n"
      "type = \"xdp\"\n"
      "bpf_function = \"xdp_count\"\n"
      "[program.bytecode]\n"
      "path = \"{}\"\n"
      "sha256 = \"{}\"\n"
      "[[program.attach]]\n"
      "interface = \"eth0\"\n",
      name, object, sha);
}

std::string at(const std::string &path, uint32_t line, uint32_t col, std::string_view msg) {
  return fmt::format("{}:{}:{}: error: {}", path, line, col, msg);
}

std::vector<std::string> strs(const std::vector<Diagnostic> &ds) {
  std::vector<std::string> out;
  for (auto &d : ds) out.push_back(d.str());
  return out;
}

std::vector<std::string> names(const std::vector<ProgramSpec> &ps) {
  std::vector<std::string> out;
  for (auto &p : ps) out.push_back(p.name);
  return out;
}

class DesiredTest : public testing_util::ProgramsDirsTest {
 protected:
  // The single manifest entry named `name`, that is not Overridden.
  const ManifestEntry &entry(const DesiredState &d, std::string_view name) {
    for (auto &m : d.manifests)
      if (m.name == name && m.state != ManifestState::Overridden) return m;
    throw std::runtime_error(fmt::format("no manifest {}", name));
  }
};

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(DesiredTest, NothingToLoad) {
  auto d = load_desired(dirs);
  EXPECT_THAT(d.manifests, IsEmpty());
  EXPECT_THAT(d.programs, IsEmpty());
  EXPECT_THAT(d.invalid_manifest_names(), IsEmpty());
}

TEST_F(DesiredTest, BadManifestNextToGoodOnes) {
  write_file(lib + "/10-good.toml", xdp_manifest("one"));
  const auto bad = lib + "/20-bad.toml";
  write_file(bad, "[[program]]\nname = \"two\"\ntype = \"xdp\"\nbpf_function = \"xdp_count\"\n"
                  "bytecode = { path = \"" + bpf_obj("xdp_counter") + "\" }\ncolour = \"red\"\n"
                  "[[program.attach]]\ninterface = \"eth0\"\npriority = 1001\n");
  write_file(etc + "/30-good.toml", manifest("three", "tc", "tc_count", bpf_obj("tc_counter")));

  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(3));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Ok);
  EXPECT_EQ(d.manifests[1].state, ManifestState::Invalid);
  EXPECT_EQ(d.manifests[2].state, ManifestState::Ok);
  EXPECT_THAT(d.manifests[0].errors, IsEmpty());
  EXPECT_THAT(d.manifests[2].errors, IsEmpty());
  EXPECT_THAT(strs(d.manifests[1].errors),
              ElementsAre(at(bad, 6, 1,
                             "unknown key 'colour' in [[program]] (expected one of: name, type, bpf_function, "
                             "bytecode, global_data, metadata, map_group, map_owner, attach)"),
                          at(bad, 9, 12, "'priority' = 1001 is out of range 0..1000")));
  EXPECT_THAT(d.invalid_manifest_names(), ElementsAre("20-bad.toml"));

  EXPECT_THAT(names(d.programs), ElementsAre("one", "three"));
  EXPECT_EQ(d.programs[0].manifest, lib + "/10-good.toml");
  EXPECT_EQ(d.programs[0].bytecode_digest, digest_of(bpf_obj("xdp_counter")));
  EXPECT_EQ(d.programs[1].manifest, etc + "/30-good.toml");
  EXPECT_EQ(d.programs[1].type, ProgramType::Tc);
  EXPECT_EQ(d.programs[1].bytecode_digest, digest_of(bpf_obj("tc_counter")));
  EXPECT_NE(d.programs[0].bytecode_digest, d.programs[1].bytecode_digest);
}

TEST_F(DesiredTest, EveryBuiltObjectLoads) {
  write_file(lib + "/a.toml", manifest("a", "xdp", "xdp_count", bpf_obj("xdp_counter"),
                                       "global_data = { sample_every = 4 }"));
  write_file(lib + "/b.toml", manifest("b", "tc", "tc_count", bpf_obj("tc_counter")));
  write_file(lib + "/c.toml", manifest("c", "tracepoint", "tracepoint_count", bpf_obj("tracepoint_counter")));
  write_file(lib + "/d.toml", fmt::format("[[program]]\nname = \"d\"\ntype = \"uretprobe\"\nbpf_function = "
                                          "\"uprobe_count\"\nbytecode = {{ path = \"{}\" }}\n[[program.attach]]\n"
                                          "target = \"/usr/bin/bash\"\nfunction = \"readline\"\n",
                                          bpf_obj("uprobe_counter")));
  auto d = load_desired(dirs);
  for (auto &m : d.manifests) EXPECT_THAT(strs(m.errors), IsEmpty()) << m.path;
  EXPECT_THAT(names(d.programs), ElementsAre("a", "b", "c", "d"));
  for (auto &p : d.programs) {
    EXPECT_EQ(p.bytecode_digest, digest_of(p.bytecode_path)) << p.name;
    EXPECT_EQ(p.bytecode_digest.size(), 64u);
  }
}

TEST_F(DesiredTest, MissingBytecodeIsPositionedAtThePath) {
  const auto m = lib + "/a.toml", object = tmp / "missing.bpf.o";
  write_file(m, manifest("a", "xdp", "xdp_count", object));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Invalid);
  EXPECT_THAT(strs(d.manifests[0].errors),
              ElementsAre(at(m, 5, 21, "bytecode open " + object + ": No such file or directory")));
  EXPECT_THAT(d.programs, IsEmpty());
}

TEST_F(DesiredTest, BytecodeThatIsNotABpfObject) {
  const auto m = lib + "/a.toml", object = std::string(TEST_DATA_DIR) + "/objects/not-bpf.o";
  write_file(m, manifest("a", "xdp", "xdp_count", object));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Invalid);
  ASSERT_THAT(d.manifests[0].errors, SizeIs(1));
  EXPECT_THAT(d.manifests[0].errors[0].str(), StartsWith(at(m, 5, 21, "open BPF object " + object + ": ")));
}

TEST_F(DesiredTest, Sha256MismatchIsPositionedAtTheDeclaredValue) {
  const auto m = lib + "/a.toml", object = bpf_obj("xdp_counter");
  const std::string zeros(64, '0');
  write_file(m, xdp_manifest_with_sha("a", object, zeros));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Invalid);
  EXPECT_THAT(strs(d.manifests[0].errors),
              ElementsAre(at(m, 7, 10,
                             fmt::format("sha256 mismatch for {}: declared {}, file has {}", object, zeros,
                                         digest_of(object)))));
  EXPECT_THAT(d.programs, IsEmpty());
}

TEST_F(DesiredTest, Sha256MatchIsAccepted) {
  const auto object = bpf_obj("xdp_counter");
  write_file(lib + "/a.toml", xdp_manifest_with_sha("a", object, digest_of(object)));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.programs, SizeIs(1));
  EXPECT_EQ(d.programs[0].bytecode_sha256, digest_of(object));
  EXPECT_EQ(d.programs[0].bytecode_digest, digest_of(object));
}

TEST_F(DesiredTest, ObjectValidationErrorsMakeTheManifestInvalid) {
  const auto m = lib + "/a.toml";
  write_file(m, manifest("a", "tc", "xdp_count", bpf_obj("xdp_counter"), "global_data = { sample_every = -1 }"));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Invalid);
  EXPECT_THAT(strs(d.manifests[0].errors),
              ElementsAre(at(m, 4, 16,
                             "bpf_function 'xdp_count' is in section \"xdp\" (a xdp program), which does not match "
                             "type = \"tc\" (needs a section tc, tc/*, classifier, classifier/*, tcx, tcx/*, or one "
                             "that names no program type)"),
                          at(m, 6, 32, "global_data 'sample_every' = -1 does not fit its type (unsigned 32-bit)")));
  EXPECT_THAT(d.invalid_manifest_names(), ElementsAre("a.toml"));
}

TEST_F(DesiredTest, ValidationErrorsAreSortedByPosition) {
  // Both overrides are unknown to the object; the diagnostics should come in file order.
  const auto m = lib + "/a.toml", object = bpf_obj("xdp_counter");
  write_file(m, xdp_manifest("a", "global_data = { zz = 1, aa = 2 }"));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  auto got = strs(d.manifests[0].errors);
  const auto zz = at(m, 6, 22, "global_data 'zz' is not a .rodata or .data variable of " + object),
             aa = at(m, 6, 30, "global_data 'aa' is not a .rodata or .data variable of " + object);
  EXPECT_THAT(got, ElementsAre(zz, aa));
}

TEST_F(DesiredTest, ErrorsOfEveryProgramInAFileAreReported) {
  const auto m = lib + "/a.toml", missing = tmp / "nope.bpf.o";
  write_file(m, manifest("a", "xdp", "xdp_cnt", bpf_obj("xdp_counter")) + manifest("b", "xdp", "xdp_count", missing));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  EXPECT_THAT(strs(d.manifests[0].errors),
              ElementsAre(at(m, 4, 16, "bpf_function 'xdp_cnt' is not in " + bpf_obj("xdp_counter") +
                                           " (it has: xdp_count)"),
                          at(m, 13, 21, "bytecode open " + missing + ": No such file or directory")));
}

TEST_F(DesiredTest, DuplicateProgramNameAcrossFiles) {
  // Byte order of base name decides which file keeps the name, not directory precedence.
  const auto first = lib + "/a.toml", second = etc + "/b.toml";
  write_file(first, xdp_manifest("dup"));
  write_file(second, xdp_manifest("fresh") + xdp_manifest("dup"));
  write_file(run + "/c.toml", xdp_manifest("other"));
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(3));
  EXPECT_EQ(entry(d, "a.toml").state, ManifestState::Ok);
  EXPECT_EQ(entry(d, "b.toml").state, ManifestState::Invalid);
  EXPECT_EQ(entry(d, "c.toml").state, ManifestState::Ok);
  EXPECT_THAT(strs(entry(d, "b.toml").errors),
              ElementsAre(at(second, 10, 8, "duplicate program name 'dup' (first declared at " + first + ":2:8)")));
  EXPECT_THAT(names(d.programs), ElementsAre("dup", "other"));
  EXPECT_EQ(d.programs[0].manifest, first);
  EXPECT_THAT(d.invalid_manifest_names(), ElementsAre("b.toml"));
}

TEST_F(DesiredTest, OverriddenAndMaskedManifestsAreNotRead) {
  write_file(etc + "/a.toml", xdp_manifest("from-etc"));
  write_file(lib + "/a.toml", "this is not [ toml");      // overridden: never parsed
  write_file(etc + "/m.toml", "");                        // masks the /run file
  write_file(run + "/m.toml", xdp_manifest("masked-one"));
  write_file(lib + "/z.toml", xdp_manifest("from-etc"));  // same name, but lower in byte order
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(5));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Ok);
  EXPECT_EQ(d.manifests[1].state, ManifestState::Overridden);
  EXPECT_EQ(d.manifests[1].overridden_by, etc + "/a.toml");
  EXPECT_THAT(d.manifests[1].errors, IsEmpty());
  EXPECT_EQ(d.manifests[2].state, ManifestState::Masked);
  EXPECT_EQ(d.manifests[3].state, ManifestState::Overridden);
  EXPECT_EQ(d.manifests[4].state, ManifestState::Invalid);
  EXPECT_THAT(names(d.programs), ElementsAre("from-etc"));
  EXPECT_THAT(d.invalid_manifest_names(), ElementsAre("z.toml"));
}

TEST_F(DesiredTest, RelativeBytecodePathIsResolvedAgainstTheManifestDirectory) {
  fs::create_directories(lib + "/objs");
  fs::copy_file(bpf_obj("xdp_counter"), lib + "/objs/xdp.o");
  write_file(lib + "/a.toml", manifest("a", "xdp", "xdp_count", "objs/xdp.o"));
  write_file(run + "/b.toml", manifest("b", "xdp", "xdp_count", "../lib/objs/./xdp.o"));
  auto d = load_desired(dirs);
  for (auto &m : d.manifests) EXPECT_THAT(strs(m.errors), IsEmpty());
  ASSERT_THAT(d.programs, SizeIs(2));
  for (auto &p : d.programs) {
    EXPECT_EQ(p.bytecode_path, lib + "/objs/xdp.o") << p.name;
    EXPECT_EQ(p.bytecode_digest, digest_of(bpf_obj("xdp_counter"))) << p.name;
  }
}

TEST_F(DesiredTest, SharedBytecodeServesSeveralPrograms) {
  write_file(lib + "/a.toml", xdp_manifest("one") + xdp_manifest("two"));
  write_file(lib + "/b.toml", xdp_manifest("three"));
  auto d = load_desired(dirs);
  EXPECT_THAT(names(d.programs), ElementsAre("one", "two", "three"));
  for (auto &p : d.programs) EXPECT_EQ(p.bytecode_digest, digest_of(bpf_obj("xdp_counter")));
}

TEST_F(DesiredTest, UnreadableManifest) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads a mode 000 file anyway";
  const auto m = lib + "/a.toml";
  write_file(m, xdp_manifest("a"));
  ASSERT_EQ(::chmod(m.c_str(), 0), 0);
  auto d = load_desired(dirs);
  ASSERT_THAT(d.manifests, SizeIs(1));
  EXPECT_EQ(d.manifests[0].state, ManifestState::Invalid);
  EXPECT_THAT(strs(d.manifests[0].errors), ElementsAre(m + ": error: cannot read: Permission denied"));
}

TEST_F(DesiredTest, LoadFilesChecksExplicitPaths) {
  const auto good = tmp / "good.toml", empty = tmp / "empty.toml", missing = tmp / "missing.toml",
             bad = tmp / "bad.txt";
  write_file(good, xdp_manifest("good"));
  write_file(empty, "");
  write_file(bad, "[[program]]\n");
  auto d = load_files({good, empty, missing, lib, bad});
  ASSERT_THAT(d.manifests, SizeIs(5));
  EXPECT_EQ(d.manifests[0].name, "good.toml");
  EXPECT_EQ(d.manifests[0].state, ManifestState::Ok);
  EXPECT_EQ(d.manifests[1].state, ManifestState::Masked);
  EXPECT_EQ(d.manifests[2].state, ManifestState::Invalid);
  EXPECT_THAT(strs(d.manifests[2].errors), ElementsAre(missing + ": error: not a regular file"));
  EXPECT_EQ(d.manifests[3].state, ManifestState::Invalid);
  EXPECT_THAT(strs(d.manifests[3].errors), ElementsAre(lib + ": error: not a regular file"));
  EXPECT_EQ(d.manifests[4].name, "bad.txt");  // any name: the user asked for this file
  EXPECT_EQ(d.manifests[4].state, ManifestState::Invalid);
  EXPECT_THAT(d.manifests[4].errors, SizeIs(4));  // type, name, bpf_function, bytecode (no attach point is load-only)
  EXPECT_THAT(names(d.programs), ElementsAre("good"));
  EXPECT_EQ(d.programs[0].bytecode_digest, digest_of(bpf_obj("xdp_counter")));
}

}  // namespace
}  // namespace bpfrec

namespace bpfrec {
namespace {

// DesiredCache: what is taken from the cache and what is read again.
class DesiredCacheTest : public ::testing::Test {
 protected:
  // The cache trusts only stamps older than kRacyNs at the read, and ctime cannot be set back: wait out the racy window instead.
  static void wait_racy() { ::usleep(static_cast<useconds_t>(DesiredCache::kRacyNs / 1000 + 50'000)); }

  testing_util::TempDir dir;
};

TEST_F(DesiredCacheTest, UnchangedFilesAreNotReadAgainAndChangedOnesAre) {
  const std::string progs = dir / "programs.d";
  const std::string obj = dir / "x.bpf.o";
  fs::copy_file(bpf_obj("xdp_counter"), obj);
  testing_util::write_file(progs + "/a.toml", xdp_manifest("a"));
  testing_util::write_file(progs + "/b.toml", xdp_manifest("b"));
  // Both manifests name `obj`.
  for (const char *f : {"a.toml", "b.toml"}) {
    std::string text = xdp_manifest(f[0] == 'a' ? "a" : "b");
    const std::string from = bpf_obj("xdp_counter");
    text.replace(text.find(from), from.size(), obj);
    testing_util::write_file(progs + "/" + f, text);
  }
  wait_racy();
  DesiredCache cache;
  auto d1 = load_desired({progs}, {}, &cache);
  ASSERT_THAT(d1.programs, SizeIs(2));
  EXPECT_EQ(cache.last().manifest_reads, 2u);
  EXPECT_EQ(cache.last().object_reads, 1u);

  auto d2 = load_desired({progs}, {}, &cache);
  ASSERT_THAT(d2.programs, SizeIs(2));
  EXPECT_EQ(cache.last().manifest_hits, 2u);
  EXPECT_EQ(cache.last().manifest_reads, 0u);
  EXPECT_EQ(cache.last().object_hits, 1u);
  EXPECT_EQ(cache.last().object_reads, 0u);
  EXPECT_EQ(d2.programs[0].bytecode_bytes, d1.programs[0].bytecode_bytes) << "the same bytes, not a re-read";

  // A manifest rewritten (rename over it): that one is read again.
  {
    std::string text = xdp_manifest("b2");
    const std::string from = bpf_obj("xdp_counter");
    text.replace(text.find(from), from.size(), obj);
    testing_util::write_file(progs + "/b.toml.tmp", text);
    fs::rename(progs + "/b.toml.tmp", progs + "/b.toml");
  }
  // The object replaced by another one (rename: a new inode).
  fs::copy_file(bpf_obj("tc_counter"), dir / "y.tmp");
  fs::rename(dir / "y.tmp", obj);
  auto d3 = load_desired({progs}, {}, &cache);
  EXPECT_EQ(cache.last().manifest_hits, 1u);
  EXPECT_EQ(cache.last().manifest_reads, 1u);
  EXPECT_EQ(cache.last().object_reads, 1u);
  EXPECT_THAT(d3.programs, IsEmpty()) << "xdp_count is not in tc_counter: both manifests invalid";
  for (auto &m : d3.manifests) EXPECT_EQ(m.state, ManifestState::Invalid) << m.path;

  // Racy: changed a moment ago, so not trusted even when the stamp matches.
  auto d4 = load_desired({progs}, {}, &cache);
  EXPECT_EQ(cache.last().manifest_reads, 1u) << "b.toml was written less than kRacyNs before its read";
  EXPECT_EQ(cache.last().object_reads, 1u);
}

TEST_F(DesiredCacheTest, RewriteInPlaceWithTheSameSizeAndMtimeIsSeen) {
  const std::string progs = dir / "programs.d";
  testing_util::write_file(progs + "/a.toml", xdp_manifest("aaaa"));
  wait_racy();
  DesiredCache cache;
  auto d1 = load_desired({progs}, {}, &cache);
  ASSERT_THAT(d1.programs, SizeIs(1));
  struct stat st {};
  ASSERT_EQ(::stat((progs + "/a.toml").c_str(), &st), 0);
  // Same length, same inode, mtime put back: only ctime moves.
  { std::ofstream(progs + "/a.toml", std::ios::binary | std::ios::trunc) << xdp_manifest("bbbb"); }
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (progs + "/a.toml").c_str(), times, 0), 0);
  auto d2 = load_desired({progs}, {}, &cache);
  ASSERT_THAT(d2.programs, SizeIs(1));
  EXPECT_EQ(d2.programs[0].name, "bbbb");
  EXPECT_EQ(cache.last().manifest_reads, 1u);
}

TEST_F(DesiredCacheTest, RemovedFilesLeaveTheCacheAndErrorsAreNotCached) {
  const std::string progs = dir / "programs.d";
  testing_util::write_file(progs + "/a.toml", xdp_manifest("a"));
  std::string text = xdp_manifest("m");
  const std::string from = bpf_obj("xdp_counter");
  const std::string missing = dir / "missing.bpf.o";
  text.replace(text.find(from), from.size(), missing);
  testing_util::write_file(progs + "/m.toml", text);
  wait_racy();
  DesiredCache cache;
  auto d1 = load_desired({progs}, {}, &cache);
  EXPECT_THAT(d1.programs, SizeIs(1));
  // The object appears: seen at once, although m.toml itself is taken from the cache.
  fs::copy_file(bpf_obj("xdp_counter"), missing);
  auto d2 = load_desired({progs}, {}, &cache);
  EXPECT_THAT(d2.programs, SizeIs(2));
  EXPECT_EQ(cache.last().manifest_hits, 2u);
  fs::remove(progs + "/m.toml");
  auto d3 = load_desired({progs}, {}, &cache);
  EXPECT_THAT(d3.programs, SizeIs(1));
  EXPECT_EQ(cache.last().manifest_hits, 1u);
}

}  // namespace
}  // namespace bpfrec
