#include "util/ld_cache.h"

#include <algorithm>
#include <cstring>

namespace bpfrec {
namespace {

constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr size_t kNewHeader = 48;  // magic+version (20), nlibs, len_strings, flags+pad, ext offset, unused[3]
constexpr size_t kNewEntry = 24;   // flags, key, value, osversion, hwcap
constexpr size_t kOldEntry = 12;   // flags, key, value

// glibc's ldconfig.h
constexpr int32_t kFlagRequiredMask = 0xff00;
#if defined(__x86_64__)
constexpr int32_t kFlagAbi = 0x0300;  // FLAG_X8664_LIB64
#elif defined(__aarch64__)
constexpr int32_t kFlagAbi = 0x0a00;  // FLAG_AARCH64_LIB64
#else
constexpr int32_t kFlagAbi = -1;  // unknown here: any entry
#endif

template <typename T>
T read_at(std::string_view d, size_t off) {
  T v;
  std::memcpy(&v, d.data() + off, sizeof v);
  return v;
}

std::optional<std::string> c_string_at(std::string_view d, size_t off) {
  if (off >= d.size()) return std::nullopt;
  const size_t end = d.find('\0', off);
  if (end == std::string_view::npos) return std::nullopt;
  return std::string(d.substr(off, end - off));
}

// "libc.so" -> "libc"; the rest unchanged.
std::string_view stem(std::string_view name) {
  return name.ends_with(".so") ? name.substr(0, name.size() - 3) : name;
}

}  // namespace

Result<std::vector<LdCacheEntry>> parse_ld_so_cache(std::string_view data) {
  std::string_view d = data;
  if (d.starts_with(kOldMagic)) {
    // The old format, possibly followed (8-byte aligned) by a new-format cache: read that.
    if (d.size() < kOldMagic.size() + 1 + 4) return fail(Error{EINVAL, "truncated ld.so.cache"});
    const size_t at = (kOldMagic.size() + 1 + 3) & ~size_t{3};  // magic is padded to 12 bytes
    const uint32_t n = read_at<uint32_t>(d, at);
    size_t next = at + 4 + size_t{n} * kOldEntry;
    next = (next + 7) & ~size_t{7};
    if (next >= d.size() || !d.substr(next).starts_with(kNewMagic))
      return fail(Error{ENOTSUP, "ld.so.cache has only the old format (ld.so-1.7.0), which is not read"});
    d = d.substr(next);
  }
  if (!d.starts_with(kNewMagic)) return fail(Error{EINVAL, "not an ld.so.cache (no glibc-ld.so.cache1.1 magic)"});
  if (d.size() < kNewHeader) return fail(Error{EINVAL, "truncated ld.so.cache"});
  const uint32_t n = read_at<uint32_t>(d, 20);
  if (n > (d.size() - kNewHeader) / kNewEntry) return fail(Error{EINVAL, "truncated ld.so.cache"});
  std::vector<LdCacheEntry> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const size_t e = kNewHeader + size_t{i} * kNewEntry;
    LdCacheEntry entry;
    entry.flags = read_at<int32_t>(d, e);
    // String offsets count from the start of the new-format cache.
    auto key = c_string_at(d, read_at<uint32_t>(d, e + 4));
    auto value = c_string_at(d, read_at<uint32_t>(d, e + 8));
    if (!key || !value) return fail(Error{EINVAL, "ld.so.cache entry points outside the file"});
    entry.key = std::move(*key);
    entry.value = std::move(*value);
    entry.hwcap = read_at<uint64_t>(d, e + 16);
    out.push_back(std::move(entry));
  }
  return out;
}

std::optional<std::string> resolve_in_ld_cache(const std::vector<LdCacheEntry> &cache, std::string_view name) {
  const std::string_view s = stem(name);
  for (const auto &e : cache) {
    if (kFlagAbi != -1 && (e.flags & kFlagRequiredMask) != kFlagAbi) continue;
    const std::string_view key = e.key;
    if (key == name || (key.starts_with(s) && key.substr(s.size()).starts_with(".so"))) return e.value;
  }
  return std::nullopt;
}

std::optional<std::string> resolve_in_maps(std::string_view maps, std::string_view name) {
  const std::string_view s = stem(name);
  while (!maps.empty()) {
    const size_t nl = maps.find('\n');
    std::string_view line = maps.substr(0, nl);
    maps = nl == std::string_view::npos ? std::string_view{} : maps.substr(nl + 1);
    // address perms offset dev inode [path]: the path starts at the first '/' after the fields.
    const size_t slash = line.find('/');
    if (slash == std::string_view::npos) continue;
    std::string_view path = line.substr(slash);
    if (path.ends_with(" (deleted)")) continue;
    const std::string_view base = path.substr(path.rfind('/') + 1);
    if (base == name || (base.starts_with(s) && (base.size() == s.size() || base.substr(s.size()).starts_with(".so") ||
                                                base.substr(s.size()).starts_with("-"))))
      return std::string(path);
  }
  return std::nullopt;
}

}  // namespace bpfrec
