#include "kernel/pin_cache.h"

#include <bpf/bpf.h>
#include <time.h>

#include "kernel/attach.h"
#include "kernel/fs.h"
#include "util/unique_fd.h"

namespace bpfrec {

PinIdentity identity_of(const struct stat &st) {
  PinIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return id;
}

std::optional<PinIdentity> pin_identity(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return identity_of(st);
}

const PinCache::Entry *PinCache::lookup(const std::string &path, std::optional<PinIdentity> &id, bool trusted) {
  if (trusted)
    if (auto it = entries_.find(path); it != entries_.end()) {
      id = it->second.id;
      it->second.used = true;
      return &it->second;
    }
  id = pin_identity(path);
  auto it = entries_.find(path);
  if (it == entries_.end()) return nullptr;
  if (!id) {
    entries_.erase(it);
    return nullptr;
  }
  if (it->second.id != *id) return nullptr;
  it->second.used = true;
  return &it->second;
}

void PinCache::store(const std::string &path, const PinIdentity &id, Entry e, bool keep) {
  if (keep && pin_identity(path) == id) {
    e.id = id;
    e.used = true;
    entries_.insert_or_assign(path, std::move(e));
  } else {
    entries_.erase(path);
  }
}

uint32_t PinCache::prog_id(const std::string &path, bool trusted) {
  std::optional<PinIdentity> id;
  if (const Entry *e = lookup(path, id, trusted)) return e->a;
  if (!id) return 0;
  UniqueFd fd(bpf_obj_get(path.c_str()));
  const uint32_t prog = fd.valid() ? prog_id_of(fd.get()) : 0;
  store(path, *id, Entry{{}, prog, 0, {}, true}, prog != 0);
  return prog;
}

uint32_t PinCache::perf_link_id(const std::string &path, uint32_t *prog_id,
                                const std::function<uint32_t(const std::string &, uint32_t *)> &read,
                                bool trusted) {
  std::optional<PinIdentity> id;
  if (const Entry *e = lookup(path, id, trusted)) {
    if (prog_id) *prog_id = e->b;
    return e->a;
  }
  if (!id) return 0;
  uint32_t prog = 0;
  const uint32_t link = read(path, &prog);
  if (prog_id) *prog_id = prog;
  store(path, *id, Entry{{}, link, prog, {}, true}, link != 0);
  return link;
}

Result<std::vector<std::string>> PinCache::list(const std::string &path) {
  std::optional<PinIdentity> id;
  if (const Entry *e = lookup(path, id)) return e->names;
  auto listed = read_dir(path);
  if (!listed) return listed;
  if (!id) return listed;  // gone (empty), or not stat()able: read each time
  auto names = std::move(*listed);
  // bpffs stamps mtime with the coarse clock (current_time(): one tick, at most 10 ms): an entry
  // added within the tick of the last change would leave it as it was. Only a directory whose
  // last change is older than that is cached; a later change then gives a later mtime.
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  const int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  store(path, *id, Entry{{}, 0, 0, names, true}, id->mtime_ns < now_ns - 100'000'000);
  return names;
}

void PinCache::sweep() {
  std::erase_if(entries_, [](const auto &kv) { return !kv.second.used; });
  for (auto &[path, e] : entries_) e.used = false;
}

}  // namespace bpfrec
