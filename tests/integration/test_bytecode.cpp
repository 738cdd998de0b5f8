// Bytecode and the other paths a manifest names (issue 11, bugs 2 and 6): a path that is not a
// regular file (a device, a FIFO) never blocks the daemon, and the bytes that were hashed are
// the bytes that are loaded, even while the path is flipped between two objects.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "harness.h"

namespace it {
namespace {

using Bytecode = ReconcilerTest;

std::string tracepoint_with_object(const std::string& name, const std::string& object,
                                   const std::string& sha256 = "") {
  return "[[program]]\n"                                 // 1
         "name = \"" + name + "\"\n"                     // 2
         "type = \"tracepoint\"\n"                       // 3
         "bpf_function = \"tracepoint_count\"\n"         // 4
         "bytecode = { path = \"" + object + "\"" +      // 5
         (sha256.empty() ? "" : ", sha256 = \"" + sha256 + "\"") + " }\n"
         "[[program.attach]]\n"
         "tracepoint = \"syscalls/sys_enter_getppid\"\n";
}

// The manifest's first error, once the daemon reports the manifest invalid (empty on timeout).
json wait_invalid(const std::string& path, std::chrono::milliseconds timeout) {
  json out;
  (void)wait_until([&] {
    json desc;
    try {
      desc = describe();
    } catch (const std::exception&) {
      return false;
    }
    const auto m = find_manifest(desc, path);
    if (!m || m->value("state", "") != "invalid" || !(*m)["errors"].is_array() || (*m)["errors"].empty())
      return false;
    out = (*m)["errors"][0];
    return true;
  }, timeout);
  return out;
}

// The error of the program's first attachment, once it has one (empty on timeout).
std::string wait_attach_error(const std::string& name, std::chrono::milliseconds timeout) {
  std::string out;
  (void)wait_until([&] {
    json desc;
    try {
      desc = describe();
    } catch (const std::exception&) {
      return false;
    }
    const auto p = find_program(desc, name);
    if (!p || !(*p)["attachments"].is_array() || (*p)["attachments"].empty()) return false;
    out = (*p)["attachments"][0].value("error", "");
    return !out.empty();
  }, timeout);
  return out;
}

TEST_F(Bytecode, PathsThatAreNotRegularFilesAreRefusedAndNeverBlockTheDaemon) {
  const std::string fifo = work_dir_ + "/object.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const std::string huge = work_dir_ + "/huge.bpf.o";
  {
    // Sparse: 17 MiB of zeros cost no disk.
    std::filesystem::copy_file(obj("tracepoint_counter"), huge);
    std::filesystem::resize_file(huge, 17u << 20);
  }
  write_manifest("10-good.toml", tracepoint_with_object("good-tp", obj("tracepoint_counter")));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("good-tp", [](const json& p) { return p.value("state", "") == "attached"; }))
      << diag();

  write_manifest("20-zero.toml", tracepoint_with_object("zero", "/dev/zero"));
  write_manifest("21-urandom.toml", tracepoint_with_object("urandom", "/dev/urandom"));
  write_manifest("22-fifo.toml", tracepoint_with_object("fifo", fifo));
  write_manifest("23-huge.toml", tracepoint_with_object("huge", huge));
  const auto t0 = std::chrono::steady_clock::now();
  const CmdResult reload = call_reload();
  const auto reload_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(reload.rc, 0) << "Reload() must answer: " << reload.describe();
  EXPECT_LT(reload_ms, 5000) << "Reload() took " << reload_ms << " ms";

  const struct {
    const char* file;
    const char* want;
  } cases[] = {{"20-zero.toml", "not a regular file"},
               {"21-urandom.toml", "not a regular file"},
               {"22-fifo.toml", "not a regular file"},
               {"23-huge.toml", "16 MiB"}};
  for (const auto& c : cases) {
    const json e = wait_invalid(manifest_path(c.file), 5s);
    ASSERT_FALSE(e.is_null()) << c.file << " was not reported invalid" << diag();
    EXPECT_EQ(e.value("line", 0), 5) << "positioned at the bytecode key: " << e.dump();
    EXPECT_NE(e.value("message", "").find(c.want), std::string::npos) << c.file << ": " << e.dump();
  }
  const json desc = describe_or_fail();
  for (const char* n : {"zero", "urandom", "fifo", "huge"}) EXPECT_FALSE(find_program(desc, n)) << n;
  EXPECT_EQ(find_program(desc, "good-tp").value_or(json::object()).value("state", ""), "attached") << diag();

  // SIGTERM reaches the loop: a clean exit, not the harness's SIGKILL.
  EXPECT_EQ(stop_daemon(), "exit 0");
}

TEST_F(Bytecode, FifoAsNetnsOrUprobeTargetFailsTheAttachPointWithoutBlocking) {
  ASSERT_TRUE(net_->ok()) << net_->error();
  const std::string fifo = work_dir_ + "/ns.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  write_manifest("10-good.toml", tracepoint_with_object("good-tp", obj("tracepoint_counter")));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("good-tp", [](const json& p) { return p.value("state", "") == "attached"; }))
      << diag();

  write_manifest("20-netns.toml",
                 xdp_manifest_text("fifo-netns", "veth-a", fifo, 1, obj("xdp_counter"), "xdp_count"));
  write_manifest("21-uprobe.toml", uprobe_manifest("fifo-target", "uprobe", fifo, "main"));
  const CmdResult reload = call_reload();
  EXPECT_EQ(reload.rc, 0) << "Reload() must answer: " << reload.describe();

  const std::string netns_err = wait_attach_error("fifo-netns", 5s);
  EXPECT_NE(netns_err.find("not a network namespace"), std::string::npos) << netns_err << diag();
  const std::string target_err = wait_attach_error("fifo-target", 5s);
  EXPECT_NE(target_err.find("not a regular file"), std::string::npos) << target_err << diag();

  // Further reconciles (the netns watch is reopened after each) keep answering.
  for (int i = 0; i < 3; ++i) {
    const CmdResult r = call_reload();
    EXPECT_EQ(r.rc, 0) << r.describe();
  }
  EXPECT_EQ(find_program(describe_or_fail(), "good-tp").value_or(json::object()).value("state", ""),
            "attached");
  EXPECT_EQ(stop_daemon(), "exit 0");
}

// Issue 11, bug 6: a path flipped between objects A and B by a rename loop while programs are
// created. Whatever the daemon read, the program in the kernel must be the object whose sha256
// the status reports, and a program pinned to A's sha256 must run A.
TEST_F(Bytecode, FlippedPathLoadsExactlyTheBytesThatWereHashed) {
  namespace fs = std::filesystem;
  const std::string a = work_dir_ + "/a.bpf.o", b = work_dir_ + "/b.bpf.o", flip = work_dir_ + "/flip.bpf.o";
  fs::copy_file(obj("tracepoint_counter"), a);
  fs::copy_file(obj("tracepoint_counter_b"), b);
  fs::copy_file(a, flip);

  // What A and B look like in the kernel (tag) and in the status (sha256).
  write_manifest("00-cal-a.toml", tracepoint_with_object("cal-a", a));
  write_manifest("00-cal-b.toml", tracepoint_with_object("cal-b", b));
  ASSERT_TRUE(start_daemon());
  std::map<std::string, std::string> tag_of_sha;  // sha256 -> kernel tag
  std::string sha_a;
  for (const char* n : {"cal-a", "cal-b"}) {
    const auto p = wait_program(n, [](const json& j) { return j.value("state", "") == "attached"; });
    ASSERT_TRUE(p) << n << diag();
    const auto id = raw_pinned_prog_id(prog_pin(n));
    ASSERT_TRUE(id) << n;
    const auto rp = raw_prog(*id);
    ASSERT_TRUE(rp) << n;
    tag_of_sha[p->value("bytecode_sha256", "")] = rp->tag;
    if (std::string(n) == "cal-a") sha_a = p->value("bytecode_sha256", "");
  }
  ASSERT_EQ(tag_of_sha.size(), 2u) << "A and B must differ in sha256";
  ASSERT_NE(tag_of_sha.begin()->second, tag_of_sha.rbegin()->second) << "A and B must differ in kernel tag";

  std::atomic<bool> stop{false};
  std::atomic<long> flips{0};
  std::thread flipper([&] {
    const std::string tmp = flip + ".tmp";
    while (!stop.load()) {
      for (const std::string* src : {&b, &a}) {
        if (::link(src->c_str(), tmp.c_str()) != 0) continue;
        (void)::rename(tmp.c_str(), flip.c_str());
        (void)::unlink(tmp.c_str());  // left over when flip already was this inode
        ++flips;
      }
    }
  });

  // Every program's status pairs a sha256 with a kernel id: the program with that id (ids are
  // never reused while it lives, and a replace gets a new one) must have that sha256's tag.
  std::set<std::string> bad;
  std::set<std::uint32_t> checked;
  auto check_all = [&](const json& desc) {
    for (const auto& p : desc.value("programs", json::array())) {
      const std::string name = p.value("name", "");
      if (!name.starts_with("flip-") || p.value("state", "") != "attached") continue;
      const std::string sha = p.value("bytecode_sha256", "");
      const auto id = p.value("kernel_id", 0u);
      const auto rp = raw_prog(id);
      if (!rp) continue;  // replaced and freed since
      checked.insert(id);
      const bool pinned = std::stoi(name.substr(5)) % 2 == 0;
      if (pinned && sha != sha_a) bad.insert(name + ": pinned to A's sha256, status shows " + sha);
      if (!tag_of_sha.contains(sha)) bad.insert(name + ": status sha256 " + sha + " is neither A nor B");
      else if (tag_of_sha[sha] != rp->tag)
        bad.insert(name + " (id " + std::to_string(id) + "): status shows sha256 " + sha.substr(0, 12) +
                   " but the kernel runs tag " + rp->tag + (pinned ? " (pinned to A)" : ""));
    }
  };

  constexpr int kPrograms = 16;
  int loaded = 0, refused = 0;
  for (int i = 0; i < kPrograms; ++i) {
    const bool pinned = i % 2 == 0;
    const std::string name = "flip-" + std::to_string(i);
    const std::string file = "10-" + name + ".toml";
    write_manifest(file, tracepoint_with_object(name, flip, pinned ? sha_a : ""));
    // Attached, or (pinned to A, B was read) the manifest refused.
    json desc;
    bool attached = false, invalid = false;
    (void)wait_until([&] {
      try {
        desc = describe();
      } catch (const std::exception&) {
        return false;
      }
      const auto prog = find_program(desc, name);
      const auto m = find_manifest(desc, manifest_path(file));
      invalid = m && m->value("state", "") == "invalid";
      attached = prog && prog->value("state", "") == "attached";
      return invalid || attached;
    }, 5s);
    if (attached) ++loaded;
    else if (invalid && pinned) ++refused;
    else bad.insert(name + ": neither attached nor refused");
    check_all(desc);
  }
  stop = true;
  flipper.join();
  check_all(describe_or_fail());
  std::string all;
  for (auto& s : bad) all += "\n  " + s;
  EXPECT_TRUE(bad.empty()) << bad.size() << " wrong, of " << checked.size() << " programs checked (" << flips.load()
                           << " flips):" << all;
  EXPECT_GT(loaded, 0) << "nothing was loaded: the test checked nothing" << diag();
  std::printf("[ flip ] %d loaded, %d refused (pinned to A while B was read), %ld flips\n", loaded, refused,
              flips.load());
}

// An object rewritten in place (same inode, as `cp` over it or a build does) after it was
// loaded: status keeps describing what runs; a rewrite into something that is no object is an
// error at the manifest's bytecode and the program keeps running; a rewrite into another object
// is replaced at the next reconcile, and status then gives the new sha256 with the new
// program's kernel tag; a manifest that pins the sha256 refuses the rewrite and keeps its program.
TEST_F(Bytecode, ObjectRewrittenInPlaceAfterLoad) {
  namespace fs = std::filesystem;
  const std::string a = work_dir_ + "/a.bpf.o", pinned = work_dir_ + "/pinned.bpf.o";
  fs::copy_file(obj("tracepoint_counter"), a);
  fs::copy_file(obj("tracepoint_counter"), pinned);
  const std::string b_bytes = read_file(obj("tracepoint_counter_b"));
  // B's kernel tag, from a calibration program.
  write_manifest("00-cal-b.toml", tracepoint_with_object("cal-b", obj("tracepoint_counter_b")));
  write_manifest("10-a.toml", tracepoint_with_object("rw-a", a));
  ASSERT_TRUE(start_daemon());
  const auto cal = wait_program("cal-b", [](const json& j) { return j.value("state", "") == "attached"; });
  ASSERT_TRUE(cal) << diag();
  const auto cal_prog = raw_prog(raw_pinned_prog_id(prog_pin("cal-b")).value_or(0));
  ASSERT_TRUE(cal_prog);
  const auto first = wait_program("rw-a", [](const json& j) { return j.value("state", "") == "attached"; });
  ASSERT_TRUE(first) << diag();
  const std::string sha_a = first->value("bytecode_sha256", "");
  write_manifest("20-pinned.toml", tracepoint_with_object("rw-pinned", pinned, sha_a));
  ASSERT_TRUE(wait_program("rw-pinned", [](const json& j) { return j.value("state", "") == "attached"; })) << diag();
  const auto id_a = raw_pinned_prog_id(prog_pin("rw-a"));
  const auto id_pinned = raw_pinned_prog_id(prog_pin("rw-pinned"));
  ASSERT_TRUE(id_a && id_pinned);

  auto rewrite = [](const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  };
  // Not an object: an error at bytecode (line 5), the program untouched.
  rewrite(a, "not an ELF object\n");
  EXPECT_EQ(call_reload().rc, 0);
  const json err = wait_invalid(manifest_path("10-a.toml"), 10s);
  ASSERT_FALSE(err.empty()) << diag();
  EXPECT_EQ(err.value("line", 0), 5) << err.dump();
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rw-a")), id_a) << "a bad rewrite must not detach or replace";
  {
    const auto p = find_program(describe_or_fail(), "rw-a");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->value("bytecode_sha256", ""), sha_a) << "status describes what runs: " << p->dump();
    EXPECT_EQ(p->value("kernel_id", 0u), *id_a);
  }

  // Another object: replaced, and status pairs B's sha256 with B's kernel tag.
  rewrite(a, b_bytes);
  rewrite(pinned, b_bytes);
  EXPECT_EQ(call_reload().rc, 0);
  const auto replaced = wait_program("rw-a", [&](const json& j) {
    return j.value("state", "") == "attached" && j.value("kernel_id", 0u) != *id_a;
  }, 10s);
  ASSERT_TRUE(replaced) << diag();
  EXPECT_EQ(replaced->value("bytecode_sha256", ""), cal->value("bytecode_sha256", ""));
  const auto now = raw_prog(replaced->value("kernel_id", 0u));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->tag, cal_prog->tag) << "the kernel runs B's instructions";
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rw-a")).value_or(0), replaced->value("kernel_id", 0u));
  // Pinned to A's sha256: refused at its bytecode, still running A.
  const json perr = wait_invalid(manifest_path("20-pinned.toml"), 10s);
  ASSERT_FALSE(perr.empty()) << diag();
  EXPECT_NE(perr.value("message", "").find("sha256"), std::string::npos) << perr.dump();
  EXPECT_EQ(raw_pinned_prog_id(prog_pin("rw-pinned")), id_pinned);
}

}  // namespace
}  // namespace it
