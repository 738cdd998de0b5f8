// Hostile and broken input on the real daemon (issue 11): manifests that crashed toml++ (bug 1),
// status too big for the bus (bug 3), manifest directories that cannot be read or vanish
// (bug 7), and `check` / `plan` run as a user (bug 8). Each test puts a good manifest next to the
// bad input and checks that the daemon stays up and the good program stays attached.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "harness.h"

namespace it {
namespace {

std::string dotted(size_t parts) {
  std::string k = "a";
  for (size_t i = 1; i < parts; ++i) k += ".a";
  return k;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

/// Runs argv as `nobody` (uid/gid 65534, no supplementary groups, no capabilities).
CmdResult run_as_nobody(std::vector<std::string> argv) {
  std::vector<std::string> full = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                   "--inh-caps=-all", "--bounding-set=-all", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full);
}

bool attached(const json& p) { return p.value("state", "") == "attached"; }

using Hostile = ReconcilerTest;

// Bug 1: a dotted key of 40,000 parts overflowed the stack inside toml++ (SIGSEGV at every start).
TEST_F(Hostile, DeepTomlIsAPositionedErrorAndTheDaemonStays) {
  write_manifest("10-good.toml", tracepoint_manifest("deep-good", "syscalls/sys_enter_getpid"));
  write_manifest("20-dotted.toml", dotted(40000) + " = 1\n");
  write_manifest("30-header.toml", "[" + dotted(40000) + "]\n");
  ASSERT_TRUE(start_daemon()) << read_file(log_path_);
  ASSERT_TRUE(wait_program("deep-good", attached)) << diag();
  json desc = describe_or_fail();
  for (const char* f : {"20-dotted.toml", "30-header.toml"}) {
    const auto m = find_manifest(desc, manifest_path(f));
    ASSERT_TRUE(m) << f << desc.dump(2).substr(0, 4000);
    EXPECT_EQ(m->value("state", ""), "invalid") << m->dump();
    ASSERT_FALSE((*m)["errors"].empty()) << m->dump();
    EXPECT_EQ((*m)["errors"][0].value("line", 0), 1) << m->dump();
    EXPECT_NE((*m)["errors"][0].value("message", "").find("deeper than"), std::string::npos) << m->dump();
  }
  // `check` says the same, with the position, instead of dying on SIGSEGV.
  const auto r = run({reconciler_bin(), "check", manifest_path("20-dotted.toml")});
  EXPECT_EQ(r.rc, 1) << r.describe().substr(0, 2000);
  EXPECT_NE(r.err.find(manifest_path("20-dotted.toml") + ":1:64: error:"), std::string::npos) << r.err;

  // Nested arrays and inline tables, written while the daemon runs.
  write_manifest("40-arrays.toml", "a = " + repeat("[", 40000) + "\n");
  write_manifest("50-inline.toml", "a = " + repeat("{a=", 40000) + "\n");
  write_manifest("60-mixed.toml", "a = [" + repeat("{" + dotted(10) + " = [", 4000) + "\n");
  ASSERT_EQ(call_reload().rc, 0) << diag();
  ASSERT_TRUE(daemon().alive()) << read_file(log_path_).substr(0, 4000);
  desc = describe_or_fail();
  for (const char* f : {"40-arrays.toml", "50-inline.toml", "60-mixed.toml"}) {
    const auto m = find_manifest(desc, manifest_path(f));
    ASSERT_TRUE(m) << f;
    EXPECT_EQ(m->value("state", ""), "invalid") << m->dump();
  }
  EXPECT_TRUE(find_program(desc, "deep-good") && attached(*find_program(desc, "deep-good"))) << diag();
}

// Bug 3: a 33 MiB metadata value made Describe() bigger than dbus-daemon's 32 MiB
// max_message_size, and the bus dropped the daemon for good.
TEST_F(Hostile, OversizedManifestIsRefused) {
  write_manifest("10-good.toml", tracepoint_manifest("size-good", "syscalls/sys_enter_getpid"));
  std::string big = tracepoint_manifest("size-big", "syscalls/sys_enter_getppid");
  const auto at = big.find("[[program.attach]]");
  ASSERT_NE(at, std::string::npos) << big;
  big.insert(at, "metadata = { blob = \"" + std::string(33u << 20, 'x') + "\" }\n");
  write_manifest("20-big.toml", big);
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("size-good", attached)) << diag();
  const json desc = describe_or_fail();
  const auto m = find_manifest(desc, manifest_path("20-big.toml"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->value("state", ""), "invalid") << m->dump();
  EXPECT_NE(m->dump().find("more than the limit of 1048576 bytes"), std::string::npos) << m->dump();
  EXPECT_FALSE(find_program(desc, "size-big"));
  EXPECT_EQ(call_reload().rc, 0);
}

// Every manifest within its limits, but together more status than one D-Bus message may carry:
// Describe() answers with an error, and the daemon stays on the bus.
TEST_F(Hostile, DescribeNeverSendsAReplyTheBusRefuses) {
  // 3 programs x 64 metadata values of 4 KiB: ~0.8 MiB per manifest, 44 manifests: ~34.6 MB.
  const std::string value(4096, 'm');
  std::string meta = "metadata = { ";
  for (int k = 0; k < 64; ++k) meta += (k ? ", k" : "k") + std::to_string(k) + " = \"" + value + "\"";
  meta += " }\n";
  constexpr int kFiles = 44;
  // The daemon starts on an empty directory (start-up waits for Describe() to answer), and the
  // manifests arrive at once: a directory renamed over the empty one (one reconcile, not 44).
  ASSERT_TRUE(start_daemon());
  const std::string staging = work_dir_ + "/staging.d";
  ASSERT_EQ(::mkdir(staging.c_str(), 0755), 0);
  for (int f = 0; f < kFiles; ++f) {
    std::string text;
    for (int p = 0; p < 3; ++p) {
      // One tracepoint per program slot: the kernel runs at most 64 programs per trace event.
      static const char* const tps[] = {"syscalls/sys_enter_getpid", "syscalls/sys_enter_getppid",
                                        "syscalls/sys_enter_gettid"};
      std::string one = tracepoint_manifest("meta-" + std::to_string(f) + "-" + std::to_string(p), tps[p]);
      one.insert(one.find("[[program.attach]]"), meta);
      text += one;
    }
    write_file_atomic(staging, "m" + std::to_string(100 + f) + ".toml", text);
  }
  ASSERT_EQ(::rename(staging.c_str(), programs_dir_.c_str()), 0);
  CmdResult r;
  ASSERT_TRUE(wait_until([&] {
    r = run({"busctl", "--system", "call", kService, kManagerPath, kManagerIface, "Describe"}, 60s);
    return r.rc != 0 && r.err.find("max_message_size") != std::string::npos;
  }, 120s, 1s)) << r.describe().substr(0, 2000);
  // Still on the bus: properties answer, Reload() works, and a smaller status is served again.
  const auto state = get_property(kManagerPath, kManagerIface, "State");
  ASSERT_TRUE(state) << "the daemon lost the bus" << read_file(log_path_).substr(0, 3000);
  EXPECT_EQ(call_reload().rc, 0);
  for (int f = 0; f < kFiles / 2; ++f) remove_manifest("m" + std::to_string(100 + f) + ".toml");
  EXPECT_EQ(call_reload().rc, 0);
  json desc;
  EXPECT_TRUE(wait_until([&] {
    try {
      desc = describe();
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }, 10s, 200ms));
  const auto p = find_program(desc, "meta-43-2");
  ASSERT_TRUE(p);
  // Loaded; whether it is attached depends on a kernel-wide limit (64 programs per trace event)
  // that other programs on the machine share, so that is not what this test asserts.
  EXPECT_NE(p->value("kernel_id", 0u), 0u) << p->dump().substr(0, 500);
  EXPECT_EQ((*p)["metadata"].value("k63", ""), value);
}

/// The daemon under the unit's capability bounding set: root without CAP_DAC_OVERRIDE and
/// CAP_DAC_READ_SEARCH, so file modes apply to it (units/bpfman-reconciler.service).
class HostileDirs : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (run({"setpriv", "--version"}).rc != 0) GTEST_SKIP() << "setpriv not found";
    daemon().set_command_prefix(
        {"setpriv", "--bounding-set=-all,+sys_admin,+net_admin,+bpf,+perfmon", "--inh-caps=-all", "--"});
  }
  void TearDown() override {
    (void)::chmod(programs_dir_.c_str(), 0755);
    (void)::chown(programs_dir_.c_str(), 0, 0);
    ReconcilerTest::TearDown();
  }
  std::vector<std::string> daemon_flags() const override { return {"--check-interval", "0"}; }
  /// The pinned program ids of `names`, all of which must be pinned.
  std::vector<std::uint32_t> ids(const std::vector<std::string>& names) {
    std::vector<std::uint32_t> out;
    for (auto& n : names) {
      auto id = raw_pinned_prog_id(prog_pin(n));
      EXPECT_TRUE(id) << n << " is not pinned" << diag();
      out.push_back(id.value_or(0));
    }
    return out;
  }
};

// Bug 7: `chown nobody programs.d; chmod 700 programs.d; Reload` detached and unloaded everything.
TEST_F(HostileDirs, UnreadableDirectoryKeepsEveryProgram) {
  write_manifest("10-a.toml", tracepoint_manifest("dir-a", "syscalls/sys_enter_getpid"));
  write_manifest("20-b.toml", tracepoint_manifest("dir-b", "syscalls/sys_enter_getppid"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("dir-a", attached) && wait_program("dir-b", attached)) << diag();
  const auto before = ids({"dir-a", "dir-b"});

  ASSERT_EQ(::chown(programs_dir_.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(programs_dir_.c_str(), 0700), 0);
  ASSERT_EQ(call_reload().rc, 0);
  json desc = describe_or_fail();
  EXPECT_EQ(desc.value("state", ""), "degraded") << desc.dump(2);
  const auto d = find_manifest(desc, programs_dir_);
  ASSERT_TRUE(d) << desc.dump(2);
  EXPECT_EQ(d->value("state", ""), "unreadable") << d->dump();
  EXPECT_NE(d->dump().find("Permission denied"), std::string::npos) << d->dump();
  EXPECT_EQ(ids({"dir-a", "dir-b"}), before) << "programs were unloaded" << diag();
  for (const char* n : {"dir-a", "dir-b"}) {
    const auto p = find_program(desc, n);
    ASSERT_TRUE(p) << desc.dump(2);
    EXPECT_EQ(p->value("state", ""), "kept") << p->dump();
    EXPECT_FALSE(links_of_prog(p->value("kernel_id", 0u)).empty()) << n << " was detached" << diag();
  }

  // Readable again: back to idle, same programs.
  ASSERT_EQ(::chmod(programs_dir_.c_str(), 0755), 0);
  ASSERT_EQ(call_reload().rc, 0);
  desc = describe_or_fail();
  EXPECT_EQ(desc.value("state", ""), "idle") << desc.dump(2);
  EXPECT_EQ(ids({"dir-a", "dir-b"}), before) << diag();
}

// A pin root that cannot be listed read as "nothing pinned" (list_dir() swallowed the error):
// the plan created every program again, and a create starts by clearing the program's
// directory. Now the observation fails, nothing is planned, the last status stays (degraded).
TEST_F(HostileDirs, UnreadablePinRootChangesNothing) {
  write_manifest("10-a.toml", tracepoint_manifest("root-a", "syscalls/sys_enter_getpid"));
  write_manifest("20-b.toml", tracepoint_manifest("root-b", "syscalls/sys_enter_getppid"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("root-a", attached) && wait_program("root-b", attached)) << diag();
  const auto before = ids({"root-a", "root-b"});
  struct stat st {};
  ASSERT_EQ(::stat(pin_root_.c_str(), &st), 0);

  ASSERT_EQ(::chmod(pin_root_.c_str(), 0), 0);
  struct Restore {
    std::string path;
    mode_t mode;
    ~Restore() { (void)::chmod(path.c_str(), mode); }
  } restore{pin_root_, static_cast<mode_t>(st.st_mode & 07777)};
  ASSERT_EQ(call_reload().rc, 0);
  json desc = describe_or_fail();
  EXPECT_EQ(desc.value("state", ""), "degraded") << desc.dump(2);
  EXPECT_NE(desc.value("error", "").find("Permission denied"), std::string::npos) << desc.dump(2);
  for (const char* n : {"root-a", "root-b"}) {
    const auto p = find_program(desc, n);
    ASSERT_TRUE(p) << desc.dump(2);
    EXPECT_EQ(p->value("state", ""), "attached") << "the last status is not kept: " << p->dump();
  }
  ASSERT_EQ(call_reload().rc, 0);  // again: logged once
  const std::string log = read_file(log_path_);
  const std::string line = "cannot observe the pin root";
  const auto first = log.find(line);
  EXPECT_NE(first, std::string::npos) << diag();
  EXPECT_EQ(log.find(line, first + 1), std::string::npos) << "logged at every reconcile" << diag();
  EXPECT_NE(log.find("Permission denied"), std::string::npos) << diag();
  for (const char* n : {"root-a", "root-b"}) {
    const std::string load = std::string("action=load program=") + n + " ";
    std::size_t loads = 0;
    for (auto at = log.find(load); at != std::string::npos; at = log.find(load, at + 1)) ++loads;
    EXPECT_EQ(loads, 1u) << n << " was loaded again" << diag();
  }

  // Readable again: back to idle, the same programs, attached all along.
  ASSERT_EQ(::chmod(pin_root_.c_str(), st.st_mode & 07777), 0);
  EXPECT_EQ(ids({"root-a", "root-b"}), before) << "programs were replaced" << diag();
  for (auto id : before) EXPECT_FALSE(links_of_prog(id).empty()) << "program " << id << " was detached" << diag();
  ASSERT_EQ(call_reload().rc, 0);
  desc = describe_or_fail();
  EXPECT_EQ(desc.value("state", ""), "idle") << desc.dump(2);
  EXPECT_EQ(desc.value("error", "?"), "") << desc.dump(2);
  EXPECT_EQ(ids({"root-a", "root-b"}), before) << diag();
  EXPECT_NE(read_file(log_path_).find("the pin root can be read again"), std::string::npos) << diag();
}

// Issue 12, point 4: a program directory whose maps/ cannot be listed read as "no maps", and
// an unreadable record as "pins incomplete": the plan replaced the program (new maps, a gap on
// its hooks). Now nothing of that program changes while its pins cannot be read, whatever its
// manifest says; the others still apply.
TEST_F(HostileDirs, UnreadableProgramPinsKeepThatProgram) {
  write_manifest("10-a.toml", tracepoint_manifest("pins-a", "syscalls/sys_enter_getpid"));
  write_manifest("20-b.toml", tracepoint_manifest("pins-b", "syscalls/sys_enter_getppid"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("pins-a", attached) && wait_program("pins-b", attached)) << diag();
  const auto before = ids({"pins-a", "pins-b"});
  const std::string maps = pin_root_ + "/pins-a/maps";
  struct stat st {};
  ASSERT_EQ(::stat(maps.c_str(), &st), 0);
  ASSERT_EQ(::chmod(maps.c_str(), 0), 0);
  struct Restore {
    std::string path;
    mode_t mode;
    ~Restore() { (void)::chmod(path.c_str(), mode); }
  } restore{maps, static_cast<mode_t>(st.st_mode & 07777)};

  // Both manifests change: pins-a must stay as it is, pins-b moves.
  write_manifest("10-a.toml", tracepoint_manifest("pins-a", "syscalls/sys_enter_getuid"));
  write_manifest("20-b.toml", tracepoint_manifest("pins-b", "syscalls/sys_enter_getuid"));
  ASSERT_EQ(call_reload().rc, 0);
  json desc = describe_or_fail();
  EXPECT_EQ(desc.value("state", ""), "degraded") << desc.dump(2);
  const auto a = find_program(desc, "pins-a");
  ASSERT_TRUE(a) << desc.dump(2);
  EXPECT_EQ(a->value("state", ""), "kept") << a->dump();
  EXPECT_NE(a->value("error", "").find("Permission denied"), std::string::npos) << a->dump();
  EXPECT_EQ(ids({"pins-a"}), std::vector<std::uint32_t>{before[0]}) << "pins-a was loaded again" << diag();
  EXPECT_FALSE(links_of_prog(before[0]).empty()) << "pins-a was detached" << diag();
  const auto b = find_program(desc, "pins-b");
  ASSERT_TRUE(b) << desc.dump(2);
  EXPECT_EQ(b->value("state", ""), "attached") << b->dump();
  EXPECT_NE(b->dump().find("sys_enter_getuid"), std::string::npos) << "pins-b did not move" << b->dump();

  // Readable again: pins-a moves too, still the same program (an attach point change).
  ASSERT_EQ(::chmod(maps.c_str(), st.st_mode & 07777), 0);
  ASSERT_EQ(call_reload().rc, 0);
  desc = describe_or_fail();
  EXPECT_EQ(desc.value("state", ""), "idle") << desc.dump(2);
  const auto a2 = find_program(desc, "pins-a");
  ASSERT_TRUE(a2) << desc.dump(2);
  EXPECT_NE(a2->dump().find("sys_enter_getuid"), std::string::npos) << a2->dump();
  EXPECT_EQ(ids({"pins-a"}), std::vector<std::uint32_t>{before[0]}) << diag();
}

// Bug 7: a dangling symlink over a live manifest removed that manifest's programs.
TEST_F(HostileDirs, DanglingSymlinkKeepsThePrograms) {
  write_manifest("10-a.toml", tracepoint_manifest("link-a", "syscalls/sys_enter_getpid"));
  write_manifest("20-b.toml", tracepoint_manifest("link-b", "syscalls/sys_enter_getppid"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("link-a", attached) && wait_program("link-b", attached)) << diag();
  const auto before = ids({"link-a"});
  const std::string tmp = programs_dir_ + "/.link.tmp";
  ASSERT_EQ(::symlink((work_dir_ + "/no-such-file.toml").c_str(), tmp.c_str()), 0);
  ASSERT_EQ(::rename(tmp.c_str(), manifest_path("10-a.toml").c_str()), 0);
  ASSERT_EQ(call_reload().rc, 0);
  json desc = describe_or_fail();
  const auto m = find_manifest(desc, manifest_path("10-a.toml"));
  ASSERT_TRUE(m) << desc.dump(2);
  EXPECT_EQ(m->value("state", ""), "invalid") << m->dump();
  EXPECT_EQ(ids({"link-a"}), before) << diag();
  EXPECT_EQ(find_program(desc, "link-a").value_or(json::object()).value("state", ""), "kept") << desc.dump(2);
  // Really gone: removed.
  remove_manifest("10-a.toml");
  ASSERT_EQ(call_reload().rc, 0);
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("link-a")); }, 5s)) << diag();
  EXPECT_TRUE(path_exists(prog_pin("link-b")));
}

class HostileDirSwap : public HostileDirs {
 protected:
  std::vector<std::string> daemon_flags() const override {
    return {"--check-interval", "0", "--directory-grace", "3"};
  }
};

// Bug 7: programs.d swapped by rename was only seen by the periodic check, and a directory
// deleted counted as empty at once.
TEST_F(HostileDirSwap, IsSeenAtOnceAndDetachesNothing) {
  write_manifest("10-a.toml", tracepoint_manifest("swap-a", "syscalls/sys_enter_getpid"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("swap-a", attached)) << diag();
  const auto before = ids({"swap-a"});

  // A new directory with one more manifest, renamed into place (rename(2) cannot replace a
  // non-empty directory: the old one moves away first).
  const std::string next = work_dir_ + "/programs.d.next", old = work_dir_ + "/programs.d.old";
  ASSERT_EQ(::mkdir(next.c_str(), 0755), 0);
  write_file_atomic(next, "10-a.toml", tracepoint_manifest("swap-a", "syscalls/sys_enter_getpid"));
  write_file_atomic(next, "20-b.toml", tracepoint_manifest("swap-b", "syscalls/sys_enter_getppid"));
  ASSERT_EQ(::rename(programs_dir_.c_str(), old.c_str()), 0);
  ASSERT_EQ(::rename(next.c_str(), programs_dir_.c_str()), 0);
  // --check-interval 0: only the parent's watch can see this.
  EXPECT_TRUE(wait_program("swap-b", attached, 3s)) << "the new directory was not seen" << diag();
  EXPECT_EQ(ids({"swap-a"}), before) << "swap-a was replaced or reloaded" << diag();

  // Changes inside the new directory are watched.
  write_manifest("30-c.toml", tracepoint_manifest("swap-c", "syscalls/sys_enter_getpid"));
  EXPECT_TRUE(wait_program("swap-c", attached, 3s)) << diag();

  // Deleted: kept for the grace period (3 s here), then it counts as empty.
  remove_tree(programs_dir_);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return describe_or_fail().value("state", "") == "degraded"; }, 2s)) << diag();
  EXPECT_EQ(ids({"swap-a"}), before) << "detached while the directory was gone for less than the grace" << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir("swap-a")); }, 10s)) << diag();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 2500ms) << "removed before the grace period ended";
  ASSERT_EQ(::mkdir(programs_dir_.c_str(), 0755), 0);  // for TearDown
  remove_tree(old);
}

// Bug 8: `check` as a user aborted (uncaught filesystem_error, rc 134) under a 0700 directory
// and said "ok: 0 programs" for a directory it could not list; `plan` invented replaces.
TEST_F(Hostile, CheckAndPlanAsAUserFailClearly) {
  if (run({"setpriv", "--version"}).rc != 0) GTEST_SKIP() << "setpriv not found";
  write_manifest("10-a.toml", tracepoint_manifest("user-a", "syscalls/sys_enter_getpid"));
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(wait_program("user-a", attached)) << diag();
  // work_dir_ is 0700 root: nobody cannot even stat what is under it.
  {
    const auto r = run_as_nobody({reconciler_bin(), "check", programs_dir_});
    EXPECT_EQ(r.rc, 1) << r.describe();
    EXPECT_NE(r.err.find(programs_dir_ + ": error: cannot read: Permission denied"), std::string::npos) << r.describe();
  }
  {
    const auto r = run_as_nobody({reconciler_bin(), "check", manifest_path("10-a.toml")});
    EXPECT_EQ(r.rc, 1) << r.describe();
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.describe();
  }
  // A directory nobody may stat but not list.
  ASSERT_EQ(::chmod(work_dir_.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(programs_dir_.c_str(), 0711), 0);
  {
    const auto r = run_as_nobody({reconciler_bin(), "check", programs_dir_});
    EXPECT_EQ(r.rc, 1) << r.describe();
    EXPECT_EQ(r.out.find("ok:"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find(programs_dir_ + ": error: manifest directory cannot be read: Permission denied"),
              std::string::npos)
        << r.describe();
  }
  ASSERT_EQ(::chmod(programs_dir_.c_str(), 0755), 0);
  // The pins are root's: plan must not read them as incomplete. (The bpffs root is 0700, which
  // plan already refused; open it, as some nodes mount it.)
  struct stat bpffs {};
  ASSERT_EQ(::stat("/sys/fs/bpf", &bpffs), 0);
  ASSERT_EQ(::chmod("/sys/fs/bpf", 0755), 0);
  ASSERT_EQ(::chmod(pin_root_.c_str(), 0755), 0);
  {
    const auto r = run_as_nobody({reconciler_bin(), "plan", "--programs-dir", programs_dir_, "--pin-root", pin_root_});
    EXPECT_EQ(r.rc, 1) << r.describe();
    EXPECT_EQ(r.out.find("replace"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("cannot read the pins"), std::string::npos) << r.describe();
  }
  ASSERT_EQ(::chmod(pin_root_.c_str(), 0700), 0);
  ASSERT_EQ(::chmod("/sys/fs/bpf", bpffs.st_mode & 07777), 0);
  ASSERT_EQ(::chmod(work_dir_.c_str(), 0700), 0);
}

}  // namespace
}  // namespace it
