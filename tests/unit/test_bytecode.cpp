// read_bytecode(), open_bytecode() and BytecodeStore (manifest/bytecode.h): file-type rules, the
// size cap, and bytes by digest (issue 11, bugs 2 and 6). No root: objects are opened, never loaded.
#include "load/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "manifest/object_info.h"

#include "file_digest.h"
#include "temp_dir.h"

namespace bpfrec {
namespace {

namespace fs = std::filesystem;
using testing_util::TempDir;
using testing_util::write_file;

std::string bpf_obj(std::string_view name) { return fmt::format("{}/{}.bpf.o", BPF_OBJ_DIR, name); }

TEST(ReadBytecode, ReadsARegularFileAndHashesExactlyThoseBytes) {
  const std::string path = bpf_obj("xdp_counter");
  auto code = read_bytecode(path);
  ASSERT_TRUE(code) << code.error().message;
  ASSERT_TRUE(code->bytes);
  EXPECT_EQ(code->bytes->size(), fs::file_size(path));
  EXPECT_EQ(code->digest, sha256_hex(*code->bytes));
  EXPECT_EQ(code->digest, *sha256_file(path));
  EXPECT_EQ(code->stamp, *stamp_file(path));
}

TEST(ReadBytecode, RefusesWhatIsNotARegularFileWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const struct {
    std::string path;
    const char *kind;
  } cases[] = {{"/dev/zero", "a character device"}, {"/dev/urandom", "a character device"},
               {fifo, "a FIFO"}, {dir.path(), "a directory"}};
  for (const auto &c : cases) {
    auto code = read_bytecode(c.path);  // a FIFO without O_NONBLOCK would hang here
    ASSERT_FALSE(code) << c.path;
    EXPECT_EQ(code.error().message, fmt::format("{} is not a regular file ({})", c.path, c.kind));
  }
  auto missing = read_bytecode(dir / "nope.o");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST(ReadBytecode, CapsTheSize) {
  TempDir dir;
  const std::string path = dir / "big.o";
  write_file(path, "");
  fs::resize_file(path, kMaxBytecodeBytes + 1);  // sparse
  auto code = read_bytecode(path);
  ASSERT_FALSE(code);
  EXPECT_EQ(code.error().code, EFBIG);
  EXPECT_NE(code.error().message.find("larger than 16 MiB"), std::string::npos) << code.error().message;
  fs::resize_file(path, kMaxBytecodeBytes);  // exactly the cap is accepted
  EXPECT_TRUE(read_bytecode(path));
  write_file(path, "0123456789");
  EXPECT_FALSE(read_bytecode(path, 9));
  EXPECT_TRUE(read_bytecode(path, 10));
}

TEST(FileStamp, ChangesWithRenameRewriteAndMetadata) {
  TempDir dir;
  const std::string path = dir / "x.o";
  write_file(path, "aaaa");
  const FileStamp s0 = *stamp_file(path);
  EXPECT_EQ(*stamp_file(path), s0) << "stable while nothing changes";
  write_file(dir / "y.o", "aaaa");
  fs::rename(dir / "y.o", path);
  const FileStamp s1 = *stamp_file(path);
  EXPECT_NE(s1, s0) << "a rename over the path is another inode";
  // Same size, mtime set back: ctime still moves.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  ::usleep(10'000);
  { std::ofstream(path, std::ios::binary | std::ios::in | std::ios::out) << "bbbb"; }
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  const FileStamp s2 = *stamp_file(path);
  EXPECT_EQ(s2.mtime_ns, s1.mtime_ns);
  EXPECT_NE(s2, s1) << "ctime tells a rewrite whose mtime was restored";
}

TEST(OpenBytecode, NamesTheObjectAsOpenFileDoes) {
  // Map names (and the pins named after them) must not depend on how the object was opened.
  for (const char *name : {"xdp_counter", "tracepoint_counter", "tc_counter"}) {
    const std::string path = bpf_obj(name);
    auto code = read_bytecode(path);
    ASSERT_TRUE(code) << code.error().message;
    BpfObjectPtr from_mem(open_bytecode(*code, path, nullptr));
    BpfObjectPtr from_file(bpf_object__open_file(path.c_str(), nullptr));
    ASSERT_TRUE(from_mem && from_file) << name;
    EXPECT_STREQ(bpf_object__name(from_mem.get()), bpf_object__name(from_file.get()));
    std::vector<std::string> a, b;
    bpf_map *m;
    bpf_object__for_each_map(m, from_mem.get()) a.emplace_back(bpf_map__name(m));
    bpf_object__for_each_map(m, from_file.get()) b.emplace_back(bpf_map__name(m));
    EXPECT_EQ(a, b) << name;
    EXPECT_FALSE(a.empty());
  }
}

TEST(BytecodeStore, GivesTheKeptBytesWhateverThePathHoldsNow) {
  TempDir dir;
  const std::string path = dir / "obj.o";
  fs::copy_file(bpf_obj("xdp_counter"), path);
  auto a = read_bytecode(path);
  ASSERT_TRUE(a);
  BytecodeStore store;
  ASSERT_TRUE(store.put(*a));
  fs::remove(path);
  fs::copy_file(bpf_obj("tc_counter"), path);
  auto got = store.get(a->digest, path);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->bytes, a->bytes) << "the same buffer, not a re-read";
  EXPECT_EQ(store.size(), 1u);
}

TEST(BytecodeStore, AfterARestartAcceptsThePathOnlyWithTheRecordedDigest) {
  TempDir dir;
  const std::string path = dir / "obj.o";
  fs::copy_file(bpf_obj("xdp_counter"), path);
  const std::string recorded = *sha256_file(path);
  {
    BytecodeStore fresh;  // a restarted daemon: nothing kept
    auto got = fresh.get(recorded, path);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->digest, recorded);
    EXPECT_EQ(fresh.size(), 1u) << "accepted bytes are kept";
  }
  fs::remove(path);
  fs::copy_file(bpf_obj("tc_counter"), path);
  BytecodeStore fresh;
  auto got = fresh.get(recorded, path);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ESTALE);
  EXPECT_NE(got.error().message.find("changed since it was loaded"), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find(recorded), std::string::npos) << got.error().message;
  EXPECT_EQ(fresh.size(), 0u) << "other bytes are never kept under the recorded digest";
  // No digest recorded (an old record): the path as it is.
  EXPECT_TRUE(fresh.get("", path));
}

TEST(BytecodeStore, RetainForgetsDigestsNoLongerUsed) {
  auto a = read_bytecode(bpf_obj("xdp_counter"));
  auto b = read_bytecode(bpf_obj("tc_counter"));
  ASSERT_TRUE(a && b);
  BytecodeStore store;
  ASSERT_TRUE(store.put(*a));
  ASSERT_TRUE(store.put(*b));
  EXPECT_EQ(store.size(), 2u);
  store.retain({b->digest});
  EXPECT_EQ(store.size(), 1u);
  // a is gone: asked by digest with a path that no longer holds it, it is refused.
  EXPECT_FALSE(store.get(a->digest, bpf_obj("tc_counter")));
  EXPECT_TRUE(store.get(b->digest, "/nonexistent"));
}

TEST(InspectObject, ReadsTheBytesGivenNotThePath) {
  auto code = read_bytecode(bpf_obj("xdp_counter"));
  ASSERT_TRUE(code);
  // The path is only a name here: it does not exist.
  auto info = inspect_object(*code, "/nonexistent/xdp_counter.bpf.o");
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_FALSE(info->programs.empty());
  EXPECT_EQ(info->programs[0].function, "xdp_count");
}

}  // namespace
}  // namespace bpfrec
