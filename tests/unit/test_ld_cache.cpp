// Uprobe library names: the loader's cache and /proc/PID/maps (util/ld_cache.h); and util/number.h.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/ld_cache.h"
#include "util/number.h"

namespace bpfrec {
namespace {

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// (soname, path) pairs as `ldconfig -p` prints them, in its order.
std::vector<std::pair<std::string, std::string>> ldconfig_p() {
  std::vector<std::pair<std::string, std::string>> out;
  FILE *p = ::popen("ldconfig -p 2>/dev/null || /sbin/ldconfig -p", "r");
  if (!p) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string line(buf);
    const auto arrow = line.find(" => ");
    if (line.empty() || line[0] != '\t' || arrow == std::string::npos) continue;
    std::string key = line.substr(1, line.find(' ') - 1);
    std::string value = line.substr(arrow + 4);
    while (!value.empty() && value.back() == '\n') value.pop_back();
    out.emplace_back(key, value);
  }
  ::pclose(p);
  return out;
}

TEST(LdCache, ReadsThisMachinesCacheLikeLdconfig) {
  const std::string data = slurp("/etc/ld.so.cache");
  if (data.empty()) GTEST_SKIP() << "no /etc/ld.so.cache here";
  const auto want = ldconfig_p();
  if (want.empty()) GTEST_SKIP() << "ldconfig -p printed nothing";
  auto cache = parse_ld_so_cache(data);
  ASSERT_TRUE(cache) << cache.error().message;
  std::vector<std::pair<std::string, std::string>> got;
  for (auto &e : *cache) got.emplace_back(e.key, e.value);
  EXPECT_EQ(got, want);
  // bpfman's example: "libc" is the C library the loader would use.
  auto libc = resolve_in_ld_cache(*cache, "libc");
  ASSERT_TRUE(libc);
  EXPECT_NE(libc->find("/libc.so.6"), std::string::npos) << *libc;
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libc.so"), libc);
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libc.so.6"), libc);
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libnot-a-library-anywhere"), std::nullopt);
}

// A cache with the given (flags, key, value) entries, in the new format.
std::string make_cache(const std::vector<std::tuple<int32_t, std::string, std::string>> &entries) {
  std::string head = "glibc-ld.so.cache1.1";
  std::string strings;
  const size_t strings_at = 48 + entries.size() * 24;
  std::string table;
  for (auto &[flags, key, value] : entries) {
    auto put32 = [&](uint32_t v) { table.append(reinterpret_cast<const char *>(&v), 4); };
    put32(static_cast<uint32_t>(flags));
    put32(static_cast<uint32_t>(strings_at + strings.size()));
    strings += key + '\0';
    put32(static_cast<uint32_t>(strings_at + strings.size()));
    strings += value + '\0';
    put32(0);
    table.append(8, '\0');
  }
  uint32_t n = static_cast<uint32_t>(entries.size()), len = static_cast<uint32_t>(strings.size());
  head.append(reinterpret_cast<const char *>(&n), 4);
  head.append(reinterpret_cast<const char *>(&len), 4);
  head.append(20, '\0');  // flags, padding, extension offset, unused: 48 bytes in all
  return head + table + strings;
}

TEST(LdCache, PrefixRuleAndAbi) {
  const int32_t x86 = 0x0303, i386 = 0x0003;
  auto cache = parse_ld_so_cache(make_cache({{i386, "libssl.so.3", "/usr/lib/i386/libssl.so.3"},
                                             {x86, "libcap.so.2", "/lib/libcap.so.2"},
                                             {x86, "libssl.so.3", "/lib/libssl.so.3"},
                                             {x86, "libc.so.6", "/lib/libc.so.6"}}));
  ASSERT_TRUE(cache) << cache.error().message;
  ASSERT_EQ(cache->size(), 4u);
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libc"), "/lib/libc.so.6");  // not libcap
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libcap"), "/lib/libcap.so.2");
#if defined(__x86_64__)
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libssl"), "/lib/libssl.so.3");  // not the i386 one listed first
#endif
  EXPECT_EQ(resolve_in_ld_cache(*cache, "libss"), std::nullopt);
}

TEST(LdCache, BadInputIsAnErrorNotACrash) {
  EXPECT_FALSE(parse_ld_so_cache(""));
  EXPECT_FALSE(parse_ld_so_cache("not a cache at all, not at all........................"));
  std::string c = make_cache({{0x0303, "libc.so.6", "/lib/libc.so.6"}});
  EXPECT_FALSE(parse_ld_so_cache(c.substr(0, 60)));        // table cut
  EXPECT_FALSE(parse_ld_so_cache(c.substr(0, c.size() - 1)));  // last string unterminated
  std::string huge = c;
  const uint32_t n = 0x7fffffff;
  std::memcpy(huge.data() + 20, &n, 4);
  EXPECT_FALSE(parse_ld_so_cache(huge));
  EXPECT_FALSE(parse_ld_so_cache("ld.so-1.7.0"));
}

TEST(LdCache, LibraryNames) {
  EXPECT_TRUE(is_library_name("libc"));
  EXPECT_TRUE(is_library_name("libstdc++.so.6"));
  EXPECT_FALSE(is_library_name(""));
  EXPECT_FALSE(is_library_name("lib/c"));
  EXPECT_FALSE(is_library_name("/usr/lib/libc.so.6"));
  EXPECT_FALSE(is_library_name(".."));
  EXPECT_FALSE(is_library_name("lib c"));
}

TEST(LdCache, ProcessMaps) {
  const std::string maps =
      "55d0c4a00000-55d0c4a01000 r--p 00000000 08:01 1234   /usr/bin/app\n"
      "7f1bca5f9000-7f1bca601000 rw-p 00000000 00:00 0\n"
      "7f1bca600000-7f1bca628000 r--p 00000000 08:01 2222   /usr/lib/x86_64-linux-gnu/libcap.so.2.66\n"
      "7f1bca700000-7f1bca728000 r--p 00000000 08:01 3333   /usr/lib/x86_64-linux-gnu/libc.so.6\n"
      "7f1bca800000-7f1bca828000 r--p 00000000 08:01 4444   /opt/old/libz-1.2.so (deleted)\n"
      "7f1bca900000-7f1bca928000 r--p 00000000 08:01 5555   /opt/lib/libfoo-2.31.so\n"
      "7ffd6fbea000-7ffd6fbec000 r-xp 00000000 00:00 0      [vdso]\n";
  EXPECT_EQ(resolve_in_maps(maps, "libc"), "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(resolve_in_maps(maps, "libcap"), "/usr/lib/x86_64-linux-gnu/libcap.so.2.66");
  EXPECT_EQ(resolve_in_maps(maps, "libfoo"), "/opt/lib/libfoo-2.31.so");
  EXPECT_EQ(resolve_in_maps(maps, "libz"), std::nullopt);  // only a deleted mapping
  EXPECT_EQ(resolve_in_maps(maps, "app"), "/usr/bin/app");
  EXPECT_EQ(resolve_in_maps(maps, "libnothing"), std::nullopt);
}

}  // namespace
}  // namespace bpfrec

// util/number.h: what the kernel files (PMU type, tracepoint id) and our generation names are
// read with; bad text is an empty result, never an exception.
TEST(ParseU64, WholeTextOrNothing) {
  EXPECT_EQ(bpfrec::parse_u64("0"), 0u);
  EXPECT_EQ(bpfrec::parse_u64("8"), 8u);
  EXPECT_EQ(bpfrec::parse_u64("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(bpfrec::parse_u64("18446744073709551616")) << "overflow";
  EXPECT_FALSE(bpfrec::parse_u64("")) << "empty";
  EXPECT_FALSE(bpfrec::parse_u64("abc"));
  EXPECT_FALSE(bpfrec::parse_u64("12a")) << "trailing text";
  EXPECT_FALSE(bpfrec::parse_u64(" 12")) << "leading space";
  EXPECT_FALSE(bpfrec::parse_u64("-1")) << "sign";
}
