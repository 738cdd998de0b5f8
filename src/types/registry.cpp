// The list of program types: one row per descriptor (types/<family>.cpp).
#include <array>

#include "types/type.h"

namespace bpfrec {

const std::vector<const TypeDescriptor *> &all_descriptors() {
  // ProgramType order (manifest.h). Descriptors are function-local statics, made on first use,
  // so nothing depends on the order in which files are initialized.
  static const std::vector<const TypeDescriptor *> all{
      &types::xdp(),       &types::tc(),     &types::tracepoint(), &types::uprobe(),    &types::uretprobe(),
      &types::kprobe(),    &types::kretprobe(), &types::fentry(),  &types::fexit(),     &types::cgroup_skb(),
      &types::cgroup_sock(), &types::raw_tracepoint(), &types::cgroup_sock_addr(),
      &types::sockops(),     &types::sk_lookup(),       &types::netfilter(),      &types::lsm()};
  return all;
}

const TypeDescriptor &descriptor(ProgramType t) { return *all_descriptors().at(static_cast<size_t>(t)); }

const TypeDescriptor *find_descriptor(std::string_view name) {
  for (const auto *d : all_descriptors())
    if (d->name == name) return d;
  return nullptr;
}

bool claims_section(const TypeDescriptor &d, std::string_view section) {
  if (section.starts_with('?')) section.remove_prefix(1);
  for (auto ex : d.excluded_sections)
    if (section == ex) return false;
  for (auto s : d.sections)
    if (section == s || (section.size() > s.size() && section.starts_with(s) && section[s.size()] == '/'))
      return true;
  return false;
}

}  // namespace bpfrec
