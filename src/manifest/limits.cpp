#include "manifest/limits.h"

#include <vector>

#include <fmt/format.h>

namespace bpfrec {

void cap_diagnostics(std::vector<Diagnostic> &errors, const std::string &path) {
  // +1: a list capped once (100 and the note) stays as it is when capped again.
  if (errors.size() <= kMaxDiagnosticsPerManifest + 1) return;
  const size_t more = errors.size() - kMaxDiagnosticsPerManifest;
  errors.resize(kMaxDiagnosticsPerManifest);
  errors.push_back({path, {}, fmt::format("{} more errors not shown", more)});
}

std::optional<ShapeError> scan_toml_shape(std::string_view s, size_t max_depth) {
  // One open array or inline table of the value being read: the depth of the node itself, and
  // whether it is an inline table (then ',' starts a key, not a value).
  struct Frame {
    size_t depth;
    bool inline_table;
  };
  std::vector<Frame> stack;
  enum class Mode { LineStart, Key, Value } mode = Mode::LineStart;
  size_t base = 0;       // depth of the current [table] / [[array]] header
  size_t key_depth = 0;  // depth of the key part being read
  size_t vdepth = 0;     // depth of the node the next value would be
  uint32_t line = 1, col = 1;
  size_t i = 0;
  const size_t n = s.size();

  auto consume = [&] {
    const auto b = static_cast<unsigned char>(s[i++]);
    if (b == '\n') ++line, col = 1;
    else if ((b & 0xC0) != 0x80) ++col;  // columns count code points, as toml++'s do
  };
  auto too_deep = [&](size_t d) -> std::optional<ShapeError> {
    if (d <= max_depth) return std::nullopt;
    return ShapeError{{line, col},
                      fmt::format("tables, arrays and dotted keys nest deeper than {} levels (a manifest needs 5)",
                                  max_depth)};
  };
  // Skips a string starting at s[i] (a quote); strings may hold any of the characters that
  // the scan counts.
  auto skip_string = [&] {
    const char q = s[i];
    const bool basic = q == '"';
    if (s.substr(i, 3) == std::string_view(q == '"' ? "\"\"\"" : "'''")) {
      for (int k = 0; k < 3; ++k) consume();
      while (i < n) {
        if (basic && s[i] == '\\') {
          consume();
          if (i < n) consume();
        } else if (s[i] == q && s.substr(i, 3) == std::string_view(q == '"' ? "\"\"\"" : "'''")) {
          for (int k = 0; k < 3; ++k) consume();
          // Up to two more quotes belong to the content ("""a"""" is `a"`).
          for (int k = 0; k < 2 && i < n && s[i] == q; ++k) consume();
          return;
        } else {
          consume();
        }
      }
      return;
    }
    consume();
    while (i < n && s[i] != '\n') {
      if (basic && s[i] == '\\') {
        consume();
        if (i < n && s[i] != '\n') consume();
      } else if (s[i] == q) {
        consume();
        return;
      } else {
        consume();
      }
    }
  };

  // toml++ skips a UTF-8 byte order mark at the start (found by the fuzzer: "\xEF\xBB\xBF[\b").
  if (s.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < n) {
    const char c = s[i];
    if (c == '"' || c == '\'') {
      if (mode == Mode::LineStart) {
        mode = Mode::Key, key_depth = base + 1;
        if (auto e = too_deep(key_depth)) return e;
      }
      skip_string();
      continue;
    }
    if (c == '#') {
      while (i < n && s[i] != '\n') consume();
      continue;
    }
    switch (mode) {
      case Mode::LineStart:
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
          consume();
        } else if (c == '[') {
          consume();
          const bool array = i < n && s[i] == '[';
          if (array) consume();
          // toml++ 3.3.0 asserts (TOML_ASSERT_ASSUME in parse_key(): an abort, or undefined
          // behaviour under NDEBUG) when a header's first non-blank character is neither a bare
          // key character nor a quote ("[[#", "[=]"); found by fuzz/fuzz_manifest.cpp.
          while (i < n && (s[i] == ' ' || s[i] == '\t')) consume();
          if (i < n) {
            const char k = s[i];
            const bool key_start = (k >= 'A' && k <= 'Z') || (k >= 'a' && k <= 'z') || (k >= '0' && k <= '9') ||
                                   k == '_' || k == '-' || k == '"' || k == '\'';
            if (!key_start)
              return ShapeError{{line, col}, fmt::format("a table header needs a key after '{}'", array ? "[[" : "[")};
          }
          size_t parts = 1;
          while (i < n && s[i] != ']' && s[i] != '\n') {
            if (s[i] == '"' || s[i] == '\'') {
              skip_string();
              continue;
            }
            if (s[i] == '.') {
              ++parts;
              // An array-of-tables part is an array and a table: two levels.
              if (auto e = too_deep(parts * (array ? 2 : 1))) return e;
            }
            consume();
          }
          base = parts * (array ? 2 : 1);
          if (auto e = too_deep(base)) return e;
          // The rest of the line is "]" or "]]" and maybe a comment; anything else is toml++'s error.
          while (i < n && s[i] == ']') consume();
        } else {
          mode = Mode::Key, key_depth = base + 1;
          if (auto e = too_deep(key_depth)) return e;
        }
        break;
      case Mode::Key:
        if (c == '.') {
          ++key_depth;
          if (auto e = too_deep(key_depth)) return e;
        } else if (c == '=') {
          mode = Mode::Value, vdepth = key_depth;
        } else if (c == '}' && !stack.empty() && stack.back().inline_table) {
          // `{}` or a trailing comma: the inline table ends where a key was expected.
          vdepth = stack.back().depth;
          stack.pop_back();
          mode = Mode::Value;
        } else if (c == '\n' && stack.empty()) {
          mode = Mode::LineStart;
        }
        consume();
        break;
      case Mode::Value:
        if (c == '[') {
          stack.push_back({vdepth, false});
          ++vdepth;
          if (auto e = too_deep(vdepth)) return e;
        } else if (c == '{') {
          stack.push_back({vdepth, true});
          mode = Mode::Key, key_depth = vdepth + 1;
          if (auto e = too_deep(key_depth)) return e;
        } else if (c == ',' && !stack.empty()) {
          if (stack.back().inline_table) mode = Mode::Key, key_depth = stack.back().depth + 1;
          else vdepth = stack.back().depth + 1;
        } else if ((c == ']' || c == '}') && !stack.empty()) {
          vdepth = stack.back().depth;
          stack.pop_back();
        } else if (c == '\n' && stack.empty()) {
          mode = Mode::LineStart;
        }
        consume();
        break;
    }
  }
  return std::nullopt;
}

}  // namespace bpfrec
