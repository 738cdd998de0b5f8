#include "kernel/pin_cache.h"

#include <bpf/bpf.h>
#include <time.h>

#include "kernel/attach.h"
#include "kernel/fs.h"
#include "util/unique_fd.h"

namespace bpfrec {

std::optional<PinIdentity> pin_identity(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  PinIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return id;
}

uint32_t PinCache::prog_id(const std::string &path) {
  const auto id = pin_identity(path);
  if (!id) {
    entries_.erase(path);
    return 0;
  }
  if (auto it = entries_.find(path); it != entries_.end() && it->second.id == *id) {
    it->second.used = true;
    return it->second.a;
  }
  UniqueFd fd(bpf_obj_get(path.c_str()));
  const uint32_t prog = fd.valid() ? prog_id_of(fd.get()) : 0;
  // The identity is taken again after the read: a pin replaced meanwhile is not cached under
  // the old one's identity.
  if (prog && pin_identity(path) == id) entries_.insert_or_assign(path, Entry{*id, prog, 0, {}, true});
  else entries_.erase(path);
  return prog;
}

uint32_t PinCache::perf_link_id(const std::string &path, uint32_t *prog_id,
                                const std::function<uint32_t(const std::string &, uint32_t *)> &read) {
  const auto id = pin_identity(path);
  if (!id) {
    entries_.erase(path);
    return 0;
  }
  if (auto it = entries_.find(path); it != entries_.end() && it->second.id == *id) {
    it->second.used = true;
    if (prog_id) *prog_id = it->second.b;
    return it->second.a;
  }
  uint32_t prog = 0;
  const uint32_t link = read(path, &prog);
  if (prog_id) *prog_id = prog;
  if (link && pin_identity(path) == id) entries_.insert_or_assign(path, Entry{*id, link, prog, {}, true});
  else entries_.erase(path);
  return link;
}

std::vector<std::string> PinCache::list(const std::string &path) {
  const auto id = pin_identity(path);
  if (!id) {
    entries_.erase(path);
    return {};
  }
  if (auto it = entries_.find(path); it != entries_.end() && it->second.id == *id) {
    it->second.used = true;
    return it->second.names;
  }
  auto names = list_dir(path);
  // bpffs stamps mtime with the coarse clock (current_time(): one tick, at most 10 ms): an entry
  // added within the tick of the last change would leave it as it was. Only a directory whose
  // last change is older than that is cached; a later change then gives a later mtime.
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  const int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  if (id->mtime_ns < now_ns - 100'000'000 && pin_identity(path) == id) entries_.insert_or_assign(path, Entry{*id, 0, 0, names, true});
  else entries_.erase(path);
  return names;
}

void PinCache::sweep() {
  std::erase_if(entries_, [](const auto &kv) { return !kv.second.used; });
  for (auto &[path, e] : entries_) e.used = false;
}

}  // namespace bpfrec
