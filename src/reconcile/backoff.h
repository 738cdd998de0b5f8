// Backoff of attach points that keep failing. A failing attach point is retried after 1 s,
// then 2, 4, 8 ... s, at most 5 min apart, instead of at every reconcile: an attach that the
// kernel takes and that is then undone (the record is full, a refused change on the same hook
// put back) makes RTM_NEWLINK events of its own, and retrying it on every event is a loop.
// Pure logic: times are CLOCK_MONOTONIC microseconds passed in by the caller.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "reconcile/executor.h"
#include "reconcile/plan.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// Delay (µs) before the next try after `failures` consecutive failures: `initial_usec` after
/// the first, doubling with each further failure, at most `max_usec`; 0 for 0 failures.
uint64_t backoff_delay_usec(unsigned failures, uint64_t initial_usec, uint64_t max_usec);

/// One attach point's failures in a row.
struct RetryState {
  unsigned failures = 0;
  uint64_t next_retry_usec = 0;  // CLOCK_MONOTONIC: not tried again before this
  Error error;                   // the last failure
};

/// (program name, attach key)
using AttachId = std::pair<std::string, std::string>;

/// The retry schedule of every failing attach point, by (program, attach key).
class AttachBackoff {
 public:
  static constexpr uint64_t kInitialUsec = 1'000'000;
  static constexpr uint64_t kMaxUsec = 300'000'000;

  explicit AttachBackoff(uint64_t initial_usec = kInitialUsec, uint64_t max_usec = kMaxUsec)
      : initial_(initial_usec), max_(max_usec) {}

  /// Counts one more failure of `id` at `now_usec` and schedules its next try.
  void failed(const AttachId &id, const Error &e, uint64_t now_usec);
  /// Forgets `id`'s failures (it is attached now, or no longer tried).
  void succeeded(const AttachId &id) { states_.erase(id); }
  const RetryState *find(const AttachId &id) const;
  /// Whether `id` failed before and its next try is still ahead at `now_usec`.
  bool waiting(const AttachId &id, uint64_t now_usec) const;
  /// The earliest next try of all (CLOCK_MONOTONIC µs), nullopt when nothing fails.
  std::optional<uint64_t> next_retry() const;
  /// Forgets every attach point of `program` (it is replaced: a new load starts over).
  void forget_program(const std::string &program);
  /// Keeps only the attach points in `wanted` (the others left the manifests).
  void retain(const std::set<AttachId> &wanted);
  /// Forgets everything (an explicit Reload() or SIGHUP tries every attach point now).
  void clear() { states_.clear(); }
  std::size_t size() const { return states_.size(); }

 private:
  uint64_t initial_, max_;
  std::map<AttachId, RetryState> states_;
};

/// Takes the attach points that wait for their retry at `now_usec` out of `changes`: Create and
/// Update do not attach them; an Update keeps the attach point that one of them would replace
/// on the same hook (as for one that Kernel::check_attach() refuses). A Replace starts over:
/// its program's backoff is forgotten. Returns the deferred attach points.
std::vector<AttachId> defer_backed_off(std::vector<ProgramChange> &changes, const ObservedState &observed,
                                       AttachBackoff &backoff, uint64_t now_usec);

/// Counts the outcome of every attach point `changes` tried (after defer_backed_off()) from the
/// apply's `report`: an error counts as a failure, except ErrorKind::Missing (ENODEV: the interface does
/// not exist: `pending`, attached as soon as it appears, never delayed); no error forgets the failures.
void record_attempts(AttachBackoff &backoff, std::span<const ProgramChange> changes, const ApplyReport &report,
                     uint64_t now_usec);

}  // namespace bpfrec
