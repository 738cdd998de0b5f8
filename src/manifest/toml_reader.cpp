#include "manifest/toml_reader.h"

#include <algorithm>

#include <fmt/format.h>

namespace bpfrec {

SourcePos pos_of(const toml::source_region &r) { return {r.begin.line, r.begin.column}; }

std::string_view toml_type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::optional<std::string> TomlReader::str(const toml::node &n, std::string_view key) {
  if (auto v = n.as_string()) return v->get();
  error(n, fmt::format("'{}' must be a string, not {}", key, toml_type_name(n.type())));
  return std::nullopt;
}

std::optional<int64_t> TomlReader::integer(const toml::node &n, std::string_view key, int64_t lo, int64_t hi) {
  auto v = n.as_integer();
  if (!v) {
    error(n, fmt::format("'{}' must be an integer, not {}", key, toml_type_name(n.type())));
    return std::nullopt;
  }
  if (v->get() < lo || v->get() > hi) {
    error(n, fmt::format("'{}' = {} is out of range {}..{}", key, v->get(), lo, hi));
    return std::nullopt;
  }
  return v->get();
}

const toml::table *TomlReader::table(const toml::node &n, std::string_view key) {
  if (auto t = n.as_table()) return t;
  error(n, fmt::format("'{}' must be a table, not {}", key, toml_type_name(n.type())));
  return nullptr;
}

void TomlReader::each_key(const toml::table &t, std::string_view where, const std::vector<std::string_view> &allowed,
                          const std::function<void(std::string_view, SourcePos, const toml::node &)> &on_key) {
  for (auto &&[k, v] : t) {
    if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
      error(pos_of(k.source()), fmt::format("unknown key '{}' in {} (expected one of: {})", k.str(), where,
                                            fmt::join(allowed, ", ")));
      continue;
    }
    on_key(k.str(), pos_of(k.source()), v);
  }
}

}  // namespace bpfrec
