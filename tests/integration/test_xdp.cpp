// XDP: attach / replace / detach on a veth inside a netns, and a real third-party object
// (xdp-tools' xdp-filter). Several programs on one interface: test_xdp_shared.cpp.
#include <algorithm>
#include <cstdio>

#include "harness.h"

namespace it {
namespace {

using Xdp = ReconcilerTest;

bool contains_id(const json& ids, std::uint32_t id) {
  for (const auto& i : ids)
    if (i.get<std::uint32_t>() == id) return true;
  return false;
}

TEST_F(Xdp, AttachCountReplaceDetach) {
  ASSERT_TRUE(start_daemon());
  const std::string name = "xdp-counter";
  write_manifest("xdp.toml", xdp_manifest(name, 1));

  // 1. Attached, as seen by the kernel: the XDP program on veth-a is the one pinned at prog.
  const auto id = wait_xdp_attached(name);
  ASSERT_TRUE(id) << "no pinned XDP program attached on veth-a within 5 s" << diag();
  EXPECT_EQ(xdp_mode(net_->a, net_->if_a), "generic") << "mode = \"skb\" must attach in generic mode";
  ASSERT_TRUE(path_exists(map_pin(name))) << "maps/counts not pinned" << diag();
  EXPECT_TRUE(path_exists(pin_dir(name) + "/record")) << "no record pin/file" << diag();
  {
    const auto info = prog_info(*id);
    ASSERT_TRUE(info);
    const auto map = pinned_map_info(map_pin(name));
    ASSERT_TRUE(map);
    EXPECT_EQ((*map)["name"], "counts");
    EXPECT_TRUE(contains_id((*info)["map_ids"], (*map)["id"].get<std::uint32_t>()))
        << "pinned counts map is not the program's map: " << info->dump() << " / " << map->dump();
  }

  // 2. Packets from netns b move the pinned counter.
  const auto before = read_counter(map_pin(name), 0);
  ASSERT_TRUE(before) << "cannot dump " << map_pin(name);
  const auto ping = net_->ping_a_from_b(10);
  EXPECT_EQ(ping.rc, 0) << ping.describe();
  std::optional<std::uint64_t> after;
  EXPECT_TRUE(wait_until([&] {
    after = read_counter(map_pin(name), 0);
    return after && *after >= *before + 10;
  }, 2s)) << "counter " << *before << " -> " << after.value_or(0) << " after 10 pings";
  EXPECT_GT(read_counter(map_pin(name), 1).value_or(0), 0u) << "byte counter did not move";

  // 3. The daemon's view agrees.
  const auto prog = wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; });
  ASSERT_TRUE(prog) << "Describe never showed " << name << " attached" << diag();
  EXPECT_EQ((*prog)["type"], "xdp");
  EXPECT_EQ((*prog).value("kernel_id", 0u), *id) << prog->dump();
  EXPECT_EQ((*prog)["maps"].value("counts", ""), map_pin(name)) << prog->dump();
  EXPECT_EQ((*prog).value("manifest", ""), manifest_path("xdp.toml")) << prog->dump();
  ASSERT_EQ((*prog)["attachments"].size(), 1u) << prog->dump();
  EXPECT_EQ((*prog)["attachments"][0].value("mechanism", ""), "xdp") << prog->dump();
  EXPECT_EQ((*prog)["attachments"][0].value("state", ""), "attached") << prog->dump();
  {
    const json desc = describe_or_fail();
    EXPECT_EQ(desc.value("state", ""), "idle") << desc.dump(2);
    const auto m = find_manifest(desc, manifest_path("xdp.toml"));
    ASSERT_TRUE(m) << desc.dump(2);
    EXPECT_EQ((*m).value("state", ""), "ok") << m->dump();
  }

  // 4. The per-program D-Bus object.
  {
    std::string path;
    for (const auto& p : object_paths()) {
      if (!p.starts_with(kProgramPathPrefix)) continue;
      const auto n = get_property(p, kProgramIface, "Name");
      if (n && *n == name) path = p;
    }
    ASSERT_FALSE(path.empty()) << "no object under " << kProgramPathPrefix << " with Name " << name
                               << "; objects: " << json(object_paths()).dump();
    EXPECT_EQ(get_property(path, kProgramIface, "State").value_or(json()), "attached");
    EXPECT_EQ(get_property(path, kProgramIface, "Type").value_or(json()), "xdp");
    EXPECT_EQ(get_property(path, kProgramIface, "KernelId").value_or(json()), *id);
  }

  // 5. `status --json` reads the same document over the bus.
  {
    const auto st = run({reconciler_bin(), "status", "--json"});
    ASSERT_EQ(st.rc, 0) << st.describe();
    json doc;
    ASSERT_NO_THROW(doc = json::parse(st.out)) << st.out;
    const auto p = find_program(doc, name);
    ASSERT_TRUE(p) << st.out;
    EXPECT_EQ((*p).value("kernel_id", 0u), *id);
  }

  // 6. Edit the manifest: new global data means a new program, swapped in place.
  write_manifest("xdp.toml", xdp_manifest(name, 2));
  std::optional<std::uint32_t> id2;
  ASSERT_TRUE(wait_until([&] {
    id2 = pinned_prog_id(prog_pin(name));
    if (!id2 || *id2 == *id) return false;
    const auto ids = xdp_prog_ids(net_->a, net_->if_a);
    return ids.size() == 1 && ids[0] == *id2;
  }, 5s)) << "program was not replaced after editing global_data" << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id); }, 2s))
      << "old program " << *id << " still loaded after replacement; " << prog_holders(*id);
  {
    // The new program's .rodata holds sample_every = 2 (the only variable in that section).
    const auto info = prog_info(*id2);
    ASSERT_TRUE(info);
    bool found = false;
    for (const auto& mid : (*info)["map_ids"]) {
      const auto r = run({"bpftool", "-j", "map", "show", "id", std::to_string(mid.get<std::uint32_t>())});
      const json m = json::parse(r.out, nullptr, false);
      if (m.is_discarded() || !m.value("name", "").ends_with(".rodata")) continue;
      const auto bytes = map_value_bytes(mid.get<std::uint32_t>());
      ASSERT_TRUE(bytes && bytes->size() >= 4) << r.out;
      EXPECT_EQ((*bytes)[0] | ((*bytes)[1] << 8) | ((*bytes)[2] << 16) | ((*bytes)[3] << 24), 2)
          << "sample_every in the new program's .rodata";
      found = true;
    }
    EXPECT_TRUE(found) << "no .rodata map on the new program: " << info->dump();
  }
  {
    const auto c0 = read_counter(map_pin(name), 0).value_or(0);
    EXPECT_EQ(net_->ping_a_from_b(10).rc, 0);
    EXPECT_TRUE(wait_until([&] { return read_counter(map_pin(name), 0).value_or(0) >= c0 + 4; }, 2s))
        << "replaced program does not count into the pinned map";
  }
  const auto prog2 = wait_program(name, [&](const json& p) {
    return p.value("state", "") == "attached" && p.value("kernel_id", 0u) == *id2;
  });
  EXPECT_TRUE(prog2) << "Describe does not show the replacement" << diag();

  // 7. Delete the manifest: detached, unpinned, unloaded.
  remove_manifest("xdp.toml");
  EXPECT_TRUE(wait_until([&] { return xdp_prog_ids(net_->a, net_->if_a).empty(); }, 5s))
      << "XDP program still attached after the manifest was deleted" << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s))
      << pin_dir(name) << " still exists" << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id2); }, 2s)) << "program " << *id2 << " still loaded" << " " << prog_holders(*id2);
  EXPECT_TRUE(wait_until([&] { return !find_program(describe(), name); }, 2s))
      << "Describe still lists the deleted program" << diag();
}

TEST_F(Xdp, RealXdpFilterObjectFromXdpTools) {
  const std::string object = std::string(kXdpToolsObjDir) + "/xdpfilt_dny_udp.o";
  if (!path_exists(object)) GTEST_SKIP() << object << " not installed (xdp-tools)";
  ASSERT_TRUE(start_daemon());
  const std::string name = "xdp-filter-udp";
  // No global_data: xdpfilt has no sample_every. Written by hand rather than xdp_manifest().
  write_manifest("filter.toml", "[[program]]\n"
                                "name = \"" + name + "\"\n"
                                "type = \"xdp\"\n"
                                "bpf_function = \"xdpfilt_dny_udp\"\n"
                                "bytecode = { path = \"" + object + "\" }\n"
                                "[[program.attach]]\n"
                                "interface = \"" + net_->if_a + "\"\n"
                                "netns = \"" + net_->path_a() + "\"\n"
                                "mode = \"skb\"\n");
  const auto id = wait_xdp_attached(name);
  ASSERT_TRUE(id) << "xdpfilt_dny_udp not attached" << diag();
  const auto info = prog_info(*id);
  ASSERT_TRUE(info);
  EXPECT_EQ((*info).value("name", ""), "xdpfilt_dny_udp");

  const auto pins = list_dir(pin_dir(name) + "/maps");
  ASSERT_FALSE(pins.empty()) << "no map pins under " << pin_dir(name) << "/maps" << diag();
  for (const auto& pin : pins) {
    const auto m = pinned_map_info(pin_dir(name) + "/maps/" + pin);
    ASSERT_TRUE(m) << pin;
    EXPECT_TRUE(contains_id((*info)["map_ids"], (*m)["id"].get<std::uint32_t>()))
        << "pinned map " << pin << " is not used by the program: " << m->dump() << " / " << info->dump();
    const std::string kname = (*m).value("name", "");
    // Kernel map names are truncated to 15 characters.
    EXPECT_EQ(kname, pin.substr(0, 15)) << "pin name vs kernel map name";
  }
  for (const char* expected : {"xdp_stats_map", "filter_ports"})
    EXPECT_TRUE(std::find(pins.begin(), pins.end(), expected) != pins.end())
        << "map " << expected << " not pinned; pins: " << json(pins).dump();

  // The program sees traffic: xdp-filter counts every verdict in its per-CPU xdp_stats_map
  // (whatever it decides about ICMP: this object drops our pings even when bpftool loads it).
  {
    const auto s0 = sum_first_u64(pin_dir(name) + "/maps/xdp_stats_map");
    ASSERT_TRUE(s0) << "cannot dump the pinned xdp_stats_map";
    net_->ping_a_from_b(3);
    EXPECT_TRUE(wait_until([&] {
      return sum_first_u64(pin_dir(name) + "/maps/xdp_stats_map").value_or(0) >= *s0 + 3;
    }, 2s)) << "xdp_stats_map did not count the packets";
  }

  remove_manifest("filter.toml");
  EXPECT_TRUE(wait_until([&] { return xdp_prog_ids(net_->a, net_->if_a).empty(); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !path_exists(pin_dir(name)); }, 5s)) << diag();
  EXPECT_TRUE(wait_until([&] { return !prog_listed(*id); }, 2s)) << "program still loaded" << " " << prog_holders(*id);
}

}  // namespace
}  // namespace it
