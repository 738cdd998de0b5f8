#include "harness/internal.h"

#include <cerrno>
#include <cstring>
#include <exception>

namespace it::detail {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::optional<json> parse_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string ids_text(const std::optional<std::vector<std::uint32_t>>& ids) {
  if (!ids) return "(error)";
  std::string s = "[";
  for (std::size_t i = 0; i < ids->size(); ++i) s += (i ? "," : "") + std::to_string((*ids)[i]);
  return s + "]";
}

}  // namespace it::detail
