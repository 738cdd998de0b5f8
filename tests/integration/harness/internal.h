// Helpers the harness's parts share among themselves. Not part of the harness's interface:
// harness.h does not include it, and tests should not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/common.h"

namespace it::detail {

// Not in Debian 12's 6.1 UAPI headers.
inline constexpr std::uint32_t kBpfTcxIngress = 46;
inline constexpr std::uint32_t kBpfTcxEgress = 47;

/// "<what>: <strerror(errno)>".
std::string errno_text(const std::string& what);
/// Whether `tool` is an executable file in a $PATH directory (default /usr/sbin:/usr/bin:/sbin:/bin).
bool find_in_path(const std::string& tool);
/// text parsed as JSON, nullopt when it is not JSON.
std::optional<json> parse_json(const std::string& text);
/// "[1,2,3]" for a hook's program ids, "(error)" when the query failed (for failure messages).
std::string ids_text(const std::optional<std::vector<std::uint32_t>>& ids);

}  // namespace it::detail
