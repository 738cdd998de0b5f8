#include "manifest/desired.h"

#include <algorithm>

namespace bpfrec {

std::string_view to_string(ManifestState s) {
  switch (s) {
    case ManifestState::Ok: return "ok";
    case ManifestState::Invalid: return "invalid";
    case ManifestState::Masked: return "masked";
    case ManifestState::Overridden: return "overridden";
    case ManifestState::Unreadable: return "unreadable";
  }
  return "?";
}

bool is_manifest_name(std::string_view name) {
  return !name.empty() && name[0] != '.' && name.size() > 5 && name.ends_with(".toml");
}

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

}  // namespace bpfrec
