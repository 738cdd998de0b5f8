#include "load/desired.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <set>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "manifest/limits.h"
#include "manifest/object_info.h"
#include "manifest/validate.h"
#include "util/sha256.h"
#include "image/labels.h"
#include "load/files.h"
#include "store/image_store.h"
#include "store/object_store.h"
#include "util/unique_fd.h"

namespace bpfrec {

// The cache's internals, for load_entries() only.
struct DesiredCacheAccess {
  static auto &manifests(DesiredCache &c) { return c.manifests_; }
  static auto &objects(DesiredCache &c) { return c.objects_; }
  static auto &inspected(DesiredCache &c) { return c.inspected_; }
  static auto &last(DesiredCache &c) { return c.last_; }
};

namespace {

using Access = DesiredCacheAccess;

int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Whether an entry read at `read_at_ns` from a file with `stamp` still stands for `now`.
bool trusted(const FileStamp &cached, int64_t read_at_ns, const FileStamp &now) {
  return cached == now && cached.ctime_ns + DesiredCache::kRacyNs <= read_at_ns;
}

struct ObjectCacheEntry {
  Result<Bytecode> code;  // read once: hashed, inspected and (through ProgramSpec) loaded
  Result<ObjectInfo> info;
};

// The manifest at `path` parsed: from the cache when its stamp is unchanged, else read (one
// open; the stamp of that fd is what the cache keeps).
Result<ParsedManifest> read_manifest(const std::string &path, DesiredCache *cache,
                                     std::set<std::string> &used, const struct stat *listed = nullptr) {
  if (cache) {
    auto &entries = Access::manifests(*cache);
    auto it = entries.find(path);
    if (it != entries.end()) {
      // The listing's stat() of this path when there was one (discover_manifests), else a new one.
      auto st = listed ? Result<FileStamp>(stamp_of(*listed)) : stamp_file(path);
      if (st && trusted(it->second.stamp, it->second.read_at_ns, *st)) {
        used.insert(path);
        ++Access::last(*cache).manifest_hits;
        return it->second.parsed;
      }
    }
  }
  const int64_t read_at = realtime_ns();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return fail_errno(errno, "cannot read");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "cannot read");
  // Non-blocking open and a type check by fd: a FIFO swapped in after discovery must not block
  // the daemon. At most kMaxManifestBytes + 1 bytes are read (parse_manifest() reports more).
  if (!S_ISREG(st.st_mode)) return fail("cannot read: not a regular file");
  std::string text;
  std::array<char, 65536> buf{};
  while (text.size() <= kMaxManifestBytes) {
    ssize_t r = ::read(fd.get(), buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail_errno(errno, "cannot read");
    if (r == 0) break;
    text.append(buf.data(), static_cast<size_t>(r));
  }
  ParsedManifest parsed = parse_manifest(text, path);
  if (cache) {
    ++Access::last(*cache).manifest_reads;
    used.insert(path);
    Access::manifests(*cache)[path] = {stamp_of(st), read_at, parsed};
  }
  return parsed;
}

// The bytecode at `path` and its inspection: from the cache when the file's stamp is unchanged.
ObjectCacheEntry read_object(const std::string &path, DesiredCache *cache, std::set<std::string> &used_objects,
                             std::set<std::string> &used_digests) {
  ObjectCacheEntry e;
  if (cache) {
    auto &entries = Access::objects(*cache);
    auto it = entries.find(path);
    auto st = it != entries.end() ? stamp_file(path) : Result<FileStamp>(fail("not cached"));
    if (st && trusted(it->second.stamp, it->second.read_at_ns, *st)) {
      e.code = it->second.code;
      ++Access::last(*cache).object_hits;
    }
  }
  const int64_t read_at = realtime_ns();
  if (!e.code.has_value() || !e.code->bytes) {
    e.code = read_bytecode(path);
    if (cache) ++Access::last(*cache).object_reads;
    // Only what was read is kept: an error (missing file, FIFO) is looked at again next time.
    if (cache && e.code) Access::objects(*cache)[path] = {e.code->stamp, read_at, *e.code};
  }
  if (!e.code) {
    e.info = fail("unused");
    return e;
  }
  if (cache) {
    used_objects.insert(path);
    used_digests.insert(e.code->digest);
    auto &inspected = Access::inspected(*cache);
    if (auto it = inspected.find(e.code->digest); it != inspected.end()) {
      e.info = it->second;
      return e;
    }
  }
  e.info = inspect_object(*e.code, path);
  if (cache && e.info) Access::inspected(*cache)[e.code->digest] = *e.info;
  return e;
}

// Image bytecode: points `p` at its object's copy in the store, or says why it cannot be
// loaded yet (a WaitingProgram) or at all (a Diagnostic). Returns whether `p` can be read on.
bool resolve_image(ProgramSpec &p, const ImageSources *sources, ManifestEntry &m, DesiredState &d) {
  WaitingProgram w{p.name, p.manifest, p.bytecode_image, p.type, false, false, "", p.bytecode_pos};
  const ImageEntry *e = sources && sources->images ? sources->images->find(p.bytecode_image) : nullptr;
  if (!e) {
    if (sources && !sources->error.empty()) {
      w.failed = true;
      w.reason = fmt::format("image {}: {}", p.bytecode_image, sources->error);
    } else if (!sources || !sources->images || !sources->objects) {
      w.reason = fmt::format("image {} is pulled by the daemon (not checked offline)", p.bytecode_image);
    } else if (p.pull_policy == PullPolicy::Never) {
      w.failed = true;
      w.reason = fmt::format("image {} is not in the store and its pull_policy is Never", p.bytecode_image);
    } else if (auto f = sources->failed.find(p.bytecode_image); f != sources->failed.end()) {
      w.failed = true;
      w.reason = f->second;
    } else {
      w.reason = fmt::format("pulling {}", p.bytecode_image);
      w.pull = true;
    }
    d.waiting.push_back(std::move(w));
    return false;
  }
  if (auto ok = check_image_labels(e->labels, p.bpf_function, p.type); !ok) {
    m.errors.push_back({m.path, p.bytecode_pos, fmt::format("image {}: {}", p.bytecode_image, ok.error().message)});
    return false;
  }
  p.bytecode_path = sources->objects->path_of(e->object_sha256);
  p.image_digest = e->digest;
  p.image_pulled_at = e->pulled_at;
  return true;
}

// Reads, parses and validates the Ok entries of `manifests` in order; fills `programs`.
void load_entries(std::vector<ManifestEntry> &manifests, DesiredState &d, DesiredCache *cache = nullptr,
                  const ImageSources *images = nullptr) {
  std::vector<ProgramSpec> &programs = d.programs;
  if (cache) Access::last(*cache) = {};
  std::set<std::string> used_manifests, used_objects, used_digests;
  std::map<std::string, ObjectCacheEntry> objects;  // bytecode path -> digest and info, read once
  std::map<std::string, const ProgramSpec *> names;  // program name -> first declaration
  std::vector<std::vector<ProgramSpec>> per_file(manifests.size());
  for (size_t i = 0; i < manifests.size(); ++i) {
    auto &m = manifests[i];
    if (m.state != ManifestState::Ok) continue;
    auto read = read_manifest(m.path, cache, used_manifests, m.st ? &*m.st : nullptr);
    if (!read) {
      m.errors.push_back({m.path, {}, read.error().message});
      m.state = ManifestState::Invalid;
      continue;
    }
    ParsedManifest parsed = std::move(*read);
    m.errors = std::move(parsed.errors);
    std::set<std::string> waiting;  // programs of this manifest whose image is not in the store
    for (auto &p : parsed.programs) {
      if (!p.bytecode_image.empty() && !resolve_image(p, images, m, d)) {
        waiting.insert(p.name);
        continue;
      }
      auto [oit, fresh] = objects.try_emplace(p.bytecode_path);
      if (fresh) oit->second = read_object(p.bytecode_path, cache, used_objects, used_digests);
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
    cap_diagnostics(m.errors, m.path);
    if (m.errors.empty()) {
      for (auto &p : parsed.programs)
        if (!waiting.contains(p.name)) per_file[i].push_back(std::move(p));
    } else {
      m.state = ManifestState::Invalid;
      std::erase_if(d.waiting, [&](const WaitingProgram &w) { return w.manifest == m.path; });
    }
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
      std::erase_if(d.waiting, [&](const WaitingProgram &w) { return w.manifest == m.path; });
      continue;
    }
    for (auto &p : per_file[i]) names.emplace(p.name, &p);
  }
  for (size_t i = 0; i < manifests.size(); ++i)
    if (manifests[i].state == ManifestState::Ok)
      for (auto &p : per_file[i]) programs.push_back(std::move(p));
  for (const auto &w : d.waiting)
    if (w.pull) d.pulls.insert(w.reference);
  if (cache) {
    std::erase_if(Access::manifests(*cache), [&](const auto &kv) { return !used_manifests.contains(kv.first); });
    std::erase_if(Access::objects(*cache), [&](const auto &kv) { return !used_objects.contains(kv.first); });
    std::erase_if(Access::inspected(*cache), [&](const auto &kv) { return !used_digests.contains(kv.first); });
  }
}

}  // namespace

DesiredState load_desired(const std::vector<std::string> &dirs, const std::map<std::string, std::string> &vanished,
                          DesiredCache *cache, const ImageSources *images) {
  DesiredState d;
  d.manifests = discover_manifests(dirs, vanished);
  load_entries(d.manifests, d, cache, images);
  return d;
}

DesiredState load_files(const std::vector<std::string> &paths, const ImageSources *images) {
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
  load_entries(d.manifests, d, nullptr, images);
  return d;
}

}  // namespace bpfrec
