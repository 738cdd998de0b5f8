// Reading one manifest's TOML document with positioned diagnostics: typed accessors that report
// "'x' must be <type>, not <type>" at the value's position and carry on, so that one run shows
// every problem of a file. Shared by the manifest parser and the program type descriptors
// (types/), which parse their own attach keys with it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "manifest/manifest.h"

namespace bpfrec {

/// The 1-based position where a toml++ region begins.
SourcePos pos_of(const toml::source_region &r);

/// "a string", "an integer", ... for messages.
std::string_view toml_type_name(toml::node_type t);

/// Collects the diagnostics of one file; every accessor reports and returns nullopt/nullptr on
/// a mismatch instead of throwing.
class TomlReader {
 public:
  explicit TomlReader(const std::string &path) : path_(path) {}

  std::vector<Diagnostic> errors;

  void error(SourcePos p, std::string msg) { errors.push_back({path_, p, std::move(msg)}); }
  void error(const toml::node &n, std::string msg) { error(pos_of(n.source()), std::move(msg)); }

  /// The string value of `n`; an error naming `key` when it is another type.
  std::optional<std::string> str(const toml::node &n, std::string_view key);
  /// The integer value of `n` within [lo, hi]; an error naming `key` when it is another type or
  /// out of range.
  std::optional<int64_t> integer(const toml::node &n, std::string_view key, int64_t lo, int64_t hi);
  /// `n` as a table; an error naming `key` when it is not one.
  const toml::table *table(const toml::node &n, std::string_view key);

  /// Iterates a table, dispatching each key to `on_key`; keys not in `allowed` are errors that
  /// name the allowed ones. `on_key` gets the key's position and the value node.
  void each_key(const toml::table &t, std::string_view where, const std::vector<std::string_view> &allowed,
                const std::function<void(std::string_view, SourcePos, const toml::node &)> &on_key);

 private:
  const std::string &path_;
};

}  // namespace bpfrec
