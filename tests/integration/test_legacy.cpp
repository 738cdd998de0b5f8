// bpfman's objects as they are: sections libbpf 1.1.2 types differently or not at all
// (SEC("classifier/<name>"), SEC("xdp/<name>"), tracepoint/, uprobe/ and kprobe/ declared as
// their return variants). The manifest's `type` decides where the section names no other type
// (bpf/legacy_sections.bpf.c); a section of another type is a positioned error (bpfman's rule).
#include "harness.h"

#ifndef UPROBE_TARGET_BIN
#error "UPROBE_TARGET_BIN must be defined by the build"
#endif

namespace it {
namespace {

using Legacy = ReconcilerTest;

class LegacyClsBpf : public ReconcilerTest {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--tc-mechanism", "tc"}; }
};

std::string legacy_manifest(const std::string& name, const std::string& type, const std::string& function,
                            const std::string& attach) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"" + type + "\"\n"
         "bpf_function = \"" + function + "\"\n"
         "bytecode = { path = \"" + bpf_object_path("legacy_sections") + "\" }\n"
         "[[program.attach]]\n" + attach;
}

std::vector<std::uint32_t> cls_bpf_prog_ids(const std::string& ns, const std::string& ifname, bool ingress) {
  std::vector<std::uint32_t> out;
  for (const auto& f : cls_bpf_filters(ns, ifname, ingress)) {
    const json& o = f["options"];
    if (o.contains("prog") && o["prog"].contains("id")) out.push_back(o["prog"]["id"].get<std::uint32_t>());
  }
  return out;
}

// The kernel's program type of program `id` ("sched_cls", "xdp", ...), from bpftool.
std::string kernel_type(std::uint32_t id) {
  const auto info = prog_info(id);
  return info ? info->value("type", "") : "";
}

std::string tc_ingress(const std::string& ifname, const std::string& netns) {
  return "interface = \"" + ifname + "\"\nnetns = \"" + netns + "\"\ndirection = \"ingress\"\n";
}

TEST_F(Legacy, ClassifierSectionOnTcx) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  const std::string name = "bpfman-tc";
  write_manifest("tc.toml", legacy_manifest(name, "tc", "legacy_tc",
                                            tc_ingress(net_->if_a, net_->path_a())));
  std::optional<std::uint32_t> id;
  ASSERT_TRUE(wait_until([&] {
    id = pinned_prog_id(prog_pin(name));
    return id && tcx_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*id};
  }, 5s)) << "classifier/legacy_tc not attached via TCX" << diag();
  EXPECT_EQ(kernel_type(*id), "sched_cls");
  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 10; }, 2s))
      << "counter did not grow by 10: " << read_counter(map_pin(name), 0).value_or(0);
  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << diag();
  EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "tcx") << prog->dump();
}

TEST_F(LegacyClsBpf, ClassifierSectionOnClsBpf) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "bpfman-tc-legacy";
  write_manifest("tc.toml", legacy_manifest(name, "tc", "legacy_tc",
                                            tc_ingress(net_->if_a, net_->path_a())));
  std::optional<std::uint32_t> id;
  ASSERT_TRUE(wait_until([&] {
    id = pinned_prog_id(prog_pin(name));
    return id && cls_bpf_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*id};
  }, 5s)) << "classifier/legacy_tc not attached as a cls_bpf filter" << diag();
  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 10; }, 2s))
      << "counter did not grow by 10: " << read_counter(map_pin(name), 0).value_or(0);
  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << diag();
  EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "tc") << prog->dump();
}

TEST_F(Legacy, XdpSlashSection) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "bpfman-xdp";
  write_manifest("xdp.toml", legacy_manifest(name, "xdp", "legacy_xdp",
                                             "interface = \"" + net_->if_a + "\"\nnetns = \"" + net_->path_a() +
                                                 "\"\nmode = \"skb\"\n"));
  const auto id = wait_xdp_attached(name);
  ASSERT_TRUE(id) << "xdp/legacy_xdp not attached" << diag();
  EXPECT_EQ(kernel_type(*id), "xdp");
  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 10; }, 2s))
      << "counter did not grow by 10: " << read_counter(map_pin(name), 0).value_or(0);
}

TEST_F(Legacy, TracepointSlashAndUprobeDeclaredUretprobe) {
  ASSERT_TRUE(start_daemon());
  write_manifest("tp.toml", legacy_manifest("bpfman-tp", "tracepoint", "legacy_tracepoint",
                                            "tracepoint = \"syscalls/sys_enter_getppid\"\n"));
  write_manifest("uret.toml", legacy_manifest("bpfman-uret", "uretprobe", "legacy_uprobe",
                                              "target = \"" + std::string(UPROBE_TARGET_BIN) +
                                                  "\"\nfunction = \"bpfrec_it_probe_target\"\n"));
  for (const char* n : {"bpfman-tp", "bpfman-uret"})
    ASSERT_TRUE(wait_program(n, [](const json& p) { return p.value("state", "") == "attached"; }, 5s))
        << n << diag();
  const auto t0 = read_counter(map_pin("bpfman-tp"), 0);
  const auto u0 = read_counter(map_pin("bpfman-uret"), 0);
  ASSERT_TRUE(t0 && u0) << diag();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(run({"sh", "-c", "echo $PPID >/dev/null"}).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin("bpfman-tp"), 0).value_or(0) >= *t0 + 3; }, 2s))
      << "getppid tracepoint did not count";
  ASSERT_EQ(run({UPROBE_TARGET_BIN, "5"}).rc, 0);
  EXPECT_EQ(read_counter(map_pin("bpfman-uret"), 0).value_or(0), *u0 + 5) << "uretprobe from uprobe/ section";
  // It runs as a uretprobe: the perf link's probe is a return probe (bpftool: "uretprobe").
  const auto links = links_of_prog(pinned_prog_id(prog_pin("bpfman-uret")).value_or(0));
  ASSERT_EQ(links.size(), 1u) << all_links().dump();
}

// Point 9 on the real daemon: a kprobe/ section declared uprobe is a positioned error (bpfman
// refuses it), and nothing is loaded for it; a kprobe/ section declared kretprobe is valid.
TEST_F(Legacy, SectionOfAnotherFamilyIsAPositionedError) {
  ASSERT_TRUE(start_daemon());
  write_manifest("bad.toml", legacy_manifest("kprobe-as-uprobe", "uprobe", "legacy_kprobe",
                                             "target = \"" + std::string(UPROBE_TARGET_BIN) +
                                                 "\"\nfunction = \"bpfrec_it_probe_target\"\n"));
  std::optional<json> m;
  ASSERT_TRUE(wait_until([&] {
    m = find_manifest(describe_or_fail(), manifest_path("bad.toml"));
    return m && m->value("state", "") == "invalid";
  }, 5s)) << diag();
  ASSERT_EQ((*m)["errors"].size(), 1u) << m->dump();
  const json& e = (*m)["errors"][0];
  EXPECT_EQ(e.value("line", 0), 4) << m->dump();
  EXPECT_EQ(e.value("column", 0), 16) << m->dump();
  EXPECT_NE(e.value("message", "").find("is in section \"kprobe/legacy_kprobe\" (a kprobe or kretprobe program), "
                                         "which does not match type = \"uprobe\""),
            std::string::npos)
      << m->dump();
  EXPECT_FALSE(path_exists(pin_dir("kprobe-as-uprobe")));

  // The same through `check`, without root or a daemon.
  const auto check = run({reconciler_bin(), "check", manifest_path("bad.toml")});
  EXPECT_EQ(check.rc, 1) << check.describe();
  EXPECT_NE(check.err.find(manifest_path("bad.toml") + ":4:16: error: bpf_function 'legacy_kprobe' is in section"),
            std::string::npos)
      << check.describe();
  write_manifest("ok.toml", legacy_manifest("kprobe-as-kretprobe", "kretprobe", "legacy_kprobe",
                                            "function = \"do_sys_openat2\"\n"));
  const auto ok = run({reconciler_bin(), "check", manifest_path("ok.toml")});
  EXPECT_EQ(ok.rc, 0) << ok.describe();
}

// ---------------------------------------------------------------------------------------------
// Load-only programs (bpfman's load without attach): no [[program.attach]].

using LoadOnly = ReconcilerTest;

std::string load_only_tc(const std::string& name) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tc\"\n"
         "bpf_function = \"tc_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("tc_counter") + "\" }\n";
}

TEST_F(LoadOnly, LoadedAndPinnedOnNoHookThenAttachedThenDetachedKeepingTheId) {
  const bool tcx = tcx_prog_ids(net_->a, net_->if_a, true).has_value();
  if (!tcx) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  const std::string name = "loaded-only";
  write_manifest("lo.toml", load_only_tc(name));
  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "loaded"; });
  ASSERT_TRUE(prog) << diag();
  const auto id = pinned_prog_id(prog_pin(name));
  ASSERT_TRUE(id) << "no program pinned" << diag();
  EXPECT_EQ((*prog).value("kernel_id", 0u), *id);
  EXPECT_TRUE((*prog)["attachments"].empty()) << prog->dump();
  // Its maps are pinned for tools; no hook, no link has it.
  ASSERT_TRUE(pinned_map_info(map_pin(name))) << diag();
  EXPECT_TRUE(links_of_prog(*id).empty()) << all_links().dump();
  EXPECT_EQ(tcx_prog_ids(net_->a, net_->if_a, true), std::vector<std::uint32_t>{});
  EXPECT_TRUE(list_dir(links_dir(name)).empty());
  EXPECT_EQ(describe_or_fail().value("state", ""), "idle") << "a load-only program is not a degradation";

  // Attach points added: attached, same program.
  write_manifest("lo.toml", load_only_tc(name) + "[[program.attach]]\ninterface = \"" + net_->if_a +
                                "\"\nnetns = \"" + net_->path_a() + "\"\ndirection = \"ingress\"\n");
  ASSERT_TRUE(wait_until([&] { return tcx_prog_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*id}; },
                         5s))
      << diag();
  const auto c0 = read_counter(map_pin(name), 0).value_or(0);
  EXPECT_EQ(net_->ping_a_from_b(5).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= c0 + 5; }, 2s));

  // Every attach point removed: detached, still loaded with the same id and its counters.
  write_manifest("lo.toml", load_only_tc(name));
  ASSERT_TRUE(wait_until([&] {
    const auto ids = tcx_prog_ids(net_->a, net_->if_a, true);
    return ids && ids->empty();
  }, 5s)) << diag();
  const auto after = wait_program(name, [](const json& p) { return p.value("state", "") == "loaded"; });
  ASSERT_TRUE(after) << diag();
  EXPECT_EQ(pinned_prog_id(prog_pin(name)), id);
  EXPECT_EQ((*after).value("kernel_id", 0u), *id);
  EXPECT_TRUE(links_of_prog(*id).empty()) << all_links().dump();
  EXPECT_GE(read_counter(map_pin(name), 0).value_or(0), c0 + 5) << "the maps were replaced";

  remove_manifest("lo.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id); }, 2s)) << prog_holders(*id);
}

}  // namespace
}  // namespace it
