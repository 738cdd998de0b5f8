// PinJournal on a real inotify instance, over a temporary directory laid out like a pin root
// (bpffs reports the same events: pin_journal.h; the daemon's integration tests cover bpffs).
#include "kernel/pin_journal.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "temp_dir.h"

namespace bpfrec {
namespace {

using testing_util::TempDir;
using testing_util::write_file;
namespace fs = std::filesystem;

class PinJournalTest : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string root = tmp.path();
  void program(const std::string &name) {
    fs::create_directories(root + "/" + name + "/maps");
    fs::create_directories(root + "/" + name + "/links");
    write_file(root + "/" + name + "/prog", "p");
    write_file(root + "/" + name + "/record", "r");
  }
  // One observation's reads: every entry that is not clean is read (begin_read).
  std::set<std::string> observe(PinJournal &j, const std::set<std::string> &entries) {
    j.drain();
    std::set<std::string> read;
    for (auto &e : entries)
      if (!j.clean(e)) {
        EXPECT_TRUE(j.begin_read(e)) << e << ": " << j.problem();
        read.insert(e);
      }
    j.retain(entries);
    return read;
  }
};

TEST_F(PinJournalTest, AnEntryIsReadOnceUntilSomethingInItChanges) {
  program("a");
  program("b");
  PinJournal j(root);
  ASSERT_TRUE(j.available()) << j.problem();
  EXPECT_EQ(observe(j, {"a", "b"}), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(observe(j, {"a", "b"}), std::set<std::string>{});
  // A pin in links/ (a new attachment), an unlink in maps/, a stamped record (IN_ATTRIB).
  write_file(root + "/a/links/k1", "l");
  EXPECT_EQ(observe(j, {"a", "b"}), std::set<std::string>{"a"});
  write_file(root + "/b/maps/m", "m");
  EXPECT_EQ(observe(j, {"a", "b"}), std::set<std::string>{"b"});
  fs::remove(root + "/b/maps/m");
  EXPECT_EQ(observe(j, {"a", "b"}), std::set<std::string>{"b"});
  ASSERT_EQ(::utimensat(AT_FDCWD, (root + "/a/record").c_str(), nullptr, 0), 0);
  EXPECT_EQ(observe(j, {"a", "b"}), std::set<std::string>{"a"});
  EXPECT_EQ(observe(j, {"a", "b"}), std::set<std::string>{});
  EXPECT_GT(j.events(), 0u);
  EXPECT_EQ(j.overflows(), 0u);
}

TEST_F(PinJournalTest, SubdirectoriesMadeAfterTheReadAreSeen) {
  fs::create_directories(root + "/c");  // a load in progress: maps/ and links/ not made yet
  PinJournal j(root);
  EXPECT_EQ(observe(j, {"c"}), std::set<std::string>{"c"});
  fs::create_directories(root + "/c/links");
  EXPECT_EQ(observe(j, {"c"}), std::set<std::string>{"c"});  // the mkdir itself
  write_file(root + "/c/links/k", "l");
  EXPECT_EQ(observe(j, {"c"}), std::set<std::string>{"c"});  // watched since the read above
  EXPECT_EQ(observe(j, {"c"}), std::set<std::string>{});
}

TEST_F(PinJournalTest, ExchangedDirectoriesAreBothReadAgain) {
  // A replace: the staging directory and the program's are exchanged with RENAME_EXCHANGE.
  program("d");
  program("_staging-d");
  PinJournal j(root);
  EXPECT_EQ(observe(j, {"d", "_staging-d"}).size(), 2u);
  ASSERT_EQ(::renameat2(AT_FDCWD, (root + "/d").c_str(), AT_FDCWD, (root + "/_staging-d").c_str(), RENAME_EXCHANGE), 0);
  EXPECT_EQ(observe(j, {"d", "_staging-d"}), (std::set<std::string>{"d", "_staging-d"}));
  // The watches follow the directories: a change in the one now named "d" marks "d".
  write_file(root + "/d/links/new", "l");
  EXPECT_EQ(observe(j, {"d", "_staging-d"}), std::set<std::string>{"d"});
  fs::remove_all(root + "/_staging-d");
  EXPECT_EQ(observe(j, {"d"}), std::set<std::string>{});
  EXPECT_FALSE(j.clean("_staging-d")) << "a removed entry is forgotten";
}

TEST_F(PinJournalTest, AnEntryRemovedAndMadeAgainIsReadAgain) {
  program("e");
  PinJournal j(root);
  (void)observe(j, {"e"});
  fs::remove_all(root + "/e");
  program("e");
  EXPECT_EQ(observe(j, {"e"}), std::set<std::string>{"e"});
  write_file(root + "/e/maps/m", "m");
  EXPECT_EQ(observe(j, {"e"}), std::set<std::string>{"e"}) << "the new directory is watched";
}

TEST_F(PinJournalTest, TheRootListingChangesOnlyWithItsEntries) {
  program("h");
  PinJournal j(root);
  j.drain();
  EXPECT_TRUE(j.take_root_changed()) << "never read: it may have changed";
  (void)observe(j, {"h"});
  EXPECT_FALSE(j.take_root_changed());
  write_file(root + "/h/links/k", "l");  // inside an entry: the listing is the same
  j.drain();
  EXPECT_FALSE(j.take_root_changed());
  program("i");
  j.drain();
  EXPECT_TRUE(j.take_root_changed());
  EXPECT_FALSE(j.take_root_changed()) << "taken";
  ASSERT_EQ(::chmod(root.c_str(), 0700), 0);  // the root's own mode: it may not be listable
  j.drain();
  EXPECT_TRUE(j.take_root_changed());
  fs::rename(root + "/i", root + "/_staging-i");
  j.drain();
  EXPECT_TRUE(j.take_root_changed());
}

TEST_F(PinJournalTest, WithoutARootNothingIsClean) {
  PinJournal j(root + "/missing");
  EXPECT_FALSE(j.available());
  EXPECT_FALSE(j.problem().empty());
  j.drain();
  EXPECT_FALSE(j.clean("a"));
  EXPECT_FALSE(j.begin_read("a"));
}

TEST_F(PinJournalTest, ARenamedRootMakesEverythingDirty) {
  program("g");
  const std::string other = root + "-moved";
  PinJournal j(root);
  (void)observe(j, {"g"});
  EXPECT_TRUE(j.clean("g"));
  fs::rename(root, other);
  fs::create_directories(root);
  program("g");
  j.drain();
  EXPECT_FALSE(j.clean("g"));
  EXPECT_TRUE(j.available()) << "the new root is watched: " << j.problem();
  EXPECT_EQ(observe(j, {"g"}), std::set<std::string>{"g"});
  write_file(root + "/g/links/k", "l");
  EXPECT_EQ(observe(j, {"g"}), std::set<std::string>{"g"});
  fs::remove_all(other);
}

}  // namespace
}  // namespace bpfrec
