// libFuzzer target: parse_manifest() on arbitrary bytes (the manifest/limits.h pre-scan, then
// toml++, then the schema). Invariants beyond "no crash, no sanitizer report": every diagnostic
// names the file, at most kMaxDiagnosticsPerManifest + 1 of them, and programs only without
// errors.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manifest/limits.h"
#include "manifest/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::string path = "/etc/bpfman/programs.d/fuzz.toml";
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  const bpfrec::ParsedManifest m = bpfrec::parse_manifest(text, path);
  if (m.errors.size() > bpfrec::kMaxDiagnosticsPerManifest + 1) __builtin_trap();
  if (!m.errors.empty() && !m.programs.empty()) __builtin_trap();
  for (auto &e : m.errors)
    if (e.path != path || e.message.empty()) __builtin_trap();
  for (auto &p : m.programs) {
    if (!bpfrec::valid_program_name(p.name)) __builtin_trap();
    // No attach point is a load-only program (bpfman's load without attach, issue 10).
    if (p.attach.size() > bpfrec::kMaxAttachPerProgram) __builtin_trap();
    for (auto &a : p.attach) (void)a.canonical(p.type), (void)a.target_label(p.type);
  }
  if (m.programs.size() > bpfrec::kMaxProgramsPerManifest) __builtin_trap();
  return 0;
}
