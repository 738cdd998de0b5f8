// bpfman compatibility of attach points and status (issue 10): uprobe targets named by library
// ("libc"), per-attach-point metadata with `status --type/--metadata`, and every other BPF
// program of the node in Describe()'s `foreign` section and `status --all`.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include <cstring>
#include <iostream>
#include <ctime>
#include <thread>

#include "harness.h"

namespace it {
namespace {

using Compat = ReconcilerTest;

std::string libc_uprobe(const std::string& name, const std::string& target, const std::string& function,
                        std::optional<int> pid = std::nullopt) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"uprobe\"\n"
         "bpf_function = \"uprobe_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("uprobe_counter") + "\" }\n"
         "[[program.attach]]\n"
         "target = \"" + target + "\"\n"
         "function = \"" + function + "\"\n" +
         (pid ? "pid = " + std::to_string(*pid) + "\n" : "");
}

TEST_F(Compat, UprobeOnLibraryNameCountsCalls) {
  if (!path_exists("/etc/ld.so.cache")) GTEST_SKIP() << "no /etc/ld.so.cache";
  if (run({"perl", "-e", "1"}).rc != 0) GTEST_SKIP() << "no perl to call getppid() in a loop";
  ASSERT_TRUE(start_daemon());
  write_manifest("libc.toml", libc_uprobe("libc-getppid", "libc", "getppid"));
  const auto p = wait_program("libc-getppid", [](const json& j) { return j.value("state", "") == "attached"; }, 10s);
  ASSERT_TRUE(p) << diag();
  // Status shows what "libc" became on this node: the loader's libc, as `ldconfig -p` has it.
  const std::string resolved = (*p)["attachments"][0].value("resolved", "");
  EXPECT_NE(resolved.find("/libc.so.6"), std::string::npos) << p->dump();
  EXPECT_NE(run({"sh", "-c", "ldconfig -p | grep -F ' => " + resolved + "'"}).rc, 1) << resolved;
  EXPECT_EQ((*p)["attachments"][0].value("target", ""), "libc:getppid") << p->dump();
  const auto c0 = read_counter(map_pin("libc-getppid"), 0).value_or(0);
  ASSERT_EQ(run({"perl", "-e", "getppid() for 1..500"}).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("libc-getppid"), 0).value_or(0) >= c0 + 500; }, 2s))
      << "counted " << read_counter(map_pin("libc-getppid"), 0).value_or(0) - c0 << " of 500 getppid() calls";

  // With a pid: the library that process maps, seen through its root (its mount namespace).
  BackgroundCommand loop({"perl", "-e", "while (1) { getppid(); select(undef, undef, undef, 0.005) }"});
  ASSERT_TRUE(wait_until([&] { return path_exists("/proc/" + std::to_string(loop.pid()) + "/maps"); }, 2s));
  std::this_thread::sleep_for(200ms);  // perl has mapped libc
  write_manifest("pid.toml", libc_uprobe("libc-pid", "libc", "getppid", loop.pid()));
  const auto q = wait_program("libc-pid", [](const json& j) { return j.value("state", "") == "attached"; }, 10s);
  ASSERT_TRUE(q) << diag();
  const std::string via_root = (*q)["attachments"][0].value("resolved", "");
  EXPECT_EQ(via_root.rfind("/proc/" + std::to_string(loop.pid()) + "/root/", 0), 0u) << q->dump();
  EXPECT_NE(via_root.find("libc.so.6"), std::string::npos) << q->dump();
  const auto l0 = read_counter(map_pin("libc-pid"), 0).value_or(0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("libc-pid"), 0).value_or(0) >= l0 + 20; }, 5s))
      << "the looping process's getppid() calls were not counted";

  // A name nothing provides: a positioned error at the target, nothing attached.
  write_manifest("none.toml", libc_uprobe("libc-none", "libnosuchlibrary", "getppid"));
  const auto n = wait_program("libc-none", [](const json& j) {
    return !j["attachments"].empty() && !j["attachments"][0].value("error", "").empty();
  }, 10s);
  ASSERT_TRUE(n) << diag();
  const std::string err = (*n)["attachments"][0].value("error", "");
  EXPECT_NE(err.find(manifest_path("none.toml") + ":7:10: error: uprobe target 'libnosuchlibrary'"), std::string::npos)
      << err;
  EXPECT_NE(err.find("ld.so.cache"), std::string::npos) << err;
  EXPECT_EQ((*n)["attachments"][0].value("state", ""), "failed");
  EXPECT_TRUE(list_dir(links_dir("libc-none")).empty());
}

TEST_F(Compat, AttachMetadataIsShownAndFiltered) {
  ASSERT_TRUE(start_daemon());
  write_manifest("tp.toml",
                 "[[program]]\nname = \"tp-meta\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
                 "bytecode = { path = \"" + obj("tracepoint_counter") + "\" }\n"
                 "metadata = { team = \"net\" }\n"
                 "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\nmetadata = { zone = \"edge\" }\n"
                 "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_close\"\nmetadata = { zone = \"core\" }\n");
  write_manifest("tc.toml", tc_manifest("tc-meta", "ingress"));
  ASSERT_TRUE(wait_program("tp-meta", [](const json& j) { return j.value("state", "") == "attached"; }, 10s)) << diag();
  ASSERT_TRUE(wait_program("tc-meta", [](const json& j) { return j.value("state", "") == "attached"; }, 10s)) << diag();
  const auto p = find_program(describe_or_fail(), "tp-meta");
  ASSERT_TRUE(p);
  ASSERT_EQ((*p)["attachments"].size(), 2u);
  EXPECT_EQ((*p)["attachments"][0]["metadata"], json({{"zone", "edge"}})) << p->dump();
  EXPECT_EQ((*p)["attachments"][1]["metadata"], json({{"zone", "core"}})) << p->dump();

  auto status = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{reconciler_bin(), "status", "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run(argv);
    EXPECT_EQ(r.rc, 0) << r.describe();
    return json::parse(r.out, nullptr, false);
  };
  auto names = [](const json& d) {
    std::vector<std::string> out;
    for (auto& q : d["programs"]) {
      std::string s = q["name"].get<std::string>() + ":";
      for (auto& a : q["attachments"]) s += a["target"].get<std::string>() + ",";
      out.push_back(s);
    }
    return out;
  };
  EXPECT_EQ(names(status({"--type", "tc"})), (std::vector<std::string>{"tc-meta:" + net_->if_a + " ingress (netns " +
                                                                        net_->path_a() + "),"}));
  EXPECT_EQ(names(status({"--metadata", "zone=core"})),
            (std::vector<std::string>{"tp-meta:syscalls/sys_enter_close,"}));
  EXPECT_EQ(names(status({"--type", "tracepoint", "--metadata", "team=net", "--metadata", "zone=edge"})),
            (std::vector<std::string>{"tp-meta:syscalls/sys_enter_openat,"}));
  EXPECT_TRUE(status({"--type", "xdp"})["programs"].empty());
  EXPECT_EQ(run({reconciler_bin(), "status", "--metadata", "novalue"}).rc, 1);

  // Changing only the metadata changes nothing in the kernel (same link ids).
  const auto links0 = list_dir(links_dir("tp-meta"));
  const auto id0 = pinned_prog_id(prog_pin("tp-meta"));
  write_manifest("tp.toml",
                 "[[program]]\nname = \"tp-meta\"\ntype = \"tracepoint\"\nbpf_function = \"tracepoint_count\"\n"
                 "bytecode = { path = \"" + obj("tracepoint_counter") + "\" }\n"
                 "metadata = { team = \"net\" }\n"
                 "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\nmetadata = { zone = \"west\" }\n"
                 "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_close\"\nmetadata = { zone = \"core\" }\n");
  ASSERT_TRUE(wait_program("tp-meta", [](const json& j) {
    return j["attachments"].size() == 2 && j["attachments"][0]["metadata"].value("zone", "") == "west";
  }, 10s)) << diag();
  EXPECT_EQ(list_dir(links_dir("tp-meta")), links0);
  EXPECT_EQ(pinned_prog_id(prog_pin("tp-meta")), id0);
}

TEST_F(Compat, ForeignProgramsAreListedWithTheirHooks) {
  ASSERT_TRUE(start_daemon());
  write_manifest("tp.toml", tracepoint_manifest("tp-ours", "syscalls/sys_enter_openat"));
  ASSERT_TRUE(wait_program("tp-ours", [](const json& j) { return j.value("state", "") == "attached"; }, 10s)) << diag();
  const auto ours = pinned_prog_id(prog_pin("tp-ours"));
  ASSERT_TRUE(ours);

  // Loaded and pinned by bpftool under another directory, not attached.
  const std::string dir = "/sys/fs/bpf/" + unique_name("other-tool");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const auto load = run({"bpftool", "prog", "load", obj("xdp_counter"), dir + "/prog"});
  ASSERT_EQ(load.rc, 0) << load.describe();
  const auto pinned = raw_pinned_prog_id(dir + "/prog");
  ASSERT_TRUE(pinned);
  // And, where the kernel has TCX, one attached with a TCX link on veth-a (netns a).
  std::optional<ForeignTcx> tcx;
  if (tcx_prog_ids(net_->a, net_->if_a, true)) tcx.emplace(net_->a, net_->if_a, obj("tc_counter"));
  if (tcx) {
    ASSERT_TRUE(tcx->error.empty()) << tcx->error;
  }

  const json d = describe_or_fail();
  ASSERT_TRUE(d.contains("foreign")) << d.dump();
  const json& f = d["foreign"];
  auto find = [&](std::uint32_t id) -> std::optional<json> {
    for (auto& q : f["programs"])
      if (q.value("id", 0u) == id) return q;
    return std::nullopt;
  };
  EXPECT_FALSE(find(*ours)) << "our own program is listed as foreign";
  const auto x = find(*pinned);
  ASSERT_TRUE(x) << f.dump();
  EXPECT_EQ((*x).value("type", ""), "xdp");
  EXPECT_EQ((*x).value("name", ""), "xdp_count");
  EXPECT_EQ((*x).value("tag", "").size(), 16u);
  EXPECT_EQ((*x).value("uid", 1u), 0u);
  EXPECT_FALSE((*x)["map_ids"].empty());
  EXPECT_EQ((*x).value("owner", ""), "pinned at " + dir);
  const auto now = static_cast<std::uint64_t>(::time(nullptr));
  EXPECT_LE((*x).value("loaded_at", 0ull), now + 2);
  EXPECT_GE((*x).value("loaded_at", 0ull), now - 120);
  EXPECT_GE(f.value("programs_seen", 0u), 2u);
  std::cout << "[ figure   ] foreign scan: " << f.value("programs_seen", 0u) << " programs, " << f.value("links_seen", 0u)
            << " links, " << f.value("pins_seen", 0u) << " pins in " << f.value("scan_ms", 0.0) << " ms" << std::endl;
  if (tcx) {
    const auto t = find(tcx->prog_id);
    ASSERT_TRUE(t) << f.dump();
    ASSERT_EQ((*t)["links"].size(), 1u) << t->dump();
    EXPECT_EQ((*t)["links"][0].value("id", 0u), tcx->link_id);
    EXPECT_EQ((*t)["links"][0].value("type", ""), "tcx");
    // `ip -o link` starts with "<ifindex>: <name>...".
    const std::string line = run_in_netns(net_->a, {"ip", "-o", "link", "show", "dev", net_->if_a}).out;
    EXPECT_EQ((*t)["links"][0].value("hook", ""), "tcx ingress ifindex " + line.substr(0, line.find(':')))
        << t->dump();
  }
  // The CLI: `status --all` shows them; plain `status` does not.
  const auto all = run({reconciler_bin(), "status", "--all"});
  ASSERT_EQ(all.rc, 0) << all.describe();
  EXPECT_NE(all.out.find("OTHER BPF PROGRAMS ON THIS NODE"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find(std::to_string(*pinned)), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("pinned at " + dir), std::string::npos) << all.out;
  const auto plain = run({reconciler_bin(), "status"});
  EXPECT_EQ(plain.out.find("OTHER BPF PROGRAMS"), std::string::npos) << plain.out;

  // The scan keeps what each pin holds while the pin is the same inode (ForeignScanCache): a
  // second Describe() opens fewer pins than it sees, and another program pinned at the same path
  // (a new inode) is read afresh: listed with that pin, the first one no longer.
  const json again = describe_or_fail()["foreign"];
  EXPECT_LT(again.value("pins_opened", 0u), again.value("pins_seen", 0u)) << again.dump();
  ASSERT_EQ(::unlink((dir + "/prog").c_str()), 0);
  const auto reload = run({"bpftool", "prog", "load", obj("tracepoint_counter"), dir + "/prog"});
  ASSERT_EQ(reload.rc, 0) << reload.describe();
  const auto second = raw_pinned_prog_id(dir + "/prog");
  ASSERT_TRUE(second);
  ASSERT_NE(*second, *pinned);
  const json after = describe_or_fail()["foreign"];
  bool listed = false;
  for (auto& q : after["programs"]) {
    EXPECT_NE(q.value("id", 0u), *pinned) << "the unpinned program is still listed: " << q.dump();
    if (q.value("id", 0u) == *second) {
      listed = true;
      EXPECT_EQ(q.value("owner", ""), "pinned at " + dir) << q.dump();
      EXPECT_EQ(q["pins"], json::array({dir + "/prog"})) << q.dump();
    }
  }
  EXPECT_TRUE(listed) << "the program pinned at the same path is not listed: " << after.dump();
  ::unlink((dir + "/prog").c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace it
