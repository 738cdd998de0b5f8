// Whether a uprobe `target` names a library ("libc") rather than a path. Kept apart from
// ld_cache.h so that the manifest parser (and its fuzzer, built with clang 14, whose libstdc++
// <expected> is not available) does not need util/result.h.
#pragma once

#include <algorithm>
#include <string_view>

namespace bpfrec {

/// True for a `target` that names a library instead of a path: no '/', non-empty, at most 255
/// characters of [A-Za-z0-9._+-], not "." or "..", e.g. "libc", "libssl.so.3".
inline bool is_library_name(std::string_view t) {
  return !t.empty() && t.size() <= 255 && t != "." && t != ".." && std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '+' || c == '-';
         });
}

}  // namespace bpfrec
