// Parsing of unsigned decimal numbers from kernel files (sysfs, tracefs) and names we gave our
// own pins: std::from_chars over the whole text, so that bad input is an empty result, never an
// exception (std::stoul throws on "" and on "abc", and an uncaught throw ends the daemon).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bpfrec {

/// The unsigned decimal number that is all of `text` (no sign, no spaces, no trailing text);
/// nullopt when `text` is empty, holds anything else, or overflows uint64_t.
inline std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace bpfrec
