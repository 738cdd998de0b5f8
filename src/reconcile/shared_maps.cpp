#include "reconcile/shared_maps.h"

#include <fmt/format.h>

namespace bpfrec {

std::string map_def_mismatch(const MapDef &pinned, const MapDef &object) {
  std::vector<std::string> diffs;
  auto cmp = [&](const char *what, uint32_t p, uint32_t o, bool hex = false) {
    if (p == o) return;
    diffs.push_back(hex ? fmt::format("{} {:#x} (pinned) vs {:#x} (this object)", what, p, o)
                        : fmt::format("{} {} (pinned) vs {} (this object)", what, p, o));
  };
  cmp("type", pinned.type, object.type);
  cmp("key_size", pinned.key_size, object.key_size);
  cmp("value_size", pinned.value_size, object.value_size);
  constexpr uint32_t kPerfEventArray = 4;  // BPF_MAP_TYPE_PERF_EVENT_ARRAY
  if (!(object.type == kPerfEventArray && object.max_entries == 0)) cmp("max_entries", pinned.max_entries, object.max_entries);
  cmp("map_flags", pinned.flags, object.flags, /*hex=*/true);
  std::string out;
  for (auto &d : diffs) out += (out.empty() ? "" : ", ") + d;
  return out;
}

std::vector<std::string> unused_shared_pins(const std::vector<std::string> &pins,
                                            const std::vector<ObservedProgram> &records) {
  std::set<std::string> named;
  for (auto &r : records)
    for (auto &[_, path] : r.shared_maps) named.insert(path);
  std::vector<std::string> out;
  for (auto &p : pins)
    if (!named.contains(p)) out.push_back(p);
  return out;
}

}  // namespace bpfrec
