#include "harness/internal.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <cstring>
#include <exception>

namespace it::detail {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool find_in_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

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
