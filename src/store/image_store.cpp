#include "store/image_store.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "store/atomic_file.h"
#include "util/sha256.h"

namespace bpfrec {

using nlohmann::json;

std::string image_entry_to_json(const ImageEntry &e) {
  json j = {{"reference", e.reference},
            {"digest", e.digest},
            {"object_sha256", e.object_sha256},
            {"object_path", e.object_path},
            {"pulled_at", e.pulled_at},
            {"labels",
             {{"programs", e.labels.programs},
              {"maps", e.labels.maps},
              {"legacy", e.labels.legacy},
              {"program_name", e.labels.program_name},
              {"filename", e.labels.filename}}}};
  return j.dump(2) + "\n";
}

Result<ImageEntry> image_entry_from_json(std::string_view text) {
  try {
    const json j = json::parse(text);
    ImageEntry e;
    e.reference = j.at("reference").get<std::string>();
    e.digest = j.at("digest").get<std::string>();
    e.object_sha256 = j.at("object_sha256").get<std::string>();
    e.object_path = j.value("object_path", "");
    e.pulled_at = j.value("pulled_at", "");
    const json &l = j.at("labels");
    e.labels.programs = l.at("programs").get<std::map<std::string, std::string>>();
    e.labels.maps = l.value("maps", std::map<std::string, std::string>{});
    e.labels.legacy = l.value("legacy", false);
    e.labels.program_name = l.value("program_name", "");
    e.labels.filename = l.value("filename", "");
    if (!e.digest.starts_with("sha256:") || !is_sha256_hex(e.digest.substr(7)))
      return fail("digest {} is not sha256:<64 hex digits>", e.digest);
    if (!is_sha256_hex(e.object_sha256)) return fail("object_sha256 {} is not 64 hex digits", e.object_sha256);
    return e;
  } catch (const json::exception &ex) {
    return fail("{}", ex.what());
  }
}

std::string ImageStore::path_of(const std::string &reference) const {
  return dir_ + "/" + sha256_hex(reference) + ".json";
}

Result<std::vector<std::string>> ImageStore::open() {
  if (auto r = make_dirs(dir_); !r) return std::unexpected(r.error());
  DIR *d = ::opendir(dir_.c_str());
  if (!d) return fail_errno(errno, "list {}", dir_);
  std::vector<std::string> names;
  while (dirent *e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::vector<std::string> skipped;
  entries_.clear();
  for (const auto &name : names) {
    const std::string path = dir_ + "/" + name;
    if (is_atomic_temp_name(name)) {
      (void)::unlink(path.c_str());
      continue;
    }
    if (name.size() != 69 || !name.ends_with(".json") || !is_sha256_hex(name.substr(0, 64))) continue;
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      skipped.push_back(fmt::format("{}: cannot be read", path));
      continue;
    }
    auto entry = image_entry_from_json(text.str());
    if (!entry) {
      skipped.push_back(fmt::format("{}: {}", path, entry.error().message));
      continue;
    }
    if (path_of(entry->reference) != path) {
      skipped.push_back(fmt::format("{}: holds the entry of {}, which belongs in {}", path, entry->reference,
                                    path_of(entry->reference)));
      continue;
    }
    entries_[entry->reference] = std::move(*entry);
  }
  return skipped;
}

const ImageEntry *ImageStore::find(const std::string &reference) const {
  auto it = entries_.find(reference);
  return it == entries_.end() ? nullptr : &it->second;
}

Result<void> ImageStore::put(const ImageEntry &e) {
  if (auto r = write_file_atomic(path_of(e.reference), image_entry_to_json(e), 0644); !r) return r;
  entries_[e.reference] = e;
  return {};
}

Result<size_t> ImageStore::collect(const std::set<std::string> &keep) {
  size_t removed = 0;
  std::string error;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (keep.contains(it->first)) {
      ++it;
      continue;
    }
    const std::string path = path_of(it->first);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      if (error.empty()) error = fmt::format("remove {}: {}", path, std::strerror(errno));
      ++it;
      continue;
    }
    it = entries_.erase(it);
    ++removed;
  }
  if (!error.empty()) return fail("{}", error);
  return removed;
}

std::set<std::string> ImageStore::objects() const {
  std::set<std::string> out;
  for (const auto &[_, e] : entries_) out.insert(e.object_sha256);
  return out;
}

Result<void> store_pull(ObjectStore &objects, ImageStore &images, const std::string &reference,
                        const PulledImage &pulled, const std::string &pulled_at) {
  if (auto w = objects.put(pulled.image.object); !w) return fail("storing the object failed: {}", w.error().message);
  const ImageEntry e{reference, pulled.digest, pulled.image.object.digest, pulled.image.object_path, pulled_at,
                     pulled.image.labels};
  if (auto w = images.put(e); !w) return fail("storing the entry failed: {}", w.error().message);
  return {};
}

}  // namespace bpfrec
