// kernel/rtnl.h: rtnetlink message parsing on hand-made buffers, including the short and
// unaligned messages that the old loops read past; and every input under fuzz/regressions/ and
// fuzz/corpus/ replayed through the same code the fuzzers call (parse_manifest for manifests).
#include "kernel/rtnl.h"
#include "manifest/limits.h"
#include "manifest/manifest.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace bpfrec {
namespace {

// Builds netlink messages into a byte vector.
struct Msg {
  std::vector<char> bytes;
  explicit Msg(uint16_t type, uint32_t seq = 1) {
    bytes.reserve(4096);  // also keeps g++ 12's -Wstringop-overflow from a false alarm on growth
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_seq = seq;
    put(&h, sizeof h);
  }
  void put(const void *p, size_t n) {
    const size_t at = bytes.size();
    bytes.resize(at + n);
    std::memcpy(bytes.data() + at, p, n);
  }
  void pad() { bytes.resize(NLMSG_ALIGN(bytes.size())); }
  size_t attr(uint16_t type, const void *p, size_t n) {
    pad();
    rtattr a{static_cast<unsigned short>(RTA_LENGTH(n)), type};
    const size_t at = bytes.size();
    put(&a, sizeof a);
    put(p, n);
    return at;
  }
  std::vector<char> done() {
    pad();
    uint32_t len = static_cast<uint32_t>(bytes.size());
    std::memcpy(bytes.data(), &len, 4);
    return bytes;
  }
};

std::vector<char> link_msg(int ifindex, const char *name, std::optional<uint32_t> xdp_id) {
  Msg m(RTM_NEWLINK);
  ifinfomsg ifi{};
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = IFF_UP;
  m.put(&ifi, sizeof ifi);
  m.attr(IFLA_IFNAME, name, std::strlen(name) + 1);
  if (xdp_id) {
    // IFLA_XDP nested: IFLA_XDP_ATTACHED (u8) and IFLA_XDP_PROG_ID (u32).
    Msg inner(0);
    inner.bytes.clear();
    uint8_t mode = XDP_ATTACHED_SKB;
    inner.attr(IFLA_XDP_ATTACHED, &mode, 1);
    inner.attr(IFLA_XDP_PROG_ID, &*xdp_id, 4);
    inner.pad();
    m.attr(IFLA_XDP | NLA_F_NESTED, inner.bytes.data(), inner.bytes.size());
  }
  return m.done();
}

// Calls each_netlink_message on an exact-size heap copy (ASan sees reads past its end).
std::vector<const nlmsghdr *> walk(const std::vector<char> &bytes, std::unique_ptr<char[]> &keep) {
  keep.reset(new char[bytes.size() ? bytes.size() : 1]);
  std::memcpy(keep.get(), bytes.data(), bytes.size());
  std::vector<const nlmsghdr *> out;
  each_netlink_message(keep.get(), bytes.size(), [&](const nlmsghdr *h) { out.push_back(h); });
  return out;
}

TEST(Rtnl, LinkWithXdp) {
  auto a = link_msg(3, "veth0", 42), b = link_msg(4, "lo", std::nullopt);
  a.insert(a.end(), b.begin(), b.end());
  std::unique_ptr<char[]> keep;
  auto msgs = walk(a, keep);
  ASSERT_EQ(msgs.size(), 2u);
  auto l = parse_rtnl_link(msgs[0]);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->ifindex, 3);
  EXPECT_EQ(l->name, "veth0");
  EXPECT_TRUE(l->has_xdp);
  EXPECT_EQ(l->xdp_prog_id, 42u);
  EXPECT_EQ(l->xdp_mode, XDP_ATTACHED_SKB);
  l = parse_rtnl_link(msgs[1]);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->name, "lo");
  EXPECT_FALSE(l->has_xdp);
  EXPECT_TRUE(is_link_watch_event(msgs[0]));
  EXPECT_EQ(classify_dump_message(msgs[0], 1, false).kind, DumpStep::Message);
  EXPECT_EQ(classify_dump_message(msgs[0], 2, false).kind, DumpStep::Skip);
}

TEST(Rtnl, DefaultRoutes) {
  Msg m(RTM_NEWROUTE);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_type = RTN_UNICAST;
  rt.rtm_table = RT_TABLE_MAIN;
  m.put(&rt, sizeof rt);
  uint32_t oif = 7, prio = 100;
  m.attr(RTA_OIF, &oif, 4);
  m.attr(RTA_PRIORITY, &prio, 4);
  auto bytes = m.done();
  std::unique_ptr<char[]> keep;
  auto msgs = walk(bytes, keep);
  ASSERT_EQ(msgs.size(), 1u);
  auto r = parse_rtnl_default_route(msgs[0], AF_INET);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ifindex, 7);
  EXPECT_EQ(r->metric, 100u);
  EXPECT_FALSE(parse_rtnl_default_route(msgs[0], AF_INET6));
  EXPECT_TRUE(is_link_watch_event(msgs[0]));
}

// The old loops cast the remainder to unsigned: a last message of 17 bytes left -3, which
// passed NLMSG_OK as 4294967293, and the next "header" was read past the buffer.
TEST(Rtnl, UnalignedLastMessageEndsTheWalk) {
  std::vector<char> bytes(17, 0);
  nlmsghdr h{17, 16, 0, 1, 0};
  std::memcpy(bytes.data(), &h, sizeof h);
  std::unique_ptr<char[]> keep;
  EXPECT_EQ(walk(bytes, keep).size(), 1u);
  // A truncated header, a zero length and a length past the end: no message.
  for (uint32_t len : {0u, 8u, 18u}) {
    nlmsghdr g{len, 16, 0, 1, 0};
    std::memcpy(bytes.data(), &g, sizeof g);
    EXPECT_EQ(walk(bytes, keep).size(), 0u) << len;
  }
  EXPECT_EQ(walk(std::vector<char>(5, 0), keep).size(), 0u);
}

TEST(Rtnl, ShortMessagesAreNotReadPast) {
  std::unique_ptr<char[]> keep;
  // NLMSG_ERROR without room for its nlmsgerr: an error (EIO), not a read past the message.
  Msg err(NLMSG_ERROR);
  auto msgs = walk(err.done(), keep);
  ASSERT_EQ(msgs.size(), 1u);
  auto s = classify_dump_message(msgs[0], 1, true);
  EXPECT_EQ(s.kind, DumpStep::Error);
  EXPECT_EQ(s.error, EIO);
  // An ack.
  Msg ack(NLMSG_ERROR);
  nlmsgerr e{};
  ack.put(&e, sizeof e);
  msgs = walk(ack.done(), keep);
  EXPECT_EQ(classify_dump_message(msgs[0], 1, true).kind, DumpStep::Ack);
  EXPECT_EQ(classify_dump_message(msgs[0], 1, false).kind, DumpStep::Error);
  // RTM_NEWLINK / RTM_NEWROUTE shorter than their fixed headers.
  for (uint16_t type : {uint16_t{RTM_NEWLINK}, uint16_t{RTM_NEWROUTE}, uint16_t{RTM_DELROUTE}}) {
    Msg m(type);
    uint32_t four = 0;
    m.put(&four, 4);
    msgs = walk(m.done(), keep);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_FALSE(parse_rtnl_link(msgs[0]));
    EXPECT_FALSE(parse_rtnl_default_route(msgs[0], AF_INET));
    EXPECT_EQ(is_link_watch_event(msgs[0]), type == RTM_NEWLINK);
  }
}

std::vector<std::filesystem::path> inputs(const std::string &kind) {
  std::vector<std::filesystem::path> out;
  for (const char *where : {"regressions", "corpus"}) {
    std::error_code ec;
    for (auto &e : std::filesystem::directory_iterator(std::string(SOURCE_DIR) + "/fuzz/" + where + "/" + kind, ec))
      if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

std::string slurp(const std::filesystem::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What fuzz/fuzz_manifest.cpp checks, on every saved input, in the normal (g++) build.
TEST(FuzzRegressions, Manifests) {
  const auto files = inputs("manifest");
  ASSERT_FALSE(files.empty());
  for (auto &f : files) {
    auto m = parse_manifest(slurp(f), f.string());
    EXPECT_LE(m.errors.size(), kMaxDiagnosticsPerManifest + 1) << f;
    EXPECT_TRUE(m.errors.empty() || m.programs.empty()) << f;
    if (f.parent_path().filename() == "manifest" && f.parent_path().parent_path().filename() == "regressions") {
      EXPECT_FALSE(m.errors.empty()) << f << ": every saved regression input is a bad manifest";
    }
  }
}

TEST(FuzzRegressions, Rtnl) {
  const auto files = inputs("rtnl");
  ASSERT_FALSE(files.empty());
  for (auto &f : files) {
    const std::string s = slurp(f);
    std::unique_ptr<char[]> keep;
    for (auto *h : walk(std::vector<char>(s.begin(), s.end()), keep)) {
      (void)classify_dump_message(h, h->nlmsg_seq, true);
      (void)parse_rtnl_link(h);
      (void)parse_rtnl_default_route(h, AF_INET);
      (void)parse_rtnl_default_route(h, AF_INET6);
      (void)is_link_watch_event(h);
    }
  }
}

}  // namespace
}  // namespace bpfrec
