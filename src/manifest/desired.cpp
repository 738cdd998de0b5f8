#include "manifest/desired.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "manifest/limits.h"
#include "manifest/object_info.h"
#include "manifest/validate.h"
#include "util/sha256.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// Reads a manifest, at most kMaxManifestBytes + 1 bytes of it (parse_manifest() reports a longer
// one). Non-blocking open and a type check by fd: a FIFO swapped in after discovery must not
// block the daemon.
Result<std::string> read_manifest_text(const std::string &path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return fail_errno(errno, "cannot read");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "cannot read");
  if (!S_ISREG(st.st_mode)) return fail("cannot read: not a regular file");
  std::string text;
  char buf[65536];
  while (text.size() <= kMaxManifestBytes) {
    ssize_t got = ::read(fd.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail_errno(errno, "cannot read");
    if (got == 0) break;
    text.append(buf, static_cast<size_t>(got));
  }
  return text;
}

struct ObjectCacheEntry {
  Result<std::string> digest;
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
    auto text = read_manifest_text(m.path);
    if (!text) {
      m.errors.push_back({m.path, {}, text.error().message});
      m.state = ManifestState::Invalid;
      continue;
    }
    ParsedManifest parsed = parse_manifest(*text, m.path);
    m.errors = std::move(parsed.errors);
    for (auto &p : parsed.programs) {
      auto [oit, fresh] = objects.try_emplace(p.bytecode_path);
      if (fresh) {
        oit->second.digest = sha256_file(p.bytecode_path);
        oit->second.info = oit->second.digest ? inspect_object(p.bytecode_path) : fail("unused");
      }
      const auto &obj = oit->second;
      if (!obj.digest) {
        m.errors.push_back({m.path, p.bytecode_pos, fmt::format("bytecode {}", obj.digest.error().message)});
        continue;
      }
      p.bytecode_digest = *obj.digest;
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
    cap_diagnostics(m.errors, m.path);
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

const ManifestEntry *DesiredState::unreadable_directory() const {
  for (auto &m : manifests)
    if (m.state == ManifestState::Unreadable) return &m;
  return nullptr;
}

DesiredState load_desired(const std::vector<std::string> &dirs, const std::map<std::string, std::string> &vanished) {
  DesiredState d;
  d.manifests = discover_manifests(dirs, vanished);
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
