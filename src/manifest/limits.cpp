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
  bool value_start = true;  // Value mode: a value may start here (after '=', '[', ',', '{' or a blank)
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
  // toml++ 3.3.0's is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for
  // most code points from U+00A1 to U+0499 (and some near U+3000): undefined behaviour, found
  // by fuzz/fuzz_manifest.cpp (UBSan). It is asked about every character outside strings,
  // every character of a key (quoted ones too: toml++ "records" keys), and the first character
  // after a backslash in a multi-line basic string. TOML allows non-ASCII only in strings and
  // comments anyway; these are the places where it is refused.
  auto non_ascii = [&](std::string_view where) {
    return ShapeError{{line, col}, fmt::format("non-ASCII character {}", where)};
  };
  auto is_non_ascii = [&](size_t at) { return at < n && (static_cast<unsigned char>(s[at]) & 0x80) != 0; };
  // Skips a string starting at s[i] (a quote); strings may hold any of the characters that
  // the scan counts. `key`: the string is (part of) a key.
  auto skip_string = [&](bool key) -> std::optional<ShapeError> {
    const char q = s[i];
    const bool basic = q == '"';
    const std::string_view triple = basic ? R"(""")" : "'''";
    auto content = [&]() -> std::optional<ShapeError> {
      if (key && is_non_ascii(i)) return non_ascii("in a key (toml++ 3.3.0 cannot read them there)");
      consume();
      return std::nullopt;
    };
    if (s.substr(i, 3) == triple) {
      for (int k = 0; k < 3; ++k) consume();
      while (i < n) {
        if (basic && s[i] == '\\') {
          consume();
          // After a line-ending backslash toml++ skips whitespace, asking about each character.
          while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) consume();
          if (is_non_ascii(i))
            return non_ascii("after a backslash in a multi-line string (toml++ 3.3.0 cannot read it there)");
          if (i < n) consume();
        } else if (s[i] == q && s.substr(i, 3) == triple) {
          for (int k = 0; k < 3; ++k) consume();
          // Up to two more quotes belong to the content ("""a"""" is `a"`).
          for (int k = 0; k < 2 && i < n && s[i] == q; ++k) consume();
          return std::nullopt;
        } else if (auto e = content()) {
          return e;
        }
      }
      return std::nullopt;
    }
    consume();
    while (i < n && s[i] != '\n') {
      if (basic && s[i] == '\\') {
        consume();
        if (i < n && s[i] != '\n')
          if (auto e = content()) return e;
      } else if (s[i] == q) {
        consume();
        return std::nullopt;
      } else if (auto e = content()) {
        return e;
      }
    }
    return std::nullopt;
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
      if (mode == Mode::Value && !value_start) {
        // Glued to a bare value (`0"x"`): toml++ reads the quote as part of that value's token,
        // and what follows as more of it, not as a string.
        consume();
        continue;
      }
      if (auto e = skip_string(mode == Mode::Key)) return e;
      value_start = false;
      continue;
    }
    if (c == '#') {
      while (i < n && s[i] != '\n') consume();
      continue;
    }
    if (is_non_ascii(i)) return non_ascii("outside a string or comment");
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
              if (auto e = skip_string(/*key=*/true)) return e;
              continue;
            }
            if (is_non_ascii(i)) return non_ascii("outside a string or comment");
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
          mode = Mode::Value, vdepth = key_depth, value_start = true;
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
        value_start = c == '=' || c == '[' || c == ',' || c == '{' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
        consume();
        break;
    }
  }
  return std::nullopt;
}

}  // namespace bpfrec
