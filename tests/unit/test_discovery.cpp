// discover_manifests(): the programs.d rules (precedence, overriding, masking, what is ignored),
// on temporary directory trees standing in for /etc, /run and /usr/lib.
#include "load/discovery.h"

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

#include "temp_dir.h"

namespace bpfrec {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using testing_util::TempDir;
using testing_util::write_file;

using DiscoveryTest = testing_util::ProgramsDirsTest;

// One entry, rendered compactly for whole-result comparisons: "name state path [overridden_by]".
std::string row(const ManifestEntry &e) {
  auto s = fmt::format("{} {} {}", e.name, to_string(e.state), e.path);
  if (!e.overridden_by.empty()) s += " by " + e.overridden_by;
  return s;
}

std::vector<std::string> rows(const std::vector<ManifestEntry> &es) {
  std::vector<std::string> out;
  for (auto &e : es) {
    out.push_back(row(e));
    EXPECT_THAT(e.errors, IsEmpty()) << "discovery itself reports no errors";
  }
  return out;
}

TEST(Discovery, DefaultDirectoriesInPrecedenceOrder) {
  EXPECT_THAT(default_programs_dirs(),
              ElementsAre("/etc/bpfman/programs.d", "/run/bpfman/programs.d", "/usr/lib/bpfman/programs.d"));
  EXPECT_EQ(to_string(ManifestState::Ok), "ok");
  EXPECT_EQ(to_string(ManifestState::Invalid), "invalid");
  EXPECT_EQ(to_string(ManifestState::Masked), "masked");
  EXPECT_EQ(to_string(ManifestState::Overridden), "overridden");
  EXPECT_EQ(to_string(ManifestState::Unreadable), "unreadable");
}

// The daemon reconciles at once only on a rename of such a name into place (daemon.h), so an
// editor's backup or swap file must not count.
TEST(Discovery, ManifestNames) {
  EXPECT_TRUE(is_manifest_name("10-xdp.toml"));
  EXPECT_TRUE(is_manifest_name("a.toml"));
  EXPECT_FALSE(is_manifest_name(".toml"));
  EXPECT_FALSE(is_manifest_name(".10-xdp.toml"));  // a writer's temporary file before its rename
  EXPECT_FALSE(is_manifest_name("10-xdp.toml~"));  // vim's backup
  EXPECT_FALSE(is_manifest_name(".10-xdp.toml.swp"));
  EXPECT_FALSE(is_manifest_name("10-xdp.toml.dpkg-new"));
  EXPECT_FALSE(is_manifest_name(""));
}

TEST_F(DiscoveryTest, EmptyDirectories) { EXPECT_THAT(discover_manifests(dirs), IsEmpty()); }

TEST_F(DiscoveryTest, HigherDirectoryWinsByBaseName) {
  write_file(lib + "/a.toml", "x");
  write_file(run + "/a.toml", "x");
  write_file(etc + "/a.toml", "x");
  write_file(lib + "/b.toml", "x");
  write_file(run + "/b.toml", "x");
  write_file(lib + "/c.toml", "x");
  write_file(etc + "/d.toml", "x");
  EXPECT_THAT(rows(discover_manifests(dirs)),
              ElementsAre("a.toml ok " + etc + "/a.toml",                               //
                          "a.toml overridden " + run + "/a.toml by " + etc + "/a.toml",  //
                          "a.toml overridden " + lib + "/a.toml by " + etc + "/a.toml",  //
                          "b.toml ok " + run + "/b.toml",                               //
                          "b.toml overridden " + lib + "/b.toml by " + run + "/b.toml",  //
                          "c.toml ok " + lib + "/c.toml",                               //
                          "d.toml ok " + etc + "/d.toml"));
}

TEST_F(DiscoveryTest, OrderOfDirsArgumentIsThePrecedence) {
  write_file(lib + "/a.toml", "x");
  write_file(etc + "/a.toml", "x");
  EXPECT_THAT(rows(discover_manifests({lib, etc})),
              ElementsAre("a.toml ok " + lib + "/a.toml", "a.toml overridden " + etc + "/a.toml by " + lib + "/a.toml"));
}

TEST_F(DiscoveryTest, EmptyFileMasks) {
  write_file(etc + "/a.toml", "");
  write_file(run + "/a.toml", "[[program]]\n");
  write_file(lib + "/a.toml", "[[program]]\n");
  write_file(lib + "/b.toml", "");  // empty in the only directory: masked too
  write_file(etc + "/c.toml", "x");
  write_file(lib + "/c.toml", "");  // empty but overridden: the /etc file is in effect
  write_file(run + "/d.toml", " ");  // one byte is not empty
  EXPECT_THAT(rows(discover_manifests(dirs)),
              ElementsAre("a.toml masked " + etc + "/a.toml",                           //
                          "a.toml overridden " + run + "/a.toml by " + etc + "/a.toml",  //
                          "a.toml overridden " + lib + "/a.toml by " + etc + "/a.toml",  //
                          "b.toml masked " + lib + "/b.toml",                           //
                          "c.toml ok " + etc + "/c.toml",                               //
                          "c.toml overridden " + lib + "/c.toml by " + etc + "/c.toml",  //
                          "d.toml ok " + run + "/d.toml"));
}

TEST_F(DiscoveryTest, SortedByBaseNameInByteOrder) {
  // Byte order, not locale or natural order: '-' (0x2d) < '.' (0x2e) < digits < 'Z' < '_' < 'a'
  // and UTF-8 lead bytes (>= 0x80) after ASCII.
  for (auto name : {"\xc3\xa9t\xc3\xa9.toml", "a_b.toml", "ab.toml", "a.toml", "a-b.toml", "Z.toml", "9-x.toml",
                    "10-x.toml", "z.toml"})
    write_file(lib + "/" + name, "x");
  write_file(etc + "/ab.toml", "x");
  std::vector<std::string> names;
  for (auto &e : discover_manifests(dirs)) names.push_back(e.name + (e.path.starts_with(etc) ? "@etc" : "@lib"));
  EXPECT_THAT(names, ElementsAre("10-x.toml@lib", "9-x.toml@lib", "Z.toml@lib", "a-b.toml@lib", "a.toml@lib",
                                 "a_b.toml@lib", "ab.toml@etc", "ab.toml@lib", "z.toml@lib",
                                 "\xc3\xa9t\xc3\xa9.toml@lib"));
}

TEST_F(DiscoveryTest, IgnoresWhatIsNotARegularTomlFile) {
  write_file(etc + "/good.toml", "x");
  write_file(etc + "/readme.txt", "x");
  write_file(etc + "/a.toml~", "x");
  write_file(etc + "/a.toml.bak", "x");
  write_file(etc + "/a.TOML", "x");
  write_file(etc + "/toml", "x");
  write_file(etc + "/.toml", "x");
  write_file(etc + "/.hidden.toml", "x");
  write_file(etc + "/sub/inner.toml", "x");  // no recursion
  fs::create_directories(etc + "/dir.toml");  // a directory with a .toml name
  ASSERT_EQ(::mkfifo((etc + "/fifo.toml").c_str(), 0600), 0);
  fs::create_symlink(etc + "/sub", etc + "/linkdir.toml");
  EXPECT_THAT(rows(discover_manifests(dirs)), ElementsAre("good.toml ok " + etc + "/good.toml"));
}

// Issue 11 bug 7: a dangling symlink over a live manifest removed its programs. An entry that
// cannot be stat()ed is an invalid manifest (last good programs kept), and it still overrides.
TEST_F(DiscoveryTest, DanglingSymlinkIsInvalidNotGone) {
  fs::create_symlink(etc + "/missing-target", etc + "/a.toml");
  write_file(lib + "/a.toml", "x");
  auto got = discover_manifests(dirs);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].state, ManifestState::Invalid);
  EXPECT_EQ(got[0].path, etc + "/a.toml");
  ASSERT_EQ(got[0].errors.size(), 1u);
  EXPECT_EQ(got[0].errors[0].str(), etc + "/a.toml: error: cannot read: a symlink to a file that does not exist");
  EXPECT_EQ(got[1].state, ManifestState::Overridden);
}

// A directory that is gone but named in `vanished` (the daemon's grace period) is unreadable,
// not empty; and lower directories are not applied while it is.
TEST_F(DiscoveryTest, VanishedDirectoryIsUnreadable) {
  write_file(lib + "/b.toml", "x");
  const std::string gone = tmp / "gone";
  auto got = discover_manifests({gone, lib}, {{gone, "disappeared 1.0 s ago"}});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].state, ManifestState::Unreadable);
  EXPECT_EQ(got[0].path, gone);
  EXPECT_EQ(got[0].errors.at(0).str(),
            gone + ": error: manifest directory disappeared 1.0 s ago; keeping every program as it is");
  EXPECT_EQ(got[1].state, ManifestState::Invalid);
  EXPECT_EQ(got[1].errors.at(0).message, "not applied: " + gone + " comes first and cannot be read");
  // Not named: missing means empty, as before.
  EXPECT_THAT(rows(discover_manifests({gone, lib})), ElementsAre("b.toml ok " + lib + "/b.toml"));
}

TEST_F(DiscoveryTest, SymlinkToARegularFileCounts) {
  write_file(tmp / "elsewhere/real.toml", "x");
  fs::create_symlink(tmp / "elsewhere/real.toml", etc + "/linked.toml");
  write_file(tmp / "elsewhere/empty", "");
  fs::create_symlink(tmp / "elsewhere/empty", etc + "/masked.toml");
  EXPECT_THAT(rows(discover_manifests(dirs)),
              ElementsAre("linked.toml ok " + etc + "/linked.toml", "masked.toml masked " + etc + "/masked.toml"));
}

TEST_F(DiscoveryTest, IgnoredEntriesDoNotOverride) {
  fs::create_directories(etc + "/a.toml");                 // a directory: ignored
  write_file(run + "/.a.toml", "x");                        // a dotfile: another name anyway
  ASSERT_EQ(::mkfifo((run + "/a.toml").c_str(), 0600), 0);  // a fifo: ignored
  write_file(lib + "/a.toml", "x");
  EXPECT_THAT(rows(discover_manifests(dirs)), ElementsAre("a.toml ok " + lib + "/a.toml"));
}

TEST_F(DiscoveryTest, SymlinkToDevNullMasksLikeNetworkd) {
  // discovery.h says the rules are "as systemd-networkd applies them to .network files", and
  // systemd.network(5) masks with "an empty file or a symlink to /dev/null". The implementation
  // considers regular files only, so the /dev/null link is ignored and the lower file takes effect.
  fs::create_symlink("/dev/null", etc + "/a.toml");
  write_file(lib + "/a.toml", "x");
  auto got = rows(discover_manifests(dirs));
  EXPECT_THAT(got, ElementsAre("a.toml masked " + etc + "/a.toml",
                               "a.toml overridden " + lib + "/a.toml by " + etc + "/a.toml"));
}

TEST_F(DiscoveryTest, MissingDirectoriesAreSkipped) {
  write_file(lib + "/a.toml", "x");
  EXPECT_THAT(rows(discover_manifests({tmp / "nope", etc, tmp / "nope/deeper", lib})),
              ElementsAre("a.toml ok " + lib + "/a.toml"));
  EXPECT_THAT(discover_manifests({tmp / "nope1", tmp / "nope2"}), IsEmpty());
  EXPECT_THAT(discover_manifests({}), IsEmpty());
  // A path that is a file, not a directory, is skipped as well.
  write_file(tmp / "plain-file", "x");
  EXPECT_THAT(rows(discover_manifests({tmp / "plain-file", lib})), ElementsAre("a.toml ok " + lib + "/a.toml"));
}

// Issue 11 bug 7: a directory the daemon (no CAP_DAC_OVERRIDE) cannot list counted as empty,
// and every program was removed. It is Unreadable now; the integration suite (HostileDirs) runs
// the same as root without the capability.
TEST_F(DiscoveryTest, UnreadableDirectoryIsNotEmpty) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads a mode 000 directory anyway (HostileDirs covers it)";
  write_file(etc + "/a.toml", "x");
  write_file(lib + "/a.toml", "x");
  write_file(lib + "/b.toml", "x");
  write_file(run + "/c.toml", "x");
  ASSERT_EQ(::chmod(run.c_str(), 0), 0);
  auto got = discover_manifests(dirs);
  ::chmod(run.c_str(), 0755);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].state, ManifestState::Unreadable);
  EXPECT_EQ(got[0].path, run);
  EXPECT_EQ(got[0].errors.at(0).str(),
            run + ": error: manifest directory cannot be read: Permission denied; keeping every program as it is");
  // /etc comes before the unreadable /run: applied. /usr/lib comes after: not applied.
  EXPECT_EQ(row(got[1]), "a.toml ok " + etc + "/a.toml");
  EXPECT_EQ(row(got[2]), "a.toml overridden " + lib + "/a.toml by " + etc + "/a.toml");
  EXPECT_EQ(row(got[3]), "b.toml invalid " + lib + "/b.toml");
}

}  // namespace
}  // namespace bpfrec
