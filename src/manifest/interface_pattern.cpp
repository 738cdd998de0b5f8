#include "manifest/interface_pattern.h"

#include <fmt/format.h>

namespace bpfrec {
namespace {

// IFNAMSIZ - 1: the longest interface name the kernel accepts.
constexpr size_t kMaxInterfaceName = 15;

// Characters dev_valid_name() (net/core/dev.c) refuses, plus control characters.
bool bad_name_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '/' || c == ':' || c == ' ' || (u >= '\t' && u <= '\r') || u < 0x20 || u == 0x7f;
}

std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u == 0x7f || c == ' ') return fmt::format("{:#04x}", u);
  return fmt::format("'{}'", c);
}

}  // namespace

InterfaceSelector interface_selector(std::string_view value) {
  if (value == kPrimaryInterface) return InterfaceSelector::Primary;
  if (value.find_first_of("*?[\\") != std::string_view::npos) return InterfaceSelector::Glob;
  return InterfaceSelector::Name;
}

std::optional<std::string> interface_value_error(std::string_view v) {
  const auto head = fmt::format("'interface' = \"{}\"", v);
  if (v.empty()) return std::string("'interface' must not be empty");
  if (v[0] == '@') {
    if (v == kPrimaryInterface) return std::nullopt;
    return fmt::format("{} is not a known selector (the only one is \"{}\")", head, kPrimaryInterface);
  }
  auto bad_char = [&](size_t i) {
    return fmt::format("{}: {} at position {} cannot be part of an interface name (no '/', ':' or white space)",
                       head, describe_char(v[i]), i + 1);
  };
  if (interface_selector(v) == InterfaceSelector::Name) {
    for (size_t i = 0; i < v.size(); ++i)
      if (bad_name_char(v[i])) return bad_char(i);
    if (v == "." || v == "..") return fmt::format("{} is not a valid interface name", head);
    if (v.size() > kMaxInterfaceName)
      return fmt::format("{} is not a valid interface name: {} characters, at most {}", head, v.size(),
                         kMaxInterfaceName);
    return std::nullopt;
  }
  // A glob, scanned the way fnmatch(3) reads it; `shortest` counts the characters any match needs.
  if (v.size() > kMaxInterfaceGlob)
    return fmt::format("{}: a glob may have at most {} characters, not {}", head, kMaxInterfaceGlob, v.size());
  size_t shortest = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '*') continue;
    if (c == '\\') {
      if (i + 1 == v.size()) return fmt::format("{}: the glob ends with a lone '\\'", head);
      if (bad_name_char(v[++i])) return bad_char(i);
      ++shortest;
      continue;
    }
    if (c == '[') {
      size_t j = i + 1;
      if (j < v.size() && (v[j] == '!' || v[j] == '^')) ++j;
      if (j < v.size() && v[j] == ']') ++j;  // a leading ']' is a member, not the end
      while (j < v.size() && v[j] != ']') {
        if (v[j] == '[' && j + 1 < v.size() && (v[j + 1] == ':' || v[j + 1] == '=' || v[j + 1] == '.')) {
          // [:class:], [=equiv=], [.coll.]: closed by the same character and ']'.
          const char kind = v[j + 1];
          const auto end = v.find(std::string{kind, ']'}, j + 2);
          if (end == std::string_view::npos)
            return fmt::format("{}: \"[{}\" at position {} has no closing \"{}]\"", head, kind, j + 1, kind);
          j = end + 2;
          continue;
        }
        if (bad_name_char(v[j])) return bad_char(j);
        ++j;
      }
      if (j >= v.size()) return fmt::format("{}: '[' at position {} has no closing ']'", head, i + 1);
      i = j;
      ++shortest;
      continue;
    }
    if (bad_name_char(c)) return bad_char(i);
    ++shortest;  // '?' or an ordinary character
  }
  if (shortest > kMaxInterfaceName)
    return fmt::format("{}: the glob can never match: it needs at least {} characters and interface names have at "
                       "most {}",
                       head, shortest, kMaxInterfaceName);
  return std::nullopt;
}

}  // namespace bpfrec
