#include "kernel/attachers/hook_index.h"

#include "types/type.h"

namespace bpfrec {

std::optional<Hook> hook_of_record(std::string_view type, const AttachRecord &r) {
  const TypeDescriptor *d = find_descriptor(type);
  if (!d) return std::nullopt;
  return hook_of(d->type, r.spec);
}

void HookIndex::clear() {
  entries_.clear();
  by_hook_.clear();
  by_mechanism_.clear();
}

void HookIndex::drop(std::map<Ref, HookEntry>::iterator it) {
  const Ref &ref = it->first;
  if (it->second.hook)
    if (auto h = by_hook_.find(*it->second.hook); h != by_hook_.end()) {
      h->second.erase(ref);
      if (h->second.empty()) by_hook_.erase(h);
    }
  if (auto m = by_mechanism_.find(it->second.record.mechanism); m != by_mechanism_.end()) {
    m->second.erase(ref);
    if (m->second.empty()) by_mechanism_.erase(m);
  }
  entries_.erase(it);
}

void HookIndex::add(HookEntry e) {
  Ref ref{e.dir, e.key};
  if (e.hook) by_hook_[*e.hook].insert(ref);
  by_mechanism_[e.record.mechanism].insert(ref);
  entries_.insert_or_assign(std::move(ref), std::move(e));
}

void HookIndex::erase(const std::string &dir) {
  auto it = entries_.lower_bound(Ref{dir, std::string()});
  while (it != entries_.end() && it->first.first == dir) drop(it++);
}

void HookIndex::put(const ObservedProgram &p) {
  erase(p.dir);
  for (const auto &[key, rec] : p.attachments)
    add(HookEntry{p.name, p.dir, p.bytecode_path, p.bytecode_sha256, p.bpf_function, key, rec,
                  hook_of_record(p.type, rec)});
}

void HookIndex::rename(const std::string &from, const std::string &to) {
  if (from == to) return;
  erase(to);
  std::vector<HookEntry> moved;
  auto it = entries_.lower_bound(Ref{from, std::string()});
  while (it != entries_.end() && it->first.first == from) {
    moved.push_back(it->second);
    drop(it++);
  }
  for (auto &e : moved) {
    e.dir = to;
    add(std::move(e));
  }
}

std::vector<const HookEntry *> HookIndex::on(const Hook &h) const {
  std::vector<const HookEntry *> out;
  if (auto it = by_hook_.find(h); it != by_hook_.end())
    for (const auto &ref : it->second) out.push_back(&entries_.at(ref));
  return out;
}

std::vector<const HookEntry *> HookIndex::with(Mechanism m) const {
  std::vector<const HookEntry *> out;
  if (auto it = by_mechanism_.find(m); it != by_mechanism_.end())
    for (const auto &ref : it->second) out.push_back(&entries_.at(ref));
  return out;
}

}  // namespace bpfrec
