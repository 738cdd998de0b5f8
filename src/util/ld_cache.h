// Uprobe targets named by library ("libc"), as bpfman resolves them (through aya's uprobe
// attach): in the memory map of the process when `pid` is given, else in the dynamic loader's
// cache /etc/ld.so.cache (what `ldconfig -p` prints). Pure: the callers read the files.
//
// Why not libbpf's rule (bpf_program__attach_uprobe_opts: an exact file name such as
// "libc.so.6" searched in LD_LIBRARY_PATH and a fixed list of directories): bpfman users write
// "libc", and the daemon's environment says nothing about the node's libraries; the loader's
// cache does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/library_name.h"
#include "util/result.h"

namespace bpfrec {

/// One entry of the loader's cache: the library's soname ("libc.so.6") and its path.
struct LdCacheEntry {
  std::string key;
  std::string value;
  int32_t flags = 0;   ///< FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 ... (glibc's ldconfig.h)
  uint64_t hwcap = 0;  ///< non-zero for glibc-hwcaps subdirectory entries
};

/// Parses glibc's cache format "glibc-ld.so.cache1.1" (glibc 2.32+ writes only this one; the
/// old "ld.so-1.7.0" format with the new one appended is read through its new part), in file
/// order, which is the order `ldconfig -p` prints. Errors: not a cache, or truncated.
Result<std::vector<LdCacheEntry>> parse_ld_so_cache(std::string_view data);

/// The path of library `name` in the cache: the first entry (cache order) for this machine's
/// ABI (x86-64, aarch64: the FLAG_*_LIB64 bits; any entry elsewhere) whose soname is `name`, or
/// starts with `name` (a trailing ".so" dropped) followed by ".so" (bpfman/aya's rule: "libc"
/// and "libc.so" find "libc.so.6", "libcap" does not). nullopt when none matches.
std::optional<std::string> resolve_in_ld_cache(const std::vector<LdCacheEntry> &cache, std::string_view name);

/// The path of library `name` in the text of /proc/PID/maps: the first mapped file whose base
/// name is `name` or starts with it (a trailing ".so" dropped) followed by ".so" or "-" (aya's
/// rule: "libc" finds ".../libc.so.6" and ".../libc-2.31.so"). nullopt when none matches.
std::optional<std::string> resolve_in_maps(std::string_view maps, std::string_view name);

}  // namespace bpfrec
