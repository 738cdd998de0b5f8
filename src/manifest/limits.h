// Bounds on what a manifest may carry, and the pre-scan that keeps deep TOML away from toml++.
//
// Why: toml++ 3.3.0 recurses once per level of nesting after parsing (parser::update_region_ends
// walks every non-inline table and array) and again when the document is destroyed (~table ->
// ~unique_ptr<node> -> ~table ...). Only arrays and inline tables count towards its own limit
// (TOML_MAX_NESTED_VALUES, 256); a dotted key or a [a.b.c] header of 40,000 parts makes 40,000
// nested tables and overflows an 8 MiB stack (issue 11, bug 1). Everything a status reply carries
// comes from here too, so the sizes also keep Describe() far below dbus-daemon's 32 MiB
// max_message_size (bug 3). The figures are documented in README's manifest reference.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/manifest.h"

namespace bpfrec {

/// Largest manifest file, in bytes (1 MiB). A manifest of 500 programs is ~150 KB.
inline constexpr size_t kMaxManifestBytes = 1u << 20;
/// Deepest nesting of tables, arrays and dotted-key parts. [[program.attach]] with its keys is
/// 5 levels deep; toml++ recurses once per level (see above).
inline constexpr size_t kMaxTomlDepth = 32;
/// [[program]] tables in one manifest file.
inline constexpr size_t kMaxProgramsPerManifest = 1024;
/// [[program.attach]] tables of one program (before globs expand).
inline constexpr size_t kMaxAttachPerProgram = 256;
/// metadata entries of one program, and the longest key and value (bytes). Kubernetes labels
/// allow 63-byte values and 253+63-byte keys; these leave room for annotation-like values.
inline constexpr size_t kMaxMetadataEntries = 64;
inline constexpr size_t kMaxMetadataKeyBytes = 256;
inline constexpr size_t kMaxMetadataValueBytes = 4096;

/// Diagnostics kept per manifest: a file of 85,000 `[[program]]` lines would otherwise make
/// 340,000 of them (tens of MB in every Describe()).
inline constexpr size_t kMaxDiagnosticsPerManifest = 100;

/// Keeps the first kMaxDiagnosticsPerManifest of `errors` (in their order) and ends with one
/// more that says how many were left out. `path` names the file in that last one.
void cap_diagnostics(std::vector<Diagnostic> &errors, const std::string &path);

/// A problem found by scan_toml_shape(): where and what.
struct ShapeError {
  SourcePos pos;
  std::string message;
};

/// Scans TOML text without parsing it and reports the first place where the nesting of tables
/// (headers, dotted keys), arrays and inline tables goes deeper than `max_depth`. It
/// over-estimates rather than under-estimates (an array-of-tables header counts two levels per
/// part) and understands strings and comments, so text toml++ would parse within the limit
/// passes. Positions are 1-based lines and columns in code points, like toml++'s. Pure, O(n).
/// It also reports a table header whose first character is no key ("[[#"): toml++ 3.3.0
/// asserts there instead of reporting it.
std::optional<ShapeError> scan_toml_shape(std::string_view text, size_t max_depth = kMaxTomlDepth);

}  // namespace bpfrec
