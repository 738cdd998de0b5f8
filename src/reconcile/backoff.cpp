#include "reconcile/backoff.h"

#include <algorithm>
#include <cerrno>

#include "reconcile/identity.h"
#include "types/hook.h"

namespace bpfrec {

uint64_t backoff_delay_usec(unsigned failures, uint64_t initial_usec, uint64_t max_usec) {
  if (failures == 0) return 0;
  uint64_t d = initial_usec;
  for (unsigned i = 1; i < failures && d < max_usec; ++i) d *= 2;
  return std::min(d, max_usec);
}

void AttachBackoff::failed(const AttachId &id, const Error &e, uint64_t now_usec) {
  RetryState &s = states_[id];
  ++s.failures;
  s.next_retry_usec = now_usec + backoff_delay_usec(s.failures, initial_, max_);
  s.error = e;
}

const RetryState *AttachBackoff::find(const AttachId &id) const {
  auto it = states_.find(id);
  return it == states_.end() ? nullptr : &it->second;
}

bool AttachBackoff::waiting(const AttachId &id, uint64_t now_usec) const {
  const RetryState *s = find(id);
  return s && now_usec < s->next_retry_usec;
}

std::optional<uint64_t> AttachBackoff::next_retry() const {
  std::optional<uint64_t> out;
  for (auto &[_, s] : states_)
    if (!out || s.next_retry_usec < *out) out = s.next_retry_usec;
  return out;
}

void AttachBackoff::forget_program(const std::string &program) {
  std::erase_if(states_, [&](const auto &kv) { return kv.first.first == program; });
}

void AttachBackoff::retain(const std::set<AttachId> &wanted) {
  std::erase_if(states_, [&](const auto &kv) { return !wanted.contains(kv.first); });
}

std::vector<AttachId> defer_backed_off(std::vector<ProgramChange> &changes, const ObservedState &observed,
                                       AttachBackoff &backoff, uint64_t now_usec) {
  std::vector<AttachId> deferred;
  for (auto &c : changes) {
    if (c.kind == ChangeKind::Replace) {
      backoff.forget_program(c.name);
      continue;
    }
    if ((c.kind != ChangeKind::Create && c.kind != ChangeKind::Update) || !c.desired) continue;
    std::set<Hook> held_hooks;  // hooks of the deferred attach points
    std::erase_if(c.attach, [&](const std::string &key) {
      if (!backoff.waiting({c.name, key}, now_usec)) return false;
      deferred.emplace_back(c.name, key);
      for (auto &a : c.desired->attach)
        if (attach_key(c.desired->type, a) == key) held_hooks.insert(hook_of(c.desired->type, a));
      return true;
    });
    if (held_hooks.empty() || c.kind != ChangeKind::Update) continue;
    auto obs = observed.programs.find(c.name);
    if (obs == observed.programs.end()) continue;
    std::erase_if(c.detach, [&](const std::string &key) {
      auto it = obs->second.attachments.find(key);
      // An Update keeps the type (a type change is a Replace): the recorded spec's hook is
      // comparable with the desired ones.
      return it != obs->second.attachments.end() && held_hooks.contains(hook_of(c.desired->type, it->second.spec));
    });
  }
  return deferred;
}

void record_attempts(AttachBackoff &backoff, std::span<const ProgramChange> changes, const ApplyReport &report,
                     uint64_t now_usec) {
  for (auto &c : changes) {
    if (!c.desired || c.kind == ChangeKind::Keep || c.kind == ChangeKind::Remove) continue;
    // A failed load attached nothing: no attach point was tried.
    if (report.program_errors.contains(c.name) && c.kind != ChangeKind::Replace && c.kind != ChangeKind::Update)
      continue;
    auto errs = report.attach_errors.find(c.name);
    for (auto &key : c.attach) {
      const Error *e = nullptr;
      if (errs != report.attach_errors.end())
        if (auto it = errs->second.find(key); it != errs->second.end()) e = &it->second;
      if (e && e->kind() != ErrorKind::Missing) backoff.failed({c.name, key}, *e, now_usec);
      else if (!e) backoff.succeeded({c.name, key});
    }
  }
}

}  // namespace bpfrec
