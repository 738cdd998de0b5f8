#include "manifest/desired.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "manifest/object_info.h"
#include "manifest/validate.h"
#include "manifest/bytecode.h"

namespace bpfrec {
namespace {

struct ObjectCacheEntry {
  Result<Bytecode> code;  // read once: hashed, inspected and (through ProgramSpec) loaded
  Result<ObjectInfo> info;
};

// Reads, parses and validates the Ok entries of `manifests` in order; fills `programs`.
void load_entries(std::vector<ManifestEntry> &manifests, std::vector<ProgramSpec> &programs) {
  std::map<std::string, ObjectCacheEntry> objects;  // bytecode path -> digest and info, read once
  std::map<std::string, const ProgramSpec *> names;  // program name -> first declaration
  std::vector<std::vector<ProgramSpec>> per_file(manifests.size());
  for (size_t i = 0; i < manifests.size(); ++i) {
    auto &m = manifests[i];
    if (m.state != ManifestState::Ok) continue;
    std::ifstream in(m.path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in) {
      m.errors.push_back({m.path, {}, fmt::format("cannot read: {}", std::strerror(errno))});
      m.state = ManifestState::Invalid;
      continue;
    }
    ParsedManifest parsed = parse_manifest(buf.str(), m.path);
    m.errors = std::move(parsed.errors);
    for (auto &p : parsed.programs) {
      auto [oit, fresh] = objects.try_emplace(p.bytecode_path);
      if (fresh) {
        oit->second.code = read_bytecode(p.bytecode_path);
        oit->second.info = oit->second.code ? inspect_object(*oit->second.code, p.bytecode_path) : fail("unused");
      }
      const auto &obj = oit->second;
      if (!obj.code) {
        m.errors.push_back({m.path, p.bytecode_pos, fmt::format("bytecode {}", obj.code.error().message)});
        continue;
      }
      p.bytecode_digest = obj.code->digest;
      p.bytecode_bytes = obj.code->bytes;
      if (!p.bytecode_sha256.empty() && p.bytecode_sha256 != p.bytecode_digest) {
        m.errors.push_back({m.path, p.sha256_pos, fmt::format("sha256 mismatch for {}: declared {}, file has {}",
                                                              p.bytecode_path, p.bytecode_sha256, p.bytecode_digest)});
        continue;
      }
      if (!obj.info) {
        m.errors.push_back({m.path, p.bytecode_pos, obj.info.error().message});
        continue;
      }
      auto errs = validate_against_object(p, *obj.info);
      m.errors.insert(m.errors.end(), errs.begin(), errs.end());
    }
    std::stable_sort(m.errors.begin(), m.errors.end(), [](const Diagnostic &a, const Diagnostic &b) {
      return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
    });
    if (m.errors.empty()) per_file[i] = std::move(parsed.programs);
    else m.state = ManifestState::Invalid;
  }
  // Names are unique across manifests; manifests are already in byte order of base name.
  for (size_t i = 0; i < manifests.size(); ++i) {
    auto &m = manifests[i];
    if (m.state != ManifestState::Ok) continue;
    for (auto &p : per_file[i]) {
      auto it = names.find(p.name);
      if (it != names.end()) {
        const auto *first = it->second;
        m.errors.push_back({m.path, p.name_pos, fmt::format("duplicate program name '{}' (first declared at {}:{}:{})",
                                                            p.name, first->manifest, first->name_pos.line,
                                                            first->name_pos.column)});
      }
    }
    if (!m.errors.empty()) {
      m.state = ManifestState::Invalid;
      continue;
    }
    for (auto &p : per_file[i]) names.emplace(p.name, &p);
  }
  for (size_t i = 0; i < manifests.size(); ++i)
    if (manifests[i].state == ManifestState::Ok)
      for (auto &p : per_file[i]) programs.push_back(std::move(p));
}

}  // namespace

std::vector<std::string> DesiredState::invalid_manifest_names() const {
  std::vector<std::string> out;
  for (auto &m : manifests)
    if (m.state == ManifestState::Invalid) out.push_back(m.name);
  return out;
}

DesiredState load_desired(const std::vector<std::string> &dirs) {
  DesiredState d;
  d.manifests = discover_manifests(dirs);
  load_entries(d.manifests, d.programs);
  return d;
}

DesiredState load_files(const std::vector<std::string> &paths) {
  DesiredState d;
  for (auto &p : paths) {
    ManifestEntry e{std::filesystem::path(p).filename().string(), p, ManifestState::Ok, {}, {}};
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) {
      e.state = ManifestState::Invalid;
      e.errors.push_back({p, {}, "not a regular file"});
    } else if (std::filesystem::file_size(p, ec) == 0) {
      e.state = ManifestState::Masked;
    }
    d.manifests.push_back(std::move(e));
  }
  load_entries(d.manifests, d.programs);
  return d;
}

}  // namespace bpfrec
