// TC: TCX links (default on this kernel) and legacy clsact + cls_bpf (--tc-mechanism tc).
#include "harness.h"

namespace it {
namespace {

using Tcx = ReconcilerTest;

class LegacyTc : public ReconcilerTest {
 protected:
  std::vector<std::string> daemon_flags() const override { return {"--tc-mechanism", "tc"}; }
};

constexpr std::uint32_t kLinkTypeTcx = 11;  // BPF_LINK_TYPE_TCX; bpftool 7.1 prints the number

bool is_tcx_link(const json& l) {
  const json& t = l["type"];
  return (t.is_number() && t.get<std::uint32_t>() == kLinkTypeTcx) || (t.is_string() && t == "tcx");
}

std::vector<std::uint32_t> cls_bpf_ids(const std::string& ns, const std::string& ifname, bool ingress) {
  std::vector<std::uint32_t> out;
  for (const auto& f : cls_bpf_filters(ns, ifname, ingress)) {
    const json& o = f["options"];
    if (o.contains("prog") && o["prog"].contains("id")) out.push_back(o["prog"]["id"].get<std::uint32_t>());
  }
  return out;
}

TEST_F(Tcx, IngressAttachCountDetach) {
  {
    const auto probe = tcx_prog_ids(net_->a, net_->if_a, true);
    if (!probe) GTEST_SKIP() << "kernel has no TCX (BPF_PROG_QUERY for BPF_TCX_INGRESS failed)";
    ASSERT_TRUE(probe->empty());
  }
  ASSERT_TRUE(start_daemon());
  const std::string name = "tc-counter";
  write_manifest("tc.toml", tc_manifest(name, "ingress"));

  std::optional<std::uint32_t> id;
  ASSERT_TRUE(wait_until([&] {
    id = pinned_prog_id(prog_pin(name));
    if (!id) return false;
    const auto ids = tcx_prog_ids(net_->a, net_->if_a, true);
    return ids && *ids == std::vector<std::uint32_t>{*id};
  }, 5s)) << "pinned tc program not attached via TCX ingress on veth-a" << diag();

  // Kernel view: TCX, not cls_bpf; a TCX link pinned under links/ points at the program.
  EXPECT_TRUE(cls_bpf_ids(net_->a, net_->if_a, true).empty()) << "auto mode on a TCX kernel used cls_bpf";
  EXPECT_TRUE(tcx_prog_ids(net_->a, net_->if_a, false).value_or(std::vector<std::uint32_t>{1}).empty())
      << "something attached on egress";
  const auto links = links_of_prog(*id);
  ASSERT_EQ(links.size(), 1u) << "links of prog " << *id << ": " << all_links().dump();
  EXPECT_TRUE(is_tcx_link(links[0])) << links[0].dump();
  const auto link_pins = list_dir(links_dir(name));
  ASSERT_EQ(link_pins.size(), 1u) << "expected one pinned link under " << links_dir(name) << diag();
  const auto pinned_link = pinned_link_info(links_dir(name) + "/" + link_pins[0]);
  ASSERT_TRUE(pinned_link);
  EXPECT_EQ((*pinned_link).value("prog_id", 0u), *id);
  EXPECT_EQ((*pinned_link).value("id", 0u), links[0].value("id", 0u));

  // Traffic.
  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << "cannot read " << map_pin(name) << diag();
  EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 10; }, 2s))
      << "counter did not grow by 10: " << read_counter(map_pin(name), 0).value_or(0);

  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << diag();
  EXPECT_EQ((*prog).value("kernel_id", 0u), *id);
  ASSERT_EQ((*prog)["attachments"].size(), 1u) << prog->dump();
  EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "tcx") << prog->dump();
  EXPECT_EQ((*prog)["attachments"][0].value("link_id", 0u), links[0].value("id", 0u)) << prog->dump();

  remove_manifest("tc.toml");
  EXPECT_TRUE(wait_until([&] {
    const auto ids = tcx_prog_ids(net_->a, net_->if_a, true);
    return ids && ids->empty();
  }, 5s)) << "TCX program still attached after delete" << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id); }, 2s)) << "program still loaded" << " " << prog_holders(*id);
  EXPECT_TRUE(links_of_prog(*id).empty()) << all_links().dump();
}

TEST_F(LegacyTc, ClsBpfAttachCountDetach) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "tc-legacy";
  write_manifest("tc.toml", tc_manifest(name, "ingress"));

  std::optional<std::uint32_t> id;
  ASSERT_TRUE(wait_until([&] {
    id = pinned_prog_id(prog_pin(name));
    return id && cls_bpf_ids(net_->a, net_->if_a, true) == std::vector<std::uint32_t>{*id};
  }, 5s)) << "no cls_bpf filter with the pinned program on veth-a ingress" << diag();
  EXPECT_TRUE(has_clsact(net_->a, net_->if_a));
  {
    const auto filters = cls_bpf_filters(net_->a, net_->if_a, true);
    ASSERT_EQ(filters.size(), 1u);
    EXPECT_TRUE(filters[0]["options"].value("direct-action", false)) << filters[0].dump();
  }
  if (const auto tcx = tcx_prog_ids(net_->a, net_->if_a, true)) {
    EXPECT_TRUE(tcx->empty()) << "--tc-mechanism tc still attached via TCX";
  }

  const auto c0 = read_counter(map_pin(name), 0);
  ASSERT_TRUE(c0) << diag();
  EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= *c0 + 10; }, 2s));

  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << diag();
  EXPECT_EQ((*prog).value("kernel_id", 0u), *id);
  ASSERT_EQ((*prog)["attachments"].size(), 1u) << prog->dump();
  EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "tc") << prog->dump();

  remove_manifest("tc.toml");
  EXPECT_TRUE(wait_until([&] { return cls_bpf_ids(net_->a, net_->if_a, true).empty(); }, 5s))
      << "cls_bpf filter left behind" << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id); }, 2s)) << "program still loaded" << " " << prog_holders(*id);
  // The clsact qdisc itself may stay (it can be shared with others); no assertion on it.
}

TEST_F(Tcx, OneProgramOnIngressAndEgress) {
  if (!tcx_prog_ids(net_->a, net_->if_a, true)) GTEST_SKIP() << "kernel has no TCX";
  ASSERT_TRUE(start_daemon());
  const std::string name = "tc-both";
  write_manifest("tc.toml", tc_manifest(name, "ingress") +
                                "[[program.attach]]\n"
                                "interface = \"" + net_->if_a + "\"\n"
                                "netns = \"" + net_->path_a() + "\"\n"
                                "direction = \"egress\"\n");
  std::optional<std::uint32_t> id;
  ASSERT_TRUE(wait_until([&] {
    id = pinned_prog_id(prog_pin(name));
    if (!id) return false;
    const std::vector<std::uint32_t> want{*id};
    return tcx_prog_ids(net_->a, net_->if_a, true) == want && tcx_prog_ids(net_->a, net_->if_a, false) == want;
  }, 5s)) << "program not on both TCX hooks" << diag();
  EXPECT_EQ(links_of_prog(*id).size(), 2u) << all_links().dump();
  EXPECT_EQ(list_dir(links_dir(name)).size(), 2u) << "two link pins expected" << diag();

  // 10 requests in (ingress) and 10 replies out (egress) of veth-a.
  const auto c0 = read_counter(map_pin(name), 0).value_or(0);
  EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
  EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= c0 + 20; }, 2s))
      << "expected >= 20 packets, got " << read_counter(map_pin(name), 0).value_or(0) - c0;
  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << diag();
  EXPECT_EQ((*prog)["attachments"].size(), 2u) << prog->dump();

  // Dropping the egress attachment from the manifest detaches only that hook, same program.
  write_manifest("tc.toml", tc_manifest(name, "ingress"));
  EXPECT_TRUE(wait_until([&] {
    const auto e = tcx_prog_ids(net_->a, net_->if_a, false);
    return e && e->empty();
  }, 5s)) << "egress still attached" << diag();
  EXPECT_EQ(tcx_prog_ids(net_->a, net_->if_a, true), std::vector<std::uint32_t>{*id})
      << "ingress changed when only egress was removed" << diag();
  EXPECT_EQ(list_dir(links_dir(name)).size(), 1u) << diag();

  remove_manifest("tc.toml");
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] {
    const auto i = tcx_prog_ids(net_->a, net_->if_a, true);
    return i && i->empty();
  }, 5s)) << diag();
}

}  // namespace
}  // namespace it
